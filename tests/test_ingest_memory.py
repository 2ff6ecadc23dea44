"""A 3 MB gzip that inflates to one 3 GiB line with no newline (issue 16, part 1): a real
``spreadtrace ingest`` subprocess rejects the line with a reason, keeps the good lines
around it, and its peak RSS stays under 500 MB (it was 4.4 GB and climbing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # ~30-70 s each: 3 GiB is inflated and scanned

_GIB3 = 3 << 30
_BLOCK = 1 << 20
_LIMIT_KB = 500 * 1000


def _member(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip member
    return z.compress(data) + z.flush()


def _hostile_gzip(path: Path, before: bytes, line_start: bytes, after: bytes) -> Path:
    """``before``, then one line of ``line_start`` + 'x' up to 3 GiB with no newline,
    then ``after``: concatenated gzip members (readers must inflate all of them), so
    the 3 GiB exists only while being read."""
    block = _member(b"x" * _BLOCK)
    with open(path, "wb") as f:
        f.write(_member(before + line_start))
        for _ in range(_GIB3 // _BLOCK):
            f.write(block)
        f.write(_member(after))
    return path


def _run_measured(tmp_path: Path, path: Path, *args: str) -> tuple[int, str, str, int]:
    """Run the real CLI on ``path``: exit code, stdout, stderr, and the peak RSS in KB
    of that process alone.

    The peak is the child's own ``VmHWM`` (:func:`bench.peak_rss_mb`, per address
    space, so it starts afresh at exec), written by the child at exit. ``wait4``'s ``ru_maxrss`` is not enough: Linux
    carries the parent's high-water mark over fork and exec, so after a long test
    session it reports pytest's own peak.
    """
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    hwm_path = tmp_path / "hwm.txt"
    code_str = (
        "import atexit\n"
        "from bench import peak_rss_mb\n"
        f"atexit.register(lambda: open({str(hwm_path)!r}, 'w').write(str(round(peak_rss_mb() * 1024))))\n"
        "from spreadtrace.cli import main; main()\n"
    )
    cmd = [sys.executable, "-c", code_str]
    cmd += ["--db", str(tmp_path / "s.duckdb"), "ingest", "--json", *args, str(path)]
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        code = proc.wait()
    return code, out_path.read_text(), err_path.read_text(), int(hwm_path.read_text())


def _tweet(i: int) -> bytes:
    return json.dumps(
        {
            "id_str": str(i),
            "created_at": "Tue Mar 24 10:37:41 +0000 2015",
            "text": "ok",
            "user": {"id_str": "u1", "screen_name": "alice"},
        }
    ).encode()


def test_a_3_gib_tweet_line_in_a_3_mb_gzip_is_one_reject_in_bounded_memory(tmp_path):
    path = _hostile_gzip(
        tmp_path / "tweets.jsonl.gz", _tweet(1) + b"\n", b'{"id_str": "2", "text": "', b"\n"
    )
    path.write_bytes(path.read_bytes() + _member(_tweet(3) + b"\n"))
    assert path.stat().st_size < 4_000_000  # a 3 MB file ...
    code, out, err, rss_kb = _run_measured(tmp_path, path, "--format", "twitter-v1")
    assert code == 0, err
    assert "Traceback" not in err
    (r,) = json.loads(out)["files"]
    # three lines: two tweets in, the 3 GiB one rejected with a reason; nothing vanished
    assert (r["rows_read"], r["rows_inserted"], r["rows_rejected"]) == (3, 2, 1)
    assert r["reject_reasons"] == {"line longer than 16 MiB, not read": 1}
    assert rss_kb < _LIMIT_KB, f"peak RSS {rss_kb} KB"


def test_a_3_gib_canonical_line_in_a_gzip_is_a_reject_not_a_vanishing(tmp_path):
    head = b"post_id,account_id,created_at\n1,a,2024-05-01T10:00:00Z\n"
    path = _hostile_gzip(tmp_path / "posts.csv.gz", head, b"2,", b",2024-05-01T10:00:00Z\n")
    code, out, err, rss_kb = _run_measured(tmp_path, path)
    assert code == 0, err
    (r,) = json.loads(out)["files"]
    assert (r["rows_read"], r["rows_inserted"], r["rows_rejected"]) == (2, 1, 1)
    assert r["reject_reasons"] == {"malformed line: line size over maximum": 1}
    assert rss_kb < _LIMIT_KB, f"peak RSS {rss_kb} KB"


def _telegram_message(i: int) -> bytes:
    return json.dumps(
        {"id": i, "type": "message", "date_unixtime": "1710000000", "from_id": "user1",
         "text": "ok"}
    ).encode()  # fmt: skip


def test_a_telegram_export_is_streamed_and_a_huge_message_is_one_reject(tmp_path):
    # A channel export (one JSON document) whose second message is a 32 MiB list of
    # short strings: read record by record, the big message is a reject with its
    # position, the two around it are posts, and the process stays small.
    path = tmp_path / "result.json.gz"
    head = b'{"name": "c", "type": "public_channel", "id": 7, "messages": ['
    with open(path, "wb") as f:
        f.write(_member(head + _telegram_message(1) + b', {"id": 2, "type": "message", "text": ['))
        piece = _member(b'"ab", ' * (_BLOCK // 6))
        for _ in range(32):
            f.write(piece)
        f.write(_member(b'"end"]}, ' + _telegram_message(3) + b"]}"))
    code, out, err, rss_kb = _run_measured(tmp_path, path, "--format", "telegram")
    assert code == 0, err
    (r,) = json.loads(out)["files"]
    assert (r["rows_read"], r["rows_inserted"], r["rows_rejected"]) == (3, 2, 1)
    assert r["reject_reasons"] == {"record longer than 16 MiB, not read": 1}
    assert rss_kb < _LIMIT_KB, f"peak RSS {rss_kb} KB"


def test_a_3_gib_string_in_a_telegram_export_is_refused_in_one_line_in_bounded_memory(
    tmp_path,
):
    # One JSON string of 3 GiB cannot be held, nor skipped by the parser: the file is
    # refused in one line, early (after 16 MiB of it), and nothing is written.
    path = _hostile_gzip(
        tmp_path / "result.json.gz",
        b'{"name": "c", "type": "public_channel", "id": 7, "messages": [' + _telegram_message(1),
        b', {"id": 2, "type": "message", "text": "',
        b'"}]}',
    )
    code, out, err, rss_kb = _run_measured(tmp_path, path, "--format", "telegram")
    assert code == 2
    assert "Traceback" not in err
    assert "a single JSON value over 16 MiB" in err + out
    assert rss_kb < _LIMIT_KB, f"peak RSS {rss_kb} KB"

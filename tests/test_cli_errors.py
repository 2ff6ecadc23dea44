"""User errors through the CLI: one line saying what happened and what to do, a
documented exit code, never a traceback (README, "Errors and exit codes").

Disk full and a read-only folder are real when the tests run as root (a small tmpfs is
mounted, as CI does); otherwise the read-only case uses permissions, and the disk-full
case also runs with the operating system's error injected at the store boundary.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import subprocess

import duckdb
import pytest

from spreadtrace.cli import main
from spreadtrace.store import Store
from tests.conftest import REPO, TEST_DATA

POSTS = TEST_DATA / "ingest" / "posts.csv"
SAMPLE = REPO / "data" / "sample" / "posts.csv.gz"


def _one_error_line(result, code, *needles):
    assert result.exit_code == code, result.output
    err = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output
    assert err[-1].startswith("error: ") or len(err) >= 1
    text = "\n".join(err)
    for needle in needles:
        assert needle in text, text
    errors = [line for line in err if line.startswith("error: ")]
    assert errors and all("\n" not in e for e in errors)
    return errors


@contextlib.contextmanager
def _tmpfs(path, options):
    """A small tmpfs at ``path`` (root only); skip the test when it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_read_only_store_folder(runner, tmp_path):
    if os.geteuid() == 0:
        with _tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
            result = runner.invoke(main, ["--db", str(folder / "s.duckdb"), "ingest", str(POSTS)])
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        result = runner.invoke(main, ["--db", str(folder / "s.duckdb"), "ingest", str(POSTS)])
    _one_error_line(result, 73, "cannot write", "pass --db a writable path")


def test_disk_full_on_a_real_small_disk(runner, tmp_path):
    with _tmpfs(tmp_path / "small", "size=1m") as folder:
        db = folder / "s.duckdb"
        result = runner.invoke(main, ["--db", str(db), "ingest", str(SAMPLE)])
        _one_error_line(result, 74, "disk full", "free space")


def test_disk_full_injected_at_the_store_boundary(runner, tmp_path, monkeypatch):
    import spreadtrace.store.ingest as store_ingest

    def full(*args, **kwargs):
        raise duckdb.IOException(
            f'IO Error: Could not write file "{tmp_path}/s.duckdb.wal": No space left on device'
        )

    db = tmp_path / "s.duckdb"
    monkeypatch.setattr(store_ingest, "write_run", full)
    result = runner.invoke(main, ["--db", str(db), "ingest", str(POSTS)])
    _one_error_line(result, 74, "disk full", str(db))
    monkeypatch.undo()
    with Store.open(db, read_only=True) as store:  # the file was rolled back whole
        assert store.con.execute("SELECT count(*) FROM posts").fetchone() == (0,)


def test_port_in_use_for_serve(runner, db_path):
    runner.invoke(main, ["--db", str(db_path), "init"])
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = runner.invoke(main, ["--db", str(db_path), "serve", "--port", str(port)])
    _one_error_line(result, 69, f"port {port} on 127.0.0.1 is already in use", "--port")


def test_a_directory_where_a_file_was_expected(runner, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    result = runner.invoke(main, ["--db", str(folder), "ingest", str(POSTS)])
    _one_error_line(result, 3, "is a directory, not a store file", "pass --db a file path")
    result = runner.invoke(main, ["inspect", str(folder)])
    _one_error_line(result, 2, "is a directory, not a file")
    result = runner.invoke(
        main, ["--db", str(tmp_path / "s.duckdb"), "ingest", "--mapping", str(folder), str(POSTS)]
    )
    _one_error_line(result, 2, "is a directory; --mapping takes a TOML file")


def test_a_mapping_naming_a_missing_column(runner, tmp_path):
    path = tmp_path / "shares.csv"
    path.write_text("content_id,account_id,timestamp_share\n1,a,1714557600\n")
    result = runner.invoke(
        main,
        [
            "--db",
            str(tmp_path / "s.duckdb"),
            "ingest",
            str(path),
            "--map",
            "post_id=content_id",
            "--map",
            "created_at=timestamp",
        ],
    )
    _one_error_line(
        result,
        2,
        "the mapping's created_at = names column 'timestamp', which the file does not have",
        "content_id, account_id, timestamp_share",
        "the file could not be read; nothing was written",
    )


def test_an_unknown_file_kind(runner, tmp_path):
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    result = runner.invoke(main, ["--db", str(tmp_path / "s.duckdb"), "ingest", str(png)])
    _one_error_line(result, 2, "not a text file")
    result = runner.invoke(main, ["inspect", str(png)])
    _one_error_line(result, 2, "not a text file")


def test_a_store_opened_by_another_version(runner, db_path):
    with Store.open(db_path) as store:
        store.con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    result = runner.invoke(main, ["--db", str(db_path), "ingest", str(POSTS)])
    _one_error_line(result, 3, "has schema version 99", "upgrade spreadtrace")


def test_wording_when_no_file_could_be_read(runner, tmp_path):
    bad = []
    for name in ("a.csv.gz", "b.csv.gz"):
        p = tmp_path / name
        p.write_bytes(gzip.compress(b"post_id,account_id,created_at\n" + b"p,a,0\n" * 50000)[:300])
        bad.append(str(p))
    result = runner.invoke(main, ["--db", str(tmp_path / "s.duckdb"), "ingest", *bad])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "none of the 2 files could be read; nothing was written"
    )
    result = runner.invoke(main, ["--db", str(tmp_path / "s.duckdb"), "ingest", bad[0], str(POSTS)])
    assert result.stderr.strip().splitlines()[-1] == (
        "1 of 2 files could not be read; the other file was ingested"
    )

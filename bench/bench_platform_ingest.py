"""Benchmark: platform ingest (tweets JSON Lines in zstd, a Telegram export) against
another checkout's code, alternating in the same run.

Why: the hostile-input checks of issue 16 sit on the platform path (a lone-surrogate
test per line that holds a ``\\u`` escape, the zstd end check, the Telegram export
streamed through ijson instead of parsed whole); the canonical CSV bench does not go
through them. Each input is ingested by ``spreadtrace ingest --json`` in a subprocess
with PYTHONPATH set to this checkout (ours) and to ``--base`` (e.g. a worktree of main),
alternating, ``--repeat`` times; medians and the ratio ours / base are printed, with
peak RSS from ``os.wait4`` of each process alone.

Run: ``python -m bench platform_ingest --base=/path/to/main [--tweets=300000]
[--messages=300000] [--repeat=3]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zstandard

OUT = Path(os.environ.get("SPREADTRACE_BENCH_OUT", Path(__file__).resolve().parent / "out"))
OURS = Path(__file__).resolve().parents[1]


def tweets(path: Path, n: int) -> Path:
    """Twitter v1.1 lines, non-ASCII written as escapes (an emoji as a surrogate pair),
    as json.dumps writes them by default: every line takes the surrogate test."""
    if path.exists():
        return path
    cctx = zstandard.ZstdCompressor(level=3)
    with open(path, "wb") as f, cctx.stream_writer(f) as w:
        for i in range(n):
            obj = {
                "id_str": str(i),
                "created_at": "Tue Mar 24 10:37:41 +0000 2015",
                "text": f"caf\u00e9 \U0001f600 breaking news {i % 977} https://x.example/{i}",
                "user": {"id_str": f"u{i % 5000}", "screen_name": f"user{i % 5000}"},
                "entities": {"hashtags": [{"text": "news"}], "urls": []},
            }
            w.write(json.dumps(obj).encode() + b"\n")
    return path


def telegram(path: Path, n: int) -> Path:
    """A Telegram Desktop export of one channel, indented as Telegram writes it."""
    if path.exists():
        return path
    messages = [
        {
            "id": i,
            "type": "message",
            "date": "2023-11-14T22:13:20",
            "date_unixtime": str(1_700_000_000 + i),
            "from": "News",
            "from_id": "channel42",
            "text": ["see ", {"type": "link", "text": f"https://x.example/{i}"}],
            "text_entities": [
                {"type": "plain", "text": "see "},
                {"type": "link", "text": f"https://x.example/{i}"},
            ],
        }
        for i in range(n)
    ]
    doc = {"name": "News", "type": "public_channel", "id": 42, "messages": messages}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return path


def _run(root: Path, db: Path, args: list[str]) -> tuple[float, float, float, dict]:
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = "from spreadtrace.cli import main; main()"
    cmd = [sys.executable, "-c", run, "--db", str(db), "ingest", "--json", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{root}: ingest failed ({status}):\n{out}")
    (summary,) = json.loads(out)["files"]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, summary


def main(argv: list[str]) -> None:
    opts = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    if "base" not in opts:
        raise SystemExit("--base=PATH (another checkout, e.g. a worktree of main) is required")
    base = Path(opts["base"])
    repeat = int(opts.get("repeat", 3))
    OUT.mkdir(parents=True, exist_ok=True)
    n_tw, n_tg = int(opts.get("tweets", 300_000)), int(opts.get("messages", 300_000))
    inputs = {
        f"twitter-v1 JSONL.zst, {n_tw:,} tweets": (
            tweets(OUT / f"tweets_{n_tw}.jsonl.zst", n_tw),
            ["--format", "twitter-v1"],
        ),
        f"telegram export, {n_tg:,} messages": (
            telegram(OUT / f"telegram_{n_tg}.json", n_tg),
            ["--format", "telegram"],
        ),
    }
    db = OUT / "platform.duckdb"
    for label, (path, args) in inputs.items():
        size = path.stat().st_size / 1e6
        print(f"{label} ({size:.0f} MB)")
        runs: dict[str, list[tuple[float, float, float]]] = {"base": [], "ours": []}
        for i in range(repeat):
            for side, root in (("base", base), ("ours", OURS)):
                wall, cpu, rss, s = _run(root, db, [*args, str(path)])
                runs[side].append((wall, cpu, rss))
                print(
                    f"  run {i + 1} {side}: wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
                    f"peak RSS {rss:6.0f} MiB  read {s['rows_read']:,} "
                    f"inserted {s['rows_inserted']:,} rejected {s['rows_rejected']:,}",
                    flush=True,
                )
        med = {
            side: [statistics.median(r[k] for r in rs) for k in range(3)]
            for side, rs in runs.items()
        }
        (bw, bc, br), (ow, oc, orss) = med["base"], med["ours"]
        print(
            f"  median base wall {bw:.2f}s cpu {bc:.2f}s RSS {br:.0f} MiB | ours wall "
            f"{ow:.2f}s cpu {oc:.2f}s RSS {orss:.0f} MiB | ratio ours/base wall "
            f"{ow / bw:.2f} cpu {oc / bc:.2f} RSS {orss / br:.2f}"
        )

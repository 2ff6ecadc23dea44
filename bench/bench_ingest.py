"""Benchmark: ``spreadtrace ingest`` of a 5M-row canonical posts CSV vs plain DuckDB.

Baseline (a): a fresh DuckDB file, ``CREATE TABLE t AS SELECT * FROM read_csv(path)``
(auto-detected types). Candidate (b): ``spreadtrace ingest path`` into an empty store,
run as a subprocess so its peak RSS can be measured alone. Both run in the same
invocation, alternating, ``--repeat`` times; the median ratio b/a is the figure.

The staged path (a store that already holds posts) is timed too, with ``--staged``:
(c) the same-sized file with *other* post ids into a store holding the first file
(all new rows, anti-join against 5M stored posts), and (d) the first file again (all
duplicates: nothing inserted, NULL-filling update finds nothing to fill). The stored
store is copied for each run; (a) of the same run is the yardstick.

With ``--mapped``, the same posts with foreign column names are ingested through
``--map`` options, alternating with (b) in the same run: (e) the same values under
other names (the cost of the mapping itself; target <= 1.2x (b)), and (f) the same
with created_at as float epoch seconds (``1700000000.0``, as exports such as
CooRTweet's write them: the cost of reading epoch numbers).

Run: ``.venv/bin/python -m bench ingest [--rows=5000000] [--repeat=3] [--staged] [--mapped]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

# Generated inputs and stores; SPREADTRACE_BENCH_OUT puts them elsewhere (a cache
# shared between checkouts, outside any repository).
OUT = Path(os.environ.get("SPREADTRACE_BENCH_OUT", Path(__file__).resolve().parent / "out"))


def generate(path: Path, rows: int, seed: int = 0, prefix: str = "p") -> Path:
    """Write a canonical posts CSV of ``rows`` rows, half of them reposts; post ids
    are ``prefix`` + a number."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n_orig = rows // 2
    idx = np.arange(rows)
    accounts = rng.integers(0, max(rows // 20, 1), rows)
    t0 = 1_700_000_000
    # originals spread over 30 days; each repost follows an earlier original
    seconds = np.empty(rows, dtype=np.int64)
    seconds[:n_orig] = t0 + rng.integers(0, 30 * 86400, n_orig)
    parent = rng.integers(0, max(n_orig, 1), rows - n_orig)
    seconds[n_orig:] = seconds[parent] + rng.integers(1, 6 * 3600, rows - n_orig)
    is_repost = idx >= n_orig
    parent_full = np.full(rows, -1, dtype=np.int64)
    parent_full[n_orig:] = parent
    words = np.array(["breaking", "crash", "vaccine", "election", "fraud", "report", "video"])
    text = np.char.add(
        np.char.add(words[rng.integers(0, len(words), rows)], " "),
        words[rng.integers(0, len(words), rows)],
    )
    df = pl.DataFrame(
        {
            "post_id": idx,
            "account_id": accounts,
            "created_at": pl.Series(seconds * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "parent_id": parent_full,
            "kind": is_repost,
            "text": text,
            "urls": rng.random(rows) < 0.3,
            "hashtags": rng.random(rows) < 0.2,
        }
    ).select(
        pl.format(prefix + "{}", "post_id").alias("post_id"),
        pl.format("a{}", "account_id").alias("account_id"),
        pl.col("created_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        pl.when(pl.col("parent_id") >= 0)
        .then(pl.format(prefix + "{}", "parent_id"))
        .alias("parent_id"),
        pl.when("kind").then(pl.lit("repost")).otherwise(pl.lit("original")).alias("kind"),
        "text",
        pl.when("urls")
        .then(pl.format("https://ex.com/a/{}", pl.col("account_id") % 997))
        .alias("urls"),
        pl.when("hashtags").then(pl.lit("news breaking")).alias("hashtags"),
        pl.lit("en").alias("lang"),
        pl.lit("twitter").alias("platform"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.write_csv(tmp)
    tmp.rename(path)
    return path


_BASELINE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [sys.argv[2]])
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.close()
print(time.perf_counter() - t, n)
"""


def _fresh(db: Path) -> None:
    for suffix in ("", ".wal", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _run(cmd: list[str]) -> tuple[float, float, float, str]:
    """Run ``cmd``; return (wall s, cpu s, peak RSS MiB, stdout) of that process alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}:\n{out}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def main(argv: list[str]) -> None:
    opts = dict(a.lstrip("-").split("=", 1) for a in argv if "=" in a)
    rows = int(opts.get("rows", 5_000_000))
    repeat = int(opts.get("repeat", 3))
    staged = "--staged" in argv
    csv = generate(OUT / f"posts_{rows}.csv", rows)
    print(f"input: {csv} ({csv.stat().st_size / 1e6:.0f} MB, {rows:,} rows, half reposts)")
    cli = str(Path(sys.executable).with_name("spreadtrace"))
    base, ours = [], []
    for i in range(repeat):
        db_a, db_b = OUT / "baseline.duckdb", OUT / "spreadtrace.duckdb"
        _fresh(db_a)
        wall, cpu, rss, out = _run([sys.executable, "-c", _BASELINE, str(db_a), str(csv)])
        base.append((wall, cpu, rss))
        print(
            f"  run {i + 1}: (a) duckdb read_csv CTAS  wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
            f"peak RSS {rss:7.0f} MiB  (query alone {float(out.split()[-2]):.2f}s)",
            flush=True,
        )
        _fresh(db_b)
        wall, cpu, rss, out = _run([cli, "--db", str(db_b), "ingest", "--json", str(csv)])
        summary = json.loads(out)["files"][0]
        assert summary["rows_inserted"] == rows, summary
        ours.append((wall, cpu, rss))
        print(
            f"  run {i + 1}: (b) spreadtrace ingest     wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
            f"peak RSS {rss:7.0f} MiB  (library {summary['seconds']:.2f}s)",
            flush=True,
        )
        _fresh(db_a)
        _fresh(db_b)
    med = statistics.median
    if staged:
        _staged(cli, csv, rows, repeat, med(b[0] for b in base), med(b[1] for b in base))
    if "--mapped" in argv:
        _mapped(cli, csv, rows, repeat)
    wa, wb = med(b[0] for b in base), med(o[0] for o in ours)
    ca, cb = med(b[1] for b in base), med(o[1] for o in ours)
    print(f"median wall: (a) {wa:.2f}s  (b) {wb:.2f}s  ratio b/a = {wb / wa:.2f}  (target <= 1.5)")
    print(f"median cpu:  (a) {ca:.2f}s  (b) {cb:.2f}s  ratio b/a = {cb / ca:.2f}")
    print(
        f"spreadtrace peak RSS: {max(o[2] for o in ours):.0f} MiB (target < 2048); "
        f"baseline peak RSS: {max(b[2] for b in base):.0f} MiB; load avg {os.getloadavg()[0]:.1f}"
    )


def _staged(cli: str, csv: Path, rows: int, repeat: int, wall_a: float, cpu_a: float) -> None:
    """(c) other 5M posts into a store holding ``csv``; (d) ``csv`` again (all duplicates)."""
    import shutil

    other = generate(OUT / f"posts_{rows}_q.csv", rows, seed=1, prefix="q")
    full = OUT / "staged-base.duckdb"
    _fresh(full)
    _run([cli, "--db", str(full), "ingest", "--quiet", str(csv)])
    db = OUT / "staged.duckdb"
    med = statistics.median
    for label, path, inserted in (
        ("(c) other 5M into 5M", other, rows),
        ("(d) same 5M again", csv, 0),
    ):
        runs = []
        for i in range(repeat):
            _fresh(db)
            shutil.copyfile(full, db)
            wall, cpu, rss, out = _run([cli, "--db", str(db), "ingest", "--json", str(path)])
            summary = json.loads(out)["files"][0]
            assert summary["rows_inserted"] == inserted, summary
            assert summary["rows_read"] == rows, summary
            runs.append((wall, cpu, rss))
            print(
                f"  run {i + 1}: {label:22s} wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
                f"peak RSS {rss:7.0f} MiB  (library {summary['seconds']:.2f}s)",
                flush=True,
            )
        w, c = med(r[0] for r in runs), med(r[1] for r in runs)
        print(
            f"median {label}: wall {w:.2f}s ({w / wall_a:.2f}x (a))  cpu {c:.2f}s "
            f"({c / cpu_a:.2f}x (a))  peak RSS {max(r[2] for r in runs):.0f} MiB"
        )
    _fresh(db)
    _fresh(full)


# Foreign names for the canonical columns (a CooRTweet / CrowdTangle-like export).
_FOREIGN = {
    "post_id": "content_id",
    "account_id": "author",
    "created_at": "timestamp_share",
    "parent_id": "object_id",
    "kind": "share_type",
    "text": "message",
    "urls": "links",
    "hashtags": "tags",
    "lang": "language",
    "platform": "network",
}


def foreign(csv: Path, epoch: bool) -> Path:
    """The canonical file with foreign column names (and float epoch times if asked)."""
    path = csv.with_name(csv.stem + ("_foreign_epoch.csv" if epoch else "_foreign.csv"))
    if path.exists():
        return path
    frame = pl.scan_csv(csv, infer_schema=False)
    if epoch:
        seconds = pl.col("created_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ").dt.epoch("s")
        frame = frame.with_columns(pl.format("{}.0", seconds).alias("created_at"))
    tmp = path.with_suffix(".tmp")
    frame.rename(_FOREIGN).sink_csv(tmp)
    tmp.rename(path)
    return path


def _mapped(cli: str, csv: Path, rows: int, repeat: int) -> None:
    """(b) canonical vs (e) renamed columns through --map vs (f) renamed + float epochs."""
    files = {
        "(e) --map, same values": foreign(csv, False),
        "(f) --map, float epochs": foreign(csv, True),
    }
    maps = [a for c, src in _FOREIGN.items() for a in ("--map", f"{c}={src}")]
    db = OUT / "mapped.duckdb"
    med = statistics.median
    runs: dict[str, list[tuple[float, float, float]]] = {
        "(b) canonical": [],
        **{k: [] for k in files},
    }
    for i in range(repeat):
        for label in runs:
            _fresh(db)
            if label == "(b) canonical":
                cmd = [cli, "--db", str(db), "ingest", "--json", str(csv)]
            else:
                cmd = [cli, "--db", str(db), "ingest", "--json", *maps, str(files[label])]
            wall, cpu, rss, out = _run(cmd)
            summary = json.loads(out)["files"][0]
            assert summary["rows_inserted"] == rows and summary["rows_rejected"] == 0, summary
            runs[label].append((wall, cpu, rss))
            print(
                f"  run {i + 1}: {label:24s} wall {wall:6.2f}s  cpu {cpu:6.2f}s  "
                f"peak RSS {rss:7.0f} MiB  (library {summary['seconds']:.2f}s)",
                flush=True,
            )
    _fresh(db)
    wb, cb = med(r[0] for r in runs["(b) canonical"]), med(r[1] for r in runs["(b) canonical"])
    for label in files:
        w, c = med(r[0] for r in runs[label]), med(r[1] for r in runs[label])
        print(
            f"median {label}: wall {w:.2f}s ({w / wb:.2f}x (b) {wb:.2f}s)  cpu {c:.2f}s "
            f"({c / cb:.2f}x (b) {cb:.2f}s)  peak RSS {max(r[2] for r in runs[label]):.0f} MiB"
            f"  (target <= 1.2x for (e)); load avg {os.getloadavg()[0]:.1f}"
        )

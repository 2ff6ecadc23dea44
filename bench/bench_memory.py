"""Peak RSS of a full build without and with a DuckDB memory limit (issue 12, part 3).

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench memory
[--posts=1000000] [--seed=7] [--dir=/work/bench-cache/i12] [--limits=none,default,2GB]``

The synthetic store of ``bench nothing_new`` (cached under ``--dir``) is copied once
per limit; a fresh child process opens the copy, applies the limit
(``Store.limit_memory``; "none" leaves DuckDB's own default, 80% of RAM) and runs a
full ``run_build`` without snapshot. Printed per limit: wall time, the child's peak
RSS (its own ``VmHWM``, :func:`bench.peak_rss_mb`), the peak RSS within each stage (``/proc/self/statm`` polled every
10 ms, labelled by the build's progress task: where the peak is), and ratios against
"none" measured in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import peak_rss_mb
from bench.bench_build import SEED, _arg, _world_store


def _rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(db: str, limit: str) -> None:
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    stage = ["open"]
    peaks: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:  # the peak RSS seen while each progress task runs
        while not done.wait(0.01):
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_mb())

    def progress(task: str, _done: int, _total: int | None) -> None:
        stage[0] = task

    threading.Thread(target=poll, daemon=True).start()
    with Store.open(db) as store:
        applied = (
            "duckdb default"
            if limit == "none"
            else store.limit_memory(None if limit == "default" else limit)
        )
        t = time.perf_counter()
        result = run_build(store, full=True, publish=False, progress=progress)
        wall = time.perf_counter() - t
        stage[0] = "commit"
    done.set()
    rss_mb = peak_rss_mb()
    out = {"limit": applied, "wall": wall, "rss_mb": rss_mb, "posts": result.posts}
    out |= {"stages_s": result.timings, "stage_peak_mb": peaks}
    print(json.dumps(out))


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    if argv and argv[0] == "--child":
        _child(argv[1], argv[2])
        return
    posts = int(_arg(argv, "posts", "1000000"))
    seed = int(_arg(argv, "seed", str(SEED)))
    root = Path(_arg(argv, "dir", "/work/bench-cache/i12"))
    limits = _arg(argv, "limits", "none,default,2GB").split(",")
    root.mkdir(parents=True, exist_ok=True)
    _world, db = _world_store(posts, seed, root, 0)
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for limit in limits:
        work = root / f"memory-{posts}.duckdb"
        shutil.copyfile(db, work)
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from bench.bench_memory import main; main(sys.argv[1:])",
                    "--child",
                    str(work),
                    limit,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            work.unlink(missing_ok=True)
            shutil.rmtree(str(work) + ".tmp", ignore_errors=True)
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{limit:>8} ({r['limit']}): full build {r['wall']:7.1f} s, peak RSS {r['rss_mb']:7.0f} MB",
            flush=True,
        )
        print(
            "          peak MB per stage: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in r["stage_peak_mb"].items()),
            flush=True,
        )
    base = rows[0]
    for limit, r in zip(limits, rows, strict=True):
        print(
            f"{limit:>8}: wall x{r['wall'] / base['wall']:.2f}, peak RSS x{r['rss_mb'] / base['rss_mb']:.2f} (vs {limits[0]})"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")

"""A build with nothing new against a full build of the same store (issue 12, part 2).

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench nothing_new
[--posts=1000000] [--seed=7] [--dir=/work/bench-cache/i12] [--repeat=5]``

A synthetic store of ``--posts`` posts (generated and loaded once, cached under
``--dir``, as in ``bench build``) is copied; on the copy a full ``run_build`` (no
snapshot) is timed once, then ``--repeat`` builds with nothing new. Printed: the full
build's wall time, the median nothing-new build, their ratio, and the machine load.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path

from bench.bench_build import SEED, _arg, _world_store


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    posts = int(_arg(argv, "posts", "1000000"))
    seed = int(_arg(argv, "seed", str(SEED)))
    root = Path(_arg(argv, "dir", "/work/bench-cache/i12"))
    repeat = int(_arg(argv, "repeat", "5"))
    root.mkdir(parents=True, exist_ok=True)
    _world, db = _world_store(posts, seed, root, 0)
    work = root / f"nothing-new-{posts}.duckdb"
    shutil.copyfile(db, work)
    try:
        print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
        with Store.open(work) as store:
            t = time.perf_counter()
            full = run_build(store, full=True, publish=False)
            full_s = time.perf_counter() - t
            times, modes = [], set()
            for _ in range(repeat):
                t = time.perf_counter()
                again = run_build(store, publish=False)
                times.append(time.perf_counter() - t)
                modes.add(again.mode)
        nothing = statistics.median(times)
        print(f"posts: {full.posts:,}  cascades: {full.cascades:,}")
        print(f"full build:           {full_s:8.2f} s")
        print(f"nothing new (median): {nothing:8.3f} s  modes={sorted(modes)}  all={times}")
        print(f"ratio nothing-new / full: {nothing / full_s:.4f}")
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        work.unlink(missing_ok=True)
        Path(str(work) + ".wal").unlink(missing_ok=True)

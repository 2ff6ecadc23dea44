"""Benchmark the accounts stage (coordination + bot scores) and compare co-retweet pairs
with the QUT coordination-network-toolkit on the same reposts and window.

Run: ``.venv/bin/python -m bench scores [--posts=5000000] [--qut-posts=N] [--dir=PATH]``
or, on a prebuilt store (ingested, cascades stage committed):
``.venv/bin/python -m bench scores --store=PATH [--stages=accounts,narratives] [--no-qut]``
(``items+narratives`` times the items stage and the narratives stage together: the
items stage took the narratives' text grouping over)
which times both scoring stages, each in its own subprocess (wall, CPU over all threads,
peak RSS, per-step times), inside rolled-back transactions.

1. Scoring: a synthetic world of ``--posts`` posts (``spreadtrace.synth``, seed 4242),
   ingested into a store (both cached under ``--dir``); the accounts stage
   (``spreadtrace.pipeline.accounts.run``) is timed inside a transaction that is rolled
   back, so runs repeat on the same input. Peak RSS of the process is printed.
2. Side by side: the first ``--qut-posts`` reposts of that store (by time; all of them
   if 0) with their co-retweet item (root_id, else parent_id) go to
   (a) spreadtrace's co-share search (``items=("repost",)``, same window and
   min_shared) on an in-memory store holding just those reposts, and (b) the toolkit's
   ``preprocess_data`` + ``compute_co_retweet_parallel`` (SQLite, 2 worker processes:
   this machine has 2 cores). Both times and the overlap of the two pair sets are
   printed. The toolkit is a bench-only dependency
   (``pip install coordination-network-toolkit``), never a runtime one.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

WINDOW = 60.0
MIN_SHARED = 2
SEED = 4242


def _arg(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_for(posts: int, root: Path) -> Path:
    """A store with a synthetic world of ``posts`` posts (generated and ingested once)."""
    from spreadtrace.ingest import ingest_file
    from spreadtrace.store import Store
    from spreadtrace.synth import generate

    world = root / f"world-{posts}"
    db = root / f"store-{posts}.duckdb"
    if db.exists():
        return db
    if not (world / "posts.csv.gz").exists():
        t = time.perf_counter()
        generate(world, seed=SEED, posts=posts)
        print(f"generated {posts:,} posts in {time.perf_counter() - t:.1f} s", flush=True)
    tmp = db.with_suffix(".part")
    with Store.open(tmp) as store:
        t = time.perf_counter()
        for name in ("accounts.csv.gz", "posts.csv.gz"):
            ingest_file(store, world / name)
        print(f"ingested in {time.perf_counter() - t:.1f} s", flush=True)
    tmp.rename(db)
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    return db


def bench_scoring(db: Path, repeats: int) -> float:
    from spreadtrace.pipeline.accounts import AccountParams, run
    from spreadtrace.store import Store

    times = []
    with Store.open(db) as store:
        posts = store.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
        for _ in range(repeats):
            store.con.execute("BEGIN TRANSACTION")
            t = time.perf_counter()
            counts = run(store, 1, AccountParams())
            times.append(time.perf_counter() - t)
            store.con.execute("ROLLBACK")
    med = statistics.median(times)
    print(
        f"scoring (accounts stage) on {posts:,} posts: median {med:.1f} s of {repeats} "
        f"({', '.join(f'{x:.1f}' for x in times)}); {posts / med:,.0f} posts/s; {counts}"
    )
    print(f"peak RSS so far {_peak_rss_mb():,.0f} MB")
    return med


def _stage_child(db: Path, stage: str, repeats: int) -> None:
    """Time one scoring stage in this (fresh) process; print one JSON line.

    Runs inside a rolled-back transaction each time, so the store is unchanged. The
    narratives stage reads the accounts stage's tables: when they are empty, the
    accounts stage is run and committed once first (untimed). Per-step times come
    from the stage's progress callbacks.
    """
    import json

    from spreadtrace.pipeline import accounts, items, narratives
    from spreadtrace.store import Store

    runs = []
    with Store.open(db) as store:
        con = store.con
        posts = con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
        if (
            stage in ("narratives", "items+narratives")
            and not con.execute("SELECT count(*) FROM account_scores").fetchall()[0][0]
        ):
            with store.transaction():
                if stage == "items+narratives":  # coordination reads the build's items
                    items.run(store, 1, narratives.NarrativeParams())
                accounts.run(store, 1, accounts.AccountParams())
        for _ in range(repeats):
            marks: list[tuple[str, int, float]] = []

            def progress(task: str, done: int, total: int | None, marks: list = marks) -> None:
                marks.append((task, done, time.perf_counter()))

            con.execute("BEGIN TRANSACTION")
            c0, t0 = time.process_time(), time.perf_counter()
            if stage == "accounts":
                counts = accounts.run(store, 1, accounts.AccountParams(), progress=progress)
            elif stage == "items+narratives":  # the items stage took text grouping over
                counts = items.run(store, 1, narratives.NarrativeParams(), progress=progress)
                counts |= narratives.run(store, 1, narratives.NarrativeParams(), progress=progress)
            else:
                counts = narratives.run(store, 1, narratives.NarrativeParams(), progress=progress)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            con.execute("ROLLBACK")
            steps = [
                (f"{a[0]} {a[1]}->{b[1]}", round(b[2] - a[2], 2))
                for a, b in zip(marks, marks[1:], strict=False)
                if b[2] - a[2] > 0.05
            ]
            runs.append({"wall": wall, "cpu": cpu, "steps": steps})
    out = {
        "stage": stage,
        "posts": posts,
        "runs": runs,
        "counts": counts,
        "peak_rss_mb": _peak_rss_mb(),
    }
    print("RESULT " + json.dumps(out), flush=True)


def bench_stages(db: Path, repeats: int, stages: list[str]) -> None:
    """Each scoring stage in its own subprocess (its own peak RSS); medians of ``repeats``."""
    import json
    import subprocess
    import sys

    for stage in stages:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "scores",
                f"--child={stage}",
                f"--store={db}",
                f"--repeats={repeats}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        res = json.loads(line.removeprefix("RESULT "))
        walls = [r["wall"] for r in res["runs"]]
        cpus = [r["cpu"] for r in res["runs"]]
        med = statistics.median(walls)
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[:3]
        print(
            f"{stage} stage on {res['posts']:,} posts: wall median {med:.1f} s "
            f"({', '.join(f'{w:.1f}' for w in walls)}), CPU median {statistics.median(cpus):.1f} s "
            f"(all threads), {res['posts'] / med:,.0f} posts/s, peak RSS {res['peak_rss_mb']:,.0f} MB; "
            f"load average {' '.join(load)}",
            flush=True,
        )
        print(f"  steps (last run): {res['runs'][-1]['steps']}")
        print(f"  counts: {res['counts']}", flush=True)


def _reposts(db: Path, limit: int) -> pl.DataFrame:
    from spreadtrace.store import Store

    with Store.open(db, read_only=True) as store:
        store.con.complete()
        frame = store.con.sql(
            """
            SELECT post_id, account_id, coalesce(root_id, parent_id) AS item,
                   epoch(created_at) AS t, created_at
            FROM posts
            WHERE kind IN ('repost', 'quote') AND coalesce(root_id, parent_id) IS NOT NULL
            ORDER BY created_at, post_id
            """
        ).pl()
    return frame.head(limit) if limit > 0 else frame


def spreadtrace_pairs(reposts: pl.DataFrame) -> tuple[float, set[tuple[str, str]], dict]:
    from spreadtrace.store import Store
    from spreadtrace.store import coordination as coordination_sql

    with Store.open(":memory:") as store:
        con = store.con
        con.register("_r", reposts.to_arrow())
        con.execute(
            "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, root_id, "
            "ingest_run_id) SELECT post_id, account_id, created_at, item, 'repost', item, 1 "
            "FROM _r"
        )
        t = time.perf_counter()
        stats = coordination_sql.co_share_pairs(
            con, window_s=WINDOW, min_shared=MIN_SHARED, items=("repost",)
        )
        pairs = coordination_sql.fetch_pairs(con)
        elapsed = time.perf_counter() - t
    return elapsed, set(zip(pairs["account_a"], pairs["account_b"], strict=True)), stats


def qut_pairs(reposts: pl.DataFrame, workdir: Path) -> tuple[float, float, set[tuple[str, str]]]:
    from coordination_network_toolkit.compute_networks import compute_co_retweet_parallel
    from coordination_network_toolkit.preprocess import preprocess_data

    db = workdir / "qut.sqlite"
    db.unlink(missing_ok=True)
    rows = (
        (pid, uid, uid, item, None, "", t, [])
        for pid, uid, item, t in reposts.select("post_id", "account_id", "item", "t").iter_rows()
    )
    sink = io.StringIO()  # the toolkit prints progress
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        preprocess_data(str(db), rows)
    t_pre = time.perf_counter() - t0
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        compute_co_retweet_parallel(str(db), WINDOW, n_threads=2, min_edge_weight=MIN_SHARED)
    t_net = time.perf_counter() - t0
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as con:
        edges = con.execute(
            "SELECT user_1, user_2 FROM co_retweet_network WHERE user_1 < user_2 AND weight >= ?",
            [MIN_SHARED],
        ).fetchall()
    return t_pre, t_net, {(str(a), str(b)) for a, b in edges}


def main(argv: list[str]) -> None:
    posts = int(_arg(argv, "posts", "5000000"))
    qut_posts = int(_arg(argv, "qut-posts", "0"))
    repeats = int(_arg(argv, "repeats", "3"))
    child = _arg(argv, "child", "")
    store_arg = _arg(argv, "store", "")
    if child:
        _stage_child(Path(store_arg), child, repeats)
        return
    root = Path(_arg(argv, "dir", os.path.join(tempfile.gettempdir(), "spreadtrace-bench")))
    root.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores shared with other jobs; figures are medians")
    if store_arg:
        # A prebuilt store (ingested, cascades built and committed): time both stages.
        db = Path(store_arg)
        stages = _arg(argv, "stages", "accounts,narratives").split(",")
        bench_stages(db, repeats, [s for s in stages if s])
        if "--no-qut" in argv:
            return
    else:
        db = _store_for(posts, root)
        if "--no-scoring" not in argv:
            bench_scoring(db, repeats)

    reposts = _reposts(db, qut_posts)
    print(
        f"side by side on {reposts.height:,} reposts, window {WINDOW:g} s, min_shared {MIN_SHARED}"
    )
    st_times = []
    for _ in range(repeats):
        elapsed, st_set, stats = spreadtrace_pairs(reposts)
        st_times.append(elapsed)
    st = statistics.median(st_times)
    print(f"spreadtrace co-share search: median {st:.2f} s; {len(st_set):,} pairs; {stats}")
    try:
        import coordination_network_toolkit  # noqa: F401
    except ImportError:
        print(
            "coordination-network-toolkit not installed: `pip install "
            "coordination-network-toolkit` to run the side-by-side"
        )
        return
    with tempfile.TemporaryDirectory(dir=root) as work:
        t_pre, t_net, qut_set = qut_pairs(reposts, Path(work))
    both = st_set & qut_set
    union = st_set | qut_set
    print(
        f"QUT toolkit: preprocess {t_pre:.2f} s, co_retweet network {t_net:.2f} s "
        f"(2 processes); {len(qut_set):,} pairs"
    )
    print(
        f"ratio QUT network / spreadtrace: {t_net / st:.1f}x; "
        f"(QUT preprocess + network) / spreadtrace: {(t_pre + t_net) / st:.1f}x"
    )
    print(
        f"pair overlap: both {len(both):,}; only spreadtrace {len(st_set - qut_set):,}; "
        f"only QUT {len(qut_set - st_set):,}; Jaccard {len(both) / max(len(union), 1):.4f}"
    )
    print(f"peak RSS {_peak_rss_mb():,.0f} MB")

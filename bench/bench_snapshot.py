"""Disk and time of the dashboard's read model against the old full-copy snapshot.

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench snapshot
[--posts=1000000] [--seed=7] [--new=0.01] [--dir=/work/bench-cache/i12s]``

1. A synthetic world of ``--posts`` posts (as ``bench build``: generated and loaded
   once, cached under ``--dir``), copied to a scratch store and built in full
   (``run_build(full=True, publish=False)``), not timed.
2. Baseline, measured in the same run: the old snapshot, a byte copy of the store
   file plus the read model (``create_read_model``) and a checkpoint, as
   ``publish`` did before the Parquet read model; it kept 3 of them (``KEEP = 3``).
3. The Parquet read model: a first publish (every file written), then ``--new`` of
   the posts as new reposts in a new ingest run, an incremental build, and a second
   publish: files and bytes written vs hard-linked, and its time.
4. Disk: the store file, and the read-model folder counted by unique inode (hard
   links once, as ``du`` does), as a ratio of the store: ``(store + read model) /
   store`` against ``(store + 1 copy) / store`` and ``(store + 3 copies) / store``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from bench.bench_build import _arg, _world_store


def _unique_bytes(folder: Path) -> int:
    """Bytes under ``folder``, each inode once (hard links are not double-counted)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _peak_rss() -> int:
    """Peak resident bytes of this process so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _disk(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def _per_table(folder: Path, stats) -> list[tuple[str, int, float]]:
    """(table, bytes on disk, publish seconds) of one version, biggest first."""
    sizes: dict[str, int] = {}
    secs: dict[str, float] = {}
    for path in folder.rglob("*.parquet"):
        rel = path.relative_to(folder).as_posix()
        table = rel.split("/")[0].removesuffix(".parquet")
        sizes[table] = sizes.get(table, 0) + path.stat().st_blocks * 512
        secs[table] = secs.get(table, 0.0) + stats.seconds.get(rel, 0.0)
    return sorted(((t, b, secs[t]) for t, b in sizes.items()), key=lambda r: -r[1])


def _old_snapshot(db: Path, out: Path) -> tuple[float, int]:
    """The pre-Parquet publish: copy the checkpointed store file, add the read model."""
    from spreadtrace.store import Store
    from spreadtrace.store.dashboard_queries import create_read_model

    t = time.perf_counter()
    shutil.copyfile(db, out)
    with Store.open(out) as snap:
        create_read_model(snap.con)
        snap.con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t
    Path(f"{out}.lock").unlink(missing_ok=True)
    return seconds, _disk(out)


def _query_times(con) -> dict[str, float]:
    """Median seconds of a few dashboard requests (5 runs each) on one connection."""
    from spreadtrace.store import dashboard_queries as dq

    big = con.execute("SELECT cascade_id FROM cascades ORDER BY size DESC LIMIT 1").fetchone()
    calls = {
        "headline": lambda: dq.headline(con),
        "cascade table page": lambda: dq.cascade_table(con, dq.CascadeFilter()),
        "largest cascade's nodes": lambda: dq.cascade_nodes(con, big[0] if big else ""),
        "accounts page": lambda: dq.accounts_table(con),
        "search 'rt'": lambda: dq.search(con, "rt"),
    }
    return median_times(calls)


def median_times(calls: dict) -> dict[str, float]:  # type: ignore[type-arg]
    """Median seconds of each call over 5 runs."""
    import statistics

    out = {}
    for name, call in calls.items():
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            call()
            runs.append(time.perf_counter() - t)
        out[name] = statistics.median(runs)
    return out


def _add_new_run(store, fraction: float) -> int:
    """``fraction`` of the posts as reposts of random stored posts, in a new ingest run."""
    con = store.con
    n = int(con.execute("SELECT count(*) FROM posts").fetchone()[0] * fraction)
    run = int(con.execute("SELECT coalesce(max(ingest_run_id), 0) + 1 FROM posts").fetchone()[0])
    con.execute(
        """
        INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, platform,
                           ingest_run_id)
        WITH p AS (SELECT post_id, account_id, created_at, row_number() OVER () - 1 AS k
                   FROM posts),
             c AS (SELECT count(*) AS c FROM posts),
             g AS (SELECT range AS i, hash(range, 1) % (SELECT c FROM c) AS k1,
                          hash(range, 2) % (SELECT c FROM c) AS k2 FROM range(?))
        SELECT 'new-' || ? || '-' || g.i, q.account_id, p.created_at + INTERVAL 1 MINUTE,
               p.post_id, 'repost', 'RT ' || p.post_id, 'twitter', ?
        FROM g JOIN p ON p.k = g.k1 JOIN p q ON q.k = g.k2
        """,
        [n, run, run],
    )
    return n


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import PublishStats, latest, publish, snapshot_dir

    posts = int(_arg(argv, "posts", "1000000"))
    seed = int(_arg(argv, "seed", "7"))
    fraction = float(_arg(argv, "new", "0.01"))
    root = Path(_arg(argv, "dir", "/work/bench-cache/i12s"))
    root.mkdir(parents=True, exist_ok=True)
    _world, cached = _world_store(posts, seed, root, 0)
    db = root / f"scratch-{posts}" / "store.duckdb"
    shutil.rmtree(db.parent, ignore_errors=True)
    db.parent.mkdir()
    shutil.copyfile(cached, db)
    t = time.perf_counter()
    with Store.open(db) as store:
        run_build(store, full=True, publish=False)
        store.checkpoint()
    print(f"store of {posts:,} posts built in {time.perf_counter() - t:.0f} s (not compared)")
    store_bytes = _disk(db)

    old_s, old_bytes = _old_snapshot(db, db.with_name("old-snapshot.duckdb"))

    with Store.open(db) as store:
        first = PublishStats()
        t = time.perf_counter()
        publish(store, stats=first)
        first_s = time.perf_counter() - t
        first_model = _unique_bytes(snapshot_dir(db))
        first_rss = _peak_rss()
        first_tables = _per_table(latest(db), first)
        new = _add_new_run(store, fraction)
        run_build(store, publish=False)
        store.checkpoint()
        second = PublishStats()
        t = time.perf_counter()
        publish(store, stats=second)
        second_s = time.perf_counter() - t
    store_after = _disk(db)
    model = _unique_bytes(snapshot_dir(db))
    mb = 1 / 2**20
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    print(f"store file: {store_bytes * mb:,.0f} MB ({store_after * mb:,.0f} MB after +{new:,})")
    print(
        f"old full-copy snapshot (baseline): {old_bytes * mb:,.0f} MB, {old_s:.1f} s; "
        f"store + 1 copy = {(store_bytes + old_bytes) / store_bytes:.2f}x the store, "
        f"store + 3 kept copies = {(store_bytes + 3 * old_bytes) / store_bytes:.2f}x"
    )
    print(
        f"parquet first publish: {len(first.written)} files, "
        f"{first.bytes_written * mb:,.0f} MB written, {first_s:.1f} s "
        f"({first_s / old_s:.2f}x the copy's time)"
    )
    print(
        f"  store + first read model = {(store_bytes + first_model) / store_bytes:.2f}x the store"
    )
    print(
        f"parquet publish after +{new:,} posts ({fraction:.0%}) and an incremental build: "
        f"{len(second.written)} files written ({second.bytes_written * mb:,.1f} MB), "
        f"{len(second.linked)} hard-linked, {second_s:.1f} s "
        f"({second_s / old_s:.2f}x the copy's time)"
    )
    print(f"  written: {', '.join(sorted(second.written))}")
    print(f"peak RSS of this process after the first publish: {first_rss / 2**20:,.0f} MB")
    print("first publish, per table: MB on disk, seconds (fingerprint + write)")
    for table, size, secs in first_tables:
        print(f"  {table:32s} {size * mb:8.2f} MB {secs:7.2f} s")
    print(
        f"read model on disk (unique inodes): {model * mb:,.0f} MB; store + read model = "
        f"{(store_after + model) / store_after:.2f}x the store "
        f"(old: {(store_bytes + 3 * old_bytes) / store_bytes:.2f}x with 3 copies)"
    )
    # the same dashboard requests on the old copy (native tables) and the read model
    from spreadtrace.store.snapshot import SnapshotReader

    old = db.with_name("old-snapshot.duckdb")
    with Store.open(old, read_only=True) as snap:
        before = _query_times(snap.con)
    reader = SnapshotReader(db)
    with reader.lease() as (con, _sid):
        after = _query_times(con)
    reader.close()
    for name in before:
        print(
            f"request {name}: copy {before[name] * 1e3:,.1f} ms, read model "
            f"{after[name] * 1e3:,.1f} ms ({after[name] / before[name]:.2f}x)"
        )
    sys.stdout.flush()

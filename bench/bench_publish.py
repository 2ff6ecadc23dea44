"""The dashboard publish after a 1% incremental build: seconds and bytes (issue 12, part 4).

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench publish --store=STORE
--new=NEW [--db=/work/bench-cache/pub12/publish.duckdb]``

STORE is a loaded, unbuilt store (``bench scale`` caches them as
``store-<posts>-<seed>-big0.duckdb``) and NEW a canonical posts CSV of new reposts (its
inbox's ``new.csv``). On a copy at ``--db``: a full build (timed: the baseline), a
first publish (every file written), the ingest of NEW, an incremental build, and the
second publish, timed, with the MB it wrote, the tables whose changes were found by
row hashes rather than build ids, its slowest files (W written, L linked: the seconds
include finding the changes) and, per table kept as a base plus changes, the rows
changed and the keys they replace. Then the same dashboard requests (median of 5) on
that version and on a compacted one (``publish(force_prune=True)``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    from bench.bench_build import _arg

    if any(a in ("-h", "--help") for a in argv) or not _arg(argv, "store", ""):
        print(__doc__)
        return
    from bench.bench_snapshot import _query_times
    from spreadtrace.ingest.files import ingest_file
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store, snapshot

    src, new = _arg(argv, "store", ""), _arg(argv, "new", "")
    db = Path(_arg(argv, "db", "/work/bench-cache/pub12/publish.duckdb"))
    shutil.rmtree(f"{db}.snapshots", ignore_errors=True)
    shutil.copyfile(src, db)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    with Store.open(db) as store:
        t = time.perf_counter()
        run_build(store, full=True, publish=False)
        full_s = time.perf_counter() - t
        t = time.perf_counter()
        snapshot.publish(store)
        print(f"full build {full_s:.2f} s; first publish {time.perf_counter() - t:.2f} s")
        ingest_file(store, new, format="posts")
        t = time.perf_counter()
        run_build(store, publish=False)
        print(f"incremental build {time.perf_counter() - t:.2f} s")
        stats = snapshot.PublishStats()
        t = time.perf_counter()
        snapshot.publish(store, stats=stats)
        second_s = time.perf_counter() - t
    print(
        f"second publish {second_s:.2f} s ({second_s / full_s:.1%} of the full build), "
        f"{stats.bytes_written / 1e6:.1f} MB written; by row hash: {stats.by_hash}"
    )
    for rel, secs in sorted(stats.seconds.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {rel:40s} {secs:6.3f} s {'W' if rel in stats.written else 'L'}")
    version = snapshot.latest(db)
    assert version is not None
    manifest = json.loads((version / "manifest.json").read_text())
    for table, e in manifest["deltas"].items():
        if e["delta"] or e["dead"]:
            print(f"  {table:28s} base {e['rows']:>9,} changed {e['delta_rows']:>8,} "
                  f"replaced keys {e['dead_rows']:>8,}")  # fmt: skip
    sys.stdout.flush()
    deltas = _requests(snapshot, version, _query_times)
    with Store.open(db) as store:
        compacted = snapshot.publish(store, force_prune=True)
    assert compacted is not None
    whole = _requests(snapshot, compacted, _query_times)
    for name, secs in deltas.items():
        print(
            f"request {name}: base + changes {secs * 1e3:,.1f} ms, compacted "
            f"{whole[name] * 1e3:,.1f} ms ({secs / whole[name]:.2f}x)"
        )


def _requests(snapshot, version: Path, query_times) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median seconds of the dashboard requests of ``bench snapshot`` plus a search and
    a narratives page, on one version."""
    from bench.bench_snapshot import median_times
    from spreadtrace.store import dashboard_queries as dq

    opened = snapshot.open_version(version)
    assert opened is not None
    con, fd = opened
    try:
        out = query_times(con)
        out |= median_times(
            {
                "search 'vaccine'": lambda: dq.search(con, "vaccine"),
                "narratives page": lambda: dq.narrative_table(con),
            }
        )
        return out
    finally:
        con.close()
        os.close(fd)

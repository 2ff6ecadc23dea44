"""A snapshot kept as base files plus the rows changed since equals a fresh publish.

Why: after an incremental build :func:`spreadtrace.store.snapshot.publish` links the
previous version's big files and writes only the changed rows and the keys they
replace (found from the store's build ids, or by row hashes). Any slip there (a change
not found, a deleted cascade or narrative left visible, a row twice) shows as a
difference from a version published from scratch of the same store, table by table and
through the dashboard's own queries.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.privacy import forget
from spreadtrace.store import Store, snapshot
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.erasure import drop_posts_before
from tests.test_incremental import _posts, _world


def _dump(version: Path) -> dict[str, Any]:
    """Every table and view of a version (rows sorted), and the answers of the
    dashboard's queries that depend on the files' order and contents."""
    opened = snapshot.open_version(version)
    assert opened is not None
    con, fd = opened
    try:
        manifest = json.loads((version / "manifest.json").read_text())
        out: dict[str, Any] = {}
        for name in sorted([*manifest["tables"], *manifest["views"]]):
            out[name] = con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
        page, total = dq.cascade_table(con, dq.CascadeFilter(), limit=50)
        out["q:cascade_table"] = (page.rows(), total)
        top = [r[0] for r in con.execute("SELECT cascade_id FROM dash_cascades ORDER BY size DESC, cascade_id LIMIT 5").fetchall()]  # fmt: skip
        for cascade_id in top:
            out[f"q:nodes:{cascade_id}"] = dq.cascade_nodes(con, cascade_id).rows()
            out[f"q:info:{cascade_id}"] = dq.cascade_info(con, cascade_id)
        narratives, n = dq.narrative_table(con, limit=50)
        out["q:narratives"] = (narratives.rows(), n)
        for word in ("the", "vaccine", "http", "news"):
            found = dq.search(con, word, search=word)
            out[f"q:search:{word}"] = {
                k: (v.rows() if isinstance(v, pl.DataFrame) else v) for k, v in found.items()
            }
        out["q:headline"] = dq.headline(con)
        return out
    finally:
        con.close()
        os.close(fd)


def _fresh(db: Path, store: Store) -> dict[str, Any]:
    """A version of the same store published with no previous one to link from."""
    folder = snapshot.snapshot_dir(db)
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    try:
        path = snapshot.publish(store)
        assert path is not None
        return _dump(path)
    finally:
        shutil.rmtree(folder)
        aside.rename(folder)


def _compare(db: Path, store: Store, path: Path, step: object) -> None:
    got = _dump(path)
    want = _fresh(db, store)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name] == want[name], (step, name)


@pytest.mark.slow
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from([3, 11]),
    split=st.integers(0, 2**32 - 1),
    n=st.integers(3, 5),
    share=st.sampled_from([0.05, 0.25, 1.0]),
)
def test_incremental_publishes_equal_a_fresh_publish(
    tmp_path_factory, monkeypatch, seed, split, n, share
):
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", 0)  # the test store is small
    monkeypatch.setattr(snapshot, "DELTA_SHARE", share)
    tmp = tmp_path_factory.mktemp("delta")
    world = _world(seed, str(tmp_path_factory.getbasetemp()))
    posts = _posts(world)
    rng = np.random.default_rng(split)
    cut = np.minimum(rng.geometric(0.5, posts.height) - 1, n - 1)
    db = tmp / "store.duckdb"
    kept = {"delta": 0, "dead": 0}
    with Store.open(db) as store:
        ingest_file(store, world / "accounts.csv.gz", format="accounts")
        ingest_file(store, world / "follows.csv.gz", format="follows")
        for b in range(int(cut.max()) + 1):
            part = tmp / f"posts-{b}.csv"
            posts.filter(pl.Series(cut == b)).write_csv(part)
            ingest_file(store, part, format="posts")
            run_build(store, publish=False)
            path = snapshot.publish(store)
            assert path is not None
            manifest = json.loads((path / "manifest.json").read_text())
            for entry in manifest["deltas"].values():
                kept["delta"] += bool(entry["delta"])
                kept["dead"] += bool(entry["dead"])
            _compare(db, store, path, b)
        # retention drops the oldest posts (and the build after it keeps their nodes)
        cutoff = store.con.execute("SELECT quantile_disc(created_at, 0.2) FROM posts")
        assert drop_posts_before(store, cutoff.fetchone()[0]) > 0
        run_build(store, publish=False)
        path = snapshot.publish(store)
        assert path is not None
        _compare(db, store, path, "retention")
    if share < 1.0:
        return
    # with no compaction, later versions kept changed rows and replaced keys
    assert kept["delta"] and kept["dead"], kept


@pytest.mark.slow
def test_erasure_leaves_no_trace_in_any_base_file(tmp_path, monkeypatch):
    """A base file hides replaced rows behind dead keys; an erasure rewrites every one,
    so no file of any remaining version holds the erased account."""
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(snapshot, "DELTA_SHARE", 1.0)
    world = _world(3, str(tmp_path))
    posts = _posts(world)
    db = tmp_path / "store.duckdb"
    account = posts["account_id"].drop_nulls().value_counts(sort=True)["account_id"][0]
    with Store.open(db) as store:
        ingest_file(store, world / "accounts.csv.gz", format="accounts")
        ingest_file(store, world / "follows.csv.gz", format="follows")
        half = posts.height // 2
        for b, part in enumerate((posts.head(half), posts.tail(posts.height - half))):
            part.write_csv(tmp_path / f"p{b}.csv")
            ingest_file(store, tmp_path / f"p{b}.csv", format="posts")
            run_build(store, publish=False)
            snapshot.publish(store)
        path = snapshot.latest(db)
        assert path is not None
        manifest = json.loads((path / "manifest.json").read_text())
        assert any(e["dead"] for e in manifest["deltas"].values())  # hidden rows exist
    forget(db, [account], token=lambda v: "erased-x")
    versions = [p for p in snapshot.snapshot_dir(db).iterdir() if p.is_dir()]
    assert len(versions) == 1
    manifest = json.loads((versions[0] / "manifest.json").read_text())
    assert not any(e["dead"] or e["delta"] for e in manifest["deltas"].values())
    con = duckdb.connect()
    for f in versions[0].rglob("*.parquet"):
        text = repr(con.execute("SELECT * FROM read_parquet(?)", [str(f)]).fetchall())
        assert account not in text, f


@pytest.mark.slow
def test_a_store_restored_and_rebuilt_to_the_same_build_id_is_published_in_full(
    tmp_path, monkeypatch
):
    """The big tables are fingerprinted by a stamp (rows, newest build id, its start)
    and their changes found from build ids newer than the previous version's. A store
    restored from a backup and rebuilt with other posts reaches the same build id (and
    here the same row counts are likely): the previous version's build is not the
    store's, so nothing of that version may be taken as unchanged."""
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(snapshot, "DELTA_SHARE", 1.0)
    world = _world(3, str(tmp_path))
    posts = _posts(world)
    db = tmp_path / "store.duckdb"
    third = posts.height // 3
    parts = [posts.head(third), posts.slice(third, third), posts.tail(posts.height - 2 * third)]
    for b, part in enumerate(parts):
        part.write_csv(tmp_path / f"p{b}.csv")
    with Store.open(db) as store:
        ingest_file(store, world / "accounts.csv.gz", format="accounts")
        ingest_file(store, world / "follows.csv.gz", format="follows")
        ingest_file(store, tmp_path / "p0.csv", format="posts")
        run_build(store, publish=False)
        snapshot.publish(store)
        store.checkpoint()
    shutil.copyfile(db, tmp_path / "backup.duckdb")
    with Store.open(db) as store:  # build 2 with the second part: published
        ingest_file(store, tmp_path / "p1.csv", format="posts")
        run_build(store, publish=False)
        published = snapshot.publish(store)
        assert published is not None and published.name.startswith("000002-")
    shutil.copyfile(tmp_path / "backup.duckdb", db)  # restored: build 1 again
    with Store.open(db) as store:  # build 2 again, with the third part instead
        ingest_file(store, tmp_path / "p2.csv", format="posts")
        run_build(store, publish=False)
        path = snapshot.publish(store)
        assert path is not None and path.name.startswith("000002-")
        _compare(db, store, path, "restored")

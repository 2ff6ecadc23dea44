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
from dataclasses import dataclass
from datetime import timedelta
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
from spreadtrace.store import builds as builds_sql
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


@dataclass
class _Small:
    """A temp-file store over the synthetic world of seed 3, its posts, and publishes
    that keep every change as base + delta (no size or share threshold)."""

    tmp: Path
    world: Path
    posts: pl.DataFrame
    db: Path

    def profiles(self, store: Store, *, follows: bool = True) -> None:
        """Ingest the world's profiles (and follows)."""
        ingest_file(store, self.world / "accounts.csv.gz", format="accounts")
        if follows:
            ingest_file(store, self.world / "follows.csv.gz", format="follows")

    def add(
        self, store: Store, part: pl.DataFrame, name: str
    ) -> tuple[Path, snapshot.PublishStats]:
        """Ingest ``part`` as posts (file ``name``), build, publish; the new version."""
        part.write_csv(self.tmp / name)
        ingest_file(store, self.tmp / name, format="posts")
        run_build(store, publish=False)
        return _publish(store)


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Small:
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", 0)  # the test store is small
    monkeypatch.setattr(snapshot, "DELTA_SHARE", 1.0)  # never compacted
    world = _world(3, str(tmp_path))
    return _Small(tmp_path, world, _posts(world), tmp_path / "store.duckdb")


def _day_later(store: Store, account_id: str, days: int = 3) -> pl.DataFrame:
    """One new post by ``account_id``, ``days`` after the newest stored post: the
    store's span in whole days grows, so every account's posts_per_day (and so its
    scores) moves, while no other account's post count changes."""
    newest = store.con.execute("SELECT max(created_at) FROM posts").fetchone()[0]
    at = (newest + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return pl.DataFrame(
        {"post_id": [f"dayb-{at}"], "account_id": [account_id], "created_at": [at],
         "parent_id": [None], "kind": ["original"], "root_id": [None],
         "text": ["a later day at the festival"], "urls": [None], "hashtags": [None],
         "lang": ["en"], "platform": ["bluesky"]},
        schema={c: pl.String for c in ("post_id", "account_id", "created_at", "parent_id",
                "kind", "root_id", "text", "urls", "hashtags", "lang", "platform")},
    )  # fmt: skip


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
    min_rows=st.sampled_from([0, 500]),
)
def test_incremental_publishes_equal_a_fresh_publish(
    tmp_path_factory, monkeypatch, seed, split, n, share, min_rows
):
    # 0: every table kept as base + changes; 500: the clusters and origins (a few
    # hundred rows) rewritten whole, their changed accounts still known to dash_accounts
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", min_rows)
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
        accounts = sorted(posts["account_id"].drop_nulls().unique())
        for b in range(int(cut.max()) + 1):
            if b and rng.random() < 0.5:  # profile snapshots renaming a few accounts
                picked = rng.choice(accounts, size=3, replace=False)
                _rename(store, tmp / f"r-{b}.csv", {str(a): (f"qz{b}_{i}", f"Qlt {a} {b}")
                                                    for i, a in enumerate(picked)})  # fmt: skip
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
        # a post days after the newest: every account rescored (posts_per_day), few of
        # the account index's columns (post count, bot state) moved
        (busiest,) = store.con.execute(
            "SELECT account_id FROM account_scores ORDER BY posts DESC, account_id LIMIT 1"
        ).fetchone()
        later = tmp / "posts-later.csv"
        _day_later(store, busiest).write_csv(later)
        ingest_file(store, later, format="posts")
        run_build(store, publish=False)
        path, stats = _publish(store)
        assert not {"dash_accounts", "dash_account_keys", "dash_account_grams"} & set(
            stats.by_hash
        ), stats.by_hash
        _compare(db, store, path, "day boundary")
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
def test_erasure_leaves_no_trace_in_any_base_file(small):
    """A base file hides replaced rows behind dead keys; an erasure rewrites every one,
    so no file of any remaining version holds the erased account."""
    posts, db = small.posts, small.db
    account = posts["account_id"].drop_nulls().value_counts(sort=True)["account_id"][0]
    with Store.open(db) as store:
        small.profiles(store)
        half = posts.height // 2
        for b, part in enumerate((posts.head(half), posts.tail(posts.height - half))):
            path, _ = small.add(store, part, f"p{b}.csv")
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
def test_a_store_restored_and_rebuilt_to_the_same_build_id_is_published_in_full(small):
    """The big tables are fingerprinted by a stamp (rows, newest build id, its start)
    and their changes found from build ids newer than the previous version's. A store
    restored from a backup and rebuilt with other posts reaches the same build id (and
    here the same row counts are likely): the previous version's build is not the
    store's, so nothing of that version may be taken as unchanged."""
    posts, db, tmp_path = small.posts, small.db, small.tmp
    third = posts.height // 3
    parts = [posts.head(third), posts.slice(third, third), posts.tail(posts.height - 2 * third)]
    with Store.open(db) as store:
        small.profiles(store)
        small.add(store, parts[0], "p0.csv")
        store.checkpoint()
    shutil.copyfile(db, tmp_path / "backup.duckdb")
    with Store.open(db) as store:  # build 2 with the second part: published
        published, _ = small.add(store, parts[1], "p1.csv")
        assert published.name.startswith("000002-")
    shutil.copyfile(tmp_path / "backup.duckdb", db)  # restored: build 1 again
    with Store.open(db) as store:  # build 2 again, with the third part instead
        path, _ = small.add(store, parts[2], "p2.csv")
        assert path.name.startswith("000002-")
        _compare(db, store, path, "restored")


def _rename(store: Store, path: Path, renames: dict[str, tuple[str, str]]) -> None:
    """Ingest a profile snapshot (no posts) giving ``account_id`` -> (handle, name),
    observed after every stored snapshot."""
    observed = store.con.execute("SELECT max(observed_at) + INTERVAL 1 DAY FROM accounts")
    at = observed.fetchone()[0].isoformat()
    pl.DataFrame(
        {
            "account_id": list(renames),
            "handle": [h for h, _ in renames.values()],
            "display_name": [n for _, n in renames.values()],
            "observed_at": [at] * len(renames),
        }
    ).write_csv(path)
    ingest_file(store, path, format="accounts")


def _found(path: Path, who: str) -> list[tuple[Any, ...]]:
    """(account_id, handle, display_name, posts) of the accounts the dashboard's account
    search finds for ``who`` in the version at ``path`` (through the gram index)."""
    opened = snapshot.open_version(path)
    assert opened is not None
    con, fd = opened
    try:
        found = dq.search(con, who, search=who)["accounts"]
        return [
            tuple(r) for r in found.select("account_id", "handle", "display_name", "posts").rows()
        ]
    finally:
        con.close()
        os.close(fd)


def _publish(store: Store) -> tuple[Path, snapshot.PublishStats]:
    stats = snapshot.PublishStats()
    path = snapshot.publish(store, stats=stats)
    assert path is not None
    return path, stats


@pytest.mark.slow
def test_the_account_search_index_follows_profiles_and_new_posts(small):
    """The gram index is computed for the accounts whose profile (a new snapshot: no
    build id, found by its ingest run) or whose dashboard row (posts, bot state) changed
    since the previous version, not compared row by row for every account. A stale
    index would keep the old handle or name findable, the new one not, or the old post
    count: each is checked through the search and against a fresh publish."""
    posts, db, tmp_path = small.posts, small.db, small.tmp
    half = posts.height // 2
    first, second = posts.head(half), posts.tail(posts.height - half)
    later = set(second["account_id"].drop_nulls()) - set(first["account_id"].drop_nulls())
    with Store.open(db) as store:
        small.profiles(store)
        small.add(store, first, "p0.csv")
        path, _ = _publish(store)  # nothing changed: the index linked as it was
        profiled = store.con.execute(
            "SELECT account_id, handle, display_name FROM accounts "
            "WHERE account_id IN (SELECT account_id FROM account_scores) "
            "AND length(handle) >= 6 AND length(display_name) >= 6 ORDER BY account_id LIMIT 3"
        ).fetchall()
        (a, a_handle, _), (b, _, b_name), (c, c_handle, _) = profiled
        assert _found(path, a_handle)[0][0] == a

        # a profile-only change: a renames its handle, b its display name; no new posts
        _rename(
            store, tmp_path / "r1.csv", {a: ("qzx_renamed", "Same A"), b: ("qzx_b", "Wyvern Qlt")}
        )
        run_build(store, publish=False)
        path, stats = _publish(store)
        assert "dash_account_grams" not in stats.by_hash, stats.by_hash
        assert [r[:3] for r in _found(path, "qzx_renamed")] == [(a, "qzx_renamed", "Same A")]
        assert [r[0] for r in _found(path, "wyvern qlt")] == [b]
        assert a not in [r[0] for r in _found(path, a_handle)]
        assert b not in [r[0] for r in _found(path, b_name)]
        _compare(db, store, path, "renamed")

        # only a display name, of an account nothing else changed of, and no build since:
        # no row of dash_accounts changes (it has no display name), only the profile
        _rename(store, tmp_path / "r2.csv", {c: (c_handle, "Basilisk Qlt")})
        path, stats = _publish(store)
        assert [r[0] for r in _found(path, "basilisk qlt")] == [c]
        assert "dash_account_grams" not in stats.by_hash, stats.by_hash
        _compare(db, store, path, "renamed again, not built")

        # new posts: their accounts' post counts (what a hit shows) change in the index
        path, stats = small.add(store, second, "p1.csv")
        assert not {"dash_account_grams", "dash_account_keys"} & set(stats.by_hash), stats.by_hash
        _compare(db, store, path, "new posts")
        entry = json.loads((path / "manifest.json").read_text())["deltas"]["dash_account_grams"]
        assert 0 < entry["delta_rows"] < entry["rows"]  # the changed accounts' rows only
        con = store.con
        counts = dict(con.execute("SELECT account_id, posts FROM account_scores").fetchall())
        newcomer = sorted(later & set(counts))[0]
        handle = con.execute("SELECT handle FROM accounts WHERE account_id = ?", [newcomer])
        hit = [r for r in _found(path, handle.fetchone()[0]) if r[0] == newcomer]
        assert hit and hit[0][3] == counts[newcomer]


@pytest.mark.slow
def test_profiles_of_a_store_restored_from_a_backup_are_not_taken_as_published(small):
    """The profiles' changes are the ingest runs after the previous version's. A store
    restored from a backup numbers its next run again from the backup's sequence: that
    run id names another file than the one the previous version saw, so the account
    index is compared whole, not trusted stale."""
    db, tmp_path = small.db, small.tmp
    with Store.open(db) as store:
        small.profiles(store, follows=False)
        small.add(store, small.posts, "p.csv")
        (b,) = store.con.execute("SELECT min(account_id) FROM account_scores").fetchone()
        store.checkpoint()
    shutil.copyfile(db, tmp_path / "backup.duckdb")
    with Store.open(db) as store:  # a display name (only) published from run 3
        handle = store.con.execute("SELECT handle FROM accounts WHERE account_id = ?", [b])
        handle = handle.fetchone()[0]
        _rename(store, tmp_path / "r1.csv", {b: (handle, "Wyvern Qlt")})
        path, _ = _publish(store)
        assert [r[0] for r in _found(path, "wyvern")] == [b]
    shutil.copyfile(tmp_path / "backup.duckdb", db)
    with Store.open(db) as store:  # restored; run 3 again, another name
        _rename(store, tmp_path / "r2.csv", {b: (handle, "Basilisk Qlt")})
        path, stats = _publish(store)
        assert [r[0] for r in _found(path, "basilisk")] == [b]
        assert _found(path, "wyvern") == []
        assert "dash_account_grams" in stats.by_hash
        _compare(db, store, path, "restored")


@pytest.mark.slow
def test_an_account_erased_since_the_previous_version_leaves_the_account_index(small):
    """Profiles vanish only by an erasure, so the account index looks for accounts gone
    since the previous version only after one (that anti-join reads the whole previous
    index). A publish after an erasure that was not finished (no full rebuild, no forced
    republication: a crash, then an ordinary build) must still drop the account."""
    from spreadtrace.store.erasure import erase_accounts

    db, tmp_path = small.db, small.tmp
    with Store.open(db) as store:
        small.profiles(store, follows=False)
        small.add(store, small.posts, "p.csv")
        # a profile with no posts and no build since: no dashboard row (dash_accounts)
        _rename(store, tmp_path / "r.csv", {"lonely-1": ("qzx_lonely", "Lonely Qlt")})
        path, _ = _publish(store)
        (a, handle) = store.con.execute(
            "SELECT account_id, handle FROM accounts WHERE length(handle) >= 6 "
            "AND account_id IN (SELECT account_id FROM account_scores) "
            "ORDER BY account_id LIMIT 1"
        ).fetchone()
        assert a in [r[0] for r in _found(path, handle)]
        assert [r[0] for r in _found(path, "qzx_lonely")] == ["lonely-1"]
        erase_accounts(store, [a, "lonely-1"], token=lambda v: "erased-x")
        path, _ = _publish(store)
        assert a not in [r[0] for r in _found(path, handle)]
        assert _found(path, "qzx_lonely") == []
        _compare(db, store, path, "erased")


def _rows(path: Path, sql: str) -> set[tuple[Any, ...]]:
    opened = snapshot.open_version(path)
    assert opened is not None
    con, fd = opened
    try:
        return set(con.execute(sql).fetchall())
    finally:
        con.close()
        os.close(fd)


@pytest.mark.slow
def test_a_day_boundary_rewrites_the_account_index_of_changed_accounts_only(small):
    """A post days after the newest moves every account's posts_per_day, so the build
    rescores every account and every dash_accounts row changes. The account index
    (``dash_account_keys``, ``dash_account_grams``) carries only the post count and
    the bot state of it: its changed rows are those of the accounts whose count or
    state moved, found by comparing those columns, not all of them."""
    db = small.db
    keys = "SELECT account_id, posts, bot_state FROM dash_account_keys"
    with Store.open(db) as store:
        small.profiles(store)
        before = _rows(small.add(store, small.posts, "p0.csv")[0], keys)
        (busiest,) = store.con.execute(
            "SELECT account_id FROM account_scores ORDER BY posts DESC, account_id LIMIT 1"
        ).fetchone()
        path, stats = small.add(store, _day_later(store, busiest), "p1.csv")
        build = store.con.execute("SELECT max(build_id) FROM builds").fetchone()[0]
        rescored, posting = store.con.execute(
            "SELECT count(*) FILTER (build_id = ?), count(*) FILTER (posts > 0) "
            "FROM account_scores",
            [build],
        ).fetchone()
        # the day boundary rescored every account with posts (their posts_per_day moved)
        assert rescored >= posting, (rescored, posting)
        _compare(db, store, path, "day boundary")
    assert not {"dash_accounts", "dash_account_keys", "dash_account_grams"} & set(stats.by_hash)
    moved = {r[0] for r in _rows(path, keys) ^ before}
    assert busiest in moved and len(moved) < rescored // 4, (len(moved), rescored)
    deltas = json.loads((path / "manifest.json").read_text())["deltas"]
    assert deltas["dash_accounts"]["delta_rows"] >= rescored  # every rescored row
    entry = deltas["dash_account_grams"]
    written = _rows(
        path, f"SELECT DISTINCT account_id FROM read_parquet('{path / entry['delta']}')"
    )
    # the index rows written are those of the accounts whose indexed columns moved
    assert {r[0] for r in written} == moved & {
        r[0] for r in _rows(path, "SELECT account_id FROM dash_account_grams")
    }


@pytest.mark.slow
@pytest.mark.parametrize("min_rows", [0, 500])
def test_each_input_of_the_accounts_rows_changing_alone_is_published(small, monkeypatch, min_rows):
    """``dash_accounts`` is computed for the accounts its inputs changed (scores,
    clusters, origins: each store table's changes since the previous version, deleted
    rows among them; profiles: new ingest runs), not compared row by row. Here each
    input changes alone, as a build writes it (the rows it changes take its build id,
    deleted rows leave none), so a change not followed shows as a stale row. 500: the
    clusters and origins are rewritten whole (fewer rows), their changes still known."""
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", min_rows)
    db = small.db
    edits = {
        "cluster moved": "UPDATE coordination_clusters SET cluster_id = 'zz-moved', "
        "build_id = $b WHERE account_id = (SELECT min(account_id) FROM coordination_clusters)",
        "cluster left": "DELETE FROM coordination_clusters "
        "WHERE account_id = (SELECT max(account_id) FROM coordination_clusters)",
        "origin rescored": "UPDATE account_origin SET origin_index = origin_index / 2, "
        "build_id = $b WHERE account_id = (SELECT min(account_id) FROM account_origin)",
        "origin gone": "DELETE FROM account_origin "
        "WHERE account_id = (SELECT max(account_id) FROM account_origin)",
        "scores gone": "DELETE FROM account_scores "
        "WHERE account_id = (SELECT max(account_id) FROM account_scores)",
    }
    with Store.open(db) as store:
        small.profiles(store)
        small.add(store, small.posts, "p.csv")
        for step, sql in edits.items():
            con = store.con
            build = builds_sql.start_build(con, "incremental", "{}")
            changed = con.execute(sql, {"b": build} if "$b" in sql else {}).fetchall()[0][0]
            assert changed == 1, step
            builds_sql.finish_build(con, build)
            path, stats = _publish(store)
            assert "dash_accounts" not in stats.by_hash, (step, stats.by_hash)
            _compare(db, store, path, step)

"""Incremental builds equal a full build on EVERY derived table (issue 12, part 1).

A small synthetic world (posts, accounts, follows: bots, rings, narratives, viral
cascades) is cut into random batches by post; each batch is ingested through the real
ingest path as its own file, and a build runs after each. The tables written by every
stage of :data:`spreadtrace.pipeline.STAGES` must then equal, row for row (build_id
columns aside), those of one full build over the whole world.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.pipeline import STAGES
from spreadtrace.pipeline.build import BuildResult, run_build
from spreadtrace.store import Store
from spreadtrace.store.schema import UNINDEXED_KEYS
from tests.synth_worlds import build_in_batches, synth_world, world_posts
from tests.test_cascades_support import table_rows

# every table a stage writes, but the stages' bookkeeping (meta: the cascades' state)
# row_changes: the log of what each incremental build changed (a full build empties it)
DERIVED = sorted({t for s in STAGES for t in s.writes} - {"meta", "row_changes"})

# per posts ingest run (in order): the accounts whose features it changes, i.e. the
# authors of its posts and the authors of earlier reposts/quotes of its posts
SCOPE_SQL = """
SELECT r.ingest_run_id, (
    SELECT count(DISTINCT account_id) FROM (
        SELECT account_id FROM posts WHERE ingest_run_id = r.ingest_run_id
        UNION ALL
        SELECT c.account_id FROM posts c JOIN posts p ON p.post_id = c.parent_id
        WHERE p.ingest_run_id = r.ingest_run_id AND c.ingest_run_id < r.ingest_run_id
          AND c.kind IN ('repost', 'quote')))
FROM ingest_runs r WHERE r.format = 'posts' ORDER BY r.ingest_run_id
"""


def _world(seed: int, root: str) -> Path:
    return synth_world(seed, root, 1500)


def _posts(world: Path) -> pl.DataFrame:
    return world_posts(world)


def _ingest_batches(
    store: Store, world: Path, cut: np.ndarray, tmp: Path, tag: str
) -> list[BuildResult]:
    """Ingest accounts and follows, then the posts of batch 0, 1, ... (a build after each).

    Returns the builds' results."""
    return list(build_in_batches(store, world, cut, tmp, f"{tag}-"))


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.sampled_from([3, 11]), split=st.integers(0, 2**32 - 1), n=st.integers(2, 4))
def test_incremental_builds_equal_one_full_build_on_every_derived_table(
    tmp_path_factory, seed, split, n
):
    tmp = tmp_path_factory.mktemp("inc")
    world = _world(seed, str(tmp_path_factory.getbasetemp()))
    rows = _posts(world).height
    rng = np.random.default_rng(split)
    # batches of very different sizes: a big first load, then trickles (cron's shape)
    cut = np.minimum(rng.geometric(0.5, rows) - 1, n - 1)
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        results = _ingest_batches(inc, world, cut, tmp, "inc")
        modes = [r.mode for r in results]
        assert modes[0] == "full" and all(m == "incremental" for m in modes[1:])
        # the accounts stage took its incremental path: it recomputed exactly the
        # accounts of the batch and the earlier reposters of the batch's posts
        runs = inc.con.execute(SCOPE_SQL).fetchall()
        assert len(runs) == len(results)
        for result, (run, expected) in zip(results[1:], runs[1:], strict=True):
            accounts = result.counts["accounts"]
            assert accounts["full"] is False, run
            assert accounts["features_recomputed"] == expected, run
            # and so did the narratives stage (its forest: the affected cascades only)
            assert result.counts["narratives"]["incremental"] is True, run
            # and regrouped only the closure of the changed roots, not every root
            narratives = result.counts["narratives"]
            assert "grouping_seeds" in narratives, run
            assert (
                narratives["regrouped_cascades"]
                < inc.con.execute("SELECT count(*) FROM cascades").fetchone()[0]
            ), run
        _ingest_batches(full, world, np.zeros(rows, dtype=np.int64), tmp, "full")
        run_build(full, full=True, publish=False)
        assert inc.con.execute("SELECT count(*) FROM posts").fetchone()[0] > 1000
        # the stored state is compared too, and is not empty (ranked items' parts)
        assert "item_origin_parts" in DERIVED and table_rows(inc, "item_origin_parts")
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table
        # no index enforces these keys any more (schema 6): the stages' writes must
        assert_keys_unique(inc)
        assert_keys_unique(full)


def assert_keys_unique(store: Store) -> None:
    """Each table of UNINDEXED_KEYS holds at most one row per key, and no NULL key."""
    for table, key in UNINDEXED_KEYS.items():
        rows, keys, nulls = store.con.execute(
            f"SELECT count(*), count(DISTINCT {key}), count(*) - count({key}) FROM {table}"
        ).fetchone()
        assert (rows, nulls) == (keys, 0), (table, rows, keys, nulls)


def test_a_derived_key_written_twice_is_caught(tmp_path):
    """The uniqueness check fails on a duplicate key (it is not vacuous)."""
    with Store.open(":memory:") as store:
        assert_keys_unique(store)
        store.con.execute("INSERT INTO account_origin VALUES ('a', 0.5, 1, 1), ('a', 0.25, 2, 1)")
        with pytest.raises(AssertionError, match="account_origin"):
            assert_keys_unique(store)


def test_a_trickle_recomputes_only_its_accounts_and_items_and_equals_a_full_build(tmp_path):
    """A few new reposts after a big load: the accounts stage works on their accounts
    and items only (its counts say so), and every derived table equals a full build."""
    world = _world(3, str(tmp_path))
    posts = _posts(world)
    rows = posts.height
    cut = np.zeros(rows, dtype=np.int64)
    cut[-12:] = 1  # the last 12 lines: a trickle
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        results = _ingest_batches(inc, world, cut, tmp_path, "inc")
        first, trickle = (r.counts["accounts"] for r in results)
        assert first["full"] is True and trickle["full"] is False
        assert 0 < trickle["features_recomputed"] <= 24
        assert trickle["features_recomputed"] < first["features_recomputed"] // 4
        assert trickle["co_share_items_recomputed"] < first["co_share_items_recomputed"] // 4
        _ingest_batches(full, world, np.zeros(rows, dtype=np.int64), tmp_path, "full")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table

"""The Spark engine's accounts stage equals the DuckDB engine's, table by table.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports it, runs ``spark build`` and compares the account
features, the co-shares (shares, hits), the coordination pairs and clusters and the
account scores: exact for ids, counts, flags and texts (reasons, features JSON), 1e-9
for floats. The generated world plants coordinated rings and bots, so pairs, clusters
and bot-like accounts exist (checked: a comparison of empty tables proves nothing).
"""

from __future__ import annotations

import pytest

from spreadtrace.store import Store
from tests._spark_helpers import (
    ACCOUNT_TABLES,
    built_cases,
    parquet_rows,
    spark_session,
    store_rows,
    table_diff,
)


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    """(store, Spark output) of the bundled sample and of a generated world with media."""
    return built_cases(spark, tmp_path_factory, seed=43, posts=3_000)


@pytest.mark.parametrize("case", ["sample", "world"])
@pytest.mark.parametrize("table", sorted(ACCOUNT_TABLES))
def test_account_tables_equal(built, case, table):
    db, out = built[case]
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    assert table_diff(expected, parquet_rows(out, table), ACCOUNT_TABLES[table]) == [], table


def test_the_world_has_what_the_comparison_needs(built):
    db, _ = built["world"]
    with Store.open(db, read_only=True) as store:
        cur = store.con.cursor()
        (pairs,) = cur.execute("SELECT count(*) FROM coordination_pairs").fetchall()[0]
        (clustered,) = cur.execute("SELECT count(*) FROM coordination_clusters").fetchall()[0]
        (bots,) = cur.execute("SELECT count(*) FROM account_scores WHERE is_bot_like").fetchall()[0]
        kinds = {
            r[0]
            for r in cur.execute(
                "SELECT DISTINCT split_part(item, ':', 1) FROM coordination_shares"
            ).fetchall()
        }
        (no_posts,) = cur.execute("SELECT count(*) FROM account_scores WHERE posts = 0").fetchall()[
            0
        ]
    assert pairs > 0 and clustered > 0 and bots > 0
    assert {"p", "url", "media"} <= kinds
    assert no_posts > 0  # accounts scored from their profile alone


def test_scores_equal_in_small_account_buckets(built, spark):
    """Many applyInArrow calls (buckets of a few accounts, some without any behaviour
    or any profile rows) give the same scores as one."""
    from spreadtrace.spark import accounts as accounts_stage

    db, out = built["world"]
    canonical = out.parent / "canonical"
    tables = accounts_stage.run(
        spark,
        spark.read.parquet(str(canonical / "posts")),
        spark.read.parquet(str(canonical / "accounts")),
        spark.read.parquet(str(out / "post_items")),
        build_id=1,
        bucket_accounts=3,
    )
    got = tables.account_scores.drop("build_id").toArrow()
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, "account_scores")
    got = got.cast(expected.schema)
    assert table_diff(expected, got, ["account_id"]) == []


def test_attach_loads_the_accounts_stage_and_adopts_its_state(built, tmp_path):
    """After attach the accounts stage's tables equal the DuckDB build's, the DuckDB
    accounts stage did not run, and the stored state is recorded as a DuckDB build
    records it (same rules, models, parameters and span), so the next build is
    incremental from the engine's state rather than a full recomputation."""
    import shutil

    from spreadtrace.attach import attach_output
    from spreadtrace.graph.bots import load_model
    from spreadtrace.pipeline.accounts import AccountParams, state_key
    from spreadtrace.store import accounts_state

    db, out = built["world"]
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    meta = "SELECT key, value FROM meta WHERE key IN ('accounts_state', 'accounts_days')"
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in ACCOUNT_TABLES}
        expected_meta = sorted(store.con.cursor().execute(meta).fetchall())
    with Store.open(copy) as store:
        store.con.execute("DELETE FROM meta WHERE key IN ('accounts_state', 'accounts_days')")
        result = attach_output(store, out, publish=False)
        assert "accounts" not in result.duckdb_stages
        for table, keys in ACCOUNT_TABLES.items():
            assert table_diff(expected[table], store_rows(store, table), keys) == [], table
        assert sorted(store.con.cursor().execute(meta).fetchall()) == expected_meta
        # what the next build's accounts stage checks before reusing the state
        state = state_key(
            AccountParams(), load_model("bot_profile").version, load_model("bot_behaviour").version
        )
        with store.transaction() as con:
            assert accounts_state.prepare(con, state, reset=False) is False

"""The Spark engine's narrative grouping and amplification equal the DuckDB engine's.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports it, runs ``spark build`` and compares
post_narratives, cascade_scores and narratives (without the origin and correction
columns the rest of the stage fills on DuckDB after ``attach``): exact for ids, counts, labels and times. After attach,
every table of the narratives stage equals the DuckDB build's (the stage reran there).
"""

from __future__ import annotations

import shutil

import pytest

from spreadtrace.store import Store
from tests._spark_helpers import (
    GROUPING_TABLES,
    NARRATIVE_TABLES,
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
    return built_cases(spark, tmp_path_factory, seed=43, posts=2_000)


@pytest.mark.parametrize("case", ["sample", "world"])
@pytest.mark.parametrize("table", GROUPING_TABLES)
def test_grouping_tables_equal(built, case, table):
    db, out = built[case]
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    got = parquet_rows(out, table)
    if table == "narratives":
        from spreadtrace.graph.amplification import SCORE_COLUMNS
        from spreadtrace.spark.narratives import NARRATIVE_COLUMNS

        computed = [*NARRATIVE_COLUMNS, "origin_account_id", "origin_score", *SCORE_COLUMNS]
        # every score column is there, typed as the store's, and NULL until the DuckDB stage
        assert got.column_names == expected.column_names
        later = [c for c in got.column_names if c not in computed and c != "build_id"]
        assert later and all(got[c].null_count == got.num_rows for c in later)
        for c in later:
            assert got.schema.field(c).type == expected.schema.field(c).type or (
                str(expected.schema.field(c).type).startswith("timestamp")
            ), c
        expected, got = expected.select(computed), got.select(computed)
    assert expected.num_rows > 0
    assert table_diff(expected, got, NARRATIVE_TABLES[table]) == [], table


@pytest.mark.parametrize("case", ["sample", "world"])
def test_the_worlds_group_by_several_kinds(built, case):
    """The cases exercise the grouping's evidence: narratives of several kinds and posts
    joined through their root's evidence, not only whole cascades."""
    db, _ = built[case]
    with Store.open(db, read_only=True) as store:
        cur = store.con.cursor()
        kinds = {k for (k,) in cur.execute("SELECT DISTINCT kind FROM narratives").fetchall()}
        via = {v for (v,) in cur.execute("SELECT DISTINCT via FROM post_narratives").fetchall()}
    assert len(kinds) >= 2, kinds
    assert len(via - {"cascade"}) >= 2, via
    if case == "world":
        assert "media" in via, via


def test_attach_loads_the_grouping_and_reruns_the_narratives_stage(built, tmp_path):
    """With only the grouping from Spark, attach runs the whole narratives stage on
    DuckDB: every table of the stage equals the DuckDB build's, scores included."""
    from spreadtrace.attach import attach_output

    db, out = built["world"]
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in NARRATIVE_TABLES}
    with Store.open(copy) as store:
        result = attach_output(store, out, publish=False)
        assert "narratives" in result.duckdb_stages
        assert set(GROUPING_TABLES) <= set(result.rows)
        for table, keys in NARRATIVE_TABLES.items():
            assert expected[table].num_rows > 0, table
            assert table_diff(expected[table], store_rows(store, table), keys) == [], table


@pytest.mark.parametrize("case", ["sample", "world"])
def test_the_worlds_carry_flagged_shares_and_inferred_links(built, case):
    """The amplification comparison means something: some shares come from bot-like
    or coordinated accounts, and (in the generated world) inferred links make the
    reach bounds differ."""
    db, _ = built[case]
    with Store.open(db, read_only=True) as store:
        flagged, inferred, apart = (
            store.con.cursor()
            .execute(
                "SELECT count(*) FILTER (WHERE share_neither < 1), sum(inferred_edges), "
                "count(*) FILTER (WHERE reach_via_bots_high > reach_via_bots_low) "
                "FROM cascade_scores"
            )
            .fetchall()[0]
        )
    assert flagged > 0
    if case == "world":
        assert inferred > 0 and apart > 0, (inferred, apart)


def test_amplification_is_the_same_over_small_buckets(spark, built):
    """Buckets of 7 cascades (tens of UDF calls) give the rows of one bucket."""
    from spreadtrace.pipeline.narratives import NarrativeParams
    from spreadtrace.spark.narratives import amplification

    db, out = built["world"]
    canonical = out.parent / "canonical"
    for name, where in (
        ("posts", canonical),
        ("cascades", out),
        ("follows", canonical),
        ("post_cascades", out),
        ("post_narratives", out),
        ("post_items", out),
        ("items", out),
        ("account_scores", out),
        ("coordination_clusters", out),
    ):
        spark.read.parquet(str(where / name)).createOrReplaceTempView(name)
    per_cascade, per_narrative, _, _ = amplification(spark, NarrativeParams(), bucket_cascades=7)
    with Store.open(db, read_only=True) as store:
        cur = store.con.cursor()
        for got, table, key in (
            (per_cascade, "cascade_scores", "cascade_id"),
            (per_narrative, "narratives", "narrative_id"),
        ):
            arrow = got.toArrow()
            columns = ", ".join(arrow.column_names)
            expected = cur.sql(f"SELECT {columns} FROM {table}").to_arrow_table()
            assert table_diff(expected, arrow, [key]) == [], table

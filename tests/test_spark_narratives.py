"""The Spark engine's narratives stage equals the DuckDB engine's, every table of it.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports it, runs ``spark build`` and compares the seven
tables of the stage, the narratives' correction columns included: exact for ids,
counts, labels and times, 1e-9 for floats. The generated world carries fact-check
links (on the shipped list and on a user file's domain, given to both engines) and
Community Notes, so the corrections are not all zero. After attach of that output no
DuckDB stage runs and every table of the stage equals the DuckDB build's.
"""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadtrace.store import Store
from tests._spark_helpers import (
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
    """(store, Spark output) of the bundled sample and of a generated world with media,
    fact-check links and Community Notes."""
    return built_cases(spark, tmp_path_factory, seed=43, posts=2_000, corrections=True)


@pytest.mark.parametrize("case", ["sample", "world"])
@pytest.mark.parametrize("table", sorted(NARRATIVE_TABLES))
def test_narrative_tables_equal(built, case, table):
    db, out = built[case]
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    got = parquet_rows(out, table)
    assert expected.num_rows > 0
    assert table_diff(expected, got, NARRATIVE_TABLES[table]) == [], table


def test_the_world_has_corrections_and_notes(built):
    """The correction columns compared above are not trivial: fact-check posts (from
    the shipped list and the user file), correction narratives, claim accounts that
    met a correction, and Community Notes, some shown (rated helpful), some not."""
    db, out = built["world"]
    got = parquet_rows(out, "narratives").to_pylist()
    assert len({r["narrative_id"] for r in got}) == len(got)
    some = {
        "correction_posts": sum(r["correction_posts"] > 0 for r in got),
        "correction_delay_s": sum(r["correction_delay_s"] is not None for r in got),
        "claim_accounts_corrected": sum(r["claim_accounts_corrected"] > 0 for r in got),
        "is_correction": sum(bool(r["is_correction"]) for r in got),
        "notes": sum(r["notes"] > 0 for r in got),
        "first_note_shown_at": sum(r["first_note_shown_at"] is not None for r in got),
        "noted_not_shown": sum(r["notes"] > 0 and r["first_note_shown_at"] is None for r in got),
    }
    assert all(n > 0 for n in some.values()), some
    assert all(r["claim_posts"] is not None for r in got)  # filled for every narrative
    with Store.open(db, read_only=True) as store:
        desk = store.con.execute(
            "SELECT count(*) FROM narratives n JOIN post_narratives pn USING (narrative_id) "
            "JOIN posts p USING (post_id) "
            "WHERE list_contains(p.urls, 'https://desk.checkers.example/fact-check/' || p.post_id)"
        ).fetchall()[0][0]
    assert desk > 0  # the user file's domain counts, on both engines (compared above)


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


def test_attach_of_a_complete_output_runs_no_duckdb_stage(built, tmp_path):
    """Spark wrote every table of the narratives stage (corrections filled): attach
    loads them and runs no stage on DuckDB; the store equals the DuckDB build's."""
    from spreadtrace.attach import attach_output

    db, out = built["world"]
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in NARRATIVE_TABLES}
    with Store.open(copy) as store:
        result = attach_output(store, out, publish=False)
        assert result.duckdb_stages == []
        assert set(NARRATIVE_TABLES) <= set(result.rows)
        for table, keys in NARRATIVE_TABLES.items():
            assert expected[table].num_rows > 0, table
            assert table_diff(expected[table], store_rows(store, table), keys) == [], table


def test_attach_of_an_older_output_reruns_the_narratives_stage(built, tmp_path):
    """An output of an engine without narrative_origin_items (nor the corrections:
    they came together) still gets the whole narratives stage on DuckDB."""
    from spreadtrace.attach import attach_output
    from spreadtrace.pipeline.build import BuildParams
    from spreadtrace.pipeline.narratives import NarrativeParams

    db, out = built["world"]
    assert (db.parent / "desk.txt").is_file()
    older = tmp_path / "older"
    shutil.copytree(out, older)
    shutil.rmtree(older / "narrative_origin_items")
    manifest = next((older / "_spreadtrace_build").glob("*.parquet"))
    row = pq.read_table(manifest).to_pylist()[0]
    row["tables"] = json.dumps(
        [t for t in json.loads(row["tables"]) if t != "narrative_origin_items"]
    )
    pq.write_table(pa.Table.from_pylist([row]), manifest)
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in NARRATIVE_TABLES}
    with Store.open(copy) as store:
        store.con.execute("DELETE FROM narrative_origin_items")  # must come back from DuckDB
        # the DuckDB stage with the parameters the world was built with (its desk file)
        params = BuildParams(narratives=NarrativeParams(factcheck_file=str(db.parent / "desk.txt")))
        result = attach_output(store, older, params=params, publish=False)
        assert result.duckdb_stages == ["narratives"]
        for table, keys in NARRATIVE_TABLES.items():
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

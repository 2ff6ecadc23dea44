"""The engine switch end to end through the CLI: export-parquet -> spark build -> attach.

One local[2] Spark session for the module. A generated world (with planted media
copies, fact-check links and Community Notes) is built twice: by ``build`` (DuckDB) and
by ``spark build`` + ``attach`` (every derived table from Spark, no DuckDB stage), both
with the same user fact-check file; ``report`` must then write the same CSVs from both
stores.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from spreadtrace.cli import main
from spreadtrace.store import Store
from spreadtrace.store.parquet import CANONICAL_TABLES
from spreadtrace.synth import generate
from tests._spark_helpers import (
    ACCOUNT_TABLES,
    CASCADE_TABLES,
    DESK,
    MEDIA_TABLES,
    NARRATIVE_TABLES,
    plant_corrections,
    spark_session,
    store_rows,
    table_diff,
)
from tests.test_spark_media import plant_media


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


def _ok(runner, args: list[str]) -> str:
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def engines(spark, tmp_path_factory):
    """(DuckDB-built store, Spark-built + attached store, work dir) of one world."""
    from click.testing import CliRunner

    runner = CliRunner()
    work = tmp_path_factory.mktemp("engines")
    generate(work / "world", seed=21, posts=3_000)
    files = [str(p) for p in sorted((work / "world").glob("*.csv.gz"))]
    duck, sparked = work / "duck.duckdb", work / "spark.duckdb"
    for db in (duck, sparked):
        _ok(runner, ["--db", str(db), "ingest", "--quiet", *files])
        with Store.open(db) as store:  # the same planted media, links and notes in both
            plant_media(store, 21)
            plant_corrections(store, 21)
    desk = work / "desk.txt"
    desk.write_text(f"{DESK}\n", encoding="utf-8")
    _ok(runner, ["--db", str(duck), "build", "--quiet", "--factcheck-domains", str(desk)])
    _ok(runner, ["--db", str(sparked), "export-parquet", "--output", str(work / "canonical")])
    for table in CANONICAL_TABLES:
        assert list((work / "canonical" / table).glob("*.parquet")), table
    args = ["--input", str(work / "canonical"), "--output", str(work / "derived")]
    out = _ok(runner, ["spark", "build", *args, "--factcheck-domains", str(desk)])
    assert "post_cascades" in out and "narrative_origin_items" in out
    attached = json.loads(
        _ok(runner, ["--db", str(sparked), "attach", "--json", str(work / "derived")])
    )
    assert attached["duckdb_stages"] == []  # every derived table came from Spark
    return duck, sparked, work


def test_attached_store_holds_the_duckdb_engines_cascade_media_and_account_tables(engines):
    duck, sparked, _ = engines
    with Store.open(duck, read_only=True) as a, Store.open(sparked, read_only=True) as b:
        for table, keys in CASCADE_TABLES.items():
            assert table_diff(store_rows(a, table), store_rows(b, table), keys) == [], table
        for table, keys in MEDIA_TABLES.items():  # from Spark too, shares filled after
            assert table_diff(store_rows(a, table), store_rows(b, table), keys) == [], table
        for table, keys in ACCOUNT_TABLES.items():  # from Spark, the DuckDB stage skipped
            assert table_diff(store_rows(a, table), store_rows(b, table), keys) == [], table
        for table, keys in NARRATIVE_TABLES.items():  # likewise, corrections included
            assert table_diff(store_rows(a, table), store_rows(b, table), keys) == [], table
        (corrected,) = (
            a.con.cursor()
            .execute("SELECT count(*) FROM narratives WHERE correction_posts > 0 AND notes > 0")
            .fetchall()[0]
        )
        (mode,) = b.con.cursor().execute("SELECT mode FROM builds").fetchall()[0]
    assert corrected > 0  # the reports below carry non-trivial correction columns
    assert mode == "attach"


def test_an_export_without_community_notes_still_builds(spark, engines, tmp_path):
    """An export made before the Community Notes directories: no notes, the rest the
    same. The world's notes are dropped, so its narratives have none on Spark."""
    from spreadtrace.spark.build import run_spark_build

    _, _, work = engines
    older = tmp_path / "canonical"
    shutil.copytree(work / "canonical", older)
    for table in ("community_notes", "community_note_status"):
        assert list((older / table).glob("*.parquet")), table
        shutil.rmtree(older / table)
    run_spark_build(spark, str(older), str(tmp_path / "derived"))
    got = pq.read_table(tmp_path / "derived" / "narratives").to_pylist()
    with_notes = pq.read_table(work / "derived" / "narratives").to_pylist()
    assert got and all(r["notes"] == 0 and r["first_note_shown_at"] is None for r in got)
    assert any(r["notes"] > 0 for r in with_notes)
    assert {r["narrative_id"] for r in got} == {r["narrative_id"] for r in with_notes}


def test_report_after_attach_equals_report_after_build(engines):
    from click.testing import CliRunner

    duck, sparked, work = engines
    runner = CliRunner()
    for db, name in ((duck, "r_duck"), (sparked, "r_spark")):
        _ok(runner, ["--db", str(db), "report", "--quiet", "--out", str(work / name)])
    a, b = work / "r_duck" / "latest", work / "r_spark" / "latest"
    names = sorted(p.name for p in a.glob("*.csv"))
    assert "cascades.csv" in names and names == sorted(p.name for p in b.glob("*.csv"))
    for name in names:
        assert (a / name).read_text() == (b / name).read_text(), name


def test_attach_refuses_an_output_of_other_posts(engines, tmp_path):
    from click.testing import CliRunner

    _, _, work = engines
    runner = CliRunner()
    other = tmp_path / "other.duckdb"
    generate(tmp_path / "w", seed=22, posts=300)
    _ok(runner, ["--db", str(other), "ingest", "--quiet", *map(str, (tmp_path / "w").glob("*.gz"))])
    result = runner.invoke(main, ["--db", str(other), "attach", str(work / "derived")])
    assert result.exit_code == 1
    assert "was built from other posts than this store's" in result.output
    assert "Traceback" not in result.output
    with Store.open(other, read_only=True) as store:  # nothing half-loaded
        assert store.con.cursor().execute("SELECT count(*) FROM post_cascades").fetchall() == [(0,)]


def test_attach_refuses_an_output_that_repeats_a_key(engines, tmp_path):
    """No index refuses a repeated key in the derived tables any more (schema 6), so
    attach checks: an engine output whose items hold one item twice is refused in one
    line, and nothing is half-loaded."""
    from click.testing import CliRunner

    duck, _, work = engines
    derived = tmp_path / "derived"
    shutil.copytree(work / "derived", derived)
    part = sorted((derived / "items").glob("*.parquet"))[0]
    shutil.copy(part, part.with_name("repeated-" + part.name))
    db = tmp_path / "s.duckdb"
    shutil.copy(duck, db)
    with Store.open(db, read_only=True) as store:
        before = store.con.cursor().execute("SELECT max(build_id) FROM builds").fetchall()
    result = CliRunner().invoke(main, ["--db", str(db), "attach", str(derived)])
    assert result.exit_code == 1, result.output
    assert "repeated item_id(s)" in result.output and "Traceback" not in result.output
    with Store.open(db, read_only=True) as store:
        cur = store.con.cursor()
        assert cur.execute("SELECT max(build_id) FROM builds").fetchall() == before
        assert cur.execute("SELECT count(*) - count(DISTINCT item_id) FROM items").fetchall() == [
            (0,)
        ]


def test_attach_refuses_a_directory_that_is_no_engine_output(tmp_path, runner):
    result = runner.invoke(main, ["--db", str(tmp_path / "s.duckdb"), "attach", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not a spreadtrace engine output" in result.output


def test_spark_build_on_a_missing_input_is_one_line(spark, tmp_path, runner):
    result = runner.invoke(
        main, ["spark", "build", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert "cannot read" in result.output and len(result.output.strip().splitlines()) == 1

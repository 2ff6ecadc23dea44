"""The engine switch end to end through the CLI: export-parquet -> spark build -> attach.

One local[2] Spark session for the module. A generated world (with planted media
copies) is built twice: by ``build`` (DuckDB) and by ``spark build`` + ``attach``
(cascades, media, items and accounts from Spark, narratives on DuckDB); ``report`` must
then write the same CSVs from both stores.
"""

from __future__ import annotations

import pytest

from spreadtrace.cli import main
from spreadtrace.store import Store
from spreadtrace.synth import generate
from tests._spark_helpers import (
    ACCOUNT_TABLES,
    CASCADE_TABLES,
    MEDIA_TABLES,
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
        with Store.open(db) as store:  # the same planted media copies in both stores
            plant_media(store, 21)
    _ok(runner, ["--db", str(duck), "build", "--quiet"])
    _ok(runner, ["--db", str(sparked), "export-parquet", "--output", str(work / "canonical")])
    for table in ("posts", "accounts", "follows", "media"):
        assert list((work / "canonical" / table).glob("*.parquet")), table
    out = _ok(
        runner,
        ["spark", "build", "--input", str(work / "canonical"), "--output", str(work / "derived")],
    )
    assert "post_cascades" in out and "media_groups" in out
    _ok(runner, ["--db", str(sparked), "attach", str(work / "derived")])
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
        (mode,) = b.con.cursor().execute("SELECT mode FROM builds").fetchall()[0]
    assert mode == "attach"


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

"""The Spark engine's items stage equals the DuckDB engine's, table by table.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports it, runs ``spark build`` and compares url_keys,
post_items and items: exact for ids, counts and strings. items' bot and coordinated
shares come from the accounts stage (DuckDB, after ``attach``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadtrace.store import Store
from tests._spark_helpers import (
    ITEM_TABLES,
    built_cases,
    parquet_rows,
    spark_session,
    store_rows,
    table_diff,
)

_LATER = ["bot_share", "coordinated_share"]


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


def _diff(db: Path, out: Path, table: str) -> list[str]:
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    got = parquet_rows(out, table)
    if table == "items":
        expected, got = expected.drop(_LATER), got.drop(_LATER)
    return table_diff(expected, got, ITEM_TABLES[table])


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    """(store, Spark output) of the bundled sample and of a generated world with media."""
    return built_cases(spark, tmp_path_factory, seed=41, posts=2_000)


@pytest.mark.parametrize("case", ["sample", "world"])
@pytest.mark.parametrize("table", sorted(ITEM_TABLES))
def test_item_tables_equal(built, case, table):
    db, out = built[case]
    assert _diff(db, out, table) == [], table


@pytest.mark.parametrize("case", ["sample", "world"])
def test_the_worlds_carry_every_item_kind(built, case):
    db, _ = built[case]
    with Store.open(db, read_only=True) as store:
        kinds = dict(
            store.con.cursor()
            .execute("SELECT kind, count(*) FROM items WHERE posts > 1 GROUP BY kind")
            .fetchall()
        )
    expected = {"url", "hashtag", "text"} | ({"media"} if case == "world" else set())
    assert expected <= set(kinds), kinds


def test_attach_loads_the_items_and_skips_the_duckdb_items_stage(built, tmp_path):
    """After attach, items (with the shares filled afterwards on DuckDB), post_items and
    url_keys equal the DuckDB build's; the stored text state, which describes no
    attached item, is emptied so that the next build recomputes it whole."""
    import shutil

    from spreadtrace.attach import attach_output

    db, out = built["world"]
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in ITEM_TABLES}
        assert store.con.cursor().execute("SELECT count(*) FROM text_norms").fetchall()[0][0]
    with Store.open(copy) as store:
        result = attach_output(store, out, publish=False)
        assert "items" not in result.duckdb_stages and "media" not in result.duckdb_stages
        for table, keys in ITEM_TABLES.items():
            assert table_diff(expected[table], store_rows(store, table), keys) == [], table
        cur = store.con.cursor()
        assert cur.execute("SELECT count(*) FROM text_norms").fetchall() == [(0,)]
        assert cur.execute("SELECT count(*) FROM meta WHERE key = 'text_state'").fetchall() == [
            (0,)
        ]

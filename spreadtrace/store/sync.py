"""Write a derived table as the difference from what is stored: only changed rows.

Why: a stage that recomputes a table and replaces it deletes and re-inserts every row,
and the commit then writes all of them (at 100k posts the build's commit alone took a
third of a 1% incremental build). :func:`sync_table` compares the freshly computed
rows (a staged temp table) with the stored ones, set-wise in DuckDB, and deletes and
inserts only the rows that differ: the table ends up exactly as a replacement would
leave it (build_id aside: an unchanged row keeps the build that wrote it, as the
cascades do), and the commit's cost follows the change.
"""

from __future__ import annotations

from typing import Any

import duckdb

__all__ = ["SYNC_KEYS", "stage_table", "sync_rows", "sync_table"]

# the derived tables written through a staging table, with their row keys
SYNC_KEYS: dict[str, tuple[str, ...]] = {
    "post_narratives": ("post_id", "narrative_id"),
    "narratives": ("narrative_id",),
    "origin_scores": ("narrative_id", "account_id"),
    "account_origin": ("account_id",),
    "cascade_scores": ("cascade_id",),
    "items": ("item_id",),
    "post_items": ("post_id", "item_id"),
}


def _staged(table: str) -> str:
    if table not in SYNC_KEYS:
        raise ValueError(f"not a synced table: {table}")
    return f"_sync_{table}"


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' AND column_name <> 'build_id' "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def stage_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """Create an empty temp copy of ``table`` (same columns) and return its name.

    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE items (item_id VARCHAR, posts INT, build_id BIGINT)")
    >>> stage_table(con, "items")
    '_sync_items'
    """
    name = _staged(table)
    con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM main.{table} LIMIT 0")  # noqa: S608
    return name


def sync_table(con: duckdb.DuckDBPyConnection, table: str, build_id: int) -> dict[str, int]:
    """Make ``table`` equal to its staged rows (see :func:`stage_table`), writing only
    the difference; drop the staging table. Returns rows deleted and inserted.

    A stored row whose values differ from its staged row (same key) is deleted and the
    staged one inserted with ``build_id``; rows only stored are deleted, rows only
    staged inserted. Columns compare as sets do (NULL equals NULL).

    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE items (item_id VARCHAR, posts INT, build_id BIGINT)")
    >>> _ = con.execute("INSERT INTO items VALUES ('a', 1, 1), ('b', 2, 1), ('c', 3, 1)")
    >>> _ = stage_table(con, "items")
    >>> _ = con.execute("INSERT INTO _sync_items VALUES ('a', 1, 0), ('b', 5, 0), ('d', 4, 0)")
    >>> sync_table(con, "items", 2)
    {'deleted': 2, 'inserted': 2}
    >>> con.execute("SELECT * FROM items ORDER BY item_id").fetchall()
    [('a', 1, 1), ('b', 5, 2), ('d', 4, 2)]
    """
    name = _staged(table)
    try:
        return _write_difference(con, table, name, build_id)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def sync_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    build_id: int,
    select_sql: str,
    params: list[Any] | dict[str, Any] | None = None,
) -> dict[str, int]:
    """Make ``table`` equal to the rows of ``select_sql``, writing only the difference.

    ``select_sql`` returns the table's columns except ``build_id`` (by name). Why not
    a staging temp table: the build is one transaction, and DuckDB keeps a temp table
    dropped inside a transaction until it commits, so every stage's staged copies
    would add up to the build's peak. The rows are fetched as Arrow instead, which is
    freed as soon as the write is done.

    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE items (item_id VARCHAR, posts INT, build_id BIGINT)")
    >>> _ = con.execute("INSERT INTO items VALUES ('a', 1, 1), ('b', 2, 1)")
    >>> sync_rows(con, "items", 2, "SELECT * FROM (VALUES ('a', 1), ('c', 3)) v(item_id, posts)")
    {'deleted': 1, 'inserted': 1}
    >>> con.execute("SELECT * FROM items ORDER BY item_id").fetchall()
    [('a', 1, 1), ('c', 3, 2)]
    """
    _staged(table)  # a synced table, or ValueError
    rows = con.sql(select_sql, params=params).to_arrow_table()
    con.register(_ROWS_VIEW, rows)
    try:
        return _write_difference(con, table, _ROWS_VIEW, build_id)
    finally:
        con.unregister(_ROWS_VIEW)
        del rows


_ROWS_VIEW = "_sync_rows"


def _write_difference(
    con: duckdb.DuckDBPyConnection, table: str, source: str, build_id: int
) -> dict[str, int]:
    """Delete the stored rows that ``source`` lacks or changed; insert its new rows.

    No work tables: the differences are subqueries of the DELETE and the INSERT
    (after the delete, every stored row is in ``source``, so ``source`` EXCEPT ALL
    the stored rows is exactly what to insert).
    """
    cols = ", ".join(f'"{c}"' for c in _columns(con, table))
    on = " AND ".join(f't."{k}" = g."{k}"' for k in SYNC_KEYS[table])
    keys = ", ".join(f'"{k}"' for k in SYNC_KEYS[table])
    # identifiers from SYNC_KEYS, the catalog and this module, never from input
    deleted = con.execute(
        f"""
        DELETE FROM main.{table} t USING (
            SELECT DISTINCT {keys} FROM (
                SELECT {cols} FROM main.{table} EXCEPT ALL SELECT {cols} FROM {source})
        ) g WHERE {on}
        """  # noqa: S608
    ).fetchall()[0][0]
    inserted = con.execute(
        f"""
        INSERT INTO main.{table} ({cols}, build_id)
        SELECT {cols}, ? FROM (
            SELECT {cols} FROM {source} EXCEPT ALL SELECT {cols} FROM main.{table})
        """,  # noqa: S608
        [build_id],
    ).fetchall()[0][0]
    return {"deleted": int(deleted), "inserted": int(inserted)}

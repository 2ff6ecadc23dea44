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

__all__ = [
    "LOGGED_TABLES",
    "SYNC_KEYS",
    "arrow_execute",
    "log_row_changes",
    "stage_table",
    "sync_rows",
    "sync_table",
]

# the derived tables written through a staging table, with their row keys
SYNC_KEYS: dict[str, tuple[str, ...]] = {
    "post_narratives": ("post_id", "narrative_id"),
    "narratives": ("narrative_id",),
    "origin_scores": ("narrative_id", "account_id"),
    "account_origin": ("account_id",),
    "cascade_scores": ("cascade_id",),
    "items": ("item_id",),
    "post_items": ("post_id", "item_id"),
    "coordination_pairs": ("account_a", "account_b"),
    "coordination_clusters": ("cluster_id", "account_id"),
    "account_scores": ("account_id",),
    "narrative_origin_items": ("narrative_id",),
    "item_origin_scores": ("item_id", "account_id"),
}


# the tables whose deleted and inserted keys an incremental build logs in row_changes:
# those the report files are keyed by or join one row per key of (a deleted row carries
# no build id, so without the log a changes set could not see it go)
LOGGED_TABLES: frozenset[str] = frozenset(
    {
        "cascades",
        "cascade_scores",
        "narratives",
        "items",
        "item_origin_scores",
        "account_scores",
        "account_origin",
        "coordination_clusters",
    }
)


def log_row_changes(
    con: duckdb.DuckDBPyConnection, table: str, build_id: int, keys_sql: str, arrow: Any = None
) -> None:
    """Record in ``row_changes`` the keys ``keys_sql`` selects (``key1``, ``key2``,
    ``existed``, ``present``), when ``table`` is logged and the build is incremental.

    Why: the report's changes sets find changed rows by build id, but a deleted row
    keeps none; this log, written in the build's transaction, is how they see it. A
    full build logs nothing (and empties the log: :func:`spreadtrace.store.builds.finish_build`).
    ``keys_sql`` is fixed SQL of this package (it may read ``_arrow``), never input.

    Only inserted and deleted keys are kept (``existed <> present``): an updated row
    keeps its key and takes the build id, so the reports find it by that id, and a key
    without a log row is read as existing whenever it is present. Logging updates too
    would grow the log by every rescored row of every run: on a real-shaped store each
    1% run rescored all 835,905 accounts (bench/RESULTS.md, session close).
    """
    if table not in LOGGED_TABLES:
        return
    store_tables = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND table_name IN ('builds', 'row_changes')"
    ).fetchall()[0][0]
    if store_tables < 2:  # a bare connection (doctests, tools), not a store
        return
    mode = con.execute("SELECT mode FROM builds WHERE build_id = ?", [build_id]).fetchall()
    if not mode or mode[0][0] != "incremental":
        return
    _arrow = arrow  # noqa: F841 -- read by keys_sql through DuckDB's replacement scan
    con.execute(
        "INSERT INTO row_changes (build_id, table_name, key1, key2, existed, present) "  # noqa: S608
        f"SELECT ?, ?, key1, key2, existed, present FROM ({keys_sql}) WHERE existed <> present",
        [build_id, table],
    )


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


def sync_table(
    con: duckdb.DuckDBPyConnection, table: str, build_id: int, *, where: str | None = None
) -> dict[str, int]:
    """Make ``table`` equal to its staged rows (see :func:`stage_table`), writing only
    the difference; drop the staging table. Returns rows deleted and inserted.

    ``where``: a fixed SQL condition on the table's columns (never data: bind
    nothing into it) that limits the sync to the rows it holds, stored and staged
    alike; the other stored rows stay as they are (an incremental stage recomputes
    only the rows of what changed).

    A stored row whose values differ from its staged row (same key) is replaced by the
    staged values with ``build_id``; rows only stored are deleted, rows only staged
    inserted. Columns compare as sets do (NULL equals NULL).

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
        return _write_difference(
            con,
            table,
            f"SELECT * FROM {name}",  # noqa: S608
            None,
            build_id,
            None,
            where,
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def sync_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    build_id: int,
    select_sql: str,
    params: list[Any] | dict[str, Any] | None = None,
    *,
    arrow: Any = None,
    where: str | None = None,
    partial: bool = False,
    keys: tuple[str, ...] | None = None,
    written: list[Any] | None = None,
) -> dict[str, int]:
    """Make ``table`` equal to the rows of ``select_sql``, writing only the difference.

    ``arrow``: an Arrow table (or polars frame) ``select_sql`` reads as ``_arrow``
    (see :func:`arrow_execute` for why not a registered view). ``where``: as for
    :func:`sync_table`, the rows the sync is limited to. ``partial``: the source holds
    only some keys' rows; stored rows of other keys are kept as they are. ``keys``:
    the row key of a table outside :data:`SYNC_KEYS` (the cascades stage's tables,
    which are written whole by a full build and only by difference otherwise).
    ``written``: a list that receives the keys of the rows written (deleted, changed or
    inserted) as one Arrow table, a column per key (an incremental caller scopes its
    next step to them, e.g. the items whose post_items rows changed).

    ``select_sql`` returns the table's columns except ``build_id`` (by name). Why not
    a staging temp table: the build is one transaction, and DuckDB keeps a temp table
    dropped inside a transaction until it commits, so every stage's staged copies
    would add up to the build's peak. The query runs inside the comparison instead,
    and only the difference is held (in a temp table, which DuckDB spills to disk past
    its memory limit: Python never holds it).

    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE items (item_id VARCHAR, posts INT, build_id BIGINT)")
    >>> _ = con.execute("INSERT INTO items VALUES ('a', 1, 1), ('b', 2, 1), ('c', 3, 1)")
    >>> sql = "SELECT * FROM (VALUES ('a', 1), ('b', 5), ('d', 4)) v(item_id, posts)"
    >>> sync_rows(con, "items", 2, sql)
    {'deleted': 2, 'inserted': 2}
    >>> con.execute("SELECT * FROM items ORDER BY item_id").fetchall()
    [('a', 1, 1), ('b', 5, 2), ('d', 4, 2)]
    """
    if keys is None:
        _staged(table)  # a synced table, or ValueError
    return _write_difference(
        con, table, select_sql, params, build_id, arrow, where, partial, keys, written
    )


def _write_difference(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source_sql: str,
    params: list[Any] | dict[str, Any] | None,
    build_id: int,
    arrow: Any,
    where: str | None = None,
    partial: bool = False,
    row_keys: tuple[str, ...] | None = None,
    written: list[Any] | None = None,
) -> dict[str, int]:
    """Delete the stored rows that the source lacks, replace those it changed, insert
    its new rows.

    ``where`` limits both sides to the rows it holds.

    One full outer join on the key finds all three (a row differs when any column is
    distinct, NULL equal to NULL); only those rows are kept, in a temp table DuckDB
    spills past its memory limit, and written.
    """
    names = _columns(con, table)
    keys = row_keys or SYNC_KEYS[table]
    cols = ", ".join(f'"{c}"' for c in names)
    on = " AND ".join(f't."{k}" = s."{k}"' for k in keys)
    changed = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in names)
    _arrow = arrow  # noqa: F841 -- the source's ``_arrow``, read by DuckDB's replacement scan
    only = f"WHERE {where}" if where else ""
    stored = f"main.{table}"
    if partial:  # only the stored rows of the source's keys take part
        using = ", ".join(f'"{k}"' for k in keys)
        stored += f" SEMI JOIN src USING ({using})"
    # identifiers from SYNC_KEYS, the catalog and this module, never from input
    # the difference goes to a temp table, not to Python: DuckDB spills it past its
    # memory limit, where a fetched result is held whole (a full build's difference is
    # the whole table: the write of a 1M store's items ran out of memory at 120 MB
    # fetching it, and the Arrow copy sat beside the forest at 5M)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_DIFF} AS
        WITH src AS ({source_sql})
        SELECT {", ".join(f't."{k}" AS "_old_{k}"' for k in keys)},
               {", ".join(f's."{c}"' for c in names)},
               t._in IS NOT NULL AS _gone, s._in IS NOT NULL AS _new
        FROM (SELECT {cols}, true AS _in FROM {stored} {only}) t
        FULL JOIN (SELECT {cols}, true AS _in FROM src {only}) s ON {on}
        WHERE t._in IS NULL OR s._in IS NULL OR ({changed})
        """,  # noqa: S608
        params,
    )
    try:
        return _apply_difference(con, table, build_id, names, keys, written)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_DIFF}")


# the temp table holding one sync's difference (dropped after the sync)
_DIFF = "_sync_diff"


def _apply_difference(
    con: duckdb.DuckDBPyConnection,
    table: str,
    build_id: int,
    names: list[str],
    keys: tuple[str, ...],
    written: list[Any] | None,
) -> dict[str, int]:
    """Write the difference held in :data:`_DIFF` to ``table``; return the counts."""
    cols = ", ".join(f'"{c}"' for c in names)
    if written is not None:  # a written row's key: its old key, or its new one when new
        written.append(
            con.sql(
                "SELECT "  # noqa: S608 -- keys from SYNC_KEYS or the caller's fixed tuple
                + ", ".join(f'coalesce("_old_{k}", "{k}") AS "{k}"' for k in keys)
                + f" FROM {_DIFF}"
            ).to_arrow_table()
        )
    (n_diff,) = con.execute(f"SELECT count(*) FROM {_DIFF}").fetchall()[0]  # noqa: S608
    if n_diff == 0:
        return {"deleted": 0, "inserted": 0}
    k1 = keys[0]
    k2 = f'CAST(coalesce("_old_{keys[1]}", "{keys[1]}") AS VARCHAR)' if len(keys) > 1 else "NULL"
    log_row_changes(
        con,
        table,
        build_id,
        f'SELECT CAST(coalesce("_old_{k1}", "{k1}") AS VARCHAR) AS key1, {k2} AS key2, '  # noqa: S608
        f"_gone AS existed, _new AS present FROM {_DIFF}",
    )
    old_key = " AND ".join(f'main.{table}."{k}" = g."_old_{k}"' for k in keys)
    old_cols = ", ".join(f'"_old_{k}"' for k in keys)  # the delete's hash table: keys only
    # a changed row is deleted and inserted again, not updated in place: an UPDATE makes
    # the commit's checkpoint rewrite the updated columns of every row group holding a
    # changed row, and a batch's changed rows are spread over the whole table, so the
    # checkpoint followed the store's size; deleted rows are only marked, and inserted
    # ones go to new row groups (DuckDB merges row groups thinned by deletes at a
    # checkpoint). Measured at 1M posts, six successive 1% builds: the build's CPU 78.2 ->
    # 69.8 s, its commit 1.68 -> 1.10 s a build (bench/RESULTS.md). No derived table has
    # an index (schema.UNINDEXED_KEYS), which made a delete + insert of a key cost ~100x.
    deleted = con.execute(
        f"DELETE FROM main.{table} USING (SELECT {old_cols} FROM {_DIFF} WHERE _gone) g "  # noqa: S608
        f"WHERE {old_key}"
    ).fetchall()[0][0]
    inserted = con.execute(
        f"INSERT INTO main.{table} ({cols}, build_id) "  # noqa: S608
        f"SELECT {cols}, ? FROM {_DIFF} WHERE _new",
        [build_id],
    ).fetchall()[0][0]
    # a changed row counts as one row deleted and one inserted
    return {"deleted": int(deleted), "inserted": int(inserted)}


def arrow_execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    table: Any,
    params: list[Any] | dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql``, which reads ``table`` (Arrow, or a polars frame) as ``_arrow``.

    Why not ``con.register``: a registered view dropped inside a transaction stays in
    the catalog, holding its Arrow data, until the commit (checked: three 20M-row
    tables registered and unregistered in one transaction all stay alive), and a
    build is one transaction, so every difference written would stay in memory to
    the build's end. DuckDB's replacement scan reads the local variable ``_arrow``
    for this statement only (the caller fetches its result).

    >>> import pyarrow as pa
    >>> con = duckdb.connect()
    >>> arrow_execute(con, "SELECT sum(x) FROM _arrow", pa.table({"x": [1, 2]})).fetchall()
    [(3,)]
    """
    _arrow = table  # noqa: F841 -- read by the statement through DuckDB's replacement scan
    return con.execute(sql, params)

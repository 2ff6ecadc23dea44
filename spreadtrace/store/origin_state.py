"""SQL of the item origins' stored state: what lets a build re-rank an item without the
trees of all its cascades.

Why: an item's origin ranking reads the depth, reach and rumor centrality of every post
spreading it, and those come from whole cascade trees; a topic hashtag is on tens of
thousands of cascades, so re-ranking it after a 1% build loaded ~10x the cascades the
build touched (94.8k of 102k forest cascades at 1M posts, issue 12). The ranking needs
only per-(item, cascade, account) parts (:func:`spreadtrace.graph.origin.origin_parts`),
and a cascade's parts change only when the cascade is rebuilt or its posts' items
change. The state kept here:

- ``item_origin_parts``: the parts of every ranked item (posted by ``item_min_accounts``
  accounts or more) in every cascade holding a post that spreads it.

A full build writes it whole (:func:`begin_all`, :func:`insert`, :func:`record`). An
incremental build loads the forest for its affected cascades, the cascades whose
posts' item rows it wrote and those of the items ranked for the first time
(``_sn_scope``, :func:`spreadtrace.store.narratives.write_narratives`), recomputes
those cascades' parts and swaps them in (:func:`replace_scope`): the items whose parts
differ join the affected items (``_sn_aff_i``), which are re-ranked from their stored
parts (:func:`affected_parts`). The state is valid only after the build recorded in
``meta`` (:func:`usable`): an erasure, a Spark build or other parameters start it afresh.
"""

from __future__ import annotations

import duckdb
import polars as pl

from spreadtrace.store.sync import arrow_execute

__all__ = [
    "affected_parts",
    "begin_all",
    "drop_work_tables",
    "forget_all",
    "insert",
    "record",
    "replace_scope",
    "usable",
]

_META_KEY = "item_origin_parts"
_WORK_TABLES = ("_os_cas", "_os_old", "_os_new", "_os_gone")


def usable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the stored parts are the last finished build's."""
    con.complete()
    row = con.execute(
        """
        SELECT (SELECT value FROM meta WHERE key = ?) =
               (SELECT max(build_id)::VARCHAR FROM builds WHERE finished_at IS NOT NULL)
        """,
        [_META_KEY],
    ).fetchall()[0]
    return bool(row[0])


def forget_all(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the state (an erasure: the parts name accounts and cascades)."""
    con.execute("DELETE FROM item_origin_parts")
    con.execute("DELETE FROM meta WHERE key = ?", [_META_KEY])


def begin_all(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the parts before a full build inserts every item's (:func:`insert`)."""
    con.execute("DELETE FROM item_origin_parts")


def insert(con: duckdb.DuckDBPyConnection, parts: pl.DataFrame) -> None:
    """Append ``parts`` (the table's columns, by name) to the stored parts."""
    arrow_execute(
        con, "INSERT INTO item_origin_parts BY NAME SELECT * FROM _arrow", parts
    ).fetchall()


def record(con: duckdb.DuckDBPyConnection, build_id: int) -> None:
    """Mark the stored parts as this build's (see :func:`usable`)."""
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_META_KEY, str(int(build_id))])


def replace_scope(
    con: duckdb.DuckDBPyConnection, build_id: int, parts: pl.DataFrame, *, min_accounts: int
) -> int:
    """Swap in ``parts``, every ranked item's parts in the forest's cascades (``_sn_scope``);
    add the items whose parts changed to ``_sn_aff_i``; return their count.

    Replaced: the rows of the forest's cascades and of the cascades that vanished
    (``_sn_touched``), and every row of an item no longer ranked (fewer than
    ``min_accounts`` accounts now, or gone). Outside the forest a cascade was not
    rebuilt and its posts' items did not change, so its rows stand.
    """
    con.complete()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _os_cas AS
        SELECT cascade_id FROM _sn_scope UNION SELECT cascade_id FROM _sn_touched
        """
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _os_old AS "
        "SELECT * FROM item_origin_parts SEMI JOIN _os_cas USING (cascade_id)"
    )
    # the table's columns and types, in its order: compared with _os_old row for row
    con.execute("CREATE OR REPLACE TEMP TABLE _os_new AS FROM item_origin_parts LIMIT 0")
    arrow_execute(con, "INSERT INTO _os_new BY NAME SELECT * FROM _arrow", parts).fetchall()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _os_gone AS
        SELECT DISTINCT item_id FROM item_origin_parts
        ANTI JOIN (SELECT item_id FROM items WHERE accounts >= $m) r USING (item_id)
        """,
        {"m": int(min_accounts)},
    )
    changed = con.sql(
        """
        SELECT DISTINCT item_id FROM (
            SELECT item_id FROM (FROM _os_old EXCEPT ALL FROM _os_new)
            UNION ALL
            SELECT item_id FROM (FROM _os_new EXCEPT ALL FROM _os_old)
            UNION ALL
            SELECT item_id FROM _os_gone
        )
        """
    ).to_arrow_table()
    arrow_execute(
        con,
        "INSERT INTO _sn_aff_i SELECT item_id FROM _arrow ANTI JOIN _sn_aff_i USING (item_id)",
        changed,
    ).fetchall()
    con.execute(
        """
        DELETE FROM item_origin_parts
        WHERE cascade_id IN (SELECT cascade_id FROM _os_cas)
           OR item_id IN (SELECT item_id FROM _os_gone)
        """
    )
    con.execute("INSERT INTO item_origin_parts FROM _os_new")
    record(con, build_id)
    drop_work_tables(con)
    return changed.num_rows


def affected_parts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stored parts of the affected items (``_sn_aff_i``), for their re-ranking."""
    con.complete()
    return con.sql("FROM item_origin_parts SEMI JOIN _sn_aff_i USING (item_id)").pl()


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the ``_os_*`` work tables."""
    con.complete()
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")

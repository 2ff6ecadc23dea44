"""SQL of the narratives grouping's stored state: what lets a build regroup only the
roots a change can reach.

Why: grouping every cascade root on every build cost 6-10 s at 1M posts whatever the
change. A root's narrative depends only on the roots it shares evidence with: an
article, a shortened link, a text group, or a hashtag or media group under its cap
(:func:`spreadtrace.graph.narratives.group_narratives`), so a set of roots closed
under those keys groups exactly as inside the whole store. The state kept here:

- ``narrative_keys``: (cascade_id, key) for every key each cascade's content root
  carries (hashtags and media groups before their caps, so their counts are known);
- ``narrative_map``: one row per cascade, its narrative and via (NULL outside one).

An incremental build (:func:`mark_seeds`, :func:`close_scope`) takes as seeds the
cascades the cascades stage rebuilt and those holding a post whose items changed,
replaces their keys, and regroups the closure of the seeds: every root sharing a
linking key with one in it (a seed's hashtag or media group also when it links
before or after the change), and every cascade of an old narrative of one in it.
Outside the closure no root shares a linking key with a changed root, before or
after, so its group is unchanged. Work tables are ``_ng_*`` temp tables. The state is
valid only after the build recorded in ``meta`` (:func:`usable`): an erasure, a Spark
build or other parameters start it afresh.
"""

from __future__ import annotations

import duckdb
import polars as pl

from spreadtrace.store.narratives import (
    OLD_NARRATIVES,
    REGROUPED_TABLE,
    ROOT_MEDIA_SQL,
    ROOTS_SQL,
    ROOTS_WITH_TEXT_SQL,
)
from spreadtrace.store.sync import arrow_execute

__all__ = [
    "OLD_NARRATIVES",
    "SCOPE_TABLE",
    "close_scope",
    "drop_work_tables",
    "forget_all",
    "mark_seeds",
    "previous_roots",
    "replace_seed_keys",
    "scoped_inputs",
    "topics",
    "usable",
    "write_all",
    "write_scope",
]

_META_KEY = "narrative_state"
# the regrouped cascades of an incremental build (:func:`close_scope`), which the
# narratives' writes are limited to (``write_narratives(regrouped=SCOPE_TABLE)``)
SCOPE_TABLE = REGROUPED_TABLE
_WORK_TABLES = (
    "_ng_seeds",
    "_ng_old",
    "_ng_new",
    "_ng_skeys",
    "_ng_cnt",
    "_ng_scope",
    "_ng_rest",
    "_ng_k",
    "_ng_roots",
    "_ng_oldn",
)
_SCOPES = ("_ng_seeds", "_ng_rest")
# a hashtag or media group links roots only within its cap (hashtags and media: h:, m:)
_CAPPED = "(key LIKE 'h:%' OR key LIKE 'm:%')"


def usable(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the state is the last finished build's and holds stored text groups."""
    con.complete()
    row = con.execute(
        """
        SELECT (SELECT value FROM meta WHERE key = ?) =
               (SELECT max(build_id)::VARCHAR FROM builds WHERE finished_at IS NOT NULL),
               EXISTS (SELECT 1 FROM narrative_keys WHERE key LIKE 'g:%')
        """,
        [_META_KEY],
    ).fetchall()[0]
    return bool(row[0]) and bool(row[1])


def previous_roots(con: duckdb.DuckDBPyConnection) -> int:
    """The roots the state was made from (one map row per cascade)."""
    return int(con.execute("SELECT count(*) FROM narrative_map").fetchall()[0][0])


def forget_all(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the state (an erasure: the keys hold URLs and hashtags of erased posts)."""
    con.execute("DELETE FROM narrative_keys")
    con.execute("DELETE FROM narrative_map")
    con.execute("DELETE FROM meta WHERE key = ?", [_META_KEY])


def write_all(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    cascade_ids: pl.Series,
    evidence: pl.DataFrame,
    cascades: pl.DataFrame,
) -> None:
    """Replace the state by a full grouping's: every cascade, its keys and narrative."""
    con.execute("DELETE FROM narrative_keys")
    con.execute("DELETE FROM narrative_map")
    arrow_execute(
        con, "INSERT INTO narrative_keys SELECT cascade_id, key FROM _arrow", evidence
    ).fetchall()
    _insert_map(con, cascade_ids, cascades)
    _record(con, build_id)


def _insert_map(
    con: duckdb.DuckDBPyConnection, cascade_ids: pl.Series, cascades: pl.DataFrame
) -> None:
    frame = (
        pl.DataFrame({"cascade_id": cascade_ids.cast(pl.String)})
        .unique()
        .join(cascades.select("cascade_id", "narrative_id", "via"), on="cascade_id", how="left")
    )
    arrow_execute(
        con, "INSERT INTO narrative_map SELECT cascade_id, narrative_id, via FROM _arrow", frame
    ).fetchall()


def _record(con: duckdb.DuckDBPyConnection, build_id: int) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_META_KEY, str(int(build_id))])


def mark_seeds(con: duckdb.DuckDBPyConnection, build_id: int, touched: list[str]) -> int:
    """``_ng_seeds``: the cascades rebuilt (``touched``, vanished ones included), holding
    a post whose item rows this build wrote (a text group renamed or merged), or a
    post carrying an item this build rewrote (a media group's label); their count."""
    con.complete()
    frame = pl.DataFrame({"cascade_id": pl.Series(touched, dtype=pl.String)})
    arrow_execute(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _ng_seeds AS
        SELECT cascade_id FROM _arrow
        UNION
        SELECT pc.cascade_id FROM post_items pi JOIN post_cascades pc USING (post_id)
        WHERE pi.build_id = $b
        UNION
        SELECT pc.cascade_id FROM items i
        JOIN post_items pi ON pi.item_id = i.item_id
        JOIN post_cascades pc ON pc.post_id = pi.post_id
        WHERE i.build_id = $b AND i.kind = 'media'
        """,
        frame,
        {"b": int(build_id)},
    ).fetchall()
    return int(con.execute("SELECT count(*) FROM _ng_seeds").fetchall()[0][0])


def _scoped(sql: str, scope: str) -> str:
    """``sql`` (over ``FROM cascades c``) narrowed to the cascades in ``scope``."""
    if scope not in _SCOPES:
        raise ValueError(f"not a scope table: {scope}")
    old = "FROM cascades c"
    if sql.count(old) != 2:
        raise ValueError("expected the two branches of ROOTS_SQL")
    new = f"FROM (SELECT * FROM cascades SEMI JOIN {scope} USING (cascade_id)) c"  # noqa: S608
    return sql.replace(old, new)


def scoped_inputs(
    con: duckdb.DuckDBPyConnection, scope: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(roots, url keys, media) of the cascades in ``scope`` (``_ng_seeds``, or
    ``_ng_rest``: the scope without the seeds): the grouping's inputs, as
    :func:`spreadtrace.store.narratives.cascade_roots`, ``url_key_frame`` and
    ``root_media`` give them for every cascade. The roots are read once."""
    con.complete()
    con.execute("CREATE OR REPLACE TEMP TABLE _ng_roots AS " + _scoped(ROOTS_WITH_TEXT_SQL, scope))
    roots = con.sql("SELECT * FROM _ng_roots").pl()
    keys = con.sql(
        """
        SELECT url, key FROM url_keys
        SEMI JOIN (SELECT unnest(urls) AS u FROM _ng_roots) r ON r.u = url_keys.url
        """
    ).pl()
    if ROOT_MEDIA_SQL.count(ROOTS_SQL) != 1:
        raise ValueError("expected ROOT_MEDIA_SQL over ROOTS_SQL")
    media = con.sql(ROOT_MEDIA_SQL.replace(ROOTS_SQL, "SELECT * FROM _ng_roots")).pl()
    return roots, keys, media


def replace_seed_keys(con: duckdb.DuckDBPyConnection, evidence: pl.DataFrame) -> None:
    """Swap the seeds' stored keys (kept in ``_ng_old``) for ``evidence`` (their keys
    now, kept in ``_ng_new``)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ng_old AS "
        "SELECT * FROM narrative_keys SEMI JOIN _ng_seeds USING (cascade_id)"
    )
    con.execute("DELETE FROM narrative_keys WHERE cascade_id IN (SELECT cascade_id FROM _ng_seeds)")
    arrow_execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _ng_new AS SELECT cascade_id, key FROM _arrow",
        evidence.select("cascade_id", "key"),
    ).fetchall()
    con.execute("INSERT INTO narrative_keys SELECT cascade_id, key FROM _ng_new")


def close_scope(con: duckdb.DuckDBPyConnection, cap: int, *, max_rounds: int = 10_000) -> int:
    """``_ng_scope``: the seeds' closure (see the module docstring), and ``_ng_rest``:
    the closure without the seeds; the closure's size.

    A key links when it is not capped or its roots are within [2, ``cap``]; a seed's
    key, old or new, also when it linked before the change (its count then: now,
    minus the seeds' new rows, plus their old ones). The old narratives' cascades are
    added too, though the keys already reach them (a group forms only through keys
    that link): a safeguard that costs one join a round.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ng_cnt AS
        SELECT key, count(*) AS n FROM narrative_keys WHERE {_CAPPED} GROUP BY key
        """  # noqa: S608 -- fixed fragments
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ng_skeys AS
        WITH d AS (
            SELECT key, sum(dn) AS dn FROM (
                SELECT key, -1 AS dn FROM _ng_new UNION ALL SELECT key, 1 FROM _ng_old
            ) GROUP BY key
        )
        SELECT d.key FROM d LEFT JOIN _ng_cnt c USING (key)
        WHERE NOT {_CAPPED.replace("key", "d.key")}
           OR coalesce(c.n, 0) + d.dn BETWEEN 2 AND $cap
        """,  # noqa: S608 -- fixed fragments
        {"cap": int(cap)},
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _ng_scope AS SELECT cascade_id FROM _ng_seeds")
    size = int(con.execute("SELECT count(*) FROM _ng_scope").fetchall()[0][0])
    for _ in range(max_rounds):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ng_k AS
            SELECT key FROM _ng_skeys
            UNION
            SELECT k.key FROM narrative_keys k SEMI JOIN _ng_scope s USING (cascade_id)
            LEFT JOIN _ng_cnt c ON c.key = k.key
            WHERE NOT {_CAPPED.replace("key", "k.key")} OR c.n BETWEEN 2 AND $cap
            """,  # noqa: S608 -- fixed fragments
            {"cap": int(cap)},
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _ng_scope AS
            SELECT cascade_id FROM _ng_scope
            UNION
            SELECT cascade_id FROM narrative_keys SEMI JOIN _ng_k USING (key)
            UNION
            SELECT m2.cascade_id FROM narrative_map m
            SEMI JOIN _ng_scope s USING (cascade_id)
            JOIN narrative_map m2 ON m2.narrative_id = m.narrative_id
            """
        )
        grown = int(con.execute("SELECT count(*) FROM _ng_scope").fetchall()[0][0])
        if grown == size:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _ng_rest AS "
                "SELECT cascade_id FROM _ng_scope ANTI JOIN _ng_seeds USING (cascade_id)"
            )
            return size
        size = grown
    raise RuntimeError("the grouping's scope did not close")


def topics(con: duckdb.DuckDBPyConnection, cap: int) -> pl.Series:
    """The capped keys of the scope's roots carried by more than ``cap`` roots in the store."""
    return (
        con.sql(
            """
            SELECT DISTINCT c.key FROM _ng_cnt c
            SEMI JOIN (SELECT key FROM narrative_keys SEMI JOIN _ng_scope USING (cascade_id)) k
                 ON k.key = c.key
            WHERE c.n > $cap
            """,
            params={"cap": int(cap)},
        )
        .pl()
        .to_series()
    )


def write_scope(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    cascade_ids: pl.Series,
    cascades: pl.DataFrame,
) -> None:
    """Replace the scope's map rows by its new grouping (``cascade_ids``: the scope's
    cascades that exist; the vanished ones go), keeping the scope's old narratives in
    :data:`OLD_NARRATIVES`.

    The map then holds the whole store's new grouping: the stored one outside the scope,
    the scope's new one (``cascades``: cascade_id, narrative_id, via) inside it; every
    old narrative of a scope cascade lies wholly in the scope (the closure adds them).
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {OLD_NARRATIVES} AS
        SELECT DISTINCT narrative_id FROM narrative_map SEMI JOIN _ng_scope USING (cascade_id)
        WHERE narrative_id IS NOT NULL
        """  # noqa: S608 -- a fixed table name
    )
    con.execute("DELETE FROM narrative_map WHERE cascade_id IN (SELECT cascade_id FROM _ng_scope)")
    _insert_map(con, cascade_ids, cascades)
    _record(con, build_id)


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the ``_ng_*`` work tables."""
    con.complete()
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")

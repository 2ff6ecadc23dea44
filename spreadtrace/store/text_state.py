"""SQL of the items stage's stored near-duplicate state: text_norms and text_pairs.

Why: the ``text`` items are the connected components of MinHash LSH pairs over every
cascade root's text. Recomputing them hashes every text on every build, so a build
after 1% new posts cost as much as a full one. The state kept here makes a build hash
only the texts it has not seen:

- ``text_norms``: one row per content-bearing cascade root (the root post, or the
  cascade's earliest stored post when the original is missing): the hash of its raw
  text (a root whose text changed, or a post that stopped being a root, is dropped
  and re-read), its normalised text (NULL when too short to be evidence) and the low
  32 bits of its LSH band keys;
- ``text_pairs``: per (band, key) bucket, its verified star pairs (the bucket's
  smallest text with each other member, as
  :func:`spreadtrace.graph.narratives.bucket_star_pairs` finds them).

A bucket's pairs depend only on its members, so a build recomputes only the buckets
that gained or lost a text (:func:`affected_members`), and the result equals a full
recomputation. The 32-bit keys only narrow the search: a collision adds a text to
the recomputed set, never removes one. Work tables are ``_tx_*`` temp tables, dropped
by :func:`drop_work_tables`.

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     emptied = prepare(store.con, '{"v": 1}', reset=False)
...     emptied, changed_roots(store.con).height
(True, 0)
"""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa

from spreadtrace.store.narratives import ROOTS_SQL
from spreadtrace.store.sync import arrow_execute

__all__ = [
    "affected_members",
    "changed_roots",
    "drop_work_tables",
    "forget_all",
    "invalidate",
    "prepare",
    "regroup_region",
    "replace_pairs",
    "root_norms",
    "stored_pairs",
    "add_norms",
    "affected_buckets",
]

_META_KEY = "text_state"
_WORK_TABLES = (
    "_tx_roots",
    "_tx_aff",
    "_tx_gone",
    "_tx_scope",
    "_tx_an",
    "_tx_region",
    "_tx_rnorm",
)


def prepare(con: duckdb.DuckDBPyConnection, state: str, *, reset: bool) -> bool:
    """Empty the state when ``reset`` or when it was made with other settings (``state``,
    a JSON string of the settings); record ``state``. Returns True when it was emptied.
    """
    row = con.execute("SELECT value FROM meta WHERE key = ?", [_META_KEY]).fetchone()
    emptied = reset or row is None or row[0] != state
    if emptied:
        forget_all(con)
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_META_KEY, state])
    con.execute("CREATE OR REPLACE TEMP TABLE _tx_aff (band INTEGER, key UINTEGER)")
    return emptied


def forget_all(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the whole state (its rows hold normalised texts: erasure and full builds)."""
    con.execute("DELETE FROM text_norms")
    con.execute("DELETE FROM text_pairs")


def invalidate(con: duckdb.DuckDBPyConnection) -> None:
    """Empty the state and forget its settings, so the next build recomputes it whole
    (after another engine's items were attached: the state would not match them)."""
    forget_all(con)
    con.execute("DELETE FROM meta WHERE key = ?", [_META_KEY])


def changed_roots(con: duckdb.DuckDBPyConnection, cascades: pa.Table | None = None) -> pl.DataFrame:
    """Sync ``text_norms`` with the current roots; return the roots to hash (post_id,
    text_hash, text).

    Stored rows whose post is no longer a content root, or whose text changed, are
    deleted (their posts kept in ``_tx_gone``) and their buckets marked affected; the
    roots without a current row are returned (their rows come back through
    :func:`add_norms`).

    ``cascades`` (an incremental build: the cascade ids the cascades stage rebuilt, one
    column ``cascade_id``): only their roots are looked at. A root changes only with its
    cascade (a new post, a parent found, a merge), and a post that stopped being a root
    belongs to a rebuilt cascade, so every other stored row is current; hashing every
    root's text cost the stage time in proportion to the store, not to the change.
    """
    scope = ""
    if cascades is not None:
        con.execute("CREATE OR REPLACE TEMP TABLE _tx_scope (cascade_id VARCHAR)")
        arrow_execute(
            con, "INSERT INTO _tx_scope SELECT cascade_id FROM _arrow", cascades
        ).fetchall()
        scope = "WHERE cascade_id IN (SELECT cascade_id FROM _tx_scope)"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tx_roots AS
        SELECT post_id, created_at, coalesce(hash(text), 0)::UBIGINT AS text_hash
        FROM ({ROOTS_SQL}) {scope}
        """  # noqa: S608 -- fixed queries
    )
    # the stored rows that can be stale: every one, or those of the rebuilt cascades' posts
    candidates = "text_norms t"
    if cascades is not None:
        candidates = """text_norms t SEMI JOIN (
            SELECT pc.post_id FROM post_cascades pc
            WHERE pc.cascade_id IN (SELECT cascade_id FROM _tx_scope)) c
            ON c.post_id = t.post_id"""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _tx_gone AS
        SELECT t.post_id, t.text_hash, t.keys FROM {candidates}
        WHERE NOT EXISTS (SELECT 1 FROM _tx_roots r
                          WHERE r.post_id = t.post_id AND r.text_hash = t.text_hash)
        """  # noqa: S608 -- fixed fragments
    )
    con.execute(
        """
        INSERT INTO _tx_aff
        SELECT DISTINCT band, key FROM (
            SELECT unnest(keys) AS key, unnest(range(len(keys)))::INTEGER AS band
            FROM _tx_gone WHERE keys IS NOT NULL)
        """
    )
    con.execute(
        "DELETE FROM text_norms t USING _tx_gone g "
        "WHERE t.post_id = g.post_id AND t.text_hash = g.text_hash"
    )
    return con.sql(
        """
        SELECT r.post_id, r.text_hash, p.text
        FROM _tx_roots r JOIN posts p USING (post_id)
        WHERE NOT EXISTS (SELECT 1 FROM text_norms t WHERE t.post_id = r.post_id)
        ORDER BY r.post_id
        """
    ).pl()


def add_norms(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, *, mark: bool = True) -> int:
    """Insert new rows (post_id, text_hash, norm, keys: list of UInt32 or null); mark
    their buckets affected (unless ``mark`` is False: into an empty state every bucket
    is new). Returns the number of buckets marked."""
    # not a registered view: it would hold the rows until the build commits
    arrow = frame.select("post_id", "text_hash", "norm", "keys").to_arrow()
    arrow_execute(
        con,
        "INSERT INTO text_norms SELECT post_id, text_hash::UBIGINT, norm, "
        "keys::UINTEGER[] FROM _arrow",
        arrow,
    ).fetchall()
    if mark:
        arrow_execute(
            con,
            """
            INSERT INTO _tx_aff
            SELECT DISTINCT band, key FROM (
                SELECT unnest(keys) AS key, unnest(range(len(keys)))::INTEGER AS band
                FROM _arrow WHERE keys IS NOT NULL)
            """,
            arrow,
        ).fetchall()
    del arrow
    if not mark:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE _tx_aff AS SELECT DISTINCT band, key FROM _tx_aff")
    return int(con.execute("SELECT count(*) FROM _tx_aff").fetchall()[0][0])


def affected_members(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The distinct norms of every affected bucket (a superset: 32-bit keys may collide),
    sorted; and nothing when no bucket is affected."""
    return con.sql(
        """
        SELECT DISTINCT norm FROM (
            SELECT norm, unnest(keys) AS key, unnest(range(len(keys)))::INTEGER AS band
            FROM text_norms WHERE norm IS NOT NULL) s
        WHERE EXISTS (SELECT 1 FROM _tx_aff a WHERE a.band = s.band AND a.key = s.key)
        ORDER BY norm
        """
    ).pl()


def affected_buckets(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(band, key) of the buckets marked affected in this build."""
    return con.sql("SELECT band, key FROM _tx_aff").pl()


def replace_pairs(
    con: duckdb.DuckDBPyConnection, pairs: pl.DataFrame, *, scoped: bool = True
) -> dict[str, int]:
    """Replace the affected buckets' pairs by ``pairs`` (band, key, norm_a, norm_b);
    ``scoped`` False: the state was emptied, ``pairs`` are all of them."""
    deleted = 0
    if scoped:
        deleted = con.execute(
            "DELETE FROM text_pairs t USING _tx_aff a WHERE t.band = a.band AND t.key = a.key"
        ).fetchall()[0][0]
    arrow_execute(
        con,
        "INSERT INTO text_pairs SELECT band::INTEGER, key::UINTEGER, norm_a, norm_b FROM _arrow",
        pairs.select("band", "key", "norm_a", "norm_b").to_arrow(),
    ).fetchall()
    return {"text_pairs_deleted": int(deleted), "text_pairs_inserted": pairs.height}


def root_norms(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(post_id, created_at, norm) of every current content root with a long enough text."""
    return con.sql(
        """
        SELECT t.post_id, p.created_at, t.norm
        FROM text_norms t JOIN posts p ON p.post_id = t.post_id
        WHERE t.norm IS NOT NULL
        """
    ).pl()


def stored_pairs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The distinct (norm_a, norm_b) pairs over every bucket."""
    return con.sql("SELECT DISTINCT norm_a, norm_b FROM text_pairs").pl()


def regroup_region(
    con: duckdb.DuckDBPyConnection, affected: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pa.Table]:
    """The roots and pairs of the text groups an incremental build can change:
    (post_id, created_at, norm) and (norm_a, norm_b), closed under the stored pairs.

    ``affected``: the norms of every affected bucket (:func:`affected_members`), after
    :func:`replace_pairs`. A group (connected component of the pairs) changes only if
    it holds one of them: the pairs of every other bucket are as they were, and every
    new, changed or deleted pair lies inside an affected bucket, between its members.
    The region is the affected norms and every norm of a text item (the stored
    ``post_items`` rows) that had a root with one of them or a root that went; its
    components are the changed groups, whole. Third: the posts (post_id) whose
    ``post_items`` text rows are to be rewritten: the region's roots and those that went.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _tx_an (norm VARCHAR)")
    arrow_execute(con, "INSERT INTO _tx_an SELECT norm FROM _arrow", affected.select("norm"))
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _tx_region AS
        WITH touched AS (
            SELECT DISTINCT pi.item_id FROM post_items pi
            WHERE starts_with(pi.item_id, 'text:')
              AND (pi.post_id IN (SELECT post_id FROM _tx_gone)
                   OR pi.post_id IN (SELECT t.post_id FROM text_norms t
                                     SEMI JOIN _tx_an a ON a.norm = t.norm)))
        SELECT post_id FROM post_items
        WHERE starts_with(item_id, 'text:') AND item_id IN (SELECT item_id FROM touched)
        UNION SELECT t.post_id FROM text_norms t SEMI JOIN _tx_an a ON a.norm = t.norm
        UNION SELECT post_id FROM _tx_gone
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _tx_rnorm AS
        SELECT norm FROM _tx_an
        UNION SELECT t.norm FROM text_norms t
              SEMI JOIN _tx_region r ON r.post_id = t.post_id WHERE t.norm IS NOT NULL
        """
    )
    rows = con.sql(
        """
        SELECT t.post_id, p.created_at, t.norm
        FROM text_norms t SEMI JOIN _tx_rnorm n ON n.norm = t.norm
        JOIN posts p ON p.post_id = t.post_id
        """
    ).pl()
    pairs = con.sql(
        "SELECT DISTINCT norm_a, norm_b FROM text_pairs SEMI JOIN _tx_rnorm n ON n.norm = norm_a"
    ).pl()
    return rows, pairs, con.sql("SELECT post_id FROM _tx_region").to_arrow_table()


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")

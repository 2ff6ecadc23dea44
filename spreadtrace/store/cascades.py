"""SQL of the cascades stage: which posts to (re)build, loading them as arrays, inferring
parents set-wise, writing post_cascades / cascades / data_quality, reading one cascade.

Why here: only ``spreadtrace.store`` talks to DuckDB. The graph code works on integer
arrays; this module numbers the posts in scope (``idx`` in ``post_id`` order, so "the
smallest post_id" is "the smallest idx"), gives each parent id that is not in the
store a virtual node after them, and turns results back into rows. Work tables are
``TEMP`` tables prefixed ``_st_`` that live only inside the build's transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from spreadtrace.store.builds import LAST_RUN_SQL
from spreadtrace.store.sync import arrow_execute, log_row_changes, sync_rows

__all__ = [
    "DQ_ISSUES",
    "Scope",
    "NodeArrays",
    "stored_state",
    "save_state",
    "prepare_scope",
    "load_nodes",
    "committed_reader",
    "load_parents",
    "stage_chunks",
    "root_ranges",
    "load_chunk",
    "infer_parents",
    "INFER_PARENTS_SQL",
    "FOLLOW_CODES_SQL",
    "code_follows",
    "write_results",
    "clear_results",
    "append_results",
    "drop_work_tables",
    "cascade_nodes",
    "cascade_exists",
    "cascade_of_post",
]

# data_quality issues this stage owns (it replaces them for the cascades it rebuilds).
DQ_ISSUES = ("clock_skew", "cycle_break", "unseen_parent")
_STATE_KEY = "cascades.state"
_WORK_TABLES = (
    "_st_new",
    "_st_touched",
    "_st_scope",
    "_st_nodes",
    "_st_unseen",
    "_st_accounts",
    "_st_work",
    "_st_follows",
)


@dataclass(frozen=True)
class Scope:
    """The posts a build (re)computes: all of them, or the cascades new posts touch."""

    full: bool
    posts: int  # posts in scope
    new_posts: int  # posts not yet in post_cascades
    touched_before: list[str]  # existing cascade ids being rebuilt (empty when full)


@dataclass(frozen=True)
class NodeArrays:
    """The posts in scope as arrays, position = idx; virtual nodes follow the posts."""

    parent: np.ndarray  # int64, -1 = none
    account: np.ndarray  # int64 codes
    t_us: np.ndarray  # created_at, epoch microseconds
    is_repost: np.ndarray  # bool
    is_reply: np.ndarray  # bool
    post_id: pa.Array
    account_id: pa.Array
    platform: pa.Array
    unseen_id: pa.Array  # ids of the virtual nodes, idx = n_posts + position


def _one(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> tuple:
    """The single row of ``query``, fully fetched.

    A bare ``fetchone()`` leaves the result open, and DuckDB then refuses
    ``register()`` on the connection until it is drained.
    """
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else ()


def stored_state(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The inputs the stored cascades were built from (params, follows fingerprint)."""
    row = _one(con, "SELECT value FROM meta WHERE key = ?", [_STATE_KEY])
    return json.loads(row[0]) if row else None


def follows_fingerprint(con: duckdb.DuckDBPyConnection) -> list[int]:
    """A cheap summary of the follows table: changes whenever follows are ingested."""
    count, last_run = _one(con, "SELECT count(*), coalesce(max(ingest_run_id), 0) FROM follows")
    return [int(count), int(last_run)]


def save_state(con: duckdb.DuckDBPyConnection, state: dict) -> None:
    con.execute(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)", [_STATE_KEY, json.dumps(state, sort_keys=True)]
    )


def prepare_scope(con: duckdb.DuckDBPyConnection, *, full: bool) -> Scope:
    """Choose the posts to build into ``_st_nodes``, numbered by post_id.

    Incremental: the new posts (not in post_cascades) plus every post of each existing
    cascade they touch: the cascade of a new post's parent; a cascade hanging from an
    unseen id that a new post now has as parent; and a cascade whose unseen root *is*
    a new post (that cascade now has its original, and may merge into the original's
    own cascade). This set is closed: each post's parent is in it or not in the store.
    When post_cascades does not reconcile with posts (rows removed outside spreadtrace),
    the scope falls back to full.
    """
    if full:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _st_nodes AS
            SELECT (row_number() OVER (ORDER BY post_id) - 1)::BIGINT AS idx,
                   post_id, account_id, parent_id, created_at, kind, platform
            FROM posts
            """
        )
        (n,) = _one(con, "SELECT count(*) FROM _st_nodes")
        (new,) = _one(
            con, "SELECT count(*) FROM posts p ANTI JOIN post_cascades pc USING (post_id)"
        )
        _number_the_rest(con)
        return Scope(full=True, posts=int(n), new_posts=int(new), touched_before=[])

    # the posts of the ingest runs since the last finished build, not yet in a cascade:
    # every earlier post got its row in that build's transaction, and if one did not
    # (rows removed behind the build's back) the counts below do not add up
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _st_new AS
        SELECT p.post_id, p.parent_id FROM posts p ANTI JOIN post_cascades pc USING (post_id)
        WHERE p.ingest_run_id > ({LAST_RUN_SQL})
        """  # noqa: S608 -- a fixed query of the store layer
    )
    (stored, new, total) = _one(
        con,
        "SELECT (SELECT count(*) FROM post_cascades), (SELECT count(*) FROM _st_new), "
        "(SELECT count(*) FROM posts)",
    )
    if stored + new != total:
        # Posts were removed or duplicated behind the build's back: the stored trees
        # cannot be patched safely, so rebuild them all.
        con.execute("DROP TABLE _st_new")
        return prepare_scope(con, full=True)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_touched AS
        SELECT pc.cascade_id FROM post_cascades pc JOIN _st_new n ON pc.post_id = n.parent_id
        UNION
        SELECT c.cascade_id FROM cascades c JOIN _st_new n ON c.cascade_id = n.post_id
        UNION
        SELECT c.cascade_id FROM cascades c JOIN _st_new n ON c.cascade_id = n.parent_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_nodes AS
        WITH scope AS (
            SELECT post_id FROM post_cascades
            WHERE cascade_id IN (SELECT cascade_id FROM _st_touched)
            UNION ALL
            SELECT post_id FROM _st_new
        )
        SELECT (row_number() OVER (ORDER BY p.post_id) - 1)::BIGINT AS idx,
               p.post_id, p.account_id, p.parent_id, p.created_at, p.kind, p.platform
        FROM posts p SEMI JOIN scope USING (post_id)
        """
    )
    (n,) = _one(con, "SELECT count(*) FROM _st_nodes")
    touched = [
        r[0] for r in con.execute("SELECT cascade_id FROM _st_touched ORDER BY 1").fetchall()
    ]
    _number_the_rest(con)
    return Scope(full=False, posts=int(n), new_posts=int(new), touched_before=touched)


def _number_the_rest(con: duckdb.DuckDBPyConnection) -> None:
    """Virtual nodes (parent ids not in scope) after the posts; account codes."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_unseen AS
        SELECT d.parent_id AS node_id,
               ((SELECT count(*) FROM _st_nodes) + row_number() OVER (ORDER BY d.parent_id) - 1)::BIGINT AS idx
        FROM (SELECT DISTINCT parent_id FROM _st_nodes WHERE parent_id IS NOT NULL) d
        ANTI JOIN _st_nodes n ON n.post_id = d.parent_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_accounts AS
        SELECT account_id, (row_number() OVER () - 1)::BIGINT AS code
        FROM (SELECT DISTINCT account_id FROM _st_nodes)
        """
    )


def _np(table: pa.Table, column: str, dtype: type) -> np.ndarray:
    """A non-null arrow column as numpy (arrow, not fetchnumpy: that imports pandas)."""
    return np.asarray(table.column(column).to_numpy(), dtype=dtype)


def load_nodes(con: duckdb.DuckDBPyConnection) -> NodeArrays:
    """The scope's posts as arrays in idx order, parents resolved to node indices."""
    cols = con.sql(
        """
        SELECT coalesce(p.idx, u.idx, -1)::BIGINT AS parent,
               a.code AS account,
               epoch_us(n.created_at)::BIGINT AS t_us,
               (n.kind = 'repost') AS is_repost,
               (n.kind = 'reply') AS is_reply
        FROM _st_nodes n
        LEFT JOIN _st_nodes p ON p.post_id = n.parent_id
        LEFT JOIN _st_unseen u ON u.node_id = n.parent_id
        JOIN _st_accounts a ON a.account_id = n.account_id
        ORDER BY n.idx
        """
    ).to_arrow_table()
    text = con.sql(
        "SELECT post_id, account_id, platform FROM _st_nodes ORDER BY idx"
    ).to_arrow_table()
    unseen = con.sql("SELECT node_id FROM _st_unseen ORDER BY idx").to_arrow_table()
    return _node_arrays(_np(cols, "parent", np.int64), cols, text, "post_id", unseen)


def _node_arrays(
    parent: np.ndarray, nums: pa.Table, ids: pa.Table, post_column: str, unseen: pa.Table
) -> NodeArrays:
    """NodeArrays from the scope's rows in idx order: ``nums`` holds account, t_us,
    is_repost and is_reply; ``ids`` the post ids (column ``post_column``), account_id
    and platform; ``unseen`` the unseen roots' ids (node_id)."""
    return NodeArrays(
        parent=parent,
        account=_np(nums, "account", np.int64),
        t_us=_np(nums, "t_us", np.int64),
        is_repost=_np(nums, "is_repost", bool),
        is_reply=_np(nums, "is_reply", bool),
        post_id=ids.column(post_column).combine_chunks(),
        account_id=ids.column("account_id").combine_chunks(),
        platform=ids.column("platform").combine_chunks(),
        unseen_id=unseen.column("node_id").combine_chunks(),
    )


@contextmanager
def committed_reader(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A second connection to the store for a full build's reads and work tables, or
    ``con`` itself when the build's transaction has changed the posts.

    Why: DuckDB keeps every table created inside a transaction, dropped or not, until
    the transaction ends, and a build is one transaction: a full build's work tables
    (every post, numbered, sorted by cascade: ~0.2 GB per million posts) would fill
    DuckDB's share of memory, or its spill folder, to the commit. A full build reads
    only the committed posts and follows, so its work tables can live on another
    connection, in transactions of their own that free them when dropped. The results
    are written through ``con``, inside the build's transaction. The posts and follows
    the transaction sees are checked against the committed ones (count, newest ingest
    run): if they differ, the reads stay on ``con``.
    """
    probe = (
        "SELECT (SELECT count(*) FROM posts), (SELECT max(ingest_run_id) FROM posts), "
        "(SELECT count(*) FROM follows), (SELECT max(ingest_run_id) FROM follows)"
    )
    cur = con.cursor()
    try:
        if cur.execute(probe).fetchall() != con.execute(probe).fetchall():
            yield con
            return
        yield cur
    finally:
        drop_work_tables(cur)
        cur.close()


def load_parents(con: duckdb.DuckDBPyConnection) -> tuple[np.ndarray, int]:
    """(parent node index of each post in idx order, number of virtual nodes).

    Why only the links: a full build resolves the forest of every post at once (a
    cascade's posts are anywhere in post_id order), then processes bounded ranges of
    cascades (:func:`load_chunk`); the links are the one thing it needs for all posts.
    """
    cols = con.sql(
        """
        SELECT coalesce(p.idx, u.idx, -1)::BIGINT AS parent
        FROM _st_nodes n
        LEFT JOIN _st_nodes p ON p.post_id = n.parent_id
        LEFT JOIN _st_unseen u ON u.node_id = n.parent_id
        ORDER BY n.idx
        """
    ).to_arrow_table()
    parent = _np(cols, "parent", np.int64)
    del cols
    (unseen,) = _one(con, "SELECT count(*) FROM _st_unseen")
    return parent, int(unseen)


# nodes per statement that stages the chunk table from the arrays
_STAGE_ROWS = 1_000_000


def stage_chunks(con: duckdb.DuckDBPyConnection, root: np.ndarray, parent: np.ndarray) -> None:
    """``_st_work``: every node of the scope (posts, then virtual nodes) with its root
    node, its parent link and the columns the stage reads, sorted by (root, idx).

    Why sorted by root: :func:`load_chunk` then reads a range of roots, i.e. whole
    cascades, through the row groups' min/max of ``root`` instead of scanning every
    post, and DuckDB, not Python, holds (and spills) the whole scope meanwhile.
    ``root`` and ``parent`` are indexed by node (``parent`` as loaded: cycles not cut).
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_links (idx BIGINT, root BIGINT, parent BIGINT)
        """
    )
    n = len(root)
    for lo in range(0, n, _STAGE_ROWS):  # a loop over batches of nodes, not over nodes
        hi = min(lo + _STAGE_ROWS, n)
        batch = pa.table(
            {
                "idx": pa.array(np.arange(lo, hi, dtype=np.int64)),
                "root": pa.array(np.asarray(root[lo:hi], dtype=np.int64)),
                "parent": pa.array(np.asarray(parent[lo:hi], dtype=np.int64)),
            }
        )
        arrow_execute(con, "INSERT INTO _st_links SELECT * FROM _arrow", batch).fetchall()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _st_work AS
        SELECT l.root, l.idx, l.parent, a.code AS account,
               epoch_us(n.created_at)::BIGINT AS t_us,
               coalesce(n.kind = 'repost', false) AS is_repost,
               coalesce(n.kind = 'reply', false) AS is_reply,
               coalesce(n.post_id, u.node_id) AS node_id, n.account_id, n.platform
        FROM _st_links l
        LEFT JOIN _st_nodes n ON n.idx = l.idx
        LEFT JOIN _st_unseen u ON u.idx = l.idx
        LEFT JOIN _st_accounts a ON a.account_id = n.account_id
        ORDER BY l.root, l.idx
        """
    )
    con.execute("DROP TABLE _st_links")


def root_ranges(con: duckdb.DuckDBPyConnection, max_nodes: int) -> list[tuple[int, int]]:
    """Half-open ranges ``[lo, hi)`` of root nodes of ``_st_work``, each holding whole
    cascades of at most about ``max_nodes`` nodes (a larger cascade is a range alone).

    The rule of :func:`spreadtrace.graph.batches.code_ranges` (a range ends where the
    nodes before a root pass a multiple of ``max_nodes``), counted by DuckDB: in Python
    the per-root counts and sums would be several arrays as long as the store.
    """
    rows = con.execute(
        """
        WITH c AS (SELECT root, count(*) AS n FROM _st_work GROUP BY root),
        b AS (
            SELECT root, (sum(n) OVER (ORDER BY root ROWS UNBOUNDED PRECEDING) - n) // $max
                AS batch
            FROM c
        )
        SELECT min(root), max(root) FROM b GROUP BY batch ORDER BY 1
        """,
        {"max": int(max_nodes)},
    ).fetchall()
    return [(int(lo), int(hi) + 1) for lo, hi in rows]


def load_chunk(con: duckdb.DuckDBPyConnection, lo: int, hi: int, n_posts: int) -> NodeArrays:
    """The nodes whose root is in ``[lo, hi)`` (whole cascades) as arrays, renumbered.

    ``n_posts``: the posts in the whole scope (node indices from it on are virtual).
    Local indices keep the scope's order (posts by post_id, then virtual nodes), so
    every rule that breaks a tie by the smaller index decides as on the whole scope,
    and every parent of a node in the range is in the range (a cascade is closed).
    """
    t = con.sql(
        """
        SELECT idx, parent, account, t_us, is_repost, is_reply, node_id, account_id, platform
        FROM _st_work WHERE root >= $lo AND root < $hi ORDER BY idx
        """,
        params={"lo": int(lo), "hi": int(hi)},
    ).to_arrow_table()
    idx = _np(t, "idx", np.int64)
    k = int(np.searchsorted(idx, n_posts))  # the chunk's posts come first
    gparent = _np(t.slice(0, k), "parent", np.int64)
    parent = np.where(gparent >= 0, np.searchsorted(idx, gparent), -1)
    posts = t.slice(0, k)
    return _node_arrays(parent, posts, posts, "node_id", t.slice(k))


# The time-inferred parent rule as one set-wise query, shared by both engines: DuckDB
# runs it as written; the Spark engine (spreadtrace.spark.cascades) transpiles it to
# Spark SQL with sqlglot over views of the same names and columns. Inputs: ``follows``
# (the canonical table), ``_st_accounts`` (account_id, code), ``_st_tree`` (see
# :func:`infer_parents`) and the parameter ``span`` (accounts + 1).
# ``f``: the follows as account codes (a full build codes them once, :func:`code_follows`)
FOLLOW_CODES_SQL = """
                SELECT a.code AS follower, b.code AS followee, epoch_us(f.created_at) AS f_t
                FROM follows f
                JOIN _st_accounts a ON a.account_id = f.follower_id
                JOIN _st_accounts b ON b.account_id = f.followee_id
"""
_INFER_FROM_CODES = """
            r AS (SELECT idx, cascade, account, t_us FROM _st_tree WHERE candidate),
            s AS (SELECT cascade * $span + account AS sharer, rank, t_us, top_t FROM _st_tree)
            SELECT r.idx AS child, max(s.rank) AS parent
            FROM f
            JOIN r ON r.account = f.follower
            JOIN s ON s.sharer = r.cascade * $span + f.followee
            WHERE (f.f_t IS NULL OR f.f_t <= r.t_us) AND s.t_us < r.t_us AND s.top_t < r.t_us
            GROUP BY r.idx
            ORDER BY r.idx
"""
INFER_PARENTS_SQL = f"""
            WITH f AS ({FOLLOW_CODES_SQL}            ),{_INFER_FROM_CODES}"""
_CODED = "\n            WITH f AS (SELECT follower, followee, f_t FROM _st_follows),"
_INFER_CODED_SQL = _CODED + _INFER_FROM_CODES  # fixed texts of this module


def code_follows(con: duckdb.DuckDBPyConnection) -> None:
    """``_st_follows``: the follows as codes of ``_st_accounts``, for every range's
    inference (``infer_parents(coded=True)``).

    Why once: a full build infers parents range by range, and coding the follows in
    each range would join every follow's two string ids once per range (at tens of
    millions of posts, hundreds of millions of follows times a hundred ranges).
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _st_follows AS {FOLLOW_CODES_SQL}")  # noqa: S608


def infer_parents(
    con: duckdb.DuckDBPyConnection, tree: pa.Table, *, coded: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Time-inferred parents for reposts hanging on their cascade's root, set-wise.

    ``tree`` has one row per non-root post in scope that could matter (the caller may
    leave out cascades with a single non-root post): ``idx``, ``cascade`` (root node),
    ``account`` (code of ``_st_accounts``), ``t_us`` (created_at, epoch microseconds),
    ``top_t`` (created_at of its depth-1 ancestor), ``rank`` (position in (created_at,
    idx) order) and ``candidate`` (a repost at depth 1, whose parent may be inferred).
    For each candidate r the new parent is the most recent post s of the same cascade
    whose account r follows (a follow with no created_at, or made no later than r),
    with ``s.created_at < r.created_at`` and with s's branch started before r
    (``top_t < r``; this only excludes clock-skewed branches and guarantees inferred
    links can never close a cycle). Ties on time go to the larger post_id (idx).

    Every join key is an integer: follows are coded once through ``_st_accounts``
    (follows of accounts outside the scope drop out there). The join runs candidates
    x their follows x the cascade's sharers by (cascade, account), so its size is
    bounded by the reposters' follow counts, never by the square of a cascade's size.
    Returns (child idx, parent rank), sorted by child; the caller maps ranks to nodes.
    ``coded``: read the follows coded by :func:`code_follows` (the same rows).
    """
    # (cascade, account) as one integer, and the join order fixed as written: follows x
    # candidates (hash table on the candidates), then the sharer lookup (hash table on
    # the tree's 10^6 rows, probed by the ~10^8 rows of candidates x follows). Left to
    # itself DuckDB hashed the 10^8-row side (9 GB at 5M posts), and a join of the tree
    # with itself on cascade alone would be quadratic in a cascade's size.
    (span,) = _one(con, "SELECT count(*) + 1 FROM _st_accounts")
    (disabled,) = _one(con, "SELECT current_setting('disabled_optimizers')")
    con.register("_st_tree", tree)
    try:
        con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
        res = con.sql(
            _INFER_CODED_SQL if coded else INFER_PARENTS_SQL,
            params={"span": int(span)},
        ).to_arrow_table()
    finally:
        con.execute("SET disabled_optimizers = ?", [disabled])
        con.unregister("_st_tree")
    return _np(res, "child", np.int64), _np(res, "parent", np.int64)


def write_results(
    con: duckdb.DuckDBPyConnection,
    scope: Scope,
    post_rows: Iterable[pa.Table],
    cascade_rows: pa.Table,
    dq_rows: pa.Table,
    timings: dict[str, float] | None = None,
    build_id: int | None = None,
) -> None:
    """Replace the scope's rows in post_cascades, cascades and data_quality.

    ``post_rows``: the post_cascades rows in batches, each inserted and let go before
    the next is made (a generator keeps only one batch alive). ``timings``, when given,
    receives the seconds of each table's insert.

    An incremental scope writes post_cascades and cascades by difference
    (:func:`_write_changed`): a rebuilt cascade's rows are recomputed, but only those
    that differ are written and take ``build_id``.
    """
    if scope.full:
        clear_results(con)
        append_results(con, post_rows, cascade_rows, dq_rows, timings)
        return
    con.execute(
        "DELETE FROM data_quality WHERE list_contains(?, issue) "
        "AND cascade_id IN (SELECT cascade_id FROM _st_touched)",
        [list(DQ_ISSUES)],
    )
    if build_id is None:
        raise ValueError("an incremental write needs the build id")
    _write_changed(con, post_rows, cascade_rows, build_id, timings)
    _insert(con, "data_quality", "", (dq_rows,), timings)


def clear_results(con: duckdb.DuckDBPyConnection) -> None:
    """Empty post_cascades, cascades and this stage's data_quality rows (a full build)."""
    con.execute("DELETE FROM post_cascades")
    con.execute("DELETE FROM cascades")
    con.execute("DELETE FROM data_quality WHERE list_contains(?, issue)", [list(DQ_ISSUES)])


def append_results(
    con: duckdb.DuckDBPyConnection,
    post_rows: Iterable[pa.Table],
    cascade_rows: pa.Table,
    dq_rows: pa.Table,
    timings: dict[str, float] | None = None,
) -> None:
    """Insert one range of cascades' rows after :func:`clear_results` (a full build).

    ``timings``, when given, accumulates the seconds of each table's insert, so a
    build in several ranges reports its totals.
    """
    # cascades in key order: the row groups' min/max of cascade_id then narrow a lookup
    _insert(con, "post_cascades", "", post_rows, timings)
    _insert(con, "cascades", " ORDER BY cascade_id", (cascade_rows,), timings)
    _insert(con, "data_quality", "", (dq_rows,), timings)


def _insert(
    con: duckdb.DuckDBPyConnection,
    target: str,
    order: str,
    tables: Iterable[pa.Table],
    timings: dict[str, float] | None,
) -> None:
    t0 = time.perf_counter()
    # not a registered view: it would hold the rows until the build commits
    # (arrow_execute); target and order come from this module, never from input
    sql = f"INSERT INTO {target} BY NAME SELECT * FROM _arrow{order}"  # noqa: S608
    for table in tables:
        arrow_execute(con, sql, table).fetchall()
        del table
    if timings is not None:
        key = f"write_{target}"
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def _write_changed(
    con: duckdb.DuckDBPyConnection,
    post_rows: Iterable[pa.Table],
    cascade_rows: pa.Table,
    build_id: int,
    timings: dict[str, float] | None,
) -> None:
    """Write an incremental scope's post_cascades and cascades rows by difference.

    Why: a rebuilt cascade's posts mostly keep their depth, parent and reach (after 1%
    new posts at 1M, 80% of the 157k rewritten post_cascades rows were identical but
    for build_id), and every rewritten row was a delete and an insert at the commit
    and a changed row for the dashboard's publish and the change reports. The stored
    rows of the scope's posts (``_st_nodes``) and cascades (``_st_touched``) end up
    exactly as a delete and insert would leave them; unchanged rows keep their build.
    """
    t0 = time.perf_counter()
    for batch in post_rows:  # every post of _st_nodes is in exactly one batch
        sync_rows(
            con,
            "post_cascades",
            build_id,
            "SELECT * EXCLUDE (build_id) FROM _arrow",
            arrow=batch,
            partial=True,
            keys=("post_id",),
        )
        del batch
    if timings is not None:
        timings["write_post_cascades"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # a touched cascade that is no longer a cascade (its posts joined another): logged
    # as removed for the change reports (sync_rows logs the rows it writes)
    gone = (
        "SELECT cascade_id FROM cascades WHERE cascade_id IN (SELECT cascade_id FROM _st_touched) "
        "AND cascade_id NOT IN (SELECT cascade_id FROM _arrow)"
    )
    log_row_changes(
        con,
        "cascades",
        build_id,
        f"SELECT cascade_id AS key1, NULL AS key2, true AS existed, false AS present FROM ({gone})",  # noqa: S608, E501
        cascade_rows.select(["cascade_id"]),
    )
    arrow_execute(
        con,
        "DELETE FROM cascades WHERE cascade_id IN (SELECT cascade_id FROM _st_touched) "
        "AND cascade_id NOT IN (SELECT cascade_id FROM _arrow)",
        cascade_rows.select(["cascade_id"]),
    ).fetchall()
    sync_rows(
        con,
        "cascades",
        build_id,
        "SELECT * EXCLUDE (build_id) FROM _arrow",
        arrow=cascade_rows,
        partial=True,
        keys=("cascade_id",),
    )
    if timings is not None:
        timings["write_cascades"] = time.perf_counter() - t0


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")  # names from the fixed tuple


def cascade_exists(con: duckdb.DuckDBPyConnection, cascade_id: str) -> bool:
    return _one(con, "SELECT count(*) FROM cascades WHERE cascade_id = ?", [cascade_id])[0] > 0


def cascade_of_post(con: duckdb.DuckDBPyConnection, post_id: str) -> str | None:
    """The cascade a post belongs to, or None."""
    row = _one(con, "SELECT cascade_id FROM post_cascades WHERE post_id = ?", [post_id])
    return row[0] if row else None


def cascade_nodes(con: duckdb.DuckDBPyConnection, cascade_id: str) -> pa.Table:
    """One cascade's stored posts with their tree position, in (depth, created_at) order.

    Columns: post_id, parent_id, parent_source, depth, descendants, account_id,
    created_at, kind, text (the text is untrusted: escape it wherever it is shown).
    """
    return con.sql(
        """
        SELECT pc.post_id, pc.parent_id, pc.parent_source, pc.depth, pc.descendants,
               p.account_id, p.created_at, p.kind, p.text
        FROM post_cascades pc JOIN posts p USING (post_id)
        WHERE pc.cascade_id = $cascade_id
        ORDER BY pc.depth, p.created_at, pc.post_id
        """,
        params={"cascade_id": cascade_id},
    ).to_arrow_table()

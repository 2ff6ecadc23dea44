"""SQL of the narratives stage: cascade roots in, narratives, origins and amplification out.

Why here: only ``spreadtrace.store`` talks to DuckDB. The graph code gets polars frames
(one row per cascade root, or one row per post with its parent as a row number) and
hands frames back; this module writes them with set-wise ``INSERT ... SELECT`` from
registered Arrow tables. Work tables are ``TEMP`` tables prefixed ``_sn_`` inside the
build's transaction, dropped at the end of the stage.

The stage recomputes globally, but writes only what changed: each table is computed
into a staging table and synced (:mod:`spreadtrace.store.sync`), so the commit follows
the change. ``narratives`` stays staged until :func:`finish` (origin, amplification
and corrections fill its columns first). The caller owns the transaction
(``run_build``), so readers see the old scores or the new ones.
"""

from __future__ import annotations

import re

import duckdb
import numpy as np
import polars as pl

from spreadtrace.store.builds import LAST_RUN_SQL
from spreadtrace.store.sync import arrow_execute, stage_table, sync_rows, sync_table

__all__ = [
    "CANDIDATES_SQL",
    "CLAIM_POSTS_SQL",
    "CORRECTIONS_SQL",
    "FACTCHECK_POSTS_SQL",
    "FLAG_CHANGES_SQL",
    "FLAGS_SQL",
    "FOREST_SQL",
    "NARRATIVE_ROWS_SQL",
    "OLD_NARRATIVES",
    "POST_NARRATIVES_SQL",
    "ROOTS_SQL",
    "ROOTS_WITH_TEXT_SQL",
    "ROOT_MEDIA_SQL",
    "REGROUPED_TABLE",
    "account_flags",
    "account_origin_seeds",
    "affected_narratives",
    "cascade_count",
    "cascade_roots",
    "root_media",
    "content_roots",
    "drop_work_tables",
    "finish",
    "inferred_candidates",
    "origin_counts",
    "url_hosts",
    "write_corrections",
    "tree_ids",
    "tree_posts",
    "write_account_origin",
    "write_amplification",
    "write_narratives",
    "write_origins",
]

_WORK_VIEWS = ("_sn_map", "_sn_narr", "_sn_nnew", "_sn_hosts")
_WORK_TABLES = (
    "_sn_nodes",
    "_sn_touched",
    "_sn_acc",
    "_sn_aff_c",
    "_sn_aff_n",
    "_sn_aff_i",
    "_sn_scope",
    "_sn_amp",
    "_sn_remap",
    "_sn_pc",
    "_sn_noi",
    "_sn_noip",
    "_sn_fc",
    "_sn_np",
    "_sn_corr",
    "_sn_oold",
    "_sn_oacc",
    "_sync_narratives",
)


def cascade_roots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One row per cascade: its content-bearing post's id, time, text, URLs and hashtags.

    The root post when the original is stored; otherwise the cascade's earliest stored
    post (a repost of the missing original usually carries its text). Also the
    cascade's size, used to drop one-post narratives.
    """
    return con.sql(ROOTS_WITH_TEXT_SQL).pl()


def cascade_count(con: duckdb.DuckDBPyConnection) -> int:
    """The cascades in the store: one content root each (the grouping's caps)."""
    con.complete()
    return int(con.execute("SELECT count(*) FROM cascades").fetchall()[0][0])


def root_media(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(cascade_id, item_id, label): the media items each cascade's content root carries."""
    return con.sql(ROOT_MEDIA_SQL).pl()


def content_roots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The cascade roots without their text items (the items stage makes those)."""
    return con.sql(ROOTS_SQL).pl()


# The content root of each cascade (its root post when seen, else its earliest post by
# depth, time, post_id): one definition, read by the narratives stage, the stored text
# state and the Spark items stage (transpiled).
ROOTS_SQL = """
        SELECT c.cascade_id, p.post_id, p.created_at, p.text, p.urls, p.hashtags, c.size
        FROM cascades c JOIN posts p ON p.post_id = c.root_post_id
        WHERE c.root_seen
        UNION ALL
        SELECT cascade_id, post_id, created_at, text, urls, hashtags, size FROM (
            SELECT pc.cascade_id, p.post_id, p.created_at, p.text, p.urls, p.hashtags, c.size,
                   row_number() OVER (PARTITION BY pc.cascade_id
                                      ORDER BY pc.depth, p.created_at, pc.post_id) AS rn
            FROM cascades c
            JOIN post_cascades pc ON pc.cascade_id = c.cascade_id
            JOIN posts p ON p.post_id = pc.post_id
            WHERE NOT c.root_seen
        ) WHERE rn = 1
"""

# cascade_roots: each content root with its text group (the Spark engine transpiles it)
ROOTS_WITH_TEXT_SQL = f"""
    SELECT r.*, t.item_id AS text_group
    FROM ({ROOTS_SQL}) r
    LEFT JOIN (SELECT post_id, item_id FROM post_items WHERE item_id LIKE 'text:%') t
           ON t.post_id = r.post_id
"""  # noqa: S608 -- fixed queries from this module
# root_media: (cascade_id, item_id, label) of the media items on each content root
ROOT_MEDIA_SQL = f"""
    SELECT r.cascade_id, pi.item_id, i.label
    FROM ({ROOTS_SQL}) r
    JOIN post_items pi ON pi.post_id = r.post_id
    JOIN items i ON i.item_id = pi.item_id
    WHERE i.kind = 'media'
"""  # noqa: S608 -- fixed queries from this module


def _register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """Show ``frame`` to SQL as the view ``name`` (an identifier from _WORK_VIEWS).

    Only for frames read by several statements: a registered view, even unregistered,
    holds its Arrow data until the build's transaction commits; frames read once go
    through :func:`spreadtrace.store.sync.arrow_execute` instead.
    """
    if name not in _WORK_VIEWS:
        raise ValueError(f"not a work view: {name}")
    con.register(name, frame.to_arrow())


def write_narratives(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    cascades: pl.DataFrame,
    narratives: pl.DataFrame,
    *,
    touched: list[str] | None = None,
    flags_before: pl.DataFrame | None = None,
    item_min_accounts: int = 2,
    regrouped: str | None = None,
) -> dict[str, float]:
    """Replace post_narratives and narratives from the cascade -> narrative map.

    ``cascades``: cascade_id, narrative_id, via; ``narratives``: narrative_id, label,
    kind. Every post of a mapped cascade joins its narrative; the root carries the
    cascade's ``via``, the others ``cascade``. Per-narrative counts and times come from
    the posts; score columns stay NULL until the origin and amplification writes.

    ``touched`` (the cascades the cascades stage rebuilt) with ``flags_before`` (the
    flagged accounts before the accounts stage, :func:`account_flags`) make the stage
    incremental: :func:`_mark_affected` finds what must be recomputed, and only the
    affected narratives are staged (the stage's later writes are limited to them).
    ``regrouped`` (with ``touched``): the temp table of the cascades the grouping
    regrouped (:data:`spreadtrace.store.narrative_state.SCOPE_TABLE`; outside it every
    cascade kept its stored narrative and via, and the rebuilt cascades are in it):
    only the post_narratives rows of its cascades can change, so only those are compared.
    ``cascades`` and ``narratives`` are then the scope's new grouping only: the whole
    map is the stored one (``narrative_map``, already rewritten by the grouping), the
    whole set of narratives the stored ones but the scope's old ones
    (:data:`OLD_NARRATIVES`) plus ``narratives``, so no frame holds every cascade.
    """
    scoped = touched is not None
    local = scoped and regrouped is not None
    if local:
        if regrouped != REGROUPED_TABLE:
            raise ValueError(f"not the grouping's scope table: {regrouped}")
        _register(con, "_sn_nnew", narratives)
        con.execute(_LOCAL_MAP_VIEW)
        con.execute(_LOCAL_NARR_VIEW)
    else:
        _register(con, "_sn_map", cascades)
        _register(con, "_sn_narr", narratives)
    counts: dict[str, float] = {}
    if touched is not None:
        counts |= _mark_affected(
            con, build_id, touched, flags_before, item_min_accounts, local=local
        )
        _scope_rows(con, local=local)
    post_sql, where = POST_NARRATIVES_SQL, None
    if local:
        # the regrouped cascades hold the grouping's seeds, the rebuilt cascades among them
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _sn_remap AS "  # noqa: S608 -- a fixed table name, checked above
            f"SELECT * FROM {_SCOPE_ROWS} SEMI JOIN {REGROUPED_TABLE} USING (cascade_id)"
        )
        post_sql = _replace_once(post_sql, "FROM post_cascades pc", f"FROM {_REMAPPED} pc")
        where = f"post_id IN (SELECT post_id FROM {_REMAPPED} x)"  # noqa: S608
    sync_rows(con, "post_narratives", build_id, post_sql, where=where)
    stage_table(con, "narratives")
    rows_sql = NARRATIVE_ROWS_SQL
    if scoped:  # the affected narratives only
        rows_sql = _replace_once(
            rows_sql,
            "FROM _sn_narr n",
            "FROM (SELECT * FROM _sn_narr SEMI JOIN _sn_aff_n USING (narrative_id)) n",
        )
        # their posts first (not every narrative's posts joined, then filtered)
        rows_sql = _replace_once(
            rows_sql,
            "JOIN post_narratives pn ON",
            "JOIN (SELECT * FROM post_narratives SEMI JOIN _sn_aff_n USING (narrative_id)) pn ON",
        )
        # an affected narrative's posts lie in the scope's cascades (_sn_scope holds every
        # cascade the map gives it): their rows read once, not post_cascades and posts
        rows_sql = _replace_once(
            rows_sql,
            "JOIN post_cascades pc ON pc.post_id = pn.post_id",
            f"JOIN {_SCOPE_ROWS} pc ON pc.post_id = pn.post_id",
        )
        rows_sql = _replace_once(
            rows_sql,
            "JOIN posts p ON p.post_id = pn.post_id",
            f"JOIN (SELECT * FROM {_SCOPE_ROWS} WHERE posted) p ON p.post_id = pn.post_id",  # noqa: S608
        )
    con.execute(
        f"""
        INSERT INTO _sync_narratives (narrative_id, label, kind, cascades, posts, accounts,
                                first_at, last_at, build_id)
        SELECT narrative_id, label, kind, cascades, posts, accounts, first_at, last_at, ?
        FROM ({rows_sql})
        """,  # noqa: S608 -- a fixed query from this module
        [build_id],
    )
    # every narrative's size: staged, or (incremental: only the affected are) the
    # affected ones staged and the others' stored (a narrative that vanished is affected)
    sizes = (
        """(SELECT posts FROM _sync_narratives UNION ALL
            SELECT posts FROM narratives ANTI JOIN _sn_aff_n USING (narrative_id))"""
        if scoped
        else "_sync_narratives"
    )
    posts, narr, largest = con.execute(
        f"""
        SELECT (SELECT count(*) FROM post_narratives), (SELECT count(*) FROM _sn_narr),
               (SELECT round(100 * coalesce(max(posts), 0)
                             / greatest((SELECT count(*) FROM posts), 1), 2) FROM {sizes})
        """  # noqa: S608 -- fixed fragments
    ).fetchall()[0]
    # No narrative should swallow the store: the build summary shows the largest's share.
    return counts | {
        "narratives": int(narr),
        "narrative_posts": int(posts),
        "largest_narrative_share_pct": float(largest),
    }


# An incremental build's post_cascades rows of the forest's cascades (_sn_scope) and the
# regrouped ones (the grouping's scope), each with its post's account and time (posted:
# the post is stored): read from the two whole tables once, then by every scoped rule
# that would scan them again (the remapped rows, the narratives' counts, the forest)
_SCOPE_ROWS = "_sn_pc"


def _scope_rows(con: duckdb.DuckDBPyConnection, *, local: bool) -> None:
    """Fill :data:`_SCOPE_ROWS` (after :func:`_mark_affected`; ``local``: with the
    grouping's scope, :data:`REGROUPED_TABLE`)."""
    regrouped = f"UNION SELECT cascade_id FROM {REGROUPED_TABLE}" if local else ""  # noqa: S608
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_SCOPE_ROWS} AS
        SELECT pc.*, p.account_id, p.created_at, p.parent_id AS post_parent_id,
               p.post_id IS NOT NULL AS posted
        FROM (SELECT * FROM post_cascades SEMI JOIN (
                SELECT cascade_id FROM _sn_scope {regrouped}) s USING (cascade_id)) pc
        LEFT JOIN posts p ON p.post_id = pc.post_id
        """  # noqa: S608 -- fixed names
    )


# write_narratives(regrouped=...): the whole new map and narratives as views over the
# stored map (the grouping rewrote the scope's rows) and narratives (the scope's old
# narratives, kept by the grouping in OLD_NARRATIVES, replaced by the new, _sn_nnew)
OLD_NARRATIVES = "_ng_oldn"
_LOCAL_MAP_VIEW = """
    CREATE OR REPLACE TEMP VIEW _sn_map AS
    SELECT cascade_id, narrative_id, via FROM narrative_map WHERE narrative_id IS NOT NULL
"""
_LOCAL_NARR_VIEW = f"""
    CREATE OR REPLACE TEMP VIEW _sn_narr AS
    SELECT narrative_id, label, kind FROM narratives ANTI JOIN {OLD_NARRATIVES} USING (narrative_id)
    UNION ALL
    SELECT narrative_id, label, kind FROM _sn_nnew
"""  # noqa: S608 -- fixed names

# write_narratives(regrouped=...): the grouping's scope table (narrative_state's
# close_scope writes it; named here, as that module imports this one), and the post_cascades rows of the cascades whose
# posts' narrative rows can change (regrouped or rebuilt)
REGROUPED_TABLE = "_ng_scope"
_REMAPPED = "_sn_remap"  # read twice: the rows, not the cascades, kept


def affected_cascades(con: duckdb.DuckDBPyConnection) -> pl.Series:
    """The affected cascades' ids (``_sn_aff_c``: the cascades whose scores are
    recomputed, see :func:`write_narratives`)."""
    con.complete()
    return con.sql("SELECT cascade_id FROM _sn_aff_c").pl().to_series()


def affected_narratives(con: duckdb.DuckDBPyConnection) -> pl.Series:
    """The affected narratives' ids (``_sn_aff_n``, see :func:`write_narratives`)."""
    con.complete()
    return con.sql("SELECT narrative_id FROM _sn_aff_n").pl().to_series()


def _replace_once(sql: str, old: str, new: str) -> str:
    """``sql`` with its one ``old`` fragment replaced (a shared rule narrowed to a scope)."""
    if sql.count(old) != 1:
        raise ValueError(f"expected one {old!r} in the query")
    return sql.replace(old, new)


# The flagged accounts (bot-like or in a coordination cluster): the account flags the
# forest reads (FOREST_SQL), as a small frame to compare before and after a build.
FLAGS_SQL = """
    SELECT account_id, bool_or(bot) AS bot, bool_or(coordinated) AS coordinated
    FROM (
        SELECT account_id, true AS bot, false AS coordinated
        FROM account_scores WHERE is_bot_like
        UNION ALL
        SELECT DISTINCT account_id, false, true FROM coordination_clusters
    )
    GROUP BY account_id
"""


# The accounts whose flags changed: FLAGS_SQL now against ``_arrow``, the flags before
# (:func:`account_flags`, taken before the accounts stage); an account flagged on one
# side only counts.
FLAG_CHANGES_SQL = f"""
    SELECT coalesce(a.account_id, b.account_id) AS account_id
    FROM ({FLAGS_SQL}) a FULL JOIN _arrow b ON b.account_id = a.account_id
    WHERE a.bot IS DISTINCT FROM b.bot OR a.coordinated IS DISTINCT FROM b.coordinated
"""  # noqa: S608 -- fixed queries from this module


def account_flags(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """(account_id, bot, coordinated) of every flagged account, before the accounts stage
    rewrites them: the narratives stage recomputes the cascades of accounts whose flags
    changed."""
    con.complete()
    return con.sql(FLAGS_SQL).pl()


def _mark_affected(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    touched: list[str],
    flags_before: pl.DataFrame | None,
    item_min_accounts: int,
    *,
    local: bool = False,
) -> dict[str, int]:
    """Temp tables of what an incremental build recomputes; their sizes as counts.

    ``local``: the grouping regrouped its scope only (see :func:`write_narratives`):
    outside it the map and the narratives are the stored ones, so only the scope's
    cascades and its old and new narratives are compared with the stored.

    Why each rule (every stored result is a function of these inputs alone):

    - ``_sn_aff_c``, affected cascades: rebuilt by the cascades stage (``touched``,
      including ids that no longer exist), carrying a post of an account whose flags
      changed (its amplification), or whose narrative changed (the grouping, ``_sn_map``,
      against the stored ``cascade_scores.narrative_id``);
    - ``_sn_aff_n``, affected narratives: the old and new narratives of those cascades,
      the narratives whose label or kind changed or that appear or vanish, the
      narratives of the parents of posts in touched cascades (a reply to a correction
      may sit in another cascade), and the narratives of posts with Community Notes (or
      note statuses) new since the last build (their corrections);
    - ``_sn_aff_i``, affected items: items or post_items rows this build wrote (the
      item's posts or counts changed); the items whose origin parts change join later
      (:func:`spreadtrace.store.origin_state.replace_scope`: they are re-ranked from
      their stored parts, not from their cascades' trees);
    - ``_sn_scope``: the cascades the forest must hold to recompute all of those: the
      existing affected cascades, every cascade of an affected narrative, and the
      cascades whose item origin parts may change: those holding a post whose item
      rows this build wrote (rebuilt cascades are affected already) and every cascade
      with a post of an item ranked for the first time (posted by ``item_min_accounts``
      accounts now, without stored parts: its other cascades have none stored). Posts
      only join the store here (``_same_state``), so a post's item rows change only by
      a write, which stamps the build (a renamed text or media group: a delete and an
      insert);
    - ``_sn_amp``: the cascades whose reach bounds the amplification reads (those of
      the affected cascades and of the affected narratives: a cascade in the forest
      only for an item's origin needs its tree features, not its inferred candidates).
    """
    con.complete()
    frame = pl.DataFrame({"cascade_id": pl.Series(touched, dtype=pl.String)})
    arrow_execute(
        con, "CREATE OR REPLACE TEMP TABLE _sn_touched AS SELECT cascade_id FROM _arrow", frame
    ).fetchall()
    before = flags_before
    if before is None:  # unknown: every flagged account, before or after, counts as changed
        con.execute(f"CREATE OR REPLACE TEMP TABLE _sn_acc AS SELECT account_id FROM ({FLAGS_SQL})")  # noqa: S608
    else:
        arrow_execute(
            con,
            f"CREATE OR REPLACE TEMP TABLE _sn_acc AS {FLAG_CHANGES_SQL}",
            before.select("account_id", "bot", "coordinated"),
        ).fetchall()
    # local: outside the scope a cascade kept its narrative, which its scores carry
    scope = f" SEMI JOIN {REGROUPED_TABLE} USING (cascade_id)" if local else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sn_aff_c AS
        SELECT cascade_id FROM _sn_touched
        UNION
        SELECT pc.cascade_id FROM _sn_acc a
        JOIN posts p ON p.account_id = a.account_id
        JOIN post_cascades pc ON pc.post_id = p.post_id
        UNION
        SELECT coalesce(m.cascade_id, s.cascade_id)
        FROM (SELECT cascade_id, narrative_id FROM _sn_map{scope}
              WHERE narrative_id IS NOT NULL) m
        FULL JOIN (SELECT cascade_id, narrative_id FROM cascade_scores{scope}
                   WHERE narrative_id IS NOT NULL) s ON s.cascade_id = m.cascade_id
        WHERE m.narrative_id IS DISTINCT FROM s.narrative_id
        """  # noqa: S608 -- fixed names
    )
    changed_narr = (
        "_sn_narr n FULL JOIN narratives o ON o.narrative_id = n.narrative_id"
        if not local
        # outside the scope's old and new narratives, _sn_narr is the stored narratives
        else f"""_sn_nnew n FULL JOIN (
            SELECT * FROM narratives SEMI JOIN (
                SELECT narrative_id FROM {OLD_NARRATIVES} UNION SELECT narrative_id FROM _sn_nnew
            ) x USING (narrative_id)) o ON o.narrative_id = n.narrative_id"""  # noqa: S608
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sn_aff_n AS
        SELECT m.narrative_id FROM _sn_map m SEMI JOIN _sn_aff_c USING (cascade_id)
        WHERE m.narrative_id IS NOT NULL
        UNION
        SELECT s.narrative_id FROM cascade_scores s SEMI JOIN _sn_aff_c USING (cascade_id)
        WHERE s.narrative_id IS NOT NULL
        UNION
        SELECT coalesce(n.narrative_id, o.narrative_id)
        FROM {changed_narr}
        WHERE n.label IS DISTINCT FROM o.label OR n.kind IS DISTINCT FROM o.kind
        UNION
        -- a post's parent in another cascade: the parent's narrative counts its replies
        -- and shares when a correction is answered (claim_accounts_corrected)
        SELECT m.narrative_id
        FROM _sn_touched t
        JOIN post_cascades pc ON pc.cascade_id = t.cascade_id
        JOIN posts p ON p.post_id = pc.post_id
        JOIN post_cascades pp ON pp.post_id = p.parent_id
        JOIN _sn_map m ON m.cascade_id = pp.cascade_id
        WHERE m.narrative_id IS NOT NULL
        UNION
        SELECT m.narrative_id
        FROM community_notes cn
        LEFT JOIN community_note_status st ON st.note_id = cn.note_id
        JOIN post_cascades pc ON pc.post_id = cn.post_id
        JOIN _sn_map m ON m.cascade_id = pc.cascade_id
        WHERE m.narrative_id IS NOT NULL
          AND (cn.ingest_run_id > ({LAST_RUN_SQL}) OR st.ingest_run_id > ({LAST_RUN_SQL}))
        """  # noqa: S608 -- fixed queries from this module
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _sn_aff_i AS
        SELECT item_id FROM items WHERE build_id = $b
        UNION
        SELECT item_id FROM post_items WHERE build_id = $b
        """,
        {"b": int(build_id)},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _sn_scope AS
        SELECT cascade_id FROM _sn_aff_c SEMI JOIN cascades USING (cascade_id)
        UNION
        SELECT m.cascade_id FROM _sn_map m SEMI JOIN _sn_aff_n USING (narrative_id)
        UNION
        SELECT pc.cascade_id FROM post_items pi JOIN post_cascades pc USING (post_id)
        WHERE pi.build_id = $b
        UNION
        SELECT pc.cascade_id FROM post_items pi
        JOIN post_cascades pc ON pc.post_id = pi.post_id
        SEMI JOIN (
            SELECT item_id FROM items
            ANTI JOIN (SELECT DISTINCT item_id FROM item_origin_parts) d USING (item_id)
            WHERE build_id = $b AND accounts >= $m
        ) n ON n.item_id = pi.item_id
        """,
        {"b": int(build_id), "m": int(item_min_accounts)},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _sn_amp AS
        SELECT cascade_id FROM _sn_aff_c SEMI JOIN cascades USING (cascade_id)
        UNION
        SELECT m.cascade_id FROM _sn_map m SEMI JOIN _sn_aff_n USING (narrative_id)
        """
    )
    row = con.execute(
        "SELECT (SELECT count(*) FROM _sn_acc), (SELECT count(*) FROM _sn_aff_c), "
        "(SELECT count(*) FROM _sn_aff_n), (SELECT count(*) FROM _sn_aff_i), "
        "(SELECT count(*) FROM _sn_scope)"
    ).fetchall()[0]
    names = ("flags_changed", "affected_cascades", "affected_narratives", "affected_items")
    return dict(zip((*names, "forest_cascades"), (int(x) for x in row), strict=True))


# write_narratives' two rules (the Spark engine transpiles them), over the work views
# _sn_map (cascade_id, narrative_id, via) and _sn_narr (narrative_id, label, kind):
# every post of a mapped cascade joins its narrative, the root with the cascade's via;
POST_NARRATIVES_SQL = """
    SELECT pc.post_id, m.narrative_id,
           CASE WHEN pc.parent_id IS NULL THEN m.via ELSE 'cascade' END AS via
    FROM post_cascades pc JOIN _sn_map m ON m.cascade_id = pc.cascade_id
"""
# and each narrative's counts and times from its posts.
NARRATIVE_ROWS_SQL = """
    SELECT n.narrative_id, n.label, n.kind, count(DISTINCT pc.cascade_id) AS cascades,
           count(*) AS posts, count(DISTINCT p.account_id) AS accounts,
           min(p.created_at) AS first_at, max(p.created_at) AS last_at
    FROM _sn_narr n
    JOIN post_narratives pn ON pn.narrative_id = n.narrative_id
    JOIN post_cascades pc ON pc.post_id = pn.post_id
    JOIN posts p ON p.post_id = pn.post_id
    GROUP BY n.narrative_id, n.label, n.kind
"""


def tree_posts(con: duckdb.DuckDBPyConnection, *, scoped: bool = False) -> pl.DataFrame:
    """Every post in a cascade as a row of a forest, with its account's flags.

    Columns: idx (row number, the frame is in idx order), parent_idx (the parent's
    row, -1 when the post is a root or its parent is not stored), cascade (a code
    0..k-1 in cascade_id order), post_id, narrative (a code in narrative_id order, NULL
    outside narratives), account (a code in account_id order), created_at, is_root,
    inferred (the parent link was time-inferred), conversation (a reply or below one:
    not a share), root_seen (per cascade), bot (account is_bot_like) and coordinated
    (account in a coordination cluster). Accounts without scores are not bot-like.
    :func:`tree_ids` gives the ids behind the codes.

    Why codes, not ids: the stage groups and sorts these rows by cascade, narrative
    and account (one row per post: 5M at 5M posts); integers in id order sort and
    tie-break exactly as the ids do, at a fraction of the memory of string columns.

    ``scoped``: only the cascades in ``_sn_scope`` (an incremental build's, see
    :func:`write_narratives`); codes stay in id order over that subset, so every
    per-cascade, per-narrative and per-item figure is the full forest's.
    """
    con.execute("DROP TABLE IF EXISTS _sn_nodes")
    # scoped: the rows carry what the forest's rules read of post_cascades, posts and
    # post_narratives (the forest's posts are read once, from the scope's rows that
    # write_narratives read, not by a scan of the whole table per rule)
    more = ", pc.depth, pc.account_id, pc.created_at, pc.posted, pn.narrative_id"
    con.execute(
        f"""
        CREATE TEMP TABLE _sn_nodes AS
        SELECT row_number() OVER (ORDER BY pc.cascade_id, pc.depth, pc.post_id) - 1 AS idx,
               -- the cascade's code, here over narrow rows (over the forest's wide rows
               -- the window's sort cost more than the rest of the query)
               dense_rank() OVER (ORDER BY pc.cascade_id) - 1 AS cascade,
               pc.post_id, pc.parent_id, pc.cascade_id, pc.parent_source, pc.conversation
               {more if scoped else ""}
        FROM {_post_cascades(scoped)} pc
        {"LEFT JOIN post_narratives pn ON pn.post_id = pc.post_id" if scoped else ""}
        """  # noqa: S608 -- fixed fragments from this module
    )
    return con.sql(
        f"""
        WITH f AS ({_forest(scoped)}),
             acc AS ({_account_codes(scoped)}),
             narr AS ({_narrative_codes(scoped)})
        SELECT n.idx,
               coalesce(par.idx, -1) AS parent_idx,
               n.cascade,
               f.post_id, nc.code AS narrative, ac.code AS account, f.created_at,
               f.is_root, f.inferred, f.conversation, f.root_seen, f.bot, f.coordinated
        FROM f
        JOIN _sn_nodes n ON n.post_id = f.post_id
        LEFT JOIN acc ac ON ac.account_id = f.account_id
        LEFT JOIN _sn_nodes par ON par.post_id = f.parent_id
        LEFT JOIN narr nc ON nc.narrative_id = f.narrative_id
        ORDER BY n.idx
        """  # noqa: S608 -- fixed queries from this module
    ).pl()


# Every post of a cascade with its account's flags, by id (tree_posts codes the ids;
# the Spark engine transpiles it as it is): one definition of the forest's columns.
FOREST_SQL = """
    SELECT pc.cascade_id, pc.post_id, pc.parent_id, pc.depth, pn.narrative_id, p.account_id,
           p.created_at,
           coalesce(c.root_seen, true) AS root_seen,
           pc.parent_id IS NULL AS is_root,
           coalesce(pc.parent_source = 'inferred', false) AS inferred,
           coalesce(pc.conversation, false) AS conversation,
           coalesce(s.is_bot_like, false) AS bot,
           cc.account_id IS NOT NULL AS coordinated
    FROM post_cascades pc
    JOIN posts p ON p.post_id = pc.post_id
    LEFT JOIN cascades c ON c.cascade_id = pc.cascade_id
    LEFT JOIN post_narratives pn ON pn.post_id = pc.post_id
    LEFT JOIN account_scores s ON s.account_id = p.account_id
    LEFT JOIN (SELECT DISTINCT account_id FROM coordination_clusters) cc
           ON cc.account_id = p.account_id
"""


# code i <-> the i-th id in id order; tree_posts and tree_ids must use the same sets
_ACCOUNT_CODES = """
    SELECT account_id, row_number() OVER (ORDER BY account_id) - 1 AS code
    FROM (SELECT DISTINCT account_id FROM posts)
"""
_NARRATIVE_CODES = """
    SELECT narrative_id, row_number() OVER (ORDER BY narrative_id) - 1 AS code
    FROM (SELECT DISTINCT narrative_id FROM post_narratives)
"""


# scoped: codes over the forest's accounts and narratives only (still in id order)
_FOREST_ACCOUNTS = "SELECT DISTINCT account_id FROM _sn_nodes WHERE posted"
_FOREST_NARRATIVES = "SELECT DISTINCT narrative_id FROM _sn_nodes WHERE narrative_id IS NOT NULL"


def _account_codes(scoped: bool) -> str:
    if not scoped:
        return _ACCOUNT_CODES
    return _replace_once(_ACCOUNT_CODES, "SELECT DISTINCT account_id FROM posts", _FOREST_ACCOUNTS)


def _narrative_codes(scoped: bool) -> str:
    if not scoped:
        return _NARRATIVE_CODES
    return _replace_once(
        _NARRATIVE_CODES, "SELECT DISTINCT narrative_id FROM post_narratives", _FOREST_NARRATIVES
    )


_SCOPED_POST_CASCADES = f"(SELECT * FROM {_SCOPE_ROWS} SEMI JOIN _sn_scope USING (cascade_id))"  # noqa: S608
# scoped rules read the forest's rows (_sn_nodes, which carry the posts' columns the
# rules read) for ``post_cascades pc JOIN posts p``: all of them, or (the candidates)
# those of the cascades whose reach bounds are read (see _mark_affected)
_NODES = "_sn_nodes"
_AMPLIFIED_NODES = "(SELECT * FROM _sn_nodes SEMI JOIN _sn_amp USING (cascade_id))"
_POSTED_NODES = "(SELECT * FROM _sn_nodes WHERE posted)"
_PC_POSTS = re.compile(r"FROM post_cascades pc\s+JOIN posts p ON p\.post_id = pc\.post_id")


def _post_cascades(scoped: bool) -> str:
    """The post_cascades rows the forest reads: all, or those of ``_sn_scope``."""
    return _SCOPED_POST_CASCADES if scoped else "post_cascades"


def _forest(scoped: bool) -> str:
    """FOREST_SQL, or (``scoped``) over the forest's rows (``_sn_nodes``), which carry
    their post's narrative too: post_narratives is not scanned again."""
    if not scoped:
        return FOREST_SQL
    return _replace_once(
        _scoped_forest(FOREST_SQL, scoped, _NODES),
        "LEFT JOIN post_narratives pn ON pn.post_id = pc.post_id",
        "LEFT JOIN (SELECT post_id, narrative_id FROM _sn_nodes WHERE narrative_id IS NOT NULL) pn"
        " ON pn.post_id = pc.post_id",
    )


def _scoped_forest(sql: str, scoped: bool, rows: str) -> str:
    """A shared forest rule (FOREST_SQL, CANDIDATES_SQL) over the forest's rows
    (``_sn_nodes``, built by :func:`tree_posts`) only, or ``rows`` of them, when
    ``scoped``: each of its ``FROM post_cascades pc JOIN posts p`` sources read from
    those rows instead, same rule."""
    if not scoped:
        return sql
    if not _PC_POSTS.search(sql):
        raise ValueError("the forest rule no longer reads post_cascades pc JOIN posts p")
    return _PC_POSTS.sub(f"FROM {rows} pc JOIN {_POSTED_NODES} p ON p.post_id = pc.post_id", sql)


def tree_ids(
    con: duckdb.DuckDBPyConnection, *, scoped: bool = False
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """The ids behind :func:`tree_posts`' codes: (cascade_id, narrative_id, account_id),
    each a series whose i-th value is code i's id. Needs ``_sn_nodes`` (``scoped`` as
    given to :func:`tree_posts`)."""

    def ids(sql: str) -> pl.Series:
        return con.sql(sql).pl().to_series()

    return (
        ids("SELECT DISTINCT cascade_id FROM _sn_nodes ORDER BY cascade_id"),
        ids(f"SELECT narrative_id FROM ({_narrative_codes(scoped)}) ORDER BY code"),  # noqa: S608
        ids(f"SELECT account_id FROM ({_account_codes(scoped)}) ORDER BY code"),  # noqa: S608
    )


def inferred_candidates(
    con: duckdb.DuckDBPyConnection, *, scoped: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(child idx, candidate idx): the possible parents of every time-inferred link.

    Why: the cascades stage keeps one guess per repost (the most recent candidate);
    honest reach-via-bots needs all of them. A candidate is what that stage chose
    from: a non-root post of the same cascade, earlier than the child, by an account
    the child's account follows (follow without created_at, or made no later than the
    child). Needs ``_sn_nodes`` from :func:`tree_posts`. Rows sorted by child.
    ``scoped``: the candidates in ``_sn_amp``'s cascades only (the forest's other
    cascades are there for their items' origins, which read no bounds).
    """
    res = con.sql(
        f"""
        SELECT n.idx AS child, m.idx AS candidate
        FROM ({_scoped_forest(CANDIDATES_SQL, scoped, _AMPLIFIED_NODES)}) c
        JOIN _sn_nodes n ON n.post_id = c.child
        JOIN _sn_nodes m ON m.post_id = c.candidate
        ORDER BY child, candidate
        """  # noqa: S608 -- a fixed query from this module
    ).to_arrow_table()
    return (
        res.column("child").to_numpy().astype(np.int64),
        res.column("candidate").to_numpy().astype(np.int64),
    )


# inferred_candidates' rule, by post id (cascade_id, child, candidate); the Spark engine
# transpiles it as it is.
CANDIDATES_SQL = """
    WITH r AS (
        SELECT pc.post_id, pc.cascade_id, p.account_id, p.created_at
        FROM post_cascades pc JOIN posts p ON p.post_id = pc.post_id
        WHERE pc.parent_source = 'inferred'
    ),
    s AS (
        SELECT pc.post_id, pc.cascade_id, p.account_id, p.created_at
        FROM post_cascades pc JOIN posts p ON p.post_id = pc.post_id
        WHERE pc.parent_id IS NOT NULL
          AND pc.cascade_id IN (SELECT DISTINCT cascade_id FROM r)
    )
    SELECT r.cascade_id, r.post_id AS child, s.post_id AS candidate
    FROM r
    JOIN follows f ON f.follower_id = r.account_id
    JOIN s ON s.cascade_id = r.cascade_id AND s.account_id = f.followee_id
    WHERE (f.created_at IS NULL OR f.created_at <= r.created_at)
      AND s.created_at < r.created_at
"""


def write_origins(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    origins: pl.DataFrame,
    account_origin: pl.DataFrame | None,
    *,
    scoped: bool = False,
) -> dict[str, int]:
    """Replace origin_scores and account_origin; set each narrative's top origin.

    ``scoped``: ``origins`` holds the affected narratives' candidates only
    (``_sn_aff_n``), and only their rows are rewritten. ``account_origin`` None: the
    caller writes it afterwards (from the stored candidates: :func:`account_origin_seeds`
    and :func:`write_account_origin`); ``scoped``, the affected narratives' candidates
    before the write are kept (``_sn_oold``) for it.
    """
    if scoped:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _sn_oold AS
            SELECT account_id, min(rank) AS rank FROM origin_scores
            SEMI JOIN _sn_aff_n USING (narrative_id) GROUP BY account_id
            """
        )
    sync_rows(
        con,
        "origin_scores",
        build_id,
        """
        SELECT narrative_id, account_id, rank, origin_score, first_at, reach_share,
               centrality, reasons
        FROM _arrow
        """,
        arrow=origins.to_arrow(),
        where=_AFFECTED_NARRATIVES if scoped else None,
    )
    con.execute(
        """
        UPDATE _sync_narratives SET origin_account_id = o.account_id, origin_score = o.origin_score
        FROM (SELECT narrative_id, account_id, origin_score FROM origin_scores
              WHERE rank = 1 {only}) o
        WHERE _sync_narratives.narrative_id = o.narrative_id
        """.format(only=f"AND {_AFFECTED_NARRATIVES}" if scoped else "")  # noqa: S608
    )
    if account_origin is not None:
        write_account_origin(con, build_id, account_origin)
    return origin_counts(con)


def origin_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The stored origin candidates and accounts with an origin index (build summary)."""
    rows = con.execute(
        "SELECT (SELECT count(*) FROM origin_scores), (SELECT count(*) FROM account_origin)"
    ).fetchall()[0]  # fetchall: a pending fetchone result would block the next con.sql
    return {"origin_candidates": int(rows[0]), "origin_accounts": int(rows[1])}


# sync conditions of an incremental build (fixed SQL over its temp tables)
_AFFECTED_NARRATIVES = "narrative_id IN (SELECT narrative_id FROM _sn_aff_n)"
_AFFECTED_CASCADES = "cascade_id IN (SELECT cascade_id FROM _sn_aff_c)"


def write_account_origin(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    account_origin: pl.DataFrame,
    *,
    scoped: bool = False,
) -> None:
    """Replace account_origin (account_id, origin_index, narratives_seeded); ``scoped``:
    ``account_origin`` holds the accounts of :func:`account_origin_seeds` (``scoped``)
    only, and only their rows are rewritten."""
    sync_rows(
        con,
        "account_origin",
        build_id,
        "SELECT account_id, origin_index, narratives_seeded FROM _arrow",
        arrow=account_origin.to_arrow(),
        where="account_id IN (SELECT account_id FROM _sn_oacc)" if scoped else None,
    )


def account_origin_seeds(
    con: duckdb.DuckDBPyConnection, seed_rank: int, *, scoped: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(candidates, sizes) for the origin index, from the stored origin_scores.

    ``candidates``: narrative_id, account_id, rank, origin_score of the top
    ``seed_rank`` candidates per narrative, in narrative and rank order (the order the
    full build ranks them in, so the index's products multiply in the same order);
    ``sizes``: narrative_id, posts (the narrative's posts). Why: the index spans every
    narrative an account seeded, and only the affected narratives were re-ranked.

    ``scoped`` (after :func:`write_origins` with ``scoped``): only the accounts whose
    index may have moved (``_sn_oacc``): a seed of an affected narrative before or
    after its re-ranking (an account's index reads its seeded narratives' candidates
    and sizes only, and a narrative's size changes only when it is affected).
    """
    con.complete()
    only = ""
    if scoped:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _sn_oacc AS
            SELECT account_id FROM _sn_oold WHERE rank <= $k
            UNION
            SELECT account_id FROM origin_scores
            WHERE rank <= $k AND narrative_id IN (SELECT narrative_id FROM _sn_aff_n)
            """,
            {"k": int(seed_rank)},
        )
        only = "AND account_id IN (SELECT account_id FROM _sn_oacc)"
    seeds = con.sql(
        f"""
        SELECT narrative_id, account_id, rank, origin_score FROM origin_scores
        WHERE rank <= $k {only} ORDER BY narrative_id, rank
        """,  # noqa: S608 -- fixed fragments
        params={"k": int(seed_rank)},
    ).pl()
    # a narrative's posts: counted, or (scoped) the staged count of an affected one,
    # the stored count of another (its posts did not change)
    counted = (
        """SELECT narrative_id, posts FROM _sync_narratives UNION ALL
           SELECT narrative_id, posts FROM narratives ANTI JOIN _sn_aff_n USING (narrative_id)"""
        if scoped
        else "SELECT narrative_id, count(*) AS posts FROM post_narratives GROUP BY narrative_id"
    )
    sizes = con.sql(
        f"""
        SELECT narrative_id, posts::BIGINT AS posts FROM ({counted}) n
        WHERE narrative_id IN (SELECT narrative_id FROM origin_scores WHERE rank <= $k {only})
        """,  # noqa: S608 -- fixed fragments
        params={"k": int(seed_rank)},
    ).pl()
    return seeds, sizes


def write_amplification(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    cascades: pl.DataFrame,
    narratives: pl.DataFrame,
    *,
    scoped: bool = False,
) -> dict[str, int]:
    """Replace cascade_scores; fill the amplification columns of narratives.

    ``cascades``: cascade_id, bot_share, early_bot_share, coordinated_share,
    reach_via_bots (over explicit parents), amplification_score, amplification_reasons,
    reach_via_bots_low / _high (bounds over inferred parents), inferred_edges and the
    decomposition (share_bot_only, share_coordinated_only, share_both, share_neither; narrative_id is taken
    from the stored map); ``narratives``: narrative_id and the same score columns.
    ``scoped``: ``cascades`` holds the affected cascades (``_sn_aff_c``: a cascade's
    scores read its own posts, their flags and its narrative only); only their rows
    (of those that no longer exist too) are rewritten.
    """
    sync_rows(
        con,
        "cascade_scores",
        build_id,
        """
        SELECT f.cascade_id, m.narrative_id, f.bot_share, f.early_bot_share,
               f.coordinated_share, f.reach_via_bots, f.amplification_score,
               f.amplification_reasons, f.reach_via_bots_low, f.reach_via_bots_high,
               f.inferred_edges, f.share_bot_only, f.share_coordinated_only,
               f.share_both, f.share_neither
        FROM _arrow f LEFT JOIN _sn_map m ON m.cascade_id = f.cascade_id
        """,
        arrow=cascades.to_arrow(),
        where=_AFFECTED_CASCADES if scoped else None,
    )
    arrow_execute(
        con,
        """
        UPDATE _sync_narratives SET bot_share = f.bot_share, early_bot_share = f.early_bot_share,
               coordinated_share = f.coordinated_share, reach_via_bots = f.reach_via_bots,
               amplification_score = f.amplification_score,
               amplification_reasons = f.amplification_reasons,
               share_bot_only = f.share_bot_only,
               share_coordinated_only = f.share_coordinated_only,
               share_both = f.share_both, share_neither = f.share_neither,
               reach_via_bots_low = f.reach_via_bots_low,
               reach_via_bots_high = f.reach_via_bots_high,
               inferred_edges = f.inferred_edges
        FROM _arrow f
        WHERE _sync_narratives.narrative_id = f.narrative_id
        """,
        narratives.to_arrow(),
    ).fetchall()
    n = con.execute("SELECT count(*) FROM cascade_scores").fetchall()[0][0]
    return {"cascade_scores": int(n)}


def finish(con: duckdb.DuckDBPyConnection, build_id: int, *, scoped: bool = False) -> None:
    """Write the staged narratives (their scores filled) as a difference from the stored;
    ``scoped``: the staged rows are the affected narratives', the others stay."""
    sync_table(con, "narratives", build_id, where=_AFFECTED_NARRATIVES if scoped else None)


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the stage's temp tables (they would otherwise live until the connection ends)."""
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")  # names from the fixed tuple
    for name in _WORK_VIEWS:
        con.unregister(name)
        con.execute(f"DROP VIEW IF EXISTS {name}")  # a view over stored tables


def url_hosts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The distinct host names of every stored post's URLs (column ``host``).

    The hosts of the project's one URL normaliser (``url_keys``, keyed by the items
    stage), so the hosts tested here are the hosts :func:`write_corrections` matches.
    """
    return con.sql("SELECT DISTINCT host FROM url_keys WHERE host IS NOT NULL ORDER BY host").pl()


def write_corrections(
    con: duckdb.DuckDBPyConnection, hosts: list[str], *, scoped: bool = False
) -> dict[str, int]:
    """Claim against correction per narrative, into the narratives' correction columns.

    ``hosts``: the fact-check host names (see :mod:`spreadtrace.corrections`), bound as
    the rows of the work view ``_sn_hosts``, never written into the SQL. The rules are
    :data:`FACTCHECK_POSTS_SQL`, :data:`CLAIM_POSTS_SQL` and :data:`CORRECTIONS_SQL`
    (the Spark engine runs the same three). Narratives without corrections get 0 and
    NULLs. ``scoped``: only the affected narratives' (``_sn_aff_n``: the staged ones)
    are computed.
    """
    _register(con, "_sn_hosts", pl.DataFrame({"host": hosts}, schema={"host": pl.String}))
    con.execute("DROP TABLE IF EXISTS _sn_fc")
    con.execute(f"CREATE TEMP TABLE _sn_fc AS {FACTCHECK_POSTS_SQL}")  # a fixed query
    # the narratives' posts, each a claim, a correction or neither: read twice below,
    # so computed once (a join of post_narratives with posts)
    only = "WHERE narrative_id IN (SELECT narrative_id FROM _sn_aff_n)" if scoped else ""
    claims = CLAIM_POSTS_SQL
    if scoped:  # the affected narratives' posts, from the scope's rows (see write_narratives)
        claims = _replace_once(
            claims,
            "FROM post_narratives pn",
            "FROM (SELECT * FROM post_narratives SEMI JOIN _sn_aff_n USING (narrative_id)) pn",
        )
        claims = _replace_once(
            claims,
            "JOIN posts p ON p.post_id = pn.post_id",
            "JOIN (SELECT post_id, account_id, created_at, post_parent_id AS parent_id"  # noqa: S608
            f" FROM {_SCOPE_ROWS} WHERE posted) p ON p.post_id = pn.post_id",
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _sn_np AS SELECT * FROM ({claims}) c {only}"  # noqa: S608
    )
    # the figures first, into a table, then one plain UPDATE: DuckDB planned the UPDATE
    # over this three-way join ~20x slower than the join and the update apart
    con.execute(f"CREATE OR REPLACE TEMP TABLE _sn_corr AS {CORRECTIONS_SQL}")  # a fixed query
    con.execute(
        """
        UPDATE _sync_narratives SET
            claim_posts = c.claim_posts, claim_accounts = c.claim_accounts,
            correction_posts = c.correction_posts, correction_accounts = c.correction_accounts,
            first_correction_at = c.first_correction_at,
            correction_delay_s = c.correction_delay_s,
            notes = c.notes, first_note_shown_at = c.first_note_shown_at,
            is_correction = c.is_correction,
            claim_accounts_corrected = c.claim_accounts_corrected
        FROM _sn_corr c
        WHERE _sync_narratives.narrative_id = c.narrative_id
        """
    )
    n = con.execute("SELECT count(*) FROM _sn_fc").fetchall()[0][0]
    con.execute("DROP TABLE _sn_np")
    con.execute("DROP TABLE _sn_corr")
    return {"correction_posts": int(n)}


# The corrections' three rules, run by both engines (the Spark engine transpiles them).
# FACTCHECK_POSTS_SQL, over posts, url_keys and _sn_hosts(host), the fact-check hosts:
# the correction posts (_sn_fc). A post carrying a URL on a fact-check host is one; a
# repost or quote of it passes the correction on.
FACTCHECK_POSTS_SQL = """
    WITH carrying AS (
        SELECT DISTINCT s.post_id
        FROM (SELECT post_id, unnest(urls) AS url FROM posts WHERE array_length(urls) > 0) s
        JOIN url_keys k ON k.url = s.url
        JOIN _sn_hosts h ON h.host = k.host
    )
    SELECT post_id FROM carrying
    UNION
    SELECT p.post_id FROM posts p JOIN carrying c ON p.parent_id = c.post_id
    WHERE p.kind IN ('repost', 'quote')
"""
# CLAIM_POSTS_SQL, over post_narratives, posts and _sn_fc: the narratives' posts (_sn_np),
# each a correction (corr), a claim, or neither (a reply to a correction).
CLAIM_POSTS_SQL = """
    SELECT pn.narrative_id, p.post_id, p.account_id, p.created_at,
           fc.post_id IS NOT NULL AS corr,
           fc.post_id IS NULL AND pf.post_id IS NULL AS claim
    FROM post_narratives pn
    JOIN posts p ON p.post_id = pn.post_id
    LEFT JOIN _sn_fc fc ON fc.post_id = p.post_id
    LEFT JOIN _sn_fc pf ON pf.post_id = p.parent_id
"""
# CORRECTIONS_SQL, over _sn_np, posts, post_narratives, community_notes and
# community_note_status: one row per narrative with its correction columns. Claim and
# correction posts and accounts; the first correction's time and its delay after the
# claim's first post; the share of the claim's accounts who, after their first claim
# post, shared or replied to a correction post of the narrative (a post whose parent is
# one) or posted one themselves. Community Notes that call a post of the narrative
# misleading are corrections too: ``notes``, ``first_note_shown_at`` (first rated
# helpful), and the first correction is the earlier of the first correction post and
# the first such note written. A narrative made mostly of correction posts (a
# fact-check article shared around) is itself a correction narrative.
CORRECTIONS_SQL = """
    SELECT a.narrative_id,
        a.claim_posts, a.claim_accounts, a.correction_posts, a.correction_accounts,
        least(a.first_correction_at, cn.first_note_at) AS first_correction_at,
        epoch(least(a.first_correction_at, cn.first_note_at)) - epoch(a.first_claim_at)
            AS correction_delay_s,
        coalesce(cn.notes, 0) AS notes, cn.first_note_shown_at,
        a.correction_posts > a.claim_posts AS is_correction,
        coalesce(l.n, 0)::DOUBLE / greatest(a.claim_accounts, 1) AS claim_accounts_corrected
    FROM (
        SELECT narrative_id,
               count(*) FILTER (WHERE claim) AS claim_posts,
               count(DISTINCT account_id) FILTER (WHERE claim) AS claim_accounts,
               count(*) FILTER (WHERE corr) AS correction_posts,
               count(DISTINCT account_id) FILTER (WHERE corr) AS correction_accounts,
               min(created_at) FILTER (WHERE corr) AS first_correction_at,
               min(created_at) FILTER (WHERE claim) AS first_claim_at
        FROM _sn_np GROUP BY narrative_id
    ) AS a
    LEFT JOIN (
        SELECT cl.narrative_id, count(DISTINCT cl.account_id) AS n
        FROM (
            SELECT narrative_id, account_id, min(created_at) AS first_at
            FROM _sn_np WHERE claim GROUP BY narrative_id, account_id
        ) AS cl
        JOIN (
            SELECT c.narrative_id, p.account_id, p.created_at AS at
            FROM _sn_np c JOIN posts p ON p.parent_id = c.post_id WHERE c.corr
            UNION ALL
            SELECT narrative_id, account_id, created_at AS at FROM _sn_np WHERE corr
        ) AS t
          ON t.narrative_id = cl.narrative_id AND t.account_id = cl.account_id
         AND t.at > cl.first_at
        GROUP BY cl.narrative_id
    ) AS l ON l.narrative_id = a.narrative_id
    LEFT JOIN (
        -- Community Notes saying a post of the narrative is misleading
        SELECT pn.narrative_id, count(*) AS notes, min(n.created_at) AS first_note_at,
               min(s.first_shown_at) AS first_note_shown_at
        FROM community_notes n
        JOIN post_narratives pn ON pn.post_id = n.post_id
        LEFT JOIN community_note_status s ON s.note_id = n.note_id
        WHERE n.classification = 'MISINFORMED_OR_POTENTIALLY_MISLEADING'
        GROUP BY pn.narrative_id
    ) AS cn ON cn.narrative_id = a.narrative_id
"""

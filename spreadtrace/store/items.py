"""Items in SQL: the build's normalised URLs, and the items every post carries.

Why here: only ``spreadtrace.store`` talks to DuckDB. URLs are normalised once per
build by the project's one normaliser (:mod:`spreadtrace.urls`) over the *distinct*
raw URLs not yet keyed (far fewer than posts), into ``url_keys``; coordination and
narratives both read that table, so a link is the same item for every stage.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from spreadtrace.store.builds import LAST_RUN_SQL
from spreadtrace.store.media import ITEM_POSTS_SQL, ITEMS_SQL
from spreadtrace.store.narratives import FLAG_CHANGES_SQL
from spreadtrace.store.sync import arrow_execute, sync_rows
from spreadtrace.urls import url_keys

__all__ = [
    "URL_KEYS_SQL",
    "POST_ITEMS_SQL",
    "ITEM_ROWS_SQL",
    "NARRATIVE_ORIGIN_ITEMS_SQL",
    "OWN_ITEMS_SQL",
    "ROOT_KEYS_SQL",
    "fill_item_shares",
    "item_post_rows",
    "write_item_origins",
    "refresh_url_keys",
    "write_narrative_origin_items",
    "url_key_frame",
    "write_items",
]

# The (url, key) pairs of the build, for joins: ``JOIN (URL_KEYS_SQL) k ON k.url = ...``.
URL_KEYS_SQL = "SELECT url, key, shortener FROM url_keys"

# The stage's item rules, in portable DuckDB SQL over named tables (``posts``,
# ``url_keys``, ``post_media``, ``media_groups``, ``post_items`` and the text items
# ``_ik_text(post_id, item_id)``), run by both engines: here as they are, on Spark
# transpiled by sqlglot (spreadtrace.spark.items).
# Every post's items: its keyed URLs, its hashtags (lower case, without '#'), its media
# groups and its text group; distinct.
POST_ITEMS_SQL = f"""
SELECT DISTINCT post_id, item_id FROM (
    SELECT s.post_id, 'url:' || k.key AS item_id
    FROM (SELECT post_id, unnest(urls) AS u FROM posts WHERE urls IS NOT NULL) AS s
    JOIN url_keys AS k ON k.url = s.u
    WHERE k.key IS NOT NULL
    UNION ALL
    SELECT post_id, 'hashtag:' || tag AS item_id FROM (
        SELECT post_id, lower(ltrim(h, '#')) AS tag FROM (
            SELECT post_id, unnest(hashtags) AS h FROM posts WHERE hashtags IS NOT NULL
        ) AS x
    ) AS t
    WHERE tag <> ''
    UNION ALL
    {ITEM_POSTS_SQL}
    UNION ALL
    SELECT post_id, item_id FROM _ik_text
) AS a
"""  # noqa: S608 -- fixed fragments
# Per item: its kind and label, its earliest post (ties: smallest post_id), that post's
# account, and the distinct posts and accounts carrying it (post_items rows are distinct).
ITEM_ROWS_SQL = f"""
SELECT i.item_id, split_part(i.item_id, ':', 1) AS kind,
       CASE split_part(i.item_id, ':', 1)
            WHEN 'url' THEN substr(i.item_id, 5)
            WHEN 'hashtag' THEN '#' || substr(i.item_id, 9)
            WHEN 'media' THEN coalesce(m.label, substr(i.item_id, 7))
            ELSE left(coalesce(p0.text, ''), 200) END AS label,
       i.first_post_id, p0.account_id AS first_account_id, i.first_at, i.posts, i.accounts
FROM (
    SELECT pi.item_id,
           arg_min(p.post_id, struct_pack(t := p.created_at, id := p.post_id)) AS first_post_id,
           min(p.created_at) AS first_at,
           count(*) AS posts,
           count(DISTINCT p.account_id) AS accounts
    FROM post_items AS pi JOIN posts AS p ON p.post_id = pi.post_id
    GROUP BY pi.item_id
) AS i
JOIN posts AS p0 ON p0.post_id = i.first_post_id
LEFT JOIN ({ITEMS_SQL}) AS m ON m.item_id = i.item_id
"""  # noqa: S608 -- fixed fragments


# The posts ingested since the newest finished build (every post before any): what an
# incremental build adds; stored posts never change, and a build that deletes posts
# (erasure, retention) is a full one.
NEW_POSTS_SQL = f"SELECT post_id FROM posts WHERE ingest_run_id > ({LAST_RUN_SQL})"  # noqa: S608


def refresh_url_keys(
    con: duckdb.DuckDBPyConnection, build_id: int, *, new_posts_only: bool = False
) -> int:
    """Key every distinct posted URL not yet in ``url_keys``; return how many were added.

    Incremental on purpose: a raw URL's key never changes while the rule does not, so a
    build only normalises the URLs new since the last one. ``new_posts_only`` (an
    incremental build): only the URLs of the posts new since the last finished build
    are looked at, every earlier post's being keyed by then (its build keyed them in
    its transaction); scanning every post's URLs cost ~2 s of a 1% run at 5M posts.
    """
    con.complete()
    scope = f"AND ingest_run_id > ({LAST_RUN_SQL})" if new_posts_only else ""
    new = con.sql(
        f"""
        SELECT DISTINCT u AS url FROM (
            SELECT unnest(urls) AS u FROM posts WHERE len(urls) > 0 {scope})
        WHERE u IS NOT NULL AND u NOT IN (SELECT url FROM url_keys)
        """  # noqa: S608 -- a fixed condition of the store layer
    ).pl()
    if new.height == 0:
        return 0
    keyed = url_keys(new["url"]).with_columns(build_id=pl.lit(build_id, dtype=pl.Int64))
    arrow_execute(  # not a registered view: it would live until the build commits
        con,
        "INSERT INTO url_keys (url, key, host, shortener, build_id) "
        "SELECT url, key, host, shortener, build_id FROM _arrow",
        keyed.to_arrow(),
    ).fetchall()
    return keyed.height


# url_key_frame(roots_only=True): the (url, key) pairs of the cascade roots' URLs.
# array_length, not len: sqlglot reads len as a string's length (the Spark engine
# transpiles this query); on a list DuckDB's two are the same function.
ROOT_KEYS_SQL = """
    SELECT url, key FROM url_keys
    SEMI JOIN (SELECT unnest(p.urls) AS u FROM posts p
               JOIN post_cascades pc ON pc.post_id = p.post_id
               WHERE array_length(p.urls) > 0 AND pc.depth <= 1) r ON r.u = url_keys.url
"""


def url_key_frame(con: duckdb.DuckDBPyConnection, *, roots_only: bool = False) -> pl.DataFrame:
    """The stored (url, key) pairs; ``roots_only``: just the URLs of cascade roots.

    The narratives stage needs only its roots' URLs (memory: reposts repeat links).
    """
    con.complete()
    if not roots_only:
        return con.sql("SELECT url, key FROM url_keys").pl()
    return con.sql(ROOT_KEYS_SQL).pl()


# write_items(scoped=True): the items of the post_items rows written (``_arrow``); the
# rule's post_items narrowed to them, the sync limited to them
_ITEM_SCOPE = "item_id IN (SELECT item_id FROM _arrow)"
_SCOPED_POST_ITEMS = f"SELECT * FROM post_items WHERE {_ITEM_SCOPE}"  # noqa: S608


# write_items(scoped=True): the post_items rows that can have moved: a post's URL and
# hashtag items are a function of the post alone (and url_keys, whose rows never
# change), so only the new posts' are compared; its media and text groups are
# re-formed over old posts too, so those rows are compared whole
_NEW_OR_REGROUPED = (
    "NOT (starts_with(item_id, 'url:') OR starts_with(item_id, 'hashtag:')) "
    f"OR post_id IN ({NEW_POSTS_SQL})"
)


# ... and with the text groups re-formed only where a text changed: the text rows of
# those roots only (``_arrow``: their post_ids, see write_items)
_NEW_OR_REGROUPED_TEXT = f"""
    CASE WHEN starts_with(item_id, 'url:') OR starts_with(item_id, 'hashtag:')
              THEN post_id IN ({NEW_POSTS_SQL})
         WHEN starts_with(item_id, 'text:') THEN post_id IN (SELECT post_id FROM _arrow)
         ELSE true END
"""  # noqa: S608 -- fixed fragments


def _replace_once(sql: str, old: str, new: str) -> str:
    """``sql`` with its one ``old`` fragment replaced (a shared rule narrowed to a scope)."""
    if sql.count(old) != 1:
        raise ValueError(f"expected one {old!r} in the query")
    return sql.replace(old, new)


def write_items(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    text_items: pl.DataFrame | None = None,
    *,
    scoped: bool = False,
    text_posts: pa.Table | None = None,
) -> dict[str, int]:
    """Replace post_items and items: every post's URLs, hashtags, media and text group.

    Computed whole, written as the difference from the stored rows
    (:mod:`spreadtrace.store.sync`): an item keeps its stored bot and coordinated
    shares until :func:`fill_item_shares` updates the ones that changed.

    ``text_items`` (post_id, item_id) are the near-duplicate text groups
    (:func:`spreadtrace.graph.narratives.text_items`); URL items come from
    ``url_keys``, media items from the media stage (:data:`media.ITEM_POSTS_SQL`).
    Item ids are ``kind:key``. Per item: its earliest post (ties: smallest post_id), that
    post's account, and the distinct posts and accounts carrying it.

    ``scoped`` (an incremental build): only the item rows that can have moved are
    recomputed: the items of the post_items rows just written. An item's row is a
    function of its posts, and stored posts do not change; a media item's label too
    (its group's earliest post's text). Of the post_items rows, the URL and hashtag
    rows of the new posts only are computed and compared; the media rows whole (media
    groups of old posts can change); the text rows whole, or, given ``text_posts``
    (post_id: the roots of the text groups the build re-formed, and the roots that
    went), only those posts' (``text_items`` then holds just the re-formed groups).
    """
    refresh_url_keys(con, build_id, new_posts_only=scoped)
    con.complete()
    frame = text_items
    if frame is None:
        frame = pl.DataFrame(schema={"post_id": pl.String, "item_id": pl.String})
    con.register("_ik_text", frame.select("post_id", "item_id").to_arrow())
    written: list[pa.Table] = []
    post_items_sql, post_items_scope = POST_ITEMS_SQL, None
    if scoped:  # the URL and hashtag rows of the new posts only (see above)
        for column in ("urls", "hashtags"):
            post_items_sql = _replace_once(
                post_items_sql,
                f"FROM posts WHERE {column} IS NOT NULL",
                f"FROM posts WHERE {column} IS NOT NULL AND post_id IN ({NEW_POSTS_SQL})",
            )
        post_items_scope = _NEW_OR_REGROUPED if text_posts is None else _NEW_OR_REGROUPED_TEXT
    try:
        sync_rows(
            con,
            "post_items",
            build_id,
            f"SELECT post_id, item_id FROM ({post_items_sql}) AS x",  # noqa: S608
            arrow=text_posts,
            where=post_items_scope,
            written=written if scoped else None,
        )
    finally:
        con.unregister("_ik_text")
    rows_sql = ITEM_ROWS_SQL
    scope = None
    if scoped:  # the rule's own query over the scope's items (see above)
        rows_sql = _replace_once(
            rows_sql, "FROM post_items AS pi JOIN", f"FROM ({_SCOPED_POST_ITEMS}) AS pi JOIN"
        )
        scope = pa.table({"item_id": pc.unique(written[0]["item_id"])})
    sync_rows(
        con,
        "items",
        build_id,
        f"""
        SELECT r.*, old.bot_share, old.coordinated_share
        FROM ({rows_sql}) AS r LEFT JOIN items old ON old.item_id = r.item_id
        """,  # noqa: S608 -- fixed fragments
        arrow=scope,
        where=_ITEM_SCOPE if scoped else None,
    )
    rows = con.execute(
        "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM post_items)"
    ).fetchall()[0]
    return {"items": int(rows[0]), "post_items": int(rows[1])}


def fill_item_shares(
    con: duckdb.DuckDBPyConnection, build_id: int, flags_before: pl.DataFrame | None = None
) -> int:
    """Fill the items' bot and coordinated shares from this build's account flags;
    return how many items changed.

    The items stage's finish step: it runs after the accounts stage, which flags the
    accounts (as the media stage's finish does for media groups). Only items whose
    shares changed are written, and they take ``build_id`` as every writer's rows do:
    what reads the rows a build changed (a snapshot's delta) finds them by it.

    ``flags_before`` (an incremental build: the flagged accounts before the accounts
    stage, :func:`spreadtrace.store.narratives.account_flags`): only the items whose
    shares can have moved are recomputed: an item's shares are the mean flags of its
    posts' accounts, so those whose posts changed (this build wrote their item or
    post_items rows) and those with a post by an account whose flags changed.
    """
    con.complete()
    scope, arrow = "", None
    if flags_before is not None:
        scope = f"""
            WHERE pi.item_id IN (
                SELECT item_id FROM items WHERE build_id = $build
                UNION SELECT item_id FROM post_items WHERE build_id = $build
                UNION SELECT i.item_id FROM post_items i JOIN posts q ON q.post_id = i.post_id
                SEMI JOIN ({FLAG_CHANGES_SQL}) a ON a.account_id = q.account_id)
        """  # noqa: S608 -- fixed queries
        arrow = flags_before.select("account_id", "bot", "coordinated")
    # the shares first, into a temp table (an aggregate DuckDB spills), then the UPDATE
    # joins the items with it: in one statement the aggregate over every post's items
    # stayed pinned beside the update's own memory, and a build ran out of memory in
    # this last step at 300 MB of DuckDB limit per million posts (bench/RESULTS.md, mem)
    arrow_execute(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _item_shares AS
        SELECT pi.item_id,
               avg(CASE WHEN coalesce(s.is_bot_like, false) THEN 1.0 ELSE 0.0 END)
                   AS bot_share,
               avg(CASE WHEN cc.account_id IS NOT NULL THEN 1.0 ELSE 0.0 END)
                   AS coordinated_share
        FROM post_items pi
        JOIN posts p ON p.post_id = pi.post_id
        LEFT JOIN account_scores s ON s.account_id = p.account_id
        LEFT JOIN (SELECT DISTINCT account_id FROM coordination_clusters) cc
               ON cc.account_id = p.account_id
        {scope}
        GROUP BY pi.item_id
        """,  # noqa: S608 -- fixed fragments
        arrow,
        {"build": int(build_id)} if scope else None,
    ).fetchall()
    try:
        (changed,) = con.execute(
            """
            UPDATE items SET bot_share = f.bot_share,
                             coordinated_share = f.coordinated_share, build_id = $build
            FROM _item_shares f
            WHERE items.item_id = f.item_id
              AND (items.bot_share IS DISTINCT FROM f.bot_share
                   OR items.coordinated_share IS DISTINCT FROM f.coordinated_share)
            """,
            {"build": int(build_id)},
        ).fetchall()[0]
    finally:
        con.execute("DROP TABLE IF EXISTS _item_shares")
    return int(changed)


def write_narrative_origin_items(
    con: duckdb.DuckDBPyConnection, build_id: int, *, scoped: bool = False
) -> None:
    """Make narrative_origin_items hold each narrative's earliest item of its own.

    Runs after the narratives and item origins writes; the rule is
    :data:`NARRATIVE_ORIGIN_ITEMS_SQL` (the Spark engine runs it too). Only the rows
    that differ are written (:func:`spreadtrace.store.sync.sync_rows`): the table is
    keyed by narrative, and a delete + insert of every row costs an index churn at the
    commit.

    ``scoped`` (an incremental build): only the narratives whose answer may have moved
    are compared: the affected narratives (the narratives stage's ``_sn_aff_n``) and
    those with a post carrying an affected item (``_sn_aff_i``: its posts, counts or
    origins changed).
    """
    con.complete()
    rule = f"SELECT narrative_id, item_id, account_id FROM ({NARRATIVE_ORIGIN_ITEMS_SQL}) x"  # noqa: S608
    if not scoped:
        sync_rows(con, "narrative_origin_items", build_id, rule)
        return
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _sn_noi AS
        SELECT narrative_id FROM _sn_aff_n
        UNION
        SELECT pn.narrative_id FROM post_items pi
        JOIN items i ON i.item_id = pi.item_id
        JOIN post_narratives pn ON pn.post_id = pi.post_id
        SEMI JOIN _sn_aff_i a ON a.item_id = pi.item_id
        WHERE i.kind IN ('url', 'text', 'media')
        """
    )
    # the rule's own query over the narratives' posts only (a narrative's answer reads
    # its own posts and their items' rows): DuckDB did not push the filter below the
    # aggregate, so every narrative's items were counted, then filtered; nor did it
    # join their posts' items before every post's items with every item)
    only = "narrative_id IN (SELECT narrative_id FROM _sn_noi)"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _sn_noip AS SELECT * FROM post_narratives WHERE {only}"  # noqa: S608
    )
    for old, new in (
        ("FROM post_narratives pn", "FROM _sn_noip pn"),
        (
            "JOIN post_items pi",
            "JOIN (SELECT * FROM post_items SEMI JOIN _sn_noip USING (post_id)) pi",
        ),
    ):
        if rule.count(old) != 1:
            raise ValueError(f"the rule no longer reads {old!r}")
        rule = rule.replace(old, new)
    sync_rows(con, "narrative_origin_items", build_id, rule, where=only)
    con.execute("DROP TABLE _sn_noip")


# write_narrative_origin_items' rule, over post_narratives, post_items, items and
# item_origin_scores (the Spark engine transpiles it): a narrative's origin item is its
# earliest url, text or media item of its own -- at least half of the item's posts are
# in the narrative (a template text shared by many stories is no one's) -- hashtags
# being topics, not sources; ties break on the item id. Its account is that item's top
# origin candidate (item_origin_scores rank 1), else the item's first poster.
NARRATIVE_ORIGIN_ITEMS_SQL = """
    SELECT o.narrative_id, o.item_id, coalesce(c.account_id, i.first_account_id) AS account_id,
           i.build_id
    FROM (
        SELECT narrative_id, arg_min(item_id, struct_pack(t := first_at, id := item_id))
                   AS item_id
        FROM (
            SELECT pn.narrative_id, i.item_id, i.first_at, i.posts,
                   count(DISTINCT pn.post_id) AS inside
            FROM post_narratives pn
            JOIN post_items pi ON pi.post_id = pn.post_id
            JOIN items i ON i.item_id = pi.item_id
            WHERE i.kind IN ('url', 'text', 'media')
            GROUP BY pn.narrative_id, i.item_id, i.first_at, i.posts
        ) AS per_item
        WHERE 2 * inside >= posts
        GROUP BY narrative_id
    ) AS o
    JOIN items i ON i.item_id = o.item_id
    LEFT JOIN item_origin_scores c ON c.item_id = o.item_id AND c.rank = 1
"""


# item_post_rows' rule (the Spark engine transpiles it): the items posted by $m accounts
# or more, on their posts in cascades.
OWN_ITEMS_SQL = """
    SELECT pc.cascade_id, pi.post_id, pi.item_id
    FROM post_items pi
    JOIN items i ON i.item_id = pi.item_id
    JOIN post_cascades pc ON pc.post_id = pi.post_id
    WHERE i.accounts >= $m
"""


def item_post_rows(
    con: duckdb.DuckDBPyConnection, *, min_accounts: int = 2
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """(post row, item code) of every post carrying an item posted by ``min_accounts``+.

    Rows are the forest rows of :func:`spreadtrace.store.narratives.tree_posts` (needs
    its ``_sn_nodes``), sorted by row; item codes index the returned (item, item_id)
    frame. An item one account posted has that account as its only candidate, so it is
    not ranked (its origin is ``items.first_account_id``). Every ranked item: the
    forest (``_sn_nodes``) limits the rows to its posts, which, in an incremental
    build, are those whose item origin parts are recomputed.
    """
    con.complete()
    con.execute("DROP TABLE IF EXISTS _it_codes")
    con.execute(
        """
        CREATE TEMP TABLE _it_codes AS
        SELECT item_id, (row_number() OVER (ORDER BY item_id) - 1)::BIGINT AS item
        FROM items WHERE accounts >= $m
        """,
        {"m": int(min_accounts)},
    )
    try:
        rows = con.sql(
            f"""
            SELECT n.idx::BIGINT AS idx, c.item
            FROM ({OWN_ITEMS_SQL}) o
            JOIN _it_codes c ON c.item_id = o.item_id
            JOIN _sn_nodes n ON n.post_id = o.post_id
            ORDER BY n.idx, c.item
            """,  # noqa: S608 -- a fixed query from this module
            params={"m": int(min_accounts)},
        ).fetchnumpy()
        ids = con.sql("SELECT item, item_id FROM _it_codes ORDER BY item").pl()
    finally:
        con.execute("DROP TABLE IF EXISTS _it_codes")
    return rows["idx"].astype(np.int64), rows["item"].astype(np.int64), ids


def write_item_origins(
    con: duckdb.DuckDBPyConnection, build_id: int, origins: pl.DataFrame, *, scoped: bool = False
) -> dict[str, int]:
    """Make item_origin_scores equal to ``origins`` (item_id, account_id, rank, ...),
    writing only the rows that differ (:func:`spreadtrace.store.sync.sync_rows`).

    ``scoped``: ``origins`` ranks the affected items (``_sn_aff_i``) only: their rows
    and those of items that no longer exist are replaced, the others stay.
    """
    con.complete()
    sync_rows(
        con,
        "item_origin_scores",
        build_id,
        """
        SELECT item_id, account_id, rank, origin_score, first_at, reach_share,
               centrality, reasons
        FROM _arrow
        """,
        arrow=origins.to_arrow(),
        where=(
            "item_id IN (SELECT item_id FROM _sn_aff_i) "
            "OR item_id NOT IN (SELECT item_id FROM items)"
            if scoped
            else None
        ),
    )
    rows = con.execute(
        "SELECT count(*), count(DISTINCT item_id) FROM item_origin_scores"
    ).fetchall()[0]
    return {"item_origin_candidates": int(rows[0]), "items_ranked": int(rows[1])}

"""Read-only queries of the dashboard's media page (on a published snapshot).

Why apart from :mod:`spreadtrace.store.dashboard_queries`: the media page is one
feature with its own tables (media_groups, post_media, media); keeping its SQL here keeps
edits to the shared module small. Same rules: allow-listed sort columns, bound values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import polars as pl

from spreadtrace.store.dashboard_queries import _order, _pl, _select, _ts

__all__ = [
    "MEDIA_GROUP_COLUMNS",
    "media_group_table",
    "media_group_info",
    "media_group_posts",
    "media_group_accounts",
    "media_group_links",
    "media_items",
    "local_file",
]

Con = duckdb.DuckDBPyConnection

MEDIA_GROUP_COLUMNS: dict[str, str] = {
    "media_group_id": "g.media_group_id",
    "kind": "g.kind",
    "copies": "len(g.media_ids)",
    "posts": "g.posts",
    "accounts": "g.accounts",
    "platforms": "array_to_string(g.platforms, ' ')",
    "first_at": _ts("g.first_at"),
    "first_account_id": "g.first_account_id",
    "reused_after_days": "round(g.reused_after_days, 1)",
    "out_of_context": "g.out_of_context",
    "bot_share": "round(g.bot_share, 3)",
    "coordinated_share": "round(g.coordinated_share, 3)",
    "label": "g.label",
}


def media_group_table(
    con: Con, *, sort: Sequence[tuple[str, str]] = (), limit: int | None = 15, offset: int = 0
) -> tuple[pl.DataFrame, int]:
    """Media groups, sorted (default: most posts first), one page, and the total."""
    total = con.execute("SELECT count(*) FROM media_groups").fetchall()[0][0]
    order = _order(MEDIA_GROUP_COLUMNS, list(sort), "g.posts DESC, g.media_group_id")
    sql = f"SELECT {_select(MEDIA_GROUP_COLUMNS)} FROM media_groups g ORDER BY {order}"  # noqa: S608
    params: list[object] = []
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [int(limit), int(offset)]
    return _pl(con.execute(sql, params)), int(total)


def media_group_info(con: Con, group_id: str) -> dict[str, Any] | None:
    """One media group's row (with the first poster's handle), or None."""
    cur = con.execute(
        "SELECT g.*, a.handle AS first_handle FROM media_groups g "
        "LEFT JOIN accounts a ON a.account_id = g.first_account_id WHERE g.media_group_id = ?",
        [group_id],
    )
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def media_group_posts(con: Con, group_id: str, limit: int = 5000) -> pl.DataFrame:
    """The group's posts in time order: who, when, where, the words, reuse flags, and
    the cascade and narrative each post belongs to."""
    return _pl(
        con.execute(
            f"""
            SELECT pm.post_id, p.account_id, a.handle, {_ts("p.created_at")} AS created_at,
                   p.created_at AS t, p.platform, pm.media_id, left(p.text, 200) AS text,
                   round(pm.reuse_gap_days, 1) AS reuse_gap_days, pm.out_of_context,
                   pc.cascade_id, pn.narrative_id,
                   coalesce(s.is_bot_like, false) AS bot_like
            FROM post_media pm JOIN posts p ON p.post_id = pm.post_id
            LEFT JOIN accounts a ON a.account_id = p.account_id
            LEFT JOIN post_cascades pc ON pc.post_id = pm.post_id
            LEFT JOIN (SELECT post_id, min(narrative_id) AS narrative_id FROM post_narratives
                       GROUP BY post_id) pn ON pn.post_id = pm.post_id
            LEFT JOIN account_scores s ON s.account_id = p.account_id
            WHERE pm.media_group_id = ?
            ORDER BY p.created_at, pm.post_id
            LIMIT ?
            """,  # noqa: S608 -- a fixed expression
            [group_id, int(limit)],
        )
    )


def media_group_accounts(con: Con, group_id: str) -> pl.DataFrame:
    """The accounts that carried the group: posts, first time, platform, bot score."""
    return _pl(
        con.execute(
            f"""
            SELECT p.account_id, any_value(a.handle) AS handle, count(*) AS posts,
                   {_ts("min(p.created_at)")} AS first_at, any_value(p.platform) AS platform,
                   round(any_value(s.bot_score), 3) AS bot_score,
                   any_value(c.cluster_id) AS cluster_id
            FROM post_media pm JOIN posts p ON p.post_id = pm.post_id
            LEFT JOIN accounts a ON a.account_id = p.account_id
            LEFT JOIN account_scores s ON s.account_id = p.account_id
            LEFT JOIN coordination_clusters c ON c.account_id = p.account_id
            WHERE pm.media_group_id = ?
            GROUP BY p.account_id ORDER BY min(p.created_at), p.account_id
            """,  # noqa: S608 -- a fixed expression
            [group_id],
        )
    )


def media_group_links(con: Con, group_id: str) -> pl.DataFrame:
    """The cascades and narratives the group's posts belong to, with post counts."""
    return _pl(
        con.execute(
            """
            SELECT 'cascade' AS kind, pc.cascade_id AS id, count(*) AS posts
            FROM post_media pm JOIN post_cascades pc ON pc.post_id = pm.post_id
            WHERE pm.media_group_id = ? GROUP BY pc.cascade_id
            UNION ALL
            SELECT 'narrative', pn.narrative_id, count(DISTINCT pm.post_id)
            FROM post_media pm JOIN post_narratives pn ON pn.post_id = pm.post_id
            WHERE pm.media_group_id = ? GROUP BY pn.narrative_id
            ORDER BY kind, posts DESC, id
            """,
            [group_id, group_id],
        )
    )


def media_items(con: Con, group_id: str) -> pl.DataFrame:
    """The group's media items and whether a local file was hashed for each."""
    return _pl(
        con.execute(
            """
            SELECT pm.media_id, any_value(m.kind) AS kind, count(*) AS posts,
                   bool_or(m.local_path IS NOT NULL) AS has_file
            FROM post_media pm LEFT JOIN media m ON m.media_id = pm.media_id
            WHERE pm.media_group_id = ?
            GROUP BY pm.media_id ORDER BY min(pm.post_id), pm.media_id
            """,
            [group_id],
        )
    )


def local_file(con: Con, media_id: str) -> tuple[str, str | None] | None:
    """(local_path, kind) the store recorded for ``media_id`` when hashing it, or None.

    The path comes from the store, never from the request: the dashboard serves only
    files ``media hash`` read.
    """
    row = con.execute(
        "SELECT local_path, kind FROM media WHERE media_id = ? AND local_path IS NOT NULL LIMIT 1",
        [media_id],
    ).fetchone()
    return None if row is None else (row[0], row[1])

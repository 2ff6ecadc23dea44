# ruff: noqa: S608 -- only allow-listed identifiers and fixed fragments are spliced; values are bound
"""The dashboard's reads: every SQL statement the Dash app runs, with bound parameters.

Why here: only ``spreadtrace.store`` talks to DuckDB. Each function takes a connection
(a cursor on a read-only snapshot, see :mod:`spreadtrace.store.snapshot`) and returns a
polars frame or plain values. Values are always bound as parameters; the only
identifiers spliced into SQL (sort columns) come from fixed allow-lists.

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     create_read_model(store.con)
...     headline(store.con)["cascades"]
0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

__all__ = [
    "CascadeFilter",
    "CASCADE_COLUMNS",
    "NARRATIVE_COLUMNS",
    "ACCOUNT_COLUMNS",
    "headline",
    "READ_MODEL",
    "READ_MODEL_KEYS",
    "create_read_model",
    "platforms",
    "narrative_options",
    "cascade_table",
    "size_counts",
    "bot_share_by_size",
    "narrative_table",
    "cascade_info",
    "cascade_nodes",
    "cascade_posts",
    "account_info",
    "account_posts",
    "account_cascades",
    "accounts_table",
    "narrative_info",
    "narrative_origins",
    "narrative_timeline",
    "cluster_table",
    "cluster_pairs",
    "status",
    "resolve_pseudonym",
    "post_text",
    "search_terms",
    "search",
    "SEARCH_LIMIT",
    "cluster_evidence",
    "cascade_flagged_accounts",
    "narrative_flagged_accounts",
    "narrative_clusters",
    "narrative_items",
    "data_range",
    "alerts",
    "spreading_narratives",
    "MIN_NARRATIVE_POSTS",
    "MIN_NARRATIVE_ACCOUNTS",
    "coordination_params",
    "narrative_account_network",
]

Con = duckdb.DuckDBPyConnection


def _pl(cur: Con) -> pl.DataFrame:
    """The result of an executed statement as a polars frame.

    Why a DB-API result, though DuckDB 2.0.1 warns that its Arrow output makes an
    extra copy (the rows are taken out of the result and read back through a
    statement): none of the copy-free paths fits the dashboard's connections.

    - ``con.execute(sql, params).pl()``: a connection has no ``pl`` (only a relation
      has); ``fetch_arrow_table`` is likewise a relation's, not a connection's.
    - ``con.sql(sql, params=...).pl()`` (a relation, no copy, no warning) raises
      ``ResourceInUseException`` while the connection holds an unfinished
      ``execute()`` result, and a ``fetchone()`` of a one-row lookup leaves exactly
      that (it is finished only by a fetch that returns no row). The lookups here
      (a cascade, a post's text, a pseudonym) do, and one request runs several
      queries on its one cursor (``SnapshotReader.lease``).
    - the copy costs nothing here: results are pages (at most a few thousand rows);
      measured at 50 rows, execute + Arrow 2.4 ms vs relation ``pl()`` 3.3 ms; only at
      200k rows does the copy show (18 vs 13 ms).

    ``tests/test_search.py`` pins these facts, so an upgrade that changes them fails
    there and this can switch. The warning is not silenced: ``warnings`` filters are
    process-wide and the dashboard serves requests on threads.
    """
    return pl.DataFrame(pl.from_arrow(cur.to_arrow_table()))


def _ts(col: str) -> str:
    # An allow-listed column expression rendered as ISO 8601 UTC text for the browser.
    return f"strftime({col}, '%Y-%m-%dT%H:%M:%SZ')"


# Columns of the overview's cascade table, in display order: name -> SQL expression.
CASCADE_COLUMNS: dict[str, str] = {
    "cascade_id": "c.cascade_id",
    "root_text": "c.root_text",  # looked up for the page (cascade_table)
    "size": "c.size",
    "accounts": "c.accounts",
    "depth": "c.depth",
    "structural_virality": "round(c.structural_virality, 2)",
    "platform": "c.platform",
    "first_at": _ts("c.first_at"),
    "narrative_id": "c.narrative_id",
    "bot_share": "round(c.bot_share, 3)",
    "coordinated_share": "round(c.coordinated_share, 3)",
    "amplification_score": "round(c.amplification_score, 3)",
    "amplification_reasons": "c.amplification_reasons",
    "root_account_id": "c.root_account_id",
}
NARRATIVE_COLUMNS: dict[str, str] = {
    "narrative_id": "n.narrative_id",
    "label": "n.label",
    "kind": "n.kind",
    "cascades": "n.cascades",
    "posts": "n.posts",
    "accounts": "n.accounts",
    "first_at": _ts("n.first_at"),
    "origin_account_id": "n.origin_account_id",
    "origin_score": "round(n.origin_score, 3)",
    "bot_share": "round(n.bot_share, 3)",
    "amplification_score": "round(n.amplification_score, 3)",
    "amplification_reasons": "n.amplification_reasons",
}
ACCOUNT_COLUMNS: dict[str, str] = {
    "account_id": "s.account_id",
    "handle": "s.handle",
    "posts": "s.posts",
    "reposts": "s.reposts",
    "bot_score": "round(s.bot_score, 3)",
    "bot_state": "s.bot_state",  # bot-like | not bot-like | insufficient evidence
    "is_bot_like": "s.is_bot_like",
    "bot_reasons": "s.bot_reasons",
    "coordination_score": "round(s.coordination_score, 3)",
    "cluster_id": "s.cluster_id",
    "origin_index": "round(s.origin_index, 3)",
    "narratives_seeded": "s.narratives_seeded",
}


def _order(columns: dict[str, str], sort: list[tuple[str, str]], default: str) -> str:
    """ORDER BY from (column, asc|desc) pairs, keeping only allow-listed names."""
    parts = []
    for col, direction in sort:
        if col in columns:
            d = "ASC" if direction == "asc" else "DESC"
            parts.append(f'"{col}" {d} NULLS LAST')
    parts.append(default)
    return ", ".join(parts)


def _select(columns: dict[str, str]) -> str:
    return ", ".join(f'{expr} AS "{name}"' for name, expr in columns.items())


@dataclass(frozen=True)
class CascadeFilter:
    """The overview's filters; None (or 0) means "no constraint"."""

    start: date | None = None
    end: date | None = None
    platform: str | None = None
    narrative_id: str | None = None
    min_size: int = 0
    min_bot_share: float = 0.0
    min_amplification: float = 0.0

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause over ``dash_cascades c`` and its params."""
        clauses, params = ["TRUE"], list[object]()
        if self.start is not None:
            clauses.append("c.first_at >= ?")
            params.append(self.start)
        if self.end is not None:
            clauses.append("c.first_at < ?")
            params.append(self.end + timedelta(days=1))
        if self.platform:
            clauses.append("c.platform = ?")
            params.append(self.platform)
        if self.narrative_id:
            clauses.append("c.narrative_id = ?")
            params.append(self.narrative_id)
        if self.min_size:
            clauses.append("c.size >= ?")
            params.append(int(self.min_size))
        if self.min_bot_share:
            clauses.append("c.bot_share >= ?")
            params.append(float(self.min_bot_share))
        if self.min_amplification:
            clauses.append("c.amplification_score >= ?")
            params.append(float(self.min_amplification))
        return " AND ".join(clauses), params


_CASCADES_FROM = "dash_cascades c"


_TERM_SPLIT = r"[^\p{L}\p{N}_]+"
"""What separates search terms (RE2): everything but letters, digits and ``_``, so
``#Climate``, ``@user_1`` and ``https://ex.com/a`` give ``climate``, ``user_1``,
``https``, ``ex``, ``com``, ``a``. The one tokenizer of both the index and the query."""
_MAX_TERM = 64
_GRAM = 3
"""Length (characters) of the pieces the account search indexes handles and names by."""

POST_DOC = """(ingest_run_id::BIGINT << 32)
          | (row_number() OVER (PARTITION BY ingest_run_id ORDER BY post_id) - 1)"""
"""A post's number in the search index: its ingest run in the high 32 bits, its rank by
``post_id`` within the run in the low ones. Numbers sort like post ids within a run and
never change once the run is stored (a run is never appended to), and a sorted list of
them costs ~1.5 bytes a posting (delta-encoded) against ~6 for the id text."""

READ_MODEL: dict[str, str] = {
    # The snapshot's posts (``posts`` is a view of it without ``doc``), in id order:
    # the search index points into it by ``doc``.
    "dash_post_rows": f"SELECT *, {POST_DOC} AS doc FROM posts ORDER BY post_id",
    # The overview's cascades: one wide table, largest first, so a filter or a top-N
    # is one scan with no join (2.3M cascades: a join per request cost ~1-2 s). It is
    # also the snapshot's only copy of ``cascades`` and ``cascade_scores`` (views over
    # it, :func:`store_views`; ``_cascade`` / ``_scored`` mark which rows each has), and
    # it holds no root text (the page looks up the texts of its own rows in ``posts``).
    "dash_cascade_rows": """
        SELECT coalesce(c.cascade_id, s.cascade_id) AS cascade_id,
               c.* EXCLUDE (cascade_id), s.* EXCLUDE (cascade_id, build_id),
               s.build_id AS score_build_id,
               c.cascade_id IS NOT NULL AS _cascade, s.cascade_id IS NOT NULL AS _scored
        FROM cascades c FULL JOIN cascade_scores s ON s.cascade_id = c.cascade_id
        ORDER BY c.size DESC, 1
    """,
    "dash_accounts": """
        SELECT s.account_id, a.handle, s.posts, s.reposts, s.bot_score, s.is_bot_like,
               s.bot_reasons, k.cluster_id, o.origin_index, o.narratives_seeded,
               s.coordination_score, s.bot_evidence,
               CASE WHEN s.bot_evidence = 'insufficient' THEN 'insufficient evidence'
                    WHEN s.is_bot_like THEN 'bot-like' ELSE 'not bot-like' END AS bot_state
        FROM account_scores s LEFT JOIN accounts a USING (account_id)
        LEFT JOIN (SELECT account_id, min(cluster_id) AS cluster_id
                   FROM coordination_clusters GROUP BY 1) k USING (account_id)
        LEFT JOIN account_origin o USING (account_id)
        ORDER BY s.bot_score DESC, s.account_id
    """,
    # Every post with its place in its cascade, stored in cascade order so that
    # `WHERE cascade_id = ?` reads a few row groups (zone maps) instead of 5M rows. It
    # is also the snapshot's only copy of ``post_cascades`` (a view over it).
    "dash_node_rows": """
        SELECT pc.*, p.account_id, p.created_at, p.post_id IS NOT NULL AS _posted
        FROM post_cascades pc LEFT JOIN posts p USING (post_id)
        ORDER BY pc.cascade_id
    """,
    # The search index (no fts extension offline): each post's terms (text, URLs and
    # hashtags split by _TERM_SPLIT) with their count, by the post's ``doc`` number
    # (:data:`POST_DOC`), stored in (term, doc) order so that `WHERE term IN (...)` reads a
    # few row groups. ``len`` (the post's number of terms, for BM25) is on every row,
    # so a query reads its terms' rows and nothing else. Each post's term counts come
    # from its own list (a histogram), so no hash table over every (term, post) pair
    # is built: only the sort remains (same rows, 1.4-2.1 s vs 2.5-2.7 s at 200k posts
    # on one thread).
    "dash_search_terms": f"""
        SELECT e.key AS term, doc, e.value::INTEGER AS tf, len::INTEGER AS len
        FROM (SELECT doc, len(ts) AS len,
                     unnest(map_entries(list_aggregate(ts, 'histogram'))) AS e
              FROM (SELECT doc, list_filter(regexp_split_to_array(lower(concat_ws(' ', text,
                               array_to_string(urls, ' '), array_to_string(hashtags, ' '))),
                           '{_TERM_SPLIT}'), lambda t: t <> '' AND length(t) <= {_MAX_TERM}) AS ts
                    FROM dash_post_rows))
        ORDER BY 1, 2
    """,
    # Per part of the index: its documents and terms, for BM25's N and mean length.
    "dash_search_docs": """
        SELECT count(DISTINCT doc) AS docs, coalesce(sum(tf), 0)::BIGINT AS terms
        FROM dash_search_terms
    """,
    # Search hits -> their cascade and narratives, stored in post_id order so that
    # `WHERE post_id IN (...)` of a page of hits reads a few row groups, not 5M rows.
    # A cascade's size, narrative and root post by its id (search results), in id order.
    "dash_cascade_keys": """
        SELECT cascade_id, size, narrative_id, root_post_id FROM dash_cascade_rows
        WHERE _cascade ORDER BY cascade_id
    """,
    # By search number (``doc``), so the hits' numbers give their post ids, cascade
    # and narratives in one lookup; every post has a row (cascade NULL if none).
    "dash_post_index": """
        SELECT r.doc, r.post_id, pc.cascade_id, pn.narrative_ids
        FROM dash_post_rows r LEFT JOIN post_cascades pc USING (post_id)
        LEFT JOIN (SELECT post_id, list(DISTINCT narrative_id ORDER BY narrative_id)
                       AS narrative_ids
                   FROM post_narratives GROUP BY 1) pn USING (post_id)
        ORDER BY r.doc
    """,
    # What an account hit shows beside its name (and what the index below
    # carries of dash_accounts), by account id (id order, small groups).
    "dash_account_keys": """
        SELECT account_id, posts, bot_state FROM dash_accounts ORDER BY account_id
    """,
    # The account search's index: one row per distinct 3-character piece (:data:`_GRAM`)
    # of each account's lowercased handle and display name, carrying what a hit shows
    # and is ranked by, in gram order (small row groups). An account whose handle or
    # name holds the query holds every piece of it, so the rows of any one piece (the
    # rarest: dash_account_gram_counts) hold every match, and nothing else is read.
    "dash_account_grams": f"""
        SELECT g.gram, g.account_id, a.handle, a.display_name, s.posts, s.bot_state
        FROM (SELECT DISTINCT substr(t, i, {_GRAM}) AS gram, account_id
              FROM (SELECT account_id, t, unnest(range(1, length(t) - {_GRAM - 2})) AS i
                    FROM (SELECT account_id, lower(handle) AS t FROM accounts
                          UNION ALL SELECT account_id, lower(display_name) FROM accounts)
                    WHERE length(t) >= {_GRAM})) g
        JOIN accounts a USING (account_id) LEFT JOIN dash_account_keys s USING (account_id)
        ORDER BY 1, 2
    """,
    "dash_account_gram_counts": """
        SELECT gram, count(*) AS accounts FROM dash_account_grams GROUP BY 1 ORDER BY 1
    """,
    # Narrative labels split like the posts (all query terms must be in the label).
    "dash_narrative_terms": f"""
        SELECT DISTINCT term, narrative_id
        FROM (SELECT narrative_id,
                     unnest(regexp_split_to_array(lower(label), '{_TERM_SPLIT}')) AS term
              FROM narratives)
        WHERE term <> '' AND length(term) <= {_MAX_TERM}
        ORDER BY 1, 2
    """,
    "dash_search_stats": """
        SELECT coalesce(sum(docs), 0)::BIGINT AS n,
               coalesce(sum(terms) / nullif(sum(docs), 0), 1.0) AS avgdl
        FROM dash_search_docs
    """,
    "dash_headline": """
        SELECT (SELECT count(*) FROM posts) AS posts,
               (SELECT count(DISTINCT account_id) FROM posts) AS accounts,
               (SELECT count(*) FROM cascades) AS cascades,
               (SELECT count(*) FROM cascades WHERE size >= 10) AS cascades_10,
               (SELECT count(*) FROM narratives) AS narratives,
               (SELECT count(*) FROM account_scores WHERE is_bot_like) AS bot_like,
               (SELECT count(DISTINCT cluster_id) FROM coordination_clusters) AS clusters,
               (SELECT max(build_id) FROM builds) AS build_id,
               (SELECT strftime(max(finished_at), '%Y-%m-%d %H:%M UTC') FROM builds)
                   AS built_at
    """,
}
"""The dashboard's read model: tables computed once per snapshot by :func:`create_read_model`
(called by :func:`spreadtrace.store.snapshot.publish`), so that requests are single
scans. Names start with ``dash_``; they exist only in snapshots."""

READ_MODEL_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "dash_cascade_rows": (("cascade_id",), "size DESC, cascade_id"),
    "dash_node_rows": (("post_id",), "cascade_id"),
    "dash_post_index": (("doc",), "doc"),
    "dash_cascade_keys": (("cascade_id",), "cascade_id"),
    "dash_accounts": (("account_id",), "bot_score DESC, account_id"),
    "dash_account_keys": (("account_id",), "account_id"),
    "dash_account_grams": (("gram", "account_id"), "gram, account_id"),
    "dash_account_gram_counts": (("gram",), "gram"),
    "dash_narrative_terms": (("term", "narrative_id"), "term, narrative_id"),
}
"""The read-model tables a snapshot may keep as a base file plus the rows changed since
(:mod:`spreadtrace.store.snapshot`): each one's row key (unique, never NULL) and the
order its files are written in (the ORDER BY of its SQL, by column name)."""

READ_VIEWS: dict[str, str] = {
    "dash_cascades": "SELECT * EXCLUDE (_cascade, _scored) FROM dash_cascade_rows WHERE _cascade",
    "dash_nodes": """
        SELECT cascade_id, post_id, parent_id, parent_source, depth, descendants, account_id,
               created_at, coalesce(conversation, false) AS conversation
        FROM dash_node_rows WHERE _posted
    """,
}
"""Read-model tables served as views (projections) of the stored ones: what requests
read under these names, with no second copy on disk."""

VIEWED_TABLES = ("cascades", "cascade_scores", "post_cascades", "posts")
"""Store tables a snapshot serves as views of its read model (:func:`store_views`),
not as files of their own: their rows are already in ``dash_cascade_rows`` /
``dash_node_rows`` / ``dash_post_rows``."""


def store_views(columns: dict[str, list[str]]) -> dict[str, str]:
    """The SQL of the :data:`VIEWED_TABLES` views in a snapshot, given each table's
    columns in the store (so a column added by a migration is served too).

    >>> store_views({"cascades": ["cascade_id", "size"],
    ...              "cascade_scores": ["cascade_id", "build_id"],
    ...              "post_cascades": ["post_id"], "posts": ["post_id"]})["cascade_scores"]
    'SELECT "cascade_id", "score_build_id" AS "build_id" FROM dash_cascade_rows WHERE _scored'
    """
    cascades = ", ".join(f'"{c}"' for c in columns["cascades"])
    scores = ", ".join(
        '"score_build_id" AS "build_id"' if c == "build_id" else f'"{c}"'
        for c in columns["cascade_scores"]
    )
    nodes = ", ".join(f'"{c}"' for c in columns["post_cascades"])
    posts = ", ".join(f'"{c}"' for c in columns["posts"])
    return {
        "cascades": f"SELECT {cascades} FROM dash_cascade_rows WHERE _cascade",
        "cascade_scores": f"SELECT {scores} FROM dash_cascade_rows WHERE _scored",
        "post_cascades": f"SELECT {nodes} FROM dash_node_rows",
        "posts": f"SELECT {posts} FROM dash_post_rows",
    }


def create_read_model(con: Con) -> None:
    """Create the :data:`READ_MODEL` tables and :data:`READ_VIEWS` in the connection's
    current database."""
    for name, sql in READ_MODEL.items():
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
    for name, sql in READ_VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")


def headline(con: Con) -> dict[str, Any]:
    """Headline counts for the overview: posts, accounts, cascades, narratives, bots, build."""
    cur = con.execute("SELECT * FROM dash_headline")
    return dict(zip([d[0] for d in cur.description], cur.fetchall()[0], strict=True))


def platforms(con: Con) -> list[str]:
    """Platforms present in the cascades, for the filter."""
    rows = con.execute(
        "SELECT DISTINCT platform FROM cascades WHERE platform IS NOT NULL ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def narrative_options(con: Con, limit: int = 500) -> list[tuple[str, str]]:
    """(narrative_id, label) of the largest narratives, for the filter."""
    return con.execute(
        "SELECT narrative_id, label FROM narratives ORDER BY posts DESC, narrative_id LIMIT ?",
        [limit],
    ).fetchall()


def cascade_table(
    con: Con,
    flt: CascadeFilter,
    *,
    sort: Sequence[tuple[str, str]] = (),
    limit: int | None = 25,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """One page of the filtered, sorted cascades and the total number matching."""
    where, params = flt.where()
    total = con.execute(f"SELECT count(*) FROM {_CASCADES_FROM} WHERE {where}", params).fetchall()[
        0
    ][0]
    order = _order(CASCADE_COLUMNS, list(sort), "c.size DESC, c.cascade_id")
    by_text = any(col == "root_text" for col, _ in sort)
    # the root texts of the page's rows only, looked up by id (the read model keeps
    # one copy of each text, in posts); sorting by the text joins them all
    columns = {
        **CASCADE_COLUMNS,
        "root_text": "rp.text" if by_text else "NULL::VARCHAR",
        "_root_post_id": "c.root_post_id",
    }
    frm = _CASCADES_FROM
    if by_text:
        frm += " LEFT JOIN posts rp ON rp.post_id = c.root_post_id"
    sql = f"SELECT {_select(columns)} FROM {frm} WHERE {where} ORDER BY {order}"
    page_params = list(params)
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        page_params += [int(limit), int(offset)]
    page = _pl(con.execute(sql, page_params))
    if not by_text:
        roots = [r for r in page["_root_post_id"].to_list() if r is not None]
        text = _values_by_id(con, "posts", "post_id", "text", roots)
        page = page.with_columns(root_text=_column_from("_root_post_id", text, pl.String))
    return page.drop("_root_post_id"), int(total)


def size_counts(con: Con, flt: CascadeFilter) -> pl.DataFrame:
    """How many filtered cascades have each size (for the CCDF)."""
    where, params = flt.where()
    return _pl(
        con.execute(
            f"SELECT c.size AS size, count(*) AS n FROM {_CASCADES_FROM} WHERE {where} "
            "GROUP BY 1 ORDER BY 1",
            params,
        )
    )


def bot_share_by_size(con: Con, flt: CascadeFilter, bins: int = 20) -> pl.DataFrame:
    """Counts of filtered cascades per (log2 size bin, bot share bin): a 2-D histogram."""
    where, params = flt.where()
    return _pl(
        con.execute(
            f"""
        SELECT floor(log2(c.size))::INTEGER AS size_bin,
               least(floor(c.bot_share * ?), ? - 1)::INTEGER AS share_bin,
               count(*) AS n
        FROM {_CASCADES_FROM} WHERE {where} AND c.bot_share IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
            [bins, bins, *params],
        )
    )


def narrative_table(
    con: Con,
    *,
    narrative_id: str | None = None,
    sort: Sequence[tuple[str, str]] = (),
    limit: int | None = 25,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """Narratives (all, or one), sorted, one page, and the total."""
    where, params = (
        ("n.narrative_id = ?", list[object]([narrative_id])) if narrative_id else ("TRUE", [])
    )
    total = con.execute(f"SELECT count(*) FROM narratives n WHERE {where}", params).fetchall()[0][0]
    order = _order(NARRATIVE_COLUMNS, list(sort), "n.posts DESC, n.narrative_id")
    sql = f"SELECT {_select(NARRATIVE_COLUMNS)} FROM narratives n WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, int(limit), int(offset)]
    return _pl(con.execute(sql, params)), int(total)


def cascade_info(con: Con, cascade_id: str) -> dict[str, Any] | None:
    """One cascade's row joined with its scores, or None if there is no such cascade."""
    cur = con.execute(
        """
        SELECT c.*, s.narrative_id, s.bot_share, s.early_bot_share, s.coordinated_share,
               s.reach_via_bots, s.amplification_score, s.amplification_reasons,
               s.share_bot_only, s.share_coordinated_only, s.share_both, s.share_neither,
               a.handle AS root_handle,
               (SELECT text FROM posts WHERE post_id = c.root_post_id) AS root_text
        FROM cascades c LEFT JOIN cascade_scores s USING (cascade_id)
        LEFT JOIN accounts a ON a.account_id = c.root_account_id
        WHERE c.cascade_id = ?
        """,
        [cascade_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def cascade_nodes(con: Con, cascade_id: str) -> pl.DataFrame:
    """Every post of a cascade with its account, bot score and reasons, root first.

    Columns: post_id, parent_id, parent_source, depth, descendants, account_id, handle,
    created_at (UTC), t (seconds since the cascade's first post), bot_score,
    is_bot_like, bot_reasons, cluster_id, conversation (a reply or below one: not a
    share). (The text is in :func:`cascade_posts`.)
    """
    return _pl(
        con.execute(
            """
            SELECT n.post_id, n.parent_id, n.parent_source, n.depth, n.descendants,
                   n.account_id, a.handle, n.created_at,
                   epoch(n.created_at) - epoch(min(n.created_at) OVER ()) AS t,
                   coalesce(s.bot_score, 0.0) AS bot_score,
                   coalesce(s.is_bot_like, false) AS is_bot_like,
                   coalesce(s.bot_reasons, 'not scored') AS bot_reasons,
                   s.cluster_id, n.conversation
            FROM dash_nodes n
            LEFT JOIN accounts a ON a.account_id = n.account_id
            LEFT JOIN dash_accounts s ON s.account_id = n.account_id
            WHERE n.cascade_id = ?
            ORDER BY n.depth, n.created_at, n.post_id
            """,
            [cascade_id],
        )
    )


def cascade_posts(con: Con, cascade_id: str) -> pl.DataFrame:
    """Every post of a cascade for download: place in the tree, account, scores, text."""
    return _pl(
        con.execute(
            f"""
            SELECT n.post_id, n.parent_id, n.parent_source, n.depth, n.descendants,
                   n.account_id, a.handle, {_ts("n.created_at")} AS created_at,
                   round(s.bot_score, 3) AS bot_score, s.is_bot_like, s.bot_reasons,
                   s.cluster_id, p.text
            FROM dash_nodes n
            JOIN posts p ON p.post_id = n.post_id AND p.account_id = n.account_id
            LEFT JOIN accounts a ON a.account_id = n.account_id
            LEFT JOIN dash_accounts s ON s.account_id = n.account_id
            WHERE n.cascade_id = ?
            ORDER BY n.depth, n.created_at, n.post_id
            """,
            [cascade_id],
        )
    )


def account_info(con: Con, account_id: str) -> dict[str, Any] | None:
    """An account's profile, bot score and reasons, cluster and origin index."""
    cur = con.execute(
        """
        SELECT ids.account_id, a.handle, a.display_name, a.followers_count, a.following_count,
               a.platform, strftime(a.created_at, '%Y-%m-%d') AS created,
               s.posts, s.reposts, s.bot_score, s.is_bot_like, s.bot_reasons,
               s.cluster_id, k.cluster_size, s.origin_index, s.narratives_seeded,
               s.bot_evidence, s.coordination_score
        FROM (SELECT ?::VARCHAR AS account_id) ids
        LEFT JOIN accounts a USING (account_id)
        LEFT JOIN dash_accounts s USING (account_id)
        LEFT JOIN coordination_clusters k
               ON k.account_id = ids.account_id AND k.cluster_id = s.cluster_id
        WHERE a.account_id IS NOT NULL OR s.account_id IS NOT NULL
        """,
        [account_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def account_posts(con: Con, account_id: str, limit: int | None = 500) -> pl.DataFrame:
    """An account's shares, newest first, with the cascade each sits in."""
    sql = f"""
        SELECT p.post_id, {_ts("p.created_at")} AS created_at, p.kind, pc.cascade_id,
               pc.depth, pc.descendants AS reach, p.parent_id, left(p.text, 280) AS text
        FROM posts p LEFT JOIN post_cascades pc USING (post_id)
        WHERE p.account_id = ?
        ORDER BY p.created_at DESC, p.post_id
    """
    params: list[Any] = [account_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return _pl(con.execute(sql, params))


def account_cascades(con: Con, account_id: str, limit: int | None = 500) -> pl.DataFrame:
    """Cascades the account amplified (shared into, not started), largest first."""
    sql = f"""
        SELECT pc.cascade_id, count(*) AS shares, {_ts("min(p.created_at)")} AS first_share_at,
               min(pc.depth) AS min_depth, any_value(c.size) AS size,
               any_value(s.narrative_id) AS narrative_id,
               round(any_value(s.bot_share), 3) AS bot_share,
               round(any_value(s.amplification_score), 3) AS amplification_score
        FROM posts p JOIN post_cascades pc USING (post_id)
        JOIN cascades c ON c.cascade_id = pc.cascade_id
        LEFT JOIN cascade_scores s ON s.cascade_id = pc.cascade_id
        WHERE p.account_id = ? AND pc.depth > 0
        GROUP BY pc.cascade_id
        ORDER BY size DESC, pc.cascade_id
    """
    params: list[Any] = [account_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return _pl(con.execute(sql, params))


def accounts_table(
    con: Con,
    *,
    search: str | None = None,
    min_bot_score: float = 0.0,
    sort: Sequence[tuple[str, str]] = (),
    limit: int | None = 25,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """Scored accounts, filtered by id/handle substring and minimum bot score."""
    clauses, params = ["TRUE"], list[object]()
    if search:
        clauses.append("(s.account_id ILIKE ? ESCAPE '\\' OR s.handle ILIKE ? ESCAPE '\\')")
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [like, like]
    if min_bot_score:
        clauses.append("s.bot_score >= ?")
        params.append(float(min_bot_score))
    frm = "dash_accounts s"
    where = " AND ".join(clauses)
    total = con.execute(f"SELECT count(*) FROM {frm} WHERE {where}", params).fetchall()[0][0]
    order = _order(ACCOUNT_COLUMNS, list(sort), "s.bot_score DESC, s.account_id")
    sql = f"SELECT {_select(ACCOUNT_COLUMNS)} FROM {frm} WHERE {where} ORDER BY {order}"
    page_params = list(params)
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        page_params += [int(limit), int(offset)]
    return _pl(con.execute(sql, page_params)), int(total)


def narrative_info(con: Con, narrative_id: str) -> dict[str, Any] | None:
    """One narrative's row."""
    cur = con.execute("SELECT * FROM narratives WHERE narrative_id = ?", [narrative_id])
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))


def narrative_origins(con: Con, narrative_id: str, limit: int = 50) -> pl.DataFrame:
    """The origin ranking of a narrative with reasons, best first."""
    return _pl(
        con.execute(
            f"""
        SELECT o.rank, o.account_id, a.handle, round(o.origin_score, 3) AS origin_score,
               {_ts("o.first_at")} AS first_at, round(o.reach_share, 3) AS reach_share,
               round(o.centrality, 3) AS centrality, o.reasons
        FROM origin_scores o LEFT JOIN accounts a USING (account_id)
        WHERE o.narrative_id = ? ORDER BY o.rank, o.account_id LIMIT ?
        """,
            [narrative_id, limit],
        )
    )


def narrative_timeline(con: Con, narrative_id: str) -> pl.DataFrame:
    """Posts per hour in a narrative, split into bot-like and other accounts."""
    return _pl(
        con.execute(
            """
        SELECT date_trunc('hour', p.created_at) AS hour,
               count(*) FILTER (WHERE coalesce(s.is_bot_like, false)) AS bots,
               count(*) FILTER (WHERE NOT coalesce(s.is_bot_like, false)) AS others
        FROM post_narratives n JOIN posts p USING (post_id)
        LEFT JOIN account_scores s ON s.account_id = p.account_id
        WHERE n.narrative_id = ?
        GROUP BY 1 ORDER BY 1
        """,
            [narrative_id],
        )
    )


def cluster_table(con: Con, limit: int | None = 500) -> pl.DataFrame:
    """Coordination clusters with their statistics, largest first."""
    sql = """
        WITH m AS (
            SELECT k.cluster_id, any_value(k.cluster_size) AS size,
                   round(avg(s.bot_score), 3) AS mean_bot_score,
                   count(*) FILTER (WHERE s.is_bot_like) AS bot_like
            FROM coordination_clusters k LEFT JOIN account_scores s USING (account_id)
            GROUP BY 1),
        p AS (
            SELECT cluster_id, count(*) AS pairs, round(avg(strength), 3) AS mean_strength,
                   max(shared_items) AS max_shared_items,
                   sum(shared_items) AS shared_items
            FROM coordination_pairs WHERE cluster_id IS NOT NULL GROUP BY 1)
        SELECT m.cluster_id, m.size, coalesce(p.pairs, 0) AS pairs,
               round(coalesce(p.pairs, 0) / greatest(m.size * (m.size - 1) / 2, 1), 3)
                   AS density,
               p.mean_strength, p.max_shared_items, m.mean_bot_score, m.bot_like
        FROM m LEFT JOIN p USING (cluster_id)
        ORDER BY m.size DESC, p.mean_strength DESC NULLS LAST, m.cluster_id
    """
    params: list[Any] = []
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return _pl(con.execute(sql, params))


def cluster_pairs(con: Con, cluster_id: str | None, limit: int = 5000) -> pl.DataFrame:
    """Co-share pairs of one cluster (or the strongest overall), with handles and scores."""
    where, params = ("p.cluster_id = ?", [cluster_id]) if cluster_id else ("TRUE", [])
    return _pl(
        con.execute(
            f"""
        SELECT p.account_a, p.account_b, p.shared_items, round(p.strength, 3) AS strength,
               p.cluster_id,
               aa.handle AS handle_a, ab.handle AS handle_b,
               coalesce(sa.bot_score, 0.0) AS bot_a, coalesce(sb.bot_score, 0.0) AS bot_b
        FROM coordination_pairs p
        LEFT JOIN accounts aa ON aa.account_id = p.account_a
        LEFT JOIN accounts ab ON ab.account_id = p.account_b
        LEFT JOIN account_scores sa ON sa.account_id = p.account_a
        LEFT JOIN account_scores sb ON sb.account_id = p.account_b
        WHERE {where}
        ORDER BY p.strength DESC, p.account_a, p.account_b
        LIMIT ?
        """,
            [*params, limit],
        )
    )


def status(con: Con) -> dict[str, Any]:
    """What a snapshot holds, for monitoring: newest build and counts that must agree.

    In a snapshot of a whole build every post sits in exactly one cascade, so
    ``posts == post_cascades == cascade_posts`` (cascade sizes count shares; the
    conversation posts, replies and below, are added back).
    """
    row = con.execute(
        """
        SELECT (SELECT max(build_id) FROM builds),
               (SELECT max(build_id) FROM cascades),
               (SELECT count(*) FROM posts),
               (SELECT count(*) FROM post_cascades),
               (SELECT coalesce(sum(size), 0) FROM cascades)
                 + (SELECT count(*) FROM post_cascades WHERE conversation),
               (SELECT count(*) FROM cascades)
        """
    ).fetchall()[0]
    keys = ("build_id", "cascades_build_id", "posts", "post_cascades", "cascade_posts", "cascades")
    return dict(zip(keys, row, strict=True))


# Where the raw value behind each kind of pseudonym can be found (viewer role).
_PSEUDONYM_SOURCES: dict[str, str] = {
    "account": "SELECT account_id AS v FROM accounts UNION SELECT account_id FROM dash_accounts"
    " UNION SELECT DISTINCT account_id FROM posts",
    "post": "SELECT post_id AS v FROM posts UNION SELECT cascade_id FROM cascades",
    "narrative": "SELECT narrative_id AS v FROM narratives",
    "cluster": "SELECT DISTINCT cluster_id AS v FROM coordination_clusters",
}


def resolve_pseudonym(con: Con, kind: str, pseudonym: str, ipad: bytes, opad: bytes) -> str | None:
    """The raw id whose keyed pseudonym (same HMAC as the reports) is ``pseudonym``.

    Why: a viewer only ever sees pseudonyms, so the links they click carry pseudonyms;
    the app maps one back to open the page. One vectorised scan of the candidate ids
    (DuckDB computes the HMACs), bound parameters only.
    """
    from spreadtrace.store.report_queries import pseudonym_sql

    source = _PSEUDONYM_SOURCES[kind]
    row = con.execute(
        f"SELECT v FROM ({source}) WHERE v IS NOT NULL AND {pseudonym_sql(kind, 'v')} = $p LIMIT 1",
        {"p": pseudonym, "ipad": ipad, "opad": opad},
    ).fetchone()
    return None if row is None else str(row[0])


def post_text(con: Con, post_id: str) -> str | None:
    """One post's text (None if the post or its text is missing)."""
    row = con.execute("SELECT text FROM posts WHERE post_id = ?", [post_id]).fetchone()
    return None if row is None else row[0]


SEARCH_LIMIT = 20
"""Results shown per group on the search page."""
_BM25_K1, _BM25_B = 1.2, 0.75


def search_terms(con: Con, q: str) -> list[str]:
    """The distinct terms of a query, split exactly as the index was (:data:`_TERM_SPLIT`).

    >>> search_terms(duckdb.connect(), "#Vaccine  https://EX.com")
    ['vaccine', 'https', 'ex', 'com']
    """
    rows = con.execute(
        f"""SELECT term FROM (SELECT unnest(regexp_split_to_array(lower(?), '{_TERM_SPLIT}'))
                              AS term, generate_subscripts(regexp_split_to_array(lower(?),
                              '{_TERM_SPLIT}'), 1) AS i)
            WHERE term <> '' AND length(term) <= {_MAX_TERM}
            GROUP BY term ORDER BY min(i)""",
        [q, q],
    ).fetchall()
    return [r[0] for r in rows]


SEARCH_BASIS = 100
"""Cascades and narratives are ranked by how many of the best this-many matching posts
(BM25) they hold: counting every match of a frequent word (445,673 posts for "this" at
5M) per cascade is a join over the whole index; the page says so."""


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


def _values_by_id(con: Con, table: str, key: str, value: str, ids: list[Any]) -> dict[Any, Any]:
    """``{id: value}`` of the rows of ``table`` whose ``key`` is one of ``ids``: one
    IN-list lookup into an id-ordered table (a few row groups). Names are fixed
    literals of this module; the ids are bound."""
    sql = f"SELECT {key}, {value} FROM {table} WHERE {key} IN ({_marks(ids)})"
    return dict(con.execute(sql, ids).fetchall())


def _column_from(key: str, values: dict[Any, Any], dtype: Any) -> pl.Expr:
    """A column looked up from ``values`` by the frame's ``key`` (null where absent)."""
    return pl.col(key).replace_strict(values, default=None, return_dtype=dtype)


def _rank_groups(
    frame: pl.DataFrame, key: str, size: str, matches: dict[Any, int], q: str, limit: int
) -> pl.DataFrame:
    """The ``limit`` best groups (cascades, narratives): the one whose id is the query
    first, then most matching posts, then the largest; ``matching_posts`` added."""
    return (
        frame.with_columns(
            matching_posts=pl.col(key).replace_strict(matches, default=0, return_dtype=pl.Int64),
            exact=pl.col(key) == q,
        )
        .sort(["exact", "matching_posts", size, key], descending=[True, True, True, False])
        .head(limit)
    )


def search(
    con: Con, q: str, *, search: str | None = None, limit: int = SEARCH_LIMIT
) -> dict[str, Any]:
    """Posts, cascades, narratives and accounts matching the query ``q``.

    Why: the analyst's first question is "where is this claim / link / hashtag / account".
    Posts are ranked by BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance
    Framework: BM25 and Beyond") over the read model's term index, every query term
    required; ids (post, cascade, narrative) match exactly. Cascades and narratives are
    those of the best :data:`SEARCH_BASIS` matching posts (most of them first), plus id
    matches and narratives whose label holds every term. Accounts match ``search``
    (handle, display name or exact account id): a separate argument so the viewer role
    can restrict it (see ``dashboard.queries``).

    Every lookup after the term index is by a short list of ids into tables stored in
    id order (posts, ``dash_post_index``), so its cost follows the page, not the store.

    Returns ``{"terms", "posts", "cascades", "narratives", "accounts", "post_total",
    "basis"}``; ``basis`` is how many matching posts the groups were ranked over.
    """
    q = (q or "").strip()
    terms = search_terms(con, q)
    hits, found = _search_hits(con, q, terms, SEARCH_BASIS)
    best = [(post_id, score) for post_id, score, _, _ in found]
    ids = [r[0] for r in best]
    where = [(post_id, cascade_id, narratives) for post_id, _, cascade_id, narratives in found]
    cascade_of = {r[0]: r[1] for r in where}
    posts = _search_posts(con, best[:limit], cascade_of)
    per_cascade: dict[str, int] = {}
    per_narrative: dict[str, int] = {}
    for _, cascade_id, narrative_ids in where:
        if cascade_id is not None:
            per_cascade[cascade_id] = per_cascade.get(cascade_id, 0) + 1
        for n in narrative_ids or ():
            per_narrative[n] = per_narrative.get(n, 0) + 1
    per_cascade.setdefault(q, 0)  # an exact cascade id
    keys = _pl(
        con.execute(
            "SELECT cascade_id, size, narrative_id, root_post_id FROM dash_cascade_keys "
            f"WHERE cascade_id IN ({_marks(list(per_cascade))})",
            list(per_cascade),
        )
    )
    cascades = _rank_groups(keys, "cascade_id", "size", per_cascade, q, limit)
    roots = [r for r in cascades["root_post_id"].to_list() if r is not None]  # shown ones
    root_text = _values_by_id(con, "posts", "post_id", "text", roots)
    cascades = cascades.with_columns(
        root_text=_column_from("root_post_id", root_text, pl.String)
    ).select("cascade_id", "matching_posts", "size", "narrative_id", "root_text")
    labelled = (
        [
            r[0]
            for r in con.execute(
                f"SELECT narrative_id FROM dash_narrative_terms WHERE term IN ({_marks(terms)}) "
                "GROUP BY 1 HAVING count(DISTINCT term) = ? ORDER BY 1 LIMIT ?",
                [*terms, len(terms), SEARCH_BASIS],
            ).fetchall()
        ]
        if terms
        else []
    )
    for n in [q, *labelled]:
        per_narrative.setdefault(n, 0)
    narratives = _pl(
        con.execute(
            f"""
            SELECT narrative_id, posts, accounts FROM narratives
            WHERE narrative_id IN ({_marks(list(per_narrative))})
            """,
            list(per_narrative),
        )
    )
    narratives = _rank_groups(narratives, "narrative_id", "posts", per_narrative, q, limit)
    shown = narratives["narrative_id"].to_list()  # labels of the shown ones only
    label = _values_by_id(con, "narratives", "narrative_id", "label", shown)
    narratives = narratives.with_columns(
        label=_column_from("narrative_id", label, pl.String)
    ).select("narrative_id", "matching_posts", "posts", "accounts", "label")
    accounts = _search_accounts(con, search or "", limit)
    return {
        "terms": terms,
        "posts": posts,
        "post_total": hits,
        "basis": len(ids),
        "cascades": cascades,
        "narratives": narratives,
        "accounts": accounts,
    }


_ACCOUNT_MATCH = """
    SELECT a.account_id, a.handle, a.display_name, s.posts, s.bot_state
    FROM accounts a LEFT JOIN dash_accounts s USING (account_id)
    WHERE ? <> '' AND (a.account_id = ? OR contains(lower(a.handle), ?)
                       OR contains(lower(a.display_name), ?))
    ORDER BY (a.account_id = ?) DESC, (lower(a.handle) = ?) DESC,
             s.posts DESC NULLS LAST, a.account_id
    LIMIT ?
"""
"""Accounts whose id is the query or whose lowercased handle or display name holds it,
the exact id and handle first, then the most posts: a scan of every account, for a
query too short to have a piece (:data:`_GRAM`) to look up."""

_ACCOUNT_BY_GRAM = """
    SELECT account_id, handle, display_name, posts, bot_state
    FROM (SELECT account_id, handle, display_name, posts, bot_state
          FROM dash_account_grams
          WHERE gram = ? AND (contains(lower(handle), ?) OR contains(lower(display_name), ?))
          UNION
          SELECT a.account_id, a.handle, a.display_name, s.posts, s.bot_state
          FROM accounts a
          LEFT JOIN (SELECT * FROM dash_account_keys WHERE account_id = ?) s USING (account_id)
          WHERE a.account_id = ?)
    WHERE ? <> ''
    ORDER BY (account_id = ?) DESC, (lower(handle) = ?) DESC, posts DESC NULLS LAST,
             account_id
    LIMIT ?
"""
""":data:`_ACCOUNT_MATCH` over the index rows of one piece of the query (every match
holds it), plus the exact id looked up by id: the same match and order."""


def _search_accounts(con: Con, who: str, limit: int) -> pl.DataFrame:
    """Accounts matching ``who``: its id exactly, or a handle / display name holding it
    (case-insensitive; a leading ``@`` dropped), exact id and handle first, then the
    most posts.

    Why the gram index (``dash_account_grams``): the scan (:data:`_ACCOUNT_MATCH`)
    reads every handle and name (52-77 ms at 5M posts under load). An account holding
    the query holds each of its 3-character pieces, so the index rows of the query's
    rarest piece hold every match; the scan's own text check and order then run on
    those rows only. A query under 3 characters has no piece and reads the scan.
    """
    who = who.strip()
    handle = who.removeprefix("@").lower()
    grams = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT substr(t, i, {_GRAM}) FROM (SELECT t, "
            f"unnest(range(1, length(t) - {_GRAM - 2})) AS i FROM (SELECT ? AS t) "
            f"WHERE length(t) >= {_GRAM})",
            [handle],
        ).fetchall()
    ]
    if not grams:
        params = [handle, who, handle, handle, who, handle, limit]
        return _pl(con.execute(_ACCOUNT_MATCH, params))
    counts = dict(
        con.execute(
            f"SELECT gram, accounts FROM dash_account_gram_counts WHERE gram IN ({_marks(grams)})",
            grams,
        ).fetchall()
    )
    # a piece no account has: only the exact id can match (NULL matches no row)
    rarest = min(grams, key=lambda g: (counts[g], g)) if len(counts) == len(grams) else None
    params = [rarest, handle, handle, who, who, handle, who, handle, limit]
    return _pl(con.execute(_ACCOUNT_BY_GRAM, params))


def _search_post_ids(
    con: Con, q: str, terms: list[str], top: int
) -> tuple[int, list[tuple[Any, float]]]:
    """(how many posts match, the best ``top`` of them as (post_id, BM25 score)), best
    first; an exact post id scores first; ties in score go to the smaller post id."""
    total, found = _search_hits(con, q, terms, top)
    return total, [(post_id, score) for post_id, score, _, _ in found]


def _search_hits(
    con: Con, q: str, terms: list[str], top: int
) -> tuple[int, list[tuple[Any, float, Any, Any]]]:
    """(how many posts match, the best ``top`` as (post_id, BM25 score, cascade_id,
    narrative_ids)), in one pass over the query terms' rows of the index and one
    lookup of the candidates' numbers in ``dash_post_index``.

    Why no grouping beyond the terms': a one-word query ("this": 445,673 posts at 5M)
    needs no per-post grouping at all (a (term, post) row is unique), and the exact id
    replaces its own term row by a filter instead of a second grouping of every match
    (128 -> 56 ms for "this" at 5M, same results).

    The index holds ``doc`` numbers (:data:`POST_DOC`), which sort like post ids only
    within an ingest run. So the best ``top`` by (score, doc) fix the cut score; every
    post above it is in, and of the posts AT the cut (a tie, often large for a frequent
    word) each run gives its ``top`` smallest numbers, i.e. its smallest post ids. The
    ids of these few candidates are looked up and the exact order taken on them.
    """
    exact = "SELECT doc, 1e9 AS score FROM dash_post_rows WHERE post_id = ?"
    top = int(top)
    if terms:
        marks = ", ".join("?" for _ in terms)
        weight = f"""ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5)) * t.tf * ({_BM25_K1} + 1)
                     / (t.tf + {_BM25_K1} * (1 - {_BM25_B} + {_BM25_B} * t.len / st.avgdl))"""
        if len(terms) == 1:  # a (term, post) row is unique: no grouping
            h = f"SELECT t.doc, {weight} + 0.0 AS score FROM t JOIN df USING (term), st"
            params: list[Any] = [*terms, q]
        else:
            h = f"""SELECT t.doc, sum({weight}) + 0.0 AS score
                    FROM t JOIN df USING (term), st
                    GROUP BY t.doc HAVING count(*) = ?"""
            params = [*terms, q, len(terms)]
        scored = f"""
            t AS (SELECT term, doc, tf, len FROM dash_search_terms WHERE term IN ({marks})),
            df AS (SELECT term, count(*) AS df FROM t GROUP BY 1),
            st AS (SELECT n, avgdl FROM dash_search_stats),
            x AS ({exact}),
            h AS ({h}),
            g AS MATERIALIZED (SELECT doc, score FROM h WHERE doc NOT IN (SELECT doc FROM x)
                               UNION ALL SELECT doc, score FROM x)"""
    else:
        scored = f"g AS MATERIALIZED ({exact})"
        params = [q]
    rows = con.execute(
        f"""
        WITH {scored},
        best AS (SELECT doc, score FROM g ORDER BY score DESC, doc LIMIT {top}),
        cut AS (SELECT min(score) AS s, count(*) AS n FROM best),
        sure AS (SELECT doc, score FROM best, cut WHERE score > cut.s OR cut.n < {top}),
        ties AS (SELECT unnest(min(g.doc, {top})) AS doc FROM g, cut
                 WHERE cut.n = {top} AND g.score = cut.s GROUP BY g.doc >> 32)
        SELECT doc, score, (SELECT count(*) FROM g) AS total FROM sure
        UNION ALL
        SELECT ties.doc, cut.s, (SELECT count(*) FROM g) FROM ties, cut
        """,
        params,
    ).fetchall()
    if not rows:
        return 0, []
    docs = [r[0] for r in rows]
    info = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT doc, post_id, cascade_id, narrative_ids FROM dash_post_index "
            f"WHERE doc IN ({_marks(docs)})",
            docs,
        ).fetchall()
    }
    found = [(info[d][0], float(score), info[d][1], info[d][2]) for d, score, _ in rows]
    found.sort(key=lambda r: (-r[1], r[0]))
    return int(rows[0][2]), found[:top]


def _search_posts(
    con: Con, best: list[tuple[Any, float]], cascade_of: dict[str, str]
) -> pl.DataFrame:
    """The posts ``best`` ((post_id, score), best first) with account, time and cascade."""
    ids = [r[0] for r in best]
    rows = _pl(
        con.execute(
            f"""
            SELECT post_id, account_id, {_ts("created_at")} AS created_at,
                   created_at AS _at, text
            FROM posts WHERE post_id IN ({_marks(ids)})
            """,
            ids,
        )
    )
    authors = [a for a in set(rows["account_id"].to_list()) if a is not None]
    handle = _values_by_id(con, "accounts", "account_id", "handle", authors)
    score = {r[0]: round(float(r[1]), 3) for r in best}
    return (
        rows.with_columns(
            cascade_id=_column_from("post_id", cascade_of, pl.String),
            score=_column_from("post_id", score, pl.Float64),
            handle=_column_from("account_id", handle, pl.String),
        )
        .sort(["score", "_at", "post_id"], descending=[True, False, False])
        .select("post_id", "account_id", "handle", "created_at", "cascade_id", "score", "text")
    )


def cluster_evidence(con: Con, cluster_id: str | None, limit: int | None = 5000) -> pl.DataFrame:
    """The items each pair of a coordination cluster both shared, with both timestamps.

    Why: a pair's score is a count; the evidence an analyst checks (and exports) is
    which posts or links both accounts shared and how close in time. Items are the ones
    the coordination stage co-shares (:mod:`spreadtrace.store.coordination`): a reposted
    or quoted root post, and the build's URL and media items (``post_items``, keyed by
    the one URL normaliser). For each (pair, item) the closest two shares are given,
    with the gap in seconds; items within the build's window are those that made the
    pair. The item is given as ``root_id`` (a reposted post) or ``item_url`` (a link or
    a media group), so the viewer role's redaction (by column name) pseudonymises the
    one and masks the other.
    """
    sql = f"""
        WITH pr AS (SELECT account_a, account_b FROM coordination_pairs
                    WHERE cluster_id = ?),
        m AS (SELECT account_a AS account_id FROM pr UNION SELECT account_b FROM pr),
        sh AS (
            SELECT p.account_id, 'p:' || coalesce(p.root_id, p.parent_id) AS item,
                   p.post_id, p.created_at
            FROM posts p JOIN m USING (account_id)
            WHERE p.kind IN ('repost', 'quote') AND coalesce(p.root_id, p.parent_id) IS NOT NULL
            UNION ALL
            SELECT p.account_id, pi.item_id, p.post_id, p.created_at
            FROM posts p JOIN m USING (account_id)
            JOIN post_items pi ON pi.post_id = p.post_id
            WHERE p.kind <> 'repost'
              AND (pi.item_id LIKE 'url:%' OR pi.item_id LIKE 'media:%')
        ),
        j AS (
            SELECT pr.account_a, pr.account_b, a.item, a.post_id AS post_a, b.post_id AS post_b,
                   a.created_at AS at_a, b.created_at AS at_b,
                   abs(epoch(a.created_at) - epoch(b.created_at)) AS gap
            FROM pr JOIN sh a ON a.account_id = pr.account_a
            JOIN sh b ON b.account_id = pr.account_b AND b.item = a.item
            WHERE a.item IS NOT NULL
        )
        SELECT account_a, account_b,
               CASE WHEN item LIKE 'p:%' THEN substr(item, 3) END AS root_id,
               CASE WHEN item LIKE 'url:%' THEN substr(item, 5)
                    WHEN item LIKE 'media:%' THEN item END AS item_url,
               arg_min(post_a, gap) AS post_a, {_ts("arg_min(at_a, gap)")} AS shared_at_a,
               arg_min(post_b, gap) AS post_b, {_ts("arg_min(at_b, gap)")} AS shared_at_b,
               round(min(gap), 1) AS gap_s
        FROM j GROUP BY account_a, account_b, item
        ORDER BY account_a, account_b, gap_s, root_id, item_url
    """
    params: list[Any] = [cluster_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return _pl(con.execute(sql, params))


# The analyst's workbench (issue 14): every number leads to the accounts and items
# behind it. Column names follow the vocabulary, so the viewer's redaction applies.
_FLAGGED_SELECT = """
    SELECT f.account_id, a.handle, a.display_name, f.shares,
           s.bot_state, round(s.bot_score, 3) AS bot_score, s.bot_reasons,
           s.cluster_id, round(s.coordination_score, 3) AS coordination_score,
           CASE WHEN s.is_bot_like AND s.cluster_id IS NOT NULL THEN 'bot-like and coordinated'
                WHEN s.is_bot_like THEN 'bot-like'
                ELSE 'coordinated' END AS flagged_as
    FROM f JOIN dash_accounts s USING (account_id)
    LEFT JOIN accounts a USING (account_id)
    WHERE s.is_bot_like OR s.cluster_id IS NOT NULL
    ORDER BY f.shares DESC, s.bot_score DESC, f.account_id
"""


def _limited(sql: str, params: list[Any], limit: int | None) -> tuple[str, list[Any]]:
    if limit is None:
        return sql, params
    return sql + " LIMIT ?", [*params, int(limit)]


def cascade_flagged_accounts(con: Con, cascade_id: str, limit: int | None = 500) -> pl.DataFrame:
    """The bot-like and coordinated accounts that shared into a cascade, most shares first.

    Why: a cascade's bot share is a number; the analyst checks the accounts behind it,
    each with its evidence state (``bot_state``: bot-like / not bot-like /
    insufficient evidence), reasons and coordination cluster.
    """
    sql = (
        "WITH f AS (SELECT account_id, count(*) AS shares FROM dash_nodes "
        "WHERE cascade_id = ? AND account_id IS NOT NULL GROUP BY 1)" + _FLAGGED_SELECT
    )
    return _pl(con.execute(*_limited(sql, [cascade_id], limit)))


def narrative_flagged_accounts(
    con: Con, narrative_id: str, limit: int | None = 500
) -> pl.DataFrame:
    """The bot-like and coordinated accounts that posted in a narrative, most posts first."""
    sql = (
        "WITH f AS (SELECT p.account_id, count(*) AS shares FROM post_narratives n "
        "JOIN posts p USING (post_id) WHERE n.narrative_id = ? GROUP BY 1)" + _FLAGGED_SELECT
    )
    return _pl(con.execute(*_limited(sql, [narrative_id], limit)))


def narrative_clusters(con: Con, narrative_id: str) -> pl.DataFrame:
    """The coordination clusters whose members posted in a narrative, and how much."""
    return _pl(
        con.execute(
            """
            SELECT k.cluster_id, any_value(k.cluster_size) AS size,
                   count(DISTINCT p.account_id) AS accounts_in_narrative, count(*) AS posts
            FROM post_narratives n JOIN posts p USING (post_id)
            JOIN coordination_clusters k ON k.account_id = p.account_id
            WHERE n.narrative_id = ?
            GROUP BY 1 ORDER BY posts DESC, k.cluster_id
            """,
            [narrative_id],
        )
    )


def narrative_items(con: Con, narrative_id: str, limit: int | None = 200) -> pl.DataFrame:
    """The items (links, texts, hashtags, media) a narrative's posts carry, with each
    item's first poster in the whole store, most posts in the narrative first."""
    sql = f"""
        SELECT i.item_id, i.kind, i.label, count(DISTINCT pi.post_id) AS posts,
               any_value(i.posts) AS posts_everywhere, any_value(i.first_account_id)
                   AS first_account_id,
               any_value(a.handle) AS first_handle, {_ts("any_value(i.first_at)")} AS first_at
        FROM post_narratives n JOIN post_items pi USING (post_id)
        JOIN items i ON i.item_id = pi.item_id
        LEFT JOIN accounts a ON a.account_id = i.first_account_id
        WHERE n.narrative_id = ?
        GROUP BY i.item_id, i.kind, i.label
        ORDER BY posts DESC, i.item_id
    """
    return _pl(con.execute(*_limited(sql, [narrative_id], limit)))


def data_range(con: Con) -> tuple[date | None, date | None]:
    """The first and last day (UTC) of any cascade's first post, for the date picker."""
    row = con.execute(
        "SELECT min(first_at AT TIME ZONE 'UTC')::DATE, max(first_at AT TIME ZONE 'UTC')::DATE "
        "FROM cascades"
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def alerts(
    con: Con,
    *,
    window_s: float,
    floor: int,
    ratio: float,
    at: Any = None,
    limit: int = 50,
) -> tuple[pl.DataFrame, Any]:
    """The rate-surge alerts (the alerts.csv rule, one definition in
    :mod:`spreadtrace.store.report_queries`), strongest first, and the window's end.

    Why the end too: an empty inbox must say which hour it looked at.
    """
    from spreadtrace.store.report_queries import _ALERT_ITEMS

    named = {"window_s": float(window_s), "floor": int(floor), "ratio": float(ratio), "at": at}
    rows = _pl(
        con.execute(
            f"""
            SELECT x.kind,
                   -- the id under its own vocabulary name, so a viewer's redaction
                   -- (by column name) pseudonymises it
                   CASE WHEN x.kind = 'cascade' THEN x.item_id END AS cascade_id,
                   CASE WHEN x.kind = 'narrative' THEN x.item_id END AS narrative_id,
                   x.label, x.recent AS recent_shares,
                   x.earlier AS earlier_shares, round(x.earlier_rate, 2) AS earlier_rate,
                   round(x.ratio, 1) AS ratio, {_ts("x.t_start")} AS window_start,
                   {_ts("x.t_end")} AS window_end, {_ts("x.first_at")} AS first_at,
                   round(x.amplification_score, 3) AS amplification_score
            FROM ({_ALERT_ITEMS}) AS x
            ORDER BY coalesce(x.ratio, 'inf'::DOUBLE) DESC, x.recent DESC, x.kind, x.item_id
            LIMIT {int(limit)}
            """,
            named,
        )
    )
    end = con.execute(
        "SELECT max(created_at) FROM posts" if at is None else "SELECT CAST(? AS TIMESTAMPTZ)",
        [] if at is None else [at],
    ).fetchone()
    return rows, end[0] if end else None


MIN_NARRATIVE_POSTS = 10
MIN_NARRATIVE_ACCOUNTS = 5
"""The evidence a narrative needs to be ranked on the overview: at least this many
posts by at least this many accounts. Why: amplification is a share, so a 2-post item
whose second post came from a bot scores 1.0; ranking on it puts noise first."""


def spreading_narratives(
    con: Con,
    flt: CascadeFilter,
    *,
    min_posts: int = MIN_NARRATIVE_POSTS,
    min_accounts: int = MIN_NARRATIVE_ACCOUNTS,
    limit: int = 10,
    bins: int = 24,
) -> pl.DataFrame:
    """The overview's lead: narratives with enough evidence, most amplified first.

    Only narratives with a cascade matching the overview's filters (dates, platform,
    size, bot share, amplification) are kept, so the filters reach narratives too.
    Each row carries its origin handle, the decomposition of its spread, and
    ``spark``: its posts in ``bins`` equal slices of its own lifetime (a sparkline).
    """
    where, params = flt.where()
    return _pl(
        con.execute(
            f"""
            WITH top AS (
                SELECT n.* FROM narratives n
                WHERE n.posts >= ? AND n.accounts >= ?
                  AND EXISTS (SELECT 1 FROM {_CASCADES_FROM}
                              WHERE c.narrative_id = n.narrative_id AND {where})
                ORDER BY n.amplification_score DESC NULLS LAST, n.posts DESC, n.narrative_id
                LIMIT ?),
            b AS (
                SELECT pn.narrative_id,
                       least(floor((epoch(p.created_at) - epoch(t.first_at))
                             / greatest(epoch(t.last_at) - epoch(t.first_at), 1) * ?),
                             ? - 1)::INTEGER AS bin,
                       count(*) AS n
                FROM top t JOIN post_narratives pn USING (narrative_id)
                JOIN posts p ON p.post_id = pn.post_id
                GROUP BY 1, 2),
            s AS (
                SELECT t.narrative_id,
                       list(coalesce(b.n, 0) ORDER BY g.bin) AS spark
                FROM top t CROSS JOIN range(?) g(bin)
                LEFT JOIN b ON b.narrative_id = t.narrative_id AND b.bin = g.bin
                GROUP BY 1)
            SELECT t.narrative_id, t.label, t.kind, t.posts, t.accounts, t.cascades,
                   {_ts("t.first_at")} AS first_at, {_ts("t.last_at")} AS last_at,
                   t.origin_account_id, a.handle AS origin_handle,
                   round(t.amplification_score, 3) AS amplification_score,
                   t.amplification_reasons, t.share_bot_only, t.share_coordinated_only,
                   t.share_both, t.share_neither, s.spark,
                   t.claim_posts, t.claim_accounts, t.correction_posts, t.correction_accounts,
                   t.correction_delay_s, t.notes
            FROM top t JOIN s USING (narrative_id)
            LEFT JOIN accounts a ON a.account_id = t.origin_account_id
            ORDER BY t.amplification_score DESC NULLS LAST, t.posts DESC, t.narrative_id
            """,
            [int(min_posts), int(min_accounts), *params, int(limit), bins, bins, bins],
        )
    )


def coordination_params(con: Con) -> dict[str, Any]:
    """The coordination parameters of the newest finished build (``builds.params``'s
    ``accounts`` section), {} when unknown: an empty coordination page says which
    window and minimum produced no pair."""
    import json

    row = con.execute(
        "SELECT params FROM builds WHERE finished_at IS NOT NULL ORDER BY build_id DESC LIMIT 1"
    ).fetchone()
    try:
        params = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}
    accounts = params.get("accounts") if isinstance(params, dict) else None
    return accounts if isinstance(accounts, dict) else {}


_MENTION = r"@([A-Za-z0-9_]{1,50})"
"""A mention in post text: ``@`` and a handle (the platforms' handle characters)."""


def narrative_account_network(con: Con, narrative_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A narrative's accounts and who amplified whom (Hoaxy-style), as (nodes, edges).

    Edges go from the account whose post was spread (or who was mentioned) to the
    account that spread it: ``kind`` is the spreading post's kind (repost, quote,
    reply) along the cascade tree, or ``mention`` (an ``@handle`` in its text that
    names a known account); ``weight`` counts such posts. Nodes carry the bot state,
    the coordination cluster and ``reach`` (posts below the account's posts in their
    cascades, plus its own posts). One set-wise pass in SQL; no per-post loop.
    """
    edges = _pl(
        con.execute(
            f"""
            WITH np AS (
                SELECT p.post_id, p.account_id, p.kind, p.text
                FROM post_narratives n JOIN posts p USING (post_id)
                WHERE n.narrative_id = ?),
            e AS (
                SELECT par.account_id AS source, c.account_id AS target, c.kind
                FROM np c JOIN post_cascades pc ON pc.post_id = c.post_id
                JOIN posts par ON par.post_id = pc.parent_id
                WHERE c.kind IN ('repost', 'quote', 'reply')
                UNION ALL
                SELECT a.account_id, c.account_id, 'mention'
                FROM (SELECT account_id, unnest(regexp_extract_all(text, '{_MENTION}', 1))
                          AS handle FROM np WHERE text LIKE '%@%') c
                JOIN (SELECT DISTINCT account_id, lower(handle) AS handle FROM accounts
                      WHERE handle IS NOT NULL) a ON a.handle = lower(c.handle))
            SELECT source, target, kind, count(*) AS weight FROM e
            WHERE source <> target
            GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """,
            [narrative_id],
        )
    )
    nodes = _pl(
        con.execute(
            """
            WITH np AS (
                SELECT p.account_id, count(*) AS posts, sum(pc.descendants) AS below
                FROM post_narratives n JOIN posts p USING (post_id)
                LEFT JOIN post_cascades pc ON pc.post_id = p.post_id
                WHERE n.narrative_id = ? GROUP BY 1),
            ids AS (SELECT account_id FROM np
                    UNION SELECT unnest(?::VARCHAR[]))
            SELECT ids.account_id, a.handle, coalesce(np.posts, 0) AS posts,
                   (coalesce(np.posts, 0) + coalesce(np.below, 0))::BIGINT AS reach,
                   coalesce(s.bot_state, 'not scored') AS bot_state, s.cluster_id,
                   round(s.bot_score, 3) AS bot_score
            FROM ids LEFT JOIN np USING (account_id)
            LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, handle FROM accounts) a
                USING (account_id)
            LEFT JOIN dash_accounts s USING (account_id)
            ORDER BY reach DESC, ids.account_id
            """,
            [narrative_id, edges["source"].unique().to_list() if edges.height else []],
        )
    )
    return nodes, edges

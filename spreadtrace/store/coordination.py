"""Co-sharing in SQL: which pairs of accounts shared the same item within a time window.

Why SQL: the co-share search is a self range join of every share against every other
share of the same item, the set-wise work the QUT coordination-network-toolkit also
pushes into its database. DuckDB runs it vectorised, in parallel and out of core;
Python only sees the (much smaller) list of pairs that pass ``min_shared``.

An *item* is what two accounts can share: the post they repost or quote (its
``root_id`` when the platform gives one, else its ``parent_id``: ``p:<post_id>``), or
one of the build's items (``post_items``, :mod:`spreadtrace.store.items`) carried by a
post in their own words: a normalised URL (``url:<key>``, keyed by the project's one
normaliser) or the same image or video (``media:<media_group_id>``). URLs of plain reposts are
not items of their own: they belong to the reposted post, which is already the item,
so one co-repost is not counted twice.

The range join, bounded: shares are put in time buckets of ``window_s`` seconds and
each share is matched only against shares of the same item in its own and the two
neighbouring buckets, so the join is an equi-join on ``(item, bucket)`` followed by
an exact ``|dt| <= window_s`` filter. A hot item (10^5 shares) spread over hours costs
little; a burst of many shares of one item inside one bucket would still be
quadratic, so each ``(item, bucket)`` keeps only its first ``max_bucket`` shares (the
earliest responders, which are the ones that carry a coordination signal). The join
then produces at most ``3 * max_bucket * shares`` candidate rows — linear in the
input. How many shares the cap dropped is returned in the stats.

The temp tables live for the connection (and the build's transaction) and are read by
:mod:`spreadtrace.store.accounts_scores` for "share of activity inside coordinated
pairs", then dropped by :func:`drop_temp`.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from spreadtrace.store.sync import sync_rows

__all__ = [
    "co_share_pairs",
    "drop_temp",
    "fetch_pairs",
    "replace_results",
    "sync_results",
]


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
    """Run a query into a polars frame (finishing any result a caller left pending)."""
    con.complete()  # DuckDB 2: con.sql refuses to run while an execute() result is unread
    return con.sql(sql, params=params).pl()


def co_share_pairs(
    con: duckdb.DuckDBPyConnection,
    *,
    window_s: float,
    min_shared: int,
    max_bucket: int = 1000,
    items: Sequence[str] = ("repost", "url"),
) -> dict[str, int]:
    """Find co-sharing pairs; leave them in temp tables, return counts.

    Creates ``_co_shares(account_id, item, t)`` (every share, t in epoch seconds),
    ``_co_hits(a, b, item)`` (distinct items a and b both shared within ``window_s``,
    a < b), ``_co_pairs(account_a, account_b, shared_items, n_a, n_b)`` (pairs with
    at least ``min_shared`` items; n_* = distinct items each account shared at all)
    and ``_co_account(account_id, items, coordinated_items)``.
    """
    if window_s <= 0:
        raise ValueError("window_s must be > 0")
    if min_shared < 1:
        raise ValueError("min_shared must be >= 1")
    unknown = set(items) - {"repost", "url", "media"}
    if unknown:
        raise ValueError(f"unknown co-share item kinds {sorted(unknown)}; use repost, url, media")
    drop_temp(con)
    parts = []
    if "repost" in items:
        parts.append(
            """
            SELECT account_id, 'p:' || coalesce(root_id, parent_id) AS item,
                   epoch(created_at) AS t
            FROM posts
            WHERE kind IN ('repost', 'quote') AND coalesce(root_id, parent_id) IS NOT NULL
            """
        )
    if "url" in items:
        parts.append(
            """
            SELECT p.account_id, pi.item_id AS item, epoch(p.created_at) AS t
            FROM post_items AS pi JOIN posts AS p ON p.post_id = pi.post_id
            WHERE pi.item_id LIKE 'url:%' AND p.kind <> 'repost'
            """
        )
    if "media" in items:
        # The same picture or video (a media group of the build's media stage), posted
        # in the accounts' own posts: a plain repost's media belong to the reposted post.
        parts.append(
            """
            SELECT p.account_id, pi.item_id AS item, epoch(p.created_at) AS t
            FROM post_items AS pi JOIN posts AS p ON p.post_id = pi.post_id
            WHERE pi.item_id LIKE 'media:%' AND p.kind <> 'repost'
            """
        )
    union = " UNION ALL ".join(parts)
    con.execute(
        f"""
        CREATE TEMP TABLE _co_shares AS
        SELECT DISTINCT account_id, item, t FROM ({union}) WHERE item IS NOT NULL
        """  # noqa: S608 -- fixed fragments from this module
    )
    # Time buckets of one window; cap each (item, bucket) at its first max_bucket shares.
    con.execute(
        """
        CREATE TEMP TABLE _co_b AS
        SELECT account_id, item, t, b FROM (
            SELECT account_id, item, t, CAST(floor(t / $w) AS BIGINT) AS b,
                   row_number() OVER (PARTITION BY item, CAST(floor(t / $w) AS BIGINT)
                                      ORDER BY t, account_id) AS rn
            FROM _co_shares
            WHERE item IN (SELECT item FROM _co_shares GROUP BY item HAVING count(*) > 1)
        ) WHERE rn <= $cap
        """,
        {"w": float(window_s), "cap": int(max_bucket)},
    )
    # Equi-join on (item, bucket) against the other side shifted by -1, 0, +1 buckets:
    # every pair of shares at most one bucket apart meets exactly once.
    con.execute(
        """
        CREATE TEMP TABLE _co_hits AS
        SELECT DISTINCT s1.account_id AS a, s2.account_id AS b, s1.item
        FROM _co_b s1
        JOIN (SELECT account_id, item, t, b + d AS b
              FROM _co_b CROSS JOIN (VALUES (-1), (0), (1)) AS v(d)) s2
          ON s1.item = s2.item AND s1.b = s2.b
        WHERE s1.account_id < s2.account_id AND abs(s1.t - s2.t) <= $w
        """,
        {"w": float(window_s)},
    )
    con.execute(
        """
        CREATE TEMP TABLE _co_account AS
        SELECT account_id, count(DISTINCT item) AS items, 0::BIGINT AS coordinated_items
        FROM _co_shares GROUP BY account_id
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE _co_pairs AS
        SELECT h.a AS account_a, h.b AS account_b, h.shared_items, na.items AS n_a, nb.items AS n_b
        FROM (SELECT a, b, count(*) AS shared_items FROM _co_hits GROUP BY a, b
              HAVING count(*) >= $min_shared) h
        JOIN _co_account na ON na.account_id = h.a
        JOIN _co_account nb ON nb.account_id = h.b
        """,
        {"min_shared": int(min_shared)},
    )
    # Share of each account's items that it shared inside one of its kept pairs.
    con.execute(
        """
        UPDATE _co_account SET coordinated_items = c.n
        FROM (SELECT account_id, count(DISTINCT item) AS n FROM (
                SELECT h.a AS account_id, h.item FROM _co_hits h
                  SEMI JOIN _co_pairs p ON p.account_a = h.a AND p.account_b = h.b
                UNION ALL
                SELECT h.b, h.item FROM _co_hits h
                  SEMI JOIN _co_pairs p ON p.account_a = h.a AND p.account_b = h.b)
              GROUP BY account_id) c
        WHERE _co_account.account_id = c.account_id
        """
    )
    shares, items_n, accounts = con.execute(
        "SELECT count(*), count(DISTINCT item), count(DISTINCT account_id) FROM _co_shares"
    ).fetchall()[0]
    kept = con.execute("SELECT count(*) FROM _co_b").fetchall()[0][0]
    multi = con.execute(
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM _co_shares "
        "GROUP BY item HAVING count(*) > 1)"
    ).fetchall()[0][0]
    hits = con.execute("SELECT count(*) FROM _co_hits").fetchall()[0][0]
    pairs = con.execute("SELECT count(*) FROM _co_pairs").fetchall()[0][0]
    return {
        "shares": int(shares),
        "items": int(items_n),
        "sharing_accounts": int(accounts),
        "shares_capped": int(multi - kept),
        "co_share_hits": int(hits),
        "pairs": int(pairs),
    }


def fetch_pairs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The kept pairs with per-account item counts and the total number of items."""
    n_items = con.execute("SELECT count(DISTINCT item) FROM _co_shares").fetchall()[0][0]
    frame = _frame(
        con,
        "SELECT account_a, account_b, shared_items, n_a, n_b FROM _co_pairs "
        "ORDER BY account_a, account_b",
    )
    return frame.with_columns(pl.lit(int(n_items), dtype=pl.Int64).alias("n_items"))


def coordinated_share_sql() -> str:
    """SQL selecting (account_id, coordinated_share) from the temp tables."""
    return (
        "SELECT account_id, coordinated_items::DOUBLE / items AS coordinated_share "
        "FROM _co_account WHERE items > 0"
    )


def replace_results(
    con: duckdb.DuckDBPyConnection,
    pairs: pl.DataFrame,
    clusters: pl.DataFrame,
    build_id: int,
) -> None:
    """Replace coordination_pairs and coordination_clusters with this build's results.

    ``pairs``: account_a, account_b, shared_items, strength, cluster_id;
    ``clusters``: cluster_id, account_id, cluster_size. The caller owns the transaction.
    """
    con.execute("DELETE FROM coordination_pairs")
    con.execute("DELETE FROM coordination_clusters")
    con.register("_co_pairs_in", pairs.to_arrow())
    con.register("_co_clusters_in", clusters.to_arrow())
    try:
        con.execute(
            """
            INSERT INTO coordination_pairs
            SELECT account_a, account_b, shared_items, strength, cluster_id, $build
            FROM _co_pairs_in
            """,
            {"build": int(build_id)},
        )
        con.execute(
            """
            INSERT INTO coordination_clusters
            SELECT cluster_id, account_id, cluster_size, $build FROM _co_clusters_in
            """,
            {"build": int(build_id)},
        )
    finally:
        con.unregister("_co_pairs_in")
        con.unregister("_co_clusters_in")


def sync_results(
    con: duckdb.DuckDBPyConnection,
    pairs: pl.DataFrame,
    clusters: pl.DataFrame,
    build_id: int,
) -> dict[str, int]:
    """Make coordination_pairs and coordination_clusters equal ``pairs`` and ``clusters``
    (as :func:`replace_results`), writing only the rows that differ
    (:mod:`spreadtrace.store.sync`). Returns the rows deleted and inserted."""
    con.register("_co_pairs_in", pairs.to_arrow())
    con.register("_co_clusters_in", clusters.to_arrow())
    try:
        written = sync_rows(
            con,
            "coordination_pairs",
            build_id,
            "SELECT account_a, account_b, shared_items, strength, cluster_id FROM _co_pairs_in",
        )
        more = sync_rows(
            con,
            "coordination_clusters",
            build_id,
            "SELECT cluster_id, account_id, cluster_size FROM _co_clusters_in",
        )
    finally:
        con.unregister("_co_pairs_in")
        con.unregister("_co_clusters_in")
    return {k: written[k] + more[k] for k in written}


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this module's temp tables (safe to call when they do not exist)."""
    for name in ("_co_hits", "_co_pairs", "_co_b", "_co_account", "_co_shares"):
        con.execute(f"DROP TABLE IF EXISTS {name}")

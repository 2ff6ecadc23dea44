"""SQL of the accounts stage's stored state: account_features, coordination_shares and
coordination_hits, updated in proportion to what a build's new posts change.

Why: account features and co-shares depend on each account's whole history and on a
range join of every share against every other share of the same item. Recomputing
them on every build made a build after 1% new posts cost as much as a full one. The
state kept here makes a build recompute only:

- the features of the accounts whose posts changed (:func:`refresh_features`): the
  accounts with new posts, and the reposters of a new post (their reaction time to
  it is their feature, not the parent's);
- the co-shares of the items whose shares changed (:func:`refresh_hits`): the
  range join runs over those items' shares only, so the hits, the ``max_bucket`` cap
  and the pair counts equal a full recomputation (a hit depends only on its item's
  shares).

What stays global, and why it is cheap: the per-pair NPMI strength divides by the
number of distinct items shared at all (:func:`pair_evidence` reads it with the
kept pairs, one row per pair), so strengths and clusters are recomputed over the
kept pairs (thousands of rows, not millions of posts); ``posts_per_day`` divides
by the store's time span in whole days (rounded up), so when the span crosses a day
boundary every account's scores follow it from its stored features and score parts
(``account_score_parts``, :func:`shift_inputs`, :func:`write_parts`), without touching
posts, and the few accounts whose verdict, reasons or rounded features can move are
scored whole; within the same whole day only the scoped accounts are.

The work tables are ``_ac_*`` temp tables, dropped by :func:`drop_work_tables`; the
scope tables are filled by :func:`scope_new_posts` (a full build reads the stored posts
directly: DuckDB keeps a temp table until the build's commit, so none is a copy of
posts).

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     emptied = prepare(store.con, '{"v": 1}', reset=False)
...     emptied, prepare(store.con, '{"v": 1}', reset=False)
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from spreadtrace.store.accounts_scores import (
    PROFILE_COLUMNS,
    STORE_DAYS_SQL,
    _frame,
    account_aggregates_sql,
)
from spreadtrace.store.sync import arrow_execute, log_row_changes

__all__ = [
    "STORE_DAYS_SQL",
    "account_ranges",
    "adopt",
    "co_share_hits_sql",
    "drop_unscored",
    "drop_work_tables",
    "features_for",
    "forget_all",
    "pair_evidence",
    "pair_evidence_sql",
    "prepare",
    "refresh_features",
    "refresh_hits",
    "scope_new_posts",
    "keep_scored",
    "scope_accounts",
    "scope_range",
    "scope_unchanged",
    "shift_inputs",
    "write_parts",
    "scored_features_sql",
    "share_rows_sql",
    "store_days",
    "stored_days",
]

_META_KEY = "accounts_state"
_DAYS_KEY = "accounts_days"
STATE_TABLES = (
    "account_features",
    "coordination_shares",
    "coordination_hits",
    "account_score_parts",
)
_WORK_TABLES = (
    "_ac_new", "_ac_accounts", "_ac_profiles", "_ac_items", "_ac_pairs", "_ac_in", "_ac_done",
)  # fmt: skip


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> tuple:
    row = con.execute(sql, params or {}).fetchone()
    assert row is not None
    return row


def prepare(con: duckdb.DuckDBPyConnection, state: str, *, reset: bool) -> bool:
    """Empty the state when ``reset``, when it is missing or was made with other
    settings (``state``: a JSON string of them); record ``state``. True when emptied."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [_META_KEY]).fetchone()
    emptied = reset or row is None or row[0] != state
    if emptied:
        forget_all(con)
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_META_KEY, state])
    return emptied


def forget_all(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the whole state (full builds; erasure, as it names accounts and posts)."""
    for table in STATE_TABLES:
        con.execute(f"DELETE FROM {table}")  # noqa: S608 -- fixed names
    con.execute("DELETE FROM meta WHERE key IN (?, ?)", [_META_KEY, _DAYS_KEY])


def stored_days(con: duckdb.DuckDBPyConnection) -> float | None:
    """The store span (whole days, at least 1) the stored scores' posts_per_day used."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [_DAYS_KEY]).fetchone()
    return float(row[0]) if row else None


def store_days(con: duckdb.DuckDBPyConnection) -> float:
    """The store's time span in whole days, rounded up (at least one; STORE_DAYS_SQL),
    recorded for the next build."""
    (days,) = _one(con, STORE_DAYS_SQL)
    days = float(days) if days is not None else 1.0
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_DAYS_KEY, repr(days)])
    return days


def adopt(con: duckdb.DuckDBPyConnection, state: str) -> None:
    """Record the state tables loaded from another engine as made with ``state`` (as
    :func:`prepare` records it), and the store's span their scores used, so the next
    build continues from them incrementally."""
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [_META_KEY, state])
    # the other engine's scores came without their parts: the next day boundary
    # rescores every account (rate_shift: a missing part means rescore)
    con.execute("DELETE FROM account_score_parts")
    store_days(con)


def scope_new_posts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Scope an incremental build from the posts and profiles ingested since the last
    finished build (the state is that build's: it is written in the build's transaction).

    ``_ac_new``: the new posts; ``_ac_accounts``: the accounts whose features change
    (authors of new posts, and authors of stored reposts/quotes whose parent is a new
    post: their reaction time is now known); ``_ac_profiles``: those plus the
    accounts with a new profile snapshot (to rescore).
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ac_new AS
        WITH last AS (
            SELECT coalesce(max(json_extract(inputs, '$.ingest_run')::BIGINT), -1) AS run
            FROM builds WHERE finished_at IS NOT NULL AND inputs IS NOT NULL)
        SELECT post_id, account_id, parent_id, root_id, kind, created_at FROM posts
        WHERE ingest_run_id > (SELECT run FROM last)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ac_accounts AS
        SELECT account_id FROM _ac_new
        UNION
        SELECT c.account_id FROM posts c SEMI JOIN _ac_new n ON n.post_id = c.parent_id
        WHERE c.kind IN ('repost', 'quote')
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ac_profiles AS
        WITH last AS (
            SELECT coalesce(max(json_extract(inputs, '$.ingest_run')::BIGINT), -1) AS run
            FROM builds WHERE finished_at IS NOT NULL AND inputs IS NOT NULL)
        SELECT account_id FROM _ac_accounts
        UNION
        SELECT account_id FROM accounts WHERE ingest_run_id > (SELECT run FROM last)
        """
    )
    new, accounts, profiles = _one(
        con,
        "SELECT (SELECT count(*) FROM _ac_new), (SELECT count(*) FROM _ac_accounts), "
        "(SELECT count(*) FROM _ac_profiles)",
    )
    return {"new_posts": int(new), "accounts": int(accounts), "profiles": int(profiles)}


def refresh_features(con: duckdb.DuckDBPyConnection, *, fast_s: float, every: bool) -> int:
    """Recompute the stored features of the accounts in ``_ac_accounts`` (of every
    account with posts when ``every``: the state is empty then); return how many.

    The aggregates are :func:`spreadtrace.store.accounts_scores.account_aggregates_sql`
    (reaction delays to stored parents, the hour-of-day entropy, burstiness, own
    texts), over each scoped account's whole history.
    """
    if not every:
        con.execute(
            "DELETE FROM account_features WHERE account_id IN (SELECT account_id FROM _ac_accounts)"
        )
    mine = (
        "posts" if every else "(SELECT p.* FROM posts p SEMI JOIN _ac_accounts USING (account_id))"
    )
    (n,) = _one(
        con,
        f"INSERT INTO account_features SELECT * FROM ({account_aggregates_sql(mine)})",  # noqa: S608
        {"fast": float(fast_s)},
    )
    return int(n)


def scored_features_sql(*, every: bool) -> tuple[str, str]:
    """(behaviour, profiles) queries of the accounts to score: those of ``_ac_profiles``,
    or every account when ``every``. behaviour has the columns of
    :data:`spreadtrace.store.accounts_scores.BEHAVIOUR_COLUMNS` from account_features
    (posts_per_day over ``$days``; coordinated_share NULL: not an input of the bot
    score); profiles the accounts table's. One definition for this state and the Spark
    engine (transpiled, ``every``)."""
    scope = "" if every else "SEMI JOIN _ac_profiles s USING (account_id)"
    behaviour = f"""
        SELECT f.account_id, f.posts, f.reposts, f.reposts::DOUBLE / f.posts AS repost_share,
               f.reposts_timed, f.fast_share, f.median_delay_s,
               f.posts / $days AS posts_per_day, f.hour_entropy, f.burstiness,
               NULL::DOUBLE AS coordinated_share, f.texts, f.self_repeat_share
        FROM account_features f {scope}
        ORDER BY f.account_id
        """  # noqa: S608 -- scope is one of two fixed fragments
    columns = ", ".join(f"f.{c}" for c in PROFILE_COLUMNS)
    profiles = f"""
        SELECT {columns}
        FROM accounts f {scope} ORDER BY f.account_id
        """  # noqa: S608 -- fixed column names; scope is one of two fixed fragments
    return behaviour, profiles


def features_for(
    con: duckdb.DuckDBPyConnection, days: float, *, every: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(behaviour, profiles) frames to score (:func:`scored_features_sql`)."""
    behaviour, profiles = scored_features_sql(every=every)
    return _frame(con, behaviour, {"days": float(days)}), _frame(con, profiles)


# the accounts a whole rescoring scores: every account with posts or a profile
_SCORED_ACCOUNTS = "SELECT account_id FROM account_features UNION SELECT account_id FROM accounts"


def account_ranges(
    con: duckdb.DuckDBPyConnection, size: int
) -> list[tuple[str | None, str | None]]:
    """Ranges ``[lo, hi)`` of account_id (None: open) that cut every account to score
    (with posts or a profile) into batches of ``size``, in account_id order.

    Why: rescoring every account (a full build, or the store's span crossing a day
    boundary) read all 835,905 accounts' features into one frame, scored and wrote them
    at once; batches bound what Python holds. Scores are row-wise, so batches change
    no value (:func:`spreadtrace.pipeline.accounts.scored_accounts`).
    """
    rows = con.execute(
        f"""
        SELECT account_id FROM (
            SELECT account_id, row_number() OVER (ORDER BY account_id) - 1 AS i
            FROM ({_SCORED_ACCOUNTS}))
        WHERE i % $size = 0 AND i > 0 ORDER BY account_id
        """,  # noqa: S608 -- a fixed fragment
        {"size": int(size)},
    ).fetchall()
    cuts: list[str | None] = [None, *(r[0] for r in rows), None]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def drop_unscored(con: duckdb.DuckDBPyConnection, build_id: int) -> int:
    """Delete (and log, :func:`spreadtrace.store.sync.log_row_changes`) the account_scores
    rows of accounts with neither posts nor a profile any more: what a whole rescoring
    in batches of :func:`account_ranges` leaves to remove. Returns the rows deleted."""
    gone = f"account_scores ANTI JOIN ({_SCORED_ACCOUNTS}) USING (account_id)"  # noqa: S608
    ((n,),) = con.execute(f"SELECT count(*) FROM {gone}").fetchall()  # noqa: S608 -- fixed
    if n:
        log_row_changes(
            con,
            "account_scores",
            build_id,
            f"SELECT account_id AS key1, NULL AS key2, true AS existed, false AS present "  # noqa: S608
            f"FROM {gone}",
        )
        # NOT EXISTS, not NOT IN: a NULL account_id would make NOT IN unknown for all
        con.execute(
            "DELETE FROM account_score_parts p WHERE NOT EXISTS "
            "(SELECT 1 FROM account_features f WHERE f.account_id = p.account_id)"
        ).fetchall()
        con.execute(
            "DELETE FROM account_scores a WHERE NOT EXISTS "  # noqa: S608 -- a fixed fragment
            f"(SELECT 1 FROM ({_SCORED_ACCOUNTS}) s WHERE s.account_id = a.account_id)"
        ).fetchall()
    return int(n)


def scope_range(con: duckdb.DuckDBPyConnection, lo: str | None, hi: str | None) -> None:
    """Make ``_ac_profiles`` the accounts to score in ``[lo, hi)`` (:func:`account_ranges`),
    the scope :func:`features_for` reads when not ``every``."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _ac_profiles AS
        SELECT account_id FROM ({_SCORED_ACCOUNTS})
        WHERE ($lo IS NULL OR account_id >= $lo) AND ($hi IS NULL OR account_id < $hi)
        """,  # noqa: S608 -- a fixed fragment
        {"lo": lo, "hi": hi},
    ).fetchall()


def scope_unchanged(con: duckdb.DuckDBPyConnection, lo: str | None, hi: str | None) -> None:
    """Make ``_ac_profiles`` the accounts with posts in ``[lo, hi)`` that this build has
    not scored (``_ac_done``, kept by :func:`keep_scored`): those a day boundary only
    shifts (:func:`shift_inputs`)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ac_profiles AS
        SELECT account_id FROM account_features ANTI JOIN _ac_done USING (account_id)
        WHERE ($lo IS NULL OR account_id >= $lo) AND ($hi IS NULL OR account_id < $hi)
        """,
        {"lo": lo, "hi": hi},
    ).fetchall()


def keep_scored(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the accounts of ``_ac_profiles`` (scored by this build) as ``_ac_done``."""
    con.execute("CREATE OR REPLACE TEMP TABLE _ac_done AS SELECT account_id FROM _ac_profiles")


def scope_accounts(con: duckdb.DuckDBPyConnection, accounts: pl.Series) -> None:
    """Make ``_ac_profiles`` these accounts (the ones a day boundary rescores whole)."""
    arrow_execute(
        con,
        "CREATE OR REPLACE TEMP TABLE _ac_profiles AS SELECT DISTINCT account_id FROM _arrow",
        pl.DataFrame({"account_id": accounts}).to_arrow(),
    ).fetchall()


def shift_inputs(con: duckdb.DuckDBPyConnection, days: float) -> pl.DataFrame:
    """The behaviour frame of ``_ac_profiles`` (:func:`features_for`, posts_per_day over
    ``days``) with the accounts' stored score parts (null where none is stored), for
    :func:`spreadtrace.graph.bots.rate_shift`."""
    behaviour, _ = scored_features_sql(every=False)
    return _frame(
        con,
        f"SELECT b.*, p.* EXCLUDE (account_id) FROM ({behaviour}) b "  # noqa: S608 -- fixed
        "LEFT JOIN account_score_parts p USING (account_id) ORDER BY b.account_id",
        {"days": float(days)},
    )


def write_parts(con: duckdb.DuckDBPyConnection, parts: pl.DataFrame) -> None:
    """Store the score parts of ``parts``' accounts (account_id, posts and the table's
    columns, from ``score_accounts(..., parts=True)``): those with posts get a row, the
    others none (their score does not follow the store's span)."""
    arrow = parts.to_arrow()
    arrow_execute(
        con,
        "DELETE FROM account_score_parts WHERE account_id IN (SELECT account_id FROM _arrow)",
        arrow,
    ).fetchall()
    arrow_execute(
        con,
        "INSERT INTO account_score_parts BY NAME SELECT * EXCLUDE (posts) FROM _arrow "
        "WHERE posts > 0",
        arrow,
    ).fetchall()


def share_rows_sql(items: Sequence[str], posts: str, post_items: str) -> str:
    """SELECT post_id, account_id, item, t of the shares of ``posts`` / ``post_items``
    (the rules of :func:`spreadtrace.store.coordination.co_share_pairs`); one definition
    for this state and the Spark engine (transpiled)."""
    parts = []
    if "repost" in items:
        parts.append(
            f"""
            SELECT post_id, account_id, 'p:' || coalesce(root_id, parent_id) AS item,
                   epoch(created_at) AS t
            FROM {posts}
            WHERE kind IN ('repost', 'quote') AND coalesce(root_id, parent_id) IS NOT NULL
            """  # noqa: S608 -- fixed names
        )
    for kind in ("url", "media"):
        if kind in items:
            parts.append(
                f"""
                SELECT p.post_id, p.account_id, pi.item_id AS item, epoch(p.created_at) AS t
                FROM {post_items} AS pi JOIN posts AS p ON p.post_id = pi.post_id
                WHERE pi.item_id LIKE '{kind}:%' AND p.kind <> 'repost'
                """  # noqa: S608 -- fixed names and kinds
            )
    return (
        " UNION ALL ".join(parts)
        if parts
        else (
            "SELECT NULL::VARCHAR AS post_id, NULL::VARCHAR AS account_id, "
            "NULL::VARCHAR AS item, NULL::DOUBLE AS t WHERE false"
        )
    )


def co_share_hits_sql(scoped: str = "") -> str:
    """SELECT account_a, account_b, item: the distinct co-shares (account_a < account_b)
    of one item within ``$w`` seconds, over ``coordination_shares`` (``scoped``: a fixed
    SEMI JOIN fragment naming the items to recompute; empty: all).

    Time buckets of one window, each (item, bucket) capped at its first ``$cap``
    shares; an equi-join on (item, bucket) against the other side shifted by -1, 0, +1
    buckets meets every pair of shares at most one bucket apart exactly once. One
    definition for this state and the Spark engine (transpiled).
    """
    return f"""
        WITH s AS (SELECT DISTINCT account_id, item, shared_at AS t FROM coordination_shares {scoped}),
        multi AS (SELECT item FROM s GROUP BY item HAVING count(*) > 1),
        b AS (
            SELECT account_id, item, t, b FROM (
                SELECT account_id, item, t, CAST(floor(t / $w) AS BIGINT) AS b,
                       row_number() OVER (PARTITION BY item, CAST(floor(t / $w) AS BIGINT)
                                          ORDER BY t, account_id) AS rn
                FROM s SEMI JOIN multi USING (item)
            ) WHERE rn <= $cap
        )
        SELECT DISTINCT s1.account_id AS account_a, s2.account_id AS account_b, s1.item
        FROM b s1
        JOIN (SELECT account_id, item, t, b + d AS b
              FROM b CROSS JOIN (VALUES (-1), (0), (1)) AS v(d)) s2
          ON s1.item = s2.item AND s1.b = s2.b
        WHERE s1.account_id < s2.account_id AND abs(s1.t - s2.t) <= $w
        """  # noqa: S608 -- scoped is a fixed fragment


def refresh_hits(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    *,
    items: Sequence[str],
    window_s: float,
    max_bucket: int,
    emptied: bool,
) -> dict[str, int]:
    """Bring coordination_shares up to date and recompute the hits of every item whose
    shares changed; leave the pairs whose hits changed in ``_ac_pairs`` (not when
    ``emptied``: every pair is counted then). Returns counts.

    ``emptied``: every share is new (the state was emptied; no scope tables are read).
    Otherwise the changed shares: those of the new posts (``_ac_new``), the URL/media
    post_items this build wrote (``post_items.build_id``: a media group that changed), and stored
    URL/media shares whose post_items row is gone. The hits of an item depend only on
    its own shares (time buckets of ``window_s``, each (item, bucket) capped at its
    first ``max_bucket`` shares, as :func:`spreadtrace.store.coordination.co_share_pairs`),
    so recomputing them per item equals a full recomputation.
    """
    if emptied:
        con.execute(
            f"INSERT INTO coordination_shares {share_rows_sql(items, 'posts', 'post_items')}"  # noqa: S608
        )
        removed = 0
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ac_in AS "
            "SELECT post_id, item_id FROM post_items WHERE build_id = $b "
            "AND (item_id LIKE 'url:%' OR item_id LIKE 'media:%')",
            {"b": int(build_id)},
        )
        # (a share already stored is not added twice: posts inserted without an ingest
        # run look new to every build)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _ac_items AS
            SELECT DISTINCT post_id, account_id, item, t
            FROM ({share_rows_sql(items, "_ac_new", "_ac_in")}) n
            ANTI JOIN coordination_shares s USING (post_id, item)
            """  # noqa: S608 -- fixed fragments
        )
        # URL/media shares whose post_items row went (a media group that changed)
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _ac_in AS
            SELECT s.post_id, s.item FROM coordination_shares s
            ANTI JOIN (SELECT post_id, item_id AS item FROM post_items
                       WHERE item_id LIKE 'url:%' OR item_id LIKE 'media:%') pi
              USING (post_id, item)
            WHERE NOT starts_with(s.item, 'p:')
            """
        )
        (removed,) = _one(con, "SELECT count(*) FROM _ac_in")
        if removed:
            con.execute(
                "DELETE FROM coordination_shares s USING _ac_in g "
                "WHERE s.post_id = g.post_id AND s.item = g.item"
            )
        con.execute("INSERT INTO coordination_shares SELECT * FROM _ac_items")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ac_items AS "
            "SELECT item FROM _ac_items UNION SELECT item FROM _ac_in"
        )
    scoped = "" if emptied else "SEMI JOIN _ac_items USING (item)"
    if emptied:
        (n_items,) = _one(con, "SELECT count(DISTINCT item) FROM coordination_shares")
    else:
        (n_items,) = _one(con, "SELECT count(*) FROM _ac_items")
        # the pairs whose hits may change: those of the stored hits of the items ...
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _ac_pairs AS SELECT DISTINCT account_a, account_b "
            "FROM coordination_hits SEMI JOIN _ac_items USING (item)"
        )
        con.execute("DELETE FROM coordination_hits WHERE item IN (SELECT item FROM _ac_items)")
    (hits,) = _one(
        con,
        f"INSERT INTO coordination_hits {co_share_hits_sql(scoped)}",  # noqa: S608
        {"w": float(window_s), "cap": int(max_bucket)},
    )
    pairs = -1
    if not emptied:
        # ... and those of their new hits
        con.execute(
            "INSERT INTO _ac_pairs SELECT DISTINCT account_a, account_b FROM coordination_hits "
            "SEMI JOIN _ac_items USING (item) EXCEPT SELECT * FROM _ac_pairs"
        )
        (pairs,) = _one(con, "SELECT count(*) FROM _ac_pairs")
    return {
        "co_share_items_recomputed": int(n_items),
        "co_share_hits_recomputed": int(hits),
        "co_share_pairs_recounted": int(pairs),
        "co_shares_removed": int(removed),
    }


def pair_evidence_sql(*, emptied: bool) -> str:
    """SELECT every kept pair (at least ``$min_shared`` co-shared items) with n_a, n_b
    (distinct items each account shared) and n_items (distinct items shared at all),
    sorted; from coordination_hits and coordination_shares.

    ``emptied``: every pair is counted from the hits; otherwise the pairs of
    ``_ac_pairs`` are, and the other kept pairs are read back from coordination_pairs.
    One definition for this state and the Spark engine (transpiled, ``emptied``).
    """
    recount = (
        "coordination_hits"
        if emptied
        else ("(SELECT * FROM coordination_hits SEMI JOIN _ac_pairs USING (account_a, account_b))")
    )
    kept = (
        ""
        if emptied
        else (
            """
        UNION ALL
        SELECT account_a, account_b, shared_items FROM coordination_pairs
        ANTI JOIN _ac_pairs USING (account_a, account_b)
        """
        )
    )
    return f"""
        WITH pairs AS (
            SELECT account_a, account_b, count(*) AS shared_items FROM {recount}
            GROUP BY account_a, account_b HAVING count(*) >= $min_shared
            {kept}
        ),
        ends AS (SELECT account_a AS account_id FROM pairs UNION SELECT account_b FROM pairs),
        n AS (
            SELECT account_id, count(DISTINCT item) AS items
            FROM coordination_shares SEMI JOIN ends USING (account_id)
            GROUP BY account_id
        )
        SELECT p.account_a, p.account_b, p.shared_items, na.items AS n_a, nb.items AS n_b,
               (SELECT count(DISTINCT item) FROM coordination_shares) AS n_items
        FROM pairs p
        JOIN n na ON na.account_id = p.account_a
        JOIN n nb ON nb.account_id = p.account_b
        ORDER BY p.account_a, p.account_b
        """  # noqa: S608 -- fixed fragments


def pair_evidence(
    con: duckdb.DuckDBPyConnection, *, min_shared: int, emptied: bool
) -> pl.DataFrame:
    """Every kept pair (at least ``min_shared`` co-shared items) with n_a, n_b (distinct
    items each account shared) and n_items (distinct items shared at all), sorted.

    The pairs in ``_ac_pairs`` are recounted from coordination_hits; the other kept
    pairs are read back from coordination_pairs (their hits did not change).
    """
    return _frame(con, pair_evidence_sql(emptied=emptied), {"min_shared": int(min_shared)})


def drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this module's temp tables (safe when they do not exist)."""
    for name in _WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")

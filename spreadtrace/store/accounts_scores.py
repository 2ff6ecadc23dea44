"""Account features in SQL, and the account_scores table.

Why SQL: the behaviour part of the bot score needs, per account, aggregates over
every stored post (repost share, reaction delay to the parent, posting rate, the
hour-of-day histogram, inter-event times). These are set-wise group-bys and one
self-join (repost -> parent), which DuckDB runs vectorised over millions of posts;
Python receives one row per account.
"""

from __future__ import annotations

import duckdb
import polars as pl

from spreadtrace.graph.bots import ACCOUNT_SCORE_COLUMNS
from spreadtrace.store.sync import arrow_execute, log_row_changes, sync_rows

__all__ = [
    "account_aggregates_sql",
    "behaviour_features",
    "profile_snapshots",
    "replace_account_scores",
    "score_totals",
    "update_coordination_scores",
    "write_account_scores",
    "BEHAVIOUR_COLUMNS",
]


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
    """Run a query into a polars frame (finishing any result a caller left pending)."""
    con.complete()  # DuckDB 2: con.sql refuses to run while an execute() result is unread
    return con.sql(sql, params=params).pl()


BEHAVIOUR_COLUMNS = (
    "account_id",
    "posts",
    "reposts",
    "repost_share",
    "reposts_timed",
    "fast_share",
    "median_delay_s",
    "posts_per_day",
    "hour_entropy",
    "burstiness",
    "coordinated_share",
    "texts",
    "self_repeat_share",
)


# sum(n ln n) over the 24 hour counts, added in hour order (each hour's term is the
# max of one value, exact): a float sum over the group's rows would add them in the
# order the threads happen to combine them, and differ in the last bit between runs
_HOUR_TERMS = " + ".join(
    f"coalesce(max(CASE WHEN h = {h} THEN n * ln(n) END), 0.0)" for h in range(24)
)


def account_aggregates_sql(posts: str) -> str:
    """The per-account aggregates behind the behaviour features, over ``posts``.

    ``posts``: a fixed fragment naming the posts to aggregate (``posts``, or a subquery
    of one scope's posts); their parents are looked up in all posts. Parameter
    ``$fast``. Columns, in :data:`account_features`' order: account_id, posts, reposts,
    reposts_timed, fast_share, median_delay_s, hour_entropy, burstiness, texts,
    self_repeat_share (see :func:`behaviour_features`). One definition for the full
    scoring and the stored per-account state (:mod:`spreadtrace.store.accounts_state`).

    Every column is a function of the account's posts alone, bit for bit: no float is
    summed over rows (hour_entropy adds its 24 terms in hour order, burstiness comes
    from exact integer sums), so that two builds, or an incremental and a full one,
    store the same bits whatever the threads.
    """
    return f"""
    WITH mine AS (SELECT * FROM {posts}),
    delays AS (
        SELECT c.account_id, greatest(epoch(c.created_at) - epoch(p.created_at), 0) AS d
        FROM mine c JOIN posts p ON p.post_id = c.parent_id
        WHERE c.kind IN ('repost', 'quote')
    ),
    delay_agg AS (
        SELECT account_id, count(*) AS reposts_timed,
               avg(CASE WHEN d <= $fast THEN 1.0 ELSE 0.0 END) AS fast_share,
               median(d) AS median_delay_s
        FROM delays GROUP BY account_id
    ),
    hours AS (
        SELECT account_id, hour(created_at) AS h, count(*) AS n FROM mine GROUP BY ALL
    ),
    entropy AS (  -- H = ln N - sum(n ln n) / N over the hour counts n (N = sum n): no window
        SELECT account_id,
               greatest(ln(sum(n)) - ({_HOUR_TERMS}) / sum(n), 0.0) / ln(24) AS hour_entropy
        FROM hours GROUP BY account_id
    ),
    gaps AS (  -- dt: integer microseconds, so that their sums are exact
        SELECT account_id, kind,
               CASE WHEN kind <> 'repost' AND text IS NOT NULL THEN hash(text) END AS own_text,
               epoch_us(created_at) - lag(epoch_us(created_at))
                   OVER (PARTITION BY account_id ORDER BY created_at) AS dt
        FROM mine
    ),
    base AS (  -- one pass per account: counts, own texts, the gaps' exact moments
        SELECT account_id, count(*) AS posts,
               count(*) FILTER (WHERE kind IN ('repost', 'quote')) AS reposts,
               count(own_text) AS texts, count(DISTINCT own_text) AS distinct_texts,
               count(dt) AS n_gaps, sum(dt) AS s1, sum(dt::DECIMAL(38, 0) * dt) AS s2
        FROM gaps GROUP BY account_id
    ),
    -- burstiness (sigma - mu) / (sigma + mu) = (sqrt(V) - s1) / (sqrt(V) + s1) with
    -- V = n s2 - s1^2 = n^2 sigma^2 (n gaps, s1 and s2 the sums of dt and dt^2), exact
    -- in integers; when n s2 could pass 38 digits the variance dwarfs mu^2 (s1 is at
    -- most the store's span) and V in doubles loses nothing that shows
    moments AS (
        SELECT *, CASE WHEN s2 < 1e37 / n_gaps THEN (n_gaps * s2 - s1::DECIMAL(38, 0) * s1)::DOUBLE
                       ELSE n_gaps * s2::DOUBLE - s1::DOUBLE * s1 END AS v
        FROM base WHERE n_gaps >= 2 AND s1 > 0
    )
    SELECT b.account_id, b.posts, b.reposts, coalesce(d.reposts_timed, 0) AS reposts_timed,
           d.fast_share, d.median_delay_s, e.hour_entropy,
           (sqrt(m.v) - m.s1) / (sqrt(m.v) + m.s1) AS burstiness, b.texts,
           CASE WHEN b.texts > 0 THEN 1.0 - b.distinct_texts::DOUBLE / b.texts END
               AS self_repeat_share
    FROM base b
    LEFT JOIN delay_agg d USING (account_id)
    LEFT JOIN entropy e USING (account_id)
    LEFT JOIN moments m USING (account_id)
    """  # noqa: S608 -- posts is a fixed fragment


# The store's time span in whole days, rounded up, at least one (posts_per_day divides
# by it). Whole days: the newest posts extend the span on nearly every cron run, and a
# fractional span moved every account's posts_per_day, so every run rescored (and
# republished) every account; a whole-day span moves at most once per day boundary.
STORE_DAYS_SQL = (
    "SELECT greatest(ceil((epoch(max(created_at)) - epoch(min(created_at))) / 86400.0), 1.0)"
    "::DOUBLE AS days FROM posts"
)


def behaviour_features(
    con: duckdb.DuckDBPyConnection,
    *,
    fast_s: float,
    coordination: bool,
) -> pl.DataFrame:
    """One row per account with posts: the behaviour features (see BEHAVIOUR_COLUMNS).

    - repost_share: reposts and quotes over all posts.
    - fast_share, median_delay_s: over reposts/quotes whose parent is stored, the share
      that came within ``fast_s`` seconds of the parent, and the median delay
      (negative delays from clock skew count as 0).
    - posts_per_day: posts over the store's whole time span in whole days, rounded up
      (at least one day), so an account active for one hour is not extrapolated to a
      full day, and the span moves at most once per day boundary, not on every build.
    - hour_entropy: Shannon entropy of the UTC hour-of-day histogram over log(24):
      0 = always the same hour, 1 = evenly around the clock.
    - burstiness: (sigma - mu) / (sigma + mu) of the inter-event times (Goh & Barabasi
      2008): -1 periodic, 0 Poisson, -> 1 bursty; NULL with fewer than 3 posts.
    - coordinated_share: share of the account's shared items that it shared inside a
      kept coordination pair (needs :func:`spreadtrace.store.coordination.co_share_pairs`
      run first on this connection, else NULL). A coordination measure, reported with
      the account, not an input of the automation score.
    - texts, self_repeat_share: the account's own texts (everything but plain reposts)
      and the share of them that repeat another of its texts word for word
      (1 - distinct / all), i.e. repetition of its own content.
    """
    coord_join = (
        "LEFT JOIN (SELECT account_id, coordinated_items::DOUBLE / items AS coordinated_share "
        "FROM _co_account WHERE items > 0) c USING (account_id)"
        if coordination
        else "LEFT JOIN (SELECT NULL::VARCHAR AS account_id, NULL::DOUBLE AS coordinated_share) "
        "c USING (account_id)"
    )
    sql = f"""
    WITH span AS ({STORE_DAYS_SQL}),
    f AS ({account_aggregates_sql("posts")})
    SELECT f.account_id, f.posts, f.reposts,
           f.reposts::DOUBLE / f.posts AS repost_share,
           f.reposts_timed, f.fast_share, f.median_delay_s,
           f.posts / span.days AS posts_per_day,
           f.hour_entropy, f.burstiness, c.coordinated_share, f.texts, f.self_repeat_share
    FROM f CROSS JOIN span
    {coord_join}
    ORDER BY f.account_id
    """  # noqa: S608 -- coord_join is one of two fixed fragments above
    return _frame(con, sql, {"fast": float(fast_s)})


#: The columns of a profile snapshot the account scorer reads, in this order: the one
#: list for the store's reader and for scripts that score profiles from elsewhere.
PROFILE_COLUMNS: tuple[str, ...] = (
    "account_id", "observed_at", "handle", "display_name", "created_at",
    "followers_count", "following_count", "posts_count", "likes_count", "listed_count",
    "verified", "default_profile", "default_profile_image", "description",
)  # fmt: skip


def profile_snapshots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The latest snapshot of every account (the ``accounts`` table) as a frame."""
    columns = ", ".join(PROFILE_COLUMNS)
    # the columns are the fixed names above, never data
    return _frame(con, f"SELECT {columns} FROM accounts ORDER BY account_id")  # noqa: S608


def replace_account_scores(
    con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, build_id: int
) -> int:
    """Make account_scores equal to ``scores`` (the table's columns but build_id).

    ``scores`` carries coordination_score and bot_evidence (schema version 2). Only the
    rows that differ are written (:func:`spreadtrace.store.sync.sync_rows`): a rescore
    of every account, as when the store's span grows and every posts_per_day moves,
    updates rows in place instead of deleting and re-inserting the indexed table.

    The caller owns the transaction. Returns the number of rows scored.
    """
    sync_rows(con, "account_scores", build_id, _SCORES_SQL, arrow=scores)
    return scores.height


def write_account_scores(
    con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, build_id: int, *, every: bool
) -> int:
    """Write ``scores`` (as :func:`replace_account_scores`): all rows when ``every``,
    else only these accounts' rows are written and the rest kept. Returns rows scored.

    Not ``every``: set-wise, column by column (:func:`_write_scored_rows`).
    """
    if every:
        return replace_account_scores(con, scores, build_id)
    _write_scored_rows(con, scores, build_id)
    return scores.height


# account_scores' value columns (graph.bots.ACCOUNT_SCORE_COLUMNS): the scores, which
# a rescoring moves for every account with posts when the store's span crosses a day
# boundary (posts_per_day), and the texts, which it rarely moves (features are rounded
# to 4 places; reasons follow ranks)
_TEXT_COLUMNS = tuple(c for c, t in ACCOUNT_SCORE_COLUMNS.items() if t == "string")
_SCORE_COLUMNS = tuple(c for c in ACCOUNT_SCORE_COLUMNS if c not in _TEXT_COLUMNS)


def _write_scored_rows(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, build_id: int) -> None:
    """Make the account_scores rows of ``scores``' accounts equal to them; other rows stay.

    Why not :func:`spreadtrace.store.sync.sync_rows`: it fetches every changed row whole
    (JSON features and reasons) into Python and updates every column, and DuckDB keeps
    each updated column's old values until the build's commit. When the store's span
    crosses a day boundary every account's scores move but few of its texts do: the
    scores are set in one UPDATE from the frame (build_id with them, on every row that
    differs in any column), each text column only where it differs, and new accounts
    are inserted (and logged, as sync_rows does). Counts per text column decide which
    UPDATEs run.
    """
    arrow = scores.to_arrow()
    src = f"({_SCORES_SQL})"
    new, *texts = arrow_execute(
        con,
        "SELECT count(*) FILTER (WHERE a.account_id IS NULL), "  # noqa: S608 -- fixed names
        + ", ".join(
            f"count(*) FILTER (WHERE a.account_id IS NOT NULL AND a.{c} IS DISTINCT FROM s.{c})"
            for c in _TEXT_COLUMNS
        )
        + f" FROM {src} s LEFT JOIN main.account_scores a ON a.account_id = s.account_id",
        arrow,
    ).fetchall()[0]
    differs = " OR ".join(
        f"a.{c} IS DISTINCT FROM s.{c}" for c in (*_SCORE_COLUMNS, *_TEXT_COLUMNS)
    )
    sets = ", ".join(f"{c} = s.{c}" for c in _SCORE_COLUMNS)
    arrow_execute(
        con,
        f"UPDATE main.account_scores a SET {sets}, build_id = ? FROM {src} s "  # noqa: S608
        f"WHERE a.account_id = s.account_id AND ({differs})",
        arrow,
        [int(build_id)],
    ).fetchall()
    for column, n in zip(_TEXT_COLUMNS, texts, strict=True):
        if n:
            arrow_execute(
                con,
                f"UPDATE main.account_scores a SET {column} = s.{column} FROM {src} s "  # noqa: S608
                f"WHERE a.account_id = s.account_id AND a.{column} IS DISTINCT FROM s.{column}",
                arrow,
            ).fetchall()
    if new:
        fresh = f"{src} s ANTI JOIN main.account_scores a ON a.account_id = s.account_id"
        log_row_changes(
            con,
            "account_scores",
            build_id,
            "SELECT s.account_id AS key1, NULL AS key2, false AS existed, true AS present "  # noqa: S608
            f"FROM {fresh}",
            arrow,
        )
        columns = ", ".join(("account_id", *_SCORE_COLUMNS, *_TEXT_COLUMNS))
        arrow_execute(
            con,
            f"INSERT INTO main.account_scores ({columns}, build_id) "  # noqa: S608
            f"SELECT {columns}, ? FROM {fresh}",
            arrow,
            [int(build_id)],
        ).fetchall()


def shift_account_scores(
    con: duckdb.DuckDBPyConnection, shifted: pl.DataFrame, build_id: int
) -> int:
    """Set behaviour_score and bot_score from ``shifted`` (account_id, behaviour_score,
    bot_score: accounts whose other columns a day boundary does not move,
    :func:`spreadtrace.graph.bots.rate_shift`), on the rows where either differs, with
    this build's id. One set-wise UPDATE. Returns the rows updated."""
    ((n,),) = arrow_execute(
        con,
        """
        UPDATE main.account_scores a
        SET behaviour_score = s.behaviour_score, bot_score = s.bot_score, build_id = ?
        FROM _arrow s
        WHERE a.account_id = s.account_id
          AND (a.behaviour_score IS DISTINCT FROM s.behaviour_score
               OR a.bot_score IS DISTINCT FROM s.bot_score)
        """,
        shifted.select("account_id", "behaviour_score", "bot_score").to_arrow(),
        [int(build_id)],
    ).fetchall()
    return int(n)


# the rows of account_scores from a scored frame (``_arrow``), build_id aside (features
# is a JSON column: the frame holds its text)
_SCORES_SQL = (
    "SELECT account_id, "  # noqa: S608 -- fixed column names
    + ", ".join(f"{c}::JSON AS {c}" if c == "features" else c for c in ACCOUNT_SCORE_COLUMNS)
    + " FROM _arrow"
)


def update_coordination_scores(
    con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, build_id: int
) -> int:
    """Set account_scores.coordination_score from ``scores`` (account_id,
    coordination_score: every account with a kept pair; the others score 0), touching
    only the rows whose value changes. Returns the rows updated.

    NOT EXISTS, not NOT IN: one NULL account_id in ``scores`` made ``NOT IN`` unknown
    for every account, and no stale score was reset to 0."""
    con.register("_acc_coord_in", scores.select("account_id", "coordination_score").to_arrow())
    try:
        changed = con.execute(
            """
            UPDATE account_scores a SET coordination_score = c.coordination_score,
                   build_id = $build
            FROM _acc_coord_in c
            WHERE a.account_id = c.account_id
              AND a.coordination_score IS DISTINCT FROM c.coordination_score
            """,
            {"build": int(build_id)},
        ).fetchall()[0][0]
        changed += con.execute(
            """
            UPDATE account_scores SET coordination_score = 0.0, build_id = $build
            WHERE coordination_score IS DISTINCT FROM 0.0
              AND NOT EXISTS (SELECT 1 FROM _acc_coord_in c
                              WHERE c.account_id = account_scores.account_id)
            """,
            {"build": int(build_id)},
        ).fetchall()[0][0]
    finally:
        con.unregister("_acc_coord_in")
    return int(changed)


def score_totals(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(accounts scored, of which bot-like) in account_scores."""
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_bot_like) FROM account_scores"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])

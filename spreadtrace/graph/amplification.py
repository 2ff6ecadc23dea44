"""Amplification: how much of a cascade's spread came from bot-like or coordinated accounts.

Why: the question for an analyst is less whether a claim is true than whether its spread
is organic. Shao et al. (2018, "The spread of low-credibility content by social bots",
Nature Communications 9:4787) found bots active *early* in a cascade, before it goes
viral, so the first shares are weighed separately. ``reach_via_bots`` answers a what-if:
remove the posts of bot-like and coordinated accounts from the tree, and measure how much
of the cascade is no longer connected to its root. A post is cut off iff it or one of its
ancestors (the root excepted) is flagged, so one pass down the tree levels with numpy
marks every cut-off post of every cascade at once.

Shares are the posts of a cascade other than its root (when the original is not in the
store, every stored post is a share). All components are fractions in [0, 1] and
``amplification_score`` is their weighted mean (:class:`AmplificationWeights`), which
counts every share once: bot-likeness (automation) and coordination are separate
account signals, and a share by an account that is both is one flagged share. The
decomposition (:data:`DECOMPOSITION`) says which signal the flagged spread came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from spreadtrace.graph.origin import forest_depth, level_slices

__all__ = [
    "DECOMPOSITION",
    "SCORE_COLUMNS",
    "AmplificationWeights",
    "amplification_scores",
    "reach_bounds",
    "reached_only_via",
]

# Where a group's shares came from; the four fractions sum to 1, each share counted once.
DECOMPOSITION = ("share_bot_only", "share_coordinated_only", "share_both", "share_neither")

# The score columns amplification_scores returns beside the group key and its shares: the
# one list the stages copy onto cascades and narratives.
SCORE_COLUMNS: tuple[str, ...] = (
    "bot_share",
    "early_bot_share",
    "coordinated_share",
    "reach_via_bots",
    "amplification_score",
    "amplification_reasons",
    *DECOMPOSITION,
    "reach_via_bots_low",
    "reach_via_bots_high",
    "inferred_edges",
)


def reached_only_via(
    parent: np.ndarray, flagged: np.ndarray, depth: np.ndarray | None = None
) -> np.ndarray:
    """Which nodes lose their connection to the root when flagged nodes are removed.

    ``cut[v] = flagged[v] or cut[parent[v]]``, evaluated level by level from the roots
    (roots keep their own flag; callers clear the root's flag to keep it). The loop runs
    over depth levels, each a vectorised step over that level's nodes.

    >>> parent = np.array([-1, 0, 1, 1, 0])        # 0 -> 1 -> {2, 3}; 0 -> 4
    >>> reached_only_via(parent, np.array([False, True, False, False, False])).tolist()
    [False, True, True, True, False]
    """
    parent = np.asarray(parent, dtype=np.int64)
    cut = np.asarray(flagged, dtype=bool).copy()
    if len(parent) == 0:
        return cut
    depth = forest_depth(parent) if depth is None else depth
    _, levels = level_slices(depth)
    for lvl in levels[1:]:
        lvl = lvl[parent[lvl] >= 0]  # a caller's depth may count a missing original
        cut[lvl] |= cut[parent[lvl]]
    return cut


def reach_bounds(
    n: int,
    dep_child: np.ndarray,
    dep_parent: np.ndarray,
    flagged: np.ndarray,
    *,
    worst: bool,
) -> np.ndarray:
    """Cut-off posts when some parents are uncertain: the best or the worst case.

    Why: a time-inferred parent is a guess among candidates (earlier sharers the
    reposter follows), and which one was chosen decides whether a post counts as
    reached only through flagged accounts. Every node v lists its possible parents as
    pairs ``(dep_child, dep_parent)`` (one pair for a known parent, one per candidate
    for a guessed one, none for a root). Then ``cut[v] = flagged[v] or agg(cut[c] for
    c in parents(v))`` with agg = min (``worst`` False: the lower bound, every guess
    picks an unflagged path when one exists) or max (``worst`` True: the upper bound).
    Both cases are reached by one assignment of parents for all nodes at once, so
    summing ``cut`` gives the exact bounds of the cut-off count over all assignments.
    The fixed point is found by rounds over all pairs (numpy bincounts), as many rounds
    as the longest chain of dependencies; candidates are earlier posts, so the
    dependencies form a DAG and the fixed point is unique.

    >>> # root 0; 1 (bot) and 2 shared it; 3's parent was guessed: 1 or 2
    >>> child, par = np.array([1, 2, 3, 3]), np.array([0, 0, 1, 2])
    >>> flagged = np.array([False, True, False, False])
    >>> reach_bounds(4, child, par, flagged, worst=False).tolist()
    [False, True, False, False]
    >>> reach_bounds(4, child, par, flagged, worst=True).tolist()
    [False, True, False, True]
    """
    dep_child = np.asarray(dep_child, dtype=np.int64)
    dep_parent = np.asarray(dep_parent, dtype=np.int64)
    flagged = np.asarray(flagged, dtype=bool)
    n_deps = np.bincount(dep_child, minlength=n)
    has_deps = n_deps > 0
    cut = flagged.copy()
    for _ in range(n + 1):
        hits = np.bincount(dep_child, weights=cut[dep_parent], minlength=n)
        via = hits > 0 if worst else hits >= n_deps
        new = flagged | (via & has_deps)
        if np.array_equal(new, cut):
            break
        cut = new
    return cut


@dataclass(frozen=True)
class AmplificationWeights:
    """Weights of the amplification score (they sum to 1, so the score stays in [0, 1]).

    A share is *flagged* when its account is bot-like, coordinated, or both, and each
    share counts once (the union, never bot share + coordinated share):

    ``amplification_score = 0.35 early_flagged + 0.45 flagged_share + 0.20 reach_via_bots``

    where ``flagged_share = share_bot_only + share_coordinated_only + share_both
    = 1 - share_neither`` and ``early_flagged`` is the same among the first shares.
    Early activity weighs most (Shao et al. 2018); the what-if reach least, as it
    mostly follows the flagged share on flat cascades.
    """

    early_flagged: float = 0.35
    flagged_share: float = 0.45
    reach_via_bots: float = 0.20


def _pct(x: pl.Expr) -> pl.Expr:
    return (x * 100).round(0).cast(pl.Int64).cast(pl.String) + pl.lit("%")


def amplification_scores(
    posts: pl.DataFrame,
    *,
    by: str = "cascade_id",
    early_fraction: float = 0.10,
    weights: AmplificationWeights | None = None,
    unit: str = "cascade",
    mention_at: float = 0.10,
) -> pl.DataFrame:
    """Per group (cascade or narrative): bot, early-bot and coordinated shares, and reach.

    ``posts``: one row per post with ``by``, post_id, created_at, is_share, bot
    (account is bot-like), coordinated (account in a coordination cluster) and cut (from
    :func:`reached_only_via` over explicit parents). Optional: cut_low / cut_high (from
    :func:`reach_bounds` over the candidate parents of inferred links) and inferred
    (the post's parent was inferred); they give reach_via_bots_low / _high and
    inferred_edges, and the reasons then say the figure rests on guessed links. The early shares are the first ``ceil(early_fraction *
    shares)`` shares by time (at least one). Reasons name each component at or above
    ``mention_at``, in plain words. The decomposition columns (``share_bot_only``,
    ``share_coordinated_only``, ``share_both``, ``share_neither``) sum to 1.

    >>> from datetime import datetime, timedelta
    >>> t0 = datetime(2024, 1, 1)
    >>> posts = pl.DataFrame({"cascade_id": ["c"] * 5, "post_id": list("abcde"),
    ...     "created_at": [t0 + timedelta(seconds=s) for s in (0, 3, 4, 600, 900)],
    ...     "is_share": [False, True, True, True, True],
    ...     "bot": [False, True, False, False, False],
    ...     "coordinated": [False, False, False, False, False],
    ...     "cut": [False, True, True, False, False]})
    >>> row = amplification_scores(posts).row(0, named=True)
    >>> row["bot_share"], row["early_bot_share"], row["reach_via_bots"]
    (0.25, 1.0, 0.5)
    >>> row["amplification_reasons"]
    'bot-like or coordinated accounts made 1 of the first 1 shares; 25% of shares came from flagged accounts (bot-like only 25%, coordinated only 0%, both 0%); 50% of the cascade was reached only through bot-like or coordinated accounts'
    >>> row["share_bot_only"], row["share_neither"], row["amplification_score"]
    (0.25, 0.75, 0.5625)
    """
    w = weights or AmplificationWeights()
    extra = {"cut_low": pl.col("cut"), "cut_high": pl.col("cut"), "inferred": pl.lit(False)}
    posts = posts.with_columns(v.alias(k) for k, v in extra.items() if k not in posts.columns)
    shares = posts.filter(pl.col("is_share")).sort(by, "created_at", "post_id")
    shares = shares.with_columns(
        _pos=pl.int_range(1, pl.len() + 1).over(by),
        _n=pl.len().over(by),
        _flag=pl.col("bot") | pl.col("coordinated"),
    ).with_columns(_early=pl.col("_pos") <= (pl.col("_n") * early_fraction).ceil().clip(1, None))
    agg = shares.group_by(by).agg(
        shares=pl.len().cast(pl.Int64),
        bots=pl.col("bot").sum().cast(pl.Int64),
        early=pl.col("_early").sum().cast(pl.Int64),
        early_bots=(pl.col("bot") & pl.col("_early")).sum().cast(pl.Int64),
        early_flagged=(pl.col("_flag") & pl.col("_early")).sum().cast(pl.Int64),
        coordinated=pl.col("coordinated").sum().cast(pl.Int64),
        bot_only=(pl.col("bot") & ~pl.col("coordinated")).sum().cast(pl.Int64),
        coordinated_only=(~pl.col("bot") & pl.col("coordinated")).sum().cast(pl.Int64),
        both=(pl.col("bot") & pl.col("coordinated")).sum().cast(pl.Int64),
        cut=pl.col("cut").sum().cast(pl.Int64),
        cut_low=pl.col("cut_low").sum().cast(pl.Int64),
        cut_high=pl.col("cut_high").sum().cast(pl.Int64),
        inferred_edges=pl.col("inferred").sum().cast(pl.Int64),
    )
    counts = [
        "shares",
        "bots",
        "early",
        "early_bots",
        "early_flagged",
        "coordinated",
        "bot_only",
        "coordinated_only",
        "both",
        "cut",
    ]
    groups = posts.select(by).unique()
    out = groups.join(agg, on=by, how="left").with_columns(
        pl.col([*counts, "cut_low", "cut_high", "inferred_edges"]).fill_null(0)
    )
    denom = pl.col("shares").clip(1, None).cast(pl.Float64)
    early_denom = pl.col("early").clip(1, None).cast(pl.Float64)
    out = out.with_columns(
        bot_share=pl.col("bots") / denom,
        early_bot_share=pl.col("early_bots") / early_denom,
        coordinated_share=pl.col("coordinated") / denom,
        reach_via_bots=pl.col("cut") / denom,
        share_bot_only=pl.col("bot_only") / denom,
        share_coordinated_only=pl.col("coordinated_only") / denom,
        share_both=pl.col("both") / denom,
        # no shares: nothing was amplified, all of nothing is "neither"
        share_neither=1.0
        - (pl.col("bot_only") + pl.col("coordinated_only") + pl.col("both")) / denom,
        _early_flagged=pl.col("early_flagged") / early_denom,
        reach_via_bots_low=pl.col("cut_low") / denom,
        reach_via_bots_high=pl.col("cut_high") / denom,
    )
    out = out.with_columns(
        amplification_score=(
            w.early_flagged * pl.col("_early_flagged")
            + w.flagged_share * (1.0 - pl.col("share_neither"))
            + w.reach_via_bots * pl.col("reach_via_bots")
        ).clip(0.0, 1.0)
    )
    s = pl.col
    flagged = 1.0 - s("share_neither")
    parts = [
        pl.when(s("_early_flagged") >= mention_at).then(
            pl.format(
                "bot-like or coordinated accounts made {} of the first {} shares",
                s("early_flagged"),
                s("early"),
            )
        ),
        pl.when(flagged >= mention_at).then(
            _pct(flagged)
            + pl.lit(" of shares came from flagged accounts (bot-like only ")
            + _pct(s("share_bot_only"))
            + pl.lit(", coordinated only ")
            + _pct(s("share_coordinated_only"))
            + pl.lit(", both ")
            + _pct(s("share_both"))
            + pl.lit(")")
        ),
        pl.when(s("reach_via_bots") >= mention_at).then(
            _pct(s("reach_via_bots"))
            + pl.lit(f" of the {unit} was reached only through bot-like or coordinated accounts")
            + pl.when(s("inferred_edges") > 0)
            .then(pl.lit(" over explicit links"))
            .otherwise(pl.lit(""))
        ),
        pl.when(
            (s("inferred_edges") > 0)
            & (s("reach_via_bots_high") >= mention_at)
            & (s("reach_via_bots_high") > s("reach_via_bots_low"))
        ).then(
            pl.format(
                "counting the {} inferred (guessed) parent links, between {} and {} of the {} "
                "was reached only through bot-like or coordinated accounts",
                s("inferred_edges"),
                _pct(s("reach_via_bots_low")),
                _pct(s("reach_via_bots_high")),
                pl.lit(unit),
            )
        ),
    ]
    reasons = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    out = out.with_columns(
        amplification_reasons=pl.when(s("shares") == 0)
        .then(pl.lit("no shares yet"))
        .when(reasons == "")
        .then(pl.lit("no bot-like or coordinated amplification found"))
        .otherwise(reasons)
    )
    return out.select(by, "shares", *SCORE_COLUMNS).sort(by)

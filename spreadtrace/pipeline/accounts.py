"""Build stage "accounts": coordination pairs and clusters, then bot scores.

Two separate signals per account: ``bot_score`` (automation, from the profile and the
account's own behaviour) and ``coordination_score`` (how tightly it co-shares with its
closest partner). Co-sharing is deliberately not an input of the bot score: a page
network that publishes together is coordinated, not automated (issue 10).

Incremental (issue 12): the stage keeps its state (:mod:`spreadtrace.store.accounts_state`:
per-account features, every share, every co-share hit), so a build recomputes the
features of the accounts its new posts change and runs the co-share range join only
over the items whose shares changed. Two inputs stay global, by their definitions,
and are recomputed from the stored state without reading posts: the NPMI strength of
every kept pair (it divides by the number of items shared at all, so the clusters are
re-run over the kept pairs) and posts_per_day (over the store's span in whole days,
rounded up; a batch that extends the span within the same whole day rescores only the
accounts it touched). When the span crosses a day boundary, posts_per_day moves for
every account with posts and nothing else does: the behaviour model is logistic, so
every such account's bot and behaviour scores move, and are recomputed from its stored
score parts (``account_score_parts``: the profile model's logit, no tree walk;
:func:`spreadtrace.graph.bots.rate_shift`); only the accounts whose verdict, reasons or
rounded features can move are scored whole (1.4% of the real-shaped store's accounts
across 25 days). Rescoring every account (a full build) runs in batches of
``RESCORE_BATCH`` accounts, each written set-wise: the scores in one UPDATE, each text
column only where it differs; a day boundary follows the span in batches of as many
accounts. A full build empties the state and equals any sequence of incremental
builds (``tests/test_incremental.py``, ``tests/test_accounts_incremental.py``,
``tests/test_accounts_days.py``). The caller (``run_build``) owns the transaction, so
readers never see half a stage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from spreadtrace.graph.bots import (
    SCORE_PART_COLUMNS,
    LogisticModel,
    follows_rate,
    load_model,
    rate_shift,
    score_accounts,
)
from spreadtrace.graph.coordination import CLUSTER_METHODS, cluster_pairs, npmi
from spreadtrace.graph.tree_model import TreeEnsemble
from spreadtrace.pipeline.changes import Changes
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import accounts_scores as account_sql
from spreadtrace.store import accounts_state as state_sql
from spreadtrace.store import coordination as coordination_sql

# Bump when the stage's rules change: a stored state from another version is recomputed.
# 2: posts_per_day over whole days, and the verdict counts signals per piece of evidence
# (stored scores of accounts an incremental build would not rescore used the old rules).
# 3: the pace reasons for likes and follows say "typical of bots", not "bot-like pace"
# (the stored reasons of accounts a build would not rescore carry the old words).
STATE_VERSION = 3

# accounts per batch when every account is rescored (a full build, or the store's span
# crossing a day boundary): what Python holds at once (scores are row-wise)
RESCORE_BATCH = 100_000

__all__ = [
    "AccountParams",
    "adopt",
    "coordination_results",
    "coordination_scores",
    "params_from_dict",
    "run",
    "scored_accounts",
    "state_key",
]


def coordination_scores(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per account: ``coordination_score`` = its strongest pair strength (NPMI, [0, 1]).

    Why the strongest pair: coordination is a relation, and one partner it moves with in
    lock-step (NPMI near 1: they share almost only together) is the clearest evidence;
    an account without any pair (>= min_shared co-shares) scores 0.

    >>> pairs = pl.DataFrame({"account_a": ["a", "a"], "account_b": ["b", "c"],
    ...                       "strength": [0.9, 0.4]})
    >>> coordination_scores(pairs).sort("account_id").rows()
    [('a', 0.9), ('b', 0.9), ('c', 0.4)]
    """
    ends = pl.concat(
        [
            pairs.select(pl.col("account_a").alias("account_id"), "strength"),
            pairs.select(pl.col("account_b").alias("account_id"), "strength"),
        ]
    )
    return ends.group_by("account_id").agg(
        pl.col("strength").max().cast(pl.Float64).alias("coordination_score")
    )


@dataclass(frozen=True)
class AccountParams:
    """Options of the accounts stage, with their defaults and why.

    - bot_threshold 0.5: bot_score is a pooled probability; >= 0.5 means "more likely
      automated than not". is_bot_like also needs sufficient evidence and two
      automation signals (graph.bots.score_accounts).
    - fast_reaction_s 10: a repost this soon after its parent is faster than people
      read (bots react in seconds; Yang et al. 2019).
    - window_s 60: co-shares within one minute (CooRTweet's and the QUT toolkit's
      usual co-retweet window).
    - min_shared 2: two accounts must co-share at least two distinct items.
    - min_strength 0.3: pairs below this NPMI are kept in coordination_pairs but do not
      link clusters.
    - cluster_method "leiden" (Constant Potts Model over NPMI strengths) or
      "components"; leiden_resolution 0.4: a cluster's pair strengths must average at
      least 0.4 over all its member pairs (see graph.coordination.cluster_pairs).
    - max_bucket 1000: the cap per (item, time bucket) that keeps the range join
      linear on hot items (see spreadtrace.store.coordination).
    - items ("repost", "url", "media"): what counts as sharing the same item (media:
      the same image or video, a media group).
    """

    bot_threshold: float = 0.5
    fast_reaction_s: float = 10.0
    window_s: float = 60.0
    min_shared: int = 2
    min_strength: float = 0.3
    cluster_method: str = "leiden"
    leiden_resolution: float = 0.4
    max_bucket: int = 1000
    items: tuple[str, ...] = ("repost", "url", "media")

    def __post_init__(self) -> None:
        if not 0.0 <= self.bot_threshold <= 1.0:
            raise ValueError("bot_threshold must be in [0, 1]")
        if self.window_s <= 0:
            raise ValueError("window_s must be > 0")
        if self.min_shared < 1:
            raise ValueError("min_shared must be >= 1")
        if self.cluster_method not in CLUSTER_METHODS:
            raise ValueError(f"cluster_method must be one of {CLUSTER_METHODS}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["items"] = list(self.items)
        return d


def state_key(params: AccountParams, profile_version: str, behaviour_version: str) -> str:
    """What the stored state was made with (rules, models, parameters), as JSON: a state
    made otherwise is recomputed. One definition for both engines (``attach``)."""
    models = {"profile": profile_version, "behaviour": behaviour_version}
    return json.dumps(
        {"version": STATE_VERSION, "models": models, **params.to_dict()}, sort_keys=True
    )


def coordination_results(
    pairs: pl.DataFrame, params: AccountParams
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(coordination_pairs rows, coordination_clusters rows, per-account
    coordination_score) from the kept pairs' evidence (account_a, account_b,
    shared_items, n_a, n_b, n_items, sorted by the pair).

    The strength (NPMI) and the clusters (Leiden over the whole pair graph, seeded, so
    the edges' order is part of the input) are global over the kept pairs: both engines
    hand this function the same sorted frame (the Spark engine collects the pair graph,
    thousands of rows where posts are millions).
    """
    strength = npmi(
        pairs["shared_items"].to_numpy(),
        pairs["n_a"].to_numpy(),
        pairs["n_b"].to_numpy(),
        int(pairs["n_items"][0]) if pairs.height else 1,
    )
    pairs = pairs.with_columns(pl.Series("strength", strength, dtype=pl.Float64))
    clusters = cluster_pairs(
        pairs,
        min_strength=params.min_strength,
        method=params.cluster_method,
        resolution=params.leiden_resolution,
    )
    member = clusters.select("account_id", "cluster_id")
    pairs = (
        pairs.join(
            member.rename({"account_id": "account_a", "cluster_id": "ca"}),
            on="account_a",
            how="left",
        )
        .join(
            member.rename({"account_id": "account_b", "cluster_id": "cb"}),
            on="account_b",
            how="left",
        )
        .with_columns(pl.when(pl.col("ca") == pl.col("cb")).then(pl.col("ca")).alias("cluster_id"))
        .select("account_a", "account_b", "shared_items", "strength", "cluster_id")
    )
    return pairs, clusters, coordination_scores(pairs)


def scored_accounts(
    behaviour: pl.DataFrame,
    profiles: pl.DataFrame,
    coordination: pl.DataFrame,
    params: AccountParams,
    profile_model: LogisticModel | TreeEnsemble,
    behaviour_model: LogisticModel | TreeEnsemble,
    *,
    parts: bool = False,
) -> pl.DataFrame:
    """account_scores rows (but build_id) of the accounts in ``behaviour`` / ``profiles``
    (:func:`spreadtrace.store.accounts_state.scored_features_sql`), with their
    ``coordination_score`` (0 without a kept pair); with ``parts``, their score parts
    too (``score_accounts``). Row-wise: the Spark engine calls it per batch of accounts."""
    scores = score_accounts(
        behaviour,
        profiles,
        threshold=params.bot_threshold,
        fast_s=params.fast_reaction_s,
        profile_model=profile_model,
        behaviour_model=behaviour_model,
        parts=parts,
    ).join(coordination, on="account_id", how="left")
    return scores.with_columns(pl.col("coordination_score").fill_null(0.0))


@dataclass(frozen=True)
class _Scorer:
    """Scores the accounts of the scope table ``_ac_profiles`` and writes their rows and
    score parts: one definition for a whole rescoring's batches, a build's new posts
    and the accounts a day boundary rescores whole."""

    con: Any
    build_id: int
    days: float
    coordination: pl.DataFrame
    params: AccountParams
    profile_model: LogisticModel | TreeEnsemble
    behaviour_model: LogisticModel | TreeEnsemble

    def score_scope(self) -> int:
        behaviour, profiles = state_sql.features_for(self.con, self.days, every=False)
        scores = scored_accounts(
            behaviour,
            profiles,
            self.coordination,
            self.params,
            self.profile_model,
            self.behaviour_model,
            parts=True,
        )
        del behaviour, profiles
        n = account_sql.write_account_scores(self.con, scores, self.build_id, every=False)
        state_sql.write_parts(self.con, scores.select("account_id", "posts", *SCORE_PART_COLUMNS))
        return n


def _shift(
    con: Any,
    scorer: _Scorer,
    build_id: int,
    before: float,
    days: float,
    params: AccountParams,
    behaviour_model: LogisticModel,
) -> dict[str, int]:
    """The store's span crossed a day boundary (``before`` -> ``days``): every account
    with posts that this build has not scored, a batch of accounts at a time, follows
    it from its stored parts (:func:`spreadtrace.graph.bots.rate_shift`: its bot and
    behaviour scores are set), and those whose verdict, reasons or features may move
    are scored whole. Equal to scoring every account (``tests/test_accounts_days.py``).
    """
    state_sql.keep_scored(con)
    counts = {"accounts_shifted": 0, "shift_rescored": 0, "shift_batches": 0}
    for lo, hi in state_sql.account_ranges(con, RESCORE_BATCH):
        state_sql.scope_unchanged(con, lo, hi)
        frame = state_sql.shift_inputs(con, days)
        moved = rate_shift(
            frame,
            frame.select("account_id", *SCORE_PART_COLUMNS),
            before,
            days,
            threshold=params.bot_threshold,
            behaviour_model=behaviour_model,
        )
        del frame
        whole = moved.filter(pl.col("rescore"))["account_id"]
        account_sql.shift_account_scores(con, moved.filter(~pl.col("rescore")), build_id)
        counts["accounts_shifted"] += moved.height - whole.len()
        counts["shift_batches"] += 1
        if whole.len():
            state_sql.scope_accounts(con, whole)
            counts["shift_rescored"] += scorer.score_scope()
    return counts


def params_from_dict(d: dict[str, Any]) -> AccountParams:
    """The parameters :meth:`AccountParams.to_dict` wrote (an engine's manifest)."""
    return AccountParams(**{**d, "items": tuple(d["items"])})


def adopt(store: Store, params: AccountParams) -> None:
    """Take the stage's tables loaded from another engine (``attach``) as this store's
    state, made with ``params`` and the installed models, so the next build continues
    from them incrementally. The caller owns the transaction."""
    profile_model, behaviour_model = load_model("bot_profile"), load_model("bot_behaviour")
    state_sql.adopt(store.con, state_key(params, profile_model.version, behaviour_model.version))


def run(
    store: Store,
    build_id: int,
    params: AccountParams | None = None,
    *,
    changes: Changes | None = None,
    touched: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Update account_features, coordination_shares/hits, coordination_pairs/clusters and
    account_scores; return counts for the build summary.

    ``changes`` None or full (or a stored state from other parameters): everything is
    recomputed from an empty state. Otherwise only the accounts and items the new posts
    change (:mod:`spreadtrace.store.accounts_state`); the pair strengths and clusters are
    recomputed over the kept pairs (NPMI divides by the number of items shared at all)
    and every account's scores follow the store's span when it grew by a whole day
    (posts_per_day; :func:`_shift`). Either way the tables equal a full build's
    (``tests/test_incremental.py``). ``touched`` is accepted for the stage API, unused.
    """
    params = params or AccountParams()
    con = store.con
    try:
        return _run(store, build_id, params, full=changes is None or changes.full,
                    progress=progress)  # fmt: skip
    finally:
        state_sql.drop_work_tables(con)


def _run(
    store: Store,
    build_id: int,
    params: AccountParams,
    *,
    full: bool,
    progress: ProgressFn | None,
) -> dict[str, Any]:
    con = store.con
    emit(progress, "coordination", 0, 3)
    # stored scores are kept only while the models that made them are the same
    profile_model, behaviour_model = load_model("bot_profile"), load_model("bot_behaviour")
    state = state_key(params, profile_model.version, behaviour_model.version)
    emptied = state_sql.prepare(con, state, reset=full)
    # a full build reads the stored posts directly: no scope tables
    scope = {"accounts": -1, "profiles": -1} if emptied else state_sql.scope_new_posts(con)
    work = state_sql.refresh_hits(
        con,
        build_id,
        items=params.items,
        window_s=params.window_s,
        max_bucket=params.max_bucket,
        emptied=emptied,
    )
    emit(progress, "coordination", 1, 3)
    pairs = state_sql.pair_evidence(con, min_shared=params.min_shared, emptied=emptied)
    pairs, clusters, coordination = coordination_results(pairs, params)
    emit(progress, "coordination", 2, 3)
    written = coordination_sql.sync_results(con, pairs, clusters, build_id)
    emit(progress, "coordination", 3, 3)

    emit(progress, "bot scores", 0, 2)
    # automation only: co-sharing is not an input of the bot score
    features = state_sql.refresh_features(con, fast_s=params.fast_reaction_s, every=emptied)
    before = state_sql.stored_days(con)
    days = state_sql.store_days(con)
    # posts_per_day of every account changed (the span is whole days: at most once a day)
    crossed = not emptied and before != days
    # ... and nothing else: the scores follow it from the stored parts (rate_shift)
    shift = (
        crossed
        and before is not None
        and isinstance(behaviour_model, LogisticModel)
        and follows_rate(profile_model, behaviour_model)
    )
    every = emptied or (crossed and not shift)
    ranges: list[tuple[str | None, str | None] | None] = (
        list(state_sql.account_ranges(con, RESCORE_BATCH)) if every else [None]
    )
    scorer = _Scorer(con, build_id, days, coordination, params, profile_model, behaviour_model)
    rescored = 0
    for batch in ranges:
        if batch is not None:  # every account, one batch of them at a time
            state_sql.scope_range(con, *batch)
        rescored += scorer.score_scope()
    shifted = {"accounts_shifted": 0, "shift_rescored": 0, "shift_batches": 0}
    if shift:
        assert before is not None and isinstance(behaviour_model, LogisticModel)
        shifted = _shift(con, scorer, build_id, before, days, params, behaviour_model)
        rescored += shifted["shift_rescored"]
    if every or shift:
        state_sql.drop_unscored(con, build_id)
    emit(progress, "bot scores", 1, 2)
    recoordinated = account_sql.update_coordination_scores(con, coordination, build_id)
    emit(progress, "bot scores", 2, 2)
    scored, bot_like = account_sql.score_totals(con)
    return {
        "accounts_scored": scored,
        "bot_like_accounts": bot_like,
        "coordination_pairs": pairs.height,
        "coordination_clusters": clusters["cluster_id"].n_unique() if clusters.height else 0,
        "coordinated_accounts": clusters.height,
        "full": emptied,
        "features_recomputed": features,
        "accounts_rescored": rescored,
        "rescore_batches": len(ranges) if every else 0,
        **shifted,
        "coordination_scores_changed": recoordinated,
        "coordination_rows_written": written["deleted"] + written["inserted"],
        "accounts": scope["accounts"],
        "profiles": scope["profiles"],
        **work,
    }

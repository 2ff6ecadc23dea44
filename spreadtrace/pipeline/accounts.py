"""Build stage "accounts": coordination pairs and clusters, then bot scores.

Why this order: the behaviour part of the bot score uses "share of activity inside
coordinated pairs", so coordination runs first on the same connection (its temp
tables feed the behaviour features), then the bot scores.

Both parts are recomputed globally and set-wise on every build (they depend on every
account's whole history, not on single cascades); the caller (``run_build``) owns the
transaction, so readers never see half a stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from spreadtrace.graph.bots import score_accounts
from spreadtrace.graph.coordination import CLUSTER_METHODS, cluster_pairs, npmi
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import accounts_scores as account_sql
from spreadtrace.store import coordination as coordination_sql

__all__ = ["AccountParams", "run"]


@dataclass(frozen=True)
class AccountParams:
    """Options of the accounts stage, with their defaults and why.

    - bot_threshold 0.5: bot_score is a pooled probability; >= 0.5 means "more likely
      automated than not" (is_bot_like).
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


def run(
    store: Store,
    build_id: int,
    params: AccountParams | None = None,
    *,
    touched: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Recompute coordination_pairs, coordination_clusters and account_scores.

    ``touched`` is accepted for the stage API but unused: these scores depend on whole
    account histories and are recomputed globally (set-wise SQL, then numpy/igraph
    over one row per pair or account). Returns counts for the build summary.
    """
    params = params or AccountParams()
    con = store.con
    emit(progress, "coordination", 0, 3)
    stats = coordination_sql.co_share_pairs(
        con,
        window_s=params.window_s,
        min_shared=params.min_shared,
        max_bucket=params.max_bucket,
        items=params.items,
    )
    emit(progress, "coordination", 1, 3)
    pairs = coordination_sql.fetch_pairs(con)
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
    emit(progress, "coordination", 2, 3)
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
    coordination_sql.replace_results(con, pairs, clusters, build_id)
    emit(progress, "coordination", 3, 3)

    emit(progress, "bot scores", 0, 2)
    behaviour = account_sql.behaviour_features(
        con, fast_s=params.fast_reaction_s, coordination=True
    )
    profiles = account_sql.profile_snapshots(con)
    coordination_sql.drop_temp(con)
    scores = score_accounts(
        behaviour,
        profiles,
        threshold=params.bot_threshold,
        fast_s=params.fast_reaction_s,
    )
    emit(progress, "bot scores", 1, 2)
    written = account_sql.replace_account_scores(con, scores, build_id)
    emit(progress, "bot scores", 2, 2)
    return {
        "accounts_scored": written,
        "bot_like_accounts": int(scores["is_bot_like"].sum()),
        "coordination_pairs": pairs.height,
        "coordination_clusters": clusters["cluster_id"].n_unique() if clusters.height else 0,
        "coordinated_accounts": clusters.height,
        "co_shares": stats["shares"],
        "co_shares_capped": stats["shares_capped"],
    }

"""Account bot-likeness (automation only): a profile model, a behaviour model, one pooled
score, an evidence state, and reasons that point the way of the verdict.

Why two parts: a profile snapshot (counts, age, handle) is available even for an
account that posted nothing in the store, and posts show behaviour a profile hides
(reacting within seconds, posting around the clock, repeating itself). Either part
alone still gives a score; when both exist they are pooled. Co-sharing with other
accounts is deliberately not an input: coordination is a separate signal
(``coordination_score``, pipeline/accounts.py), so publishers that post together are
not called automated for it.

- Profile part: scale-free BotometerLite features (Yang et al. 2020): growth rates per
  day of account age at ``observed_at``, log ratios of counts, length and digits of
  handle and name, description length, default profile and image, verified. A random
  forest trained by ``scripts/train_bot_model.py`` on the Botometer bot repository
  sets, Platt-calibrated, stored as a plain JSON tree dump (``models/bot_profile.json``,
  evaluated by :class:`spreadtrace.graph.tree_model.TreeEnsemble`; missing features are
  marginalised, never read as 0).
- Behaviour part: share of reposts, share of reposts within seconds of the parent,
  median reaction delay, posting rate, hour-of-day entropy, burstiness of inter-event
  times (Goh & Barabasi 2008), repetition of its own texts. A hand-set logistic model
  over these (``models/bot_behaviour.json``; how it was set is in that file and in
  docs/scores.md).
- Pooling: a weighted logarithmic opinion pool (Genest & Zidek 1986) of the parts'
  probabilities and the base rate, ``logit(score) = sum_i w_i logit(p_i) / sum_i w_i``,
  with the behaviour weight growing with the number of posts (``posts / (posts + 5)``),
  so that one post says little and a full history says a lot, and the base rate
  (``BOT_PRIOR``) weighing as much as a profile.
- Verdict: bot-like only with sufficient evidence and at least ``MIN_BOT_SIGNALS``
  signals pointing to automation, counted per piece of evidence (``SIGNAL_GROUP``),
  one of them about what the account itself does (``PASSIVE_GROUPS``: how little it
  likes and how others follow it never flag on their own; ``score_accounts``).

Scoring is pure numpy/polars over one row per account; the model files are plain
JSON, so no ML library is needed at run time.

References:
Yang, K.-C., Varol, O., Hui, P.-M., Menczer, F. (2020). Scalable and generalizable
social bot detection through data selection. AAAI (BotometerLite).
Yang, K.-C. et al. (2019). Arming the public with artificial intelligence to counter
social bots. Human Behavior and Emerging Technologies 1(1).
Cresci, S. et al. (2018). $FAKE: Evidence of spam and bot activity in stock
microblogs on Twitter. ICWSM.
Goh, K.-I., Barabasi, A.-L. (2008). Burstiness and memory in complex systems. EPL 81.
Genest, C., Zidek, J. V. (1986). Combining probability distributions: a critique and
an annotated bibliography. Statistical Science 1(1).
Varol, O. et al. (2017). Online human-bot interactions: detection, estimation, and
characterization. ICWSM (bot prevalence 9-15%).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import polars as pl

from spreadtrace.graph.tree_model import TreeEnsemble

__all__ = [
    "ACCOUNT_SCORE_COLUMNS",
    "EVIDENCE_STATES",
    "SCORE_COLUMNS",
    "SCORE_PART_COLUMNS",
    "follows_rate",
    "rate_shift",
    "PROFILE_FEATURES",
    "reason_templates",
    "BEHAVIOUR_FEATURES",
    "LogisticModel",
    "load_model",
    "profile_features",
    "behaviour_matrix",
    "score_accounts",
    "roc_auc",
    "fit_logistic",
    "standardise_stats",
]

# name -> (transform, reason when the feature points to automation, reason when it points
# to an organic account). Which one is shown follows the sign of the feature's
# contribution to the logit, never the raw value, so a reason always points the same
# way as the verdict it explains. Templates are polars-format strings over the *raw*
# value ``{}``; None means "never a reason".
PROFILE_FEATURES: dict[str, tuple[str, str | None, str | None]] = {
    "posts_count": ("log1p", None, None),
    "followers_count": ("log1p", None, None),
    "following_count": ("log1p", None, None),
    "likes_count": ("log1p", None, None),
    "listed_count": ("log1p", None, None),
    "posts_per_day_age": (
        "log1p",
        "posting pace typical of automated accounts ({} a day since it was created)",
        "a human posting pace ({} a day since it was created)",
    ),
    "followers_per_day": (
        "log1p",
        "follower growth typical of bot accounts ({} a day)",
        "follower growth typical of people ({} a day)",
    ),
    "following_per_day": (
        "log1p",
        "follows new accounts at a pace typical of bots ({} a day)",
        "follows new accounts at a pace typical of people ({} a day)",
    ),
    "likes_per_day": (
        "log1p",
        "likes at a pace typical of bots ({} a day)",
        "likes at a pace typical of people ({} a day)",
    ),
    "listed_per_day": ("log1p", None, None),
    "followers_following_log_ratio": (
        "identity",
        "follower/following balance typical of bots (log ratio {})",
        "follower/following balance typical of people (log ratio {})",
    ),
    "likes_per_post": (
        "identity",
        "likes-to-posts balance typical of bots (log ratio {})",
        "likes-to-posts balance typical of people (log ratio {})",
    ),
    "listed_per_follower": (
        "identity",
        "rarely listed for its audience (log ratio {})",
        "listed by others as people list real accounts (log ratio {})",
    ),
    "account_age_days": ("log1p", None, None),
    "handle_length": (
        "identity",
        "handle length typical of generated names ({} characters)",
        "handle length typical of chosen names ({} characters)",
    ),
    "handle_digits": (
        "identity",
        "{} digits in the handle, as in generated names",
        "handle without the digits of generated names ({} digits)",
    ),
    "name_length": (
        "identity",
        "display name shaped like bot accounts' ({} characters)",
        "display name shaped like people's ({} characters)",
    ),
    "name_digits": (
        "identity",
        "{} digits in the display name",
        "display name without digits ({})",
    ),
    "description_length": (
        "log1p",
        "profile description typical of bots ({} characters)",
        "a written profile description ({} characters)",
    ),
    "default_profile": (
        "identity",
        "profile layout as bots leave it (default profile: {})",
        "customised profile (default profile: {})",
    ),
    "default_profile_image": (
        "identity",
        "profile image as bots leave it (default image: {})",
        "own profile image (default image: {})",
    ),
    # "not verified" is what almost every account is: it counts, but is never a reason
    "verified": ("identity", None, "verified account"),
}

BEHAVIOUR_FEATURES: dict[str, tuple[str, str | None, str | None]] = {
    "repost_share": (
        "identity",
        "{}% of its posts are reposts",
        "writes its own posts ({}% reposts)",
    ),
    "fast_share": (
        "identity",
        "reposts within {fast_s} s of the parent in {}% of its shares",
        "rarely reposts within {fast_s} s of the parent ({}% of its shares)",
    ),
    "median_delay_s": (
        "log1p",
        "reacts within seconds of the parent (median delay {} s)",
        "reacts minutes after the parent (median delay {} s)",
    ),
    "posts_per_day": (
        "log1p",
        "posts {} times a day",
        "posts at a human pace ({} a day)",
    ),
    "hour_entropy": (
        "identity",
        "active around the clock (hour-of-day entropy {})",
        "posts in daytime hours (hour-of-day entropy {})",
    ),
    "burstiness": (
        "identity",
        "posts at clockwork-regular intervals (burstiness {})",
        "posts in human bursts (burstiness {})",
    ),
    "self_repeat_share": (
        "identity",
        "repeats its own posts word for word ({}% of its texts)",
        "does not repeat its own posts ({}% repeated)",
    ),
}

# Features shown as percentages in reasons (raw value in [0, 1]).
_PERCENT = {"repost_share", "fast_share", "self_repeat_share"}
# A reason must also be true of the raw value, not only of the model's contribution: a
# tree model can lower a score at a pace no person keeps. 50 posts a day is the mark of
# heavy automation in the computational-propaganda studies (Howard & Kollanyi 2016,
# "Bots, #StrongerIn, and #Brexit", COMPROP Research Note 2016.1), so a pace at or above
# it is never called a human pace (the reason is left out; others take its place).
HEAVY_AUTOMATION_PER_DAY = 50.0
_ORGANIC_ONLY_BELOW = {
    "posts_per_day": HEAVY_AUTOMATION_PER_DAY,
    "posts_per_day_age": HEAVY_AUTOMATION_PER_DAY,
}
# Behaviour features need enough evidence to mean anything: below these counts they
# are treated as missing (contribution 0), not as extreme values from one or two posts.
MIN_TIMED_REPOSTS = 3
MIN_POSTS_RHYTHM = 8
MIN_TEXTS_REPEAT = 5
# The evidence gate (docs/scores.md): an account can be called bot-like only with
# - a usable profile: the counts every rate needs (created_at, followers, following,
#   posts), or
# - a usable history: at least MIN_POSTS_RHYTHM posts or MIN_TIMED_REPOSTS timed reposts;
# and only when at least MIN_BOT_SIGNALS separate features point to automation, so one
# weak feature (a low follower count) never flags an account on its own.
PROFILE_REQUIRED = ("created_at", "followers_count", "following_count", "posts_count")
MIN_BOT_SIGNALS = 2
# Signals are counted per piece of evidence, not per feature: features derived from one
# count say one thing (likes per day and likes per post: "rarely likes"; followers per
# day and lists per follower: its audience). And a flag must rest on at least one
# signal of what the account itself does (its posting or following pace, its names,
# its profile, its behaviour), not only on how little it likes and how others follow
# or list it: "publishes, does not like, draws a following" is what news pages, brand
# feeds and organisations show as much as feed bots do. On the labelled human
# collections most false flags of the profile model rested on exactly that
# (WSJdeals, the Wall Street Journal's deals feed, at 0.523 on "likes at a bot-like
# pace; likes-to-posts balance typical of bots; follower growth typical of bot
# accounts"; docs/scores.md, "The worst mistake"). Features not listed are their own
# group.
SIGNAL_GROUP = {
    "likes_per_day": "likes",
    "likes_per_post": "likes",
    "followers_per_day": "audience",
    "listed_per_follower": "audience",
}
PASSIVE_GROUPS = frozenset({"likes", "audience"})
EVIDENCE_STATES = ("sufficient", "insufficient")

# a feature's share of the pooled logit that makes it a reason (and a signal)
MIN_REASON_LOGIT = 0.25

#: account_scores' value columns (the store's table but account_id and build_id) with
#: their types (Spark's names; features is JSON text): the one list that the scorer's
#: output, the store's writes and the Spark engine's schema follow.
ACCOUNT_SCORE_COLUMNS: dict[str, str] = {
    "posts": "bigint", "reposts": "bigint", "profile_score": "double",
    "behaviour_score": "double", "bot_score": "double", "is_bot_like": "boolean",
    "bot_reasons": "string", "features": "string", "model_version": "string",
    "coordination_score": "double", "bot_evidence": "string",
}  # fmt: skip
#: What :func:`score_accounts` returns per account besides account_id, in this order
#: (coordination_score is added by the accounts stage: co-sharing is no bot input).
SCORE_COLUMNS: tuple[str, ...] = tuple(
    c for c in ACCOUNT_SCORE_COLUMNS if c != "coordination_score"
)
#: With ``parts``, these too (per account, the inputs of :func:`rate_shift`): the profile
#: model's logit, whether a profile and a complete one exist, and the strengths of the
#: other shown reasons nearest to the posting rate's below and above (-inf, inf: none).
SCORE_PART_COLUMNS: tuple[str, ...] = (
    "profile_logit", "has_profile", "profile_complete", "rate_below", "rate_above",
)  # fmt: skip
# the one feature that follows the store's span (posts over its whole days)
_RATE = "posts_per_day"

BEHAVIOUR_WEIGHT_K = 5.0  # behaviour pooling weight = posts / (posts + K)
PROFILE_WEIGHT = 0.5  # a profile says less than a full history (docs/scores.md)
BEHAVIOUR_WEIGHT = 1.0
# The prior opinion in the pool: bot prevalence among active accounts (Varol et al. 2017
# estimate 9-15%), with the weight of one profile. A profile alone (weight 0.5) then
# needs a calibrated probability of about 0.85 to reach 0.5: a model that generalises
# to unseen bot families with AUC ~0.75 (docs/scores.md) is not enough on its own to
# call an ordinary account a bot.
BOT_PRIOR = 0.15
PRIOR_WEIGHT = 0.5


@dataclass(frozen=True)
class LogisticModel:
    """A logistic regression over standardised, transformed features, read from JSON.

    ``p = sigmoid(intercept + sum_j coef_j * (f_j(x_j) - mean_j) / std_j)``; a missing
    feature (NaN) is imputed at its mean, so it contributes 0 to the logit.

    >>> m = LogisticModel("t", ["a"], ["identity"], [0.0], [1.0], [2.0], 0.0)
    >>> m.predict(np.array([[1.0], [np.nan]])).round(3).tolist()
    [0.881, 0.5]
    """

    version: str
    features: list[str]
    transforms: list[str]
    mean: list[float]
    std: list[float]
    coef: list[float]
    intercept: float
    meta: dict[str, Any] = field(default_factory=dict)

    def design(self, X: np.ndarray) -> np.ndarray:
        """Transform and standardise raw feature columns; NaN -> 0 (the mean)."""
        X = np.asarray(X, dtype=float).copy()
        for j, t in enumerate(self.transforms):
            if t == "log1p":
                X[:, j] = np.sign(X[:, j]) * np.log1p(np.abs(X[:, j]))
            elif t != "identity":
                raise ValueError(f"unknown transform {t!r}")
        Z = (X - np.asarray(self.mean)) / np.asarray(self.std)
        return np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature additive contributions to the logit (n x features)."""
        return self.design(X) * np.asarray(self.coef)

    def bias(self) -> float:
        """The logit of a row with every feature missing (at its mean)."""
        return self.intercept

    def logit(self, X: np.ndarray) -> np.ndarray:
        return self.intercept + self.contributions(X).sum(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logit(X))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "features": self.features,
            "transforms": self.transforms,
            "mean": self.mean,
            "std": self.std,
            "coef": self.coef,
            "intercept": self.intercept,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogisticModel:
        return cls(
            version=data["version"],
            features=list(data["features"]),
            transforms=list(data["transforms"]),
            mean=[float(v) for v in data["mean"]],
            std=[float(v) if v else 1.0 for v in data["std"]],
            coef=[float(v) for v in data["coef"]],
            intercept=float(data["intercept"]),
            meta=dict(data.get("meta", {})),
        )


def load_model(name: str) -> LogisticModel | TreeEnsemble:
    """Load a committed model file ``spreadtrace/models/<name>.json`` (logistic or trees)."""
    text = resources.files("spreadtrace").joinpath("models", f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    if data.get("kind") == "tree-ensemble":
        return TreeEnsemble.from_json(data)
    return LogisticModel.from_json(data)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def standardise_stats(transforms: list[str], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations of the transformed columns (NaNs ignored), for training."""
    Xt = np.asarray(X, dtype=float).copy()
    for j, t in enumerate(transforms):
        if t == "log1p":
            Xt[:, j] = np.sign(Xt[:, j]) * np.log1p(np.abs(Xt[:, j]))
    mean = np.nan_to_num(np.nanmean(Xt, axis=0))
    std = np.nan_to_num(np.nanstd(Xt, axis=0))
    std[~(std > 0)] = 1.0
    return mean, std


def fit_logistic(
    Z: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    iterations: int = 50,
) -> tuple[np.ndarray, float]:
    """L2-penalised logistic regression by Newton's method (IRLS) on a design matrix.

    Why hand-written: twenty features and a few ten thousand rows need nothing more
    than a handful of Newton steps; scikit-learn would add a heavy dependency for
    training only. The intercept is not penalised. Returns (coef, intercept).

    >>> Z = np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]])
    >>> coef, b = fit_logistic(Z, np.array([0, 0, 1, 1, 0, 1]), l2=0.1)
    >>> bool(coef[0] > 0)
    True
    """
    n, k = Z.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    A = np.column_stack([np.ones(n), Z])
    beta = np.zeros(k + 1)
    penalty = np.full(k + 1, float(l2))
    penalty[0] = 0.0
    for _ in range(iterations):
        p = _sigmoid(A @ beta)
        grad = A.T @ (w * (p - y)) + penalty * beta
        H = (A * (w * p * (1 - p))[:, None]).T @ A + np.diag(penalty) + 1e-9 * np.eye(k + 1)
        step = np.linalg.solve(H, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta[1:], float(beta[0])


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# -- features -----------------------------------------------------------------------------


def _divide(expr: pl.Expr, by: float) -> pl.Expr:
    """``expr / by`` correctly rounded in every row, whatever the frame's length.

    Why not ``expr / by``: polars divides a column of two or more rows by a scalar as a
    multiplication by ``1 / by`` (one ulp off at times) but a one-row column exactly, so a
    feature rounded to 4 places (74.94625 days) depended on how many accounts were
    scored together: a full build, an incremental rescoring and the Spark engine's
    batches wrote different features. numpy divides element by element.

    >>> pl.DataFrame({"s": [6475356] * 2}).select(_divide(pl.col("s"), 86400.0))["s"][0]
    74.94625
    """

    def exact(s: pl.Series) -> pl.Series:
        values = s.cast(pl.Float64).to_numpy() / by
        return pl.Series(s.name, values, dtype=pl.Float64).fill_nan(None)

    return expr.map_batches(exact, return_dtype=pl.Float64, is_elementwise=True)


def profile_features(snapshots: pl.DataFrame) -> pl.DataFrame:
    """BotometerLite-style profile features from account snapshots (one row per account).

    ``snapshots`` has the ``accounts`` table columns (account_id, observed_at, handle,
    display_name, created_at, followers_count, following_count, posts_count,
    likes_count, listed_count, verified, default_profile, default_profile_image,
    description). Growth rates are per day of account age at ``observed_at`` (age at
    least one day). Missing inputs give null features.

    >>> from datetime import datetime, timezone
    >>> s = pl.DataFrame({"account_id": ["a"], "observed_at": [datetime(2024, 1, 11, tzinfo=timezone.utc)],
    ...     "handle": ["bot12345"], "display_name": ["B"], "created_at": [datetime(2024, 1, 1, tzinfo=timezone.utc)],
    ...     "followers_count": [3], "following_count": [900], "posts_count": [5000], "likes_count": [0],
    ...     "listed_count": [0], "verified": [False], "default_profile": [True],
    ...     "default_profile_image": [True], "description": [None]})
    >>> f = profile_features(s)
    >>> f["posts_per_day_age"][0], f["handle_digits"][0], f["description_length"][0]
    (500.0, 5, 0)
    """
    age = _divide((pl.col("observed_at") - pl.col("created_at")).dt.total_seconds(), 86400.0).clip(
        lower_bound=1.0
    )
    counts = ["posts_count", "followers_count", "following_count", "likes_count", "listed_count"]
    per_day = {
        "posts_per_day_age": "posts_count",
        "followers_per_day": "followers_count",
        "following_per_day": "following_count",
        "likes_per_day": "likes_count",
        "listed_per_day": "listed_count",
    }
    # scale-free ratios (log of a ratio of counts); null when either count is missing
    ratios = {
        "likes_per_post": ("likes_count", "posts_count"),
        "listed_per_follower": ("listed_count", "followers_count"),
    }
    handle = pl.col("handle").fill_null("")
    name = pl.col("display_name").fill_null("")
    return snapshots.select(
        "account_id",
        *[pl.col(c).cast(pl.Float64) for c in counts],
        *[(pl.col(src).cast(pl.Float64) / age).alias(dst) for dst, src in per_day.items()],
        (
            pl.col("followers_count").cast(pl.Float64).log1p()
            - pl.col("following_count").cast(pl.Float64).log1p()
        ).alias("followers_following_log_ratio"),
        *[
            (pl.col(a).cast(pl.Float64).log1p() - pl.col(b).cast(pl.Float64).log1p()).alias(dst)
            for dst, (a, b) in ratios.items()
        ],
        age.alias("account_age_days"),
        handle.str.len_chars().alias("handle_length"),
        handle.str.count_matches(r"\d").alias("handle_digits"),
        name.str.len_chars().alias("name_length"),
        name.str.count_matches(r"\d").alias("name_digits"),
        pl.col("description").fill_null("").str.len_chars().alias("description_length"),
        pl.col("default_profile").cast(pl.Float64),
        pl.col("default_profile_image").cast(pl.Float64),
        pl.col("verified").cast(pl.Float64),
    )


def behaviour_matrix(behaviour: pl.DataFrame) -> pl.DataFrame:
    """The behaviour features as the model sees them: thin evidence set to null.

    fast_share and median_delay_s need at least ``MIN_TIMED_REPOSTS`` reposts with a
    stored parent; hour_entropy and burstiness at least ``MIN_POSTS_RHYTHM`` posts;
    self_repeat_share at least ``MIN_TEXTS_REPEAT`` texts of its own.
    """
    timed = pl.col("reposts_timed") >= MIN_TIMED_REPOSTS
    rhythm = pl.col("posts") >= MIN_POSTS_RHYTHM
    if "self_repeat_share" not in behaviour.columns:
        behaviour = behaviour.with_columns(
            self_repeat_share=pl.lit(None, dtype=pl.Float64), texts=pl.lit(0, dtype=pl.Int64)
        )
    texts = pl.col("texts") >= MIN_TEXTS_REPEAT
    return behaviour.select(
        "account_id",
        pl.col("repost_share").cast(pl.Float64),
        pl.when(timed).then(pl.col("fast_share")).cast(pl.Float64).alias("fast_share"),
        pl.when(timed).then(pl.col("median_delay_s")).cast(pl.Float64).alias("median_delay_s"),
        pl.col("posts_per_day").cast(pl.Float64),
        pl.when(rhythm).then(pl.col("hour_entropy")).cast(pl.Float64).alias("hour_entropy"),
        pl.when(rhythm).then(pl.col("burstiness")).cast(pl.Float64).alias("burstiness"),
        pl.when(texts)
        .then(pl.col("self_repeat_share"))
        .cast(pl.Float64)
        .alias("self_repeat_share"),
    )


def _matrix(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    return frame.select([pl.col(n).cast(pl.Float64) for n in names]).to_numpy()


def _reason_expr(
    name: str, value: pl.Expr, bot: bool, spec: tuple[str, str | None, str | None], fast_s: float
) -> pl.Expr | None:
    template = spec[1] if bot else spec[2]
    if template is None:
        return None
    template = template.replace("{fast_s}", f"{fast_s:g}")
    if "{}" not in template:
        return pl.lit(template)
    if name in _PERCENT:
        shown = (value * 100).round(0).cast(pl.Int64).cast(pl.String)
    elif name in {"default_profile", "default_profile_image", "verified"}:
        shown = pl.when(value > 0.5).then(pl.lit("yes")).otherwise(pl.lit("no"))
    elif name in {"hour_entropy", "burstiness"} or name.endswith("_ratio") or "_per_" in name:
        shown = value.round(2).cast(pl.String)
    else:
        shown = (
            pl.when(value.abs() >= 10)
            .then(value.round(0).cast(pl.Int64).cast(pl.String))
            .otherwise(value.round(1).cast(pl.String))
        )
    return pl.format(template, shown)


def reason_templates(fast_s: float = 10.0) -> dict[str, list[str]]:
    """Every reason template by direction ("bot", "organic"), for tests and docs."""
    out: dict[str, list[str]] = {"bot": [], "organic": []}
    for specs in (PROFILE_FEATURES, BEHAVIOUR_FEATURES):
        for _, bot, organic in specs.values():
            for key, t in (("bot", bot), ("organic", organic)):
                if t is not None:
                    out[key].append(t.replace("{fast_s}", f"{fast_s:g}"))
    return out


def _render_reasons(
    n: int,
    row: np.ndarray,
    rank: np.ndarray,
    feature: np.ndarray,
    bot: np.ndarray,
    names: list[str],
    specs: list[tuple[str, str | None, str | None] | None],
    behaviour: pl.DataFrame,
    profile: pl.DataFrame,
    fast_s: float,
    n_behaviour: int,
) -> pl.Series:
    """The chosen reasons of each of ``n`` accounts (row order), rendered, '; '-joined.

    ``row``, ``rank``, ``feature``, ``bot``: one entry per chosen (account row, rank,
    feature) with the reason's direction. Only these are formatted (at most
    ``top_reasons`` per account), so the cost does not grow with features x accounts.
    Features ``0 .. n_behaviour - 1`` are behaviour columns, the rest profile columns.
    Null where nothing was chosen.
    """
    parts = []
    for j in np.unique(feature):
        spec = specs[j]
        if spec is None:
            continue
        name = names[j]
        source = behaviour if j < n_behaviour else profile
        sel = feature == j
        frame = pl.DataFrame(
            {
                "row": row[sel],
                "rank": rank[sel],
                "bot": bot[sel],
                "value": source[name].cast(pl.Float64).gather(pl.Series(row[sel])),
            }  # fmt: skip
        )
        bot_text = _reason_expr(name, pl.col("value"), True, spec, fast_s)
        organic_text = _reason_expr(name, pl.col("value"), False, spec, fast_s)
        text: Any = pl.when(pl.col("bot")).then(
            bot_text if bot_text is not None else pl.lit(None, dtype=pl.String)
        )
        text = text.otherwise(
            organic_text if organic_text is not None else pl.lit(None, dtype=pl.String)
        )
        parts.append(frame.select("row", "rank", text.cast(pl.String).alias("reason")))
    out = pl.DataFrame({"row": np.arange(n)})
    if not parts:
        return pl.Series("bot_reasons", [None] * n, dtype=pl.String)
    chosen = pl.concat(parts)
    for r in sorted(set(rank.tolist())):
        out = out.join(
            chosen.filter(pl.col("rank") == r).select("row", pl.col("reason").alias(f"r{r}")),
            on="row",
            how="left",
            maintain_order="left",
        )
    cols = [c for c in out.columns if c != "row"]
    joined = out.select(pl.concat_str(cols, separator="; ", ignore_nulls=True).alias("bot_reasons"))
    return joined["bot_reasons"].replace("", None)


def _weights(
    n_posts: np.ndarray,
    n_timed: np.ndarray,
    have_b: np.ndarray,
    have_p: np.ndarray,
    profile_ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(behaviour_ok, sufficient, wb, wp, total): the evidence gate and the pool's weights.

    A part whose evidence is thin only speaks when nothing else can; the base rate joins
    the pool as one more opinion, so thin evidence stays near it."""
    behaviour_ok = have_b & ((n_posts >= MIN_POSTS_RHYTHM) | (n_timed >= MIN_TIMED_REPOSTS))
    sufficient = behaviour_ok | profile_ok
    wb = np.where(have_b, BEHAVIOUR_WEIGHT * n_posts / (n_posts + BEHAVIOUR_WEIGHT_K), 0.0)
    wp = np.where(have_p, PROFILE_WEIGHT, 0.0)
    # an incomplete profile (no account age or counts) is no evidence of its own
    wp = np.where(profile_ok | ~behaviour_ok, wp, 0.0)
    total = PRIOR_WEIGHT + wb + wp
    return behaviour_ok, sufficient, wb, wp, total


def _pooled(
    lb: np.ndarray, lp: np.ndarray, wb: np.ndarray, wp: np.ndarray, total: np.ndarray
) -> np.ndarray:
    """The bot score: the weighted logarithmic pool of the parts' logits and the prior."""
    return _sigmoid((PRIOR_WEIGHT * _logit(np.array(BOT_PRIOR)) + wb * lb + wp * lp) / total)


def _rate_neighbours(
    strength: np.ndarray, shown: np.ndarray, j: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the strengths of the other shown reasons nearest to column ``j``'s, at
    or below it and at or above it (-inf, inf: none): while column j's strength moves
    without reaching either, the order of the reasons cannot change."""
    n = len(strength)
    if j is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    others = shown.copy()
    others[:, j] = False
    s = strength[:, [j]]
    below = np.where(others & (strength <= s), strength, -np.inf).max(axis=1, initial=-np.inf)
    above = np.where(others & (strength >= s), strength, np.inf).min(axis=1, initial=np.inf)
    return below, above


def follows_rate(
    profile_model: LogisticModel | TreeEnsemble, behaviour_model: LogisticModel | TreeEnsemble
) -> bool:
    """Whether :func:`rate_shift` can follow a change of the store's span for these
    models: the rate must be an additive term of a logistic behaviour model (a tree
    ensemble's other contributions would move with it) and not a profile feature."""
    return (
        isinstance(behaviour_model, LogisticModel)
        and _RATE in behaviour_model.features
        and _RATE not in profile_model.features
    )


def rate_shift(
    behaviour: pl.DataFrame,
    parts: pl.DataFrame,
    days_before: float,
    days: float,
    *,
    threshold: float = 0.5,
    behaviour_model: LogisticModel,
    min_reason_logit: float = MIN_REASON_LOGIT,
) -> pl.DataFrame:
    """Follow the store's span moving from ``days_before`` to ``days`` whole days for
    accounts whose features and profile did not change: account_id, behaviour_score,
    bot_score (bit for bit what :func:`score_accounts` gives with the new span) and
    ``rescore``: whether anything else of the account's row or parts may move.

    Why: posts_per_day (posts over the store's span) is the only input that moves at a
    day boundary, and rescoring every account for it cost more than a full build on a
    real-shaped store (the profile trees walked again for 836k accounts, every reason
    rendered again). The behaviour model is logistic, so the rate is one additive term:
    its scores move for every account with posts, and are recomputed here from the
    stored parts (``parts``: account_id and :data:`SCORE_PART_COLUMNS` of
    ``score_accounts(..., parts=True)``; a missing row means rescore). The discrete
    outputs move only when, between the two spans: the score crosses ``threshold``;
    the rate's contribution crosses ``min_reason_logit`` (a signal, a shown reason), or
    the rate crosses the heavy-automation pace; the rate's strength reaches another
    shown reason's (``rate_below`` / ``rate_above``: the order of the reasons); or the
    rate rounded as a reason (2 places) or a stored feature (4 places) changes. Those
    accounts are marked ``rescore``; the others' verdict, reasons and features stay.

    ``behaviour``: the frame :func:`spreadtrace.store.accounts_state.features_for` reads
    (posts_per_day over ``days``), left-joined with ``parts``, in one row order.
    """
    n = behaviour.height
    n_posts = behaviour["posts"].fill_null(0).to_numpy().astype(float)
    n_timed = behaviour["reposts_timed"].fill_null(0).to_numpy()
    known = parts["profile_logit"].is_not_null().to_numpy()
    lp = parts["profile_logit"].fill_null(0.0).to_numpy()
    have_p = parts["has_profile"].fill_null(False).to_numpy()
    profile_ok = parts["profile_complete"].fill_null(False).to_numpy()
    below = parts["rate_below"].fill_null(-np.inf).to_numpy()
    above = parts["rate_above"].fill_null(np.inf).to_numpy()
    have_b = np.ones(n, dtype=bool)
    _, sufficient, wb, wp, total = _weights(n_posts, n_timed, have_b, have_p, profile_ok)
    matrix = behaviour_matrix(behaviour)
    X = _matrix(matrix, behaviour_model.features)
    j = behaviour_model.features.index(_RATE)
    # the rate as the stored scores used it: the same division, correctly rounded
    rate_before = behaviour["posts"].cast(pl.Float64).to_numpy() / float(days_before)
    rate_now = X[:, j].copy()
    X_before = X.copy()
    X_before[:, j] = rate_before
    bot, organic = BEHAVIOUR_FEATURES[_RATE][1:]
    limit = _ORGANIC_ONLY_BELOW[_RATE]
    out = {}
    for key, Xk, rate in (("before", X_before, rate_before), ("now", X, rate_now)):
        cb = behaviour_model.contributions(Xk)
        lb = behaviour_model.bias() + cb.sum(axis=1)
        score = _pooled(lb, lp, wb, wp, total)
        high = score >= threshold
        c = cb[:, j] * (wb / total)
        strength = np.where(high, c, -c)
        shown = (
            (strength >= min_reason_logit)
            & np.where(high, bot is not None, (organic is not None) & ~(rate >= limit))
            & sufficient
        )
        signal = (c >= min_reason_logit) & (bot is not None)
        out[key] = (lb, score, high, strength, shown, signal)
    lb, score, high, strength, shown, signal = out["now"]
    _, _, high0, strength0, shown0, signal0 = out["before"]
    low, top = np.minimum(strength0, strength), np.maximum(strength0, strength)

    def rounded(values: np.ndarray, places: int) -> pl.Series:
        return pl.Series(values, dtype=pl.Float64).round(places)

    rescore = (
        ~known
        | (high != high0)
        | (signal != signal0)
        | (shown != shown0)
        | (below >= low)
        | (above <= top)
        | (rounded(rate_before, 2) != rounded(rate_now, 2)).to_numpy()
        | (rounded(rate_before, 4) != rounded(rate_now, 4)).to_numpy()
    )
    return pl.DataFrame(
        {
            "account_id": behaviour["account_id"],
            # no stored parts, no score: the account is rescored whole
            "behaviour_score": pl.Series(np.where(known, _sigmoid(lb), np.nan)).fill_nan(None),
            "bot_score": pl.Series(np.where(known, score, np.nan)).fill_nan(None),
            "rescore": rescore,
        }
    )


def _flag_column(base: pl.DataFrame, frame: pl.DataFrame, name: str) -> np.ndarray:
    """Which of ``base``'s accounts appear in ``frame`` (as a bool array)."""
    return (
        base.join(
            frame.select("account_id", pl.lit(True).alias(name)), on="account_id", how="left"
        )[name]
        .fill_null(False)
        .to_numpy()
    )


def score_accounts(
    behaviour: pl.DataFrame | None,
    profiles: pl.DataFrame | None,
    *,
    threshold: float = 0.5,
    fast_s: float = 10.0,
    profile_model: LogisticModel | TreeEnsemble | None = None,
    behaviour_model: LogisticModel | TreeEnsemble | None = None,
    top_reasons: int = 3,
    min_reason_logit: float = MIN_REASON_LOGIT,
    parts: bool = False,
) -> pl.DataFrame:
    """One automation score per account from whatever parts are available, with reasons.

    ``behaviour``: the frame of :func:`spreadtrace.store.accounts_scores.behaviour_features`
    (one row per account with posts); ``profiles``: the ``accounts`` snapshot frame.
    Returns the account_scores columns (without build_id and coordination_score):
    account_id, posts, reposts, profile_score, behaviour_score, bot_score, is_bot_like,
    bot_evidence, bot_reasons, features (JSON text), model_version.

    Co-sharing with other accounts is *not* an input: coordination is scored apart
    (``coordination_score``), so a page network that publishes together is not called
    automated for it. The verdict is gated (see ``PROFILE_REQUIRED``, ``MIN_BOT_SIGNALS``):
    ``is_bot_like`` needs sufficient evidence, ``bot_score >= threshold`` and at least
    two signals pointing to automation (features of one piece of evidence count once,
    ``SIGNAL_GROUP``), one of them not in ``PASSIVE_GROUPS``. Reasons point the same
    way as the verdict: a flagged account lists what looks automated, an unflagged one
    what looks organic.

    ``parts``: also the columns of :data:`SCORE_PART_COLUMNS`, what :func:`rate_shift`
    needs to follow a change of the store's span without scoring the account again
    (``posts_per_day`` must be a feature of the behaviour model, when it has one).
    """
    profile_model = profile_model or load_model("bot_profile")
    behaviour_model = behaviour_model or load_model("bot_behaviour")
    empty_b = pl.DataFrame(
        schema={
            "account_id": pl.String,
            "posts": pl.Int64,
            "reposts": pl.Int64,
            **{n: pl.Float64 for n in BEHAVIOUR_FEATURES},
            "reposts_timed": pl.Int64,
            "texts": pl.Int64,
        }
    )
    b = behaviour if behaviour is not None else empty_b
    p = profiles if profiles is not None else pl.DataFrame(schema={"account_id": pl.String})
    ids = pl.concat([b["account_id"], p["account_id"]]).unique().sort()
    base = pl.DataFrame({"account_id": ids})

    bm = base.join(
        behaviour_matrix(b) if b.height else b.select("account_id"), on="account_id", how="left"
    )
    have_b = _flag_column(base, b, "_hb")
    extra = [c for c in ("reposts_timed",) if c in b.columns]
    posts = base.join(
        b.select("account_id", "posts", "reposts", *extra), on="account_id", how="left"
    )
    n_posts = posts["posts"].fill_null(0).to_numpy().astype(float)
    n_timed = (
        posts["reposts_timed"].fill_null(0).to_numpy()
        if "reposts_timed" in posts.columns
        else np.zeros(ids.len())
    )

    if p.height and "observed_at" in p.columns:
        pf = base.join(profile_features(p), on="account_id", how="left")
        have_p = _flag_column(base, p, "_hp")
        complete = p.filter(
            pl.all_horizontal([pl.col(c).is_not_null() for c in PROFILE_REQUIRED if c in p.columns])
            & pl.lit(all(c in p.columns for c in PROFILE_REQUIRED))
        )
        profile_ok = _flag_column(base, complete, "_pc")
    else:
        pf = base.with_columns([pl.lit(None, dtype=pl.Float64).alias(n) for n in PROFILE_FEATURES])
        have_p = np.zeros(ids.len(), dtype=bool)
        profile_ok = have_p
    for name in profile_model.features:
        if name not in pf.columns:
            pf = pf.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    for name in behaviour_model.features:
        if name not in bm.columns:
            bm = bm.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))

    Xb = _matrix(bm, behaviour_model.features)
    Xp = _matrix(pf, profile_model.features)
    cb = behaviour_model.contributions(Xb)
    cp = profile_model.contributions(Xp)
    lb = behaviour_model.bias() + cb.sum(axis=1)
    lp = profile_model.bias() + cp.sum(axis=1)

    behaviour_ok, sufficient, wb, wp, total_safe = _weights(
        n_posts, n_timed, have_b, have_p, profile_ok
    )
    bot_score = _pooled(lb, lp, wb, wp, total_safe)

    # Reasons: per account and feature, the pool-weighted contribution to the logit.
    names = [*behaviour_model.features, *profile_model.features]
    specs = [BEHAVIOUR_FEATURES.get(n) for n in behaviour_model.features] + [
        PROFILE_FEATURES.get(n) for n in profile_model.features
    ]
    C = np.hstack([cb * (wb / total_safe)[:, None], cp * (wp / total_safe)[:, None]])
    has_bot = np.array([sp is not None and sp[1] is not None for sp in specs])
    has_organic = np.array([sp is not None and sp[2] is not None for sp in specs])
    # the evidence that can flag is the evidence that can be shown
    signal = (C >= min_reason_logit) & has_bot
    groups: dict[str, list[int]] = {}
    for j, n in enumerate(names):
        groups.setdefault(SIGNAL_GROUP.get(n, n), []).append(j)
    n_signals = np.zeros(len(C), dtype=np.int64)
    n_active = np.zeros(len(C), dtype=np.int64)
    for g, cols in groups.items():
        hit = signal[:, cols].any(axis=1)
        n_signals += hit
        if g not in PASSIVE_GROUPS:
            n_active += hit
    is_bot = (
        sufficient & (bot_score >= threshold) & (n_signals >= MIN_BOT_SIGNALS) & (n_active >= 1)
    )
    # bot-pointing reasons for high scores, organic ones for everything else
    high = bot_score >= threshold
    strength = np.where(high[:, None], C, -C)
    raw_strength = strength
    # organic reasons only where the raw value is one a person could show
    organic_true = np.ones(C.shape, dtype=bool)
    for j, name in enumerate(names):
        limit = _ORGANIC_ONLY_BELOW.get(name)
        if limit is not None:
            source = bm if j < len(behaviour_model.features) else pf
            raw = source[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            organic_true[:, j] = ~(raw >= limit)
    shown = (
        (strength >= min_reason_logit)
        & np.where(high[:, None], has_bot, has_organic & organic_true)
        & sufficient[:, None]
    )
    strength = np.where(shown, strength, -np.inf)
    if parts:
        rate = names.index(_RATE) if _RATE in behaviour_model.features else None
        below, above = _rate_neighbours(raw_strength, shown, rate)
    order = np.argsort(-strength, axis=1, kind="stable")[:, :top_reasons]
    row, rank = np.nonzero(np.take_along_axis(shown, order, axis=1))
    reasons = _render_reasons(
        ids.len(),
        row,
        rank,
        order[row, rank],
        high[row],
        names,
        specs,
        bm,
        pf,
        fast_s,
        len(behaviour_model.features),
    )
    missing_profile = (
        pl.when(pl.col("_hp"))
        .then(
            pl.lit(
                "profile lacks the counts the model needs (account creation date, followers, "
                "following, posts)"
            )
        )
        .otherwise(pl.lit("no profile"))
    )
    thin = pl.format(
        "insufficient evidence: {} post(s), {} timed repost(s) (needs {} posts or {} timed "
        "reposts); {}",
        pl.col("_posts"),
        pl.col("_timed"),
        pl.lit(MIN_POSTS_RHYTHM),
        pl.lit(MIN_TIMED_REPOSTS),
        missing_profile,
    )

    # bm and pf are both in ``ids`` order (left joins on ``base``)
    profile_cols = [c for c in pf.columns if c != "account_id"]
    raw_features = pl.concat(
        [bm, pf.select([pl.col(c).alias(f"{c}_profile" if c in bm.columns else c)
                        for c in profile_cols])],
        how="horizontal",
    )  # fmt: skip
    feature_cols = [c for c in raw_features.columns if c != "account_id"]
    features_json = raw_features.select(
        pl.struct([pl.col(c).round(4) for c in feature_cols]).struct.json_encode()
    ).to_series()
    version = f"profile:{profile_model.version}+behaviour:{behaviour_model.version}"
    out = pl.DataFrame(
        {
            "account_id": ids,
            "posts": posts["posts"].fill_null(0).cast(pl.Int64),
            "reposts": posts["reposts"].fill_null(0).cast(pl.Int64),
            "profile_score": pl.Series(np.where(have_p, _sigmoid(lp), np.nan)).fill_nan(None),
            "behaviour_score": pl.Series(np.where(have_b, _sigmoid(lb), np.nan)).fill_nan(None),
            "bot_score": bot_score,
            "is_bot_like": is_bot,
            "bot_evidence": np.where(sufficient, "sufficient", "insufficient"),
            "_hp": have_p,
            "_posts": n_posts.astype(np.int64),
            "_timed": np.asarray(n_timed, dtype=np.int64),
            "_one": n_signals < MIN_BOT_SIGNALS,
            "bot_reasons": reasons,
            "features": features_json,
        }
    )
    out = out.with_columns(
        bot_reasons=pl.when(pl.col("bot_evidence") == "insufficient")
        .then(thin)
        .when(pl.col("bot_reasons").is_null() & pl.col("is_bot_like"))
        .then(pl.lit("several weak automation signals together"))
        .when(pl.col("bot_reasons").is_null())
        .then(pl.lit("no clear signal either way"))
        .when(~pl.col("is_bot_like") & (pl.col("bot_score") >= threshold))
        .then(
            pl.when(pl.col("_one"))
            .then(pl.lit("only one automation signal, not enough to call it bot-like: "))
            .otherwise(
                pl.lit(
                    "only how little it likes and how others follow or list it point to "
                    "automation, as for news pages and organisations; not enough to call it "
                    "bot-like: "
                )
            )
            + pl.col("bot_reasons")
        )
        .otherwise(pl.col("bot_reasons")),
        model_version=pl.lit(version),
    )
    if parts:
        out = out.with_columns(
            profile_logit=pl.Series(lp, dtype=pl.Float64),
            has_profile=pl.Series(have_p, dtype=pl.Boolean),
            profile_complete=pl.Series(profile_ok, dtype=pl.Boolean),
            rate_below=pl.Series(below, dtype=pl.Float64),
            rate_above=pl.Series(above, dtype=pl.Float64),
        )
    return out.select("account_id", *SCORE_COLUMNS, *(SCORE_PART_COLUMNS if parts else ()))

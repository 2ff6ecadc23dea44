"""Account bot-likeness: a profile model, a behaviour model, one pooled score with reasons.

Why two parts: a profile snapshot (counts, age, handle) is available even for an
account that posted nothing in the store, and posts show behaviour a profile hides
(reacting within seconds, posting around the clock, acting in lock-step with others).
Either part alone still gives a score; when both exist they are pooled.

- Profile part: the BotometerLite feature set (Yang et al. 2020): counts, growth
  rates per day of account age at ``observed_at``, follower/following ratio, length
  and digits of handle and name, default profile and image, description length,
  verified. A logistic regression trained by ``scripts/train_bot_model.py`` on the
  Botometer bot repository sets, stored as plain JSON (``models/bot_profile.json``).
- Behaviour part: share of reposts, share of reposts within seconds of the parent,
  median reaction delay, posting rate, hour-of-day entropy, burstiness of inter-event
  times (Goh & Barabasi 2008), share of shared items inside coordinated pairs. A
  logistic model over these (``models/bot_behaviour.json``; how it was set is in that
  file and in docs/scores.md).
- Pooling: a weighted logarithmic opinion pool (Genest & Zidek 1986) of the parts'
  probabilities, ``logit(score) = sum_i w_i logit(p_i) / sum_i w_i``, with the
  behaviour weight growing with the number of posts (``posts / (posts + 5)``), so
  that one post says little and a full history says a lot.

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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "PROFILE_FEATURES",
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

# name -> (transform, reason template when high, reason template when low). Templates
# are polars-format strings over the *raw* value ``{}``; None means "never a reason".
PROFILE_FEATURES: dict[str, tuple[str, str | None, str | None]] = {
    "posts_count": ("log1p", "{} posts in total", None),
    "followers_count": ("log1p", None, "only {} followers"),
    "following_count": ("log1p", "follows {} accounts", None),
    "likes_count": ("log1p", "{} likes given", "only {} likes given"),
    "listed_count": ("log1p", None, "on {} lists"),
    "posts_per_day_age": ("log1p", "posted {} times a day since it was created", None),
    "followers_per_day": ("log1p", "gained {} followers a day", None),
    "following_per_day": ("log1p", "followed {} new accounts a day", None),
    "likes_per_day": ("log1p", "gave {} likes a day", None),
    "listed_per_day": ("log1p", None, None),
    "followers_following_log_ratio": (
        "identity",
        None,
        "follows far more accounts than follow it (log ratio {})",
    ),
    "account_age_days": ("log1p", None, "account only {} days old"),
    "handle_length": ("identity", "long handle ({} characters)", "short handle ({} characters)"),
    "handle_digits": ("identity", "{} digits in the handle", None),
    "name_length": ("identity", None, "short display name ({} characters)"),
    "name_digits": ("identity", "{} digits in the display name", None),
    "description_length": ("log1p", None, "description of only {} characters"),
    "default_profile": ("identity", "default profile", None),
    "default_profile_image": ("identity", "default profile image", None),
    "verified": ("identity", None, None),
}

BEHAVIOUR_FEATURES: dict[str, tuple[str, str | None, str | None]] = {
    "repost_share": ("identity", "{}% of its posts are reposts", None),
    "fast_share": (
        "identity",
        "reposts within {fast_s} s of the parent in {}% of its shares",
        None,
    ),
    "median_delay_s": ("log1p", None, "median reaction delay of {} s after the parent"),
    "posts_per_day": ("log1p", "posts {} times a day", None),
    "hour_entropy": (
        "identity",
        "active around the clock (hour-of-day entropy {})",
        "posts in a narrow daily window (hour-of-day entropy {})",
    ),
    "burstiness": (
        "identity",
        "posts in bursts (burstiness {})",
        "posts at clockwork-regular intervals (burstiness {})",
    ),
    "coordinated_share": (
        "identity",
        "shared {}% of its items in lock-step with coordinated partners",
        None,
    ),
}

# Features shown as percentages in reasons (raw value in [0, 1]).
_PERCENT = {"repost_share", "fast_share", "coordinated_share"}
# Behaviour features need enough evidence to mean anything: below these counts they
# are treated as missing (contribution 0), not as extreme values from one or two posts.
MIN_TIMED_REPOSTS = 3
MIN_POSTS_RHYTHM = 8

BEHAVIOUR_WEIGHT_K = 5.0  # behaviour pooling weight = posts / (posts + K)
PROFILE_WEIGHT = 0.5  # the profile model generalises poorly to unseen bot families (docs/scores.md)
BEHAVIOUR_WEIGHT = 1.0


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


def load_model(name: str) -> LogisticModel:
    """Load a committed model file ``spreadtrace/models/<name>.json``."""
    text = resources.files("spreadtrace").joinpath("models", f"{name}.json").read_text("utf-8")
    return LogisticModel.from_json(json.loads(text))


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
    age = ((pl.col("observed_at") - pl.col("created_at")).dt.total_seconds() / 86400.0).clip(
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
    stored parent; hour_entropy and burstiness at least ``MIN_POSTS_RHYTHM`` posts.
    """
    timed = pl.col("reposts_timed") >= MIN_TIMED_REPOSTS
    rhythm = pl.col("posts") >= MIN_POSTS_RHYTHM
    return behaviour.select(
        "account_id",
        pl.col("repost_share").cast(pl.Float64),
        pl.when(timed).then(pl.col("fast_share")).cast(pl.Float64).alias("fast_share"),
        pl.when(timed).then(pl.col("median_delay_s")).cast(pl.Float64).alias("median_delay_s"),
        pl.col("posts_per_day").cast(pl.Float64),
        pl.when(rhythm).then(pl.col("hour_entropy")).cast(pl.Float64).alias("hour_entropy"),
        pl.when(rhythm).then(pl.col("burstiness")).cast(pl.Float64).alias("burstiness"),
        pl.col("coordinated_share").cast(pl.Float64),
    )


def _matrix(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    return frame.select([pl.col(n).cast(pl.Float64) for n in names]).to_numpy()


def _reason_expr(
    name: str, value: pl.Expr, high: bool, spec: tuple[str, str | None, str | None], fast_s: float
) -> pl.Expr | None:
    template = spec[1] if high else spec[2]
    if template is None:
        return None
    template = template.replace("{fast_s}", f"{fast_s:g}")
    if "{}" not in template:
        return pl.lit(template)
    if name in _PERCENT:
        shown = (value * 100).round(0).cast(pl.Int64).cast(pl.String)
    elif name in {"hour_entropy", "burstiness", "followers_following_log_ratio"}:
        shown = value.round(2).cast(pl.String)
    else:
        shown = (
            pl.when(value.abs() >= 10)
            .then(value.round(0).cast(pl.Int64).cast(pl.String))
            .otherwise(value.round(1).cast(pl.String))
        )
    return pl.format(template, shown)


def _candidates(
    ids: pl.Series,
    raw: pl.DataFrame,
    model: LogisticModel,
    specs: dict[str, tuple[str, str | None, str | None]],
    contributions: np.ndarray,
    weight: np.ndarray,
    fast_s: float,
) -> pl.DataFrame:
    """Long frame (account_id, contribution, reason) of possible reasons, one per feature."""
    Z = model.design(_matrix(raw, model.features))
    parts = []
    for j, name in enumerate(model.features):
        spec = specs.get(name)
        if spec is None:
            continue
        value = pl.col("value")
        high = _reason_expr(name, value, True, spec, fast_s)
        low = _reason_expr(name, value, False, spec, fast_s)
        reason = pl.when(pl.col("z") > 0).then(high if high is not None else pl.lit(None))
        reason = reason.otherwise(low if low is not None else pl.lit(None))
        frame = pl.DataFrame(
            {
                "account_id": ids,
                "value": raw[name].cast(pl.Float64),
                "z": Z[:, j],
                "contribution": contributions[:, j] * weight,
            }
        ).select("account_id", "contribution", reason.cast(pl.String).alias("reason"))
        parts.append(frame)
    if not parts:
        return pl.DataFrame(
            schema={"account_id": pl.String, "contribution": pl.Float64, "reason": pl.String}
        )
    return pl.concat(parts)


def score_accounts(
    behaviour: pl.DataFrame | None,
    profiles: pl.DataFrame | None,
    *,
    threshold: float = 0.5,
    fast_s: float = 10.0,
    profile_model: LogisticModel | None = None,
    behaviour_model: LogisticModel | None = None,
    top_reasons: int = 3,
    min_reason_logit: float = 0.25,
) -> pl.DataFrame:
    """One bot score per account from whatever parts are available, with reasons.

    ``behaviour``: the frame of :func:`spreadtrace.store.accounts_scores.behaviour_features`
    (one row per account with posts); ``profiles``: the ``accounts`` snapshot frame.
    Returns the account_scores columns (without build_id): account_id, posts, reposts,
    profile_score, behaviour_score, bot_score, is_bot_like, bot_reasons, features
    (JSON text), model_version. Reasons are the features that pushed the pooled logit
    up the most (at least ``min_reason_logit``), in plain language.
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
        }
    )
    b = behaviour if behaviour is not None else empty_b
    p = profiles if profiles is not None else pl.DataFrame(schema={"account_id": pl.String})
    ids = pl.concat([b["account_id"], p["account_id"]]).unique().sort()
    base = pl.DataFrame({"account_id": ids})

    bm = base.join(
        behaviour_matrix(b) if b.height else b.select("account_id"), on="account_id", how="left"
    )
    have_b = (
        base.join(b.select("account_id", pl.lit(True).alias("_hb")), on="account_id", how="left")[
            "_hb"
        ]
        .fill_null(False)
        .to_numpy()
    )
    posts = base.join(b.select("account_id", "posts", "reposts"), on="account_id", how="left")
    n_posts = posts["posts"].fill_null(0).to_numpy().astype(float)

    if p.height and "observed_at" in p.columns:
        pf = base.join(profile_features(p), on="account_id", how="left")
        have_p = (
            base.join(
                p.select("account_id", pl.lit(True).alias("_hp")), on="account_id", how="left"
            )["_hp"]
            .fill_null(False)
            .to_numpy()
        )
    else:
        pf = base.with_columns([pl.lit(None, dtype=pl.Float64).alias(n) for n in PROFILE_FEATURES])
        have_p = np.zeros(ids.len(), dtype=bool)

    for name in behaviour_model.features:
        if name not in bm.columns:
            bm = bm.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    Xb = _matrix(bm, behaviour_model.features)
    Xp = _matrix(pf, profile_model.features)
    cb = behaviour_model.contributions(Xb)
    cp = profile_model.contributions(Xp)
    lb = behaviour_model.intercept + cb.sum(axis=1)
    lp = profile_model.intercept + cp.sum(axis=1)

    wb = np.where(have_b, BEHAVIOUR_WEIGHT * n_posts / (n_posts + BEHAVIOUR_WEIGHT_K), 0.0)
    wp = np.where(have_p, PROFILE_WEIGHT, 0.0)
    total = wb + wp
    total_safe = np.where(total > 0, total, 1.0)
    pooled = (wb * lb + wp * lp) / total_safe
    bot_score = np.where(total > 0, _sigmoid(pooled), 0.0)

    cand = pl.concat(
        [
            _candidates(ids, bm, behaviour_model, BEHAVIOUR_FEATURES, cb, wb / total_safe, fast_s),
            _candidates(ids, pf, profile_model, PROFILE_FEATURES, cp, wp / total_safe, fast_s),
        ]
    )
    reasons = (
        cand.filter(pl.col("reason").is_not_null() & (pl.col("contribution") >= min_reason_logit))
        .sort(["account_id", "contribution"], descending=[False, True])
        .group_by("account_id", maintain_order=True)
        .head(top_reasons)
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("reason").str.join("; ").alias("bot_reasons"))
    )

    raw_features = bm.join(pf, on="account_id", how="left", suffix="_profile")
    feature_cols = [c for c in raw_features.columns if c != "account_id"]
    features_json = raw_features.select(
        "account_id",
        pl.struct([pl.col(c).round(4) for c in feature_cols])
        .struct.json_encode()
        .alias("features"),
    )
    version = f"profile:{profile_model.version}+behaviour:{behaviour_model.version}"
    out = pl.DataFrame(
        {
            "account_id": ids,
            "posts": posts["posts"].fill_null(0).cast(pl.Int64),
            "reposts": posts["reposts"].fill_null(0).cast(pl.Int64),
            "profile_score": pl.Series(np.where(have_p, _sigmoid(lp), np.nan)).fill_nan(None),
            "behaviour_score": pl.Series(np.where(have_b, _sigmoid(lb), np.nan)).fill_nan(None),
            "bot_score": bot_score,
            "is_bot_like": bot_score >= threshold,
        }
    )
    out = (
        out.join(reasons, on="account_id", how="left")
        .join(features_json, on="account_id", how="left")
        .with_columns(
            pl.col("bot_reasons").fill_null(
                pl.when(pl.col("bot_score") >= threshold)
                .then(pl.lit("several weak bot-like signals together"))
                .otherwise(pl.lit("no strong bot-like signal"))
            ),
            pl.lit(version).alias("model_version"),
        )
    )
    return out.select(
        "account_id",
        "posts",
        "reposts",
        "profile_score",
        "behaviour_score",
        "bot_score",
        "is_bot_like",
        "bot_reasons",
        "features",
        "model_version",
    )

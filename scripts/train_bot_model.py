"""Train the profile part of the bot score, reproducibly, and report honest AUCs.

Usage (from the repository root; heavy: run under the shared lock):

    flock /tmp/spreadtrace-heavy.lock .venv/bin/python scripts/train_bot_model.py \
        --data ../shared/data/bots-train/accounts.jsonl.gz \
        --out spreadtrace/models/bot_profile.json --report bot_profile_report.md

``--variants PATH`` instead compares, by the same leave-one-family-out protocol and
with every choice nested on the training families, the variants tried for the
cresci-stock gap (``compare_variants``; docs/scores.md); it writes no model.
``--collection-methods PATH`` likewise compares the four collection-aware methods
declared in docs/scores.md (collection-invariant features, collection-balanced human
weights, the ensemble of specialized classifiers of Sayyadiharikandeh et al. 2020, and
both together; ``compare_collection_methods``), with the held-out human collections.

Needs the ``train`` extra (scikit-learn); scoring does not (the model is written as a
plain JSON tree dump evaluated with numpy by ``spreadtrace.graph.tree_model``).

Method (Yang et al. 2020, BotometerLite, "Scalable and generalizable social bot
detection through data selection"):

- features: the scale-free profile features of ``spreadtrace.graph.bots.profile_features``
  (rates per day of account age, log ratios of counts, handle/name/description shape,
  default profile and image, verified); raw counts and account age are left out, as
  they mostly encode *when and where* a collection was made;
- model: a random forest (scikit-learn ``RandomForestClassifier``, shallow trees with
  large leaves), which captures feature interactions; classes balanced, each bot family an equal share of
  the bot weight (so pronbots' 18k accounts do not define "bot");
- data selection by cross-domain validation: every subset S of the bot families
  available for training is scored by how well models trained on it generalise to
  families they did not see (``select_families``); the best S is the training set;
- calibration: Platt scaling of the forest's probability, fitted on 5-fold out-of-fold
  predictions of the training set with classes balanced, then shifted from the even
  prior to a bot prevalence of ``PRIOR`` (15%, the top of Varol et al. 2017's 9-15%
  estimate for active Twitter accounts): ``logit += log(0.15 / 0.85)``.

Evaluation, all printed and stored in the model's ``meta`` and in ``--report``:

- leave-one-dataset-out: for each bot family D, the whole selection above runs without
  D (nested: D never influences the subset choice), and the model is tested on D's bots
  against a held-out half of the humans of every human collection (seeded split; the
  other half is the only human training data in every round);
- humans held out by collection: for each human collection H, train without H (and
  without a held-out half of the bots), test H's humans against those bots;
- 5-fold stratified cross-validation on everything (optimistic: folds share collections);
- the BotRuler heuristic (shipped with BotSlayer, Hui et al. 2019): a sigmoid per
  feature (friends growth rate - 1, friends/followers ratio - 7.4, posts per day - 33),
  no background image, default profile, not verified; the six averaged. Computed on the
  same test sets by this script.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.graph.bots import fit_logistic, profile_features, roc_auc  # noqa: E402
from spreadtrace.graph.tree_model import TreeEnsemble  # noqa: E402

SEED = 20240501
VERSION = "profile-rf-1"
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"
FEATURES = [
    "posts_per_day_age",
    "followers_per_day",
    "following_per_day",
    "likes_per_day",
    "listed_per_day",
    "followers_following_log_ratio",
    "likes_per_post",
    "listed_per_follower",
    "handle_length",
    "handle_digits",
    "name_length",
    "name_digits",
    "description_length",
    "default_profile",
    "default_profile_image",
    "verified",
]
FOREST = {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 20, "max_features": 0.5}
# Ship the model trained on every bot family (True: on the subset cross-domain validation
# picks). Both procedures are evaluated, nested, in every run; with this data the
# selection picked narrower sets that generalised worse to the held-out family (mean
# leave-one-dataset-out AUC 0.721 vs 0.753; docs/scores.md). A one-bit choice made after
# seeing held-out results, reported as such.
SELECT_FAMILIES = False
# Bot prevalence the calibrated probabilities assume: Varol et al. (2017) estimate 9-15%
# of active Twitter accounts; the training mix (77% bots) and the balanced fit (50%)
# are not the world's, and at an even prior a profile alone flags ordinary users.
PRIOR = 0.15
CAP = 3000  # rows per (collection, label) in one fit: a seeded sample; keeps fits fast


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, TWITTER_TIME).astimezone(UTC)


def load(path: Path) -> pl.DataFrame:
    """The labelled accounts as snapshot rows (the store's column names) + label, dataset."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            u = rec["user"]
            rows.append(
                {
                    "account_id": str(u.get("id_str") or u.get("id")),
                    "dataset": rec["dataset"],
                    "label": 1 if rec["label"] == "bot" else 0,
                    "observed_at": _time(rec.get("observed_at")),
                    "handle": u.get("screen_name"),
                    "display_name": u.get("name"),
                    "created_at": _time(u.get("created_at")),
                    "followers_count": u.get("followers_count"),
                    "following_count": u.get("friends_count"),
                    "posts_count": u.get("statuses_count"),
                    "likes_count": u.get("favourites_count"),
                    "listed_count": u.get("listed_count"),
                    "verified": u.get("verified"),
                    "default_profile": u.get("default_profile"),
                    "default_profile_image": u.get("default_profile_image"),
                    "description": u.get("description"),
                    # only for the BotRuler baseline (not a store column)
                    "background_image": u.get("profile_use_background_image"),
                }
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def botruler(frame: pl.DataFrame) -> np.ndarray:
    """The BotRuler heuristic score (BotSlayer's lite baseline), per account."""
    age = ((pl.col("observed_at") - pl.col("created_at")).dt.total_seconds() / 86400.0).clip(
        lower_bound=1.0
    )
    f = frame.select(
        (pl.col("following_count") / age).alias("fgr"),
        pl.when(pl.col("followers_count") > 0)
        .then(pl.col("following_count") / pl.col("followers_count"))
        .otherwise(pl.col("following_count"))
        .alias("ffr"),
        (pl.col("posts_count") / age).alias("freq"),
        pl.col("background_image").cast(pl.Float64).fill_null(0.0).alias("bg"),
        pl.col("default_profile").cast(pl.Float64).fill_null(0.0).alias("dp"),
        pl.col("verified").cast(pl.Float64).fill_null(0.0).alias("ver"),
    )

    def sig(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))

    parts = [
        sig(f["fgr"].to_numpy() - 1.0),
        sig(f["ffr"].to_numpy() - 7.4),
        sig(f["freq"].to_numpy() - 33.0),
        1.0 - f["bg"].to_numpy(),
        f["dp"].to_numpy(),
        1.0 - f["ver"].to_numpy(),
    ]
    return np.mean(parts, axis=0)


def _weights(y: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """Humans carry half the weight, each bot family an equal share of the other half."""
    w = np.zeros(len(y))
    w[y == 0] = 0.5 / max((y == 0).sum(), 1)
    fams = sorted(set(fam[y == 1]))
    for f in fams:
        m = (y == 1) & (fam == f)
        w[m] = 0.5 / len(fams) / m.sum()
    return w * len(y)


def _fit(X: np.ndarray, y: np.ndarray, fam: np.ndarray, seed: int = SEED):  # noqa: ANN202
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), dtype=bool)
    for g in sorted(set(zip(fam.tolist(), y.tolist(), strict=True))):
        idx = np.flatnonzero((fam == g[0]) & (y == g[1]))
        keep[rng.permutation(idx)[:CAP]] = True
    gb = RandomForestClassifier(random_state=seed, n_jobs=2, **FOREST)
    gb.fit(X[keep], y[keep], sample_weight=_weights(y[keep], fam[keep]))
    return gb


def _raw(gb, X: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return gb.predict_proba(X)[:, 1]


def dump(forest, features: list[str]) -> TreeEnsemble:  # noqa: ANN001
    """The fitted forest as plain data: node value = the (weighted) bot fraction / trees.

    The ensemble's raw output is then the forest's probability; Platt scaling maps it to
    a calibrated logit. Internal node values are recomputed as the weighted mean of their
    children, which the missing-value rule and the contributions rely on.
    """
    n_trees = len(forest.estimators_)
    trees = []
    for est in forest.estimators_:
        t = est.tree_
        left, right = t.children_left.tolist(), t.children_right.tolist()
        weight = t.weighted_n_node_samples.astype(float)
        frac = t.value[:, 0, :]
        value = (frac[:, 1] / frac.sum(axis=1) / n_trees).astype(float)
        for node in range(t.node_count - 1, -1, -1):  # children come after their parent
            if left[node] >= 0:
                wl, wr = weight[left[node]], weight[right[node]]
                value[node] = (wl * value[left[node]] + wr * value[right[node]]) / (wl + wr)
        trees.append(
            {
                "left": left,
                "right": right,
                "feature": [int(f) if f >= 0 else -1 for f in t.feature],
                "threshold": [round(float(v), 6) for v in t.threshold],
                "value": [round(float(v), 7) for v in value],
                "weight": [round(float(v), 3) for v in weight],
            }
        )
    return TreeEnsemble(VERSION, features, 0.0, trees)


def select_families(
    X: np.ndarray, y: np.ndarray, fam: np.ndarray, train_h: np.ndarray, val_h: np.ndarray
) -> tuple[list[str], dict[str, float]]:
    """Cross-domain validation (Yang et al. 2020): the subset S of bot families whose
    models generalise best to families they did not see.

    score(S) = mean over every family E of the AUC on E's bots (vs ``val_h`` humans) of
    a model trained on S without E (with the ``train_h`` humans): for a family outside S
    that is S's own model, for one inside S, S minus it. Fits are shared between
    candidates (one per distinct training set).
    """
    families = sorted(set(fam[y == 1]))
    cache: dict[frozenset, object] = {}

    def model(subset: frozenset):  # noqa: ANN202
        if subset not in cache:
            tr = train_h | ((y == 1) & np.isin(fam, sorted(subset)))
            cache[subset] = _fit(X[tr], y[tr], fam[tr])
        return cache[subset]

    scores: dict[str, float] = {}
    best, best_auc = families, -1.0
    for k in range(1, len(families) + 1):
        for subset in itertools.combinations(families, k):
            aucs = []
            for other in families:
                rest = frozenset(subset) - {other}
                if not rest:
                    continue
                te = val_h | ((y == 1) & (fam == other))
                aucs.append(roc_auc(y[te], _raw(model(rest), X[te])))
            if not aucs:
                continue
            auc = float(np.mean(aucs))
            scores["+".join(subset)] = round(auc, 4)
            if auc > best_auc:
                best, best_auc = list(subset), auc
    return best, scores


def _platt(raw: np.ndarray, y: np.ndarray, fam: np.ndarray) -> tuple[float, float]:
    coef, b = fit_logistic(raw[:, None], y.astype(float), l2=1e-3, sample_weight=_weights(y, fam))
    return float(coef[0]), float(b)


def _folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    return fold


def _half(mask: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A seeded half of ``mask``'s rows, drawn within each group."""
    out = np.zeros(len(mask), dtype=bool)
    for g in sorted(set(groups[mask])):
        idx = np.flatnonzero(mask & (groups == g))
        rng.shuffle(idx)
        out[idx[: len(idx) // 2]] = True
    return out


def evaluate(frame: pl.DataFrame, log=print) -> dict:  # noqa: ANN001
    X = profile_features(frame).select([pl.col(n).cast(pl.Float64) for n in FEATURES]).to_numpy()
    y = frame["label"].to_numpy()
    fam = frame["dataset"].to_numpy()
    ruler = botruler(frame)
    rng = np.random.default_rng(SEED)
    humans = y == 0
    human_test = _half(humans, fam, rng)
    human_train = humans & ~human_test
    # inner split of the training humans for the subset choice
    inner_val = _half(human_train, fam, rng)
    inner_train = human_train & ~inner_val

    lodo = {}
    for d in sorted(set(fam[y == 1])):
        keep = fam != d
        chosen, _ = select_families(X[keep], y[keep], fam[keep], inner_train[keep], inner_val[keep])
        tr = human_train | ((y == 1) & np.isin(fam, chosen))
        gb = _fit(X[tr], y[tr], fam[tr])
        te = human_test | ((y == 1) & (fam == d))
        tr_all = human_train | ((y == 1) & keep)
        gb_all = _fit(X[tr_all], y[tr_all], fam[tr_all])
        shipped, other = (gb, gb_all) if SELECT_FAMILIES else (gb_all, gb)
        lodo[d] = {
            "auc": round(roc_auc(y[te], _raw(shipped, X[te])), 4),
            "auc_other_procedure": round(roc_auc(y[te], _raw(other, X[te])), 4),
            "botruler_auc": round(roc_auc(y[te], ruler[te]), 4),
            "trained_on": chosen,
            "bots": int(((y == 1) & (fam == d)).sum()),
            "humans": int(human_test.sum()),
        }
        log(f"held out {d}: {lodo[d]}")

    # humans held out by collection: train without H and without a half of the bots
    bot_test = _half(y == 1, fam, rng)
    human_out = {}
    for h in sorted(set(fam[humans])):
        tr = (humans & (fam != h)) | ((y == 1) & ~bot_test)
        te = (humans & (fam == h)) | bot_test
        gb = _fit(X[tr], y[tr], fam[tr])
        human_out[h] = {
            "auc": round(roc_auc(y[te], _raw(gb, X[te])), 4),
            "botruler_auc": round(roc_auc(y[te], ruler[te]), 4),
            "humans": int((humans & (fam == h)).sum()),
            "bots": int(bot_test.sum()),
        }
        log(f"humans held out {h}: {human_out[h]}")

    fold = _folds(y, 5, rng)
    cv = []
    for f in range(5):
        gb = _fit(X[fold != f], y[fold != f], fam[fold != f])
        cv.append(roc_auc(y[fold == f], _raw(gb, X[fold == f])))
    log(f"CV {np.round(cv, 4).tolist()}")

    # the shipped model: selection on all families, then calibration out of fold
    chosen, subset_scores = select_families(X, y, fam, human_train, human_test)
    if not SELECT_FAMILIES:
        chosen = sorted(set(fam[y == 1]))
    tr = humans | ((y == 1) & np.isin(fam, chosen))
    Xs, ys, fs = X[tr], y[tr], fam[tr]
    oof = np.empty(len(ys))
    sfold = _folds(ys, 5, np.random.default_rng(SEED + 1))
    for f in range(5):
        gb = _fit(Xs[sfold != f], ys[sfold != f], fs[sfold != f])
        oof[sfold == f] = _raw(gb, Xs[sfold == f])
    a, b = _platt(oof, ys, fs)
    b += float(np.log(PRIOR / (1 - PRIOR)))  # from an even prior to the world's
    a, b = round(a, 8), round(b, 8)  # the last bits vary with the BLAS threads
    model = dump(_fit(Xs, ys, fs), FEATURES)
    model = TreeEnsemble(model.version, model.features, model.init, model.trees, a, b)
    bot_aucs = [v["auc"] for v in lodo.values()]
    counts = frame.group_by("dataset", "label").len().sort("dataset", "label").rows()
    meta = {
        "how": "random forest (scikit-learn RandomForestClassifier "
        f"{FOREST}), balanced classes, bot families weighted equally; training families "
        "chosen by cross-domain validation (Yang et al. 2020); Platt-calibrated on 5-fold "
        "out-of-fold probabilities with balanced classes, shifted to a 15% bot prior",
        "data": "Botometer bot repository, ../shared/data/bots-train/accounts.jsonl.gz",
        "counts": [
            {"dataset": d, "label": "bot" if lab else "human", "n": n} for d, lab, n in counts
        ],
        "seed": SEED,
        "procedure": "cross-domain data selection (Yang et al. 2020)"
        if SELECT_FAMILIES
        else "every bot family (the other procedure: cross-domain data selection)",
        "trained_on_bot_families": chosen,
        "cross_domain_subset_auc": subset_scores,
        "platt": [round(a, 4), round(b, 4)],
        "prior": PRIOR,
        "cv5_auc_mean": round(float(np.mean(cv)), 4),
        "cv5_auc_folds": [round(float(v), 4) for v in cv],
        "leave_one_dataset_out_auc": lodo,
        "lodo_bot_family_mean_auc": round(float(np.mean(bot_aucs)), 4),
        "human_collection_held_out_auc": human_out,
    }
    return {"model": TreeEnsemble(VERSION, FEATURES, model.init, model.trees, a, b, meta)}


def report(meta: dict) -> str:
    """The markdown tables quoted in docs/scores.md."""
    lines = [
        "| held out | bots | humans (held-out half) | AUC (shipped procedure) "
        "| AUC (other procedure) | other procedure trained on | BotRuler AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    lodo = meta["leave_one_dataset_out_auc"]
    for d, v in lodo.items():
        lines.append(
            f"| {d} | {v['bots']:,} | {v['humans']:,} | **{v['auc']:.3f}** "
            f"| {v['auc_other_procedure']:.3f} | {', '.join(v['trained_on'])} "
            f"| {v['botruler_auc']:.3f} |"
        )
    other = np.mean([v["auc_other_procedure"] for v in lodo.values()])
    ruler = np.mean([v["botruler_auc"] for v in lodo.values()])
    lines.append(
        f"| mean over bot families | | | **{meta['lodo_bot_family_mean_auc']:.3f}** "
        f"| {other:.3f} | | {ruler:.3f} |"
    )
    lines.append(
        f"\nShipped procedure: {meta['procedure']}. ``trained on`` is what the nested "
        "cross-domain selection picked without the held-out family."
    )
    lines += ["", "| humans held out | humans | bots (held-out half) | AUC | BotRuler AUC |"]
    lines.append("|---|---|---|---|---|")
    for h, v in meta["human_collection_held_out_auc"].items():
        lines.append(
            f"| {h} | {v['humans']:,} | {v['bots']:,} | **{v['auc']:.3f}** "
            f"| {v['botruler_auc']:.3f} |"
        )
    lines.append("")
    lines.append(
        f"5-fold CV AUC {meta['cv5_auc_mean']:.3f} (folds "
        f"{min(meta['cv5_auc_folds']):.3f}-{max(meta['cv5_auc_folds']):.3f}); shipped model "
        f"trained on {', '.join(meta['trained_on_bot_families'])} + all humans; "
        f"Platt a, b = {meta['platt']}."
    )
    return "\n".join(lines) + "\n"


# --- variants tried for the cresci-stock gap (issue 10): ``--variants`` ---------------
# Every choice inside a variant (blend weight, feature groups) is made by nested
# cross-domain validation on the training families only: for each training family E, a
# model trained on the other training families (with the inner-training humans) is
# scored on E's bots against the inner-validation humans; the choice with the best mean
# wins. The outer held-out family is only ever used for the reported AUC.
# Pre-declared criterion (written before the feature-group run): a variant replaces the
# shipped procedure only if its leave-one-family-out mean is >= 0.75 and no held-out
# family is below BotRuler.
BLEND_W = [0.0, 0.25, 0.5, 0.75, 1.0]
MONOTONE = {  # the direction the literature (and BotRuler) gives these features
    "posts_per_day_age": 1,
    "following_per_day": 1,
    "followers_following_log_ratio": -1,
    "default_profile": 1,
    "verified": -1,
}
GROUPS = {
    "ruler": ["posts_per_day_age", "following_per_day", "followers_following_log_ratio"]
    + ["default_profile", "verified"],
    "activity": ["followers_per_day", "likes_per_day", "listed_per_day", "likes_per_post"]
    + ["listed_per_follower"],
    "names": ["handle_length", "handle_digits", "name_length", "name_digits"]
    + ["description_length"],
    "image": ["default_profile_image"],
}
ALL = len(FEATURES)  # column ALL of the variant matrix is the 5-part BotRuler score


def botruler_store(frame: pl.DataFrame) -> np.ndarray:
    """BotRuler without the background-image part: what a store snapshot can compute."""
    return botruler(frame.with_columns(pl.lit(True).alias("background_image")))


def _variant_fit(kind: str, cols: list[int], X: np.ndarray, y: np.ndarray, fam: np.ndarray):  # noqa: ANN202
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    rng = np.random.default_rng(SEED)
    keep = np.zeros(len(y), dtype=bool)
    for g in sorted(set(zip(fam.tolist(), y.tolist(), strict=True))):
        idx = np.flatnonzero((fam == g[0]) & (y == g[1]))
        keep[rng.permutation(idx)[:CAP]] = True
    if kind == "rf":
        m = RandomForestClassifier(random_state=SEED, n_jobs=2, **FOREST)
    elif kind == "rf_shallow":
        m = RandomForestClassifier(
            random_state=SEED,
            n_jobs=2,
            n_estimators=60,
            max_depth=5,
            min_samples_leaf=100,
            max_features=0.5,
        )
    else:
        names = [FEATURES[c] if c < ALL else "botruler" for c in cols]
        mono = [MONOTONE.get(n, 0) for n in names] if kind == "hgb_monotone" else None
        m = HistGradientBoostingClassifier(
            random_state=SEED,
            max_iter=150,
            max_depth=3,
            learning_rate=0.05,
            l2_regularization=1.0,
            min_samples_leaf=50,
            monotonic_cst=mono,
        )
    m.fit(X[keep][:, cols], y[keep], sample_weight=_weights(y[keep], fam[keep]))
    return lambda Z: m.predict_proba(Z[:, cols])[:, 1]


def _blend(s: np.ndarray, r: np.ndarray, w: float, ref: tuple | None) -> np.ndarray:
    """(1 - w) * model + w * BotRuler, on probabilities or (``ref``) training ranks."""
    if ref is not None:
        s = np.searchsorted(ref[0], s) / len(ref[0])
        r = np.searchsorted(ref[1], r) / len(ref[1])
    return (1.0 - w) * s + w * r


def compare_variants(frame: pl.DataFrame, log=print) -> list[dict]:  # noqa: ANN001, C901
    """Leave-one-bot-family-out AUC of every variant, choices nested (see above)."""
    X = profile_features(frame).select([pl.col(n).cast(pl.Float64) for n in FEATURES]).to_numpy()
    r5 = botruler_store(frame)
    X = np.column_stack([X, r5])
    y = frame["label"].to_numpy()
    fam = frame["dataset"].to_numpy()
    r6 = botruler(frame)
    rng = np.random.default_rng(SEED)  # the same splits as ``evaluate``
    humans = y == 0
    ht = _half(humans, fam, rng)
    htr = humans & ~ht
    iv = _half(htr, fam, rng)
    itr = htr & ~iv
    fams = sorted(set(fam[y == 1]))
    base = list(range(ALL))
    sub = [FEATURES.index(f) for f in GROUPS["ruler"]]
    groups = [
        ("ruler", *c)
        for k in range(4)
        for c in itertools.combinations(["activity", "names", "image"], k)
    ]
    specs = {  # name: (model kind, columns, blend: None / "prob" / "rank")
        "forest, 16 features (shipped)": ("rf", base, None),
        "forest + BotRuler, probability average, weight nested": ("rf", base, "prob"),
        "forest + BotRuler, rank average, weight nested": ("rf", base, "rank"),
        "forest with the BotRuler score as a 17th input": ("rf", [*base, ALL], None),
        "forest on BotRuler's 5 store features only": ("rf", sub, None),
        "forest, shallower (depth 5, leaves >= 100)": ("rf_shallow", base, None),
        "gradient boosting, monotone on 5 features": ("hgb_monotone", base, None),
        "gradient boosting, unconstrained": ("hgb", base, None),
    }
    rows = []
    for d in fams:
        keep = fam != d
        inner_fams = [f for f in fams if f != d]
        tr_out = htr | ((y == 1) & keep)
        te_out = ht | ((y == 1) & (fam == d))
        row = {"family": d, "botruler": roc_auc(y[te_out], r6[te_out])}
        row["botruler_store"] = roc_auc(y[te_out], r5[te_out])
        for name, (kind, cols, mode) in specs.items():
            w = 0.0
            if mode:
                inner = {v: [] for v in BLEND_W}
                for e in inner_fams:
                    tr = itr | ((y == 1) & keep & (fam != e))
                    te = iv | ((y == 1) & (fam == e))
                    f = _variant_fit(kind, cols, X[tr], y[tr], fam[tr])
                    ref = (np.sort(f(X[tr])), np.sort(r5[tr])) if mode == "rank" else None
                    s = f(X[te])
                    for v in BLEND_W:
                        inner[v].append(roc_auc(y[te], _blend(s, r5[te], v, ref)))
                w = max(BLEND_W, key=lambda v: (np.mean(inner[v]), -v))
            f = _variant_fit(kind, cols, X[tr_out], y[tr_out], fam[tr_out])
            ref = (np.sort(f(X[tr_out])), np.sort(r5[tr_out])) if mode == "rank" else None
            row[name] = roc_auc(y[te_out], _blend(f(X[te_out]), r5[te_out], w, ref))
            if mode:
                row[name + " (w)"] = w
        inner_g = {}
        for c in groups:
            cols = [FEATURES.index(n) for g in c for n in GROUPS[g]]
            aucs = []
            for e in inner_fams:
                tr = itr | ((y == 1) & keep & (fam != e))
                te = iv | ((y == 1) & (fam == e))
                aucs.append(roc_auc(y[te], _variant_fit("rf", cols, X[tr], y[tr], fam[tr])(X[te])))
            inner_g[c] = float(np.mean(aucs))
        best = max(groups, key=lambda c: inner_g[c])
        cols = [FEATURES.index(n) for g in best for n in GROUPS[g]]
        f = _variant_fit("rf", cols, X[tr_out], y[tr_out], fam[tr_out])
        row["forest, feature groups chosen nested"] = roc_auc(y[te_out], f(X[te_out]))
        row["forest, feature groups chosen nested (w)"] = "+".join(best)
        rows.append(row)
        log(f"variants, held out {d}: {row}")
    return rows


def variants_report(rows: list[dict]) -> str:
    """The variant table of docs/scores.md: AUC per held-out family, mean, families below."""
    names = [k for k in rows[0] if k not in ("family", "botruler") and not k.endswith("(w)")]
    fams = [r["family"] for r in rows]
    head = "| variant | " + " | ".join(fams) + " | mean | below BotRuler |"
    lines = [head, "|---|" + "---|" * (len(fams) + 2)]
    ruler = [r["botruler"] for r in rows]
    lines.append(
        "| BotRuler (6 parts, the baseline) | "
        + " | ".join(f"{v:.3f}" for v in ruler)
        + f" | {np.mean(ruler):.3f} | |"
    )
    for n in names:
        vals = [r[n] for r in rows]
        cells = []
        for r, v in zip(rows, vals, strict=True):
            cell = f"{v:.3f}"
            if n + " (w)" in r:
                cell += f" ({r[n + ' (w)']})"
            cells.append(cell)
        below = sum(v < r["botruler"] for r, v in zip(rows, vals, strict=True))
        label = "BotRuler without background image (store)" if n == "botruler_store" else n
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {np.mean(vals):.3f} | {below} |")
    return "\n".join(lines) + "\n"


# --- collection-aware methods (issue 10, declared in docs/scores.md before running) ----
# The diagnosed cause of the cresci-stock gap: half of cresci-stock's *humans* are in
# every training set, so the forest can learn "looks like a cresci-stock-era account =
# human". Each method below attacks that cause; its only free parameter (the invariance
# threshold of method 1) is chosen by the nested cross-domain validation above.
INVARIANCE_T = [0.6, 0.7, 0.8, 0.9, 1.0]  # 1.0 drops nothing (the shipped forest)


def _balanced_weights(y: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """Like ``_weights``, but the human half is split equally between human collections."""
    w = _weights(y, fam) / len(y)
    colls = sorted(set(fam[y == 0]))
    for c in colls:
        m = (y == 0) & (fam == c)
        w[m] = 0.5 / len(colls) / m.sum()
    return w * len(y)


def _capped(y: np.ndarray, fam: np.ndarray) -> np.ndarray:
    """The seeded row sample of every fit: at most ``CAP`` rows per (collection, label)."""
    rng = np.random.default_rng(SEED)
    keep = np.zeros(len(y), dtype=bool)
    for g in sorted(set(zip(fam.tolist(), y.tolist(), strict=True))):
        idx = np.flatnonzero((fam == g[0]) & (y == g[1]))
        keep[rng.permutation(idx)[:CAP]] = True
    return keep


def _forest(X: np.ndarray, y: np.ndarray, fam: np.ndarray, cols: list[int], balance: bool):  # noqa: ANN202
    """The shipped forest on ``cols``; ``balance``: human collections weigh equally."""
    from sklearn.ensemble import RandomForestClassifier

    keep = _capped(y, fam)
    Xk, yk, fk = X[keep], y[keep], fam[keep]
    m = RandomForestClassifier(random_state=SEED, n_jobs=2, **FOREST)
    m.fit(Xk[:, cols], yk, sample_weight=(_balanced_weights if balance else _weights)(yk, fk))
    return lambda Z: m.predict_proba(Z[:, cols])[:, 1]


def _esc(X: np.ndarray, y: np.ndarray, fam: np.ndarray, cols: list[int], balance: bool):  # noqa: ANN202
    """Ensemble of specialized classifiers (Sayyadiharikandeh et al. 2020): one forest per
    bot family against all the humans; the score is the specialists' maximum."""
    experts = []
    for f in sorted(set(fam[y == 1])):
        m = (y == 0) | (fam == f)
        experts.append(_forest(X[m], y[m], fam[m], cols, balance))
    return lambda Z: np.max([e(Z) for e in experts], axis=0)


def collection_auc(X: np.ndarray, fam: np.ndarray, humans: np.ndarray) -> np.ndarray:
    """Per feature, how well it tells the ``humans``' collections apart: max(AUC, 1 - AUC)
    of the first collection against the second (NaN rows left out; 0.5 if fewer than
    two collections, as then nothing can be measured).

    >>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [3.0, 0.0]])
    >>> collection_auc(X, np.array(["a", "a", "b", "b"]), np.ones(4, bool)).tolist()
    [1.0, 1.0]
    """
    colls = sorted(set(fam[humans]))
    out = np.full(X.shape[1], 0.5)
    if len(colls) < 2:
        return out
    first = fam == colls[0]
    for c in range(X.shape[1]):
        m = humans & np.isin(fam, colls[:2]) & ~np.isnan(X[:, c])
        a = roc_auc(first[m], X[m, c])
        out[c] = max(a, 1.0 - a)
    return out


def _invariant_cols(X: np.ndarray, fam: np.ndarray, humans: np.ndarray, t: float) -> list[int]:
    if t >= 1.0:
        return list(range(len(FEATURES)))
    sep = collection_auc(X[:, : len(FEATURES)], fam, humans)
    return [c for c in range(len(FEATURES)) if sep[c] <= t]


def compare_collection_methods(frame: pl.DataFrame, log=print) -> dict:  # noqa: ANN001
    """The four declared collection-aware methods, by the protocol of ``evaluate``: AUC
    per held-out bot family (the invariance threshold nested on the training families)
    and per held-out human collection, next to the shipped forest and BotRuler."""
    X = profile_features(frame).select([pl.col(n).cast(pl.Float64) for n in FEATURES]).to_numpy()
    y = frame["label"].to_numpy()
    fam = frame["dataset"].to_numpy()
    r6 = botruler(frame)
    rng = np.random.default_rng(SEED)  # the same splits, drawn in the same order, as evaluate
    humans = y == 0
    ht = _half(humans, fam, rng)
    htr = humans & ~ht
    iv = _half(htr, fam, rng)
    itr = htr & ~iv
    bot_test = _half(y == 1, fam, rng)
    fams = sorted(set(fam[y == 1]))
    base = list(range(len(FEATURES)))

    def invariant(tr: np.ndarray, t: float):  # noqa: ANN202
        cols = _invariant_cols(X, fam, tr & humans, t)
        return _forest(X[tr], y[tr], fam[tr], cols, False), cols

    fixed = {
        "forest, 16 features (shipped)": lambda tr: _forest(X[tr], y[tr], fam[tr], base, False),
        "2. forest, collection-balanced human weights": lambda tr: _forest(
            X[tr], y[tr], fam[tr], base, True
        ),
        "3. ESC: one forest per bot family, max": lambda tr: _esc(
            X[tr], y[tr], fam[tr], base, False
        ),
        "4. ESC, collection-balanced human weights": lambda tr: _esc(
            X[tr], y[tr], fam[tr], base, True
        ),
    }
    name1 = "1. forest on collection-invariant features, threshold nested"
    families: dict[str, dict] = {}
    for d in fams:
        keep = fam != d
        tr_out = htr | ((y == 1) & keep)
        te_out = ht | ((y == 1) & (fam == d))
        row: dict = {"BotRuler (6 parts, the baseline)": roc_auc(y[te_out], r6[te_out])}
        for name, train in fixed.items():
            row[name] = roc_auc(y[te_out], train(tr_out)(X[te_out]))
        inner: dict[float, list[float]] = {t: [] for t in INVARIANCE_T}
        for e in [f for f in fams if f != d]:
            tr = itr | ((y == 1) & keep & (fam != e))
            te = iv | ((y == 1) & (fam == e))
            seen: dict[tuple, float] = {}
            for t in INVARIANCE_T:
                cols = tuple(_invariant_cols(X, fam, tr & humans, t))
                if cols and cols not in seen:
                    seen[cols] = roc_auc(
                        y[te], _forest(X[tr], y[tr], fam[tr], list(cols), False)(X[te])
                    )
                inner[t].append(seen.get(cols, float("nan")))
        t_best = max(INVARIANCE_T, key=lambda t: (np.nan_to_num(np.mean(inner[t]), nan=-1), t))
        f, cols = invariant(tr_out, t_best)
        row[name1] = roc_auc(y[te_out], f(X[te_out]))
        row[name1 + " (w)"] = f"t={t_best}, {len(FEATURES) - len(cols)} dropped"
        row["inner"] = {t: round(float(np.mean(v)), 4) for t, v in inner.items()}
        families[d] = row
        log(f"collection methods, held out {d}: {row}")
    held_humans: dict[str, dict] = {}
    for h in sorted(set(fam[humans])):
        tr = (humans & (fam != h)) | ((y == 1) & ~bot_test)
        te = (humans & (fam == h)) | bot_test
        row = {"BotRuler (6 parts, the baseline)": roc_auc(y[te], r6[te])}
        for name, train in fixed.items():
            row[name] = roc_auc(y[te], train(tr)(X[te]))
        # one human collection in training: nothing to measure, so nothing is dropped
        row[name1] = roc_auc(y[te], invariant(tr, 1.0)[0](X[te]))
        held_humans[h] = row
        log(f"collection methods, humans held out {h}: {row}")
    sep = collection_auc(X, fam, htr)
    return {
        "families": families,
        "humans": held_humans,
        "collection_auc": dict(zip(FEATURES, np.round(sep, 3).tolist(), strict=True)),
    }


def collection_report(res: dict) -> str:
    """The markdown tables of the collection-aware methods (docs/scores.md)."""
    fams = list(res["families"])
    rows = res["families"]
    ruler = "BotRuler (6 parts, the baseline)"
    names = [k for k in rows[fams[0]] if k != "inner" and not k.endswith("(w)")]
    lines = ["| method | " + " | ".join(fams) + " | mean | below BotRuler |"]
    lines.append("|---|" + "---|" * (len(fams) + 2))
    for n in names:
        vals = [rows[d][n] for d in fams]
        cells = [
            f"{v:.3f}" + (f" ({rows[d][n + ' (w)']})" if n + " (w)" in rows[d] else "")
            for d, v in zip(fams, vals, strict=True)
        ]
        below = "" if n == ruler else str(sum(rows[d][n] < rows[d][ruler] for d in fams))
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {np.mean(vals):.3f} | {below} |")
    hs = list(res["humans"])
    lines += ["", "| method | " + " | ".join(f"humans held out: {h}" for h in hs) + " |"]
    lines.append("|---|" + "---|" * len(hs))
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{res['humans'][h][n]:.3f}" for h in hs) + " |")
    lines += ["", "Nested inner mean AUC per invariance threshold, by held-out family:", ""]
    for d in fams:
        lines.append(f"- {d}: {rows[d]['inner']}")
    lines += ["", "Collection AUC per feature on the training-half humans (max(AUC, 1-AUC)):"]
    lines.append("")
    lines.append(", ".join(f"{k} {v:.3f}" for k, v in res["collection_auc"].items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=REPO.parent / "shared" / "data" / "bots-train" / "accounts.jsonl.gz",
    )
    ap.add_argument(
        "--out", type=Path, default=REPO / "spreadtrace" / "models" / "bot_profile.json"
    )
    ap.add_argument("--report", type=Path, default=None, help="also write the markdown tables")
    ap.add_argument(
        "--variants",
        type=Path,
        default=None,
        help="only compare the variants (no model written); the markdown table goes here",
    )
    ap.add_argument(
        "--collection-methods",
        type=Path,
        default=None,
        help="only compare the collection-aware methods (no model written); tables go here",
    )
    args = ap.parse_args(argv)
    frame = load(args.data)
    if args.collection_methods:
        text = collection_report(compare_collection_methods(frame))
        args.collection_methods.write_text(text, encoding="utf-8")
        print(text)
        return
    if args.variants:
        text = variants_report(compare_variants(frame))
        args.variants.write_text(text, encoding="utf-8")
        print(text)
        return
    model = evaluate(frame)["model"]
    args.out.write_text(json.dumps(model.to_json(), separators=(",", ":")) + "\n", "utf-8")
    text = report(model.meta)
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    print(text)


if __name__ == "__main__":
    main()

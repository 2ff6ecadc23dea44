"""Train the profile part of the bot score, reproducibly, and report honest AUCs.

Usage (from the repository root):

    .venv/bin/python scripts/train_bot_model.py \
        --data ../shared/data/bots-train/accounts.jsonl.gz \
        --out spreadtrace/models/bot_profile.json

Reads the labelled Botometer bot-repository accounts at run time (never copied into
the repository), computes the BotometerLite-style features with the same code the
build uses (``spreadtrace.graph.bots.profile_features``), fits an L2 logistic
regression (Newton/IRLS, numpy only) with balanced class weights (the training mix,
80% bots, is not the world's), and writes plain JSON with the metrics in ``meta``:

- 5-fold stratified cross-validation AUC (seeded): optimistic, since the folds share
  datasets, collection periods and annotators;
- leave-one-dataset-out AUC: for each bot dataset D, train on the other bot datasets
  plus half of the humans, test on D's bots against the other half of the humans.
  Every human comes from cresci-stock-2018, so no held-out set can test humans from
  an unseen source; this measures generalisation to unseen *bot* families only.
  cresci-stock-2018's own bots are held out the same way (train: the other bot sets
  plus half the humans).

The behaviour model (``--behaviour``) is fitted on a synthetic world with a fixed
seed (``--synth-seed``, default 7919, distinct from the test seeds), see docs/scores.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.graph.bots import (  # noqa: E402
    PROFILE_FEATURES,
    LogisticModel,
    fit_logistic,
    profile_features,
    roc_auc,
    standardise_stats,
)

SEED = 20240501
L2 = 1.0
TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"


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
                }
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def _fit(X: np.ndarray, y: np.ndarray, names: list[str], transforms: list[str]) -> LogisticModel:
    mean, std = standardise_stats(transforms, X)
    proto = LogisticModel(
        "", names, transforms, mean.tolist(), std.tolist(), [0.0] * len(names), 0.0
    )
    Z = proto.design(X)
    # balanced class weights: each class carries half the total weight
    w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    coef, intercept = fit_logistic(Z, y.astype(float), l2=L2, sample_weight=w)
    return LogisticModel(
        "", names, transforms, mean.tolist(), std.tolist(), coef.tolist(), intercept
    )


def _folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified fold index per row."""
    fold = np.empty(len(y), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    return fold


def evaluate(frame: pl.DataFrame) -> dict:
    names = list(PROFILE_FEATURES)
    transforms = [PROFILE_FEATURES[n][0] for n in names]
    feats = profile_features(frame)
    X = feats.select([pl.col(n).cast(pl.Float64) for n in names]).to_numpy()
    y = frame["label"].to_numpy()
    datasets = frame["dataset"].to_numpy()
    rng = np.random.default_rng(SEED)

    fold = _folds(y, 5, rng)
    cv = []
    for f in range(5):
        train, test = fold != f, fold == f
        m = _fit(X[train], y[train], names, transforms)
        cv.append(roc_auc(y[test], m.predict(X[test])))

    # humans split in two halves: one for training, one for testing in every LODO round
    humans = np.flatnonzero(y == 0)
    rng.shuffle(humans)
    human_test = np.zeros(len(y), dtype=bool)
    human_test[humans[: len(humans) // 2]] = True
    lodo = {}
    for d in sorted(set(datasets[y == 1])):
        held_bots = (datasets == d) & (y == 1)
        train = ((y == 1) & ~held_bots) | ((y == 0) & ~human_test)
        test = held_bots | human_test
        m = _fit(X[train], y[train], names, transforms)
        lodo[d] = {
            "auc": round(roc_auc(y[test], m.predict(X[test])), 4),
            "bots": int(held_bots.sum()),
            "humans": int(human_test.sum()),
        }
    final = _fit(X, y, names, transforms)
    counts = frame.group_by("dataset", "label").len().sort("dataset", "label").rows()
    return {
        "model": final,
        "meta": {
            "trained_on": "Botometer bot repository: cresci-stock-2018, pronbots-2019, "
            "botwiki-2019, political-bots-2019 (../shared/data/bots-train)",
            "rows": int(len(y)),
            "counts": [
                {"dataset": d, "label": "bot" if lab else "human", "n": n} for d, lab, n in counts
            ],
            "l2": L2,
            "class_weight": "balanced",
            "seed": SEED,
            "cv5_auc_mean": round(float(np.mean(cv)), 4),
            "cv5_auc_folds": [round(float(a), 4) for a in cv],
            "leave_one_dataset_out_auc": lodo,
            "note": "all humans are from cresci-stock-2018: held-out AUCs test unseen bot "
            "families against held-out humans of the same source, not unseen human populations",
        },
    }


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
    args = ap.parse_args(argv)
    frame = load(args.data)
    result = evaluate(frame)
    model = result["model"]
    data = model.to_json()
    data["version"] = "profile-lr-1"
    data["meta"] = result["meta"]
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    meta = result["meta"]
    print(
        f"wrote {args.out}: CV AUC {meta['cv5_auc_mean']:.3f}; leave-one-dataset-out:",
        ", ".join(f"{d} {v['auc']:.3f}" for d, v in meta["leave_one_dataset_out_auc"].items()),
    )


if __name__ == "__main__":
    main()

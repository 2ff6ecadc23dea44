"""The collection-aware helpers of scripts/train_bot_model.py (issue 10).

The script is training tooling, not part of the package; these pin the two helpers the
declared methods rest on, so the weights and the invariance measure mean what
docs/scores.md says they mean.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parents[1] / "scripts" / "train_bot_model.py"
_spec = importlib.util.spec_from_file_location("train_bot_model", _PATH)
train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train)


def test_balanced_weights_give_each_human_collection_and_bot_family_an_equal_share():
    # 6 humans of collection a, 2 of b; 3 bots of family x, 1 of y
    fam = np.array(["a"] * 6 + ["b"] * 2 + ["x"] * 3 + ["y"])
    y = np.array([0] * 8 + [1] * 4)
    w = train._balanced_weights(y, fam)
    share = {f: w[fam == f].sum() / w.sum() for f in "abxy"}
    assert np.allclose([share["a"], share["b"], share["x"], share["y"]], 0.25)
    # the per-account weighting it replaces gives collection a three times b's weight
    w0 = train._weights(y, fam)
    assert np.isclose(w0[fam == "a"].sum(), 3 * w0[fam == "b"].sum())


def test_collection_auc_finds_a_collection_identifying_feature():
    rng = np.random.default_rng(7)
    fam = np.array(["a"] * 200 + ["b"] * 200 + ["x"] * 50)
    humans = fam != "x"
    ident = np.r_[rng.normal(0, 1, 200), rng.normal(4, 1, 200), rng.normal(9, 1, 50)]
    noise = rng.normal(0, 1, 450)
    X = np.column_stack([ident, noise, -ident])
    sep = train.collection_auc(X, fam, humans)
    assert sep[0] > 0.95 and sep[2] > 0.95  # folded: the sign does not matter
    assert sep[1] < 0.62
    # one human collection: nothing to measure, nothing to drop
    assert np.allclose(train.collection_auc(X, fam, fam == "a"), 0.5)

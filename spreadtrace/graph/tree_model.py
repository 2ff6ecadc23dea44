"""A tree ensemble read from plain JSON and evaluated with numpy, with reasons.

Why: the profile part of the bot score needs feature interactions (bot families differ
in which features mark them; a linear model learns directions a new family reverses,
docs/scores.md), yet the project ships models as plain data, never pickle. This module
evaluates the tree dump written by ``scripts/train_bot_model.py`` (a random forest;
boosted trees dump the same way): the raw output is the sum of the trees' leaf values
(the forest's probability when each leaf holds its bot fraction / number of trees).
scikit-learn is needed to train, not to score.

- Missing features are *missing*, not zero: at a split on a missing value both
  branches are followed, weighted by the training samples that went each way, so the
  prediction is the tree's average over the unknown value (the same marginalisation
  classic CART uses for surrogate-free missing data).
- Per-feature contributions (Saabas 2014, "tree interpreter"): walking a sample's path,
  the change in node value at each split is credited to the split's feature, so
  ``logit = bias + sum(contributions)`` exactly. A missing feature's split adds the
  weighted mean of its children minus the node value, which is 0: it never speaks.
- Calibration: the raw output is mapped by Platt scaling ``logit_cal = a * raw + b``
  (Platt 1999), fitted on out-of-fold predictions of the training data; contributions
  are scaled by ``a`` so they stay additive.

References:
Breiman, L. (2001). Random forests. Machine Learning 45(1).
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to
regularized likelihood methods. Advances in Large Margin Classifiers.
Saabas, A. (2014). Interpreting random forests (treeinterpreter).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["TreeEnsemble"]

# rows per block of the fast path: its rows x trees index arrays stay in the CPU's cache
# (2,048 rows x 60 trees: the walk of 836k profiles took 2.4x less CPU than at 32,768)
_CHUNK = 2_048
# rows with a missing value: a block holds at most this many (row, tree, leaf) triples;
# a row with m missing used features may follow up to min(2**m, 2**depth) leaves per tree
_TRIPLES = 1 << 20
_THREADS = 2


@dataclass(frozen=True)
class TreeEnsemble:
    """Regression trees over raw features, summed; ``predict`` gives calibrated probabilities.

    Each tree is a dict of equal-length lists: ``left``, ``right`` (child index, -1 at a
    leaf), ``feature``, ``threshold`` (go left when ``x <= threshold``), ``value``
    (node value in logit units, internal nodes = weighted mean of their children) and
    ``weight`` (training samples through the node).

    >>> tree = {"left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, -1, -1],
    ...         "threshold": [0.5, 0.0, 0.0], "value": [0.0, -1.0, 1.0], "weight": [4, 2, 2]}
    >>> m = TreeEnsemble("t", ["a"], 0.0, [tree], 1.0, 0.0)
    >>> m.logit(np.array([[0.0], [1.0], [np.nan]])).tolist()
    [-1.0, 1.0, 0.0]
    >>> m.contributions(np.array([[1.0], [np.nan]])).tolist()
    [[1.0], [0.0]]
    """

    version: str
    features: list[str]
    init: float
    trees: list[dict[str, list]]
    platt_a: float = 1.0
    platt_b: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def _flat(self) -> dict[str, np.ndarray]:
        """All trees in one node table (global indices), leaves looping onto themselves,
        with every node's path contributions (n_nodes x features) precomputed."""
        k = len(self.features)
        left, right, feat, thr, val, roots, inners, wgts = [], [], [], [], [], [], [], []
        pcs, depth = [], 0
        base = 0
        for tree in self.trees:
            lt = np.asarray(tree["left"], dtype=np.int64)
            rt = np.asarray(tree["right"], dtype=np.int64)
            ft = np.asarray(tree["feature"], dtype=np.int64)
            v = np.asarray(tree["value"], dtype=float)
            m = len(lt)
            leaf = lt < 0
            own = np.arange(m)
            left.append(np.where(leaf, own, lt) + base)
            right.append(np.where(leaf, own, rt) + base)
            feat.append(np.where(leaf, 0, ft))
            thr.append(np.where(leaf, np.inf, np.asarray(tree["threshold"], dtype=float)))
            val.append(v)
            inners.append(~leaf)
            wgts.append(np.asarray(tree["weight"], dtype=float))
            roots.append(base)
            pc = np.zeros((m, k))
            level, d = np.array([0]), 0
            while len(level):  # top-down, one tree level at a time
                inner = level[~leaf[level]]
                for child in (lt[inner], rt[inner]):
                    pc[child] = pc[inner]
                    pc[child, ft[inner]] += v[child] - v[inner]
                level = np.concatenate([lt[inner], rt[inner]])
                d += 1
            depth = max(depth, d)
            pcs.append(pc)
            base += m
        return {
            "left": np.concatenate(left),
            "right": np.concatenate(right),
            "feature": np.concatenate(feat).astype(np.int32),
            "threshold": np.concatenate(thr),
            "value": np.concatenate(val),
            "roots": np.asarray(roots, dtype=np.int32),
            # child[2 * node + went_right], as one array for a single gather per level
            "child": np.stack([np.concatenate(left), np.concatenate(right)], axis=1)
            .ravel()
            .astype(np.int32),
            "path": np.concatenate(pcs) if pcs else np.zeros((0, k)),
            "depth": np.asarray(depth),
            "inner": np.concatenate(inners),
            "weight": np.concatenate(wgts),
            "used": np.unique(np.concatenate(feat)) if feat else np.zeros(0, dtype=np.int64),
        }

    def _walk(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw (uncalibrated) logit and per-feature contributions of every row.

        Rows without a missing value take the fast path (all trees at once, leaves by
        index, precomputed path contributions); rows with one follow both branches.
        """
        X = np.asarray(X, dtype=float)
        n, k = X.shape
        raw = np.full(n, float(self.init))
        contrib = np.zeros((n, k))
        if not self.trees or n == 0:
            return raw, contrib
        fl = self._flat
        missing = np.isnan(X[:, fl["used"]]).any(axis=1)
        full = np.flatnonzero(~missing)
        blocks = [full[lo : lo + _CHUNK] for lo in range(0, len(full), _CHUNK)]
        # numpy's gathers release the GIL: two threads on blocks of rows (2 cores here)
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            for rows, (b_raw, b_con) in zip(
                blocks, pool.map(lambda r: self._walk_full(X[r]), blocks), strict=True
            ):
                raw[rows] += b_raw
                contrib[rows] = b_con
        # Identical rows give identical results: walk each distinct missing pattern once
        # (accounts without a profile share one all-missing row), in blocks bounded by
        # their number of triples, so memory stays bounded whatever the missing share.
        part = np.flatnonzero(missing)
        if len(part):
            sub = X[part]
            key = np.where(np.isnan(sub), np.inf, sub)  # NaN never equals itself
            nan_key = np.isnan(sub)
            _, first, inverse = np.unique(
                np.concatenate([key, nan_key], axis=1),
                axis=0,
                return_index=True,
                return_inverse=True,
            )
            distinct = sub[first]
            blocks = self._missing_blocks(distinct)
            u_raw = np.zeros(len(distinct))
            u_con = np.zeros((len(distinct), k))
            with ThreadPoolExecutor(max_workers=_THREADS) as pool:
                for rows, (b_raw, b_con) in zip(
                    blocks,
                    pool.map(lambda r: self._walk_missing(distinct[r]), blocks),
                    strict=True,
                ):
                    u_raw[rows] = b_raw
                    u_con[rows] = b_con
            inverse = np.asarray(inverse).ravel()
            raw[part] = u_raw[inverse]
            contrib[part] = u_con[inverse]
        return raw, contrib

    def _missing_blocks(self, X: np.ndarray) -> list[np.ndarray]:
        """Row blocks of ``X`` holding at most ``_TRIPLES`` walk triples each (bound per row:
        trees x 2 ** min(missing used features, depth))."""
        fl = self._flat
        n_missing = np.isnan(X[:, fl["used"]]).sum(axis=1)
        cost = len(fl["roots"]) * np.exp2(np.minimum(n_missing, int(fl["depth"])))
        block = (np.cumsum(cost) // _TRIPLES).astype(np.int64)
        cuts = np.flatnonzero(np.diff(block)) + 1
        return [b for b in np.split(np.arange(len(X)), cuts) if len(b)]

    def _walk_full(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fast path for rows without missing values: every tree at once, one
        gather per level (``child[2 node + (x > threshold)]``), then the leaves' path
        contributions."""
        fl = self._flat
        n, k = X.shape
        node = np.empty((n, len(fl["roots"])), dtype=np.int32)
        node[:] = fl["roots"]
        cell = (np.arange(n, dtype=np.int32) * k)[:, None]  # a block: n * k < 2**31
        flat = np.ascontiguousarray(X).ravel()
        feature, threshold, child = fl["feature"], fl["threshold"], fl["child"]
        # in place, on blocks that stay in cache (_CHUNK): the gathers are the cost
        idx = np.empty(node.shape, dtype=np.int32)
        right = np.empty(node.shape, dtype=bool)
        for _ in range(int(fl["depth"])):
            np.take(feature, node, out=idx)
            idx += cell
            np.greater(flat.take(idx), threshold.take(node), out=right)
            node *= 2
            node += right
            np.take(child, node, out=node)
        acc = np.zeros((n, k))
        for t in range(node.shape[1]):
            acc += fl["path"][node[:, t]]
        return fl["value"][node].sum(axis=1), acc

    def _walk_missing(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The general walk, every tree at once: (row, node, weight) triples, and a
        missing value splits a triple in two, weighted by the training samples that
        went each way. A row's result is the weighted sum over its triples' leaves, of
        the leaf value and of the leaf's path contributions: at a missing split the two
        branches' contributions cancel (the node value is their weighted mean)."""
        fl = self._flat
        n, k = X.shape
        n_trees = len(fl["roots"])
        row = np.repeat(np.arange(n, dtype=np.int64), n_trees)
        node = np.tile(fl["roots"], n).astype(np.int64)
        w = np.ones(len(row))
        for _ in range(int(fl["depth"])):
            x = X[row, fl["feature"][node]]
            miss = np.isnan(x) & fl["inner"][node]
            step = fl["child"][2 * node + (x > fl["threshold"][node])]
            if miss.any():
                # the triple goes left with its share; a new triple goes right
                lm, rm = fl["child"][2 * node[miss]], fl["child"][2 * node[miss] + 1]
                share = fl["weight"][lm] / np.maximum(fl["weight"][lm] + fl["weight"][rm], 1e-12)
                step[miss] = lm
                w_right = w[miss] * (1 - share)
                w[miss] *= share
                row = np.concatenate([row, row[miss]])
                w = np.concatenate([w, w_right])
                node = np.concatenate([step, rm])
            else:
                node = step
        raw = self.init + np.bincount(row, weights=w * fl["value"][node], minlength=n)
        path = fl["path"]
        contrib = np.column_stack(
            [np.bincount(row, weights=path[node, j] * w, minlength=n) for j in range(k)]
        ).reshape(n, k)
        contrib[np.isnan(X)] = 0.0  # exactly: the branches cancel up to rounding
        return raw, contrib

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature additive contributions to the calibrated logit (n x features)."""
        return self._walk(X)[1] * self.platt_a

    def bias(self) -> float:
        """The calibrated logit of a sample with every feature missing."""
        return self.platt_a * (self.init + sum(float(t["value"][0]) for t in self.trees)) + (
            self.platt_b
        )

    def logit(self, X: np.ndarray) -> np.ndarray:
        """Calibrated logit of every row."""
        return self.platt_a * self._walk(X)[0] + self.platt_b

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability that the row is a bot."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(X), -40, 40)))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "tree-ensemble",
            "version": self.version,
            "features": self.features,
            "init": self.init,
            "platt_a": self.platt_a,
            "platt_b": self.platt_b,
            "trees": self.trees,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeEnsemble:
        return cls(
            version=data["version"],
            features=list(data["features"]),
            init=float(data["init"]),
            trees=list(data["trees"]),
            platt_a=float(data.get("platt_a", 1.0)),
            platt_b=float(data.get("platt_b", 0.0)),
            meta=dict(data.get("meta", {})),
        )

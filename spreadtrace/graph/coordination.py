"""Coordination: how strongly two accounts co-share, and which accounts act as a group.

Why: accounts run by one operator share the same items within seconds of each other,
again and again (co-retweeting, co-link sharing; Righetti et al. 2022, CooRTweet;
Pacheco et al. 2021). The co-share search itself is SQL (see
:mod:`spreadtrace.store.coordination`); here are the two pieces of graph logic: a
strength that discounts prolific accounts, and the clusters over the thresholded
co-share network.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from spreadtrace.graph.seeded import igraph_seed

__all__ = ["npmi", "cluster_pairs", "CLUSTER_METHODS"]

CLUSTER_METHODS = ("leiden", "components")


def npmi(shared: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, n_items: int) -> np.ndarray:
    """Normalised pointwise mutual information of two accounts' items, clipped to [0, 1].

    Why NPMI: a raw count of shared items rewards accounts that share everything; NPMI
    compares the overlap with what two accounts of those activity levels would share
    by chance, and normalises it so that 1 means "they only ever share together" and
    0 means "no more than chance" (negative values, less than chance, are clipped).

    ``p_ab = shared / N``, ``p_a = n_a / N``, ``p_b = n_b / N`` with ``N = n_items``;
    ``npmi = log(p_ab / (p_a p_b)) / -log(p_ab)``, defined as 1 when ``p_ab = 1``.

    References: Bouma, G. (2009). Normalized (pointwise) mutual information in
    collocation extraction. GSCL.

    >>> npmi(np.array([5, 5]), np.array([5, 50]), np.array([5, 50]), 1000).round(3).tolist()
    [1.0, 0.131]
    """
    shared = np.asarray(shared, dtype=float)
    p_ab = shared / n_items
    p_a = np.asarray(n_a, dtype=float) / n_items
    p_b = np.asarray(n_b, dtype=float) / n_items
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(p_ab) - np.log(p_a) - np.log(p_b)
        out = pmi / -np.log(p_ab)
    out = np.where(p_ab >= 1.0, 1.0, out)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def cluster_pairs(
    pairs: pl.DataFrame,
    *,
    min_strength: float = 0.0,
    method: str = "leiden",
    resolution: float = 0.4,
    objective: str = "CPM",
    seed: int = 0,
) -> pl.DataFrame:
    """Group accounts into coordination clusters over the thresholded co-share network.

    ``pairs`` has columns account_a, account_b, strength (and usually shared_items);
    the pairs with ``strength >= min_strength`` become weighted edges. ``components``
    takes connected components (simple, but one accidental bridge merges two groups,
    and a single weak pair pulls an outsider in); ``leiden`` (Traag et al. 2019) with
    the Constant Potts Model (``objective="CPM"``, weights = strength) keeps a set of
    accounts together only if their pair strengths, summed over all member pairs
    (missing pairs count 0), average at least ``resolution``: a ring stays whole, an
    account hanging on by one weak pair stays out. ``objective="modularity"`` is the
    usual alternative (it does not cut such pendant accounts). Returns cluster_id, account_id, cluster_size for every account in a
    cluster of at least two; cluster_id is ``c:<smallest account_id in it>``, stable
    across builds as long as the membership is.

    References: Traag, V. A., Waltman, L., van Eck, N. J. (2019). From Louvain to
    Leiden: guaranteeing well-connected communities. Scientific Reports 9, 5233.
    Traag, V. A., Van Dooren, P., Nesterov, Y. (2011). Narrow scope for
    resolution-limit-free community detection. Physical Review E 84, 016114 (CPM).

    >>> p = pl.DataFrame({"account_a": ["a", "a", "b", "x"], "account_b": ["b", "c", "c", "y"],
    ...                   "strength": [0.9, 0.8, 0.7, 0.1]})
    >>> cluster_pairs(p, min_strength=0.5).sort("account_id").rows()
    [('c:a', 'a', 3), ('c:a', 'b', 3), ('c:a', 'c', 3)]
    """
    import igraph as ig

    if method not in CLUSTER_METHODS:
        raise ValueError(f"unknown clustering method {method!r}; use one of {CLUSTER_METHODS}")
    empty = pl.DataFrame(
        schema={"cluster_id": pl.String, "account_id": pl.String, "cluster_size": pl.Int64}
    )
    edges = pairs.filter(pl.col("strength") >= min_strength)
    if edges.height == 0:
        return empty
    names = pl.concat([edges["account_a"], edges["account_b"]]).unique().sort()
    index = pl.DataFrame({"name": names, "i": np.arange(names.len(), dtype=np.int64)})
    ends = edges.join(index, left_on="account_a", right_on="name").rename({"i": "ia"})
    ends = ends.join(index, left_on="account_b", right_on="name").rename({"i": "ib"})
    G = ig.Graph(
        n=names.len(),
        edges=np.column_stack([ends["ia"].to_numpy(), ends["ib"].to_numpy()]).tolist(),
    )
    weights = ends["strength"].to_numpy().astype(float)
    if method == "components":
        membership = np.asarray(G.connected_components().membership)
    else:
        with igraph_seed(seed):
            parts = G.community_leiden(
                objective_function=objective,
                weights=weights,
                resolution=resolution,
                n_iterations=-1,
            )
        membership = np.asarray(parts.membership)
    frame = pl.DataFrame({"account_id": names, "m": membership})
    sizes = frame.group_by("m").agg(
        pl.len().alias("cluster_size"), pl.col("account_id").min().alias("first")
    )
    frame = frame.join(sizes, on="m").filter(pl.col("cluster_size") >= 2)
    return frame.select(
        ("c:" + pl.col("first")).alias("cluster_id"),
        "account_id",
        pl.col("cluster_size").cast(pl.Int64),
    ).sort("cluster_id", "account_id")

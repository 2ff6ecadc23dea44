"""Origin: rumor centrality against enumeration, tree helpers against networkx, ranking."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import networkx as nx
import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.origin import (
    forest_depth,
    log_rumor_centrality,
    origin_index,
    origin_scores,
    post_tree_features,
    subtree_sizes,
)


def _random_forest(draw_sizes: list[int], seed: int) -> np.ndarray:
    """A forest as a parent array, nodes shuffled so parents may come after children."""
    rng = np.random.default_rng(seed)
    parents: list[int] = []
    offset = 0
    for n in draw_sizes:
        tree = nx.random_labeled_tree(n, seed=int(rng.integers(1 << 30))) if n > 1 else None
        if tree is None:
            parents.append(-1)
        else:
            pred = nx.bfs_predecessors(tree, 0)
            local = [-1] * n
            for child, par in pred:
                local[child] = par + offset
            parents.extend(local)
        offset += n
    parent = np.array(parents, dtype=np.int64)
    perm = rng.permutation(len(parent))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    shuffled = np.where(parent[perm] >= 0, inv[np.maximum(parent[perm], 0)], -1)
    return shuffled


def _brute_orderings(G: nx.Graph, source: int) -> int:
    """Count infection orderings from ``source``: every prefix must stay connected."""
    others = [v for v in G if v != source]
    count = 0
    for perm in itertools.permutations(others):
        seen = {source}
        ok = True
        for v in perm:
            if not any(u in seen for u in G[v]):
                ok = False
                break
            seen.add(v)
        count += ok
    return count


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_rumor_centrality_matches_enumeration(n: int, seed: int) -> None:
    parent = _random_forest([n], seed)
    G = nx.Graph()
    G.add_nodes_from(range(n))
    G.add_edges_from((i, int(p)) for i, p in enumerate(parent) if p >= 0)
    got = np.exp(log_rumor_centrality(parent))
    for v in range(n):
        assert math.isclose(got[v], _brute_orderings(G, v), rel_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6), seed=st.integers(0, 10_000))
def test_depth_and_subtree_sizes_match_networkx(sizes: list[int], seed: int) -> None:
    parent = _random_forest(sizes, seed)
    D = nx.DiGraph()
    D.add_nodes_from(range(len(parent)))
    D.add_edges_from((int(p), i) for i, p in enumerate(parent) if p >= 0)
    depth = forest_depth(parent)
    size = subtree_sizes(parent)
    for v in D:
        root = next(u for u in [v, *nx.ancestors(D, v)] if D.in_degree(u) == 0)
        assert depth[v] == nx.shortest_path_length(D, root, v)
        assert size[v] == len(nx.descendants(D, v)) + 1


def test_rumor_centrality_is_finite_on_large_trees() -> None:
    # A star of 200,000 leaves: n! overflows any float, its log does not.
    parent = np.r_[-1, np.zeros(200_000, dtype=np.int64)]
    log_r = log_rumor_centrality(parent)
    assert np.isfinite(log_r).all()
    assert math.isclose(
        log_r[0], math.lgamma(200_001), rel_tol=1e-9
    )  # (n-1)! = 200000! for the hub
    assert log_r[0] > log_r[1:].max()


def test_unseen_root_gets_a_virtual_node() -> None:
    # Cascade 0: two posts hanging from a missing original (virtual root); cascade 1 a pair.
    depth, reach, centrality = post_tree_features(
        np.array([-1, -1, 1, -1, 3]), np.array([0, 0, 0, 1, 1]), np.array([True, False])
    )
    assert depth.tolist() == [1, 1, 2, 0, 1]
    assert reach.tolist() == [1, 2, 1, 2, 1]
    # Virtual root -> {0, 1 -> 2}: n = 4; R(virtual) = 4!/(4*1*2*1) = 3, R(1) = 3*2/2 = 3,
    # R(0) = 3*1/3 = 1, R(2) = 3*1/3 = 1. Relative to the best (3): 1/3, 1, 1/3.
    assert np.allclose(centrality[:3], [1 / 3, 1.0, 1 / 3])
    assert np.allclose(centrality[3:], [1.0, 1.0])  # a pair: both ends are centres


T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _posts(rows: list[tuple[str, str, str, int, bool, int, int, float]]) -> pl.DataFrame:
    cols = ["narrative_id", "cascade_id", "account_id", "minutes", "root_seen", "depth", "reach"]
    cols.append("centrality")
    frame = pl.DataFrame(rows, schema=cols, orient="row")
    return frame.with_columns(created_at=pl.lit(T0) + pl.duration(minutes=pl.col("minutes"))).drop(
        "minutes"
    )


def test_origin_prefers_the_earliest_poster_with_reach() -> None:
    posts = _posts(
        [
            # narrative n1: origin posts first (cascade a, 4 posts); a copycat's bigger cascade later.
            ("n1", "a", "origin", 0, True, 0, 4, 1.0),
            ("n1", "a", "r1", 3, True, 1, 1, 0.3),
            ("n1", "a", "r2", 4, True, 1, 1, 0.3),
            ("n1", "a", "r3", 5, True, 1, 1, 0.3),
            ("n1", "b", "copycat", 60, True, 0, 5, 1.0),
            *[("n1", "b", f"s{i}", 61 + i, True, 1, 1, 0.25) for i in range(4)],
        ]
    )
    out = origin_scores(posts)
    top = out.filter(pl.col("rank") == 1).row(0, named=True)
    assert top["account_id"] == "origin"
    assert top["first_at"] == T0
    assert math.isclose(top["reach_share"], 4 / 9)
    assert out["origin_score"].is_between(0, 1).all()
    assert out.filter(pl.col("account_id") == "copycat")["rank"][0] == 2
    assert "first to post it" in top["reasons"]


def test_missing_original_shifts_weight_to_centrality() -> None:
    # The narrative's earliest cascade lost its original: a reposter appears first by a
    # minute, but the hub of the observed tree (the real spreader) should win.
    posts = _posts(
        [
            ("n", "a", "early_leaf", 0, False, 2, 1, 0.05),
            ("n", "a", "hub", 1, False, 1, 6, 1.0),
            *[("n", "a", f"leaf{i}", 2 + i, False, 2, 1, 0.05) for i in range(4)],
        ]
    )
    out = origin_scores(posts)
    assert out.filter(pl.col("rank") == 1)["account_id"][0] == "hub"
    assert "not in the data" in out["reasons"][0]


def test_origin_index_counts_seeded_wide_narratives() -> None:
    origins = pl.DataFrame(
        {
            "narrative_id": ["n1", "n2", "n3", "n1"],
            "account_id": ["a", "a", "b", "b"],
            "rank": [1, 1, 1, 5],
            "origin_score": [0.9, 0.9, 0.9, 0.9],
        }
    )
    sizes = pl.DataFrame({"narrative_id": ["n1", "n2", "n3"], "posts": [10_000, 1000, 1]})
    out = {r[0]: r for r in origin_index(origins, sizes, seed_rank=3).rows()}
    assert math.isclose(out["a"][1], 1 - 0.1 * 0.1)  # two fully wide narratives
    assert out["a"][2] == 2
    assert out["b"][1] == 0.0  # seeded only a one-post narrative; rank 5 is no seed
    assert out["b"][2] == 1

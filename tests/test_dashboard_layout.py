"""Cascade layouts (spreadtrace.graph.layout) against a networkx reference and tidy-tree rules."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.layout import (
    RT_MAX_NODES,
    depths,
    force_layout,
    leaf_span_layout,
    tree_layout,
)


@st.composite
def forests(draw):
    n = draw(st.integers(1, 200))
    roots = draw(st.integers(1, max(1, min(3, n))))
    parent = np.full(n, -1, dtype=np.int64)
    for i in range(roots, n):
        parent[i] = draw(st.integers(0, i - 1))
    # Shuffle node labels so parents do not always come first.
    perm = np.array(draw(st.permutations(list(range(n)))), dtype=np.int64)
    inv = np.argsort(perm)
    shuffled = np.full(n, -1, dtype=np.int64)
    has = parent >= 0
    shuffled[perm[has]] = perm[parent[has]]
    del inv
    return shuffled


def _reference_depths(parent: np.ndarray) -> np.ndarray:
    G = nx.DiGraph()
    G.add_nodes_from(range(len(parent)))
    G.add_edges_from((int(p), i) for i, p in enumerate(parent) if p >= 0)
    out = np.zeros(len(parent), dtype=np.int64)
    for root in np.flatnonzero(parent < 0):
        for node, d in nx.single_source_shortest_path_length(G, int(root)).items():
            out[node] = d
    return out


@settings(max_examples=40, deadline=None)
@given(forests())
def test_depths_match_networkx(parent):
    assert depths(parent).tolist() == _reference_depths(parent).tolist()


@settings(max_examples=40, deadline=None)
@given(forests())
def test_leaf_span_layout_is_a_tidy_tree(parent):
    xy = leaf_span_layout(parent)
    n = len(parent)
    assert xy.shape == (n, 2) and np.all((xy >= 0) & (xy <= 1))
    d = depths(parent)
    # One row per depth, roots on top.
    for level in np.unique(d):
        assert np.ptp(xy[d == level, 1]) == 0
    if d.max() > 0:
        assert np.all(xy[d == 0, 1] == 1.0)
    # Leaves never overlap; a parent sits within its children's span.
    leaves = np.setdiff1d(np.arange(n), parent[parent >= 0])
    assert len(np.unique(np.round(xy[leaves, 0], 9))) == len(leaves)
    for p in np.unique(parent[parent >= 0]):
        kids = xy[parent == p, 0]
        assert kids.min() - 1e-9 <= xy[p, 0] <= kids.max() + 1e-9


def test_small_trees_use_reingold_tilford_and_large_the_leaf_span():
    rng = np.random.default_rng(1)
    n = RT_MAX_NODES + 1
    parent = np.full(n, -1)
    parent[1:] = np.floor(rng.random(n - 1) * np.arange(1, n)).astype(int)
    assert np.allclose(tree_layout(parent), leaf_span_layout(parent))
    small = parent[:50]
    xy = tree_layout(small)
    assert xy[0, 1] == 1.0 and not np.allclose(xy, leaf_span_layout(small))


def test_radial_layout_puts_the_root_at_the_centre():
    xy = leaf_span_layout(np.array([-1, 0, 0, 0, 1]), radial=True)
    # Children on a ring around the root: all at the same distance.
    r = np.hypot(*(xy[1:4] - xy[0]).T)
    assert np.allclose(r, r[0])


def test_force_layout_separates_components_and_is_seeded():
    edges = np.array([[0, 1], [1, 2], [3, 4]])
    a = force_layout(5, edges)
    b = force_layout(5, edges)
    assert np.allclose(a, b)  # same seed, same picture
    assert a.shape == (5, 2)

"""Cascade trees and metrics against a networkx brute force (spreadtrace.graph)."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.cascades import forest_roots, list_rank, resolve_forest, subtree_sizes
from spreadtrace.graph.metrics import cascade_metrics

# --- strategies ------------------------------------------------------------------------


@st.composite
def tree_shapes(draw) -> list[int]:
    """One tree as a parent list (parent[i] < i, node 0 the root): random, chain, star, single."""
    shape = draw(st.sampled_from(["random", "chain", "star", "single", "caterpillar"]))
    n = 1 if shape == "single" else draw(st.integers(2, 60))
    if shape == "chain":
        return [-1] + list(range(n - 1))
    if shape == "star":
        return [-1] + [0] * (n - 1)
    if shape == "caterpillar":  # a chain with leaves: deep and wide at once
        return [-1] + [max(0, i - 1 - (i % 2)) for i in range(1, n)]
    return [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]


@st.composite
def forests(draw):
    """Several trees, relabelled by a random permutation; some roots made virtual.

    Returns (parent array, n_posts, times, accounts) with virtual roots numbered last,
    as the store lays them out.
    """
    trees = draw(st.lists(tree_shapes(), min_size=1, max_size=6))
    parent: list[int] = []
    virtual_roots: list[int] = []
    for tree in trees:
        base = len(parent)
        parent += [-1 if p < 0 else p + base for p in tree]
        # an unseen original needs at least one stored post hanging from it
        if len(tree) > 1 and draw(st.booleans()):
            virtual_roots.append(base)
    n = len(parent)
    # stored posts first, virtual roots last; otherwise a random order
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    seen = [v for v in range(n) if v not in set(virtual_roots)]
    rng.shuffle(seen)
    order = seen + virtual_roots
    new_of = {old: new for new, old in enumerate(order)}
    par = np.full(n, -1, dtype=np.int64)
    for old, p in enumerate(parent):
        if p >= 0:
            par[new_of[old]] = new_of[p]
    n_posts = len(seen)
    times = rng.integers(0, 5 * 3600, size=n_posts) * 1_000_000
    accounts = rng.integers(0, max(2, n_posts // 2), size=n_posts)
    return par, n_posts, times, accounts


def _digraph(par: np.ndarray) -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(range(len(par)))
    G.add_edges_from((int(p), v) for v, p in enumerate(par) if p >= 0)
    return G


# --- forests --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(forests())
def test_roots_depths_and_subtrees_match_networkx(case):
    par, _, _, _ = case
    G = _digraph(par)
    f = resolve_forest(par)
    assert len(f.cycle_cuts) == 0
    sizes = subtree_sizes(f.parent, f.depth)
    for component in nx.weakly_connected_components(G):
        (root,) = [v for v in component if G.in_degree(v) == 0]
        lengths = nx.single_source_shortest_path_length(G, root)
        for v in component:
            assert f.root[v] == root
            assert f.depth[v] == lengths[v]
            assert sizes[v] == 1 + len(nx.descendants(G, v))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 29), min_size=1, max_size=30))
def test_any_parent_array_resolves_to_a_forest_cutting_each_cycle_at_its_minimum(raw):
    # Arbitrary parent links: self links, 2-cycles, long cycles with trees hanging in.
    n = len(raw)
    par = np.array([p if p < n else -1 for p in raw], dtype=np.int64)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from((v, int(p)) for v, p in enumerate(par) if p >= 0)  # child -> parent
    cycles = list(nx.simple_cycles(G))
    f = resolve_forest(par)
    # one cut per cycle, at the cycle's smallest member, remembering the old parent
    assert sorted(f.cycle_cuts.tolist()) == sorted(min(c) for c in cycles)
    assert f.cycle_cut_parent.tolist() == par[f.cycle_cuts].tolist()
    # what is left is a forest, and depths/roots agree with it
    T = _digraph(f.parent)
    assert nx.is_forest(T.to_undirected()) and nx.is_directed_acyclic_graph(T)
    for v in range(n):
        path = nx.shortest_path(T.reverse(copy=False), v, int(f.root[v]))
        assert len(path) - 1 == f.depth[v]
    # only the cut links changed
    changed = np.flatnonzero(f.parent != par)
    assert set(changed.tolist()) == set(f.cycle_cuts.tolist())


def test_deep_chain_resolves_without_recursion():
    n = 200_000  # a chain deeper than any Python recursion limit
    par = np.arange(-1, n - 1, dtype=np.int64)
    f = resolve_forest(par)
    assert f.depth[-1] == n - 1 and (f.root == 0).all()
    assert subtree_sizes(f.parent, f.depth)[0] == n


def test_list_rank_on_a_star_and_a_chain():
    jump, dist = list_rank(np.array([-1, 0, 0, 0, -1, 4, 5]))
    assert jump.tolist() == [0, 0, 0, 0, 4, 4, 4]
    assert dist.tolist() == [0, 1, 1, 1, 0, 1, 2]


# --- metrics --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(forests())
def test_metrics_match_networkx_brute_force(case):
    par, n_posts, times, accounts = case
    f = resolve_forest(par)
    source = np.where(f.parent[:n_posts] >= 0, 1, 0)
    m = cascade_metrics(f.parent, f.root, f.depth, n_posts, accounts, times, source)
    G = _digraph(par)
    components = list(nx.weakly_connected_components(G))
    assert len(m.root_node) == len(components)
    for component in components:
        (root,) = [v for v in component if G.in_degree(v) == 0]
        c = int(np.searchsorted(m.root_node, root))
        assert m.root_node[c] == root
        posts = sorted(v for v in component if v < n_posts)  # stored posts only
        depth_of = nx.single_source_shortest_path_length(G, root)
        assert m.root_seen[c] == (root < n_posts)
        assert m.size[c] == len(posts)
        assert m.nodes[c] == len(component)
        assert m.accounts[c] == len({int(accounts[v]) for v in posts})
        assert m.depth[c] == max(depth_of[v] for v in posts)
        per_level: dict[int, int] = {}
        for v in posts:
            per_level[depth_of[v]] = per_level.get(depth_of[v], 0) + 1
        assert m.max_breadth[c] == max(per_level.values())
        if len(component) == 1:
            assert np.isnan(m.structural_virality[c])
        else:
            expected = nx.average_shortest_path_length(G.subgraph(component).to_undirected())
            assert np.isclose(m.structural_virality[c], expected, rtol=1e-12)
        ts = sorted(int(times[v]) for v in posts)
        assert m.first_at[c] == ts[0] and m.last_at[c] == ts[-1]
        k50 = -(-len(ts) * 50 // 100)  # ceil
        k90 = -(-len(ts) * 90 // 100)
        assert m.time_to_50_s[c] == (ts[k50 - 1] - ts[0]) / 1e6
        assert m.time_to_90_s[c] == (ts[k90 - 1] - ts[0]) / 1e6
        hours: dict[int, int] = {}
        for t in ts:
            h = (t - ts[0]) // 3_600_000_000
            hours[h] = hours.get(h, 0) + 1
        assert m.peak_per_hour[c] == max(hours.values())
        for v in component:
            assert m.descendants[v] == len(nx.descendants(G, v))
            assert m.cascade[v] == c


def test_structural_virality_of_star_and_chain_closed_forms():
    # A star of n nodes: SV = 2(n-1)^2 / (n(n-1)) = 2(n-1)/n; a chain: SV = (n+1)/3.
    n = 1000
    star = np.array([-1] + [0] * (n - 1))
    chain = np.arange(-1, n - 1)
    for par, expected in ((star, 2 * (n - 1) / n), (chain, (n + 1) / 3)):
        f = resolve_forest(par)
        m = cascade_metrics(f.parent, f.root, f.depth, n, np.zeros(n), np.zeros(n), np.ones(n))
        assert np.isclose(m.structural_virality[0], expected)


def test_reconstruction_labels():
    # cascades: 0 alone (single); 1 <- 2 explicit; 3 <- 4 root (flat);
    # 5 <- 6 root, 6 <- 7 inferred (inferred); 8 <- 9 explicit, 8 <- 10 root (mixed)
    par = np.array([-1, -1, 1, -1, 3, -1, 5, 6, -1, 8, 8])
    source = np.array([0, 0, 1, 0, 3, 0, 3, 2, 0, 1, 3])
    f = resolve_forest(par)
    n = len(par)
    m = cascade_metrics(f.parent, f.root, f.depth, n, np.arange(n), np.zeros(n), source)
    assert m.reconstruction.tolist() == ["single", "explicit", "flat", "inferred", "mixed"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 29), min_size=1, max_size=30))
def test_forest_roots_equal_resolve_forest_roots(links):
    # random parent arrays: chains, stars, self links and longer cycles
    parent = np.array([p if p < len(links) else -1 for p in links], dtype=np.int64)
    assert forest_roots(parent).tolist() == resolve_forest(parent).root.tolist()

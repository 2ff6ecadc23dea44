"""igraph's random draws are seeded per call: Leiden partitions repeat whatever ran
before them, and the caller's random state is left as it was."""

from __future__ import annotations

import random

import igraph as ig
import numpy as np
import polars as pl

from spreadtrace.graph.narratives import _semantic_communities
from spreadtrace.graph.seeded import igraph_seed


def _sparse_graph() -> ig.Graph:
    """60 nodes, 120 random edges: no clear communities, so Leiden's answer depends on
    its random node order (six prior random states give six partitions unseeded)."""
    rng = np.random.default_rng(7)
    edges = {tuple(sorted(map(int, rng.choice(60, 2, replace=False)))) for _ in range(150)}
    return ig.Graph(n=60, edges=sorted(edges)[:120])


def _leiden(G: ig.Graph) -> tuple[int, ...]:
    return tuple(G.community_leiden(objective_function="modularity", n_iterations=-1).membership)


def test_unseeded_leiden_varies_and_seeded_repeats() -> None:
    G = _sparse_graph()
    unseeded = set()
    for s in range(6):
        random.seed(s)
        unseeded.add(_leiden(G))
    assert len(unseeded) > 1  # the graph is ambiguous: the test can fail
    seeded = set()
    for s in range(6):
        random.seed(s)
        with igraph_seed(0):
            seeded.add(_leiden(G))
    assert len(seeded) == 1


def test_semantic_grouping_leaves_the_callers_random_state_alone() -> None:
    texts = [
        "the bridge collapsed during the storm last night",
        "last night the storm made the bridge collapse",
        "vaccines are being recalled across the country",
        "a nationwide recall of vaccines is under way",
        "the mayor resigned after the scandal broke",
        "after the scandal the mayor has resigned",
    ]
    rows = pl.DataFrame({"norm": texts, "text_group": [f"t{i}" for i in range(len(texts))]})
    random.seed(42)
    state = random.getstate()
    groups = _semantic_communities(rows, threshold=0.5)
    assert groups["text_group"].n_unique() < len(texts)  # paraphrases merged: Leiden ran
    assert random.getstate() == state

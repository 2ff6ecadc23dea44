"""A narrative's account network (Hoaxy-style): k-core pruning and GEXF export.

Why: a narrative's "who amplified whom" network is drawn in the dashboard and handed
to Gephi. Above a size limit a drawing shows nothing readable, so, like Hoaxy (Shao
et al. 2016, "Hoaxy: A Platform for Tracking Online Misinformation", WWW Companion),
the graph is pruned to its densest part: the k-core (every account keeps at least k
partners inside it) for the smallest k that fits the limit. The core numbers come
from igraph's O(m) algorithm (Batagelj & Zaversnik 2003, "An O(m) Algorithm for
Cores Decomposition of Networks").

>>> import numpy as np
>>> edges = np.array([[0, 1], [1, 2], [2, 0], [2, 3]])   # a triangle and a pendant
>>> keep, k, cut = kcore_prune(4, edges, limit=3)
>>> keep.tolist(), k, cut
([True, True, True, False], 2, False)
"""

from __future__ import annotations

import igraph as ig
import networkx as nx
import numpy as np
import polars as pl

from spreadtrace.graph.export import xml_safe

__all__ = ["kcore_prune", "network_gexf"]


def kcore_prune(n: int, edges: np.ndarray, limit: int) -> tuple[np.ndarray, int, bool]:
    """Which of ``n`` nodes to draw, the k used and whether the core itself was cut.

    All nodes if ``n <= limit`` (k = 0); else the k-core for the smallest k with at
    most ``limit`` nodes; if even the innermost core is larger than ``limit``, its
    ``limit`` nodes of highest degree (``cut`` is then True). Edges are taken
    undirected and their multiplicity ignored (a partner is a partner).
    """
    if n <= limit:
        return np.ones(n, dtype=bool), 0, False
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    G = ig.Graph(n=n, edges=edges.tolist(), directed=False).simplify()
    core = np.asarray(G.coreness(), dtype=np.int64)
    counts = np.bincount(core)[::-1].cumsum()[::-1]  # counts[k] = nodes with core >= k
    fits = np.flatnonzero(counts <= limit)
    if len(fits) and counts[fits[0]] > 0:
        k = int(fits[0])
        return core >= k, k, False
    k = int(core.max())
    inner = np.flatnonzero(core == k)
    degree = np.asarray(G.degree(), dtype=np.int64)
    best = inner[np.lexsort((inner, -degree[inner]))][:limit]
    keep = np.zeros(n, dtype=bool)
    keep[best] = True
    return keep, k, True


def network_gexf(nodes: pl.DataFrame, edges: pl.DataFrame) -> str:
    """The account network as GEXF 1.2 text (directed: spread account -> spreader).

    ``edges`` name their ends by row number in ``nodes`` (``s``, ``t``), so the ids
    written are the nodes' (for a viewer, already pseudonyms). Node attributes:
    ``handle``, ``bot_state``, ``cluster_id``, ``reach``; edge attributes ``kind`` and
    ``weight``. Text is made XML-safe (:func:`xml_safe`).
    """
    ids = [xml_safe(a) for a in nodes["account_id"].to_list()]
    G = nx.MultiDiGraph()
    for i, row in enumerate(nodes.iter_rows(named=True)):
        G.add_node(
            ids[i],
            label=xml_safe(row.get("handle") or row["account_id"]),
            handle=xml_safe(row.get("handle") or ""),
            bot_state=xml_safe(row.get("bot_state") or ""),
            cluster_id=xml_safe(row.get("cluster_id") or ""),
            reach=int(row.get("reach") or 0),
        )
    for row in edges.iter_rows(named=True):
        G.add_edge(
            ids[row["s"]], ids[row["t"]], kind=xml_safe(row["kind"]), weight=float(row["weight"])
        )
    return "\n".join(nx.generate_gexf(G, version="1.2draft")) + "\n"

"""Node positions for drawing cascades and coordination networks (igraph layouts).

Why here: only ``spreadtrace.graph`` imports igraph; the dashboard hands over arrays
(parent indices, edge lists) and gets back an ``(n, 2)`` array of coordinates scaled
to [0, 1]. Trees (cascades) are laid out with Reingold-Tilford, top-down or radial;
other graphs (co-share networks) force-directed: Fruchterman-Reingold for small
graphs, DrL for large ones, both seeded so a page draws the same picture twice.

References: E. M. Reingold and J. S. Tilford, "Tidier drawings of trees", IEEE TSE
7(2), 1981. T. M. J. Fruchterman and E. M. Reingold, "Graph drawing by force-directed
placement", Software: Practice and Experience 21(11), 1991. S. Martin et al.,
"OpenOrd: an open-source toolbox for large graph layout", SPIE 7868, 2011 (DrL).

>>> import numpy as np
>>> xy = tree_layout(np.array([-1, 0, 0, 1]))
>>> xy.shape, float(xy[0, 1]), float(xy[3, 1])  # root on top (y = 1), depth 2 at the bottom
((4, 2), 1.0, 0.0)
>>> force_layout(3, np.array([[0, 1], [1, 2]])).shape
(3, 2)
"""

from __future__ import annotations

import igraph as ig
import numpy as np

from spreadtrace.graph.seeded import igraph_seed

__all__ = ["tree_layout", "leaf_span_layout", "force_layout", "depths", "RT_MAX_NODES"]


def _scale(xy: np.ndarray, *, uniform: bool = False) -> np.ndarray:
    """Shift and scale into [0, 1]; ``uniform`` keeps the aspect ratio (circles stay round)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return xy
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    if uniform:
        span = np.full(2, span.max())
    return (xy - lo) / span


RT_MAX_NODES = 5000
"""Above this many nodes :func:`tree_layout` uses :func:`leaf_span_layout`.

igraph's Reingold-Tilford grows super-linearly on the wide trees reposts make
(measured on random recursive trees: 5,000 nodes 0.07 s, 20,000 nodes 1.1 s, 50,000
nodes 6.3 s), too slow for a page. The leaf-span layout is the same top-down picture
without Reingold-Tilford's contour compaction, computed level by level in numpy.
"""


def depths(parent: np.ndarray) -> np.ndarray:
    """Depth of every node of a forest (roots 0), vectorised over levels.

    >>> depths(np.array([-1, 0, 1, 0])).tolist()
    [0, 1, 2, 1]
    """
    parent = np.asarray(parent, dtype=np.int64)
    depth = np.zeros(len(parent), dtype=np.int64)
    anc = parent.copy()
    alive = anc >= 0
    while alive.any():
        depth[alive] += 1
        anc[alive] = parent[anc[alive]]
        alive = anc >= 0
    return depth


def leaf_span_layout(parent: np.ndarray, *, radial: bool = False) -> np.ndarray:
    """Tidy tree positions in O(n log n): each subtree gets a span as wide as its leaves.

    A node sits above the middle of its span; siblings keep their index order.

    >>> leaf_span_layout(np.array([-1, 0, 0])).tolist()
    [[0.5, 1.0], [0.0, 0.0], [1.0, 0.0]]
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    if n == 0:
        return np.zeros((0, 2))
    depth = depths(parent)
    has_child = np.zeros(n, dtype=bool)
    has_child[parent[parent >= 0]] = True
    leaves = (~has_child).astype(np.float64)
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2))
    levels = [order[bounds[d] : bounds[d + 1]] for d in range(depth.max() + 1)]
    for nodes in reversed(levels[1:]):
        np.add.at(leaves, parent[nodes], leaves[nodes])
    start = np.zeros(n)
    roots = levels[0]
    start[roots] = np.concatenate([[0.0], np.cumsum(leaves[roots])[:-1]])
    for nodes in levels[1:]:
        nodes = nodes[np.argsort(parent[nodes], kind="stable")]
        w = leaves[nodes]
        csum = np.cumsum(w) - w  # exclusive cumsum over the whole level
        par = parent[nodes]
        first = np.r_[True, par[1:] != par[:-1]]
        group_base = np.maximum.accumulate(np.where(first, np.arange(len(nodes)), 0))
        start[nodes] = start[par] + csum - csum[group_base]
    x = start + leaves / 2.0
    if radial:
        angle = 2 * np.pi * x / max(leaves[roots].sum(), 1.0)
        return _scale(np.column_stack([depth * np.cos(angle), depth * np.sin(angle)]), uniform=True)
    return _scale(np.column_stack([x, -depth.astype(np.float64)]))


def tree_layout(parent: np.ndarray, *, radial: bool = False) -> np.ndarray:
    """Reingold-Tilford positions for a forest given each node's parent index (-1: root).

    Top-down: y = 1 at the roots, 0 at the deepest level. Radial: roots at the centre,
    each depth on a ring (legible for the wide, shallow trees that reposts make).
    Above :data:`RT_MAX_NODES` nodes, :func:`leaf_span_layout`.
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    if n == 0:
        return np.zeros((0, 2))
    if n > RT_MAX_NODES:
        return leaf_span_layout(parent, radial=radial)
    child = np.flatnonzero(parent >= 0)
    G = ig.Graph(n=n, edges=np.column_stack([parent[child], child]).tolist(), directed=True)
    roots = np.flatnonzero(parent < 0).tolist() or [0]
    if radial:
        xy = np.array(G.layout_reingold_tilford_circular(mode="out", root=roots).coords)
        return _scale(xy, uniform=True)
    xy = np.array(G.layout_reingold_tilford(mode="out", root=roots).coords)
    xy[:, 1] = -xy[:, 1]  # igraph puts the root at y = 0 growing downwards
    return _scale(xy)


def force_layout(
    n: int, edges: np.ndarray, weights: np.ndarray | None = None, *, seed: int = 0
) -> np.ndarray:
    """Force-directed positions for a general graph of ``n`` nodes and an (m, 2) edge array."""
    if n == 0:
        return np.zeros((0, 2))
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    G = ig.Graph(n=n, edges=edges.tolist(), directed=False)
    rng = np.random.default_rng(seed)
    start = rng.random((n, 2)).tolist()
    w = None if weights is None else np.asarray(weights, dtype=np.float64).tolist()
    with igraph_seed(seed):
        if n <= 2000:
            xy = G.layout_fruchterman_reingold(weights=w, seed=start, niter=300)
        else:
            xy = G.layout_drl(weights=w, seed=start)
    return _scale(np.array(xy.coords))

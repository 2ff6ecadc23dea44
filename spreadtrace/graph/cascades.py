"""Share-cascade trees from parent pointers: roots, cycles, depths, subtree sizes.

Why arrays: a store holds millions of posts, and a cascade can hold 10^5 of them, so
nothing here walks a tree in Python. Nodes are integers ``0 .. n-1``; ``parent[v]`` is
the index of v's parent or ``-1`` for a root. Stored posts come first and *virtual*
nodes (parent ids that are not in the store: an unseen original) after them; a
virtual node is always a root. Everything is computed for all cascades at once:

* roots and depths by pointer jumping (list ranking, Wyllie 1979): every node jumps
  to its ancestor 2^k steps up, so ``O(n log depth)`` work in ``log depth`` numpy passes;
* cycles (bad data) are found as the nodes that never reach a fixed point, and each is
  broken by cutting the parent link of its member with the smallest index (the store
  numbers posts in ``post_id`` order, so: the smallest post_id becomes a root);
* subtree sizes level by level from the deepest level up, one ``np.add.at`` per level.

Example: two cascades, ``0 <- 1 <- 2`` and a post 3 hanging from an unseen node 4.

>>> import numpy as np
>>> tree = resolve_forest(np.array([-1, 0, 1, 4, -1]))
>>> tree.root.tolist(), tree.depth.tolist(), subtree_sizes(tree.parent, tree.depth).tolist()
([0, 0, 0, 4, 4], [0, 1, 2, 1, 0], [3, 2, 1, 1, 2])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Forest",
    "resolve_forest",
    "forest_roots",
    "list_rank",
    "subtree_sizes",
    "branch_tops",
]


@dataclass(frozen=True)
class Forest:
    """A parent array resolved into a forest.

    ``parent`` is the parent array actually used (cycle links cut, ``-1`` for roots),
    ``root`` each node's root, ``depth`` each node's depth (roots 0), and
    ``cycle_cuts`` the nodes whose parent link was cut to break a cycle, with
    ``cycle_cut_parent`` the parent they had.
    """

    parent: np.ndarray
    root: np.ndarray
    depth: np.ndarray
    cycle_cuts: np.ndarray
    cycle_cut_parent: np.ndarray


def _self_pointing(parent: np.ndarray) -> np.ndarray:
    """``parent`` with roots pointing at themselves (the fixed points of the jump)."""
    ids = np.arange(len(parent), dtype=np.int64)
    return np.where(parent < 0, ids, parent).astype(np.int64, copy=False)


def list_rank(
    parent: np.ndarray, *, max_rounds: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each node's root and its distance to it, by pointer jumping.

    Wyllie's list ranking: every round, ``dist[v] += dist[jump[v]]`` and
    ``jump[v] = jump[jump[v]]``, so after k rounds each node has looked 2^k steps up.
    Rounds stop when nothing moves, or after ``max_rounds`` (default: enough for any
    path in ``n`` nodes). On an acyclic forest the result is exact; on a node that
    leads into a cycle, ``jump`` ends on a cycle member (see :func:`resolve_forest`).

    >>> import numpy as np
    >>> jump, dist = list_rank(np.array([-1, 0, 1, 1]))
    >>> jump.tolist(), dist.tolist()
    ([0, 0, 0, 0], [0, 1, 2, 2])

    References: J. C. Wyllie, *The Complexity of Parallel Computations*, PhD thesis,
    Cornell University, 1979.
    """
    jump = _self_pointing(parent)
    n = len(jump)
    dist = (jump != np.arange(n, dtype=np.int64)).astype(np.int64)
    rounds = max_rounds if max_rounds is not None else max(1, int(np.ceil(np.log2(max(n, 2)))) + 1)
    # Only nodes whose jump target is not yet a fixed point move; in share cascades
    # most nodes sit at depth <= 1, so the active set shrinks fast after one round.
    active = np.flatnonzero(jump[jump] != jump)
    for _ in range(rounds):
        if len(active) == 0:
            break
        j = jump[active]
        step_dist, step_jump = dist[j], jump[j]  # read before writing: synchronous rounds
        dist[active] += step_dist
        jump[active] = step_jump
        active = active[jump[step_jump] != step_jump]
    return jump, dist


def _break_cycles(par: np.ndarray, on_cycle: np.ndarray) -> np.ndarray:
    """The smallest member of each cycle, given all cycle members ``on_cycle``.

    Minimum-label propagation by pointer jumping along the cycle: after k rounds each
    member knows the minimum over the next 2^k members, so ``log2(longest cycle)``
    rounds suffice.
    """
    label = np.full(len(par), np.iinfo(np.int64).max, dtype=np.int64)
    label[on_cycle] = on_cycle
    step = par.copy()
    for _ in range(int(np.ceil(np.log2(max(len(on_cycle), 2)))) + 1):
        label[on_cycle] = np.minimum(label[on_cycle], label[step[on_cycle]])
        step[on_cycle] = step[step[on_cycle]]
    return on_cycle[label[on_cycle] == on_cycle]


def resolve_forest(parent: np.ndarray) -> Forest:
    """Resolve a parent array (``-1`` = no parent) into roots and depths, breaking cycles.

    A node whose parent chain loops never reaches a root. Every such cycle (a self
    link is a cycle of one) is broken deterministically by making its member with the
    smallest index a root; the nodes hanging into the cycle follow it. Each cut is
    reported in ``cycle_cuts``, never silently dropped and never looped on.

    >>> import numpy as np
    >>> f = resolve_forest(np.array([2, 0, 1, 0]))   # parent links 0->2->1->0, and 3->0
    >>> f.cycle_cuts.tolist(), f.cycle_cut_parent.tolist(), f.root.tolist(), f.depth.tolist()
    ([0], [2], [0, 0, 0, 0], [0, 1, 2, 1])
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    ids = np.arange(n, dtype=np.int64)
    par = parent.copy()
    cuts = [ids[par == ids]]  # self links: cycles of one
    par[cuts[0]] = -1
    jump, dist = list_rank(par)
    target = _self_pointing(par)
    stuck = target[jump] != jump  # never reached a root: in or behind a cycle
    if stuck.any():
        # The jump stopped either after >= n steps (every stuck node sits on its cycle)
        # or because it maps each cycle member to itself: the stuck targets cover every
        # cycle member either way.
        on_cycle = np.unique(jump[stuck])
        cut = _break_cycles(target, on_cycle)
        cuts.append(cut)
        par[cut] = -1
        jump, dist = list_rank(par)
    cut_nodes = np.sort(np.concatenate(cuts))
    return Forest(
        parent=par,
        root=jump,
        depth=dist.astype(np.int32),
        cycle_cuts=cut_nodes,
        cycle_cut_parent=parent[cut_nodes],
    )


def forest_roots(parent: np.ndarray) -> np.ndarray:
    """Each node's root, as :func:`resolve_forest` gives it, in half its memory.

    Why: a full build needs only the roots of every post at once (to cut the store into
    ranges of whole cascades), and at tens of millions of posts the int64 arrays of
    :func:`resolve_forest` (root, depth, and their copies while jumping) are gigabytes.
    Here the jump is int32 whenever the nodes fit, without distances. Cycles (bad data:
    a parent chain that loops) take :func:`resolve_forest` itself, for the exact roots.

    >>> import numpy as np
    >>> forest_roots(np.array([-1, 0, 1, 4, -1, 5])).tolist()  # 5 links to itself
    [0, 0, 0, 4, 4, 5]
    """
    n = len(parent)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    jump: np.ndarray = np.asarray(parent).astype(dtype)
    ids = np.arange(n, dtype=dtype)
    top = (jump < 0) | (jump == ids)  # roots and self links (resolve_forest cuts them)
    jump[top] = ids[top]
    del ids
    active = np.flatnonzero(jump[jump] != jump)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2)))) + 1)):
        if len(active) == 0:
            break
        step = jump[jump[active]]  # read before writing: synchronous rounds
        jump[active] = step
        active = active[jump[step] != step]
    # on a cycle the jump stops on a cycle member (or keeps moving): not a root
    if len(active) == 0 and top[jump].all():
        return jump
    return resolve_forest(parent).root  # a cycle: its cut decides the root


def subtree_sizes(
    parent: np.ndarray, depth: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Nodes in each node's subtree (itself included), level by level from the bottom.

    With ``weights`` (0/1 per node), only the nodes flagged 1 are counted.

    One ``np.add.at`` per depth level: the work is ``O(n)`` overall and the Python
    overhead is one call per level, not per node or per cascade.

    >>> import numpy as np
    >>> subtree_sizes(np.array([-1, 0, 0, 1]), np.array([0, 1, 1, 2])).tolist()
    [4, 2, 1, 1]
    """
    parent = np.asarray(parent, dtype=np.int64)
    depth = np.asarray(depth)
    if weights is None:
        size = np.ones(len(parent), dtype=np.int64)
    else:
        size = np.asarray(weights).astype(np.int64)
    if len(parent) == 0:
        return size
    # a radix sort when depths fit in 16 bits (they nearly always do)
    keys = depth.astype(np.uint16) if depth.max() < 2**16 else depth
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
    for level in range(int(depth.max()), 0, -1):
        nodes = order[bounds[level] : bounds[level + 1]]
        np.add.at(size, parent[nodes], size[nodes])
    return size


def branch_tops(parent: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """For each node at depth >= 1, its ancestor at depth 1 (the branch it lives in).

    Roots map to themselves. Pointer jumping on the links below depth 1.

    >>> import numpy as np
    >>> branch_tops(np.array([-1, 0, 1, 2, 0]), np.array([0, 1, 2, 3, 1])).tolist()
    [0, 1, 1, 1, 4]
    """
    parent = np.asarray(parent, dtype=np.int64)
    cut = np.where(np.asarray(depth) <= 1, -1, parent)
    top, _ = list_rank(cut)
    return top

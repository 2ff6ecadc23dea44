"""Per-cascade metrics for all cascades at once: size, depth, breadth, virality, speed.

Why one vectorised pass: a build sees millions of posts in up to millions of cascades,
so every metric here is a bincount, a ``ufunc.at`` or a sort over all nodes together;
nothing loops per cascade or per post.

Node conventions are those of :mod:`spreadtrace.graph.cascades`: nodes ``0 .. n_posts-1``
are stored posts, nodes from ``n_posts`` on are virtual roots (an original that is not
in the store). How the unseen root counts:

* the *tree* includes it: depth is measured from it (its children are at depth 1, as
  they would be if the original were seen) and structural virality is computed on the
  tree with it, since it is the node that joins the reposts together;
* *counts* do not: size, accounts, max_breadth, first/last time, time to 50%/90% and
  the hourly peak count stored posts only.

So a cascade of one repost of an unseen original has size 1, depth 1 and structural
virality 1.0 (a two-node tree); a lone original has size 1, depth 0 and no virality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadtrace.graph.cascades import subtree_sizes

__all__ = [
    "SOURCE_CODES",
    "RECONSTRUCTIONS",
    "CascadeMetrics",
    "wiener_index",
    "structural_virality",
    "cascade_metrics",
    "conversation_mask",
    "conversation_metrics",
]

# How a post's parent was decided (post_cascades.parent_source); 0 = it is the root.
SOURCE_CODES: dict[int, str | None] = {0: None, 1: "explicit", 2: "inferred", 3: "root"}
RECONSTRUCTIONS = np.array(["single", "explicit", "inferred", "flat", "mixed"])

_US_PER_S = 1_000_000
_US_PER_HOUR = 3_600 * _US_PER_S


@dataclass(frozen=True)
class CascadeMetrics:
    """Metrics per cascade (arrays aligned with ``root_node``) and per node.

    Per cascade: ``root_node`` (sorted), ``root_seen``, ``nodes`` (tree nodes, the
    unseen root included), ``size``, ``accounts``, ``depth``, ``max_breadth``,
    ``structural_virality`` (NaN for a one-node tree), ``first_at``/``last_at``
    (epoch microseconds), ``time_to_50_s``/``time_to_90_s``, ``peak_per_hour``,
    ``reconstruction`` (a label of :data:`RECONSTRUCTIONS`), ``first_post`` (the
    earliest stored post). Per node: ``cascade`` (index into the cascade arrays)
    and ``descendants`` (nodes below it).
    """

    root_node: np.ndarray
    root_seen: np.ndarray
    nodes: np.ndarray
    size: np.ndarray
    accounts: np.ndarray
    depth: np.ndarray
    max_breadth: np.ndarray
    structural_virality: np.ndarray
    first_at: np.ndarray
    last_at: np.ndarray
    time_to_50_s: np.ndarray
    time_to_90_s: np.ndarray
    peak_per_hour: np.ndarray
    reconstruction: np.ndarray
    first_post: np.ndarray
    cascade: np.ndarray
    descendants: np.ndarray


def wiener_index(parent: np.ndarray, root: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Sum of shortest-path distances over all node pairs of each tree, per node's root.

    In a tree every path crossing the edge above node v joins one of the ``s_v``
    nodes below it to one of the ``n - s_v`` others, so
    ``W = sum over edges of s_v * (n - s_v)`` (Wiener 1947), linear in the tree size
    given the subtree sizes ``s``. Returned indexed by node: meaningful at roots.
    Exact in int64 up to trees of about 2.6 million nodes in a single chain.

    >>> import numpy as np
    >>> parent, root = np.array([-1, 0, 1]), np.array([0, 0, 0])   # a path of 3
    >>> int(wiener_index(parent, root, np.array([3, 2, 1]))[0])      # 1 + 1 + 2
    4

    References: H. Wiener, "Structural determination of paraffin boiling points",
    J. Am. Chem. Soc. 69 (1947).
    """
    parent = np.asarray(parent, dtype=np.int64)
    sizes = np.asarray(sizes, dtype=np.int64)
    edge = parent >= 0
    n_tree = sizes[root]
    total = np.zeros(len(parent), dtype=np.int64)
    np.add.at(total, root[edge], sizes[edge] * (n_tree[edge] - sizes[edge]))
    return total


def structural_virality(wiener: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Mean distance over all pairs of a tree's nodes: ``2 W / (n (n - 1))``; NaN if n < 2.

    Goel et al.'s structural virality: about 1 for a broadcast star (everyone shared
    the original), growing with long person-to-person chains; it is the average
    shortest-path distance of the undirected cascade tree, here exact from the
    Wiener index ``W`` rather than from all pairs.

    >>> import numpy as np
    >>> structural_virality(np.array([4, 9, 0]), np.array([3, 4, 1])).round(3).tolist()
    [1.333, 1.5, nan]

    References: S. Goel, A. Anderson, J. Hofman, D. J. Watts, "The structural
    virality of online diffusion", Management Science 62(1), 2016.
    """
    w = np.asarray(wiener, dtype=np.float64)
    n = np.asarray(nodes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n >= 2, 2.0 * w / (n * (n - 1.0)), np.nan)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs (np.unique, faster)."""
    if len(sorted_keys) == 0:
        return sorted_keys, np.zeros(0, dtype=np.int64)
    start = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return sorted_keys[start], np.diff(np.r_[start, len(sorted_keys)])


def _per_cascade_quantile_time(
    t_sorted: np.ndarray, start: np.ndarray, size: np.ndarray, pct: int
) -> np.ndarray:
    """Seconds from each cascade's first post until ceil(pct% of size) posts existed."""
    k = start + (size * pct + 99) // 100 - 1
    return (t_sorted[k] - t_sorted[start]) / _US_PER_S


def cascade_metrics(
    parent: np.ndarray,
    root: np.ndarray,
    depth: np.ndarray,
    n_posts: int,
    account: np.ndarray,
    t_us: np.ndarray,
    source: np.ndarray,
    counted: np.ndarray | None = None,
) -> CascadeMetrics:
    """All cascade metrics from a resolved forest (see the module docstring for the rules).

    ``counted`` (one flag per node, roots always counted; default all) picks the nodes the
    shape metrics count: size, accounts, depth, max_breadth, structural virality and
    the reconstruction label. The cascades stage passes the shares (posts outside
    reply threads, :func:`conversation_mask`), so a conversation never counts as spread.
    Everything below a node that is not counted must be uncounted too (a subtree).
    first_at, last_at, times to 50%/90% and the hourly peak cover all stored posts
    (activity), and ``descendants`` counts every node below.

    ``parent``/``root``/``depth`` cover every node (posts, then virtual roots);
    ``account`` (integer codes), ``t_us`` (created_at, epoch microseconds) and
    ``source`` (:data:`SOURCE_CODES`) cover the ``n_posts`` stored posts.

    Time to 50% (90%) is the time from the first post until the ``ceil(0.5 size)``-th
    (``ceil(0.9 size)``-th) post, the speed measure of Vosoughi et al. 2018; the peak
    per hour counts posts in consecutive hours starting at the cascade's first post.

    >>> import numpy as np
    >>> # a star 0 <- {1, 2} seen at t = 0, 10 min, 2 h; a lone repost 3 of unseen node 4
    >>> m = cascade_metrics(np.array([-1, 0, 0, 4, -1]), np.array([0, 0, 0, 4, 4]),
    ...     np.array([0, 1, 1, 1, 0]), 4, np.array([7, 8, 8, 9]),
    ...     np.array([0, 600, 7200, 60]) * 1_000_000, np.array([0, 3, 3, 3]))
    >>> m.size.tolist(), m.accounts.tolist(), m.depth.tolist(), m.max_breadth.tolist()
    ([3, 1], [2, 1], [1, 1], [2, 1])
    >>> m.structural_virality.round(3).tolist(), m.time_to_90_s.tolist(), m.peak_per_hour.tolist()
    ([1.333, 1.0], [7200.0, 0.0], [2, 1])

    References: S. Goel et al., "The structural virality of online diffusion",
    Management Science 62(1), 2016; S. Vosoughi, D. Roy, S. Aral, "The spread of true
    and false news online", Science 359(6380), 2018.
    """
    parent = np.asarray(parent, dtype=np.int64)
    root = np.asarray(root, dtype=np.int64)
    depth = np.asarray(depth, dtype=np.int64)
    n_nodes = len(parent)
    is_root = parent < 0
    roots = np.flatnonzero(is_root)  # sorted
    n_casc = len(roots)
    cascade_of_root = np.full(n_nodes, -1, dtype=np.int64)
    cascade_of_root[roots] = np.arange(n_casc)
    cascade = cascade_of_root[root]

    all_sizes = subtree_sizes(parent, depth)
    if counted is None:
        sizes, sel = all_sizes, None
        share_parent = parent
    else:
        counted = np.asarray(counted, dtype=bool)
        sizes = subtree_sizes(parent, depth, weights=counted)
        sel = counted[:n_posts]
        share_parent = np.where(counted, parent, -1)  # uncounted nodes add no edge
    nodes = sizes[roots]
    w = wiener_index(share_parent, root, sizes)[roots]
    sv = structural_virality(w, nodes)

    pc_all = cascade[:n_posts]
    size_all = np.bincount(pc_all, minlength=n_casc)
    pc = pc_all if sel is None else pc_all[sel]
    pdepth = depth[:n_posts] if sel is None else depth[:n_posts][sel]
    size = size_all if sel is None else np.bincount(pc, minlength=n_casc)

    # distinct accounts: distinct (cascade, account) pairs
    account = np.asarray(account, dtype=np.int64)
    span = int(account.max()) + 1 if n_posts else 1
    acc = account if sel is None else account[sel]
    pairs, _ = _runs(np.sort(pc * span + acc))
    accounts = np.bincount(pairs // span, minlength=n_casc)

    cdepth = np.zeros(n_casc, dtype=np.int64)
    np.maximum.at(cdepth, pc, pdepth)

    # max breadth: most stored posts at one depth
    dspan = int(depth.max()) + 1 if n_nodes else 1
    levels, level_counts = _runs(np.sort(pc * dspan + pdepth))
    breadth = np.zeros(n_casc, dtype=np.int64)
    np.maximum.at(breadth, levels // dspan, level_counts)
    share_size = size
    pc, size = pc_all, size_all  # activity (time) metrics cover every stored post

    # time: sort posts by (cascade, created_at)
    t_us = np.asarray(t_us, dtype=np.int64)
    by_time = np.argsort(t_us, kind="stable")
    order = by_time[np.argsort(pc[by_time], kind="stable")]
    t_sorted = t_us[order]
    start = np.zeros(n_casc, dtype=np.int64)
    np.cumsum(size[:-1], out=start[1:])
    has_posts = size > 0
    first = np.zeros(n_casc, dtype=np.int64)
    last = np.zeros(n_casc, dtype=np.int64)
    first_post = np.full(n_casc, -1, dtype=np.int64)
    t50 = np.full(n_casc, np.nan)
    t90 = np.full(n_casc, np.nan)
    s, z = start[has_posts], size[has_posts]
    first[has_posts] = t_sorted[s]
    last[has_posts] = t_sorted[s + z - 1]
    first_post[has_posts] = order[s]
    t50[has_posts] = _per_cascade_quantile_time(t_sorted, s, z, 50)
    t90[has_posts] = _per_cascade_quantile_time(t_sorted, s, z, 90)

    # peak per hour: runs of equal (cascade, hour since first post) in sorted order
    pc_sorted = pc[order]
    hour = (t_sorted - first[pc_sorted]) // _US_PER_HOUR
    if n_posts:
        change = np.ones(n_posts, dtype=bool)
        change[1:] = (np.diff(pc_sorted) != 0) | (np.diff(hour) != 0)
        run_start = np.flatnonzero(change)
        run_len = np.diff(np.append(run_start, n_posts))
        peak = np.zeros(n_casc, dtype=np.int64)
        np.maximum.at(peak, pc_sorted[run_start], run_len)
    else:
        peak = np.zeros(n_casc, dtype=np.int64)

    # reconstruction: which parent sources the cascade's edges used
    source = np.asarray(source, dtype=np.int64)
    if sel is not None:
        pc, source = pc[sel], source[sel]
    counts = np.bincount(pc * 4 + source, minlength=4 * n_casc).reshape(n_casc, 4)
    n_explicit, n_inferred, n_root = counts[:, 1], counts[:, 2], counts[:, 3]
    n_edges = nodes - 1
    kind = np.full(n_casc, 4)  # mixed
    kind[(n_inferred > 0) & (n_explicit == 0)] = 2  # inferred (+ reposts left on the root)
    kind[(n_explicit == n_edges) & (n_edges > 0)] = 1
    kind[(n_root == n_edges) & (n_edges > 0)] = 3  # flat: every edge is a repost of the root
    kind[n_edges == 0] = 0

    return CascadeMetrics(
        root_node=roots,
        root_seen=roots < n_posts,
        nodes=nodes,
        size=share_size,
        accounts=accounts,
        depth=cdepth,
        max_breadth=breadth,
        structural_virality=sv,
        first_at=first,
        last_at=last,
        time_to_50_s=t50,
        time_to_90_s=t90,
        peak_per_hour=peak,
        reconstruction=RECONSTRUCTIONS[kind],
        first_post=first_post,
        cascade=cascade,
        descendants=all_sizes - 1,
    )


def conversation_mask(parent: np.ndarray, depth: np.ndarray, is_reply: np.ndarray) -> np.ndarray:
    """Which nodes are conversation: a reply, or any post below a reply.

    Why: reposts and quotes spread a post to new audiences; a reply answers it. A
    repost of a reply spreads the reply, not the cascade's root, so it stays in the
    conversation. One pass down the depth levels (like reach-via-bots).

    >>> import numpy as np   # 0 <- 1 (repost) <- 2 (reply) <- 3 (repost of the reply)
    >>> conversation_mask(np.array([-1, 0, 1, 2]), np.array([0, 1, 2, 3]),
    ...                   np.array([False, False, True, False])).tolist()
    [False, False, True, True]
    """
    parent = np.asarray(parent, dtype=np.int64)
    conv = np.asarray(is_reply, dtype=bool) & (parent >= 0)
    if not conv.any():
        return conv
    # only nodes below the shallowest reply can inherit: walk those levels
    depth = np.asarray(depth)
    start = int(depth[conv].min()) + 1
    deep = np.flatnonzero(depth >= start)
    order = deep[np.argsort(depth[deep], kind="stable")]
    bounds = np.searchsorted(depth[order], np.arange(start, int(depth.max()) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        lvl = order[lo:hi]
        conv[lvl] |= conv[parent[lvl]]
    return conv


def conversation_metrics(
    parent: np.ndarray,
    cascade: np.ndarray,
    conv: np.ndarray,
    is_reply: np.ndarray,
    account: np.ndarray,
    n_casc: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cascade: replies, conversation depth and distinct repliers.

    ``cascade`` (cascade index), ``is_reply`` and ``account`` cover the stored posts;
    ``parent`` and ``conv`` (:func:`conversation_mask`) every node. Conversation depth
    is the longest thread: posts on the path from a conversation post up to (and
    including) the first post of its thread, the highest conversation ancestor.

    >>> import numpy as np   # root 0; a back-and-forth 1 <- 2 <- 3 of replies; 4 a repost
    >>> conversation_metrics(np.array([-1, 0, 1, 2, 0]), np.zeros(5, dtype=int),
    ...     np.array([False, True, True, True, False]), np.array([False, True, True, True, False]),
    ...     np.array([0, 1, 2, 1, 3]), 1)
    (array([3]), array([3]), array([2]))
    """
    from spreadtrace.graph.cascades import list_rank

    parent = np.asarray(parent, dtype=np.int64)
    n_posts = len(cascade)
    reply = np.flatnonzero(np.asarray(is_reply, dtype=bool) & conv[:n_posts])
    replies = np.bincount(cascade[reply], minlength=n_casc)
    account = np.asarray(account, dtype=np.int64)
    span = int(account.max()) + 1 if n_posts else 1
    pairs, _ = _runs(np.sort(cascade[reply] * span + account[reply]))
    repliers = np.bincount(pairs // span, minlength=n_casc)
    # distance to the top of the thread: links between two conversation nodes only
    inner = conv & (parent >= 0) & conv[np.maximum(parent, 0)]
    _, dist = list_rank(np.where(inner, parent, -1))
    posts = np.flatnonzero(conv[:n_posts])
    conv_depth = np.zeros(n_casc, dtype=np.int64)
    np.maximum.at(conv_depth, cascade[posts], dist[posts] + 1)
    return replies, conv_depth, repliers

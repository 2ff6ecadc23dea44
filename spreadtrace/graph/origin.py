"""Origin: which accounts may have started a narrative, and who seeds narratives often.

Why: analysts first ask "where did this come from?". Time is the strongest evidence when
the data is complete, so candidates are ranked mainly by when they first posted the
narrative, then by how much of the narrative's later reach descends from their posts.
When the earliest posts are missing (the narrative's first cascade hangs from an original
that is not in the store) timing is weaker evidence, and the diffusion trees' *rumor
centre* (Shah & Zaman 2011) gets more weight: the node from which the observed tree is
the most likely spread.

All tree work runs over every cascade at once: a forest given as a ``parent`` index array
(``-1`` for a root), processed level by level with numpy. The only Python loop is over
tree *levels* (the deepest cascade's depth), never over posts or cascades.

References
----------
D. Shah and T. Zaman, "Rumors in a network: who's the culprit?", IEEE Trans. Inf. Theory
57(8), 2011.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = [
    "OriginWeights",
    "forest_depth",
    "item_post_pairs",
    "level_slices",
    "log_rumor_centrality",
    "PART_COLUMNS",
    "origin_index",
    "origin_parts",
    "origin_scores",
    "rank_origin_parts",
    "subtree_sizes",
    "with_virtual_roots",
]


def forest_depth(parent: np.ndarray) -> np.ndarray:
    """Depth of every node of a forest (roots: 0) by pointer jumping, O(n log depth).

    >>> forest_depth(np.array([-1, 0, 1, 1, -1])).tolist()
    [0, 1, 2, 2, 0]
    """
    parent = np.asarray(parent, dtype=np.int64)
    depth = (parent >= 0).astype(np.int64)
    anc = parent.copy()
    active = np.flatnonzero(anc >= 0)
    while len(active):
        up = anc[active]
        depth[active] += depth[up]
        anc[active] = anc[up]
        active = active[anc[active] >= 0]
    return depth


def level_slices(depth: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Node indices grouped by depth: ``(order, [nodes at depth 0, at depth 1, ...])``.

    >>> _, levels = level_slices(np.array([0, 1, 2, 1]))
    >>> [lvl.tolist() for lvl in levels]
    [[0], [1, 3], [2]]
    """
    order = np.argsort(depth, kind="stable")
    counts = np.bincount(depth, minlength=int(depth.max()) + 1 if len(depth) else 0)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return order, [order[bounds[d] : bounds[d + 1]] for d in range(len(counts))]


def subtree_sizes(parent: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """Nodes in each node's subtree, itself included (a leaf has 1).

    >>> subtree_sizes(np.array([-1, 0, 1, 1, -1])).tolist()
    [4, 3, 1, 1, 1]
    """
    parent = np.asarray(parent, dtype=np.int64)
    depth = forest_depth(parent) if depth is None else depth
    size = np.ones(len(parent), dtype=np.int64)
    _, levels = level_slices(depth)
    for lvl in reversed(levels[1:]):
        np.add.at(size, parent[lvl], size[lvl])
    return size


def log_rumor_centrality(parent: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """Natural log of the rumor centrality of every node on its own tree of the forest.

    Rumor centrality ``R(v, T) = n! / prod_u T_u^v`` counts the orderings in which the
    tree's ``n`` nodes could have been infected starting from ``v`` (each node after a
    neighbour); ``T_u^v`` is the size of ``u``'s subtree when the tree hangs from ``v``
    (Shah & Zaman 2011, eq. 8). From the tree's own root ``r``, ``log R(r) = log n! -
    sum_u log t_u`` (``t`` = subtree sizes), and for a child ``c`` of ``p``,
    ``R(c) = R(p) t_c / (n - t_c)``, so one pass down the levels gives every node, in log
    space (factorials of n ~ 10^5 overflow any float).

    A star of 4 nodes: the hub has 3! = 6 orderings, a leaf 2 (leaf, hub, then 2 others).

    >>> np.exp(log_rumor_centrality(np.array([-1, 0, 0, 0]))).round(6).tolist()
    [6.0, 2.0, 2.0, 2.0]
    """
    parent = np.asarray(parent, dtype=np.int64)
    if len(parent) == 0:
        return np.zeros(0)
    depth = forest_depth(parent) if depth is None else depth
    t = subtree_sizes(parent, depth).astype(np.float64)
    # Tree id of each node: the root it hangs from, found level by level.
    tree = np.arange(len(parent))
    _, levels = level_slices(depth)
    for lvl in levels[1:]:
        tree[lvl] = tree[parent[lvl]]
    n = t[tree]
    log_t = np.log(t)
    sum_log_t = np.bincount(tree, weights=log_t, minlength=len(parent))
    roots = levels[0]
    out = np.empty(len(parent), dtype=np.float64)
    out[roots] = _log_factorial(t[roots]) - sum_log_t[roots]
    for lvl in levels[1:]:
        out[lvl] = out[parent[lvl]] + log_t[lvl] - np.log(n[lvl] - t[lvl])
    return out


def _log_factorial(n: np.ndarray) -> np.ndarray:
    """``log(n!)`` for an array of non-negative integers, from a cumulative log table.

    >>> float(np.exp(_log_factorial(np.array([5.0]))[0]).round(6))
    120.0
    """
    k = np.asarray(n, dtype=np.int64)
    top = int(k.max()) if len(k) else 0
    table = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1, dtype=np.float64)))])
    return table[k]


def with_virtual_roots(parent: np.ndarray, group: np.ndarray, add: np.ndarray) -> np.ndarray:
    """Give every group in ``add`` a new root above its current roots (appended at the end).

    Why: a cascade whose original is not in the store is a forest of the posts that
    hung from it; the missing original is put back as a virtual node so that rumor
    centrality sees one tree. ``group`` is each node's group (cascade) code; ``add`` the
    codes of the groups that get a virtual root, returned in that order after the nodes.

    >>> with_virtual_roots(np.array([-1, -1, 0, -1]), np.array([0, 0, 0, 1]),
    ...                    np.array([0])).tolist()
    [4, 4, 0, -1, -1]
    """
    parent = np.asarray(parent, dtype=np.int64).copy()
    n = len(parent)
    slot = np.full(int(group.max()) + 1 if len(group) else 0, -1, dtype=np.int64)
    slot[add] = n + np.arange(len(add))
    top = parent < 0
    parent[top] = slot[group[top]]
    return np.concatenate([parent, np.full(len(add), -1, dtype=np.int64)])


def item_post_pairs(
    parent: np.ndarray,
    share: np.ndarray,
    own_row: np.ndarray,
    own_item: np.ndarray,
    depth: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(post row, item code) for every post that spreads an item: its own or inherited.

    Why: a repost carries its original's link, image and text without repeating them,
    so it is stored without items; for an item's origin ranking (reach below each
    candidate, rumor centrality) its shares count too. A post's *carrier* is itself when
    it has items of its own (``own_row``/``own_item`` pairs, sorted by row), else, for a
    share (``share``: not a reply or below one -- conversation is not spread), its
    parent's carrier; a post spreads its carrier's items. One pass down the levels of
    the forest, then one vectorised expansion: no loop over posts.

    Post 1 reposts 0, post 2 replies to 0, post 3 reposts 1 and adds its own link:

    >>> rows, items = item_post_pairs(np.array([-1, 0, 0, 1]),
    ...     np.array([True, True, False, True]), np.array([0, 0, 3]), np.array([5, 6, 7]))
    >>> list(zip(rows.tolist(), items.tolist()))
    [(0, 5), (0, 6), (1, 5), (1, 6), (3, 7)]
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = len(parent)
    own_row = np.asarray(own_row, dtype=np.int64)
    own_item = np.asarray(own_item, dtype=np.int64)
    count = np.bincount(own_row, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]) if n else count
    carrier = np.where(count > 0, np.arange(n), -1)
    depth = forest_depth(parent) if depth is None else depth
    _, levels = level_slices(depth)
    share = np.asarray(share, dtype=bool)
    for lvl in levels[1:]:
        take = lvl[(carrier[lvl] < 0) & share[lvl] & (parent[lvl] >= 0)]
        carrier[take] = carrier[parent[take]]
    posts = np.flatnonzero(carrier >= 0)
    reps = count[carrier[posts]]
    rows = np.repeat(posts, reps)
    first = np.repeat(start[carrier[posts]], reps)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
    return rows, own_item[first + offset]


@dataclass(frozen=True)
class OriginWeights:
    """How origin evidence is combined (each triple sums to 1, so scores stay in [0, 1]).

    ``complete``: when the narrative's earliest cascade has its original in the store.
    ``missing``: when it does not, and timing says less about who started it.
    """

    earliness: float = 0.55
    reach: float = 0.30
    centrality: float = 0.15
    missing_earliness: float = 0.25
    missing_reach: float = 0.30
    missing_centrality: float = 0.45


def post_tree_features(
    parent: np.ndarray, cascade: np.ndarray, unseen_root: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per post: depth, subtree size (its reach, itself included) and relative centrality.

    ``parent``: each post's parent row (``-1`` when the parent is not in the store);
    ``cascade``: each post's cascade code (0..k-1); ``unseen_root``: per cascade code,
    whether its original is missing (it then gets a virtual root, see
    :func:`with_virtual_roots`). The centrality is ``R(v) / max_w R(w)`` over the
    cascade's tree, in (0, 1]: 1 for the rumor centre.

    >>> d, t, c = post_tree_features(np.array([-1, 0, 0, 0]), np.zeros(4, dtype=np.int64),
    ...                              np.array([False]))
    >>> d.tolist(), t.tolist(), c.round(3).tolist()
    ([0, 1, 1, 1], [4, 1, 1, 1], [1.0, 0.333, 0.333, 0.333])
    """
    n = len(parent)
    cascade = np.asarray(cascade, dtype=np.int64)
    add = np.flatnonzero(np.asarray(unseen_root, dtype=bool))
    full = with_virtual_roots(parent, cascade, add)
    group = np.concatenate([cascade, add])
    depth = forest_depth(full)
    size = subtree_sizes(full, depth)
    log_r = log_rumor_centrality(full, depth)
    best = np.full(len(unseen_root), -np.inf)
    np.maximum.at(best, group, log_r)
    rel = np.exp(log_r - best[group])
    return depth[:n], size[:n], rel[:n]


def _pct(x: pl.Expr) -> pl.Expr:
    return (x * 100).round(0).cast(pl.Int64).cast(pl.String) + pl.lit("%")


def _duration(seconds: pl.Expr) -> pl.Expr:
    """A short human duration ('42 s', '7 min', '3 h', '2 d') from seconds."""
    s = seconds.cast(pl.Float64)
    return (
        pl.when(s < 120)
        .then(s.round(0).cast(pl.Int64).cast(pl.String) + pl.lit(" s"))
        .when(s < 7200)
        .then((s / 60).round(0).cast(pl.Int64).cast(pl.String) + pl.lit(" min"))
        .when(s < 172800)
        .then((s / 3600).round(0).cast(pl.Int64).cast(pl.String) + pl.lit(" h"))
        .otherwise((s / 86400).round(0).cast(pl.Int64).cast(pl.String) + pl.lit(" d"))
    )


def origin_scores(
    posts: pl.DataFrame,
    *,
    weights: OriginWeights | None = None,
    top_k: int = 10,
    by: str = "narrative_id",
) -> pl.DataFrame:
    """Rank candidate origin accounts per narrative, with an ``origin_score`` in [0, 1].

    ``by`` names the group column: ``narrative_id``, or ``item`` for the per-item
    ranking (the same rule over an item's posts and the shares below them), so that
    narratives and items are ranked by one definition.

    ``posts`` has one row per post in a narrative: narrative_id, cascade_id, account_id,
    created_at, root_seen (the post's cascade has its original in the store), and from
    :func:`post_tree_features`: depth, reach (subtree size), centrality. For each
    (narrative, account):

    * ``earliness = 1 / rank`` of its first post among the narrative's accounts (ties share);
    * ``reach_share``: posts descending from (and including) its shallowest post in each
      cascade, summed over cascades, over the narrative's posts (capped at 1);
    * ``centrality``: its best relative rumor centrality in each cascade, weighted by the
      cascade's share of the narrative's posts.

    ``origin_score`` is their weighted sum (:class:`OriginWeights`; the ``missing``
    weights apply when the narrative's earliest cascade lacks its original). Returns the
    ``top_k`` candidates per narrative with rank (1 = most likely origin) and reasons.

    >>> from datetime import datetime, timedelta
    >>> t0 = datetime(2024, 1, 1)
    >>> posts = pl.DataFrame({
    ...     "narrative_id": ["n"] * 4, "cascade_id": ["a", "a", "a", "b"],
    ...     "account_id": ["origin", "x", "y", "copycat"],
    ...     "created_at": [t0, t0 + timedelta(minutes=5), t0 + timedelta(minutes=9),
    ...                    t0 + timedelta(hours=2)],
    ...     "root_seen": [True] * 4, "depth": [0, 1, 1, 0], "reach": [3, 1, 1, 1],
    ...     "centrality": [1.0, 0.5, 0.5, 1.0]})
    >>> out = origin_scores(posts)
    >>> out.select("account_id", "rank").rows()[:2]
    [('origin', 1), ('x', 2)]
    >>> out["reasons"][0]
    'first to post it; 75% of its posts descend from this account; rumor centre of its spread'
    """
    w = weights or OriginWeights()
    if by != "narrative_id":
        ranked = origin_scores(posts.rename({by: "narrative_id"}), weights=weights, top_k=top_k)
        return ranked.rename({"narrative_id": by})
    if posts.height == 0:
        return _empty_ranking(posts.schema, "created_at")
    return rank_origin_parts(origin_parts(posts), weights=w, top_k=top_k)


def _empty_ranking(schema: pl.Schema, time: str) -> pl.DataFrame:
    """No candidates: the ranking's columns, the group and time types from ``schema``."""
    return pl.DataFrame(
        schema={
            "narrative_id": schema.get("narrative_id", pl.String),
            "account_id": pl.String,
            "rank": pl.Int32,
            "origin_score": pl.Float64,
            "first_at": schema.get(time, pl.Datetime("us", "UTC")),
            "reach_share": pl.Float64,
            "centrality": pl.Float64,
            "reasons": pl.String,
        }
    )


# the columns of origin_parts, after its group column
PART_COLUMNS = ("cascade_id", "account_id", "first_at", "posts", "reach", "centrality", "root_seen")


def origin_parts(posts: pl.DataFrame, *, by: str = "narrative_id") -> pl.DataFrame:
    """Per (group, account, cascade): what :func:`origin_scores` reads of those posts.

    Why: a group's ranking (:func:`rank_origin_parts`) needs only these parts, and a
    cascade's parts change only when the cascade, or the items its posts carry, do; an
    incremental build keeps the parts of the cascades it did not rebuild and re-ranks
    a grown group from them, without the trees of its other cascades.

    ``posts`` as for :func:`origin_scores`. Columns: ``by``, cascade_id, account_id,
    first_at (the account's first post there), posts (its posts there), reach (the
    reach of its shallowest post there, ties: the earliest, then the first row),
    centrality (its best), root_seen (the cascade's original is stored).

    >>> from datetime import datetime
    >>> t = datetime(2024, 1, 1)
    >>> posts = pl.DataFrame({"narrative_id": ["n"] * 3, "cascade_id": ["a"] * 3,
    ...     "account_id": ["x", "x", "y"], "created_at": [t] * 3, "root_seen": [True] * 3,
    ...     "depth": [1, 0, 2], "reach": [1, 3, 1], "centrality": [0.5, 1.0, 0.2]})
    >>> origin_parts(posts).sort("account_id").select("account_id", "posts", "reach").rows()
    [('x', 2, 3), ('y', 1, 1)]
    """
    return (
        posts.group_by(by, "account_id", "cascade_id")
        .agg(
            first_at=pl.col("created_at").min(),
            posts=pl.len().cast(pl.Int64),
            reach=pl.col("reach").sort_by("depth", "created_at", maintain_order=True).first(),
            centrality=pl.col("centrality").max(),
            root_seen=pl.col("root_seen").all(),
        )
        .select(by, *PART_COLUMNS)
    )


def rank_origin_parts(
    parts: pl.DataFrame,
    *,
    weights: OriginWeights | None = None,
    top_k: int = 10,
    by: str = "narrative_id",
) -> pl.DataFrame:
    """:func:`origin_scores` from the groups' parts (:func:`origin_parts`): the same
    ranking, whatever order the parts come in (every sum runs in a sorted order)."""
    w = weights or OriginWeights()
    if by != "narrative_id":
        ranked = rank_origin_parts(parts.rename({by: "narrative_id"}), weights=weights, top_k=top_k)
        return ranked.rename({"narrative_id": by})
    if parts.height == 0:
        return _empty_ranking(parts.schema, "first_at")
    per_cascade = parts.group_by("narrative_id", "cascade_id").agg(
        c_size=pl.col("posts").sum(),
        c_first=pl.col("first_at").min(),
        root_seen=pl.col("root_seen").all(),
    )
    narr = per_cascade.group_by("narrative_id").agg(
        n_posts=pl.col("c_size").sum(), n_first=pl.col("c_first").min()
    )
    missing = (
        per_cascade.sort("narrative_id", "c_first", "cascade_id")
        .group_by("narrative_id", maintain_order=True)
        .first()
        .select("narrative_id", missing=~pl.col("root_seen"))
    )
    pac = parts.select(
        "narrative_id", "account_id", "cascade_id", "first_at", "reach", cen="centrality"
    ).join(
        per_cascade.select("narrative_id", "cascade_id", "c_size"),
        on=["narrative_id", "cascade_id"],
    )
    # sorted: float sums in one order, so a build gives the same bits whatever order
    # the posts came in (incremental equals full exactly)
    pa = (
        pac.sort("narrative_id", "account_id", "cascade_id")
        .group_by("narrative_id", "account_id", maintain_order=True)
        .agg(
            first_at=pl.col("first_at").min(),
            reach=pl.col("reach").sum(),
            cen=(pl.col("cen") * pl.col("c_size")).sum(),
        )
        .join(narr, on="narrative_id")
        .join(missing, on="narrative_id")
    )
    # times the reciprocal, not divided: polars divides by a column that a join filled
    # with one value (a frame of one narrative) as by a scalar, i.e. times its
    # reciprocal, so a batch or an incremental build of one narrative got other last
    # bits than a frame of many; the reciprocal is the same in both
    per_post = 1.0 / pl.col("n_posts").cast(pl.Float64)
    pa = pa.with_columns(
        reach_share=(pl.col("reach") * per_post).clip(0.0, 1.0),
        centrality=(pl.col("cen") * per_post).clip(0.0, 1.0),
        time_rank=pl.col("first_at").rank("dense").over("narrative_id"),
        delay_s=(pl.col("first_at") - pl.col("n_first")).dt.total_seconds(),
    ).with_columns(earliness=1.0 / pl.col("time_rank"))
    we = pl.when(pl.col("missing")).then(w.missing_earliness).otherwise(w.earliness)
    wr = pl.when(pl.col("missing")).then(w.missing_reach).otherwise(w.reach)
    wc = pl.when(pl.col("missing")).then(w.missing_centrality).otherwise(w.centrality)
    pa = pa.with_columns(
        origin_score=(
            we * pl.col("earliness") + wr * pl.col("reach_share") + wc * pl.col("centrality")
        ).clip(0.0, 1.0)
    )
    pa = pa.sort(
        ["narrative_id", "origin_score", "first_at", "account_id"],
        descending=[False, True, False, False],
    ).with_columns(rank=pl.int_range(1, pl.len() + 1).over("narrative_id").cast(pl.Int32))
    pa = pa.filter(pl.col("rank") <= top_k)
    when_ = (
        pl.when(pl.col("time_rank") == 1)
        .then(pl.lit("first to post it"))
        .otherwise(
            pl.lit("first posted it ") + _duration(pl.col("delay_s")) + pl.lit(" after the first")
        )
    )
    reach_ = _pct(pl.col("reach_share")) + pl.lit(" of its posts descend from this account")
    centre_ = (
        pl.when(pl.col("centrality") >= 0.5)
        .then(pl.lit("rumor centre of its spread"))
        .when(pl.col("centrality") >= 0.1)
        .then(pl.lit("near the rumor centre of its spread"))
    )
    missing_ = pl.when(pl.col("missing")).then(
        pl.lit("its earliest original is not in the data, so graph evidence weighs more")
    )
    pa = pa.with_columns(
        reasons=pl.concat_str([when_, reach_, centre_, missing_], separator="; ", ignore_nulls=True)
    )
    return pa.select(
        "narrative_id",
        "account_id",
        "rank",
        "origin_score",
        "first_at",
        "reach_share",
        "centrality",
        "reasons",
    )


def origin_index(
    origins: pl.DataFrame,
    narrative_posts: pl.DataFrame,
    *,
    seed_rank: int = 3,
    wide_posts: int = 1000,
) -> pl.DataFrame:
    """Per account, how often it is an early seed of narratives that then spread widely.

    A seed is a top-``seed_rank`` origin candidate. Each seeded narrative counts with
    ``x = origin_score * spread``, ``spread = min(1, log10(posts) / log10(wide_posts))``,
    and ``origin_index = 1 - prod(1 - x)`` (a noisy-OR: in [0, 1], rising with every
    widely spread narrative the account seeded). ``narrative_posts``: narrative_id, posts.

    >>> origins = pl.DataFrame({"narrative_id": ["n1", "n2"], "account_id": ["a", "a"],
    ...                         "rank": [1, 1], "origin_score": [0.8, 0.5]})
    >>> sizes = pl.DataFrame({"narrative_id": ["n1", "n2"], "posts": [1000, 10]})
    >>> out = origin_index(origins, sizes)  # 1 - (1 - 0.8 * 1)(1 - 0.5 * 1/3) = 0.8333
    >>> out["account_id"][0], round(out["origin_index"][0], 4), out["narratives_seeded"][0]
    ('a', 0.8333, 2)
    """
    seeds = origins.filter(pl.col("rank") <= seed_rank).join(
        narrative_posts.select("narrative_id", "posts"), on="narrative_id"
    )
    spread = (pl.col("posts").cast(pl.Float64).log10() / np.log10(max(wide_posts, 2))).clip(
        0.0, 1.0
    )
    seeds = seeds.with_columns(x=(pl.col("origin_score") * spread).clip(0.0, 1.0))
    return (
        seeds.group_by("account_id")
        .agg(
            origin_index=(1.0 - (1.0 - pl.col("x")).product()).clip(0.0, 1.0),
            narratives_seeded=pl.len().cast(pl.Int64),
        )
        .sort("account_id")
    )

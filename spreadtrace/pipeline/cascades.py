"""Build stage "cascades": posts -> share trees -> post_cascades, cascades, data_quality.

Why a stage of its own: every later score (bots on cascades, origin, amplification)
reads the trees this stage writes, and it is the one stage that is incremental. The
steps, vectorised over every cascade in scope at once (a full build: over one bounded
range of whole cascades at a time, after finding every post's root, see :func:`run`):

1. choose the scope (all posts, or the cascades new posts touch) and number it;
2. resolve explicit parent links into roots and depths (pointer jumping), breaking
   cycles deterministically (:func:`spreadtrace.graph.cascades.resolve_forest`);
3. time-inferred reconstruction (Goel et al. 2016; Vosoughi et al. 2018): a repost
   whose parent is its cascade's root gets, as parent, the most recent earlier sharer
   in the cascade whom the reposter follows; explicit intermediate parents are never
   changed; without such a sharer the repost stays on the root;
4. metrics per cascade (:func:`spreadtrace.graph.metrics.cascade_metrics`) over the
   shares: reposts and quotes spread a post, replies answer it, so a reply and
   everything below it is conversation (``post_cascades.conversation``), measured
   apart (replies, conversation depth, distinct repliers);
5. replace the scope's rows; record anomalies in data_quality.

The caller (:func:`spreadtrace.pipeline.build.run_build`) owns the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spreadtrace.graph.cascades import branch_tops, forest_roots, list_rank, resolve_forest
from spreadtrace.graph.metrics import (
    SOURCE_CODES,
    cascade_metrics,
    conversation_mask,
    conversation_metrics,
)
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import cascades as sql

__all__ = ["CascadeParams", "CascadeRun", "run"]

# Bump when the stage's rules change: a stored state from another version forces --full.
ALGORITHM_VERSION = "cascades-2"  # 2: replies are conversation, not spread
_STEPS = 6
# nodes (posts and unseen roots) per range of cascades in a full build: Python's arrays
# and rows for one range (~0.3 GB at 500k), whatever the store's size
CHUNK_NODES = 500_000


@dataclass(frozen=True)
class CascadeParams:
    """Options of the cascades stage.

    - infer True: time-inferred reconstruction of reposts flattened onto the root
      (needs follows; without follows rows for an account its reposts stay on the root).
    """

    infer: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CascadeRun:
    """What the stage did: counts for the builds summary, and the cascades it changed.

    ``touched`` lists cascade ids rebuilt in this build (including ids that no longer
    exist because their cascade merged into another); None when the build was full.
    ``timings`` holds seconds per step (scope, load, forest, infer, metrics, rows, write).
    """

    full: bool
    counts: dict[str, int]
    touched: list[str] | None = field(default=None)
    timings: dict[str, float] = field(default_factory=dict)


def _wanted_state(con: Any, params: CascadeParams) -> dict[str, Any]:
    return {
        "algorithm": ALGORITHM_VERSION,
        "params": params.to_dict(),
        "follows": sql.follows_fingerprint(con) if params.infer else None,
    }


def run(
    store: Store,
    build_id: int,
    params: CascadeParams | None = None,
    *,
    full: bool = False,
    progress: ProgressFn | None = None,
    chunk_nodes: int | None = None,
) -> CascadeRun:
    """Build (or incrementally update) the cascades; returns counts and touched ids.

    An incremental build falls back to a full one when the stored cascades were made
    with other parameters, another algorithm version, or (with inference on) before
    the follows table last changed: inferred parents anywhere may depend on a follow.

    A full build resolves the links of every post, then computes and writes whole
    cascades in ranges of about ``chunk_nodes`` nodes (default :data:`CHUNK_NODES`;
    a larger cascade is a range of its own), so Python holds one range at a time.
    Every result is computed within a cascade, so the ranges change no row.
    """
    params = params or CascadeParams()
    con = store.con
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + now - clock  # summed over the ranges
        clock = now

    wanted = _wanted_state(con, params)
    if not full and sql.stored_state(con) != wanted:
        full = True
    emit(progress, "cascades", 0, _STEPS)
    counts: dict[str, int] = {}
    inserts: dict[str, float] = {}
    cascade_ids: list[str] = []
    if full:
        with sql.committed_reader(con) as reader:
            scope = sql.prepare_scope(reader, full=True)
            emit(progress, "cascades", 1, _STEPS)
            _full(con, reader, scope, params, build_id, chunk_nodes, counts, inserts, lap)
            emit(progress, "cascades", 5, _STEPS)
    else:
        scope = sql.prepare_scope(con, full=False)
        if scope.full:  # the stored trees did not reconcile with the posts
            _full(con, con, scope, params, build_id, chunk_nodes, counts, inserts, lap)
        else:
            lap("scope")
            emit(progress, "cascades", 1, _STEPS)
            _add(counts, {"posts_in_scope": scope.posts, "new_posts": scope.new_posts})
            nodes = sql.load_nodes(con)
            lap("load")
            emit(progress, "cascades", 2, _STEPS)
            part = _compute(con, nodes, params, build_id, lap)
            del nodes
            _add(counts, part.counts)
            sql.write_results(
                con, scope, part.post_rows, part.cascade_rows, part.dq_rows, inserts, build_id
            )
            cascade_ids = part.cascade_rows.column("cascade_id").to_pylist()
            del part
    sql.save_state(con, wanted)
    sql.drop_work_tables(con)
    lap("write")
    timings.update(inserts)
    emit(progress, "cascades", _STEPS, _STEPS)

    touched = None if scope.full else sorted(set(scope.touched_before) | set(cascade_ids))
    return CascadeRun(full=scope.full, counts=counts, touched=touched, timings=timings)


def _full(
    con: Any,
    reader: Any,
    scope: sql.Scope,
    params: CascadeParams,
    build_id: int,
    chunk_nodes: int | None,
    counts: dict[str, int],
    inserts: dict[str, float],
    lap: Callable[[str], None],
) -> None:
    """A full build: the forest of every post's links, then bounded ranges of whole
    cascades read through ``reader`` (work tables there), written through ``con``."""
    lap("scope")
    _add(counts, {"posts_in_scope": scope.posts, "new_posts": scope.new_posts})
    parent, unseen = sql.load_parents(reader)
    n_posts = len(parent)
    parent = np.concatenate([parent, np.full(unseen, -1, dtype=np.int64)])
    root = forest_roots(parent)
    sql.stage_chunks(reader, root, parent)
    del parent, root
    ranges = sql.root_ranges(reader, chunk_nodes or CHUNK_NODES)
    if params.infer:
        sql.code_follows(reader)
    sql.clear_results(con)
    lap("load")
    for lo, hi in ranges:  # a loop over bounded ranges of cascades, not over cascades
        nodes = sql.load_chunk(reader, lo, hi, n_posts)
        lap("load")
        part = _compute(reader, nodes, params, build_id, lap, coded=params.infer)
        del nodes
        _add(counts, part.counts)
        sql.append_results(con, part.post_rows, part.cascade_rows, part.dq_rows, inserts)
        del part
        lap("write")


# the counts each range adds up
_COUNTS = (
    "posts_in_scope",
    "new_posts",
    "cascades_built",
    "unseen_roots",
    "inferred_parents",
    "conversation_posts",
    "cycle_breaks",
    "clock_skew",
)


def _add(total: dict[str, int], part: dict[str, int]) -> None:
    for key in _COUNTS:
        total[key] = total.get(key, 0) + part.get(key, 0)


@dataclass
class _Part:
    """One range of cascades computed: its rows (post rows as a bounded generator)."""

    post_rows: Iterator[pa.Table]
    cascade_rows: pa.Table
    dq_rows: pa.Table
    counts: dict[str, int]


def _compute(
    con: Any,
    nodes: sql.NodeArrays,
    params: CascadeParams,
    build_id: int,
    lap: Callable[[str], None],
    *,
    coded: bool = False,
) -> _Part:
    """Steps 2-4 and the rows of step 5 for the closed set of posts ``nodes``."""
    n_posts = len(nodes.t_us)

    # 2. explicit links -> forest
    # virtual nodes (unseen parents) follow the posts; they are roots
    virtual = np.full(len(nodes.unseen_id), -1, dtype=np.int64)
    forest = resolve_forest(np.concatenate([nodes.parent, virtual]))
    parent = forest.parent.copy()
    depth = forest.depth
    source = np.where(parent[:n_posts] >= 0, 1, 0).astype(np.int8)  # explicit
    on_root = (depth[:n_posts] == 1) & nodes.is_repost
    source[on_root] = 3  # a repost pointing at the original: the platform flattened it
    lap("forest")

    # 3. time-inferred parents
    inferred = 0
    if params.infer and on_root.any():
        child, new_parent = _infer(con, nodes, forest, on_root, n_posts, coded)
        if len(child):
            parent[child] = new_parent
            source[child] = 2
            inferred = len(child)
            _, dist = list_rank(parent)
            depth = dist.astype(np.int32)
    lap("infer")

    # 4. metrics
    is_reply = np.concatenate([nodes.is_reply, np.zeros(len(virtual), dtype=bool)])
    conv = conversation_mask(parent, depth, is_reply)
    m = cascade_metrics(
        parent, forest.root, depth, n_posts, nodes.account, nodes.t_us, source, counted=~conv
    )
    talk = conversation_metrics(
        parent, m.cascade[:n_posts], conv, nodes.is_reply, nodes.account, len(m.root_node)
    )
    lap("metrics")

    # 5. rows
    node_ids = pa.concat_arrays([nodes.post_id, nodes.unseen_id.cast(pa.string())])
    cascade_rows = _cascade_rows(build_id, node_ids, nodes, m)
    for name, values in zip(("replies", "conversation_depth", "repliers"), talk, strict=True):
        cascade_rows = cascade_rows.append_column(name, pa.array(values.astype(np.int64)))
    dq_rows, dq_counts = _quality_rows(build_id, node_ids, nodes, forest, m, n_posts)
    counts = {
        "cascades_built": len(m.root_node),
        "unseen_roots": int((~m.root_seen).sum()),
        "inferred_parents": inferred,
        "conversation_posts": int(conv[:n_posts].sum()),
        **dq_counts,
    }
    post_rows = _post_rows(
        build_id, node_ids, n_posts, parent, forest.root, depth, source, m.descendants, conv
    )
    # the writes read only the arrays the post_cascades batches take (held by the
    # generator): the loaded posts, the forest's other arrays and the per-cascade
    # metrics go first (memory: at 5M posts DuckDB's inserts peak here)
    del forest, m, talk, is_reply, virtual, on_root
    lap("rows")
    return _Part(post_rows, cascade_rows, dq_rows, counts)


def _infer(con, nodes, forest, on_root, n_posts, coded) -> tuple[np.ndarray, np.ndarray]:
    """(child, new parent) node indices of the time-inferred links (see sql.infer_parents).

    Only cascades with at least two non-root posts can infer anything (the sharer must
    be another non-root post), so the others are left out of the join.
    """
    depth = forest.depth
    tops = branch_tops(forest.parent, depth)
    below = np.flatnonzero(depth[:n_posts] >= 1)
    per_cascade = np.bincount(forest.root[below], minlength=len(forest.parent))
    below = below[per_cascade[forest.root[below]] >= 2]
    if len(below) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # rank in (created_at, idx) order: "the most recent, ties to the larger post_id"
    by_time = below[np.lexsort((below, nodes.t_us[below]))]
    rank = np.empty(len(forest.parent), dtype=np.int64)
    rank[by_time] = np.arange(len(by_time))
    tree = pa.table(
        {
            "idx": below,
            "cascade": forest.root[below],
            "account": nodes.account[below],
            "t_us": nodes.t_us[below],
            "top_t": nodes.t_us[tops[below]],
            "rank": rank[below],
            "candidate": on_root[below],
        }
    )
    child, parent_rank = sql.infer_parents(con, tree, coded=coded)
    return child, by_time[parent_rank]


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` with null where idx < 0."""
    idx = np.asarray(idx, dtype=np.int64)
    mask = idx < 0
    return values.take(pa.array(np.where(mask, 0, idx), mask=mask))


# posts per batch of post_cascades rows: each batch's id strings (post, cascade, parent)
# are made, written and freed before the next (at 5M posts the whole table held 0.7 GB)
WRITE_ROWS = 500_000


def _post_rows(
    build_id, node_ids, n_posts, parent, root, depth, source, descendants, conv
) -> Iterator[pa.Table]:
    """The post_cascades rows, in post order, a bounded batch at a time."""
    labels = pa.array([SOURCE_CODES[k] for k in sorted(SOURCE_CODES)], pa.string())
    for lo in range(0, n_posts, WRITE_ROWS):  # a loop over batches, not posts
        hi = min(lo + WRITE_ROWS, n_posts)
        src = source[lo:hi].astype(np.int64)
        yield pa.table(
            {
                "post_id": node_ids.slice(lo, hi - lo),
                "cascade_id": _take(node_ids, root[lo:hi]),
                "parent_id": _take(node_ids, parent[lo:hi]),
                "parent_source": _take(labels, np.where(src == 0, -1, src)),
                "depth": pa.array(depth[lo:hi].astype(np.int32)),
                "descendants": pa.array(descendants[lo:hi]),
                "build_id": pa.array(np.full(hi - lo, build_id, dtype=np.int64)),
                "conversation": pa.array(conv[lo:hi]),
            }
        )


def _cascade_rows(build_id, node_ids, nodes, m) -> pa.Table:
    seen = m.root_seen
    root_post = np.where(seen, m.root_node, -1)
    # the platform of the root, or of the earliest post when the root is unseen
    platform_from = np.where(seen, m.root_node, m.first_post)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "cascade_id": _take(node_ids, m.root_node),
            "root_post_id": _take(node_ids, m.root_node),
            "root_seen": pa.array(seen),
            "root_account_id": _take(nodes.account_id, root_post),
            "platform": _take(nodes.platform, platform_from),
            "size": pa.array(m.size.astype(np.int64)),
            "accounts": pa.array(m.accounts.astype(np.int64)),
            "depth": pa.array(m.depth.astype(np.int32)),
            "max_breadth": pa.array(m.max_breadth.astype(np.int64)),
            "structural_virality": pa.array(
                m.structural_virality, mask=np.isnan(m.structural_virality)
            ),
            "first_at": pa.array(m.first_at, ts),
            "last_at": pa.array(m.last_at, ts),
            "time_to_50_s": pa.array(m.time_to_50_s),
            "time_to_90_s": pa.array(m.time_to_90_s),
            "peak_per_hour": pa.array(m.peak_per_hour.astype(np.int64)),
            "reconstruction": pa.array(m.reconstruction.astype(object), pa.string()),
            "build_id": pa.array(np.full(len(m.root_node), build_id, dtype=np.int64)),
        }
    )


def _quality_rows(build_id, node_ids, nodes, forest, m, n_posts) -> tuple[pa.Table, dict[str, int]]:
    """data_quality rows: cycle breaks, clock skew on explicit links, unseen roots."""
    issue, post, casc, detail = [], [], [], []

    cuts = forest.cycle_cuts
    if len(cuts):
        issue.append(pa.array(np.full(len(cuts), "cycle_break", dtype=object), pa.string()))
        post.append(_take(node_ids, cuts))
        casc.append(_take(node_ids, forest.root[cuts]))
        old = _take(node_ids, forest.cycle_cut_parent)
        detail.append(
            pc.binary_join_element_wise(
                "parent link to ", old, " cut: it closed a cycle of parent links", ""
            )
        )

    # clock skew: an explicit, kept link to a stored parent that is later than the child
    p = forest.parent[:n_posts]
    has_stored_parent = (p >= 0) & (p < n_posts)
    child = np.flatnonzero(has_stored_parent)
    skewed = child[nodes.t_us[child] < nodes.t_us[p[child]]]
    if len(skewed):
        seconds = (nodes.t_us[p[skewed]] - nodes.t_us[skewed]) / 1e6
        issue.append(pa.array(np.full(len(skewed), "clock_skew", dtype=object), pa.string()))
        post.append(_take(node_ids, skewed))
        casc.append(_take(node_ids, forest.root[skewed]))
        detail.append(
            pc.binary_join_element_wise(
                "created ",
                pa.array(np.char.mod("%.3f", seconds).astype(object), pa.string()),
                " s before its parent ",
                _take(node_ids, p[skewed]),
                "",
            )
        )

    unseen = m.root_node[~m.root_seen]
    if len(unseen):
        issue.append(pa.array(np.full(len(unseen), "unseen_parent", dtype=object), pa.string()))
        post.append(pa.nulls(len(unseen), pa.string()))
        casc.append(_take(node_ids, unseen))
        sizes = m.size[~m.root_seen]
        detail.append(
            pc.binary_join_element_wise(
                "original not in the store; ",
                pa.array(sizes.astype(str).astype(object), pa.string()),
                " stored post(s) hang from it",
                "",
            )
        )

    def cat(parts: list[pa.Array]) -> pa.Array:
        return pa.concat_arrays(parts) if parts else pa.array([], pa.string())

    table = pa.table(
        {
            "build_id": pa.array(np.full(sum(len(a) for a in issue), build_id, dtype=np.int64)),
            "cascade_id": cat(casc),
            "post_id": cat(post),
            "issue": cat(issue),
            "detail": cat(detail),
        }
    )
    counts = {"cycle_breaks": len(cuts), "clock_skew": len(skewed)}
    return table, counts

"""The dashboard's data access: the snapshot it reads, caching, shaping for the pages.

Why: pages never open DuckDB and never run a query at import time. They call these
functions, which lease a cursor on the newest published snapshot
(:class:`spreadtrace.store.snapshot.SnapshotReader`), run the SQL in
:mod:`spreadtrace.store.dashboard_queries`, and return polars frames or records.
Expensive results (a cascade's nodes and layout) are cached per snapshot id, so a
new build's snapshot is never answered from an older one's cache.

The viewer role is enforced here, once for every page: what these functions return
goes through :func:`spreadtrace.dashboard.security.redact` (account ids, handles and
platform ids become the reports' pseudonyms), and a pseudonym passed in (from a link
a viewer clicked) is mapped back to the id it stands for. Opening an account, a
cascade or a narrative, and searching accounts, are written to the audit log here.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from spreadtrace.dashboard import security
from spreadtrace.graph.layout import tree_layout
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.dashboard_queries import CascadeFilter
from spreadtrace.store.snapshot import SnapshotReader

__all__ = [
    "use",
    "reader",
    "snapshot_id",
    "run",
    "cached",
    "CascadeFilter",
    "CascadeGraph",
    "cascade_graph",
]

MAX_NODES = 50_000
"""Cascades up to this many posts are drawn node by node (WebGL); larger ones are
aggregated, and the page says so."""

_reader: SnapshotReader | None = None
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 32


def use(db_path: str) -> SnapshotReader:
    """Serve the snapshots of the store at ``db_path`` (called once by ``create_app``)."""
    global _reader
    if _reader is not None:
        _reader.close()
    _reader = SnapshotReader(str(db_path))
    with _cache_lock:
        _cache.clear()
    return _reader


def reader() -> SnapshotReader:
    if _reader is None:
        raise RuntimeError("spreadtrace.dashboard.queries.use(db_path) was not called")
    return _reader


def snapshot_id() -> str | None:
    """The snapshot currently served (switching to a newer one if published)."""
    return reader().refresh()


# What opening a page's subject means, for the audit log: query -> audited action.
_AUDITED = {
    "account_info": "open account",
    "cascade_info": "open cascade",
    "narrative_info": "open narrative",
}
# Queries that return plain tuples: their column names, for the viewer's redaction.
_ROW_COLUMNS = {"narrative_options": ("narrative_id", "label")}
_NO_MATCH = "\uffff\uffff no match \uffff"
_resolved: OrderedDict[tuple[str, str], str | None] = OrderedDict()


def _resolve(con: Any, sid: str, value: Any) -> Any:
    """For a viewer, the raw id behind a pseudonym argument (else ``value`` unchanged)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _resolve(con, sid, getattr(value, f.name))
            for f in dataclasses.fields(value)
            if security.pseudonym_kind(getattr(value, f.name))
        }
        return dataclasses.replace(value, **changes) if changes else value
    kind = security.pseudonym_kind(value)
    if kind is None or kind == "handle":
        return value
    cache_key = (sid, value)
    with _cache_lock:
        if cache_key in _resolved:
            return _resolved[cache_key] or value
    key = security.key_for_lookup()
    raw = dq.resolve_pseudonym(con, kind, value, key.ipad, key.opad)
    with _cache_lock:
        _resolved[cache_key] = raw
        while len(_resolved) > 4096:
            _resolved.popitem(last=False)
    return raw or value


def _viewer_args(con: Any, sid: str, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    search = kwargs.get("search")
    args = tuple(_resolve(con, sid, a) for a in args)
    kwargs = {k: _resolve(con, sid, v) for k, v in kwargs.items() if k != "search"}
    if isinstance(search, str) and search.strip():
        # a viewer finds an account by its pseudonym only: a search for a real name
        # must not confirm who is behind a pseudonym
        raw = _resolve(con, sid, search.strip())
        kwargs["search"] = raw if raw != search.strip() else _NO_MATCH
    elif search is not None:
        kwargs["search"] = search
    return args, kwargs


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a :mod:`spreadtrace.store.dashboard_queries` function on a leased cursor.

    For a viewer, pseudonym arguments are mapped back and the result is redacted.
    """
    name = getattr(fn, "__name__", "")
    if kwargs.get("search"):
        security.audit("search", query=kwargs["search"], where=name)
    with reader().lease() as (con, sid):
        if security.is_viewer():
            args, kwargs = _viewer_args(con, sid, args, kwargs)
        if name in _AUDITED and args:  # the real id: the log is for whoever audits
            security.audit(_AUDITED[name], target=args[0])
        out = fn(con, *args, **kwargs)
        if name in _ROW_COLUMNS and security.is_viewer():
            # plain rows (no column names): give them their names for the redaction
            cols = _ROW_COLUMNS[name]
            return [tuple(security.redact(dict(zip(cols, r, strict=True))).values()) for r in out]
        return security.redact(out)


def cached(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(con, *args)`` cached per (snapshot id, name, args) (redacted for viewers)."""
    with reader().lease() as (con, sid):
        if security.is_viewer():
            args, _ = _viewer_args(con, sid, args, {})
        return security.redact(_cached(con, sid, name, fn, args))


def _cached(con: Any, sid: str, name: str, fn: Callable[..., Any], args: tuple) -> Any:
    key = (sid, name, args)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    value = fn(con, *args)
    with _cache_lock:
        _cache[key] = value
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return value


def status() -> dict[str, Any]:
    """The snapshot served and its counts (see :func:`dashboard_queries.status`)."""
    with reader().lease() as (con, sid):
        return {"snapshot": sid, **dq.status(con)}


def records(df: pl.DataFrame, tz: str | None = None) -> list[dict[str, Any]]:
    """Rows for a DataTable (plain JSON values), their time columns shown in ``tz``
    (default: the page's time zone, :func:`components.current_tz`)."""
    from spreadtrace.dashboard.components import current_tz, localize

    return localize(df.to_dicts(), tz or current_tz())


@dataclass(frozen=True)
class CascadeGraph:
    """A cascade ready to draw: one row per drawn node, coordinates, and honesty notes.

    ``nodes`` columns: those of :func:`dashboard_queries.cascade_nodes` plus ``x``, ``y``,
    ``parent`` (index of the drawn parent, -1 for the root), ``count`` (posts the node
    stands for: 1, or k for an aggregate) and ``aggregate`` (bool). Rows are in time
    order (``t``, then depth; the root first unless reconstructed reposts predate it),
    so the posts shared up to any moment are a prefix: the growth replay shows a prefix of each trace. ``snapshot`` is the id of
    the snapshot it was read from; a drawn node's row number identifies it there.
    """

    nodes: pl.DataFrame
    posts: int
    drawn_posts: int
    note: str | None
    snapshot: str | None = None


def _aggregate(nodes: pl.DataFrame, parent: np.ndarray, limit: int) -> tuple[pl.DataFrame, str]:
    """Collapse leaves per parent (and, if needed, whole subtrees below a depth) into
    labelled aggregate nodes, so at most about ``limit`` nodes are drawn."""
    n = nodes.height
    depth = nodes["depth"].to_numpy()
    desc = nodes["descendants"].to_numpy()
    internal = (desc > 0) | (depth == 0)
    cut = int(depth.max())
    # Deepest depth D such that internal nodes down to D plus one aggregate each fits.
    counts = np.bincount(depth[internal], minlength=cut + 1).cumsum()
    fits = np.flatnonzero(2 * counts <= limit)
    cut = int(fits[-1]) if len(fits) else 0
    keep = internal & (depth <= cut)
    # Each dropped node is represented by its nearest kept ancestor's aggregate.
    rep = np.arange(n)
    rep[~keep] = parent[~keep]
    for _ in range(int(depth.max()) + 1):
        bad = ~keep[rep]
        if not bad.any():
            break
        rep[bad] = parent[rep[bad]]
    dropped = np.flatnonzero(~keep)
    kept_idx = np.flatnonzero(keep)
    agg = (
        pl.DataFrame(
            {
                "rep": rep[dropped],
                "t": nodes["t"].to_numpy()[dropped],
                "bot": nodes["bot_score"].to_numpy()[dropped],
                "bots": nodes["is_bot_like"].to_numpy()[dropped],
                "created_at": nodes["created_at"].gather(dropped),
                "conv": nodes["conversation"].to_numpy()[dropped],
            }
        )
        .group_by("rep")
        .agg(
            pl.len().alias("count"),
            pl.col("t").min(),
            pl.col("bot").mean().alias("bot_score"),
            pl.col("bots").mean().alias("bot_like_share"),
            pl.col("created_at").min(),
            pl.col("conv").all(),
        )
        .sort("rep")
    )
    new_index = -np.ones(n, dtype=np.int64)
    new_index[kept_idx] = np.arange(len(kept_idx))
    base = nodes[kept_idx].with_columns(
        parent=pl.Series(np.where(parent[kept_idx] >= 0, new_index[parent[kept_idx]], -1)),
        count=pl.lit(1, dtype=pl.Int64),
        aggregate=pl.lit(False),
    )
    reps = agg["rep"].to_numpy()
    k = agg.height
    agg_rows = pl.DataFrame(
        {
            "post_id": [None] * k,
            "parent_id": nodes["post_id"].gather(reps),
            "parent_source": ["aggregate"] * k,
            "depth": depth[reps] + 1,
            "descendants": np.zeros(k, dtype=np.int64),
            "account_id": [None] * k,
            "handle": [None] * k,
            "created_at": agg["created_at"],
            "t": agg["t"],
            "text": [None] * k,
            "bot_score": agg["bot_score"],
            "is_bot_like": agg["bot_like_share"] >= 0.5,
            "bot_reasons": [
                f"{c:,} posts drawn as one node; {s:.0%} by bot-like accounts"
                for c, s in zip(agg["count"], agg["bot_like_share"], strict=True)
            ],
            "cluster_id": [None] * k,
            "conversation": agg["conv"],  # a node of replies only is conversation
            "parent": new_index[reps],
            "count": agg["count"],
            "aggregate": [True] * k,
        },
        schema_overrides={c: base.schema[c] for c in base.columns},
    )
    out = pl.concat([base, agg_rows.select(base.columns)], how="vertical")
    note = (
        f"{n:,} posts is more than the {limit:,} drawn one by one: "
        f"{len(dropped):,} posts (leaf shares, and everything below depth {cut + 1}) are "
        f"drawn as {k:,} aggregate nodes, each labelled with the number of posts it holds."
    )
    return out, note


def cascade_graph(
    cascade_id: str, *, radial: bool = True, limit: int = MAX_NODES, snapshot: str | None = None
) -> CascadeGraph | None:
    """A cascade's drawn nodes with layout, cached per snapshot.

    With ``snapshot``, None unless that snapshot is still the one served: a click on
    node ``i`` of a drawing then never resolves to row ``i`` of a newer build.
    """
    with reader().lease() as (con, sid):
        if snapshot is not None and snapshot != sid:
            return None
        if security.is_viewer():
            cascade_id = _resolve(con, sid, cascade_id)
        graph = _cached(con, sid, "cascade_graph", _cascade_graph, (cascade_id, radial, limit, sid))
        return security.redact(graph)


def _cascade_graph(
    con: Any, cascade_id: str, radial: bool, limit: int, sid: str | None = None
) -> CascadeGraph:
    nodes = dq.cascade_nodes(con, cascade_id)
    n = nodes.height
    if n == 0:
        return CascadeGraph(nodes, 0, 0, None, sid)
    index = pl.DataFrame({"parent_id": nodes["post_id"], "parent": np.arange(n)})
    parent = (
        nodes.select("parent_id")
        .join(index, on="parent_id", how="left", maintain_order="left")["parent"]
        .fill_null(-1)
        .to_numpy()
    )
    note = None
    if n > limit:
        nodes, note = _aggregate(nodes, parent, limit)
        parent = nodes["parent"].to_numpy()
    else:
        nodes = nodes.with_columns(
            parent=pl.Series(parent), count=pl.lit(1, dtype=pl.Int64), aggregate=pl.lit(False)
        )
    # Time order (depth breaks ties, so a root sharing its second comes first), parents
    # re-indexed.
    order = np.lexsort((nodes["depth"].to_numpy(), nodes["t"].to_numpy()))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    parent = parent[order]
    parent = np.where(parent >= 0, rank[np.maximum(parent, 0)], -1)
    nodes = nodes[order].with_columns(parent=pl.Series(parent))
    xy = tree_layout(parent, radial=radial)
    nodes = nodes.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]))
    return CascadeGraph(nodes, n, int(nodes["count"].sum()), note, sid)


MAX_ACCOUNTS = 20_000
"""Narrative account networks up to this many accounts are drawn whole; larger ones
are pruned to a k-core (Hoaxy stops at 1,000; WebGL draws 20,000 in the benchmark)."""


@dataclass(frozen=True)
class AccountNetwork:
    """A narrative's account network ready to draw: nodes with ``x``, ``y``; edges with
    ``s``, ``t`` (node row numbers); how many accounts there were and the pruning note."""

    nodes: pl.DataFrame
    edges: pl.DataFrame
    accounts: int
    k: int
    note: str | None


def account_network(narrative_id: str, limit: int = MAX_ACCOUNTS) -> AccountNetwork:
    """The narrative's account network, pruned to a k-core above ``limit``, laid out
    force-directed; cached per snapshot (redacted for viewers)."""
    with reader().lease() as (con, sid):
        if security.is_viewer():
            narrative_id = _resolve(con, sid, narrative_id)
        net = _cached(con, sid, "account_network", _account_network, (narrative_id, limit))
        return security.redact(net)


def _account_network(con: Any, narrative_id: str, limit: int) -> AccountNetwork:
    from spreadtrace.graph.account_network import kcore_prune
    from spreadtrace.graph.layout import force_layout

    nodes, edges = dq.narrative_account_network(con, narrative_id)
    index = pl.DataFrame({"account_id": nodes["account_id"], "i": np.arange(nodes.height)})
    edges = (
        edges.join(index.rename({"account_id": "source", "i": "s"}), on="source")
        .join(index.rename({"account_id": "target", "i": "t"}), on="target")
        .sort("s", "t", "kind")
        .select("s", "t", "kind", "weight")  # ends by row number: no raw id to redact
    )
    pairs = edges.select("s", "t").to_numpy()
    keep, k, cut = kcore_prune(nodes.height, pairs, limit)
    note = None
    if not keep.all():
        kept = np.flatnonzero(keep)
        renum = -np.ones(nodes.height, dtype=np.int64)
        renum[kept] = np.arange(len(kept))
        s, t = edges["s"].to_numpy(), edges["t"].to_numpy()
        inside = keep[s] & keep[t]
        edges = edges.filter(pl.Series(inside)).with_columns(
            s=pl.Series(renum[s[inside]]), t=pl.Series(renum[t[inside]])
        )
        core = (
            f"the {len(kept):,} best-connected accounts of its innermost {k}-core"
            if cut
            else f"its {k}-core ({len(kept):,} accounts, each with at least {k} partners inside it)"
        )
        note = (
            f"{nodes.height:,} accounts is more than the {limit:,} drawn: showing {core} "
            f"and {edges.height:,} of the edges; {nodes.height - len(kept):,} accounts on "
            "the periphery are left out. The GEXF export holds the drawn part."
        )
        nodes = nodes[kept]
    xy = force_layout(nodes.height, edges.select("s", "t").to_numpy(), edges["weight"].to_numpy())
    nodes = nodes.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]))
    return AccountNetwork(nodes, edges, int(index.height), k, note)

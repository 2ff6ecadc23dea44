"""Figure building for the dashboard: plotly figures from frames, no data access.

Why separate: pages wire callbacks, queries fetch, this module draws. Untrusted text
(handles, post text, reasons) only reaches plotly through :func:`text`, which escapes
``<``, ``>`` and ``&`` — plotly interprets a subset of HTML in hover labels and
decodes entities for display, so escaped text shows exactly as written and never
becomes markup.
"""

from __future__ import annotations

import base64
import functools
import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import plotly.io as pio
import polars as pl

__all__ = [
    "text",
    "empty",
    "ccdf",
    "bot_share_by_size",
    "cascade",
    "EdgeSelection",
    "edge_selection",
    "node_trace_index",
    "replay_steps",
    "typed",
    "cascade_timeline",
    "narrative_timeline",
    "coordination",
]

BOT_SCALE = [[0.0, "#2b83ba"], [0.5, "#ffffbf"], [1.0, "#d7191c"]]
EDGE_STYLE = {
    "explicit": dict(color="rgba(90,90,90,0.45)", dash="solid"),
    "inferred": dict(color="rgba(230,120,0,0.6)", dash="dot"),
    "root": dict(color="rgba(0,140,120,0.5)", dash="dash"),
    "aggregate": dict(color="rgba(120,60,160,0.5)", dash="dash"),
    "reply": dict(color="rgba(30,100,200,0.55)", dash="dashdot"),
}
"""Edge style per ``post_cascades.parent_source``: explicit (the platform said so),
inferred (reconstructed from follows and timing), root (hung from the root for lack
of a known parent), aggregate (to a node standing for many posts); reply (into a post
of a conversation: a reply, or below one; conversation is not spread)."""
EDGE_NAMES = {
    "explicit": "parent explicit",
    "inferred": "parent inferred",
    "root": "parent root",
    "aggregate": "parent aggregate",
    "reply": "reply (conversation, not a share)",
}
"""Legend names of the edge kinds."""
_LAYOUT = {"margin": {"l": 40, "r": 10, "t": 40, "b": 40}}


def text(value: object, limit: int = 200) -> str:
    """Untrusted text made safe for plotly labels (escaped, shortened)."""
    if value is None:
        return ""
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def _figure(traces: list[dict], **layout: object) -> dict:
    """A figure as a plain dict (plotly's JSON). Why not ``go.Figure``: building one
    costs 0.2-0.5 s of validation and template copying per figure, which alone would
    blow the dashboard's 300 ms budget per callback (bench/RESULTS.md)."""
    return {"data": traces, "layout": {**_LAYOUT, "template": _template(), **layout}}


def empty(message: str) -> dict:
    """A blank figure carrying a message (no data yet, nothing matches)."""
    return _figure(
        [],
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": text(message), "showarrow": False, "font": {"size": 14}}],
    )


def ccdf(sizes: pl.DataFrame) -> dict:
    """P(size >= s) of cascade sizes on log-log axes, from (size, n) counts."""
    if sizes.height == 0:
        return empty("no cascades match the filters")
    s = sizes["size"].to_numpy()
    n = sizes["n"].to_numpy()
    tail = n[::-1].cumsum()[::-1] / n.sum()
    trace = {
        "type": "scatter",
        "x": s,
        "y": tail,
        "mode": "lines+markers",
        "marker": {"size": 4},
        "line": {"shape": "hv"},
        "hovertemplate": "size ≥ %{x}: %{y:.3%} of cascades<extra></extra>",
    }
    return _figure(
        [trace],
        title={"text": f"Cascade sizes (CCDF, {int(n.sum()):,} cascades)"},
        xaxis={"type": "log", "title": {"text": "cascade size (posts)"}},
        # a probability: as a percentage (never "100μ"), trailing zeros trimmed
        yaxis={"type": "log", "title": {"text": "P(size ≥ s)"}, "tickformat": ".6~%"},
    )


def bot_share_by_size(counts: pl.DataFrame, bins: int = 20) -> dict:
    """Heatmap of cascades by size (log2 bins) and bot share: how bot-heavy big ones are.

    Colour is log10(count), so the many tiny cascades do not wash out the rest.
    """
    if counts.height == 0:
        return empty("no scored cascades match the filters")
    size_bins = np.arange(
        counts["size_bin"].to_numpy().min(), counts["size_bin"].to_numpy().max() + 1
    )
    z = np.zeros((bins, len(size_bins)))
    z[counts["share_bin"].to_numpy(), counts["size_bin"].to_numpy() - size_bins[0]] = counts[
        "n"
    ].to_numpy()
    top = int(np.log10(max(z.max(), 1)))
    trace = {
        "type": "heatmap",
        "x": [f"{2**b:,}–{2 ** (b + 1) - 1:,}" for b in size_bins],
        "y": (np.arange(bins) + 0.5) / bins,
        "z": np.where(z > 0, np.log10(np.where(z > 0, z, 1)), np.nan),
        "customdata": z,
        "colorscale": "Viridis",
        "colorbar": {
            "title": {"text": "cascades"},
            "tickvals": list(range(top + 1)),
            "ticktext": [f"{10**k:,}" for k in range(top + 1)],
        },
        "hovertemplate": "size %{x}<br>bot share ≈ %{y:.2f}<br>"
        "%{customdata:,} cascades<extra></extra>",
    }
    return _figure(
        [trace],
        title={"text": "Bot share against cascade size"},
        xaxis={"title": {"text": "cascade size (posts)"}, "type": "category"},
        yaxis={
            "title": {"text": "share of posts by bot-like accounts"},
            "range": [0, 1],
            "tickformat": ".0%",
        },
    )


HOVER_TEMPLATE = (
    "bot score %{marker.color:.2f} · reach %{customdata[0]:,}<br>"
    "+%{customdata[1]:,.2f} h after the first post<br>"
    "%{customdata[2]:,} post(s) · click for the account<extra></extra>"
)
"""The node tooltip: numbers only, read from the binary arrays already sent. Who the
account is (handle, time, reasons: untrusted text) is fetched for the hovered node
only (the cascade page's hover line), so no per-node text travels with the figure."""


def typed(values: object, dtype: str = "f4") -> dict:
    """A numeric array in plotly.js's binary form: ``{"dtype", "bdata": base64}``.

    Why: a JSON list costs ~8 bytes a coordinate and a parse per number in the
    browser; float32 in base64 costs 5.3 bytes and decodes in one pass (plotly.js
    >= 2.28; plotly.py only does this itself for ``go.Figure``, which is too slow to
    build for 50,000 points). ``float32`` keeps NaN, which breaks a line.

    >>> typed([1.0, float("nan")])
    {'dtype': 'f4', 'bdata': 'AACAPwAAwH8='}
    >>> typed([[1, 2], [3, 4]], "u1")["shape"]
    '2,2'
    """
    a = np.ascontiguousarray(values, dtype=_NUMPY_TYPES[dtype])
    out = {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        out["shape"] = ",".join(map(str, a.shape))
    return out


_NUMPY_TYPES = {"f4": np.float32, "f8": np.float64, "u1": np.uint8, "u4": np.uint32, "i4": np.int32}


@functools.cache
def _template() -> dict:
    """The plotly_white template as plain JSON, for figures built as dicts."""
    return {"layout": pio.templates["plotly_white"].layout.to_plotly_json()}


def _r(a: np.ndarray) -> np.ndarray:
    # Four decimals are below a pixel and halve the JSON the browser must parse.
    return np.round(np.asarray(a, dtype=np.float64), 4)


def _conversation(nodes: pl.DataFrame) -> np.ndarray:
    """Which drawn nodes are conversation (all False when the column is absent)."""
    if "conversation" not in nodes.columns:
        return np.zeros(nodes.height, dtype=bool)
    return nodes["conversation"].fill_null(False).to_numpy().astype(bool)


def _edge_kinds(nodes: pl.DataFrame) -> np.ndarray:
    kinds = nodes["parent_source"].fill_null("explicit").to_numpy().astype(object)
    known = np.isin(kinds, list(EDGE_STYLE))
    kinds[~known] = "inferred"
    kinds[_conversation(nodes)] = "reply"
    return kinds


EDGES_ALL_UP_TO = 5_000
"""Cascades of up to this many drawn nodes get every share edge on first render."""
EDGE_BUDGET = 2_000
"""Above :data:`EDGES_ALL_UP_TO` nodes, the first render draws at most this many edges.

Why: in headless/software WebGL (SwiftShader), rasterising ~20,000 polyline segments
costs ~2 s, more than everything else on the page (bench/RESULTS.md ``## dashboard``);
a few thousand cost little. Every node is still drawn; the page says which edges are
left out and offers all of them."""


@dataclass(frozen=True)
class EdgeSelection:
    """Which share edges a drawing shows: ``child`` (node rows whose edge into them is
    drawn, ascending), ``total`` edges in the cascade, and ``min_reach`` (0: all edges;
    k: only edges into posts whose reach, posts below them, is at least k)."""

    child: np.ndarray
    total: int
    min_reach: int

    @property
    def shown(self) -> int:
        return len(self.child)

    @property
    def reduced(self) -> bool:
        return self.shown < self.total

    def label(self) -> str:
        """What the drawing leaves out, in words (empty when it shows every edge)."""
        if not self.reduced:
            return ""
        return (
            f"showing {self.shown:,} of {self.total:,} share edges: those into posts "
            f"with reach ≥ {self.min_reach:,}"
        )


def _reach(nodes: pl.DataFrame) -> np.ndarray:
    """Posts below each drawn node (descendants, plus what an aggregate node holds)."""
    return nodes["descendants"].to_numpy() + nodes["count"].to_numpy() - 1


def edge_selection(
    nodes: pl.DataFrame,
    all_edges: bool = False,
    *,
    up_to: int | None = None,
    budget: int | None = None,
) -> EdgeSelection:
    """The edges of the first render: all of them for small cascades (or when asked),
    otherwise those into posts with reach >= k, for the smallest k that keeps at most
    ``budget`` edges.

    Why reach: an edge into a post with reach >= k has a parent with reach >= k + 1,
    so the kept edges always form one connected tree from the root — the branching
    structure — while the leaf shares (most of any cascade) stay drawn as nodes.

    >>> import polars as pl
    >>> nodes = pl.DataFrame({"parent": [-1, 0, 1, 1, 0], "descendants": [4, 2, 0, 0, 0],
    ...     "count": [1, 1, 1, 1, 1]})
    >>> sel = edge_selection(nodes, up_to=3, budget=2)
    >>> sel.child.tolist(), sel.total, sel.min_reach
    ([1], 4, 1)
    >>> edge_selection(nodes, True, up_to=3, budget=2).shown
    4
    """
    up_to = EDGES_ALL_UP_TO if up_to is None else up_to
    budget = EDGE_BUDGET if budget is None else budget
    child = np.flatnonzero(nodes["parent"].to_numpy() >= 0)
    if all_edges or nodes.height <= up_to or len(child) <= budget:
        return EdgeSelection(child, len(child), 0)
    reach = _reach(nodes)[child]
    # The (budget + 1)-th largest reach is excluded; everything above it fits the budget.
    k = int(np.sort(reach)[::-1][budget]) + 1
    return EdgeSelection(child[reach >= k], len(child), k)


def _edge_groups(
    nodes: pl.DataFrame, selection: EdgeSelection | None = None
) -> list[tuple[str, np.ndarray]]:
    """(kind, child node indices ascending) per edge style present, in EDGE_STYLE order."""
    chosen = np.zeros(nodes.height, dtype=bool)
    chosen[(selection or edge_selection(nodes, True)).child] = True
    source = _edge_kinds(nodes)
    groups = []
    for kind in EDGE_STYLE:
        child = np.flatnonzero(chosen & (source == kind))
        if len(child):
            groups.append((kind, child))
    return groups


def node_trace_index(nodes: pl.DataFrame, all_edges: bool = False) -> int:
    """Index of the node trace in :func:`cascade`'s figure (after the edge traces)."""
    return len(_edge_groups(nodes, edge_selection(nodes, all_edges)))


def cascade(
    nodes: pl.DataFrame,
    *,
    title: str = "",
    gl: bool = True,
    equal_aspect: bool = True,
    all_edges: bool = False,
) -> dict:
    """The share network of one cascade, as a figure dict.

    Nodes coloured by bot score, sized by reach (log of descendants), coordinated
    accounts ringed, edges styled by how the parent was decided (explicit, inferred,
    root, aggregate); replies and what hangs below them (conversation, not spread) get
    their own edge style and legend entry, and are drawn as diamonds. WebGL (``gl=True``) keeps 50,000 nodes interactive; ``gl=False``
    is the SVG baseline the benchmark compares against.

    Every array is binary float32 (:func:`typed`) and no per-node text is sent: a
    20,000-node cascade is ~0.6 MB instead of 2.9 MB of JSON. Point ``i`` of the node
    trace is row ``i`` of ``nodes``; each edge trace (one polyline per style, NaN
    between edges) and the ring trace list their nodes in row order, so with rows
    in time order the posts up to any moment are a prefix of every trace
    (:func:`replay_steps`). A plain dict rather than ``go.Figure``: plotly's
    validation of 50,000-element arrays costs seconds per request.

    Above :data:`EDGES_ALL_UP_TO` nodes only the backbone edges are drawn unless
    ``all_edges`` (:func:`edge_selection`); the title then says how many of how many.
    """
    if nodes.height == 0:
        return empty("no such cascade in this snapshot")
    kind = "scattergl" if gl else "scatter"
    count = nodes["count"].to_numpy()
    descendants = nodes["descendants"].to_numpy()
    reach = np.log1p(descendants + count - 1)
    size = np.round(4 + 14 * reach / max(reach.max(), 1.0))
    agg = nodes["aggregate"].to_numpy()
    symbols = np.where(_conversation(nodes), 2, agg.astype(np.int8)).astype(np.int8)
    x = nodes["x"].to_numpy().astype(np.float32)
    y = nodes["y"].to_numpy().astype(np.float32)
    parent = nodes["parent"].to_numpy()
    selection = edge_selection(nodes, all_edges)
    heading = text(title, 120)
    if selection.reduced:
        heading += f"<br><sub>{text(selection.label())}</sub>"
    traces = []
    for edge_kind, child in _edge_groups(nodes, selection):
        # One polyline per kind: parent -> child, then a gap (NaN).
        gap = np.full(len(child), np.nan, dtype=np.float32)
        traces.append(
            {
                "type": kind,
                "x": typed(np.column_stack([x[parent[child]], x[child], gap]).ravel()),
                "y": typed(np.column_stack([y[parent[child]], y[child], gap]).ravel()),
                "mode": "lines",
                "line": {"width": 0.7, **EDGE_STYLE[edge_kind]},
                "hoverinfo": "skip",
                "name": EDGE_NAMES[edge_kind],
            }
        )
    t_hours = nodes["t"].to_numpy().astype(np.float64) / 3600.0
    traces.append(
        {
            "type": kind,
            "x": typed(x),
            "y": typed(y),
            "mode": "markers",
            "name": "posts",
            "marker": {
                "size": typed(size, "u1"),
                "color": typed(nodes["bot_score"].fill_null(0.0).to_numpy()),
                "colorscale": BOT_SCALE,
                "cmin": 0,
                "cmax": 1,
                # Aggregates are squares (symbol 1), conversation diamonds (2); the list
                # exists only when there are any.
                "symbol": symbols.tolist() if symbols.any() else "circle",
                "line": {"width": 0.3, "color": "#444"},
                "colorbar": {"title": {"text": "bot score"}, "thickness": 12},
            },
            "customdata": typed(np.column_stack([descendants, np.round(t_hours, 2), count])),
            "hovertemplate": HOVER_TEMPLATE,
            "selected": {"marker": {"opacity": 1.0}},
            "unselected": {"marker": {"opacity": 0.07}},
        }
    )
    coord = np.flatnonzero(nodes["cluster_id"].is_not_null().to_numpy())
    if len(coord):
        traces.append(
            {
                "type": kind,
                "x": typed(x[coord]),
                "y": typed(y[coord]),
                "mode": "markers",
                "name": "coordinated account",
                "marker": {
                    "size": typed(size[coord] + 5, "u1"),
                    "symbol": "circle-open",
                    "color": "#6a0dad",
                    "line": {"width": 1.5, "color": "#6a0dad"},
                },
                "hoverinfo": "skip",
            }
        )
    layout = {
        **_LAYOUT,
        "template": _template(),
        "title": {"text": heading},
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.02},
        "xaxis": {"visible": False},
        # Radial drawings need equal axes to stay round; top-down trees use the space.
        "yaxis": {"visible": False, **({"scaleanchor": "x"} if equal_aspect else {})},
        "dragmode": "pan",
        "uirevision": "cascade",
        "clickmode": "event",
        "hovermode": "closest",
    }
    return {"data": traces, "layout": layout}


def replay_steps(
    nodes: pl.DataFrame, steps: int, all_edges: bool = False, tz: str | None = None
) -> dict:
    """What the growth replay shows at each of ``steps + 1`` slider positions.

    For step s (posts up to ``s / steps`` of the cascade's duration): ``nodes[s]``,
    how many leading rows (rows are in time order) are shared by then, ``prefix``:
    per trace of :func:`cascade`'s figure whose points follow the rows (edge traces,
    3 values per edge; the ring trace, 1), how many leading values to keep, and
    ``times[s]``, the moment as ISO text for the timeline's marker. The browser
    slices its arrays with these counts (a clientside callback), so moving the
    slider sends nothing over the network and hides later edges and rings too.

    >>> import polars as pl
    >>> nodes = pl.DataFrame({"t": [0.0, 5.0, 10.0], "parent": [-1, 0, 0],
    ...     "parent_source": ["root", "explicit", "explicit"], "cluster_id": [None, "k", None],
    ...     "created_at": [None, None, None]})
    >>> r = replay_steps(nodes, 2)
    >>> r["nodes"], r["prefix"]
    ([1, 2, 3], [[0, [0, 3, 6], 3], [2, [0, 1, 1], 1]])
    """
    t = nodes["t"].to_numpy().astype(np.float64)
    until = t.max(initial=0.0) * np.arange(steps + 1) / steps if len(t) else np.zeros(steps + 1)
    k = np.searchsorted(t, until, side="right")
    k[-1] = len(t)
    prefix = []
    groups = _edge_groups(nodes, edge_selection(nodes, all_edges))
    for i, (_kind, child) in enumerate(groups):
        prefix.append([i, (3 * np.searchsorted(child, k)).tolist(), 3])
    coord = np.flatnonzero(nodes["cluster_id"].is_not_null().to_numpy())
    if len(coord):
        prefix.append([len(groups) + 1, np.searchsorted(coord, k).tolist(), 1])
    tz = _zone(tz)
    first: Any = nodes["created_at"].min() if "created_at" in nodes.columns else None
    if first is not None:
        first = _at_zone(first, tz)
    times = (
        [f"{first + timedelta(seconds=float(u)):%Y-%m-%dT%H:%M:%S}" for u in until]
        if first is not None
        else [None] * (steps + 1)
    )
    return {
        "steps": steps,
        "nodes": k.tolist(),
        "node_trace": len(groups),
        "prefix": prefix,
        "times": times,
        "tz": tz,
    }


def _zone(tz: str | None) -> str:
    from spreadtrace.dashboard.components import current_tz, time_zone

    return time_zone(tz) if tz else current_tz()


def _in_zone(values: pl.Series, tz: str) -> pl.Series:
    """Stored UTC datetimes as wall-clock times in ``tz`` (what the axis shows)."""
    if values.dtype == pl.Datetime and getattr(values.dtype, "time_zone", None) is None:
        values = values.dt.replace_time_zone("UTC")
    return values.dt.convert_time_zone(tz)


def _at_zone(value: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(tz))


TIMELINE_POINTS = 2000
"""At most this many points per timeline line (a step every len/TIMELINE_POINTS posts)."""


LEGEND_BELOW: dict[str, Any] = {
    "legend": {"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"},
    "margin": {"l": 50, "r": 10, "t": 40, "b": 90},
}
"""A legend under the x axis title: the toolbar (modebar) sits top right, so a legend
there covers it."""


def cascade_timeline(
    nodes: pl.DataFrame, until: float | None = None, tz: str | None = None
) -> dict:
    """Cumulative shares over time, bot-like accounts against the others; replies apart.

    Replies (and posts below them) are conversation, not spread: they get their own
    dotted line and never add to the shares.
    """
    if nodes.height == 0:
        return empty("no posts")
    tz = _zone(tz)
    df = (
        nodes.select("created_at", "is_bot_like", "count")
        .with_columns(_in_zone(nodes["created_at"], tz))
        .with_columns(conversation=pl.Series(_conversation(nodes)))
        .sort("created_at")
    )
    end = df["created_at"][-1]
    traces = []
    talk = df["conversation"]
    for label, mask, color, dash in (
        ("shares by bot-like accounts", df["is_bot_like"] & ~talk, "#d7191c", "solid"),
        ("shares by other accounts", ~df["is_bot_like"] & ~talk, "#2b83ba", "solid"),
        ("replies (conversation, not shares)", talk, "#555555", "dot"),
    ):
        part = df.filter(mask).with_columns(pl.col("count").cum_sum().alias("total"))
        if part.height == 0 and dash == "dot":
            continue  # no conversation: no line for it
        if part.height > TIMELINE_POINTS:
            step = -(-part.height // TIMELINE_POINTS)
            keep = np.unique(np.r_[np.arange(0, part.height, step), part.height - 1])
            part = part[keep]
        # Each line runs to the cascade's last post, so they end side by side.
        x = part["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_list()
        y = part["total"].to_list()
        traces.append(
            {
                "type": "scatter",
                "x": [*x, f"{end:%Y-%m-%dT%H:%M:%S}"],
                "y": [*y, y[-1] if y else 0],
                "mode": "lines",
                "line": {"shape": "hv", "color": color, "dash": dash},
                "name": label,
            }
        )
    shapes = []
    if until is not None:
        at = df["created_at"][0] + timedelta(seconds=float(until))
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": f"{at:%Y-%m-%dT%H:%M:%S}",
                "x1": f"{at:%Y-%m-%dT%H:%M:%S}",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#888", "dash": "dot"},
            }
        )
    return _figure(
        traces,
        title={"text": "Cumulative shares (replies apart)"},
        xaxis={"title": {"text": f"time ({tz})"}},
        yaxis={"title": {"text": "posts"}},
        **LEGEND_BELOW,
        shapes=shapes,
    )


TIME_BINS = (("hour", 1), ("3 hours", 3), ("6 hours", 6), ("12 hours", 12), ("day", 24),
             ("week", 168))  # fmt: skip
MAX_BARS = 120


def time_bin(span_hours: float, max_bars: int = MAX_BARS) -> tuple[str, int]:
    """The narrowest bin (label, hours) giving at most ``max_bars`` bars over the span.

    Why: hourly bars over three weeks are 500 hair-thin bars; the bin adapts to the range.

    >>> time_bin(20), time_bin(21 * 24), time_bin(3 * 365 * 24)
    (('hour', 1), ('6 hours', 6), ('week', 168))
    """
    for label, hours in TIME_BINS:
        if span_hours / hours <= max_bars:
            return label, hours
    return TIME_BINS[-1]


def narrative_timeline(df: pl.DataFrame, tz: str | None = None) -> dict:
    """Posts per time bin in a narrative (the bin adapts to its range), stacked: bot-like
    accounts and the others."""
    if df.height == 0:
        return empty("no posts in this narrative")
    tz = _zone(tz)
    df = df.with_columns(_in_zone(df["hour"], tz))  # bins follow the analyst's days
    span = (df["hour"].max() - df["hour"].min()).total_seconds() / 3600  # type: ignore[operator,union-attr]
    label, hours = time_bin(span)
    if hours > 1:
        df = (
            df.sort("hour")
            .group_by_dynamic("hour", every=f"{hours}h")
            .agg(pl.col("bots").sum(), pl.col("others").sum())
        )
    at = df["hour"].dt.strftime("%Y-%m-%dT%H:%M:%S").to_list()
    return _figure(
        [
            {"type": "bar", "x": at, "y": df["others"].to_numpy(), "name": "other accounts"},
            {"type": "bar", "x": at, "y": df["bots"].to_numpy(), "name": "bot-like accounts"},
        ],
        barmode="stack",
        bargap=0.05,
        title={"text": f"Posts per {label}"},
        xaxis={"title": {"text": f"time ({tz})"}},
        yaxis={"title": {"text": "posts"}},
        **LEGEND_BELOW,
    )


def coordination(
    pairs: pl.DataFrame, xy: np.ndarray, accounts: Iterable[str], *, title: str | None = None
) -> dict:
    """A co-share network: accounts (coloured by bot score) joined by co-share pairs."""
    accounts = list(accounts)
    if not accounts:
        return empty("no coordination pairs")
    index = {a: i for i, a in enumerate(accounts)}
    ia = np.array([index[a] for a in pairs["account_a"]])
    ib = np.array([index[b] for b in pairs["account_b"]])
    gap = np.full(len(ia), np.nan)
    ex = np.column_stack([_r(xy[ia, 0]), _r(xy[ib, 0]), gap]).ravel()
    ey = np.column_stack([_r(xy[ia, 1]), _r(xy[ib, 1]), gap]).ravel()
    bot = np.zeros(len(accounts))
    handle = [""] * len(accounts)
    for col_id, col_bot, col_handle in (
        ("account_a", "bot_a", "handle_a"),
        ("account_b", "bot_b", "handle_b"),
    ):
        for a, b, h in zip(pairs[col_id], pairs[col_bot], pairs[col_handle], strict=True):
            bot[index[a]] = b
            handle[index[a]] = h or ""
    degree = np.bincount(np.r_[ia, ib], minlength=len(accounts))
    edges = {
        "type": "scattergl",
        "x": ex,
        "y": ey,
        "mode": "lines",
        "line": {"width": 0.6, "color": "rgba(100,100,100,0.4)"},
        "hoverinfo": "skip",
        "name": "co-share pair",
    }
    nodes = {
        "type": "scattergl",
        "x": _r(xy[:, 0]),
        "y": _r(xy[:, 1]),
        "mode": "markers",
        "marker": {
            "size": np.round(6 + 10 * np.sqrt(degree / max(degree.max(), 1)), 1),
            "color": np.round(bot, 3),
            "colorscale": BOT_SCALE,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": "bot score"}, "thickness": 12},
            "line": {"width": 0.5, "color": "#333"},
        },
        "customdata": accounts,
        "hovertext": [
            f"<b>{text(h or a, 60)}</b> ({text(a, 40)})<br>bot score {b:.2f}<br>"
            f"{d} co-share partners"
            for a, h, b, d in zip(accounts, handle, bot, degree, strict=True)
        ],
        "hoverinfo": "text",
        "name": "account",
    }
    default = f"Co-share network ({len(accounts):,} accounts, {pairs.height:,} pairs)"
    return _figure(
        [edges, nodes],
        title={"text": title or default},
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
        hovermode="closest",
    )


def media_timeline(posts: pl.DataFrame) -> dict:
    """A media group's posts over time, one row of dots per platform; reuses after a
    gap are drawn as diamonds, "out of context" candidates in red."""
    if posts.height == 0:
        return empty("no posts carry this media")
    traces = []
    for platform in sorted({p or "unknown" for p in posts["platform"].to_list()}):
        part = posts.filter(pl.col("platform").fill_null("unknown") == platform)
        reuse = part["reuse_gap_days"].is_not_null().to_list()
        ooc = part["out_of_context"].to_list()
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": platform,
                "x": part["created_at"].to_list(),
                "y": [platform] * part.height,
                "text": [
                    text(f"{a}: {t or ''}")
                    for a, t in zip(part["account_id"], part["text"], strict=True)
                ],
                "hoverinfo": "x+text",
                "marker": {
                    "size": 11,
                    "symbol": ["diamond" if r else "circle" for r in reuse],
                    "color": ["#c0392b" if o else "#2c7fb8" for o in ooc],
                },
            }
        )
    return _figure(traces, title={"text": "Who posted it, when"}, showlegend=False)


EDGE_STYLES = {
    "repost": ("#7f8c8d", "solid"),
    "quote": ("#2980b9", "dash"),
    "reply": ("#27ae60", "dot"),
    "mention": ("#8e44ad", "longdash"),
}
"""How each kind of spread is drawn in the account network: colour and dash."""
BOT_COLOURS = {
    "bot-like": "#c0392b",
    "insufficient evidence": "#f1c40f",
    "not bot-like": "#6c9bc7",
    "not scored": "#bdc3c7",
}


def account_network(
    nodes: pl.DataFrame, edges: pl.DataFrame, *, title: str = "", gl: bool = True
) -> dict:
    """A narrative's account network (Hoaxy-style): accounts as nodes coloured by bot
    state, ringed when coordinated, sized by reach; edges (who amplified whom) drawn
    per kind with their own colour, dash and legend entry.

    ``nodes`` needs ``account_id``, ``handle``, ``bot_state``, ``cluster_id``, ``reach``,
    ``x``, ``y``; ``edges`` needs ``s`` and ``t`` (row numbers in ``nodes``) and ``kind``.
    WebGL (``gl=True``) draws 20,000 accounts; ``gl=False`` (SVG) is the benchmark's
    baseline.
    """
    if nodes.height == 0:
        return empty("no accounts in this narrative")
    scatter = "scattergl" if gl else "scatter"
    x = nodes["x"].to_numpy()
    y = nodes["y"].to_numpy()
    traces: list[dict] = []
    for kind, (colour, dash) in EDGE_STYLES.items():
        sub = edges.filter(pl.col("kind") == kind) if edges.height else edges
        if sub.height == 0:
            continue
        s = sub["s"].to_numpy()
        t = sub["t"].to_numpy()
        ex = np.column_stack([x[s], x[t], np.full(len(s), np.nan)]).ravel()
        ey = np.column_stack([y[s], y[t], np.full(len(s), np.nan)]).ravel()
        traces.append(
            {
                "type": scatter,
                "mode": "lines",
                "x": typed(ex),
                "y": typed(ey),
                "name": f"{kind} ({sub.height:,})",
                "line": {"color": colour, "width": 0.6, "dash": dash},
                "opacity": 0.5,
                "hoverinfo": "skip",
            }
        )
    reach = nodes["reach"].fill_null(0).to_numpy().astype(np.float64)
    size = 4 + 16 * np.sqrt(reach / max(reach.max(), 1.0))
    coordinated = nodes["cluster_id"].is_not_null().to_numpy()
    states = nodes["bot_state"].fill_null("not scored").to_numpy()
    handles = nodes["handle"].fill_null("").to_list()
    ids = nodes["account_id"].to_list()
    for state, colour in BOT_COLOURS.items():
        idx = np.flatnonzero(states == state)
        if len(idx) == 0:
            continue
        traces.append(
            {
                "type": scatter,
                "mode": "markers",
                "x": typed(x[idx]),
                "y": typed(y[idx]),
                "name": f"{state} ({len(idx):,})",
                "marker": {
                    "color": colour,
                    "size": typed(size[idx]),
                    "line": {
                        "color": "#000",
                        "width": typed(np.where(coordinated[idx], 2.5, 0.0)),
                    },
                },
                "customdata": [ids[i] for i in idx],
                "hovertext": [
                    f"{text(handles[i] or ids[i], 60)} · reach {int(reach[i]):,}"
                    + (" · coordinated" if coordinated[i] else "")
                    for i in idx
                ],
                "hoverinfo": "text",
            }
        )
    return _figure(
        traces,
        title={"text": text(title, 160)},
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        hovermode="closest",
        **LEGEND_BELOW,
    )

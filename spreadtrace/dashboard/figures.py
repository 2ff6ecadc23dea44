"""Figure building for the dashboard: plotly figures from frames, no data access.

Why separate: pages wire callbacks, queries fetch, this module draws. Untrusted text
(handles, post text, reasons) only reaches plotly through :func:`text`, which escapes
``<``, ``>`` and ``&`` — plotly interprets a subset of HTML in hover labels and
decodes entities for display, so escaped text shows exactly as written and never
becomes markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import timedelta

import numpy as np
import plotly.graph_objects as go
import polars as pl

__all__ = [
    "text",
    "empty",
    "ccdf",
    "bot_share_by_size",
    "cascade",
    "node_trace_index",
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
}
"""Edge style per ``post_cascades.parent_source``: explicit (the platform said so),
inferred (reconstructed from follows and timing), root (hung from the root for lack
of a known parent), aggregate (to a node standing for many posts)."""
_LAYOUT = dict(margin=dict(l=40, r=10, t=40, b=40), template="plotly_white")


def text(value: object, limit: int = 200) -> str:
    """Untrusted text made safe for plotly labels (escaped, shortened)."""
    if value is None:
        return ""
    s = str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def empty(message: str) -> go.Figure:
    """A blank figure carrying a message (no data yet, nothing matches)."""
    fig = go.Figure()
    fig.update_layout(
        **_LAYOUT,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        annotations=[dict(text=text(message), showarrow=False, font=dict(size=14))],
    )
    return fig


def ccdf(sizes: pl.DataFrame) -> go.Figure:
    """P(size >= s) of cascade sizes on log-log axes, from (size, n) counts."""
    if sizes.height == 0:
        return empty("no cascades match the filters")
    s = sizes["size"].to_numpy()
    n = sizes["n"].to_numpy()
    tail = n[::-1].cumsum()[::-1] / n.sum()
    fig = go.Figure(
        go.Scatter(
            x=s,
            y=tail,
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(shape="hv"),
            hovertemplate="size ≥ %{x}: %{y:.3%} of cascades<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT,
        title=f"Cascade sizes (CCDF, {int(n.sum()):,} cascades)",
        xaxis=dict(type="log", title="cascade size (posts)"),
        yaxis=dict(type="log", title="P(size ≥ s)"),
    )
    return fig


def bot_share_by_size(counts: pl.DataFrame, bins: int = 20) -> go.Figure:
    """Heatmap of cascades by size (log2 bins) and bot share: how bot-heavy big ones are."""
    if counts.height == 0:
        return empty("no scored cascades match the filters")
    size_bins = np.arange(counts["size_bin"].min(), counts["size_bin"].max() + 1)
    z = np.zeros((bins, len(size_bins)))
    z[counts["share_bin"].to_numpy(), counts["size_bin"].to_numpy() - size_bins[0]] = counts[
        "n"
    ].to_numpy()
    labels = [f"{2**b:,}–{2 ** (b + 1) - 1:,}" for b in size_bins]
    fig = go.Figure(
        go.Heatmap(
            x=labels,
            y=(np.arange(bins) + 0.5) / bins,
            z=np.where(z > 0, np.log10(np.where(z > 0, z, 1)), np.nan),
            customdata=z,
            colorscale="Viridis",
            colorbar=dict(
                title="cascades",
                tickvals=np.arange(0, int(np.log10(max(z.max(), 1))) + 1),
                ticktext=[f"{10**k:,}" for k in range(int(np.log10(max(z.max(), 1))) + 1)],
            ),
            hovertemplate="size %{x}<br>bot share ≈ %{y:.2f}<br>"
            "%{customdata:,} cascades<extra></extra>",
        )
    )
    fig.update_layout(
        **_LAYOUT,
        title="Bot share against cascade size",
        xaxis=dict(title="cascade size (posts)", type="category"),
        yaxis=dict(title="share of posts by bot-like accounts", range=[0, 1]),
    )
    return fig


def _hover(nodes: pl.DataFrame) -> list[str]:
    rows = zip(
        nodes["aggregate"],
        nodes["count"],
        nodes["handle"],
        nodes["account_id"],
        nodes["created_at"],
        nodes["bot_score"],
        nodes["bot_reasons"],
        nodes["descendants"],
        nodes["cluster_id"],
        strict=True,
    )
    out = []
    for agg, count, handle, account, at, score, reasons, desc, cluster in rows:
        when = at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else ""
        if agg:
            out.append(f"<b>+{count:,} posts</b> (aggregated)<br>from {when}<br>{text(reasons)}")
            continue
        line = f"<b>{text(handle or account, 60)}</b> ({text(account, 40)})<br>{when}"
        line += f"<br>bot score {score:.2f}: {text(reasons)}<br>reach {desc:,}"
        if cluster is not None:
            line += f"<br>coordination cluster {text(cluster, 40)}"
        out.append(line)
    return out


def _edges(nodes: pl.DataFrame, gl: bool) -> list[go.BaseTraceType]:
    x = nodes["x"].to_numpy()
    y = nodes["y"].to_numpy()
    parent = nodes["parent"].to_numpy()
    source = _edge_kinds(nodes)
    Trace = go.Scattergl if gl else go.Scatter
    traces = []
    for kind, style in EDGE_STYLE.items():
        child = np.flatnonzero((parent >= 0) & (source == kind))
        if len(child) == 0:
            continue
        # One polyline per kind: parent -> child, then a gap (NaN).
        ex = np.column_stack([x[parent[child]], x[child], np.full(len(child), np.nan)]).ravel()
        ey = np.column_stack([y[parent[child]], y[child], np.full(len(child), np.nan)]).ravel()
        traces.append(
            Trace(
                x=ex,
                y=ey,
                mode="lines",
                line=dict(width=0.7, **style),
                hoverinfo="skip",
                name=f"parent {kind}",
            )
        )
    return traces


def node_trace_index(nodes: pl.DataFrame) -> int:
    """Index of the node trace in :func:`cascade`'s figure (after the edge traces)."""
    parent = nodes["parent"].to_numpy()
    return len(set(_edge_kinds(nodes)[parent >= 0].tolist()))


def _edge_kinds(nodes: pl.DataFrame) -> np.ndarray:
    kinds = nodes["parent_source"].fill_null("explicit").to_numpy().astype(object)
    known = np.isin(kinds, list(EDGE_STYLE))
    kinds[~known] = "inferred"
    return kinds


def cascade(nodes: pl.DataFrame, *, title: str = "", gl: bool = True) -> go.Figure:
    """The share network of one cascade.

    Nodes coloured by bot score, sized by reach (log of descendants), coordinated
    accounts ringed, edges styled by how the parent was decided (explicit, inferred,
    aggregate). WebGL (``gl=True``) keeps 50,000 nodes interactive; ``gl=False`` is the
    SVG baseline the benchmark compares against. ``customdata`` holds the account id.
    """
    if nodes.height == 0:
        return empty("no such cascade in this snapshot")
    Trace = go.Scattergl if gl else go.Scatter
    reach = np.log1p(nodes["descendants"].to_numpy() + nodes["count"].to_numpy() - 1)
    size = 4 + 14 * reach / max(reach.max(), 1.0)
    agg = nodes["aggregate"].to_numpy()
    traces = _edges(nodes, gl)
    traces.append(
        Trace(
            x=nodes["x"].to_numpy(),
            y=nodes["y"].to_numpy(),
            mode="markers",
            name="posts",
            marker=dict(
                size=size,
                color=nodes["bot_score"].to_numpy(),
                colorscale=BOT_SCALE,
                cmin=0,
                cmax=1,
                symbol=np.where(agg, "square", "circle"),
                line=dict(width=0.3, color="#444"),
                colorbar=dict(title="bot score", thickness=12),
            ),
            customdata=nodes["account_id"].fill_null("").to_numpy(),
            hovertext=_hover(nodes),
            hoverinfo="text",
            selected=dict(marker=dict(opacity=1.0)),
            unselected=dict(marker=dict(opacity=0.07)),
        )
    )
    coord = np.flatnonzero(nodes["cluster_id"].is_not_null().to_numpy())
    if len(coord):
        traces.append(
            Trace(
                x=nodes["x"].to_numpy()[coord],
                y=nodes["y"].to_numpy()[coord],
                mode="markers",
                name="coordinated account",
                marker=dict(
                    size=size[coord] + 6,
                    symbol="circle-open",
                    color="#6a0dad",
                    line=dict(width=2, color="#6a0dad"),
                ),
                hoverinfo="skip",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(
        **_LAYOUT,
        title=text(title, 120),
        showlegend=True,
        legend=dict(orientation="h", y=-0.02),
        xaxis=dict(visible=False),
        yaxis=dict(visible=False, scaleanchor="x"),
        dragmode="pan",
        uirevision="cascade",
        clickmode="event",
        hovermode="closest",
    )
    return fig


def cascade_timeline(nodes: pl.DataFrame, until: float | None = None) -> go.Figure:
    """Cumulative shares over time, bot-like accounts against the others."""
    if nodes.height == 0:
        return empty("no posts")
    df = nodes.select("created_at", "is_bot_like", "count").sort("created_at")
    end = df["created_at"][-1]
    fig = go.Figure()
    for label, mask, color in (
        ("bot-like accounts", df["is_bot_like"], "#d7191c"),
        ("other accounts", ~df["is_bot_like"], "#2b83ba"),
    ):
        part = df.filter(mask)
        # Each line runs to the cascade's last post, so the two end side by side.
        x = [*part["created_at"].to_list(), end]
        y = part["count"].cum_sum().to_list()
        y = [*y, y[-1] if y else 0]
        fig.add_trace(
            go.Scatter(x=x, y=y, mode="lines", line=dict(shape="hv", color=color), name=label)
        )
    if until is not None:
        start = df["created_at"][0]
        fig.add_vline(
            x=start + timedelta(seconds=float(until)), line=dict(color="#888", dash="dot")
        )
    fig.update_layout(
        **_LAYOUT,
        title="Cumulative shares",
        yaxis=dict(title="posts"),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"),
    )
    return fig


def narrative_timeline(df: pl.DataFrame) -> go.Figure:
    """Posts per hour in a narrative, stacked: bot-like accounts and the others."""
    if df.height == 0:
        return empty("no posts in this narrative")
    fig = go.Figure(
        [
            go.Bar(x=df["hour"].to_list(), y=df["others"].to_numpy(), name="other accounts"),
            go.Bar(x=df["hour"].to_list(), y=df["bots"].to_numpy(), name="bot-like accounts"),
        ]
    )
    fig.update_layout(**_LAYOUT, barmode="stack", title="Posts per hour", yaxis=dict(title="posts"))
    return fig


def coordination(pairs: pl.DataFrame, xy: np.ndarray, accounts: Iterable[str]) -> go.Figure:
    """A co-share network: accounts (coloured by bot score) joined by co-share pairs."""
    accounts = list(accounts)
    if not accounts:
        return empty("no coordination pairs")
    index = {a: i for i, a in enumerate(accounts)}
    ia = np.array([index[a] for a in pairs["account_a"]])
    ib = np.array([index[b] for b in pairs["account_b"]])
    ex = np.column_stack([xy[ia, 0], xy[ib, 0], np.full(len(ia), np.nan)]).ravel()
    ey = np.column_stack([xy[ia, 1], xy[ib, 1], np.full(len(ia), np.nan)]).ravel()
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
    fig = go.Figure(
        [
            go.Scattergl(
                x=ex,
                y=ey,
                mode="lines",
                line=dict(width=0.6, color="rgba(100,100,100,0.4)"),
                hoverinfo="skip",
                name="co-share pair",
            ),
            go.Scattergl(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                marker=dict(
                    size=6 + 10 * np.sqrt(degree / max(degree.max(), 1)),
                    color=bot,
                    colorscale=BOT_SCALE,
                    cmin=0,
                    cmax=1,
                    colorbar=dict(title="bot score", thickness=12),
                    line=dict(width=0.5, color="#333"),
                ),
                customdata=accounts,
                hovertext=[
                    f"<b>{text(h or a, 60)}</b> ({text(a, 40)})<br>bot score {b:.2f}<br>"
                    f"{d} co-share partners"
                    for a, h, b, d in zip(accounts, handle, bot, degree, strict=True)
                ],
                hoverinfo="text",
                name="account",
            ),
        ]
    )
    fig.update_layout(
        **_LAYOUT,
        title=f"Co-share network ({len(accounts):,} accounts, {pairs.height:,} pairs)",
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        showlegend=False,
        hovermode="closest",
    )
    return fig

"""Cascade: one cascade's share network, its growth replay, timeline and account panel.

State in the URL: ``/cascade?id=CASCADE_ID&layout=radial|tree``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import numpy as np
from dash import Input, Output, Patch, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import download, kv, url_state
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__, path="/cascade", name="Cascade", title="spreadtrace · cascade", order=1
)

STEPS = 50


def radial_for(cascade_id: str, kind: str | None) -> bool:
    """The layout to draw: as asked, or (auto) radial for large shallow cascades, whose
    top-down drawing would be a flat comb, and top-down for small or deep ones."""
    if kind in ("radial", "tree"):
        return kind == "radial"
    info = queries.run(dq.cascade_info, cascade_id)
    return info is not None and info["size"] > 300 and info["depth"] <= 10


def _fmt(value: object, pattern: str = "{:.3f}") -> object:
    return None if value is None else pattern.format(value)


def layout(id: str | None = None, layout: str = "auto", **_: Any) -> html.Div:
    if not id:
        return html.Div(
            [
                html.H2("Cascade"),
                html.P(
                    "Open a cascade from the overview table (or /cascade?id=CASCADE_ID).",
                    className="note",
                ),
            ]
        )
    try:
        info = queries.run(dq.cascade_info, id)
    except StoreError as exc:
        return html.Div([html.H2("Cascade"), html.P(str(exc), className="note")])
    if info is None:
        return html.Div(
            [html.H2("Cascade"), html.P(f"No cascade {id!r} in this snapshot.", className="note")]
        )
    facts = kv(
        [
            ("cascade", info["cascade_id"]),
            ("root account", f"{info['root_handle'] or ''} ({info['root_account_id']})"),
            ("platform", info["platform"]),
            ("posts / accounts", f"{info['size']:,} / {info['accounts']:,}"),
            ("depth / max breadth", f"{info['depth']} / {info['max_breadth']:,}"),
            ("structural virality", _fmt(info["structural_virality"], "{:.2f}")),
            (
                "first / last post",
                f"{info['first_at']:%Y-%m-%d %H:%M} → {info['last_at']:%Y-%m-%d %H:%M} UTC",
            ),
            (
                "time to 50% / 90%",
                f"{_fmt(info['time_to_50_s'], '{:,.0f}')} s / {_fmt(info['time_to_90_s'], '{:,.0f}')} s",
            ),
            ("reconstruction", info["reconstruction"]),
            ("narrative", info["narrative_id"]),
            ("bot share (early)", f"{_fmt(info['bot_share'])} ({_fmt(info['early_bot_share'])})"),
            ("coordinated share", _fmt(info["coordinated_share"])),
            (
                "amplification",
                f"{_fmt(info['amplification_score'])}: {info['amplification_reasons'] or ''}",
            ),
        ]
    )
    links = []
    if info["narrative_id"]:
        links.append(
            dcc.Link("open narrative", href="/narrative?" + urlencode({"id": info["narrative_id"]}))
        )
    return html.Div(
        [
            dcc.Store(id=ids.CA_ID, data=id),
            html.H2(f"Cascade {id}"),
            html.Div(
                [
                    html.Div([facts, *links], className="panel", style={"flex": "0 0 24em"}),
                    html.Div(
                        [
                            dcc.RadioItems(
                                id=ids.CA_LAYOUT,
                                options=[
                                    {"label": " auto", "value": "auto"},
                                    {"label": " radial", "value": "radial"},
                                    {"label": " top-down", "value": "tree"},
                                ],
                                value=layout if layout in ("radial", "tree") else "auto",
                                inline=True,
                                inputStyle={"marginLeft": "0.8em"},
                            ),
                            html.Div(id=ids.CA_NOTE),
                            dcc.Graph(
                                id=ids.CA_GRAPH,
                                style={"height": "620px"},
                                config={"scrollZoom": True, "displaylogo": False},
                            ),
                            html.Label("replay growth: posts up to"),
                            dcc.Slider(
                                id=ids.CA_SLIDER,
                                min=0,
                                max=STEPS,
                                step=1,
                                value=STEPS,
                                marks=None,
                                tooltip={"placement": "bottom"},
                            ),
                        ],
                        className="panel",
                        style={"flex": "1 1 40em", "minWidth": 0},
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Div(dcc.Graph(id=ids.CA_TIMELINE), className="half panel"),
                    html.Div(
                        [
                            html.H3("Account"),
                            html.Div(
                                "Click a node to see the account.",
                                id=ids.CA_ACCOUNT,
                                className="muted",
                            ),
                            download(ids.CA_DOWNLOAD_BTN, ids.CA_DOWNLOAD, "Download posts (CSV)"),
                        ],
                        className="half panel",
                    ),
                ],
                className="row",
            ),
        ]
    )


@callback(
    Output(ids.CA_GRAPH, "figure"),
    Output(ids.CA_NOTE, "children"),
    Output(ids.CA_TIMELINE, "figure"),
    Output(ids.URL_STATE, "data", allow_duplicate=True),
    Input(ids.CA_ID, "data"),
    Input(ids.CA_LAYOUT, "value"),
    prevent_initial_call="initial_duplicate",
)
def render(cascade_id, layout_kind):
    """The network figure (WebGL), the aggregation note if any, and the timeline."""
    radial = radial_for(cascade_id, layout_kind)
    graph = queries.cascade_graph(cascade_id, radial=radial)
    title = f"{graph.posts:,} posts"
    note = None
    if graph.note:
        note = html.P(graph.note, className="note")
    state = url_state(
        "/cascade",
        {"id": cascade_id, "layout": layout_kind if layout_kind in ("radial", "tree") else ""},
    )
    return (
        figures.cascade(graph.nodes, title=title, equal_aspect=radial),
        note,
        figures.cascade_timeline(graph.nodes),
        state,
    )


@callback(
    Output(ids.CA_GRAPH, "figure", allow_duplicate=True),
    Output(ids.CA_TIMELINE, "figure", allow_duplicate=True),
    Input(ids.CA_SLIDER, "value"),
    State(ids.CA_ID, "data"),
    State(ids.CA_LAYOUT, "value"),
    prevent_initial_call=True,
)
def replay(step, cascade_id, layout_kind):
    """Fade the posts made after the slider's time (a Patch: the figure is not resent)."""
    graph = queries.cascade_graph(cascade_id, radial=radial_for(cascade_id, layout_kind))
    nodes = graph.nodes
    if nodes.height == 0:
        return no_update, no_update
    t = nodes["t"].to_numpy()
    until = float(t.max()) * (step if step is not None else STEPS) / STEPS
    patch = Patch()
    index = figures.node_trace_index(nodes)
    if step is None or step >= STEPS:
        patch["data"][index]["selectedpoints"] = None
    else:
        patch["data"][index]["selectedpoints"] = np.flatnonzero(t <= until).tolist()
    return patch, figures.cascade_timeline(
        nodes, until=until if step is not None and step < STEPS else None
    )


def account_panel(account_id: str | None) -> html.Div | str:
    """The account panel for a clicked node: profile, bot score and reasons, links."""
    if not account_id:
        return "This node stands for many posts (aggregated); zoom into a smaller cascade."
    info = queries.run(dq.account_info, account_id)
    if info is None:
        return f"No account {account_id!r} in this snapshot."
    return html.Div(
        [
            kv(
                [
                    ("account", info["account_id"]),
                    ("handle", info["handle"]),
                    ("display name", info["display_name"]),
                    ("followers", info["followers_count"]),
                    (
                        "bot score",
                        None if info["bot_score"] is None else f"{info['bot_score']:.2f}",
                    ),
                    ("reasons", info["bot_reasons"]),
                    ("coordination cluster", info["cluster_id"]),
                    (
                        "origin index",
                        None if info["origin_index"] is None else f"{info['origin_index']:.2f}",
                    ),
                ]
            ),
            dcc.Link(
                "open account page",
                href="/accounts?" + urlencode({"account": info["account_id"]}),
                id="ca-account-link",
            ),
        ]
    )


@callback(
    Output(ids.CA_ACCOUNT, "children"),
    Input(ids.CA_GRAPH, "clickData"),
    prevent_initial_call=True,
)
def click_node(click):
    """Clicking a node opens its account panel."""
    if not click or not click.get("points"):
        return no_update
    data = click["points"][0].get("customdata")
    return account_panel(data[0] if isinstance(data, list | tuple) and data else data)


@callback(
    Output(ids.CA_DOWNLOAD, "data"),
    Input(ids.CA_DOWNLOAD_BTN, "n_clicks"),
    State(ids.CA_ID, "data"),
    prevent_initial_call=True,
)
def download_posts(n, cascade_id):
    """Every post of the cascade (not aggregated) with account, bot score and reasons."""
    if not n:
        return no_update
    return send(queries.run(dq.cascade_posts, cascade_id), f"cascade_{cascade_id}")

"""Account network: who amplified whom in a narrative (Hoaxy-style), exportable.

State in the URL: ``/network?narrative=NARRATIVE_ID&limit=N``. Accounts are nodes
coloured by bot state, ringed when coordinated and sized by reach; edges are reposts,
quotes, replies and mentions, each drawn in its own style. Above ``limit`` accounts
(default :data:`queries.MAX_ACCOUNTS`) the graph is pruned to a k-core, and a note says
how much is shown. The toolbar's camera saves the drawing as PNG or SVG; the GEXF
button saves the drawn network for Gephi.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries, security
from spreadtrace.dashboard.components import as_int, shown
from spreadtrace.errors import StoreError
from spreadtrace.graph.account_network import network_gexf
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__,
    path="/network",
    name="Network",
    title="spreadtrace · account network",
    order=5,
    nav=False,
)

_GRAPH_CONFIG = {"displaylogo": False, "scrollZoom": True}


def layout(narrative: str | None = None, limit: str | None = None, **_: Any) -> html.Div:
    if not narrative:
        return html.Div(
            [
                html.H2("Account network"),
                html.P(
                    "Open it from a narrative's page (or /network?narrative=NARRATIVE_ID).",
                    className="note",
                ),
            ]
        )
    try:
        info = queries.run(dq.narrative_info, narrative)
    except StoreError as exc:
        return html.Div([html.H2("Account network"), html.P(str(exc), className="note")])
    if info is None:
        return html.Div(
            [
                html.H2("Account network"),
                html.P(f"No narrative {shown(narrative)!r} in this snapshot.", className="note"),
            ]
        )
    size = as_int(limit, queries.MAX_ACCOUNTS, queries.MAX_ACCOUNTS) or queries.MAX_ACCOUNTS
    net = queries.account_network(narrative, size)
    fig = figures.account_network(
        net.nodes, net.edges, title=f"Who amplified whom: {info['label']}"
    )
    return html.Div(
        [
            dcc.Store(id=ids.NW_ID, data={"narrative": narrative, "limit": size}),
            html.H2(["Account network of ", html.Bdi(shown(narrative))]),
            html.P(
                [
                    dcc.Link(
                        "back to the narrative", href="/narrative?" + urlencode({"id": narrative})
                    ),
                    f" · {net.accounts:,} accounts, {net.nodes.height:,} drawn, "
                    f"{net.edges.height:,} edges (an edge: the account that spread a post, "
                    "or mentioned an account, from the one it spread). Colour: bot state; "
                    "black ring: in a coordination cluster; size: reach. Click an account to "
                    "open it.",
                ],
                className="muted",
            ),
            html.Div(html.P(net.note, className="note") if net.note else None, id=ids.NW_NOTE),
            html.Div(
                [
                    html.Label("the camera button saves as "),
                    dcc.RadioItems(
                        id=ids.NW_IMAGE,
                        options=[
                            {"label": " PNG", "value": "png"},
                            {"label": " SVG", "value": "svg"},
                        ],
                        value="png",
                        inline=True,
                        inputStyle={"marginLeft": "0.6em"},
                    ),
                    html.Button(
                        "Download the drawn network (GEXF)", id=ids.NW_GEXF_BTN, n_clicks=0
                    ),
                    dcc.Download(id=ids.NW_GEXF_DOWNLOAD),
                ],
                className="download replay-bar",
            ),
            dcc.Graph(
                id=ids.NW_GRAPH,
                figure=fig,
                style={"height": "720px"},
                config={**_GRAPH_CONFIG, "toImageButtonOptions": image_options("png", narrative)},  # type: ignore[arg-type]
            ),
        ]
    )


def image_options(fmt: str, narrative: str) -> dict[str, Any]:
    """The camera button's export: PNG or SVG, named after the narrative."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(narrative))[:80]
    return {"format": "svg" if fmt == "svg" else "png", "filename": f"network_{safe}", "scale": 2}


@callback(
    Output(ids.NW_GRAPH, "config"),
    Input(ids.NW_IMAGE, "value"),
    State(ids.NW_ID, "data"),
    prevent_initial_call=True,
)
def image_format(fmt, state):
    """PNG or SVG from the toolbar's camera button."""
    if not state:
        return no_update
    return {**_GRAPH_CONFIG, "toImageButtonOptions": image_options(fmt, state["narrative"])}


@callback(
    Output(ids.NW_GEXF_DOWNLOAD, "data"),
    Input(ids.NW_GEXF_BTN, "n_clicks"),
    State(ids.NW_ID, "data"),
    prevent_initial_call=True,
)
def download_gexf(n, state):
    """The drawn network (after pruning, as shown) as GEXF for Gephi."""
    if not n or not state:
        return no_update
    net = queries.account_network(state["narrative"], int(state["limit"]))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(state["narrative"]))[:80]
    name = f"network_{safe}.gexf"
    security.audit("export", file=name, rows=net.nodes.height)
    return {
        "content": network_gexf(net.nodes, net.edges),
        "filename": name,
        "type": "application/xml",
    }


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.NW_GRAPH, "clickData"),
    prevent_initial_call=True,
)
def open_account(click):
    """Clicking an account opens its page."""
    if not click or not click.get("points") or not click["points"][0].get("customdata"):
        return no_update
    return "/accounts?" + urlencode({"account": click["points"][0]["customdata"]})

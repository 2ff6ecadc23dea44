"""Coordination: clusters of accounts that co-share, as a network, with statistics.

State in the URL: ``/coordination?cluster=CLUSTER_ID`` (default: the largest cluster).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
import numpy as np
import polars as pl
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import (
    clicked_value,
    download,
    duration,
    table,
    url_state,
)
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.graph.layout import force_layout
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__, path="/coordination", name="Coordination", title="spreadtrace · coordination", order=4
)

CLUSTER_COLUMNS = [
    "cluster_id",
    "size",
    "pairs",
    "density",
    "mean_strength",
    "max_shared_items",
    "mean_bot_score",
    "bot_like",
]
PAIR_COLUMNS = [
    "account_a",
    "handle_a",
    "account_b",
    "handle_b",
    "shared_items",
    "strength",
    "cluster_id",
]
MAX_PAIRS = 5000


def layout(cluster: str | None = None, **_: Any) -> html.Div:
    try:
        clusters = queries.run(dq.cluster_table)
    except StoreError as exc:
        return html.Div([html.H2("Coordination"), html.P(str(exc), className="note")])
    if cluster is None and clusters.height:
        cluster = clusters["cluster_id"][0]
    if clusters.height == 0:
        return html.Div([html.H2("Coordination"), empty_reason()])
    return html.Div(
        [
            html.H2("Coordination"),
            html.P(
                "Accounts that repeatedly shared the same items within the build's time "
                "window; click a cluster to draw its co-share network.",
                className="muted",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.H3(
                                f"Clusters ({clusters.height:,}{'+' if clusters.height >= 500 else ''})"
                            ),
                            table(
                                ids.CO_CLUSTERS,
                                CLUSTER_COLUMNS,
                                server=False,
                                data=queries.records(clusters),
                            ),
                            download(
                                ids.CO_DOWNLOAD_BTN,
                                ids.CO_DOWNLOAD,
                                "Download pairs of this cluster (CSV)",
                            ),
                        ],
                        className="half panel",
                    ),
                    html.Div(
                        dcc.Graph(id=ids.CO_GRAPH, style={"height": "560px"}),
                        className="half panel",
                    ),
                ],
                className="row",
            ),
            dcc.Store(id=ids.CO_CLUSTER, data=cluster),
            html.Div(
                [html.H3("Co-share pairs"), table(ids.CO_PAIRS, PAIR_COLUMNS, server=False)],
                className="panel",
            ),
            html.Div(
                [
                    html.H3("Evidence: the items each pair both shared"),
                    html.P(
                        "For each pair and item, the two closest shares and the gap between "
                        "them; the items inside the build's co-share window made the pair.",
                        className="muted",
                    ),
                    table(ids.CO_EVIDENCE, EVIDENCE_COLUMNS, server=False),
                    download(
                        ids.CO_EVIDENCE_BTN,
                        ids.CO_EVIDENCE_DOWNLOAD,
                        "Download the evidence of this cluster (CSV)",
                    ),
                ],
                className="panel",
            ),
        ]
    )


def empty_reason() -> html.P:
    """Why there is no cluster: the build's window and minimum, and what to change."""
    p = queries.run(dq.coordination_params)
    window = p.get("window_s")
    shared = p.get("min_shared")
    if window is None or shared is None:
        return html.P(
            "No coordination clusters in this snapshot: no build with coordination has run "
            "yet, or it found no pair. Run `spreadtrace build`.",
            className="note",
            id="co-empty",
        )
    wider = max(int(window) * 10, 600)
    return html.P(
        f"No coordination clusters: no two accounts shared {shared} or more of the same "
        f"items within {duration(window)} of each other (strength ≥ "
        f"{p.get('min_strength', 0):g}). Try a wider window, `spreadtrace build --window "
        f"{wider}`, or `--min-shared {max(int(shared) - 1, 1)}`.",
        className="note",
        id="co-empty",
    )


def network(pairs: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Accounts of the pairs and their force-directed positions (weights = strength)."""
    accounts = sorted(set(pairs["account_a"]) | set(pairs["account_b"]))
    index = {a: i for i, a in enumerate(accounts)}
    edges = (
        np.column_stack(
            [[index[a] for a in pairs["account_a"]], [index[b] for b in pairs["account_b"]]]
        )
        if pairs.height
        else np.zeros((0, 2))
    )
    return accounts, force_layout(len(accounts), edges, pairs["strength"].to_numpy())


@callback(
    Output(ids.CO_GRAPH, "figure"),
    Output(ids.CO_PAIRS, "data"),
    Output(ids.URL_STATE, "data", allow_duplicate=True),
    Input(ids.CO_CLUSTER, "data"),
    prevent_initial_call="initial_duplicate",
)
def draw_cluster(cluster_id):
    """The cluster's co-share network (force-directed) and its pairs."""
    pairs = queries.run(dq.cluster_pairs, cluster_id, MAX_PAIRS)
    accounts, xy = network(pairs)
    title = None
    if pairs.height >= MAX_PAIRS:
        title = f"Strongest {MAX_PAIRS:,} co-share pairs of cluster {figures.text(cluster_id)}"
    fig = figures.coordination(pairs, xy, accounts, title=title)
    return fig, queries.records(pairs), url_state("/coordination", {"cluster": cluster_id})


@callback(
    Output(ids.CO_CLUSTER, "data"),
    Input(ids.CO_CLUSTERS, "active_cell"),
    State(ids.CO_CLUSTERS, "derived_viewport_data"),
    prevent_initial_call=True,
)
def pick_cluster(active_cell, data):
    value = clicked_value(active_cell, data, "cluster_id")
    return no_update if value is None else value


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.CO_GRAPH, "clickData"),
    prevent_initial_call=True,
)
def open_account(click):
    """Clicking an account in the network opens its page."""
    if not click or not click.get("points") or not click["points"][0].get("customdata"):
        return no_update
    return "/accounts?" + urlencode({"account": click["points"][0]["customdata"]})


@callback(
    Output(ids.CO_DOWNLOAD, "data"),
    Input(ids.CO_DOWNLOAD_BTN, "n_clicks"),
    State(ids.CO_CLUSTER, "data"),
    prevent_initial_call=True,
)
def download_pairs(n, cluster_id):
    """All co-share pairs of the cluster, as safe CSV."""
    if not n:
        return no_update
    pairs = queries.run(dq.cluster_pairs, cluster_id, 10_000_000)
    return send(pairs.select(PAIR_COLUMNS), f"coordination_{cluster_id or 'all'}_pairs")


EVIDENCE_COLUMNS = [
    "account_a",
    "account_b",
    "root_id",
    "item_url",
    "post_a",
    "shared_at_a",
    "post_b",
    "shared_at_b",
    "gap_s",
]


@callback(Output(ids.CO_EVIDENCE, "data"), Input(ids.CO_CLUSTER, "data"))
def show_evidence(cluster_id):
    """The co-shared items of the cluster's pairs, closest first within each pair."""
    return queries.records(queries.run(dq.cluster_evidence, cluster_id, MAX_PAIRS))


@callback(
    Output(ids.CO_EVIDENCE_DOWNLOAD, "data"),
    Input(ids.CO_EVIDENCE_BTN, "n_clicks"),
    State(ids.CO_CLUSTER, "data"),
    prevent_initial_call=True,
)
def download_evidence(n, cluster_id):
    """Every co-shared item of the cluster's pairs with both timestamps, as safe CSV."""
    if not n:
        return no_update
    rows = queries.run(dq.cluster_evidence, cluster_id, None)
    return send(rows, f"coordination_{cluster_id or 'all'}_evidence")

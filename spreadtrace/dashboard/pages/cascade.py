"""Cascade: one cascade's share network, its growth replay, timeline and account panel.

State in the URL: ``/cascade?id=CASCADE_ID&layout=radial|tree&edges=all``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import (
    account_href,
    account_list,
    download,
    duration,
    kv,
    percent,
    shown,
    spread_sources,
    url_state,
    when,
)
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


def _triggered_by() -> str | None:
    """The id of the input that fired the running callback (None when called directly)."""
    try:
        return dash.ctx.triggered_id
    except Exception:  # noqa: BLE001 -- no callback context: a plain function call
        return None


def _fmt(value: object, pattern: str = "{:.3f}") -> object:
    return None if value is None else pattern.format(value)


def layout(id: str | None = None, layout: str = "auto", edges: str = "", **_: Any) -> html.Div:
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
            [
                html.H2("Cascade"),
                html.P(
                    f"No cascade {shown(id)!r} in this snapshot (a newer build may have "
                    "merged it into another cascade).",
                    className="note",
                ),
            ]
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
                f"{when(info['first_at'])} → {when(info['last_at'])}",
            ),
            (
                "time to 50% / 90%",
                f"{duration(info['time_to_50_s'])} / {duration(info['time_to_90_s'])}",
            ),
            ("reconstruction", info["reconstruction"]),
            ("narrative", info["narrative_id"]),
            (
                "bot-like share (early)",
                f"{percent(info['bot_share'], 1)} ({percent(info['early_bot_share'], 1)})",
            ),
            ("coordinated share", percent(info["coordinated_share"], 1)),
            ("spread from accounts that are", spread_sources(info)),
            (
                "amplification",
                f"{_fmt(info['amplification_score'])}: {info['amplification_reasons'] or ''}",
            ),
        ]
    )
    links: list[Any] = []
    if info["root_account_id"]:
        links.append(
            dcc.Link(
                "open root account", href=account_href(info["root_account_id"]), id="ca-root-link"
            )
        )
        links.append(" · ")
    if info["narrative_id"]:
        links.append(
            dcc.Link("open narrative", href="/narrative?" + urlencode({"id": info["narrative_id"]}))
        )
    root_post = html.Div(
        [
            html.H3("Root post"),
            html.Blockquote(
                html.Bdi(info.get("root_text") or "unknown: the root post's text was not ingested"),
                className="post-text",
                id="ca-root-text",
            ),
        ]
    )
    return html.Div(
        [
            dcc.Store(id=ids.CA_ID, data=id),
            dcc.Store(id=ids.CA_EDGES, data="all" if edges == "all" else ""),
            dcc.Store(id=ids.CA_DRAWN),
            dcc.Store(id=ids.CA_REPLAY),
            html.Div(id=ids.CA_REPLAY_SINK, hidden=True),
            html.H2(["Cascade ", html.Bdi(shown(id))]),
            html.Div(
                [
                    html.Div(
                        [root_post, facts, *links], className="panel", style={"flex": "0 0 24em"}
                    ),
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
                            html.Button(id=ids.CA_EDGES_BTN, hidden=True, n_clicks=0),
                            dcc.Graph(
                                id=ids.CA_GRAPH,
                                style={"height": "620px"},
                                config={"scrollZoom": True, "displaylogo": False},
                            ),
                            html.Div(
                                "Hover over a post to see who shared it.",
                                id=ids.CA_HOVER,
                                className="muted hover-line",
                            ),
                            html.Div(
                                [
                                    html.Button("▶ play", id=ids.CA_PLAY, n_clicks=0),
                                    html.Label("replay growth: time", htmlFor=ids.CA_SLIDER),
                                    html.Span(
                                        "showing every post", id=ids.CA_CLOCK, className="clock"
                                    ),
                                ],
                                className="replay-bar",
                            ),
                            dcc.Interval(id=ids.CA_PLAY_TICK, interval=250, disabled=True),
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
            flagged_section(info["cascade_id"]),
        ]
    )


def flagged_section(cascade_id: str) -> html.Div:
    """The bot-like and coordinated accounts that shared into the cascade, with their
    reasons and evidence state, each linking to its account page (and cluster)."""
    rows = queries.records(queries.run(dq.cascade_flagged_accounts, cascade_id))
    return html.Div(
        [
            html.H3(f"Bot-like and coordinated accounts in this cascade ({len(rows):,})"),
            account_list(
                rows,
                ids.CA_FLAGGED,
                "None: no account that shared into this cascade is bot-like or in a "
                "coordination cluster.",
            ),
            download(ids.CA_FLAGGED_BTN, ids.CA_FLAGGED_DOWNLOAD, "Download these accounts (CSV)"),
        ],
        className="panel",
    )


@callback(
    Output(ids.CA_FLAGGED_DOWNLOAD, "data"),
    Input(ids.CA_FLAGGED_BTN, "n_clicks"),
    State(ids.CA_ID, "data"),
    prevent_initial_call=True,
)
def download_flagged(n, cascade_id):
    """The cascade's bot-like and coordinated accounts, every one, as safe CSV."""
    if not n:
        return no_update
    rows = queries.run(dq.cascade_flagged_accounts, cascade_id, None)
    return send(rows, f"cascade_{cascade_id}_flagged_accounts")


@callback(
    Output(ids.CA_GRAPH, "figure"),
    Output(ids.CA_NOTE, "children"),
    Output(ids.CA_TIMELINE, "figure"),
    Output(ids.CA_DRAWN, "data"),
    Output(ids.CA_REPLAY, "data"),
    Output(ids.CA_SLIDER, "value"),
    Output(ids.URL_STATE, "data", allow_duplicate=True),
    Output(ids.CA_EDGES_BTN, "children"),
    Output(ids.CA_EDGES_BTN, "hidden"),
    Input(ids.CA_ID, "data"),
    Input(ids.CA_LAYOUT, "value"),
    Input(ids.CA_EDGES, "data"),
    prevent_initial_call="initial_duplicate",
)
def render(cascade_id, layout_kind, edges=""):
    """The network figure (WebGL, binary arrays), the notes (aggregation, edges left
    out), the timeline, what was drawn (for hover and click lookups), the replay table
    and the edges button.

    The one callback the page runs on load; the slider is reset only when the layout
    or the edge set changes (on load it already stands at the end, so no second
    callback fires). Large cascades first draw only their backbone edges
    (:func:`figures.edge_selection`), said in a note; the button (``?edges=all``)
    draws them all.
    """
    all_edges = edges == "all"
    radial = radial_for(cascade_id, layout_kind)
    graph = queries.cascade_graph(cascade_id, radial=radial)
    if graph.posts == 0:
        # The page was opened on an older snapshot and a newer build merged or dropped
        # this cascade: say so, rather than fail on an empty drawing.
        gone = html.P(
            "This cascade is not in the current snapshot: a newer build merged it into "
            "another cascade or removed it. Open it again from the overview.",
            className="note",
        )
        return ({}, gone, {}, None, None, no_update, no_update, "", True)
    title = f"{graph.posts:,} posts"
    notes = []
    if graph.note:
        notes.append(html.P(graph.note, className="note"))
    selection = figures.edge_selection(graph.nodes, all_edges)
    full = figures.edge_selection(graph.nodes, False)
    if selection.reduced:
        notes.append(
            html.P(
                f"{selection.label()[0].upper()}{selection.label()[1:]} (the branching "
                "structure; every post is drawn). Drawing all edges is slow in browsers "
                "without graphics acceleration.",
                className="note",
            )
        )
    elif full.reduced:
        notes.append(html.P(f"Showing all {selection.total:,} share edges.", className="note"))
    state = url_state(
        "/cascade",
        {
            "id": cascade_id,
            "layout": layout_kind if layout_kind in ("radial", "tree") else "",
            "edges": "all" if all_edges and full.reduced else "",
        },
    )
    drawn = {
        "cascade_id": cascade_id,
        "radial": radial,
        "snapshot": graph.snapshot,
        "node_trace": (
            figures.node_trace_index(graph.nodes, all_edges) if graph.nodes.height else 0
        ),
    }
    replay = None
    if graph.nodes.height:
        replay = {
            **figures.replay_steps(graph.nodes, STEPS, all_edges),
            "token": f"{graph.snapshot}/{radial}/{edges}",
        }
    reset = STEPS if _triggered_by() in (ids.CA_LAYOUT, ids.CA_EDGES) else no_update
    button = (
        f"show all {full.total:,} edges"
        if not all_edges
        else f"show only the {full.shown:,} backbone edges"
    )
    return (
        figures.cascade(graph.nodes, title=title, equal_aspect=radial, all_edges=all_edges),
        notes or None,
        figures.cascade_timeline(graph.nodes),
        drawn,
        replay,
        reset,
        state,
        button,
        not full.reduced,
    )


@callback(
    Output(ids.CA_EDGES, "data"),
    Input(ids.CA_EDGES_BTN, "n_clicks"),
    State(ids.CA_EDGES, "data"),
    prevent_initial_call=True,
)
def toggle_edges(n, edges):
    """The edges button: all share edges, or back to the backbone."""
    if not n:
        return no_update
    return "" if edges == "all" else "all"


# The growth replay runs in the browser: it keeps a prefix of every trace (rows are in
# time order, see figures.replay_steps) with Plotly.restyle, so later posts fade and
# their edges and rings disappear, and moves the timeline's marker. Nothing is sent.
dash.clientside_callback(
    """
    function(step, replay) {
        const nu = window.dash_clientside.no_update;
        const gd = document.querySelector('#ca-graph .js-plotly-plot');
        if (!replay || !gd || !gd._fullData || step === null || step === undefined) {
            return nu;
        }
        let full = gd._spreadtraceReplay;
        if (!full || full.token !== replay.token || full.data !== gd.data) {
            // Keep the full arrays of this drawing (a new figure replaces gd.data).
            full = {token: replay.token, arrays: {}};
            for (const [i] of replay.prefix) {
                full.arrays[i] = [gd._fullData[i].x, gd._fullData[i].y];
            }
        }
        const end = step >= replay.steps;
        const k = replay.nodes[Math.min(step, replay.steps)];
        const xs = [], ys = [], traces = [];
        for (const [i, counts] of replay.prefix) {
            const [x, y] = full.arrays[i];
            const m = end ? x.length : counts[step];
            xs.push(x.subarray ? x.subarray(0, m) : x.slice(0, m));
            ys.push(y.subarray ? y.subarray(0, m) : y.slice(0, m));
            traces.push(i);
        }
        const selected = end ? null : Array.from({length: k}, (_, i) => i);
        Plotly.restyle(gd, {selectedpoints: [selected]}, [replay.node_trace]);
        if (traces.length) {
            Plotly.restyle(gd, {x: xs, y: ys}, traces);
        }
        full.data = gd.data;
        gd._spreadtraceReplay = full;
        const tl = document.querySelector('#ca-timeline .js-plotly-plot');
        if (tl && tl._fullLayout) {
            const at = end ? null : replay.times[step];
            Plotly.relayout(tl, {shapes: at === null ? [] : [{
                type: 'line', xref: 'x', yref: 'paper', x0: at, x1: at, y0: 0, y1: 1,
                line: {color: '#888', dash: 'dot'}}]});
        }
        return end ? '' : String(k);
    }
    """,
    Output(ids.CA_REPLAY_SINK, "children"),
    Input(ids.CA_SLIDER, "value"),
    State(ids.CA_REPLAY, "data"),
    prevent_initial_call=True,
)


def _drawn_row(drawn: dict | None, point: dict) -> dict | str:
    """The ``nodes`` row of the drawn post under the mouse, or why there is none."""
    if not drawn:
        return "The network is still loading."
    graph = queries.cascade_graph(
        drawn["cascade_id"], radial=bool(drawn["radial"]), snapshot=drawn["snapshot"]
    )
    if graph is None:
        return "A newer build was published since this drawing: reload the page."
    i = point.get("pointNumber", point.get("pointIndex"))
    if not isinstance(i, int) or not 0 <= i < graph.nodes.height:
        return "Not a post of this drawing."
    return graph.nodes.row(i, named=True)


def _node_point(event: dict | None, drawn: dict | None) -> dict | None:
    """The event's point on the node trace (the other traces take no hover)."""
    if not event or not event.get("points"):
        return None
    point = event["points"][0]
    if drawn and "node_trace" in drawn and point.get("curveNumber") != drawn["node_trace"]:
        return None
    return point


def hover_line(row: dict) -> list:
    """One line about a drawn post: account, time, bot score and first reason (as text)."""
    at = when(row["created_at"], seconds=True) if row["created_at"] else ""
    if row["aggregate"]:
        return [
            html.B(f"{row['count']:,} posts drawn as one node"),
            " (replies: conversation)" if row.get("conversation") else "",
            f" · from {at} · ",
            row["bot_reasons"] or "",
        ]
    reason = (row["bot_reasons"] or "").split("; ")[0]
    # The handle and id are untrusted: each in its own <bdi> (and cut), so a U+202E in
    # a handle cannot mirror the time and score after it, nor a 5,000-character id
    # widen the page.
    return [
        "reply (conversation, not a share) · " if row.get("conversation") else "",
        html.B(html.Bdi(shown(row["handle"] or row["account_id"] or ""))),
        " (",
        html.Bdi(shown(row["account_id"])),
        f") · {at} · bot score {row['bot_score']:.2f}",
        f": {reason}" if reason else "",
        f" · reach {row['descendants']:,}",
    ]


@callback(
    Output(ids.CA_HOVER, "children"),
    Input(ids.CA_GRAPH, "hoverData"),
    State(ids.CA_DRAWN, "data"),
    prevent_initial_call=True,
)
def hover_node(hover, drawn):
    """Who shared the hovered post: fetched for that one node (not sent for every node)."""
    point = _node_point(hover, drawn)
    if point is None:
        return no_update
    row = _drawn_row(drawn, point)
    if isinstance(row, str):
        return row
    text = queries.run(dq.post_text, row["post_id"]) if row["post_id"] else None
    if not text:
        return hover_line(row)
    return [*hover_line(row), html.Div(html.Bdi(shown(text, 1000)), className="post-text")]


def account_panel(account_id: str | None) -> html.Div | str:
    """The account panel for a clicked node: profile, bot score and reasons, links."""
    if not account_id:
        return "This node stands for many posts (aggregated); zoom into a smaller cascade."
    info = queries.run(dq.account_info, account_id)
    if info is None:
        return f"No account {shown(account_id)!r} in this snapshot."
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
    State(ids.CA_DRAWN, "data"),
    prevent_initial_call=True,
)
def click_node(click, drawn):
    """Clicking a node opens its account panel (the node found by its row number)."""
    point = _node_point(click, drawn)
    if point is None:
        return no_update
    row = _drawn_row(drawn, point)
    return row if isinstance(row, str) else account_panel(row["account_id"])


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


# The replay's clock: the moment the slider stands at, and how many posts are shown.
dash.clientside_callback(
    """
    function(step, replay) {
        if (!replay || step === null || step === undefined || step >= replay.steps) {
            return 'showing every post';
        }
        const at = String(replay.times[step]).replace('T', ' ').slice(0, 19);
        const k = replay.nodes[step];
        return at + ' ' + (replay.tz || 'UTC') + ' · ' + k.toLocaleString('en') +
            (k === 1 ? ' post' : ' posts');
    }
    """,
    Output(ids.CA_CLOCK, "children"),
    Input(ids.CA_SLIDER, "value"),
    Input(ids.CA_REPLAY, "data"),
)

# Play / pause: the button starts a timer that moves the slider one step a tick (from
# the start if it stood at the end) and stops at the end; pressing it again pauses.
dash.clientside_callback(
    """
    function(n, tick, disabled, step) {
        const nu = window.dash_clientside.no_update;
        const trig = (window.dash_clientside.callback_context.triggered[0] || {}).prop_id || '';
        if (trig.startsWith('ca-play.')) {
            if (!disabled) { return [true, '▶ play', nu]; }
            return [false, '❚❚ pause', (step === null || step >= __STEPS__) ? 0 : nu];
        }
        if (disabled) { return [nu, nu, nu]; }
        const next = Math.min((step || 0) + 1, __STEPS__);
        if (next >= __STEPS__) { return [true, '▶ play', next]; }
        return [nu, nu, next];
    }
    """.replace("__STEPS__", str(STEPS)),
    Output(ids.CA_PLAY_TICK, "disabled"),
    Output(ids.CA_PLAY, "children"),
    Output(ids.CA_SLIDER, "value", allow_duplicate=True),
    Input(ids.CA_PLAY, "n_clicks"),
    Input(ids.CA_PLAY_TICK, "n_intervals"),
    State(ids.CA_PLAY_TICK, "disabled"),
    State(ids.CA_SLIDER, "value"),
    prevent_initial_call=True,
)

"""Overview: headline counts, the top cascades and narratives, size and bot-share plots.

State in the URL: ``?from=&to=&platform=&narrative=&min_size=&min_bot=&min_amp=``.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import (
    as_date,
    as_float,
    as_int,
    card,
    download,
    row_link,
    sort_pairs,
    table,
    text_tooltips,
    url_state,
)
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.store import dashboard_queries as dq

dash.register_page(__name__, path="/", name="Overview", title="spreadtrace · overview", order=0)

PAGE_SIZE = 15


def _filter(start, end, platform, narrative, min_size, min_bot, min_amp) -> dq.CascadeFilter:
    return dq.CascadeFilter(
        start=as_date(start),
        end=as_date(end),
        platform=platform or None,
        narrative_id=narrative or None,
        min_size=as_int(min_size),
        min_bot_share=as_float(min_bot),
        min_amplification=as_float(min_amp),
    )


def _slider(id: str, value: float) -> dcc.Slider:
    return dcc.Slider(
        id=id,
        min=0,
        max=1,
        step=0.05,
        value=value,
        marks={0: "0", 0.5: "0.5", 1: "1"},
        tooltip={"placement": "bottom"},
        updatemode="mouseup",
    )


def layout(**query: Any) -> html.Div:
    try:
        head = queries.run(dq.headline)
        platforms = queries.run(dq.platforms)
        narratives = queries.run(dq.narrative_options)
    except StoreError as exc:
        return html.Div([html.H2("Overview"), html.P(str(exc), className="note")])
    flt = _filter(
        query.get("from"),
        query.get("to"),
        query.get("platform"),
        query.get("narrative"),
        query.get("min_size"),
        query.get("min_bot"),
        query.get("min_amp"),
    )
    cards = [
        card("posts", head["posts"]),
        card("accounts", head["accounts"]),
        card("cascades", head["cascades"]),
        card("cascades ≥ 10 posts", head["cascades_10"]),
        card("narratives", head["narratives"]),
        card("bot-like accounts", head["bot_like"]),
        card("coordination clusters", head["clusters"]),
        card(
            "last build", f"#{head['build_id']} · {head['built_at']}" if head["build_id"] else None
        ),
    ]
    filters = html.Div(
        [
            html.Div(
                [
                    html.Label("first post between"),
                    dcc.DatePickerRange(
                        id=ids.OV_DATES,
                        start_date=None if flt.start is None else flt.start.isoformat(),
                        end_date=None if flt.end is None else flt.end.isoformat(),
                        display_format="YYYY-MM-DD",
                        clearable=True,
                    ),
                ],
                style={"gridColumn": "span 2"},
            ),
            html.Div(
                [
                    html.Label("platform"),
                    dcc.Dropdown(
                        id=ids.OV_PLATFORM,
                        options=[{"label": p, "value": p} for p in platforms],
                        value=flt.platform,
                        placeholder="any",
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("narrative"),
                    dcc.Dropdown(
                        id=ids.OV_NARRATIVE,
                        options=[
                            {"label": f"{nid} · {label[:60]}", "value": nid}
                            for nid, label in narratives
                        ],
                        value=flt.narrative_id,
                        placeholder="any",
                    ),
                ]
            ),
            html.Div(
                [
                    html.Label("minimum size"),
                    dcc.Input(
                        id=ids.OV_MIN_SIZE,
                        type="number",
                        min=0,
                        step=1,
                        value=flt.min_size or None,
                        debounce=True,
                        placeholder="posts",
                    ),
                ]
            ),
            html.Div(),
            html.Div(
                [html.Label("minimum bot share"), _slider(ids.OV_MIN_BOT, flt.min_bot_share)],
                style={"gridColumn": "span 2"},
            ),
            html.Div(
                [
                    html.Label("minimum amplification score"),
                    _slider(ids.OV_MIN_AMP, flt.min_amplification),
                ],
                style={"gridColumn": "span 2"},
            ),
        ],
        className="filters",
    )
    return html.Div(
        [
            html.H2("Overview"),
            html.Div(cards, className="cards", id=ids.OV_HEADLINE),
            filters,
            html.Div(
                [
                    html.H3(["Cascades ", html.Span(id=ids.OV_COUNT, className="muted")]),
                    html.P(
                        "Click a row to open the cascade. Sort by any column.", className="muted"
                    ),
                    table(ids.OV_TABLE, dq.CASCADE_COLUMNS, page_size=PAGE_SIZE),
                    download(ids.OV_DOWNLOAD_BTN, ids.OV_DOWNLOAD, "Download these cascades (CSV)"),
                ],
                className="panel",
            ),
            html.Div(
                [
                    html.Div(dcc.Graph(id=ids.OV_CCDF), className="half panel"),
                    html.Div(dcc.Graph(id=ids.OV_BOTS), className="half panel"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.H3("Narratives"),
                    html.P("Click a row to open the narrative.", className="muted"),
                    table(ids.OV_NARR_TABLE, dq.NARRATIVE_COLUMNS, page_size=10),
                    download(ids.OV_NARR_DOWNLOAD_BTN, ids.OV_NARR_DOWNLOAD),
                ],
                className="panel",
            ),
        ]
    )


FILTER_INPUTS = [
    Input(ids.OV_DATES, "start_date"),
    Input(ids.OV_DATES, "end_date"),
    Input(ids.OV_PLATFORM, "value"),
    Input(ids.OV_NARRATIVE, "value"),
    Input(ids.OV_MIN_SIZE, "value"),
    Input(ids.OV_MIN_BOT, "value"),
    Input(ids.OV_MIN_AMP, "value"),
]


@callback(
    Output(ids.OV_TABLE, "data"),
    Output(ids.OV_TABLE, "page_count"),
    Output(ids.OV_COUNT, "children"),
    Output(ids.URL_STATE, "data", allow_duplicate=True),
    *FILTER_INPUTS,
    Input(ids.OV_TABLE, "page_current"),
    Input(ids.OV_TABLE, "sort_by"),
    prevent_initial_call="initial_duplicate",
)
def update_table(start, end, platform, narrative, min_size, min_bot, min_amp, page, sort_by):
    """The filtered, sorted page of cascades, the match count, and the URL state."""
    flt = _filter(start, end, platform, narrative, min_size, min_bot, min_amp)
    page = as_int(page)
    rows, total = queries.run(
        dq.cascade_table, flt, sort=sort_pairs(sort_by), limit=PAGE_SIZE, offset=page * PAGE_SIZE
    )
    state = url_state(
        "/",
        {
            "from": flt.start and flt.start.isoformat(),
            "to": flt.end and flt.end.isoformat(),
            "platform": flt.platform,
            "narrative": flt.narrative_id,
            "min_size": flt.min_size,
            "min_bot": flt.min_bot_share,
            "min_amp": flt.min_amplification,
        },
    )
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return queries.records(rows), pages, f"({total:,} match)", state


@callback(
    Output(ids.OV_CCDF, "figure"),
    Output(ids.OV_BOTS, "figure"),
    *FILTER_INPUTS,
)
def update_figures(start, end, platform, narrative, min_size, min_bot, min_amp):
    """The size CCDF and the bot share by size heatmap of the filtered cascades."""
    flt = _filter(start, end, platform, narrative, min_size, min_bot, min_amp)
    return (
        figures.ccdf(queries.run(dq.size_counts, flt)),
        figures.bot_share_by_size(queries.run(dq.bot_share_by_size, flt)),
    )


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.OV_TABLE, "active_cell"),
    State(ids.OV_TABLE, "data"),
    prevent_initial_call=True,
)
def open_cascade(active_cell, data):
    """Clicking a cascade row opens its page."""
    href = row_link(active_cell, data, "/cascade", "id", "cascade_id")
    return no_update if href is None else href


@callback(
    Output(ids.OV_DOWNLOAD, "data"),
    Input(ids.OV_DOWNLOAD_BTN, "n_clicks"),
    *[State(i.component_id, i.component_property) for i in FILTER_INPUTS],
    State(ids.OV_TABLE, "sort_by"),
    prevent_initial_call=True,
)
def download_cascades(n, start, end, platform, narrative, min_size, min_bot, min_amp, sort_by):
    """Every filtered cascade (not just the page on screen), as safe CSV."""
    if not n:
        return no_update
    flt = _filter(start, end, platform, narrative, min_size, min_bot, min_amp)
    rows, _ = queries.run(dq.cascade_table, flt, sort=sort_pairs(sort_by), limit=None)
    return send(rows, "cascades")


@callback(
    Output(ids.OV_NARR_TABLE, "data"),
    Output(ids.OV_NARR_TABLE, "page_count"),
    Input(ids.OV_NARR_TABLE, "page_current"),
    Input(ids.OV_NARR_TABLE, "sort_by"),
)
def update_narratives(page, sort_by):
    page = as_int(page)
    rows, total = queries.run(
        dq.narrative_table, sort=sort_pairs(sort_by), limit=10, offset=page * 10
    )
    return queries.records(rows), max((total + 9) // 10, 1)


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.OV_NARR_TABLE, "active_cell"),
    State(ids.OV_NARR_TABLE, "data"),
    prevent_initial_call=True,
)
def open_narrative(active_cell, data):
    href = row_link(active_cell, data, "/narrative", "id", "narrative_id")
    return no_update if href is None else href


@callback(
    Output(ids.OV_NARR_DOWNLOAD, "data"),
    Input(ids.OV_NARR_DOWNLOAD_BTN, "n_clicks"),
    State(ids.OV_NARR_TABLE, "sort_by"),
    prevent_initial_call=True,
)
def download_narratives(n, sort_by):
    if not n:
        return no_update
    rows, _ = queries.run(dq.narrative_table, sort=sort_pairs(sort_by), limit=None)
    return send(rows, "narratives")


@callback(Output(ids.OV_TABLE, "tooltip_data"), Input(ids.OV_TABLE, "data"))
def cascade_tooltips(data):
    """The full root text (and reasons) of each row on hover; the cell shows a preview."""
    return text_tooltips(data)


@callback(Output(ids.OV_NARR_TABLE, "tooltip_data"), Input(ids.OV_NARR_TABLE, "data"))
def narrative_tooltips(data):
    """Narrative labels in full on hover."""
    return text_tooltips(data)

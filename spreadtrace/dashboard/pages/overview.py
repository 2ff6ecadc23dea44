"""Overview: headline counts, the top cascades and narratives, size and bot-share plots.

State in the URL: ``?from=&to=&platform=&narrative=&min_size=&min_bot=&min_amp=``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import (
    as_date,
    as_float,
    as_int,
    card,
    correction_line,
    current_tz,
    decomposition_bar,
    download,
    localize,
    remember_tz,
    row_link,
    shown,
    sort_pairs,
    sparkline,
    table,
    table_columns,
    text_tooltips,
    time_zone,
    url_state,
    when,
)
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.reports import AlertParams
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
        first_day, last_day = queries.run(dq.data_range)
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
    # the link's ?tz=, else the analyst's last choice (see app.guard_layout)
    tz = time_zone(query["tz"]) if query.get("tz") else current_tz()
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
                        # bounded to the data: a 2015 collection opens on 2015
                        min_date_allowed=first_day and first_day.isoformat(),
                        max_date_allowed=last_day and last_day.isoformat(),
                        initial_visible_month=(
                            (flt.start or first_day) and (flt.start or first_day).isoformat()
                        ),
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
            html.Div(
                [
                    html.Label("times shown in"),
                    dcc.Dropdown(
                        id=ids.OV_TZ,
                        options=[{"label": z, "value": z} for z in TIME_ZONES],
                        value=tz,
                        clearable=False,
                        searchable=True,
                    ),
                ]
            ),
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
                    html.H3("What is spreading: narratives"),
                    html.P(
                        f"Ranked by amplification among narratives with at least "
                        f"{dq.MIN_NARRATIVE_POSTS} posts by {dq.MIN_NARRATIVE_ACCOUNTS} accounts "
                        "(fewer is too little evidence: a 2-post item whose second post is a "
                        "bot's scores 1.0) and a cascade matching the filters.",
                        className="muted",
                    ),
                    html.Div(id=ids.OV_SPREADING, className="spreading"),
                ],
                className="panel",
            ),
            html.Div(
                [
                    html.H3("Alerts: rate surges"),
                    html.Div(id=ids.OV_ALERTS, className="alerts"),
                ],
                className="panel",
            ),
            html.Div(
                [
                    html.H3(["Cascades ", html.Span(id=ids.OV_COUNT, className="muted")]),
                    html.P(
                        "Click a row to open the cascade. Sort by any column.", className="muted"
                    ),
                    table(ids.OV_TABLE, dq.CASCADE_COLUMNS, page_size=PAGE_SIZE, tz=tz),
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
                    table(ids.OV_NARR_TABLE, dq.NARRATIVE_COLUMNS, page_size=10, tz=tz),
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
    Input(ids.OV_TZ, "value"),
    prevent_initial_call="initial_duplicate",
)
def update_table(
    start, end, platform, narrative, min_size, min_bot, min_amp, page, sort_by, tz="UTC"
):
    """The filtered, sorted page of cascades (times in ``tz``), the match count, and
    the URL state."""
    tz = time_zone(tz)
    remember_tz(tz)  # the next pages keep the zone chosen here
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
            "tz": "" if tz == "UTC" else tz,
        },
    )
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return queries.records(rows, tz), pages, f"({total:,} match)", state


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
    Input(ids.OV_TZ, "value"),
)
def update_narratives(page, sort_by, tz="UTC"):
    page = as_int(page)
    rows, total = queries.run(
        dq.narrative_table, sort=sort_pairs(sort_by), limit=10, offset=page * 10
    )
    return queries.records(rows, time_zone(tz)), max((total + 9) // 10, 1)


TIME_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Kyiv", "Europe/Moscow",
              "America/New_York", "America/Chicago", "America/Los_Angeles",
              "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo",
              "Australia/Sydney", "Africa/Lagos"]  # fmt: skip
"""The time zones offered; any other IANA name works in the URL (``?tz=``)."""


def _when(iso: str | None, tz: str) -> str:
    if not iso:
        return "unknown"
    if iso.endswith("Z"):  # not yet shown in a zone
        iso = localize([{"first_at": iso}], tz)[0]["first_at"]
    return f"{iso[:16]} {tz}"


def spreading_rows(rows: list[dict[str, Any]], tz: str = "UTC") -> list[Any]:
    """One line per narrative: label (links to it), sparkline, origin handle, the
    decomposition bar and the amplification score."""
    if not rows:
        return [
            html.P(
                f"No narrative has {dq.MIN_NARRATIVE_POSTS} posts by "
                f"{dq.MIN_NARRATIVE_ACCOUNTS} accounts and a cascade matching the filters: "
                "widen the filters, or open the full list of narratives.",
                className="note",
            )
        ]
    out = []
    for r in rows:
        origin = r.get("origin_account_id")
        out.append(
            html.Div(
                [
                    html.Div(
                        [
                            dcc.Link(
                                html.Bdi(shown(r["label"], 160)),
                                href="/narrative?" + urlencode({"id": r["narrative_id"]}),
                                className="narr-link",
                            ),
                            html.Div(
                                f"{r['posts']:,} posts · {r['accounts']:,} accounts · "
                                f"{r['cascades']:,} cascades · since {_when(r['first_at'], tz)}",
                                className="muted",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Span(
                                sparkline(r["spark"] or []),
                                className="spark",
                                title="posts over its lifetime",
                            ),
                            html.Div(
                                [
                                    "origin: ",
                                    dcc.Link(
                                        html.Bdi(shown(r.get("origin_handle") or origin)),
                                        href="/accounts?" + urlencode({"account": origin}),
                                    )
                                    if origin
                                    else "unknown",
                                ],
                                className="muted",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Div(
                                "amplification "
                                + (
                                    "unknown"
                                    if r["amplification_score"] is None
                                    else f"{r['amplification_score']:.2f}"
                                )
                            ),
                            decomposition_bar(r),
                            html.Div(correction_line(r), className="muted corrections"),
                        ]
                    ),
                ],
                className="narr",
            )
        )
    return out


@callback(
    Output(ids.OV_SPREADING, "children"),
    *FILTER_INPUTS,
    Input(ids.OV_TZ, "value"),
)
def update_spreading(start, end, platform, narrative, min_size, min_bot, min_amp, tz="UTC"):
    """The lead list: narratives with enough evidence, filtered like the cascades."""
    flt = _filter(start, end, platform, narrative, min_size, min_bot, min_amp)
    tz = time_zone(tz)
    rows = queries.records(queries.run(dq.spreading_narratives, flt), tz)
    return spreading_rows(rows, tz)


@callback(
    Output(ids.OV_TABLE, "columns"),
    Output(ids.OV_NARR_TABLE, "columns"),
    Input(ids.OV_TZ, "value"),
    prevent_initial_call=True,
)
def time_zone_headers(tz):
    """The tables' time headers name the chosen time zone."""
    tz = time_zone(tz)
    return table_columns(dq.CASCADE_COLUMNS, tz), table_columns(dq.NARRATIVE_COLUMNS, tz)


@callback(Output(ids.OV_ALERTS, "children"), Input(ids.OV_TZ, "value"))
def update_alerts(tz="UTC"):
    """The alerts inbox, times in the chosen time zone."""
    return alerts_inbox(time_zone(tz))


def alerts_inbox(tz: str = "UTC", params: AlertParams | None = None) -> list[Any]:
    """The alerts.csv rule shown in the app: each surge with its evidence (shares in
    the window against the item's own earlier rate), linking to the item."""
    p = params or AlertParams()
    rows, end = queries.run(dq.alerts, window_s=p.window_s, floor=p.floor, ratio=p.ratio, at=p.at)
    if rows.height == 0:
        ended = when(end, tz)
        return [
            html.P(
                f"No alerts: no cascade or narrative got {p.floor} or more posts in the "
                f"{p.window_label} ending {ended} (the newest post) and {p.ratio:g}x its own "
                "earlier rate. The rule is the one of alerts.csv (`spreadtrace report "
                "--alert-window/--alert-ratio/--alert-floor`).",
                className="note",
            )
        ]
    out = []
    for r in queries.records(rows, tz):
        page = "/cascade" if r["kind"] == "cascade" else "/narrative"
        item = r["cascade_id"] if r["kind"] == "cascade" else r["narrative_id"]
        if r["earlier_shares"]:
            why = (
                f"{r['recent_shares']:,} shares in the {p.window_label} to {r['window_end']}, "
                f"{r['ratio']:g}x its earlier rate of {r['earlier_rate']:g} per "
                f"{p.window_label} ({r['earlier_shares']:,} earlier shares since "
                f"{r['first_at']})"
            )
        else:
            why = (
                f"new: {r['recent_shares']:,} shares in the {p.window_label} to "
                f"{r['window_end']}, no earlier activity"
            )
        out.append(
            html.Div(
                [
                    html.B(r["kind"] + " "),
                    dcc.Link(
                        html.Bdi(shown(item)),
                        href=f"{page}?" + urlencode({"id": item}),
                    ),
                    " · ",
                    html.Bdi(shown(r["label"], 160)),
                    html.Div(f"{why} ({tz})", className="muted"),
                ],
                className="alert",
            )
        )
    return out


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

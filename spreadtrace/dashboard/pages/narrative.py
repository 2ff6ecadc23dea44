"""Narrative: the origin ranking with reasons, the narrative's cascades, its timeline.

State in the URL: ``/narrative?id=NARRATIVE_ID`` (without an id: the list of narratives).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries, security
from spreadtrace.dashboard.brief import narrative_brief
from spreadtrace.dashboard.components import (
    account_href,
    account_list,
    as_int,
    cluster_href,
    download,
    item_list,
    kv,
    percent,
    row_link,
    shown,
    sort_pairs,
    spread_sources,
    table,
    when,
)
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__, path="/narrative", name="Narratives", title="spreadtrace · narrative", order=2
)

ORIGIN_COLUMNS = [
    "rank",
    "account_id",
    "handle",
    "origin_score",
    "first_at",
    "reach_share",
    "centrality",
    "reasons",
]


def correction_facts(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Claim against correction: reach of each, the delay, who met a correction."""
    if info.get("claim_posts") is None:
        return [("claim vs correction", "not computed in this build")]
    facts = [
        (
            "claim vs correction: posts / accounts",
            f"{info['claim_posts']:,} / {info['claim_accounts']:,} against "
            f"{info['correction_posts']:,} / {info['correction_accounts']:,}",
        )
    ]
    if info.get("notes"):
        shown = info.get("first_note_shown_at")
        facts.append(
            (
                "Community Notes (misleading)",
                f"{info['notes']:,}; first shown "
                + (when(shown) if shown else "never (not rated helpful)"),
            )
        )
    if info.get("first_correction_at") is None:
        facts.append(("first correction", "none (no fact-check link, no note)"))
    else:
        hours = (info["correction_delay_s"] or 0) / 3600
        facts += [
            (
                "first correction",
                f"{when(info['first_correction_at'])}, {hours:,.1f} h after the claim's first post",
            ),
            (
                "claim accounts that later met a correction",
                f"{info['claim_accounts_corrected'] or 0:.0%}",
            ),
        ]
    return facts


def layout(id: str | None = None, **_: Any) -> html.Div:
    try:
        info = queries.run(dq.narrative_info, id) if id else None
    except StoreError as exc:
        return html.Div([html.H2("Narratives"), html.P(str(exc), className="note")])
    if not id or info is None:
        missing = (
            [html.P(f"No narrative {shown(id)!r} in this snapshot.", className="note")]
            if id
            else []
        )
        return html.Div(
            [
                html.H2("Narratives"),
                *missing,
                html.P("Click a row to open the narrative.", className="muted"),
                table(ids.NA_TABLE, dq.NARRATIVE_COLUMNS),
                download(ids.NA_DOWNLOAD_BTN, ids.NA_DOWNLOAD),
            ]
        )
    facts = kv(
        [
            ("narrative", info["narrative_id"]),
            ("label", info["label"]),
            ("kind", info["kind"]),
            (
                "cascades / posts / accounts",
                f"{info['cascades']:,} / {info['posts']:,} / {info['accounts']:,}",
            ),
            (
                "first / last",
                f"{when(info['first_at'])} → {when(info['last_at'])}",
            ),
            ("most likely origin", info["origin_account_id"]),
            (
                "bot share (early)",
                f"{percent(info['bot_share'], 1)} ({percent(info['early_bot_share'], 1)})",
            ),
            ("coordinated share", percent(info["coordinated_share"], 1)),
            ("spread from accounts that are", spread_sources(info)),
            (
                "amplification",
                f"{info['amplification_score'] or 0:.3f}: {info['amplification_reasons'] or ''}",
            ),
            *correction_facts(info),
        ]
    )
    return html.Div(
        [
            dcc.Store(id=ids.NA_ID, data=id),
            html.H2(["Narrative ", html.Bdi(shown(id))]),
            html.Div(
                [
                    html.Button("Download a brief (HTML)", id=ids.NA_BRIEF_BTN, n_clicks=0),
                    dcc.Download(id=ids.NA_BRIEF_DOWNLOAD),
                    html.Span(
                        " one self-contained file with its figures, origin, decomposition, "
                        "accounts and evidence, for colleagues without the tool",
                        className="muted",
                    ),
                    " · ",
                    dcc.Link(
                        "its account network (who amplified whom)",
                        href="/network?" + urlencode({"narrative": id}),
                        id="na-network-link",
                    ),
                ],
                className="download",
            ),
            html.Div(
                [
                    html.Div(facts, className="half panel"),
                    html.Div(dcc.Graph(id=ids.NA_TIMELINE), className="half panel"),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.H3("Who started it: origin ranking"),
                    html.P("Click a row to open the account.", className="muted"),
                    table(ids.NA_ORIGINS, ORIGIN_COLUMNS, server=False, page_size=10),
                    *(
                        [
                            dcc.Link(
                                "open the most likely origin's account",
                                href=account_href(info["origin_account_id"]),
                                id="na-origin-link",
                            )
                        ]
                        if info["origin_account_id"]
                        else []
                    ),
                ],
                className="panel",
            ),
            *evidence_sections(info["narrative_id"]),
            html.Div(
                [
                    html.H3("Its cascades"),
                    html.P("Click a row to open the cascade.", className="muted"),
                    table(ids.NA_CASCADES, dq.CASCADE_COLUMNS),
                    download(
                        ids.NA_CASC_DOWNLOAD_BTN,
                        ids.NA_CASC_DOWNLOAD,
                        "Download its cascades (CSV)",
                    ),
                ],
                className="panel",
            ),
        ]
    )


def evidence_sections(narrative_id: str) -> list[html.Div]:
    """What is behind the narrative's numbers: its coordination clusters, its bot-like
    and coordinated accounts (reasons, evidence state) and its items with first posters."""
    clusters = queries.records(queries.run(dq.narrative_clusters, narrative_id))
    flagged = queries.records(queries.run(dq.narrative_flagged_accounts, narrative_id))
    items = queries.records(queries.run(dq.narrative_items, narrative_id))
    cluster_links: list[Any] = []
    for c in clusters:
        cluster_links += [
            dcc.Link(html.Bdi(shown(c["cluster_id"])), href=cluster_href(c["cluster_id"])),
            f" ({c['accounts_in_narrative']:,} of its {c['size']:,} accounts, "
            f"{c['posts']:,} posts here)",
            html.Br(),
        ]
    return [
        html.Div(
            [
                html.H3(f"Coordination clusters in this narrative ({len(clusters):,})"),
                html.P(
                    cluster_links
                    or "None: no account that posted in it belongs to a coordination cluster.",
                    id=ids.NA_CLUSTERS,
                ),
                html.H3(f"Bot-like and coordinated accounts ({len(flagged):,})"),
                account_list(
                    flagged,
                    ids.NA_FLAGGED,
                    "None: no account that posted in this narrative is bot-like or in a "
                    "coordination cluster.",
                ),
                download(
                    ids.NA_FLAGGED_BTN, ids.NA_FLAGGED_DOWNLOAD, "Download these accounts (CSV)"
                ),
            ],
            className="panel",
        ),
        html.Div(
            [
                html.H3(f"Its items ({len(items):,}{'+' if len(items) >= 200 else ''})"),
                html.P(
                    "Links, texts, hashtags and media its posts carry, with the account that "
                    "first posted each (anywhere in the store).",
                    className="muted",
                ),
                item_list(
                    items,
                    ids.NA_ITEMS,
                    "None: its posts carry no link, text, hashtag or media item (or the build "
                    "predates items).",
                ),
            ],
            className="panel",
        ),
    ]


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.NA_ORIGINS, "active_cell"),
    State(ids.NA_ORIGINS, "derived_viewport_data"),
    prevent_initial_call=True,
)
def open_origin_account(active_cell, data):
    """Clicking an origin row opens that account's page."""
    href = row_link(active_cell, data, "/accounts", "account", "account_id")
    return no_update if href is None else href


@callback(
    Output(ids.NA_FLAGGED_DOWNLOAD, "data"),
    Input(ids.NA_FLAGGED_BTN, "n_clicks"),
    State(ids.NA_ID, "data"),
    prevent_initial_call=True,
)
def download_flagged(n, narrative_id):
    """The narrative's bot-like and coordinated accounts, every one, as safe CSV."""
    if not n or not narrative_id:
        return no_update
    rows = queries.run(dq.narrative_flagged_accounts, narrative_id, None)
    return send(rows, f"narrative_{narrative_id}_flagged_accounts")


@callback(
    Output(ids.NA_TABLE, "data"),
    Output(ids.NA_TABLE, "page_count"),
    Input(ids.NA_TABLE, "page_current"),
    Input(ids.NA_TABLE, "sort_by"),
)
def list_narratives(page, sort_by):
    page = as_int(page)
    rows, total = queries.run(
        dq.narrative_table, sort=sort_pairs(sort_by), limit=15, offset=page * 15
    )
    return queries.records(rows), max((total + 14) // 15, 1)


@callback(
    Output(ids.NA_ORIGINS, "data"),
    Output(ids.NA_TIMELINE, "figure"),
    Input(ids.NA_ID, "data"),
)
def narrative_detail(narrative_id):
    """Origin ranking (with reasons) and the hourly timeline, bots against others."""
    if not narrative_id:
        return no_update, no_update
    origins = queries.run(dq.narrative_origins, narrative_id)
    return queries.records(origins), figures.narrative_timeline(
        queries.run(dq.narrative_timeline, narrative_id)
    )


@callback(
    Output(ids.NA_CASCADES, "data"),
    Output(ids.NA_CASCADES, "page_count"),
    Input(ids.NA_ID, "data"),
    Input(ids.NA_CASCADES, "page_current"),
    Input(ids.NA_CASCADES, "sort_by"),
)
def narrative_cascades(narrative_id, page, sort_by):
    if not narrative_id:
        return no_update, no_update
    page = as_int(page)
    rows, total = queries.run(
        dq.cascade_table,
        dq.CascadeFilter(narrative_id=narrative_id),
        sort=sort_pairs(sort_by),
        limit=15,
        offset=page * 15,
    )
    return queries.records(rows), max((total + 14) // 15, 1)


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.NA_TABLE, "active_cell"),
    State(ids.NA_TABLE, "data"),
    prevent_initial_call=True,
)
def open_narrative(active_cell, data):
    href = row_link(active_cell, data, "/narrative", "id", "narrative_id")
    return no_update if href is None else href


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.NA_CASCADES, "active_cell"),
    State(ids.NA_CASCADES, "data"),
    prevent_initial_call=True,
)
def open_cascade(active_cell, data):
    href = row_link(active_cell, data, "/cascade", "id", "cascade_id")
    return no_update if href is None else href


@callback(
    Output(ids.NA_DOWNLOAD, "data"),
    Input(ids.NA_DOWNLOAD_BTN, "n_clicks"),
    State(ids.NA_TABLE, "sort_by"),
    prevent_initial_call=True,
)
def download_list(n, sort_by):
    """Every narrative, as safe CSV."""
    if not n:
        return no_update
    rows, _ = queries.run(dq.narrative_table, sort=sort_pairs(sort_by), limit=None)
    return send(rows, "narratives")


@callback(
    Output(ids.NA_CASC_DOWNLOAD, "data"),
    Input(ids.NA_CASC_DOWNLOAD_BTN, "n_clicks"),
    State(ids.NA_ID, "data"),
    State(ids.NA_CASCADES, "sort_by"),
    prevent_initial_call=True,
)
def download_cascades(n, narrative_id, sort_by):
    """Every cascade of the narrative, as safe CSV."""
    if not n or not narrative_id:
        return no_update
    rows, _ = queries.run(
        dq.cascade_table,
        dq.CascadeFilter(narrative_id=narrative_id),
        sort=sort_pairs(sort_by),
        limit=None,
    )
    return send(rows, f"narrative_{narrative_id}_cascades")


@callback(
    Output(ids.NA_BRIEF_DOWNLOAD, "data"),
    Input(ids.NA_BRIEF_BTN, "n_clicks"),
    State(ids.NA_ID, "data"),
    prevent_initial_call=True,
)
def download_brief(n, narrative_id):
    """The narrative's brief as one self-contained HTML file."""
    if not n or not narrative_id:
        return no_update
    brief = narrative_brief(narrative_id)
    if brief is None:
        return no_update
    name, text = brief
    security.audit("export", file=name)
    return {"content": text, "filename": name, "type": "text/html"}

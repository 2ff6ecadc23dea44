"""Accounts: the scored accounts, and one account's shares and amplified cascades.

State in the URL: ``/accounts?q=SEARCH&min_bot=0.5`` or ``/accounts?account=ACCOUNT_ID``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import ids, queries
from spreadtrace.dashboard.components import (
    as_float,
    as_int,
    bot_state,
    download,
    kv,
    number,
    row_link,
    shown,
    sort_pairs,
    table,
    url_state,
)
from spreadtrace.dashboard.downloads import send
from spreadtrace.errors import StoreError
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__, path="/accounts", name="Accounts", title="spreadtrace · accounts", order=3
)

PAGE_SIZE = 20
POST_COLUMNS = [
    "post_id",
    "created_at",
    "kind",
    "cascade_id",
    "depth",
    "reach",
    "parent_id",
    "text",
]
AMPLIFIED_COLUMNS = [
    "cascade_id",
    "shares",
    "first_share_at",
    "min_depth",
    "size",
    "narrative_id",
    "bot_share",
    "amplification_score",
]


def _detail(account_id: str) -> html.Div:
    info = queries.run(dq.account_info, account_id)
    if info is None:
        return html.Div(
            [
                html.H2("Account"),
                html.P(f"No account {shown(account_id)!r} in this snapshot.", className="note"),
            ]
        )
    posts = queries.run(dq.account_posts, account_id)
    amplified = queries.run(dq.account_cascades, account_id)
    score = info["bot_score"]
    return html.Div(
        [
            html.H2(["Account ", html.Bdi(shown(info["account_id"]))]),
            dcc.Store(id=ids.AC_DETAIL, data=account_id),
            html.Div(
                kv(
                    [
                        ("handle", info["handle"]),
                        ("display name", info["display_name"]),
                        ("platform", info["platform"]),
                        ("created", info["created"]),
                        (
                            "followers / following",
                            f"{number(info['followers_count'])} / {number(info['following_count'])}",
                        ),
                        ("posts (reposts)", f"{info['posts']} ({info['reposts']})"),
                        (
                            "bot score",
                            None if score is None else f"{score:.3f} · {bot_state(info)}",
                        ),
                        ("why", info["bot_reasons"]),
                        (
                            "coordination score",
                            None
                            if info["coordination_score"] is None
                            else f"{info['coordination_score']:.3f} (strongest co-share partner)",
                        ),
                        (
                            "coordination cluster",
                            None
                            if info["cluster_id"] is None
                            else f"{info['cluster_id']} ({info['cluster_size']} accounts)",
                        ),
                        (
                            "origin index",
                            None
                            if info["origin_index"] is None
                            else f"{info['origin_index']:.3f} ({info['narratives_seeded']} narratives seeded)",
                        ),
                    ]
                ),
                className="panel",
            ),
            html.P(
                dcc.Link(
                    ["open its coordination cluster ", html.Bdi(shown(info["cluster_id"]))],
                    href="/coordination?" + urlencode({"cluster": info["cluster_id"]}),
                    id="ac-cluster-link",
                )
                if info["cluster_id"] is not None
                else "In no coordination cluster.",
                className="muted",
            ),
            html.Div(
                [
                    html.H3(
                        f"Cascades it amplified ({amplified.height:,}{'+' if amplified.height >= 500 else ''})"
                    ),
                    html.P("Click a row to open the cascade.", className="muted"),
                    table(
                        ids.AC_CASCADES,
                        AMPLIFIED_COLUMNS,
                        server=False,
                        data=queries.records(amplified),
                    ),
                ],
                className="panel",
            ),
            html.Div(
                [
                    html.H3(f"Its shares (newest {posts.height:,})"),
                    table(ids.AC_POSTS, POST_COLUMNS, server=False, data=queries.records(posts)),
                    download(
                        ids.AC_POSTS_DOWNLOAD_BTN,
                        ids.AC_POSTS_DOWNLOAD,
                        "Download its shares (CSV)",
                    ),
                ],
                className="panel",
            ),
        ]
    )


def layout(
    account: str | None = None, q: str = "", min_bot: str | None = None, **_: Any
) -> html.Div:
    try:
        if account:
            return _detail(account)
        queries.snapshot_id()
    except StoreError as exc:
        return html.Div([html.H2("Accounts"), html.P(str(exc), className="note")])
    return html.Div(
        [
            html.H2(["Accounts ", html.Span(id=ids.AC_COUNT, className="muted")]),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("account id or handle contains"),
                            dcc.Input(id=ids.AC_SEARCH, type="search", value=q, debounce=True),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label("minimum bot score"),
                            dcc.Slider(
                                id=ids.AC_MIN_BOT,
                                min=0,
                                max=1,
                                step=0.05,
                                value=as_float(min_bot),
                                marks={0: "0", 0.5: "0.5", 1: "1"},
                                tooltip={"placement": "bottom"},
                                updatemode="mouseup",
                            ),
                        ],
                        style={"gridColumn": "span 2"},
                    ),
                ],
                className="filters",
            ),
            html.P("Click a row to open the account.", className="muted"),
            table(ids.AC_TABLE, dq.ACCOUNT_COLUMNS, page_size=PAGE_SIZE),
            download(ids.AC_DOWNLOAD_BTN, ids.AC_DOWNLOAD, "Download these accounts (CSV)"),
        ]
    )


@callback(
    Output(ids.AC_TABLE, "data"),
    Output(ids.AC_TABLE, "page_count"),
    Output(ids.AC_COUNT, "children"),
    Output(ids.URL_STATE, "data", allow_duplicate=True),
    Input(ids.AC_SEARCH, "value"),
    Input(ids.AC_MIN_BOT, "value"),
    Input(ids.AC_TABLE, "page_current"),
    Input(ids.AC_TABLE, "sort_by"),
    prevent_initial_call="initial_duplicate",
)
def update_accounts(search, min_bot, page, sort_by):
    """The filtered, sorted page of scored accounts."""
    page = as_int(page)
    rows, total = queries.run(
        dq.accounts_table,
        search=(search or "").strip() or None,
        min_bot_score=as_float(min_bot),
        sort=sort_pairs(sort_by),
        limit=PAGE_SIZE,
        offset=page * PAGE_SIZE,
    )
    state = url_state("/accounts", {"q": (search or "").strip(), "min_bot": as_float(min_bot)})
    return (
        queries.records(rows),
        max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        f"({total:,} match)",
        state,
    )


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.AC_TABLE, "active_cell"),
    State(ids.AC_TABLE, "data"),
    prevent_initial_call=True,
)
def open_account(active_cell, data):
    href = row_link(active_cell, data, "/accounts", "account", "account_id")
    return no_update if href is None else href


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.AC_CASCADES, "active_cell"),
    State(ids.AC_CASCADES, "derived_viewport_data"),
    prevent_initial_call=True,
)
def open_cascade(active_cell, data):
    href = row_link(active_cell, data, "/cascade", "id", "cascade_id")
    return no_update if href is None else href


@callback(
    Output(ids.AC_DOWNLOAD, "data"),
    Input(ids.AC_DOWNLOAD_BTN, "n_clicks"),
    State(ids.AC_SEARCH, "value"),
    State(ids.AC_MIN_BOT, "value"),
    State(ids.AC_TABLE, "sort_by"),
    prevent_initial_call=True,
)
def download_accounts(n, search, min_bot, sort_by):
    """Every account matching the filters, as safe CSV."""
    if not n:
        return no_update
    rows, _ = queries.run(
        dq.accounts_table,
        search=(search or "").strip() or None,
        min_bot_score=as_float(min_bot),
        sort=sort_pairs(sort_by),
        limit=None,
    )
    return send(rows, "accounts")


@callback(
    Output(ids.AC_POSTS_DOWNLOAD, "data"),
    Input(ids.AC_POSTS_DOWNLOAD_BTN, "n_clicks"),
    State(ids.AC_DETAIL, "data"),
    prevent_initial_call=True,
)
def download_posts(n, account_id):
    """All of one account's shares, as safe CSV."""
    if not n or not account_id:
        return no_update
    return send(
        queries.run(dq.account_posts, account_id, limit=None), f"account_{account_id}_posts"
    )

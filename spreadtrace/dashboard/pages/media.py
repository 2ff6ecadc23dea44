"""Media: copies of the same picture or video, who posted it first, who keeps reusing it.

State in the URL: ``/media?id=MEDIA_GROUP_ID`` (without an id: the list of groups).
Thumbnails come from the local files ``media hash`` read (never from the network).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from spreadtrace.dashboard import figures, ids, queries
from spreadtrace.dashboard.components import kv, row_link, sort_pairs, table, when
from spreadtrace.dashboard.media_files import thumbnail_url
from spreadtrace.errors import StoreError
from spreadtrace.store import media_queries as mq

dash.register_page(__name__, path="/media", name="Media", title="spreadtrace · media", order=5)

POST_COLUMNS = [
    "created_at",
    "post_id",
    "account_id",
    "handle",
    "platform",
    "media_id",
    "text",
    "reuse_gap_days",
    "out_of_context",
    "cascade_id",
    "narrative_id",
]
ACCOUNT_COLUMNS = [
    "account_id",
    "handle",
    "posts",
    "first_at",
    "platform",
    "bot_score",
    "cluster_id",
]
MAX_THUMBS = 12


def _thumbs(group_id: str) -> html.Div:
    items = queries.run(mq.media_items, group_id)
    cells = []
    for row in items.head(MAX_THUMBS).iter_rows(named=True):
        caption = html.Figcaption(f"{row['media_id']} · {row['posts']} post(s)")
        if row["has_file"]:
            body: html.Img | html.Div = html.Img(
                src=thumbnail_url(row["media_id"]), alt=row["media_id"], height=120
            )
        else:
            body = html.Div("no local file", className="muted")
        cells.append(html.Figure([body, caption], className="thumb"))
    more = items.height - MAX_THUMBS
    note = [html.P(f"... and {more} more", className="muted")] if more > 0 else []
    return html.Div([*cells, *note], className="thumbs")


def _links(group_id: str) -> html.Ul:
    links = queries.run(mq.media_group_links, group_id)
    items = []
    for row in links.iter_rows(named=True):
        path = "/cascade" if row["kind"] == "cascade" else "/narrative"
        items.append(
            html.Li(
                [
                    f"{row['kind']} ",
                    dcc.Link(str(row["id"]), href=f"{path}?{urlencode({'id': row['id']})}"),
                    f" ({row['posts']} post(s))",
                ]
            )
        )
    return html.Ul(items or [html.Li("none", className="muted")])


def layout(id: str | None = None, **_: Any) -> html.Div:
    try:
        info = queries.run(mq.media_group_info, id) if id else None
    except StoreError as exc:
        return html.Div([html.H2("Media"), html.P(str(exc), className="note")])
    if not id or info is None:
        missing = (
            [html.P(f"No media group {id!r} in this snapshot.", className="note")] if id else []
        )
        return html.Div(
            [
                html.H2("Media"),
                *missing,
                html.P(
                    "Each row is one picture or video with all its copies (PDQ within 31 "
                    "bits, same bytes, or the same hash). Click a row to open it.",
                    className="muted",
                ),
                table(ids.ME_TABLE, list(mq.MEDIA_GROUP_COLUMNS)),
            ]
        )
    first = info["first_at"]
    facts = kv(
        [
            ("media group", info["media_group_id"]),
            ("kind / copies", f"{info['kind'] or 'unknown'} / {len(info['media_ids'])}"),
            ("first posted", when(first) if first else ""),
            ("first by", f"{info['first_account_id']} ({info['first_handle'] or 'no handle'})"),
            ("first post / platform", f"{info['first_post_id']} / {info['first_platform']}"),
            ("posts / accounts", f"{info['posts']:,} / {info['accounts']:,}"),
            ("platforms", ", ".join(info["platforms"]) or "unknown"),
            (
                "reused after",
                f"{info['reused_after_days']:.1f} days ({info['reuses']} reuse(s), "
                f"{info['out_of_context']} out-of-context candidate(s))"
                if info["reused_after_days"] is not None
                else "no gap above the reuse threshold",
            ),
            (
                "bot / coordinated share",
                f"{info['bot_share'] or 0:.3f} / {info['coordinated_share'] or 0:.3f}",
            ),
            ("first words", info["label"]),
        ]
    )
    return html.Div(
        [
            dcc.Store(id=ids.ME_ID, data=id),
            html.H2(f"Media {id}"),
            html.Div(
                [
                    html.Div(facts, className="half panel"),
                    html.Div(_thumbs(id), className="half panel"),
                ],
                className="row",
            ),
            html.Div(dcc.Graph(id=ids.ME_TIMELINE), className="panel"),
            html.Div(
                [
                    html.H3("Its posts, in time order"),
                    table(ids.ME_POSTS, POST_COLUMNS, server=False),
                ],
                className="panel",
            ),
            html.Div(
                [
                    html.H3("The accounts that carried it"),
                    table(ids.ME_ACCOUNTS, ACCOUNT_COLUMNS, server=False),
                ],
                className="panel",
            ),
            html.Div(
                [html.H3("Cascades and narratives"), html.Div(_links(id), id=ids.ME_LINKS)],
                className="panel",
            ),
        ]
    )


@callback(
    Output(ids.ME_TABLE, "data"),
    Output(ids.ME_TABLE, "page_count"),
    Input(ids.ME_TABLE, "page_current"),
    Input(ids.ME_TABLE, "sort_by"),
)
def list_media(page, sort_by):
    page = page or 0
    rows, total = queries.run(
        mq.media_group_table, sort=sort_pairs(sort_by), limit=15, offset=page * 15
    )
    return queries.records(rows), max((total + 14) // 15, 1)


@callback(
    Output(ids.ME_TIMELINE, "figure"),
    Output(ids.ME_POSTS, "data"),
    Output(ids.ME_ACCOUNTS, "data"),
    Input(ids.ME_ID, "data"),
)
def media_detail(group_id):
    """The group's timeline, its posts and the accounts that carried it."""
    if not group_id:
        return no_update, no_update, no_update
    posts = queries.run(mq.media_group_posts, group_id)
    accounts = queries.run(mq.media_group_accounts, group_id)
    return (
        figures.media_timeline(posts),
        queries.records(posts.select(POST_COLUMNS)),
        queries.records(accounts),
    )


@callback(
    Output(ids.NAV, "href", allow_duplicate=True),
    Input(ids.ME_TABLE, "active_cell"),
    State(ids.ME_TABLE, "data"),
    prevent_initial_call=True,
)
def open_media(active_cell, data):
    href = row_link(active_cell, data, "/media", "id", "media_group_id")
    return no_update if href is None else href

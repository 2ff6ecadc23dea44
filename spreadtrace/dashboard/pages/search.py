"""Search: one box in the navbar; this page lists what matches, grouped and linked.

State in the URL: ``/search?q=QUERY``. Posts are ranked by BM25 over the read model's
term index (:func:`spreadtrace.store.dashboard_queries.search`); cascades and
narratives are those of the matching posts, plus id / label matches; accounts match
handle, display name or account id (for the viewer role, only a pseudonym).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import dcc, html

from spreadtrace.dashboard import queries, security
from spreadtrace.dashboard.components import highlight, shown, when
from spreadtrace.errors import StoreError
from spreadtrace.store import dashboard_queries as dq

dash.register_page(
    __name__, path="/search", name="Search", title="spreadtrace · search", order=9, nav=False
)


def _link(label: Any, path: str, key: str, value: str) -> dcc.Link:
    return dcc.Link(html.Bdi(label), href=f"{path}?" + urlencode({key: value}))


def _group(title: str, total: int, items: list[Any], empty: str) -> html.Section:
    head = html.H3(f"{title} ({total:,})" if items and "(" not in title else title)
    body = html.Ul(items, className="results") if items else html.P(empty, className="muted")
    return html.Section([head, body], className="panel search-group")


def results(q: str) -> list[Any]:
    """The grouped results for ``q`` as components (all text escaped, matches marked)."""
    found = queries.run(dq.search, q, search=q)
    terms = [*found["terms"], q.strip()]
    narratives = [
        html.Li(
            [
                _link(shown(r["narrative_id"]), "/narrative", "id", r["narrative_id"]),
                " · ",
                html.Bdi(highlight(r["label"], terms)),
                html.Span(
                    f" · {r['matching_posts']:,} matching posts of {r['posts']:,}",
                    className="muted",
                ),
            ]
        )
        for r in found["narratives"].iter_rows(named=True)
    ]
    cascades = [
        html.Li(
            [
                _link(shown(r["cascade_id"]), "/cascade", "id", r["cascade_id"]),
                html.Span(
                    f" · {r['size']:,} posts, {r['matching_posts']:,} matching · root: ",
                    className="muted",
                ),
                html.Bdi(highlight(r["root_text"], terms, 160)),
            ]
        )
        for r in found["cascades"].iter_rows(named=True)
    ]
    accounts = [
        html.Li(
            [
                _link(
                    highlight(shown(r["handle"] or r["account_id"]), terms),
                    "/accounts",
                    "account",
                    r["account_id"],
                ),  # fmt: skip
                " (",
                html.Bdi(highlight(shown(r["account_id"]), terms)),
                ")",
                html.Span(f" · {r['display_name']}" if r.get("display_name") else ""),
                html.Span(
                    f" · {r['posts'] or 0:,} posts · {r['bot_state'] or 'not scored'}",
                    className="muted",
                ),
            ]
        )
        for r in found["accounts"].iter_rows(named=True)
    ]
    posts = [
        html.Li(
            [
                html.Div(html.Bdi(highlight(r["text"], terms)), className="post-text"),
                html.Span(
                    [
                        html.Bdi(shown(r["handle"] or r["account_id"])),
                        f" · {when(r['created_at'])} · post ",
                        html.Bdi(shown(r["post_id"])),
                        " · ",
                    ],
                    className="muted",
                ),
                _link("open cascade", "/cascade", "id", r["cascade_id"])
                if r["cascade_id"]
                else html.Span("in no cascade", className="muted"),
            ]
        )
        for r in found["posts"].iter_rows(named=True)
    ]
    hint = (
        "Every word must appear (post text, URLs, hashtags); try fewer or other words, "
        "or paste a post, cascade or account id."
    )
    basis = found.get("basis", 0)
    ranked = (
        [
            html.P(
                f"Narratives and cascades are ranked by how many of the best {basis:,} "
                f"matching posts (of {found['post_total']:,}) they hold; add words to narrow "
                "the search.",
                className="muted",
                id="search-basis",
            )
        ]
        if found["post_total"] > basis
        else []
    )
    return [
        *ranked,
        _group("Narratives", len(narratives), narratives, f"No narrative matches. {hint}"),
        _group("Cascades", len(cascades), cascades, f"No cascade matches. {hint}"),
        _group(
            "Accounts",
            len(accounts),
            accounts,
            "No account has this handle, display name or id"
            + (
                " (as a viewer, search an account by its pseudonym)."
                if security.is_viewer()
                else "."
            ),  # fmt: skip
        ),
        _group(
            f"Posts (best {len(posts)} of {found['post_total']:,})" if posts else "Posts",
            len(posts),
            posts,
            f"No post matches. {hint}",
        ),
    ]


def layout(q: str | None = None, **_: Any) -> html.Div:
    q = (q or "").strip()
    if not q:
        return html.Div(
            [
                html.H2("Search"),
                html.P(
                    "Type words, a URL, a #hashtag, an @handle or an id in the search box "
                    "at the top of the page.",
                    className="note",
                ),
            ]
        )
    try:
        body = results(q)
    except StoreError as exc:
        return html.Div([html.H2("Search"), html.P(str(exc), className="note")])
    return html.Div(
        [html.H2(["Search: ", html.Bdi(shown(q, 200))]), html.Div(body, id="search-results")]
    )

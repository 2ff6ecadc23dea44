"""Small building blocks shared by the pages: tables, downloads, cards, URL state.

Why: every table must behave the same (text-only cells, server-side sort and paging,
a CSV download) and every page encodes its state in the query string the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from dash import dash_table, dcc, html

__all__ = [
    "table",
    "download",
    "card",
    "kv",
    "search_string",
    "url_state",
    "as_float",
    "as_int",
    "as_date",
    "sort_pairs",
    "shown",
    "isolated",
    "MAX_ID_SHOWN",
]

MAX_ID_SHOWN = 64
"""Ids and handles longer than this are cut for display (the data keeps them whole)."""

# Characters that change the direction of the text around them: explicit embeddings,
# overrides, isolates and marks, and letters of right-to-left scripts.
_BIDI_CLASSES = {"R", "AL", "RLE", "RLO", "LRE", "LRO", "RLI", "LRI", "FSI", "PDF", "PDI"}


HEADERS = {
    "root_text": "root post",
    "first_at": "first post (UTC)",
    "created_at": "time (UTC)",
    "bot_share": "bot-like share",
    "structural_virality": "structural virality",
    "root_account_id": "root account",
    "origin_account_id": "origin account",
    "narrative_id": "narrative",
    "cascade_id": "cascade",
    "account_id": "account",
    "cluster_id": "coordination cluster",
    "post_id": "post",
    "is_bot_like": "bot-like",
    "bot_reasons": "why (bot score)",
    "amplification_reasons": "why (amplification)",
    "account_a": "account A",
    "root_id": "post both reposted",
    "item_url": "link both shared",
    "account_b": "account B",
    "post_a": "post by A",
    "post_b": "post by B",
    "shared_at_a": "A shared at (UTC)",
    "shared_at_b": "B shared at (UTC)",
    "gap_s": "gap (s)",
}
"""Table headers in words; other column names lose their underscores."""


def header(column: str, tz: str = "UTC") -> str:
    """A column's header in words (times in the time zone ``tz``).

    >>> header("root_text"), header("coordinated_share"), header("first_at", "Asia/Tokyo")
    ('root post', 'coordinated share', 'first post (Asia/Tokyo)')
    """
    return HEADERS.get(column, column.replace("_", " ")).replace("(UTC)", f"({tz})")


def number(value: int | None) -> str:
    """A count with thousands separators, or "unknown".

    >>> number(12345), number(None)
    ('12,345', 'unknown')
    """
    return "unknown" if value is None else f"{value:,}"


def duration(seconds: float | None) -> str:
    """A duration in days / h / min / s, or "unknown".

    >>> duration(19226), duration(42), duration(None), duration(3 * 86400 + 7200)
    ('5 h 20 min', '42 s', 'unknown', '3 d 2 h')
    """
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def table_columns(columns: Iterable[str], tz: str | None = None) -> list[dict[str, str]]:
    """A DataTable's ``columns``: headers in words, times labelled with the time zone
    (default: the page's, :func:`current_tz`)."""
    tz = tz or current_tz()
    return [
        {"name": header(c, tz), "id": c, "type": "any", "presentation": "input"} for c in columns
    ]


def table(
    id: str,
    columns: Iterable[str],
    *,
    page_size: int = 15,
    server: bool = True,
    tz: str | None = None,
    **kw: Any,
) -> dash_table.DataTable:  # type: ignore[name-defined]  # generated at import
    """A DataTable whose cells are plain text (never markdown or HTML).

    ``server=True``: sorting and paging are done by a callback (``sort_by``,
    ``page_current``) so sorting covers every row, not just the page on screen.
    """
    mode = "custom" if server else "native"
    return dash_table.DataTable(  # type: ignore[attr-defined]  # generated at import
        id=id,
        columns=table_columns(columns, tz),
        page_size=page_size,
        page_current=0,
        page_action=mode,
        sort_action=mode,
        sort_mode="single",
        sort_by=[],
        markdown_options={"html": False},
        style_table={"overflowX": "auto"},
        style_cell={
            "fontFamily": "inherit",
            "fontSize": "0.85em",
            "textAlign": "left",
            "maxWidth": "28em",
            "overflow": "hidden",
            "textOverflow": "ellipsis",
            "whiteSpace": "nowrap",
        },
        style_header={"fontWeight": "600", "backgroundColor": "#f1f4f7"},
        cell_selectable=True,
        editable=False,
        tooltip_duration=None,
        tooltip_delay=300,
        **kw,
    )


def download(button_id: str, download_id: str, label: str = "Download CSV") -> html.Div:
    """A button and the ``dcc.Download`` it fills."""
    return html.Div(
        [html.Button(label, id=button_id, n_clicks=0), dcc.Download(id=download_id)],
        className="download",
    )


def card(label: str, value: object) -> html.Div:
    shown = f"{value:,}" if isinstance(value, int) else ("–" if value is None else str(value))
    return html.Div(
        [html.Div(shown, className="value"), html.Div(label, className="label")], className="card"
    )


def shown(value: object, limit: int = MAX_ID_SHOWN) -> str:
    """``value`` as display text: cut to ``limit`` characters (with an ellipsis), and
    wrapped in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE (U+2068 / U+2069) when
    it holds any right-to-left or bidi-control character, so a handle starting with
    U+202E cannot mirror the text after it.

    >>> shown("\u202eevil") == "\u2068\u202eevil\u2069"
    True
    >>> len(shown("x" * 5000)), shown("plain")
    (64, 'plain')
    """
    text = "–" if value is None or value == "" else str(value)
    if len(text) > limit:
        text = text[: max(limit - 1, 1)] + "…"
    return isolated(text)


def isolated(text: str) -> str:
    """``text`` wrapped in U+2068 ... U+2069 if it holds a bidi-relevant character."""
    if text.isascii():
        return text
    if any(unicodedata.bidirectional(ch) in _BIDI_CLASSES for ch in text):
        return "\u2068" + text + "\u2069"
    return text


def kv(pairs: Iterable[tuple[str, object]], limit: int = 600) -> html.Dl:
    """A definition list; values are rendered as text, each in its own ``<bdi>``
    (so a right-to-left or override character stays inside its value), long ones cut."""
    items: list[Any] = []
    for key, value in pairs:
        items += [html.Dt(key), html.Dd(html.Bdi(shown(value, limit)))]
    return html.Dl(items, className="kv")


def search_string(params: Mapping[str, object]) -> str:
    """A canonical query string: keys sorted, empty values and zeros dropped."""
    kept = {k: v for k, v in sorted(params.items()) if v not in (None, "", 0, 0.0, [], False)}
    return "?" + urlencode(kept) if kept else ""


def url_state(path: str, params: Mapping[str, object]) -> dict[str, str]:
    """The ``ids.URL_STATE`` payload mirroring ``params`` into the address bar.

    The page's time zone (:func:`current_tz`) goes with them unless ``params`` gives
    ``tz``: a page rewriting its URL must not drop the zone the analyst chose (UTC, the
    default, is left out).
    """
    if "tz" not in params:
        tz = current_tz()
        params = {**params, "tz": "" if tz == "UTC" else tz}
    return {"path": path, "search": search_string(params)}


def as_float(value: object, default: float = 0.0, lo: float = 0.0, hi: float = 1.0) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return min(max(x, lo), hi) if x == x else default


def as_int(value: object, default: int = 0, hi: int = 10**9) -> int:
    """A non-negative int from an untrusted value (a page number, a size), else ``default``.

    >>> as_int("-3"), as_int("7"), as_int(["1", "2"]), as_int("nan")
    (0, 7, 0, 0)
    """
    try:
        return min(max(int(float(value)), 0), hi)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default


def as_date(value: object) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def clicked_value(active_cell: Mapping[str, Any] | None, data: list[dict] | None, key: str) -> Any:
    """The ``key`` column of the clicked table row, or None when no row is clicked.

    A stale click (the table was re-paged under it) gives None too.

    >>> clicked_value({"row": 1}, [{"id": "a"}, {"id": "b"}], "id")
    'b'
    >>> clicked_value({"row": 5}, [{"id": "a"}], "id") is None
    True
    """
    if not active_cell or not data or active_cell["row"] >= len(data):
        return None
    return data[active_cell["row"]][key]


def row_link(
    active_cell: Mapping[str, Any] | None,
    data: list[dict] | None,
    page: str,
    param: str,
    key: str,
) -> str | None:
    """The URL of ``page`` for the clicked row (``?param=<row[key]>``), or None.

    >>> row_link({"row": 0}, [{"cascade_id": "c&1"}], "/cascade", "id", "cascade_id")
    '/cascade?id=c%261'
    """
    value = clicked_value(active_cell, data, key)
    return None if value is None else f"{page}?" + urlencode({param: value})


def sort_pairs(sort_by: object) -> list[tuple[str, str]]:
    """DataTable ``sort_by`` as (column, asc|desc) pairs; anything malformed is ignored.

    >>> sort_pairs([{"column_id": "size", "direction": "desc"}, "junk", {"column_id": 3}])
    [('size', 'desc')]
    """
    if not isinstance(sort_by, list):
        return []
    pairs = []
    for s in sort_by:
        if not isinstance(s, dict) or not isinstance(s.get("column_id"), str):
            continue
        direction = s.get("direction")
        pairs.append((s["column_id"], direction if direction in ("asc", "desc") else "asc"))
    return pairs


def spread_sources(info: Mapping[str, Any]) -> str | None:
    """Where a cascade's or narrative's shares came from: the amplification decomposition.

    Each share counted once; bot-like (automation) and coordinated are separate account
    signals. None before the first build with the decomposition.

    >>> spread_sources({"share_bot_only": 0.1, "share_coordinated_only": 0.25,
    ...                 "share_both": 0.05, "share_neither": 0.6})
    'bot-like only 10% · coordinated only 25% · both 5% · neither 60%'
    """
    parts = [
        ("bot-like only", info.get("share_bot_only")),
        ("coordinated only", info.get("share_coordinated_only")),
        ("both", info.get("share_both")),
        ("neither", info.get("share_neither")),
    ]
    if any(v is None for _, v in parts):
        return None
    return " · ".join(f"{label} {v:.0%}" for label, v in parts)


def bot_state(info: Mapping[str, Any]) -> str:
    """The account's verdict in one of three states: bot-like, not bot-like, or
    insufficient evidence (never silently "human" when the evidence is thin).

    >>> bot_state({"bot_evidence": "insufficient", "is_bot_like": False})
    'insufficient evidence'
    """
    if info.get("bot_evidence") == "insufficient":
        return "insufficient evidence"
    return "bot-like" if info.get("is_bot_like") else "not bot-like"


def highlight(text: str | None, terms: Iterable[str], limit: int = 300) -> list[Any]:
    """``text`` as plain-text pieces with each search term wrapped in ``<mark>``.

    Why pieces: the text is untrusted, so it is never turned into markup; Dash escapes
    each string child. A long text is cut to ``limit`` characters around the first match.

    >>> [getattr(p, "children", p) for p in highlight("A <b>Claim</b> here", ["claim"])]
    ['A <b>', 'Claim', '</b> here']
    """
    text = text or ""
    words = sorted({t for t in terms if t}, key=len, reverse=True)
    if not words:
        return [shown(text, limit)]
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    first = pattern.search(text)
    if len(text) > limit:
        start = max(0, (first.start() if first else 0) - limit // 3)
        text = ("…" if start else "") + text[start : start + limit] + "…"
    pieces: list[Any] = []
    at = 0
    for m in pattern.finditer(text):
        if m.start() > at:
            pieces.append(text[at : m.start()])
        pieces.append(html.Mark(m.group(0)))
        at = m.end()
    if at < len(text):
        pieces.append(text[at:])
    return pieces


TEXT_COLUMNS = ("root_text", "text", "label", "amplification_reasons", "bot_reasons", "reasons")
"""Table columns holding free text: shown as a one-line preview, in full on hover."""


def text_tooltips(data: list[dict] | None, limit: int = 4000) -> list[dict]:
    """A DataTable ``tooltip_data`` showing each free-text cell in full (as plain text).

    >>> text_tooltips([{"root_text": "<b>x</b>", "size": 3}])
    [{'root_text': {'value': '<b>x</b>', 'type': 'text'}}]
    """
    return [
        {
            c: {"value": str(v)[:limit], "type": "text"}
            for c, v in row.items()
            if c in TEXT_COLUMNS and v not in (None, "")
        }
        for row in data or []
    ]


def account_href(account_id: object) -> str:
    """The account page's URL for ``account_id`` (query-encoded: never a scheme of its own).

    >>> account_href("javascript:alert(1)")
    '/accounts?account=javascript%3Aalert%281%29'
    """
    return "/accounts?" + urlencode({"account": str(account_id)})


def cluster_href(cluster_id: object) -> str:
    """The coordination page's URL for one cluster."""
    return "/coordination?" + urlencode({"cluster": str(cluster_id)})


def percent(value: float | None, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage, or "unknown".

    >>> percent(0.1234), percent(0.1234, 1), percent(None)
    ('12%', '12.3%', 'unknown')
    """
    return "unknown" if value is None else f"{value:.{digits}%}"


def _account_cell(account_id: object, handle: object) -> html.Td:
    if account_id is None:
        return html.Td("unknown")
    return html.Td(
        dcc.Link(
            [html.Bdi(shown(handle or account_id)), " (", html.Bdi(shown(account_id)), ")"],
            href=account_href(account_id),
            className="account-link",
        )
    )


def account_list(rows: list[dict[str, Any]], id: str, empty: str) -> html.Div:
    """The bot-like and coordinated accounts behind a number, each linking to its page.

    Why a plain table: each account and cluster is a live link (a DataTable cell can
    only be text); every value is a text child, so Dash escapes it. ``empty`` says
    why there is nothing to list.
    """
    if not rows:
        return html.Div(html.P(empty, className="note"), id=id)
    head = ["account", "flagged as", "shares", "bot evidence", "bot score", "why (bot score)",
            "coordination cluster"]  # fmt: skip
    body = []
    for r in rows:
        cluster = r.get("cluster_id")
        body.append(
            html.Tr(
                [
                    _account_cell(r.get("account_id"), r.get("handle")),
                    html.Td(r.get("flagged_as") or ""),
                    html.Td(number(r.get("shares"))),
                    html.Td(r.get("bot_state") or "unknown"),
                    html.Td("unknown" if r.get("bot_score") is None else f"{r['bot_score']:.2f}"),
                    html.Td(html.Bdi(shown(r.get("bot_reasons"), 300)), className="reasons"),
                    html.Td(
                        dcc.Link(html.Bdi(shown(cluster)), href=cluster_href(cluster))
                        if cluster is not None
                        else "none"
                    ),
                ]
            )
        )
    return html.Div(
        html.Table(
            [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
            className="evidence",
        ),
        id=id,
    )


def item_list(rows: list[dict[str, Any]], id: str, empty: str) -> html.Div:
    """Items (links, texts, hashtags, media) with their first posters.

    An item's label is untrusted: it is shown as text, never as a link (a
    ``javascript:`` URL must not become live); only the first poster links, to the
    account page.
    """
    if not rows:
        return html.Div(html.P(empty, className="note"), id=id)
    head = ["item", "kind", "posts here", "posts everywhere", "first posted", "first poster"]
    body = [
        html.Tr(
            [
                html.Td(html.Bdi(shown(r.get("label"), 200)), className="item-label"),
                html.Td(r.get("kind") or ""),
                html.Td(number(r.get("posts"))),
                html.Td(number(r.get("posts_everywhere"))),
                html.Td(r.get("first_at") or "unknown"),
                _account_cell(r.get("first_account_id"), r.get("first_handle")),
            ]
        )
        for r in rows
    ]
    return html.Div(
        html.Table(
            [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
            className="evidence",
        ),
        id=id,
    )


_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(counts: Iterable[int | None]) -> str:
    """Counts as a one-line text sparkline (eight heights; zero is the lowest bar).

    >>> sparkline([0, 1, 4, 8])
    '▁▂▅█'
    """
    values = [int(v or 0) for v in counts]
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(int(v / top * 7 + 0.5), 7) if v else 0] for v in values)


DECOMPOSITION = (
    ("share_bot_only", "bot-like only", "#c0392b"),
    ("share_coordinated_only", "coordinated only", "#e67e22"),
    ("share_both", "both", "#8e44ad"),
    ("share_neither", "organic (neither)", "#95a5a6"),
)


def decomposition_bar(info: Mapping[str, Any]) -> html.Div:
    """A bar splitting a narrative's spread into bot-like only, coordinated only, both
    and organic (each share counted once), with the percentages as its title and label."""
    if any(info.get(col) is None for col, _, _ in DECOMPOSITION):
        return html.Div("decomposition: unknown (built before it existed)", className="muted")
    parts = [(label, float(info[col]), color) for col, label, color in DECOMPOSITION]
    words = " · ".join(f"{label} {percent(v)}" for label, v, _ in parts)
    return html.Div(
        [
            html.Div(
                [
                    html.Span(style={"width": f"{v * 100:.1f}%", "background": color})
                    for _, v, color in parts
                ],
                className="decomp-bar",
                title=words,
            ),
            html.Div(words, className="muted decomp-words"),
        ]
    )


def time_zone(value: object) -> str:
    """A known IANA time zone from an untrusted value, else "UTC".

    >>> time_zone("Europe/Berlin"), time_zone("Mars/Base"), time_zone(None)
    ('Europe/Berlin', 'UTC', 'UTC')
    """
    return value if isinstance(value, str) and value in _zones() else "UTC"


def _zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


_ZONES: frozenset[str] | None = None

TIME_COLUMNS = ("first_at", "last_at", "created_at", "shared_at_a", "shared_at_b",
                "window_start", "window_end", "first_share_at")  # fmt: skip
"""Columns the queries give as ISO 8601 UTC text: shown in the chosen time zone."""


TZ_COOKIE = "spreadtrace_tz"
"""The cookie that keeps the chosen time zone from page to page (set from ``?tz=``)."""

_PAGE_TZ: ContextVar[str | None] = ContextVar("spreadtrace_page_tz", default=None)


def use_tz(tz: str | None) -> Any:
    """Make ``tz`` the time zone of everything drawn in this request (a token for reset)."""
    return _PAGE_TZ.set(tz)


def reset_tz(token: Any) -> None:
    _PAGE_TZ.reset(token)


def current_tz() -> str:
    """The time zone of the page being drawn: the link's ``?tz=`` (set by the page guard),
    else the analyst's last choice (cookie), else UTC. Outside a request: UTC.

    Why one function: every time on every page and table, in every callback, must be
    shown in the same zone, and a link to another page must keep it.
    """
    tz = _PAGE_TZ.get()
    if tz:
        return tz
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - flask comes with dash
        return "UTC"
    if has_request_context():
        return time_zone(request.cookies.get(TZ_COOKIE))
    return "UTC"


def remember_tz(tz: str) -> None:
    """Keep ``tz`` for the analyst's next pages (a cookie on this callback's response).

    Outside a Dash callback (tests calling layouts as functions) it does nothing.
    """
    try:
        from dash import ctx

        response = ctx.response
    except Exception:  # noqa: BLE001 -- no callback context: nothing to keep
        return
    if response is None:
        return
    response.set_cookie(TZ_COOKIE, time_zone(tz), max_age=365 * 86400, samesite="Lax",
                        httponly=True)  # fmt: skip


def when(value: datetime | str | None, tz: str | None = None, *, seconds: bool = False) -> str:
    """A stored UTC time shown in ``tz`` (default: :func:`current_tz`), the zone named.

    >>> when(datetime(2015, 3, 24, 10, 30), "America/New_York")
    '2015-03-24 06:30 America/New_York'
    >>> when("2015-03-24T10:30:05Z", "UTC", seconds=True), when(None, "UTC")
    ('2015-03-24 10:30:05 UTC', 'unknown')
    """
    from zoneinfo import ZoneInfo

    if value is None or value == "":
        return "unknown"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = time_zone(tz or current_tz())
    shown = value.astimezone(ZoneInfo(zone))
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{shown.strftime(fmt)} {zone}"


def localize(rows: list[dict[str, Any]], tz: str) -> list[dict[str, Any]]:
    """Rows with their time columns shown in ``tz`` ("YYYY-MM-DD HH:MM:SS"), for display.

    >>> localize([{"first_at": "2024-03-01T23:30:00Z", "size": 3}], "Europe/Berlin")
    [{'first_at': '2024-03-02 00:30:00', 'size': 3}]
    """
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(time_zone(tz))
    out = []
    for row in rows:
        new = dict(row)
        for col in TIME_COLUMNS:
            value = new.get(col)
            if isinstance(value, str) and value.endswith("Z"):
                at = datetime.fromisoformat(value[:-1] + "+00:00").astimezone(zone)
                new[col] = at.strftime("%Y-%m-%d %H:%M:%S")
        out.append(new)
    return out


def correction_line(r: Mapping[str, Any]) -> str:
    """Claim against correction in one line for an overview row (issue 11's figures).

    >>> correction_line({"claim_posts": 40, "claim_accounts": 30, "correction_posts": 3,
    ...                  "correction_accounts": 2, "correction_delay_s": 5400, "notes": 1})
    'corrected: 3 posts by 2 accounts against 40 by 30, first 1 h 30 min after the claim; 1 Community Note'
    >>> correction_line({"claim_posts": 5, "claim_accounts": 5, "correction_posts": 0,
    ...                  "correction_accounts": 0, "correction_delay_s": None, "notes": 0})
    'no correction seen (no fact-check link, no Community Note)'
    """
    if r.get("claim_posts") is None:
        return "claim vs correction: not computed in this build"
    notes = int(r.get("notes") or 0)
    if not r.get("correction_posts") and not notes:
        return "no correction seen (no fact-check link, no Community Note)"
    text = (
        f"corrected: {r['correction_posts'] or 0:,} posts by {r['correction_accounts'] or 0:,} "
        f"accounts against {r['claim_posts']:,} by {r['claim_accounts']:,}"
    )
    if r.get("correction_delay_s") is not None:
        text += f", first {duration(r['correction_delay_s'])} after the claim"
    if notes:
        text += f"; {notes:,} Community Note" + ("s" if notes != 1 else "")
    return text

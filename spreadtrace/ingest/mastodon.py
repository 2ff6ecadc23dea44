"""Mastodon / ActivityPub reader: API ``Status`` entities, one per line or in arrays.

Why: Mastodon's REST API (``/api/v1/timelines/...``, ``/api/v1/accounts/:id/statuses``)
is how the fediverse is collected; tools save its pages as arrays or one status per
line. Status ids are local to the instance that was asked, so ``post_id`` is
``mastodon:<id>`` and one capture should come from one instance.

Mapping: ``reblog`` -> a ``repost`` of the reblogged status (which is a post too);
``in_reply_to_id`` -> a ``reply``; a quoted status (``quote.quoted_status``, Mastodon
4.4+) -> a ``quote``. Reply wins over quote. ``account`` is an account snapshot
(``acct`` as handle, counts, ``note`` as description, observed at ingestion time);
``tags`` are hashtags; links in the HTML ``content`` (not mentions or hashtags) and the
preview ``card`` are URLs; ``media_attachments`` become media references (their URL).
``content`` is turned from HTML into plain text. ``visibility`` and the status ``url``
go in ``platform_meta``.

>>> rows = read_status({"id": "2", "uri": "https://m.example/s/2",
...     "created_at": "2024-05-01T10:00:00.000Z", "account": {"id": "9", "acct": "bo"},
...     "content": "", "reblog": {"id": "1", "uri": "https://o.example/s/1",
...         "created_at": "2024-05-01T09:00:00.000Z", "account": {"id": "8", "acct": "al@o.example"},
...         "content": "<p>hi</p>"}})
>>> [(k, r.get("post_id") or r.get("account_id"), r.get("kind"), r.get("parent_id")) for k, r, _ in rows]
[('posts', 'mastodon:2', 'repost', 'mastodon:1'), ('accounts', 'mastodon:9', None, None), ('posts', 'mastodon:1', 'original', None), ('accounts', 'mastodon:8', None, None)]
"""

from __future__ import annotations

import html
import json
import re

from spreadtrace.ingest.records import RecordError, Row, flag, joined, s

_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.I)
_HREF = re.compile(r"<a\s([^>]*)>", re.I)
_ATTR = re.compile(r'(href|class)="([^"]*)"', re.I)


def _id(value: object) -> str | None:
    text = s(value)
    return f"mastodon:{text}" if text else None


def plain_text(content: object) -> str | None:
    """Mastodon's sanitised HTML -> plain text (line breaks kept, entities undone).

    >>> plain_text('<p>Hello <a href="https://x.example">x.example</a><br>&amp; bye</p>')
    'Hello x.example\\n& bye'
    """
    if not isinstance(content, str) or not content:
        return None
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", content))).strip() or None


def _links(content: object) -> list[str]:
    out = []
    for attrs in _HREF.findall(content if isinstance(content, str) else ""):
        found = dict((k.lower(), v) for k, v in _ATTR.findall(attrs))
        classes = found.get("class", "")
        if "mention" in classes or "hashtag" in classes or not found.get("href"):
            continue
        out.append(html.unescape(found["href"]))
    return out


def read_status(obj: dict) -> list[Row]:
    """Canonical rows from one status (and the status it reblogs or quotes)."""
    if obj.get("id") is None or not isinstance(obj.get("account"), dict):
        raise RecordError("not a Mastodon status (no id or account)")
    rows: list[Row] = []
    _status(obj, rows, depth=0)
    return rows


def _status(t: dict, rows: list[Row], depth: int) -> None:
    account = _v if isinstance(_v := t.get("account"), dict) else {}
    reblog = t.get("reblog") if isinstance(t.get("reblog"), dict) else None
    quote = _v if isinstance(_v := t.get("quote"), dict) else {}
    quoted = quote.get("quoted_status") if isinstance(quote.get("quoted_status"), dict) else None
    if reblog is not None:
        kind, parent = "repost", _id(reblog.get("id"))
    elif t.get("in_reply_to_id"):
        kind, parent = "reply", _id(t.get("in_reply_to_id"))
    elif quoted is not None or quote.get("quoted_status_id"):
        kind, parent = "quote", _id((quoted or {}).get("id") or quote.get("quoted_status_id"))
    else:
        kind, parent = "original", None
    urls = _links(t.get("content"))
    card = _v if isinstance(_v := t.get("card"), dict) else {}
    if card.get("url") and card["url"] not in urls:
        urls.append(card["url"])
    tags = [x.get("name") for x in t.get("tags") or [] if isinstance(x, dict)]
    media = [
        m.get("url") or m.get("remote_url") or f"mastodon-media:{m.get('id')}"
        for m in t.get("media_attachments") or []
        if isinstance(m, dict)
    ]
    meta = {"visibility": t.get("visibility"), "url": t.get("url"), "uri": t.get("uri")}
    rows.append(
        (
            "posts",
            {
                "post_id": _id(t.get("id")),
                "account_id": _id(account.get("id")),
                "created_at": s(t.get("created_at")),
                "parent_id": parent,
                "kind": kind,
                "text": plain_text(t.get("content")),
                "urls": joined(urls),
                "hashtags": joined(tags),
                "media": joined(media),
                "lang": s(t.get("language")),
                "platform": "mastodon",
                "platform_meta": json.dumps(meta, ensure_ascii=False),
            },
            None,
        )
    )
    if account:
        rows.append(("accounts", _account(account), None))
    if depth < 3:
        if reblog is not None:
            _status(reblog, rows, depth + 1)
        if quoted is not None:
            _status(quoted, rows, depth + 1)


def _account(a: dict) -> dict[str, str | None]:
    avatar = a.get("avatar")
    return {
        "account_id": _id(a.get("id")),
        "handle": s(a.get("acct")) or s(a.get("username")),
        "display_name": s(a.get("display_name")),
        "created_at": s(a.get("created_at")),
        "followers_count": s(a.get("followers_count")),
        "following_count": s(a.get("following_count")),
        "posts_count": s(a.get("statuses_count")),
        "default_profile_image": (
            flag("missing" in avatar) if isinstance(avatar, str) and avatar else None
        ),
        "description": plain_text(a.get("note")),
        "platform": "mastodon",
    }

"""Reddit reader: Pushshift-style NDJSON of submissions and comments.

Why: the Pushshift dumps (and tools that mimic them, e.g. the Arctic Shift archives)
are how Reddit is studied; each line is a submission or a comment object as Reddit's
API returned it.

Mapping: a submission (``title``, no ``link_id``) is an ``original`` with id ``t3_<id>``;
its link (``url``, when not a self post) is its URL and ``title`` + ``selftext`` its
text; a crosspost (``crosspost_parent``) is a ``repost`` of the submission it copies. A comment (``link_id`` and ``parent_id``) is a ``reply`` with id ``t1_<id>``
whose parent is ``parent_id`` as given (``t1_...`` for a comment, ``t3_...`` for the
submission) and whose ``root_id`` is ``link_id``, so the two kinds join. The author
(``u/<name>``; deleted authors stay ``u/[deleted]``) is the account; ``created_utc`` the
time (epoch seconds). ``subreddit``, ``score`` and ``permalink`` go in ``platform_meta``.

>>> rows = read_item({"id": "c1", "author": "al", "created_utc": 1700000000,
...     "subreddit": "news", "body": "source?", "link_id": "t3_s1", "parent_id": "t3_s1"})
>>> p = rows[0][1]; p["post_id"], p["kind"], p["parent_id"], p["root_id"], p["platform_meta"]
('t1_c1', 'reply', 't3_s1', 't3_s1', '{"subreddit": "news", "score": null, "permalink": null}')
"""

from __future__ import annotations

import json

from spreadtrace.ingest.records import RecordError, Row, s


def _fullname(value: object, prefix: str) -> str | None:
    text = s(value)
    if text is None:
        return None
    return text if text.startswith(("t1_", "t3_")) else f"{prefix}{text}"


def read_item(obj: dict) -> list[Row]:
    """Canonical rows from one submission or comment."""
    if obj.get("id") is None or "subreddit" not in obj:
        raise RecordError("not a Reddit submission or comment (no id or subreddit)")
    author = s(obj.get("author"))
    meta = json.dumps(
        {
            "subreddit": obj.get("subreddit"),
            "score": obj.get("score"),
            "permalink": obj.get("permalink"),
        },
        ensure_ascii=False,
    )
    base = {
        "account_id": f"u/{author}" if author else None,
        "created_at": s(obj.get("created_utc")),
        "platform": "reddit",
        "platform_meta": meta,
        "lang": None,
    }
    if "link_id" in obj or "parent_id" in obj:  # a comment
        post = {
            **base,
            "post_id": _fullname(obj.get("id"), "t1_"),
            "parent_id": s(obj.get("parent_id")),
            "kind": "reply",
            "root_id": s(obj.get("link_id")),
            "text": s(obj.get("body")),
        }
    else:  # a submission
        url = s(obj.get("url"))
        is_self = bool(obj.get("is_self")) or (url or "").find("/comments/") >= 0
        text = "\n\n".join(x for x in (s(obj.get("title")), s(obj.get("selftext"))) if x)
        crosspost = s(obj.get("crosspost_parent"))
        post = {
            **base,
            "post_id": _fullname(obj.get("id"), "t3_"),
            "parent_id": crosspost,
            "kind": "repost" if crosspost else "original",
            "text": text or None,
            "urls": None if is_self else url,
        }
    rows: list[Row] = [("posts", post, None)]
    if author and author != "[deleted]":
        rows.append(
            (
                "accounts",
                {"account_id": f"u/{author}", "handle": author, "platform": "reddit"},
                None,
            )
        )
    return rows

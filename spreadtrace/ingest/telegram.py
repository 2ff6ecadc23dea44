"""Telegram reader: Telegram Desktop's JSON export (``result.json``).

Why: Telegram channels are where much misinformation now travels, and Telegram
Desktop's "Export chat history" (JSON) is how researchers get them. The export is one
JSON document: a chat (``name``, ``type``, ``id``, ``messages``), or for a full
account export ``chats.list`` of such chats.

Mapping. Message ids count per chat, so ``post_id`` is ``tg:<chat id>/<message id>``;
``account_id`` is the sender's ``from_id`` (``channel<id>`` or ``user<id>``). A message
with ``forwarded_from`` is a ``repost``: its parent is ``tg:<source chat>/<message>``
when the export names both (``forwarded_from_id`` and ``forward_from_message_id``,
written by newer exports and by Telethon dumps), else unknown (the cascade builder
then infers one). ``reply_to_message_id`` makes a ``reply`` in the same chat (reply
wins over forward, as elsewhere). Links and hashtags come from ``text_entities``;
``photo`` and ``file`` become media references (``photo:<path>``, ``<media_type>:<path>``,
or ``photo:tg:<chat>/<message>`` when the export left the file out). The chat, each
sender and each forwarded-from channel are account snapshots (channels as accounts).
Service messages (joins, pins) are skipped and counted. The chat's name and type go
in ``platform_meta``.

>>> doc = {"name": "News", "type": "public_channel", "id": 42, "messages": [
...     {"id": 7, "type": "message", "date_unixtime": "1700000000", "from": "News",
...      "from_id": "channel42", "forwarded_from": "Src", "forwarded_from_id": "channel9",
...      "forward_from_message_id": 3, "text": ["see ", {"type": "link", "text": "https://x.example"}],
...      "text_entities": [{"type": "plain", "text": "see "}, {"type": "link", "text": "https://x.example"}]}]}
>>> rows = [r for m in records(doc) for r in read_message(m)]
>>> post = rows[0][1]
>>> post["post_id"], post["kind"], post["parent_id"], post["urls"]
('tg:42/7', 'repost', 'tg:9/3', 'https://x.example')
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from spreadtrace.ingest.records import RecordError, Row, joined, s

_NOT_INCLUDED = "(File not included"
_CHANNEL_TYPES = {"public_channel", "private_channel"}


def records(doc: object) -> Iterator[dict]:
    """Each message of the export, with its chat attached as ``_chat``."""
    if not isinstance(doc, dict):
        raise RecordError("not a Telegram Desktop export (not a JSON object)")
    chats = doc["chats"].get("list", []) if isinstance(doc.get("chats"), dict) else [doc]
    for chat in chats:
        if not isinstance(chat, dict):
            continue
        info = {"id": chat.get("id"), "name": chat.get("name"), "type": chat.get("type")}
        for message in chat.get("messages") or []:
            if isinstance(message, dict):
                yield {**message, "_chat": info}
            else:
                yield {"_not_a_message": message, "_chat": info}


def _peer(from_id: object) -> str | None:
    """``channel123`` / ``user123`` / ``chat123`` -> ``123`` (the chat id of a channel)."""
    text = s(from_id)
    if text is None:
        return None
    for prefix in ("channel", "chat", "user"):
        if text.startswith(prefix) and text[len(prefix) :].lstrip("-").isdigit():
            return text[len(prefix) :]
    return text


def _text(value: object) -> str | None:
    if isinstance(value, list):
        return s(
            "".join(v if isinstance(v, str) else str((v or {}).get("text", "")) for v in value)
        )
    return s(value)


def _entities(message: dict) -> tuple[list[str], list[str]]:
    entities = message.get("text_entities")
    if entities is None and isinstance(message.get("text"), list):
        entities = [e for e in message["text"] if isinstance(e, dict)]
    urls: list[str] = []
    tags: list[str] = []
    for e in entities or []:
        if not isinstance(e, dict):
            continue
        kind = e.get("type")
        if kind == "link" and e.get("text"):
            urls.append(str(e["text"]))
        elif kind == "text_link" and e.get("href"):
            urls.append(str(e["href"]))
        elif kind == "hashtag" and e.get("text"):
            tags.append(str(e["text"]).lstrip("#"))
    return urls, tags


def _media(message: dict, post_id: str) -> list[str]:
    out = []
    for key in ("photo", "file"):
        value = s(message.get(key))
        if value is None:
            continue
        label = "photo" if key == "photo" else s(message.get("media_type")) or "file"
        out.append(f"{label}:{post_id}" if value.startswith(_NOT_INCLUDED) else f"{label}:{value}")
    return out


def read_message(message: dict) -> list[Row]:
    """Canonical rows (a post and its account snapshots) from one exported message."""
    chat = message.get("_chat") or {}
    if "_not_a_message" in message:
        raise RecordError("Telegram message is not an object")
    if message.get("type") != "message":
        return []  # service messages: joins, pins, title changes ...
    chat_id = s(chat.get("id"))
    if chat_id is None or message.get("id") is None:
        raise RecordError("Telegram message without a chat id or message id")
    post_id = f"tg:{chat_id}/{message['id']}"
    sender = s(message.get("from_id")) or (
        f"channel{chat_id}" if chat.get("type") in _CHANNEL_TYPES else None
    )
    reply_to = s(message.get("reply_to_message_id"))
    forwarded = message.get("forwarded_from") is not None or "forwarded_from_id" in message
    source = _peer(message.get("forwarded_from_id"))
    source_msg = s(message.get("forward_from_message_id"))
    parent: str | None
    if reply_to:
        kind, parent = "reply", f"tg:{chat_id}/{reply_to}"
    elif forwarded:
        kind = "repost"
        parent = f"tg:{source}/{source_msg}" if source and source_msg else None
    else:
        kind, parent = "original", None
    urls, tags = _entities(message)
    meta = {"chat": chat.get("name"), "chat_type": chat.get("type")}
    if forwarded:
        meta["forwarded_from"] = message.get("forwarded_from")
    created = s(message.get("date_unixtime")) or s(message.get("date"))
    rows: list[Row] = [
        (
            "posts",
            {
                "post_id": post_id,
                "account_id": sender,
                "created_at": created,
                "parent_id": parent,
                "kind": kind,
                "text": _text(message.get("text")),
                "urls": joined(urls),
                "hashtags": joined(tags),
                "media": joined(_media(message, post_id)),
                "platform": "telegram",
                "platform_meta": json.dumps(meta, ensure_ascii=False),
            },
            None,
        )
    ]
    if chat.get("type") in _CHANNEL_TYPES:
        rows.append(_account(f"channel{chat_id}", chat.get("name")))
    if sender and message.get("from") is not None and sender != f"channel{chat_id}":
        rows.append(_account(sender, message.get("from")))
    if forwarded and message.get("forwarded_from_id"):
        rows.append(_account(s(message["forwarded_from_id"]), message.get("forwarded_from")))
    return rows


def _account(account_id: str | None, name: object) -> Row:
    return (
        "accounts",
        {"account_id": account_id, "display_name": s(name), "platform": "telegram"},
        None,
    )

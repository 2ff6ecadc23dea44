"""Records of one large JSON document, streamed: a top-level array, or a Telegram export.

Why: a Telegram Desktop export is one JSON document (``result.json``) that can hold
millions of messages; parsed whole it takes several times its size in memory, and a
hostile one (a 3 GiB string in a 3 MB gzip) takes the machine down. The document is
fed to ijson's incremental parser (yajl, C) in 64 KiB pieces; each record is built
alone and handed on, so memory follows the largest record, not the document:

- a record whose JSON text runs over ``max_record`` bytes is not built: it comes out
  as :class:`TooLarge` (a reject with its position), and reading goes on;
- a single JSON value (a string, a number) over ``max_record`` bytes produces no parser
  event while its bytes arrive; after ``max_record`` such bytes the document is refused
  in one line (:class:`ValueTooLarge`) rather than held;
- broken JSON stops the stream with ``ijson.JSONError`` (the caller's one-line error,
  after the records read so far).

>>> import io
>>> doc = b'{"name": "c", "type": "public_channel", "id": 7, "messages": [{"id": 1}, {"id": 2}]}'
>>> [(n, r["id"], r["_chat"]["id"]) for n, r in telegram_records(io.BytesIO(doc))]
[(1, 1, 7), (2, 2, 7)]
>>> [r for _, r in array_records(io.BytesIO(b'[{"a": 1}, 2]'))]
[{'a': 1}, 2]
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ijson
from ijson.common import ObjectBuilder

__all__ = [
    "NestedTooDeep",
    "TooDeep",
    "TooLarge",
    "ValueTooLarge",
    "array_records",
    "telegram_records",
]

CHUNK = 1 << 16
MAX_RECORD = 16 << 20
"""A record's JSON text may be this long (the line cap of the line readers)."""

_CHAT_KEYS = ("id", "name", "type")


@dataclass(frozen=True)
class TooLarge:
    """A record whose text ran over the cap: not built, only its size is known."""

    size: int

    def reason(self, cap: int = MAX_RECORD) -> str:
        return f"record longer than {cap >> 20} MiB, not read"


class ValueTooLarge(ValueError):
    """A single JSON value (one string, say) longer than the cap: the document is refused."""


MAX_DEPTH = 512
"""Deepest nesting of a record (as for the line readers' JSON depth limit)."""


class TooDeep(ValueError):
    """The document's own structure (outside any record) nests deeper than the limit."""


@dataclass(frozen=True)
class NestedTooDeep:
    """A record nested deeper than the limit: not built (a reject)."""

    def reason(self, depth: int = MAX_DEPTH) -> str:
        return f"JSON nested deeper than {depth} levels"


def _events(stream: io.BufferedIOBase, cap: int) -> Iterator[tuple[str, Any, int]]:
    """(event, value, bytes fed so far) of the document, in bounded memory.

    ``basic_parse``, not ``parse``: the latter builds every event's dotted prefix,
    whose length grows with the depth, so a hostile deeply nested document costs time
    and memory quadratic in its depth (a 100,000-deep one was killed for memory).
    """
    out: list[tuple[str, Any]] = ijson.sendable_list()
    coro = ijson.basic_parse_coro(out, use_float=True)
    fed = silent = 0
    while chunk := stream.read(CHUNK):
        coro.send(chunk)
        fed += len(chunk)
        if out:
            silent = 0
            for event, value in out:
                yield event, value, fed
            del out[:]
        else:
            silent += len(chunk)
            if silent > cap:
                raise ValueTooLarge(
                    f"a single JSON value over {cap >> 20} MiB near byte {fed:,}; not read"
                )
    coro.close()
    for event, value in out:
        yield event, value, fed


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _records(
    stream: io.BufferedIOBase, item_prefixes: tuple[str, ...], cap: int, chat: bool
) -> Iterator[tuple[int, Any]]:
    """Records at any of ``item_prefixes`` (ijson-style prefixes ending in ``.item``).

    Outside records the path is kept as a stack of prefixes (one per open container,
    so each event costs O(1)); inside a record only its nesting level is counted.
    """
    stack: list[str] = []  # the prefix of each open container
    kinds: list[str] = []  # "map" or "array", per open container
    key: list[str] = []  # the current key of each open map ("" for arrays)
    builder: ObjectBuilder | None = None
    level = 0  # nesting inside the current record (0: not in a record)
    start = 0
    bad: Any = None  # TooLarge / NestedTooDeep for the current record
    info: dict[str, Any] = {}
    n = 0

    def here() -> str:
        """The prefix of the value the next event opens or holds."""
        if not stack:
            return ""
        part = "item" if kinds[-1] == "array" else key[-1]
        return f"{stack[-1]}.{part}" if stack[-1] else part

    for event, value, fed in _events(stream, cap):
        if level:  # inside a record
            if event in ("start_map", "start_array"):
                level += 1
                if level > MAX_DEPTH and bad is None:
                    bad, builder = NestedTooDeep(), None
            elif event in ("end_map", "end_array"):
                level -= 1
            if bad is None and fed - start > cap + CHUNK:
                bad, builder = TooLarge(fed - start), None  # stop building; read to its end
            if builder is not None:
                builder.event(event, _plain(value))
            if level == 0:
                n += 1
                if bad is not None:
                    yield n, bad
                else:
                    assert builder is not None
                    record = builder.value
                    if chat and isinstance(record, dict):
                        record = {**record, "_chat": dict(info)}
                    elif chat:
                        record = {"_not_a_message": record, "_chat": dict(info)}
                    yield n, record
                builder = None
            continue
        if event == "map_key":
            key[-1] = str(value)
            continue
        if event in ("end_map", "end_array"):
            stack.pop()
            kinds.pop()
            key.pop()
            continue
        prefix = here()
        if prefix in item_prefixes:
            if event in ("start_map", "start_array"):
                level, start, bad = 1, fed, None
                builder = ObjectBuilder()
                builder.event(event, value)
            else:  # a scalar item
                n += 1
                rec = _plain(value)
                yield n, ({"_not_a_message": rec, "_chat": dict(info)} if chat else rec)
            continue
        if event in ("start_map", "start_array"):
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(f"JSON document nested deeper than {MAX_DEPTH} levels")
            if chat and event == "start_map" and prefix in ("", "chats.list.item"):
                info = {}
            stack.append(prefix)
            kinds.append("map" if event == "start_map" else "array")
            key.append("")
            continue
        if chat:
            for base in ("", "chats.list.item."):
                if prefix.startswith(base) and prefix[len(base) :] in _CHAT_KEYS:
                    info[prefix[len(base) :]] = _plain(value)


def telegram_records(stream: io.BufferedIOBase, cap: int = MAX_RECORD) -> Iterator[tuple[int, Any]]:
    """(record number, message with ``_chat``) of a Telegram Desktop export: one chat
    (``messages``) or all chats (``chats.list[].messages``)."""
    return _records(stream, ("messages.item", "chats.list.item.messages.item"), cap, True)


def array_records(stream: io.BufferedIOBase, cap: int = MAX_RECORD) -> Iterator[tuple[int, Any]]:
    """(record number, item) of a top-level JSON array."""
    return _records(stream, ("item",), cap, False)

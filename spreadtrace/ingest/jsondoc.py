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

A Telegram chat's ``id``, ``name`` and ``type`` may come after its ``messages`` (an
export re-serialised with sorted keys, or by another tool): a message cannot be
finished before its chat is known, so until all three are seen the chat's records are
spooled to a temporary file (:class:`_Spool`, one JSON line each, at most ``spool_cap``
bytes) and handed on when the chat's object ends. Desktop's own order spools nothing.

>>> import io
>>> doc = b'{"name": "c", "type": "public_channel", "id": 7, "messages": [{"id": 1}, {"id": 2}]}'
>>> [(n, r["id"], r["_chat"]["id"]) for n, r in telegram_records(io.BytesIO(doc))]
[(1, 1, 7), (2, 2, 7)]
>>> late = b'{"messages": [{"id": 1}, 3], "name": "c", "type": "public_channel", "id": 7}'
>>> [(n, r["_chat"]["id"]) for n, r in telegram_records(io.BytesIO(late))]
[(1, 7), (2, 7)]
>>> [r for _, r in array_records(io.BytesIO(b'[{"a": 1}, 2]'))]
[{'a': 1}, 2]
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ijson
from ijson.common import ObjectBuilder

__all__ = [
    "NestedTooDeep",
    "SpoolTooLarge",
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
_CHATS = ("", "chats.list.item")  # the prefixes of a chat object (one chat, or a list's)

MAX_SPOOL = 8 << 30
"""The most bytes of one chat's messages spooled to disk while its keys are unknown."""


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


class SpoolTooLarge(ValueError):
    """A chat's messages before its id ran over the spool cap: the document is refused."""


class _Spool:
    """Records of one chat, held on disk (one JSON line each) until its keys are known.

    Why a file: the messages before a late ``id`` may be the whole chat (gigabytes); on
    disk they cost no memory, and reading them back is one ``json.loads`` per record.
    A :class:`TooLarge` / :class:`NestedTooDeep` marker is spooled as its tag.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.size = 0
        self.file: Any = None

    def __bool__(self) -> bool:
        return self.size > 0

    def add(self, n: int, record: Any) -> None:
        if isinstance(record, TooLarge):
            item: list[Any] = [n, "L", record.size]
        elif isinstance(record, NestedTooDeep):
            item = [n, "D", None]
        else:
            item = [n, "R", record]
        line = json.dumps(item).encode() + b"\n"  # ASCII: a lone surrogate stays an escape
        self.size += len(line)
        if self.size > self.cap:
            raise SpoolTooLarge(
                f"a chat's messages before its id ran over {self.cap >> 20} MiB; not read "
                "(write the chat's id, name and type before its messages)"
            )
        if self.file is None:
            self.file = tempfile.TemporaryFile()
        self.file.write(line)

    def drain(self) -> Iterator[tuple[int, Any]]:
        """Every spooled record, in order; the spool is empty (and its file gone) after."""
        if self.file is None:
            return
        file, self.file, self.size = self.file, None, 0
        with file:
            file.seek(0)
            for line in file:
                n, tag, value = json.loads(line)
                if tag == "L":
                    yield n, TooLarge(value)
                elif tag == "D":
                    yield n, NestedTooDeep()
                else:
                    yield n, value

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _with_chat(record: Any, info: dict[str, Any]) -> Any:
    if isinstance(record, (TooLarge, NestedTooDeep)):
        return record
    if isinstance(record, dict):
        return {**record, "_chat": dict(info)}
    return {"_not_a_message": record, "_chat": dict(info)}


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
    stream: io.BufferedIOBase,
    item_prefixes: tuple[str, ...],
    cap: int,
    chat: bool,
    spool_cap: int = MAX_SPOOL,
) -> Iterator[tuple[int, Any]]:
    """Records at any of ``item_prefixes`` (ijson-style prefixes ending in ``.item``).

    Outside records the path is kept as a stack of prefixes (one per open container,
    so each event costs O(1)); inside a record only its nesting level is counted.
    With ``chat``, each record gets its chat's keys (``_chat``); a record read before
    all of them is spooled until its chat's object ends (see the module docstring).
    """
    spool = _Spool(spool_cap)
    try:
        yield from _records_spooled(stream, item_prefixes, cap, chat, spool)
    finally:
        spool.close()


def _records_spooled(
    stream: io.BufferedIOBase,
    item_prefixes: tuple[str, ...],
    cap: int,
    chat: bool,
    spool: _Spool,
) -> Iterator[tuple[int, Any]]:
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
                    record = bad
                else:
                    assert builder is not None
                    record = builder.value
                builder = None
                if not chat:
                    yield n, record
                elif spool or any(k not in info for k in _CHAT_KEYS):
                    spool.add(n, record)  # its chat is not known yet
                else:
                    yield n, _with_chat(record, info)
            continue
        if event == "map_key":
            key[-1] = str(value)
            continue
        if event in ("end_map", "end_array"):
            closed = stack.pop()
            kinds.pop()
            key.pop()
            if chat and event == "end_map" and closed in _CHATS and spool:
                for m, record in spool.drain():  # the chat's keys are all read now
                    yield m, _with_chat(record, info)
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
                if not chat:
                    yield n, rec
                elif spool or any(k not in info for k in _CHAT_KEYS):
                    spool.add(n, rec)
                else:
                    yield n, _with_chat(rec, info)
            continue
        if event in ("start_map", "start_array"):
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(f"JSON document nested deeper than {MAX_DEPTH} levels")
            if chat and event == "start_map" and prefix in _CHATS:
                info = {}
            stack.append(prefix)
            kinds.append("map" if event == "start_map" else "array")
            key.append("")
            continue
        if chat:
            for base in ("", "chats.list.item."):
                if prefix.startswith(base) and prefix[len(base) :] in _CHAT_KEYS:
                    info[prefix[len(base) :]] = _plain(value)


def telegram_records(
    stream: io.BufferedIOBase, cap: int = MAX_RECORD, spool_cap: int = MAX_SPOOL
) -> Iterator[tuple[int, Any]]:
    """(record number, message with ``_chat``) of a Telegram Desktop export: one chat
    (``messages``) or all chats (``chats.list[].messages``), its keys in any order."""
    items = ("messages.item", "chats.list.item.messages.item")
    return _records(stream, items, cap, True, spool_cap)


def array_records(stream: io.BufferedIOBase, cap: int = MAX_RECORD) -> Iterator[tuple[int, Any]]:
    """(record number, item) of a top-level JSON array."""
    return _records(stream, ("item",), cap, False)

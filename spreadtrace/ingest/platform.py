"""Stream a platform export (JSON Lines, or one JSON document) through its reader into
the staging tables.

Why a driver apart from the readers: every platform file has the same failure modes
(invalid UTF-8, broken JSON, truncated gzip, records of an unexpected shape) and the
same guarantee (every line is ingested, skipped on purpose, or rejected with its raw
text). The driver owns those; a reader is a pure function from one parsed JSON object
to canonical rows, so adding a format never touches the store. Rows are buffered and
handed to the store in Arrow batches; only the current batch is held in Python.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from spreadtrace.canonical import LONE_SURROGATE
from spreadtrace.errors import InputError
from spreadtrace.ingest import bluesky, mastodon, reddit, telegram, twitter
from spreadtrace.ingest.detect import (
    BAD_COMPRESSED,
    Detected,
    LongLine,
    iter_lines,
    open_content,
)
from spreadtrace.ingest.records import RecordError, Row
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import ingest as sql

Reader = Callable[[dict], list[Row]]

READERS: dict[str, Reader] = {
    "twitter-v1": twitter.read_v1,
    "twitter-v2": twitter.read_v2,
    "bluesky": bluesky.read_jetstream,
    "telegram": telegram.read_message,
    "mastodon": mastodon.read_status,
    "reddit": reddit.read_item,
}

# Formats whose JSON document holds its records somewhere other than a top-level array.
DOCUMENT_RECORDS: dict[str, Callable[[object], Iterator[dict]]] = {
    "telegram": telegram.records,
}

BATCH_ROWS = 20_000

MAX_JSON_DEPTH = 512
"""Deepest nesting of arrays and objects a platform record may have. Real records nest
under 20 levels; Python's parser recurses, so a deeper line would raise RecursionError.
A deeper line is a reject ("JSON nested deeper than 512 levels")."""

MAX_DOCUMENT_BYTES = 1 << 30
"""The largest single JSON document (a Telegram export, a JSON array) read, decompressed:
such a document is parsed whole, so a larger one is refused in one line (split it, or
write it as JSON Lines, which stream)."""


@dataclass
class PlatformStats:
    """Lines seen, and lines deliberately skipped (other record kinds)."""

    lines: int = 0
    skipped: int = 0


class _Buffer:
    """Column lists for one staging table, flushed to DuckDB as an Arrow batch."""

    def __init__(self, kind: str, columns: tuple[str, ...]) -> None:
        self.kind = kind
        self.columns = ("record_no", "raw", *columns)
        self.data: dict[str, list[object]] = {c: [] for c in self.columns}

    def __len__(self) -> int:
        return len(self.data["record_no"])

    def add(self, record_no: int, raw: str, row: dict[str, str | None]) -> None:
        self.data["record_no"].append(record_no)
        self.data["raw"].append(raw)
        for c in self.columns[2:]:
            self.data[c].append(row.get(c))

    def flush(self, con: sql.Connection) -> None:
        if not len(self):
            return
        arrays = {
            c: pa.array(v, type=pa.int64() if c == "record_no" else pa.string())
            for c, v in self.data.items()
        }
        sql.append_source(con, self.kind, pa.table(arrays))
        self.data = {c: [] for c in self.columns}


def read_platform(
    con: sql.Connection,
    path: Path,
    detected: Detected,
    *,
    progress: ProgressFn | None = None,
    task: str = "ingest",
    limit: int | None = None,
) -> PlatformStats:
    """Read a platform file into the staging tables (``_ing_src_*``).

    ``limit``: stop after that many records (``spreadtrace inspect``'s preview).
    """
    reader = READERS[detected.format]
    kinds = ("posts", "accounts", "follows", "media")
    buffers = {kind: _Buffer(kind, sql.COLUMNS[kind]) for kind in kinds}
    rejects = _Buffer("rejects", ("reason",))
    stats = PlatformStats()
    size = path.stat().st_size or 1
    kind = detected.compression or ("gzip" if detected.compressed else "compressed")
    if detected.container == "json":
        _read_document(path, detected, reader, buffers, rejects, stats, kind, limit)
    else:
        with open_content(path) as stream:
            try:
                for line_no, line in enumerate(iter_lines(stream), 1):
                    if isinstance(line, LongLine):
                        stats.lines += 1
                        rejects.add(line_no, line.raw(), {"reason": line.reason()})
                        continue
                    if not line.strip():
                        continue
                    stats.lines += 1
                    _one_line(reader, detected.format, line_no, line, buffers, rejects, stats)
                    if limit is not None and stats.lines >= limit:
                        break
                    if line_no % BATCH_ROWS == 0:
                        for b in (*buffers.values(), rejects):
                            if len(b) >= BATCH_ROWS:
                                b.flush(con)
                        emit(progress, task + " (read lines)", line_no, None)
            except BAD_COMPRESSED as exc:
                raise _corrupt(path, detected, kind, exc) from None
    for b in (*buffers.values(), rejects):
        b.flush(con)
    emit(progress, task + " (read)", size, size)
    return stats


def _read_document(
    path: Path,
    detected: Detected,
    reader: Reader,
    buffers: dict[str, _Buffer],
    rejects: _Buffer,
    stats: PlatformStats,
    kind: str,
    limit: int | None = None,
) -> None:
    """A whole JSON document: an array of records, or a format's own container.

    An array, and a Telegram export, are streamed record by record
    (:mod:`spreadtrace.ingest.jsondoc`), so memory follows the largest record; any
    other document (one object) is parsed whole, up to :data:`MAX_DOCUMENT_BYTES`.
    """
    try:
        with open_content(path) as stream:
            head = stream.read(4096)
    except BAD_COMPRESSED as exc:
        raise _corrupt(path, detected, kind, exc) from None
    bom = len(head) - len(head.removeprefix(b"\xef\xbb\xbf"))
    first = head[bom:].lstrip()[:1]
    container = detected.format in DOCUMENT_RECORDS
    if first == b"[" or (first == b"{" and container):
        if container and first != b"{":
            raise InputError(f"{path}: not a {detected.format} export (not a JSON object)")
        _stream_document(path, detected, reader, buffers, rejects, stats, kind, limit, bom)
        return
    try:
        with open_content(path) as stream:
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InputError(
                f"{path}: a JSON document over {MAX_DOCUMENT_BYTES >> 20} MiB is parsed whole "
                "and is refused; split it, or write its records as JSON Lines"
            )
        doc = json.loads(data)
    except RecursionError:
        raise InputError(f"{path}: JSON document nested too deeply to read") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: a JSON document that is not UTF-8") from None
    except BAD_COMPRESSED as exc:
        raise _corrupt(path, detected, kind, exc) from None
    except UnicodeError:
        raise InputError(f"{path}: a JSON document that is not UTF-8") from None
    except ValueError as exc:
        raise InputError(f"{path}: broken JSON document ({_first(exc)})") from None
    if detected.format in DOCUMENT_RECORDS:
        if not isinstance(doc, dict):
            raise InputError(f"{path}: not a {detected.format} export (not a JSON object)")
        items: Iterator[object] = DOCUMENT_RECORDS[detected.format](doc)
    elif isinstance(doc, list):
        items = iter(doc)
    else:
        items = iter([doc])
    for record_no, obj in enumerate(items, 1):
        if limit is not None and record_no > limit:
            break
        stats.lines += 1
        _element(reader, detected.format, record_no, obj, buffers, rejects, stats)


def _stream_document(
    path: Path,
    detected: Detected,
    reader: Reader,
    buffers: dict[str, _Buffer],
    rejects: _Buffer,
    stats: PlatformStats,
    kind: str,
    limit: int | None,
    bom: int,
) -> None:
    """The records of a JSON array or a Telegram export, one at a time (bounded memory)."""
    import ijson

    from spreadtrace.ingest import jsondoc

    try:
        with open_content(path) as stream:
            stream.read(bom)
            records = (
                jsondoc.telegram_records(stream)
                if detected.format in DOCUMENT_RECORDS
                else jsondoc.array_records(stream)
            )
            for record_no, obj in records:
                if limit is not None and record_no > limit:
                    break
                stats.lines += 1
                if isinstance(obj, jsondoc.TooLarge):
                    raw = f"({obj.size:,} bytes of JSON)"
                    rejects.add(record_no, raw, {"reason": obj.reason()})
                    continue
                if isinstance(obj, jsondoc.NestedTooDeep):
                    rejects.add(record_no, "(not kept)", {"reason": obj.reason(MAX_JSON_DEPTH)})
                    continue
                _element(reader, detected.format, record_no, obj, buffers, rejects, stats)
    except (jsondoc.ValueTooLarge, jsondoc.TooDeep, jsondoc.SpoolTooLarge) as exc:
        raise InputError(f"{path}: {exc}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON document nested too deeply to read") from None
    except ijson.JSONError as exc:
        raise InputError(f"{path}: broken JSON document ({_first(exc)})") from None
    except BAD_COMPRESSED as exc:
        raise _corrupt(path, detected, kind, exc) from None
    except UnicodeError:
        raise InputError(f"{path}: a JSON document that is not UTF-8") from None


def _corrupt(path: Path, detected: Detected, kind: str, exc: BaseException) -> InputError:
    """The one-line error for a compressed stream that cannot be read to its end.

    An OSError from a file that is not compressed is no corruption: it is raised as is.
    """
    if isinstance(exc, OSError) and not detected.compression:
        raise exc
    return InputError(f"{path}: truncated or corrupt {kind} ({exc})")


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _one_line(
    reader: Reader,
    fmt: str,
    line_no: int,
    line: bytes,
    buffers: dict[str, _Buffer],
    rejects: _Buffer,
    stats: PlatformStats,
) -> None:
    if b"\x00" in line:
        reason = "NUL byte in line"
        rejects.add(
            line_no, line.replace(b"\x00", b"").decode("utf-8", "replace"), {"reason": reason}
        )
        return
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        rejects.add(line_no, line.decode("utf-8", "replace"), {"reason": "invalid UTF-8"})
        return
    if _too_deep(text):
        rejects.add(line_no, text, {"reason": _TOO_DEEP})
        return
    try:
        obj = json.loads(text)
    except RecursionError:
        rejects.add(line_no, text, {"reason": _TOO_DEEP})
        return
    except ValueError as exc:
        # A record cut off by the end of the input (a capture stopped mid-write) is
        # told apart from garbage: the decoder ran out of text.
        truncated = getattr(exc, "pos", -1) >= len(text.rstrip()) and text.lstrip()[:1] in "{["
        rejects.add(line_no, text, {"reason": _TRUNCATED if truncated else "broken JSON line"})
        return
    if fmt in DOCUMENT_RECORDS and isinstance(obj, dict) and ("messages" in obj or "chats" in obj):
        # a whole export written on one line (minified): its records, not one record
        try:
            n = 0
            for element in DOCUMENT_RECORDS[fmt](obj):
                n += 1
                _element(reader, fmt, line_no, element, buffers, rejects, stats)
            if n == 0:
                stats.skipped += 1  # an export without messages: counted, not lost
        except (RecordError, AttributeError, TypeError) as exc:
            rejects.add(line_no, text, {"reason": f"unusable {fmt} export ({exc})"})
        return
    if isinstance(obj, list):
        for element in obj:  # a line holding a page of records
            _element(reader, fmt, line_no, element, buffers, rejects, stats)
        return
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _dump(obj) is None:
        rejects.add(line_no, text, {"reason": LONE_SURROGATE})
        return
    _one_record(reader, fmt, line_no, obj, text, buffers, rejects, stats)


def _element(
    reader: Reader,
    fmt: str,
    line_no: int,
    element: object,
    buffers: dict[str, _Buffer],
    rejects: _Buffer,
    stats: PlatformStats,
) -> None:
    """One parsed record (of a page or a minified export on a line, or of a document),
    as JSON text for ``raw``; one holding a lone surrogate is a reject."""
    raw = _dump(element)
    if raw is None:
        rejects.add(line_no, json.dumps(element), {"reason": LONE_SURROGATE})
        return
    _one_record(reader, fmt, line_no, element, raw, buffers, rejects, stats)


_TRUNCATED = "truncated JSON record (the capture was cut off mid-record)"
# an escape of a surrogate that is not half of a pair (the cheap test before the exact one)
_SURROGATE_ESCAPE = re.compile(
    r"(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def _dump(obj: object) -> str | None:
    r"""``obj`` as JSON text, or None when it holds a lone surrogate (not a character).

    Why: Python's parser accepts an escape like ``"\ud800"`` that is not half of a
    pair, and makes a string no UTF-8 encoder takes; such a record crashed the batch
    writer. Such a record is a reject (:data:`LONE_SURROGATE`).

    >>> _dump(json.loads(r'{"a": "\ud83d\ude00"}')) == '{"a": "\U0001f600"}'
    True
    >>> _dump(json.loads(r'{"a": "\ud800"}')) is None
    True
    """
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


_TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays/objects deeper than ``limit``.

    Cheap for ordinary records: only a line with more than ``limit`` opening brackets
    in all can be that deep, and only such a line is scanned (strings removed, then the
    running depth of the brackets left).

    >>> _too_deep('{"a": [1, {"b": "[[[["}]}', limit=3), _too_deep("[[[[1]]]]", limit=3)
    (False, True)
    """
    if text.count("{") + text.count("[") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode()
    steps = np.frombuffer(brackets, dtype=np.uint8)
    depth = np.cumsum(np.where((steps == ord("{")) | (steps == ord("[")), 1, -1))
    return bool(len(depth)) and int(depth.max()) > limit


def _one_record(
    reader: Reader,
    fmt: str,
    line_no: int,
    obj: object,
    text: str,
    buffers: dict[str, _Buffer],
    rejects: _Buffer,
    stats: PlatformStats,
) -> None:
    if not isinstance(obj, dict):
        rejects.add(line_no, text, {"reason": "JSON line is not an object"})
        return
    try:
        rows = reader(obj)
    except RecursionError:
        rejects.add(line_no, text, {"reason": _TOO_DEEP})
        return
    except RecordError as exc:
        rejects.add(line_no, text, {"reason": str(exc)})
        return
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # A record of an unexpected shape: keep it, with what went wrong.
        rejects.add(line_no, text, {"reason": f"unusable {fmt} record ({type(exc).__name__})"})
        return
    if not rows:
        stats.skipped += 1
        return
    for kind, row, raw in rows:
        buffers[kind].add(line_no, raw if raw is not None else text, row)

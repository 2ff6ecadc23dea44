"""Tell what a file holds from its content: container (CSV, TSV, JSON Lines, a JSON
document, Parquet; gzip or zstd compressed) and format (canonical posts/accounts/follows,
Twitter v1.1, Twitter v2, Bluesky Jetstream, Telegram Desktop, Mastodon, Reddit).

Why sniff content rather than trust names: exports arrive as ``export.json``,
``tweets.jsonl.gz`` or ``data.txt``; analysts should not have to rename them. Detection
reads whole records (a twarc2 search page is one ~400 KB line), but only the first few
of them, so it stays instant on multi-gigabyte files.

>>> classify_keys({"post_id": "1", "account_id": "a", "created_at": "2024-01-01"})
'posts'
>>> classify_keys({"did": "did:plc:x", "time_us": 1, "kind": "commit"})
'bluesky'
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import zstandard

from spreadtrace.errors import InputError

CANONICAL_FORMATS: tuple[str, ...] = ("posts", "accounts", "follows", "media")
PLATFORM_FORMATS: tuple[str, ...] = (
    "twitter-v1",
    "twitter-v2",
    "bluesky",
    "telegram",
    "mastodon",
    "reddit",
)
NOTES_FORMATS: tuple[str, ...] = ("community-notes", "community-notes-status")  # TSV
FORMATS: tuple[str, ...] = CANONICAL_FORMATS + PLATFORM_FORMATS + NOTES_FORMATS

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "posts": ("post_id", "account_id", "created_at"),
    "accounts": ("account_id",),
    "follows": ("follower_id", "followee_id"),
    "media": ("media_id",),
    "community-notes": ("noteId", "createdAtMillis", "tweetId"),
    "community-notes-status": ("noteId", "firstNonNMRStatus"),
}

_HEAD_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARQUET_MAGIC = b"PAR1"
# Detection reads at most this many records, and this many bytes of them in all: a
# record is read whole whatever its length, up to this bound.
_DETECT_RECORDS = 200
_DETECT_BYTES = 1 << 26

MAX_LINE_BYTES = 16 << 20
"""The longest line (record) a platform reader reads: 16 MiB, 40 times a twarc2 search
page (~400 KB). A longer line is a reject, read past in bounded memory (a 3 GiB line
with no newline costs one chunk, not 3 GiB). Canonical files have DuckDB's own limit
(``spreadtrace.store.ingest.MAX_LINE_SIZE``)."""

_SHOWN_BYTES = 1000  # the head of an over-long line kept as its raw text in `rejects`
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LongLine:
    """A line over the cap: its first bytes and its full length (without the end)."""

    head: bytes
    size: int

    def reason(self, cap: int = MAX_LINE_BYTES) -> str:
        return f"line longer than {cap >> 20} MiB, not read"

    def raw(self) -> str:
        """The line's head, and its length (the reason stays the same for all)."""
        head = self.head[:_SHOWN_BYTES].decode("utf-8", "replace")
        return f"{head}... ({self.size:,} bytes in all)"


def iter_lines(
    stream: io.BufferedIOBase, cap: int = MAX_LINE_BYTES, chunk: int = _CHUNK
) -> Iterator[bytes | LongLine]:
    r"""The lines of a binary stream without their ends, in bounded memory.

    A line ends at ``\n``, ``\r\n`` or a lone ``\r`` (old Mac files are read too).
    A line longer than ``cap`` bytes comes out as a :class:`LongLine`; its bytes are
    counted, never held, so memory stays about ``cap + chunk`` whatever the input.

    >>> list(iter_lines(io.BytesIO(b"a\r\nb\rc\n\nd"), cap=5, chunk=2))
    [b'a', b'b', b'c', b'', b'd']
    >>> list(iter_lines(io.BytesIO(b"ok\n" + b"x" * 9 + b"\nok"), cap=5, chunk=4))
    [b'ok', LongLine(head=b'xxxxxxxxx', size=9), b'ok']
    """
    rest = b""  # the start of the current line, while it is within the cap
    long_head: bytes | None = None  # the current line is over the cap: its head ...
    long_size = 0  # ... and its length so far
    while data := stream.read(chunk):
        if data.endswith(b"\r"):  # a \r\n split by the chunk border stays one end
            data += stream.read(1)
        for part in data.splitlines(keepends=True):
            ended = part.endswith((b"\n", b"\r"))
            if long_head is not None:
                long_size += len(part)
                if ended:
                    yield LongLine(long_head, long_size - _eol_len(part))
                    long_head = None
                continue
            if rest:
                part = rest + part
                rest = b""
            size = len(part) - (_eol_len(part) if ended else 0)
            if size > cap:
                if ended:
                    yield LongLine(part[: min(size, _SHOWN_BYTES)], size)
                else:
                    long_head, long_size = part[:_SHOWN_BYTES], len(part)
            elif ended:
                yield part[:size]
            else:
                rest = part
    if long_head is not None:
        yield LongLine(long_head, long_size)
    elif rest:
        yield rest


class _Capped:
    """A stream that ends after ``left`` bytes (detection never reads a whole huge line)."""

    def __init__(self, stream: io.BufferedIOBase, left: int) -> None:
        self.stream, self.left = stream, left

    def read(self, size: int) -> bytes:
        data = self.stream.read(min(size, self.left))
        self.left -= len(data)
        return data


def _eol_len(part: bytes) -> int:
    return 2 if part.endswith(b"\r\n") else 1


@dataclass(frozen=True)
class Detected:
    """What a file is: ``format`` (one of FORMATS) in ``container`` (csv, tsv, jsonl, parquet)."""

    format: str
    container: str  # csv, tsv, jsonl, json (one document: an array or a Telegram export), parquet
    compressed: bool
    columns: tuple[str, ...] = ()  # header / Parquet columns (canonical CSV, TSV, Parquet)
    lenient: bool = False  # read CSV non-strictly (fallback for files the strict parser refuses)
    compression: str | None = None  # gzip | zstd | None

    @property
    def delimiter(self) -> str:
        return "\t" if self.container == "tsv" else ","


def compression_of(path: Path) -> str | None:
    """'gzip', 'zstd' or None, from the file's magic bytes (never its name)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == _GZIP_MAGIC:
        return "gzip"
    if magic == _ZSTD_MAGIC:
        return "zstd"
    return None


def is_gzip(path: Path) -> bool:
    return compression_of(path) == "gzip"


def open_content(path: Path) -> io.BufferedIOBase:
    """The file's decompressed content as a binary stream (gzip and zstd undone)."""
    kind = compression_of(path)
    raw = open(path, "rb")  # noqa: SIM115 -- closed by the caller through the wrapper
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            raw, closefd=True, read_across_frames=True
        )
        return io.BufferedReader(_ZstdEndChecked(reader, path), 1 << 20)
    return raw  # type: ignore[return-value]


class _ZstdEndChecked(io.RawIOBase):
    """A zstd stream that raises at its end when the file's last frame is cut off.

    Why: python-zstandard's reader ends quietly where the input ends, even mid-frame, so
    a half-downloaded ``.zst`` read as a shorter file (and DuckDB's own zstd read does
    the same). gzip raises there; this makes zstd match. The check walks the frame and
    block headers only (:func:`zstd_cut_off`), once, when the content is read to its end.
    """

    def __init__(self, reader: zstandard.ZstdDecompressionReader, path: Path) -> None:
        self._reader = reader
        self._path = path
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._reader.readinto(buffer)
        if not n and not self._checked:
            self._checked = True
            problem = zstd_cut_off(self._path)
            if problem:
                raise zstandard.ZstdError(problem)
        return n or 0

    def close(self) -> None:
        self._reader.close()
        super().close()


_ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)


def zstd_cut_off(path: Path) -> str | None:
    """Why the zstd file ``path`` ends before its last frame does, or None if whole.

    Walks the frame headers and block headers of RFC 8878 (sections 3.1.1-3.1.1.2),
    seeking over block contents, so the cost is one small read per 128 KiB block, not a
    decompression. Content errors inside blocks are the decompressor's to find.

    >>> import tempfile, zstandard
    >>> whole = zstandard.compress(b"x" * 100) + zstandard.compress(b"y")
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(whole[:-3])
    >>> zstd_cut_off(Path(f.name))
    'the stream ends mid-frame (a truncated file)'
    >>> _ = Path(f.name).write_bytes(whole); zstd_cut_off(Path(f.name)) is None
    True
    """
    cut = "the stream ends mid-frame (a truncated file)"
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            head = f.read(4)
            if len(head) < 4:
                return cut
            magic = int.from_bytes(head, "little")
            if magic in _ZSTD_SKIPPABLE:
                skip = f.read(4)
                if len(skip) < 4:
                    return cut
                pos += 8 + int.from_bytes(skip, "little")
                continue
            if head != _ZSTD_MAGIC:
                return None  # not a frame: the decompressor says what it is
            descriptor = f.read(1)
            if not descriptor:
                return cut
            d = descriptor[0]
            single = (d >> 5) & 1
            fcs = (d >> 6) & 3
            header = (
                1
                + (0 if single else 1)
                + (0, 1, 2, 4)[d & 3]
                + ((1 if single else 0), 2, 4, 8)[fcs]
            )
            pos += 4 + header
            while True:
                f.seek(pos)
                block = f.read(3)
                if len(block) < 3:
                    return cut
                bits = int.from_bytes(block, "little")
                last, kind, length = bits & 1, (bits >> 1) & 3, bits >> 3
                pos += 3 + (1 if kind == 1 else length)
                if last:
                    break
            pos += 4 if (d >> 2) & 1 else 0  # the content checksum
            if pos > size:
                return cut
        return None if pos == size else cut


# What a cut-off or corrupt gzip / zstd stream raises while being read.
BAD_COMPRESSED: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    zstandard.ZstdError,
)


def read_head(path: Path, n: int = _HEAD_BYTES) -> tuple[bytes, bool]:
    """The first ``n`` bytes of the file's content (decompressed) and whether it is gzip."""
    try:
        with open_content(path) as f:
            return f.read(n), compression_of(path) is not None
    except BAD_COMPRESSED as exc:
        kind = compression_of(path)
        raise InputError(f"{path}: truncated or corrupt {kind} ({exc})") from None


def read_records(path: Path, limit: int = _DETECT_RECORDS) -> list[bytes]:
    """The first ``limit`` non-empty lines of the content, each read whole.

    Why whole: one twarc2 search page (100 tweets and their includes) is a single line
    of 350-430 KB; a fixed-size head cuts it and no line would parse.
    """
    out: list[bytes] = []
    total = 0
    try:
        with open_content(path) as f:
            for line in iter_lines(_Capped(f, _DETECT_BYTES)):  # type: ignore[arg-type]
                if isinstance(line, LongLine):
                    total += line.size  # too long to be read, also when ingesting
                elif line.strip():
                    total += len(line)
                    out.append(line.strip())
                if len(out) >= limit or total >= _DETECT_BYTES:
                    break
    except BAD_COMPRESSED as exc:
        if not out:  # nothing to detect from: say what is wrong with the file
            kind = compression_of(path) or "stream"
            raise InputError(f"{path}: truncated or corrupt {kind} ({exc})") from None
        # a cut-off stream: detect from the records read so far
    return out


def classify_keys(obj: dict[str, object]) -> str | None:
    """The format of one JSON object (a line of a JSON Lines file), or None."""
    if "data" in obj or "includes" in obj:
        return "twitter-v2"
    if "errors" in obj and isinstance(obj["errors"], list) and set(obj) <= {"errors", "__twarc"}:
        return "twitter-v2"  # an API error object in a twarc2 capture
    if "did" in obj and ("kind" in obj or "commit" in obj):
        return "bluesky"
    if "user" in obj and ("id_str" in obj or "id" in obj):
        return "twitter-v1"
    if "author_id" in obj and "id" in obj:
        return "twitter-v2"  # a twarc2-flattened tweet
    if "uri" in obj and isinstance(obj.get("account"), dict) and "id" in obj:
        return "mastodon"  # an ActivityPub status as Mastodon's API returns it
    if "subreddit" in obj and "author" in obj and "id" in obj:
        return "reddit"  # a Pushshift submission or comment
    if "messages" in obj and isinstance(obj.get("messages"), list):
        return "telegram"  # Telegram Desktop's export of one chat
    if isinstance(chats := obj.get("chats"), dict) and "list" in chats:
        return "telegram"  # Telegram Desktop's export of all chats
    return classify_columns(tuple(obj))


def classify_columns(columns: tuple[str, ...]) -> str | None:
    """Canonical kind from column names (post_id -> posts, follower_id -> follows, ...)."""
    cols = set(columns)
    if "noteId" in cols:  # Community Notes download (spreadtrace.ingest.community_notes)
        return "community-notes-status" if "firstNonNMRStatus" in cols else "community-notes"
    if "post_id" in cols:
        return "posts"
    if "follower_id" in cols:
        return "follows"
    if "media_id" in cols and "account_id" not in cols:
        return "media"  # a media file (spreadtrace media hash writes them)
    if "account_id" in cols:
        return "accounts"
    return None


def _json_lines_format(records: list[bytes]) -> str | None:
    for line in records:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, list):  # a line holding an array of records (an API page)
            obj = next((o for o in obj if isinstance(o, dict)), None)
        if isinstance(obj, dict):
            found = classify_keys(obj)
            if found:
                return found
    return None


# The first key of a chat (Desktop writes name, type, id, messages; a re-serialised
# export may lead with any of them) or of a full export, then its messages or chats.
_TELEGRAM_HEAD = re.compile(
    rb'^\s*\{\s*(?:"(?:name|type|id|about|personal_information)"\s*:.*?)?'
    rb'"(messages|chats)"\s*:',
    re.S,
)


def _json_document_format(path: Path, head: bytes) -> str | None:
    """The format of a file holding one JSON document (an array, or a Telegram export).

    Telegram Desktop's ``result.json`` is one indented object; its ``"messages"`` (or
    ``"chats"``) key comes right after the chat's name, type and id (or first, or
    after any one of them, in a re-serialised export). An array's format
    is its first element's, read whole with a streaming decoder.
    """
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return "telegram" if _TELEGRAM_HEAD.match(text) else None
    if not text.startswith(b"["):
        return None
    first = _first_array_element(path)
    return classify_keys(first) if isinstance(first, dict) else None


def _first_array_element(path: Path) -> object:
    decoder = json.JSONDecoder()
    buf = ""
    try:
        with open_content(path) as f:
            raw = codecs.getincrementaldecoder("utf-8")("replace")
            while len(buf) < _DETECT_BYTES:
                chunk = f.read(1 << 20)
                buf += raw.decode(chunk, final=not chunk)
                body = buf.lstrip("\ufeff \t\r\n")[1:].lstrip()
                try:
                    return decoder.raw_decode(body)[0]
                except RecursionError:
                    return None  # nested too deeply to be a record
                except ValueError:
                    if not chunk:
                        return None
    except BAD_COMPRESSED:
        return None
    return None


def detect(path: Path, format: str | None = None) -> Detected:
    """Detect ``path``'s container and format; ``format`` overrides the format only.

    Raises InputError (one line) when the file is not something spreadtrace reads.
    """
    if format is not None and format not in FORMATS:
        raise InputError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory, not a file; pass the files in it, or the directory "
            "itself to `spreadtrace ingest`, which walks it"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    head, compressed = read_head(path)
    compression = compression_of(path)
    _refuse_utf16(path, head)
    if head.startswith(_PARQUET_MAGIC):
        return _detect_parquet(path, format)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text and format in PLATFORM_FORMATS:
        return Detected(format, "jsonl", compressed, compression=compression)
    if not text:
        raise InputError(f"{path}: empty file")
    if text.startswith((b"{", b"[")):
        records = read_records(path)
        lines_fmt = _json_lines_format(records)
        parses = bool(records) and _parses(records[0])
        if lines_fmt and parses:
            return Detected(format or lines_fmt, "jsonl", compressed, compression=compression)
        doc_fmt = _json_document_format(path, head)
        is_array = text.startswith(b"[") and isinstance(_first_array_element(path), dict)
        if doc_fmt or is_array or (text.startswith(b"[") and format is None):
            fmt = format or doc_fmt
            if fmt is None:
                raise InputError(
                    f"{path}: a JSON array whose first element is not a post, account or "
                    "follow of a known format; pass --format or a --mapping"
                )
            return Detected(fmt, "json", compressed, compression=compression)
        fmt = format or lines_fmt
        if fmt is None:
            raise InputError(
                f"{path}: JSON lines, but no line looks like posts, accounts, follows, "
                "Twitter v1.1/v2, Bluesky Jetstream, Mastodon or Reddit; pass --format, "
                f"or a mapping (`spreadtrace inspect {path}` suggests one)"
            )
        return Detected(fmt, "jsonl", compressed, compression=compression)
    if format in PLATFORM_FORMATS:
        # Platform exports are JSON; lines that are not JSON become rejects.
        return Detected(format, "jsonl", compressed, compression=compression)
    first = _first_line(head.lstrip(b"\xef\xbb\xbf"))
    try:
        header_line = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (header is not UTF-8)") from None
    if "\x00" in header_line:
        raise InputError(f"{path}: not a text file")
    container = "tsv" if "\t" in header_line else "csv"
    delim = "\t" if container == "tsv" else ","
    columns = _header_columns(path, header_line, delim)
    fmt = format or classify_columns(columns)
    if format is None and fmt == "accounts":
        _refuse_posts_as_accounts(path, columns)
    if fmt is None:
        from spreadtrace.ingest.mapping import mapping_hint

        hint = mapping_hint(path, columns, "posts", REQUIRED_COLUMNS["posts"])
        raise InputError(
            f"{path}: header has none of post_id, follower_id, account_id, so it is not a "
            f"canonical file; read it through a mapping: {hint}"
        )
    _check_required(path, fmt, columns)
    return Detected(fmt, container, compressed, columns, compression=compression)


def _header_columns(path: Path, header_line: str, delim: str) -> tuple[str, ...]:
    """The names in a CSV/TSV header line; one InputError line when it does not parse."""
    try:
        return tuple(c.strip() for c in next(csv.reader([header_line], delimiter=delim)))
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"{path}: unreadable header line ({exc})") from None


def _first_line(head: bytes) -> bytes:
    r"""The first line of ``head``, ended by ``\r\n``, ``\n`` or a lone ``\r``.

    >>> _first_line(b"a,b\r\nc,d\r\n"), _first_line(b"a,b\r1,2")
    (b'a,b', b'a,b')
    """
    return _LINE_END.split(head, maxsplit=1)[0]


_LINE_END = re.compile(rb"\r\n|\r|\n")


def _refuse_utf16(path: Path, head: bytes) -> None:
    """UTF-16 (a byte-order mark, or a NUL beside every ASCII character) is refused in
    one line that says how to convert it: read as UTF-8 every line would be a reject."""
    if head.startswith(_PARQUET_MAGIC):
        return
    sample = head[:16]
    bom = sample[:2] in (b"\xff\xfe", b"\xfe\xff")
    halves = (sample[0::2], sample[1::2])
    ascii_with_nuls = len(sample) == 16 and any(
        a.strip(b"\x00") == b"" and b.isascii() and b"\x00" not in b and b.strip()
        for a, b in (halves, halves[::-1])
    )
    if bom or ascii_with_nuls:
        raise InputError(
            f"{path}: UTF-16 (or another encoding with NUL bytes) text; spreadtrace reads "
            "UTF-8: convert it first, e.g. `iconv -f UTF-16 -t UTF-8`"
        )


def _refuse_posts_as_accounts(path: Path, columns: tuple[str, ...]) -> None:
    """A file with ``account_id`` that plainly holds posts (CooRTweet's content_id and
    timestamp_share, say) must not be read as account snapshots without a word."""
    from spreadtrace.ingest.mapping import suggest

    posts = suggest(columns, "posts")
    if "post_id" in posts and "created_at" in posts and posts["created_at"] != "created_at":
        raise InputError(
            f"{path}: has account_id but looks like posts ({posts['post_id']}, "
            f"{posts['created_at']}); read it through a mapping (`spreadtrace inspect {path}` "
            "suggests one), or pass --format accounts if it really holds accounts"
        )


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _detect_parquet(path: Path, format: str | None) -> Detected:
    import pyarrow.parquet as pq

    try:
        columns = tuple(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises several unrelated types here
        raise InputError(f"{path}: unreadable Parquet ({exc})") from None
    if format in PLATFORM_FORMATS:
        raise InputError(f"{path}: a Parquet file, so not {format}")
    fmt = format or classify_columns(columns)
    if fmt is None:
        raise InputError(f"{path}: Parquet columns have none of post_id, follower_id, account_id")
    _check_required(path, fmt, columns)
    return Detected(fmt, "parquet", False, columns)


def _check_required(path: Path, fmt: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in REQUIRED_COLUMNS[fmt] if c not in columns]
    if missing:
        from spreadtrace.ingest.mapping import mapping_hint

        hint = mapping_hint(path, columns, fmt, REQUIRED_COLUMNS[fmt])
        raise InputError(
            f"{path}: {fmt} file without required column(s) {', '.join(missing)}; {hint}"
        )


def detect_columns(path: Path, kind: str) -> Detected:
    """Container and source columns of a file read through a column mapping.

    Why apart from :func:`detect`: a mapped file has, by definition, no canonical
    columns to recognise it by; only its container and column names matter. For JSON
    Lines the columns are the keys of the first records.
    """
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory, not a file; pass the files in it, or the directory "
            "itself to `spreadtrace ingest`, which walks it"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    head, compressed = read_head(path)
    compression = compression_of(path)
    _refuse_utf16(path, head)
    if head.startswith(_PARQUET_MAGIC):
        import pyarrow.parquet as pq

        try:
            columns = tuple(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises several unrelated types here
            raise InputError(f"{path}: unreadable Parquet ({exc})") from None
        return Detected(kind, "parquet", False, columns)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise InputError(f"{path}: empty file")
    if text.startswith(b"["):
        raise InputError(
            f"{path}: a JSON array; a column mapping reads CSV, TSV, JSON Lines or Parquet "
            "(write one record per line, e.g. with `jq -c '.[]'`)"
        )
    if text.startswith(b"{"):
        keys: dict[str, None] = {}
        for line in read_records(path):
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(obj))
        return Detected(kind, "jsonl", compressed, tuple(keys), compression=compression)
    first = _first_line(head.lstrip(b"\xef\xbb\xbf"))
    try:
        header_line = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (header is not UTF-8)") from None
    if "\x00" in header_line:
        raise InputError(f"{path}: not a text file")
    container = "tsv" if "\t" in header_line else "csv"
    delim = "\t" if container == "tsv" else ","
    columns = _header_columns(path, header_line, delim)
    return Detected(kind, container, compressed, columns, compression=compression)

"""Tell what a file holds from its first bytes: container (CSV, TSV, JSON Lines,
Parquet, gzip) and format (canonical posts/accounts/follows, Twitter v1.1, Twitter v2,
Bluesky Jetstream).

Why sniff content rather than trust names: exports arrive as ``export.json``,
``tweets.jsonl.gz`` or ``data.txt``; analysts should not have to rename them. Only the
head of the file is read here (decompressed when gzip), so detection is instant even
on multi-gigabyte files.

>>> classify_keys({"post_id": "1", "account_id": "a", "created_at": "2024-01-01"})
'posts'
>>> classify_keys({"did": "did:plc:x", "time_us": 1, "kind": "commit"})
'bluesky'
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from spreadtrace.errors import InputError

CANONICAL_FORMATS: tuple[str, ...] = ("posts", "accounts", "follows", "media")
PLATFORM_FORMATS: tuple[str, ...] = ("twitter-v1", "twitter-v2", "bluesky")
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
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Detected:
    """What a file is: ``format`` (one of FORMATS) in ``container`` (csv, tsv, jsonl, parquet)."""

    format: str
    container: str
    compressed: bool
    columns: tuple[str, ...] = ()  # header / Parquet columns (canonical CSV, TSV, Parquet)
    lenient: bool = False  # read CSV non-strictly (fallback for files the strict parser refuses)

    @property
    def delimiter(self) -> str:
        return "\t" if self.container == "tsv" else ","


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_head(path: Path, n: int = _HEAD_BYTES) -> tuple[bytes, bool]:
    """The first ``n`` bytes of the file's content (decompressed) and whether it is gzip."""
    compressed = is_gzip(path)
    if not compressed:
        with open(path, "rb") as f:
            return f.read(n), False
    try:
        with gzip.open(path, "rb") as f:
            return f.read(n), True
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip ({exc})") from None


def classify_keys(obj: dict[str, object]) -> str | None:
    """The format of one JSON object (a line of a JSON Lines file), or None."""
    if "data" in obj or "includes" in obj:
        return "twitter-v2"
    if "did" in obj and ("kind" in obj or "commit" in obj):
        return "bluesky"
    if "user" in obj and ("id_str" in obj or "id" in obj):
        return "twitter-v1"
    if "author_id" in obj and "id" in obj:
        return "twitter-v2"  # a twarc2-flattened tweet
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


def _json_lines_format(head: bytes) -> str | None:
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut off by the head limit
    for line in lines[:200]:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            found = classify_keys(obj)
            if found:
                return found
    return None


def detect(path: Path, format: str | None = None) -> Detected:
    """Detect ``path``'s container and format; ``format`` overrides the format only.

    Raises InputError (one line) when the file is not something spreadtrace reads.
    """
    if format is not None and format not in FORMATS:
        raise InputError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    head, compressed = read_head(path)
    if head.startswith(_PARQUET_MAGIC):
        return _detect_parquet(path, format)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if format in PLATFORM_FORMATS:
        # Platform exports are JSON Lines; lines that are not JSON become rejects.
        return Detected(format, "jsonl", compressed)
    if not text:
        raise InputError(f"{path}: empty file")
    found = _json_lines_format(text)
    if text.startswith(b"{") or found:
        fmt = format or found
        if fmt is None:
            raise InputError(
                f"{path}: JSON lines, but no line looks like posts, accounts, follows, "
                "Twitter v1.1/v2 or Bluesky Jetstream; pass --format"
            )
        return Detected(fmt, "jsonl", compressed)
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    try:
        header_line = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (header is not UTF-8)") from None
    if "\x00" in header_line:
        raise InputError(f"{path}: not a text file")
    container = "tsv" if "\t" in header_line else "csv"
    delim = "\t" if container == "tsv" else ","
    columns = tuple(c.strip() for c in next(csv.reader(io.StringIO(header_line), delimiter=delim)))
    fmt = format or classify_columns(columns)
    if fmt is None:
        raise InputError(
            f"{path}: header has none of post_id, follower_id, account_id; "
            "not a canonical posts, follows or accounts file"
        )
    _check_required(path, fmt, columns)
    return Detected(fmt, container, compressed, columns)


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
        raise InputError(f"{path}: {fmt} file without required column(s) {', '.join(missing)}")

"""One file in, one transaction, one ``ingest_runs`` row: the ingest driver.

Why: the guarantees analysts rely on (nothing lost, nothing counted twice, no half
files) are easiest to keep in one place. Each file: detect -> stage (DuckDB reads a
canonical file itself; a platform reader streams canonical rows in batches) ->
validate + merge set-wise -> rejects and the run row -> COMMIT. Any failure to read
the file rolls the whole file back and surfaces as one InputError line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from spreadtrace.errors import InputError, ReadOnlyLocation
from spreadtrace.ingest.detect import (
    BAD_COMPRESSED,
    CANONICAL_FORMATS,
    NOTES_FORMATS,
    REQUIRED_COLUMNS,
    Detected,
    LongLine,
    compression_of,
    detect,
    detect_columns,
    iter_lines,
    open_content,
)
from spreadtrace.ingest.mapping import Mapping
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store, storage_error
from spreadtrace.store import ingest as sql


@dataclass
class FileResult:
    """What ingesting one file did. ``rows_*`` count the file's main records (posts for
    post formats, accounts or follows for those canonical files; for platform formats,
    posts including embedded ones, plus follows), so that
    ``rows_read == rows_inserted + rows_merged + rows_duplicate + rows_rejected``
    (``rows_merged``: further rows of a post in the same file, united into it; an
    identical repeat is a duplicate). Account snapshots
    carried by platform files are counted in ``accounts_*``; records of other kinds
    (likes, deletes, ...) in ``rows_skipped``. ``error`` is set (and nothing was written)
    when :func:`ingest_files` could not read the file at all.
    """

    path: str
    format: str | None
    content_hash: str | None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_merged: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    accounts_read: int = 0
    accounts_inserted: int = 0
    accounts_duplicate: int = 0
    accounts_rejected: int = 0
    rows_skipped: int = 0
    media_read: int = 0  # media rows carried by platform files (issue 13)
    media_inserted: int = 0
    ingest_run_id: int | None = None
    container: str | None = None
    seconds: float = 0.0
    error: str | None = None
    reject_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def content_hash(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of the file's bytes (as stored, i.e. still compressed).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> content_hash(f.name)[:16]
    'ba7816bf8f01cfea'
    """
    return _hash_and_count(path, count_lines=False)[0]


def _hash_and_count(path: str | os.PathLike[str], *, count_lines: bool) -> tuple[str, int | None]:
    """sha256 hex digest and, if asked, the number of lines (None when unsure).

    Why count here: the bytes pass through anyway, and a line count lets the bulk
    load prove a file had no rejected records without a second scan. A line ends at
    ``\n``; a file with a bare ``\r`` anywhere (old Mac endings, or a ``\r\n`` cut by
    a chunk border) gets None, and the caller scans instead.
    """
    h = hashlib.sha256()
    newlines = 0
    sure = True
    last = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            if count_lines:
                newlines += chunk.count(b"\n")
                if b"\r" in chunk and chunk.count(b"\r") != chunk.count(b"\r\n"):
                    sure = False
                last = chunk[-1:]
    if not count_lines or not sure:
        return h.hexdigest(), None
    return h.hexdigest(), newlines + (1 if last not in (b"", b"\n") else 0)


def ingest_file(
    store: Store,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    job_id: str | None = None,
    progress: ProgressFn | None = None,
) -> FileResult:
    """Ingest one file in one transaction; raise InputError if it cannot be read at all.

    ``format`` is one of :data:`spreadtrace.ingest.FORMATS` (``posts``, ``accounts``,
    ``follows``, ``twitter-v1``, ``twitter-v2``, ``bluesky``, ``telegram``, ``mastodon``,
    ``reddit``); None detects it from the content. ``mapping`` reads a file of foreign
    columns (see :mod:`spreadtrace.ingest.mapping`; a mapping with only a time format
    or zone applies those to a canonical file). On InputError nothing from the file is
    in the store.
    """
    path = Path(path)
    started = datetime.now(UTC)
    t0 = _clock()
    if mapping is not None and mapping.renames:
        detected = detect_columns(path, mapping.kind)
    else:
        detected = detect(path, format)
    if detected.format in NOTES_FORMATS:  # corrections, not posts: their own reader
        from spreadtrace.ingest import community_notes

        return community_notes.ingest(store, path, detected, job_id)
    task = f"ingest {path.name}"
    emit(progress, task, 0, 3)
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Hash while DuckDB reads: hashlib releases the GIL on large buffers.
        count_lines = detected.container in ("csv", "tsv") and not detected.compressed
        hashing = pool.submit(_hash_and_count, path, count_lines=count_lines)
        long_lines = pool.submit(
            _refused_lines,
            path,
            detected.container in ("csv", "tsv", "jsonl"),
            jsonl=detected.container == "jsonl",
        )
        try:
            result = _one_transaction(
                store, path, detected, mapping, started, job_id, hashing, progress, long_lines
            )
        except _StrictParserGaveUp:
            # DuckDB's strict CSV parser refused the file as a whole (nothing was
            # written): read it again, leniently, so its bad lines become rejects.
            detected = replace(detected, lenient=True)
            result = _one_transaction(
                store, path, detected, mapping, started, job_id, hashing, progress, long_lines
            )
    result.seconds = round(_clock() - t0, 3)
    emit(progress, task, 3, 3)
    return result


class _StrictParserGaveUp(Exception):
    pass


_NO_EOL_CHUNK = 1 << 22  # > MAX_LINE_SIZE: a chunk without a line end means a long line


def _refused_lines(
    path: Path, canonical_lines: bool, *, jsonl: bool = False
) -> list[tuple[int, str, str]]:
    """Lines of a canonical file the reader must reject itself: (line number, head, reason).

    Why: the line counts come from the reader's own count of lines, not from what
    DuckDB returned. DuckDB drops a line over ~64 MiB without a reject (a gzip of one
    2 GB line read as nothing at all), and returns a JSON line made only of NUL bytes
    as an empty line, which then vanished as blank. A first pass over the
    (decompressed) content only asks, per 4 MiB chunk, whether it lacks a line end
    (every line over 8 MiB trips it) or, for JSON Lines, holds a NUL byte (memchr
    speed both); only then does a second pass number the lines, in bounded memory
    (:func:`iter_lines`).
    """
    if not canonical_lines:
        return []
    try:
        long_seen = nul_seen = False
        with open_content(path) as f:
            while chunk := f.read(_NO_EOL_CHUNK):
                long_seen = long_seen or (b"\n" not in chunk and b"\r" not in chunk)
                nul_seen = nul_seen or (jsonl and b"\x00" in chunk)
                if long_seen and (nul_seen or not jsonl):
                    break
        if not (long_seen or nul_seen):
            return []
        out = []
        with open_content(path) as f:
            for n, line in enumerate(iter_lines(f, sql.MAX_LINE_SIZE), 1):
                if isinstance(line, LongLine):
                    out.append((n, line.raw(), _OVER_MAXIMUM))
                elif nul_seen and line and not line.strip(b"\x00"):
                    out.append((n, f"{len(line):,} NUL bytes", sql.NUL_LINE))
        return out
    except BAD_COMPRESSED as exc:
        # DuckDB's own read does not always see it: it decodes a corrupt gzip member
        # without checking its CRC (garbage lines became thousands of rejects) and ends
        # a cut-off zstd stream quietly. A stream that is not whole is refused whole.
        kind = compression_of(path) or "compressed"
        raise InputError(f"{path}: truncated or corrupt {kind} ({exc})") from None


def _one_transaction(
    store: Store,
    path: Path,
    detected: Detected,
    mapping: Mapping | None,
    started: datetime,
    job_id: str | None,
    hashing: Future[tuple[str, int | None]],
    progress: ProgressFn | None,
    long_lines: Future[list[tuple[int, str, str]]],
) -> FileResult:
    task = f"ingest {path.name}"
    with sql.insertion_order_restored(store.con), store.transaction() as con:
        run_id = sql.next_run_id(con)
        try:
            result = _stage_and_merge(
                con, path, detected, mapping, run_id, started, progress, task, hashing, long_lines
            )
        except _UNREADABLE as exc:
            failure = storage_error(exc, f"writing {store.path}", io_errors=False)
            # read-only is about the store's own files only: an unreadable *input* is not
            if failure is not None and (
                not isinstance(failure, ReadOnlyLocation) or store.path in str(exc)
            ):
                raise failure from None
            if (
                "invalid state" in str(exc)
                and detected.container in ("csv", "tsv")
                and not detected.lenient
            ):
                raise _StrictParserGaveUp from None
            raise InputError(
                f"{path}: cannot read as {detected.format}: {_first_line(exc)}"
            ) from None
        result.content_hash = hashing.result()[0]
        result.ingest_run_id = run_id
        main = sql.Counts(
            result.rows_read,
            result.rows_inserted,
            result.rows_duplicate,
            result.rows_rejected,
            result.rows_merged,
        )
        sql.write_run(
            con,
            run_id=run_id,
            job_id=job_id,
            path=str(path),
            content_hash=result.content_hash,
            format=detected.format,
            counts=main,
            accounts_read=result.accounts_read,
            rows_skipped=result.rows_skipped,
            started_at=started,
            finished_at=datetime.now(UTC),
            mapping=mapping.to_json() if mapping is not None else None,
        )
        result.reject_reasons = sql.reject_reasons(con, run_id)
        sql.drop_staging(con)
    return result


def ingest_files(
    store: Store,
    paths: Sequence[str | os.PathLike[str]],
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    job_id: str | None = None,
    progress: ProgressFn | None = None,
) -> list[FileResult]:
    """Ingest several files, each in its own transaction, in the order given.

    A file that cannot be read does not stop the others: its FileResult carries
    ``error`` (the one-line reason) and nothing from it is written. Callers decide
    what a failed file means (the CLI exits non-zero after ingesting the rest).
    """
    results = []
    for i, p in enumerate(paths):
        emit(progress, "files", i, len(paths))
        try:
            results.append(
                ingest_file(
                    store, p, format=format, mapping=mapping, job_id=job_id, progress=progress
                )
            )
        except InputError as exc:
            results.append(
                FileResult(path=str(p), format=format, content_hash=None, error=str(exc))
            )
    emit(progress, "files", len(paths), len(paths))
    return results


_OVER_MAXIMUM = "malformed line: line size over maximum"  # DuckDB's own reason, lower-cased

# DuckDB errors that mean "this file cannot be read" (defined in the store layer).
_UNREADABLE = sql.UNREADABLE


def _clock() -> float:
    import time

    return time.perf_counter()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _stage_and_merge(
    con: sql.Connection,
    path: Path,
    detected: Detected,
    mapping: Mapping | None,
    run_id: int,
    started: datetime,
    progress: ProgressFn | None,
    task: str,
    hashing: Future[tuple[str, int | None]],
    long_lines: Future[list[tuple[int, str, str]]],
) -> FileResult:
    result = FileResult(
        path=str(path), format=detected.format, content_hash=None, container=detected.container
    )
    if detected.format in CANONICAL_FORMATS:
        kind = detected.format
        source = _canonical_source(con, path, detected, mapping)
        sql.create_source_tables(con)
        bulk = kind == "posts" and sql.posts_empty(con)
        if bulk:
            lines = hashing.result()[1]
            # Data lines: all but the header.
            counts = sql.bulk_load_posts(
                con, source, run_id, lines=None if lines is None else lines - 1
            )
        else:
            _stage(con, kind, source, started)
        sql.collect_parser_rejects(con, source)
        sql.add_refused_lines(con, long_lines.result())
        emit(progress, task, 1, 3)
        if not bulk:
            counts = _merge(con, kind, run_id)
        if detected.container in ("csv", "tsv", "jsonl"):
            sql.renumber_rejects(con, kind, 0 if detected.container == "jsonl" else 1)
        parser_rejects = sql.count_source_rejects(con)
        counts.read += parser_rejects
        counts.rejected += parser_rejects
        sql.write_rejects(con, run_id, str(path), [kind])
        _fill(result, counts)
    else:
        from spreadtrace.ingest.platform import read_platform

        sql.create_source_tables(con)
        stats = read_platform(con, path, detected, progress=progress, task=task)
        emit(progress, task, 1, 3)
        for kind in ("posts", "follows", "accounts", "media"):
            _stage(con, kind, sql.table_source(kind), started)
        posts = _merge(con, "posts", run_id)
        follows = _merge(con, "follows", run_id)
        accounts = _merge(con, "accounts", run_id)
        media = _merge(con, "media", run_id)
        line_rejects = sql.count_source_rejects(con)
        main = sql.Counts()
        main += posts
        main += follows
        main.read += line_rejects
        main.rejected += line_rejects
        sql.write_rejects(con, run_id, str(path), ["posts", "follows", "accounts", "media"])
        _fill(result, main)
        result.accounts_read = accounts.read
        result.accounts_inserted = accounts.inserted
        result.accounts_duplicate = accounts.duplicate
        result.accounts_rejected = accounts.rejected
        result.rows_skipped = stats.skipped
        result.media_read = media.read
        result.media_inserted = media.inserted
    emit(progress, task, 2, 3)
    return result


def _fill(result: FileResult, counts: sql.Counts) -> None:
    result.rows_read = counts.read
    result.rows_inserted = counts.inserted
    result.rows_merged = counts.merged
    result.rows_duplicate = counts.duplicate
    result.rows_rejected = counts.rejected


def _canonical_source(
    con: sql.Connection, path: Path, detected: Detected, mapping: Mapping | None
) -> sql.Source:
    kind = detected.format
    if detected.container == "json":
        raise InputError(
            f"{path}: one JSON document, but {kind} are read from CSV, TSV, JSON Lines or "
            "Parquet; write one record per line (e.g. `jq -c '.[]'`)"
        )
    if detected.container in ("csv", "tsv") and not detected.columns:
        raise InputError(f"{path}: no header line naming the columns")
    names = _mapped_names(con, path, detected, mapping) if mapping and mapping.renames else None
    source_names = None if names is None else {src: src for src in names[1]}
    if detected.container == "parquet":
        types = sql.parquet_columns(con, str(path))
        source = sql.parquet_source(str(path), kind, types, source_names)
    elif detected.container == "jsonl":
        source = sql.jsonl_source(str(path), kind, source_names)
    else:
        source = sql.csv_source(
            str(path),
            kind,
            detected.columns,
            detected.delimiter,
            lenient=detected.lenient,
            names=source_names,
        )
    if names is not None:
        source = sql.mapped_source(source, kind, names[0])
    if mapping is not None:
        source = replace(source, times=sql.TimeSpec(mapping.time_format, mapping.time_zone))
    return source


# Names the readers use next to a file's own columns (see spreadtrace.store.ingest).
_RESERVED = {"record_no", "raw", "line_reason", "line", "obj", "_mapped"}


def _mapped_names(
    con: sql.Connection, path: Path, detected: Detected, mapping: Mapping
) -> tuple[dict[str, str], list[str]]:
    """Canonical column -> SQL over source columns, and the source columns it reads.

    A source column the file does not have is a one-line InputError naming it. A
    canonical column the mapping does not give is read from a column of that name,
    unless the mapping already reads that column for something else.
    """
    available = set(detected.columns)
    exprs: dict[str, str] = {}
    used: dict[str, None] = {}

    def need(target: str, column: str, how: str) -> None:
        if column in _RESERVED or column.startswith("_raw_c"):
            raise InputError(
                f"{path}: the mapping reads column {column!r}, a name spreadtrace uses "
                "while reading; rename that column in the file"
            )
        if column not in available:
            shown = ", ".join(detected.columns[:30]) + (
                " ..." if len(detected.columns) > 30 else ""
            )
            raise InputError(
                f"{path}: the mapping's {target} {how} names column {column!r}, which the "
                f"file does not have (its columns: {shown})"
            )
        used[column] = None

    for target, column in mapping.columns.items():
        need(target, column, "=")
        exprs[target] = sql.ident(column)
    for target, value in mapping.constants.items():
        exprs[target] = "'" + value.replace("'", "''") + "'"
    for target, expr in mapping.expressions.items():
        for column in sorted(sql.check_expression(con, expr)):
            need(target, column, "expression")
        exprs[target] = "\n" + expr + "\n"
    # Columns the file already names canonically are read as they are: a mapping only
    # has to say what differs.
    taken = set(mapping.columns.values())
    for target in sql.COLUMNS[mapping.kind]:
        if target not in exprs and target in available and target not in taken:
            need(target, target, "=")
            exprs[target] = sql.ident(target)
    missing = [c for c in REQUIRED_COLUMNS[mapping.kind] if c not in exprs]
    if missing:
        raise InputError(
            f"{path}: the mapping gives no {', '.join(missing)} (required for "
            f"{mapping.kind}); add e.g. --map {missing[0]}=SOURCE_COLUMN"
        )
    return exprs, list(used)


def _stage(con: sql.Connection, kind: str, source: sql.Source, started: datetime) -> None:
    if kind == "posts":
        sql.stage_posts(con, source)
    elif kind == "accounts":
        sql.stage_accounts(con, source, started)
    elif kind == "media":
        sql.stage_media(con, source)
    else:
        sql.stage_follows(con, source)


def _merge(con: sql.Connection, kind: str, run_id: int) -> sql.Counts:
    if kind == "posts":
        return sql.merge_posts(con, run_id)
    if kind == "accounts":
        return sql.merge_accounts(con, run_id)
    if kind == "media":
        return sql.merge_media(con, run_id)
    return sql.merge_follows(con, run_id)

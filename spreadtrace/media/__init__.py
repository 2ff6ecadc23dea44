"""Media: hash local image and video files into the store, then group near-duplicates.

Why a package: analysts download a campaign's pictures and videos once, and posts
refer to them by id or hash. :func:`hash_media` hashes every file under the paths given
(PDQ, PDQ of sampled video frames, sha256; see :mod:`spreadtrace.media.hashing`) and
writes one ``media`` row per file, in one transaction with one ``ingest_runs`` row, like
ingesting a file: files that cannot be hashed become ``rejects`` rows with a reason, and
``files = inserted + duplicate + rejected``. The media id of a file is its name without
the extension, unless a mapping names it. Nothing is ever fetched from the network.

Grouping (which media are the same picture) runs in ``build``:
:mod:`spreadtrace.pipeline.media`.

>>> import tempfile, pathlib
>>> from spreadtrace.store import Store
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "notes.txt").write_text("not a picture")
>>> with Store.open(":memory:") as store:
...     r = hash_media(store, [d])
>>> (r.files, r.inserted, r.rejected, r.reject_reasons)
(1, 0, 1, {'not an image or video (.txt)': 1})
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from spreadtrace.canonical import MEDIA_COLUMNS
from spreadtrace.errors import InputError
from spreadtrace.media.hashing import MediaError, MediaHash, hash_file
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import ingest as sql

__all__ = ["HashResult", "hash_media", "media_files", "read_mapping"]

FORMAT = "media-files"  # ingest_runs.format of a `media hash` run


@dataclass
class HashResult:
    """What one :func:`hash_media` call did: ``files == inserted + duplicate + rejected``."""

    files: int = 0
    inserted: int = 0
    duplicate: int = 0
    rejected: int = 0
    images: int = 0
    videos: int = 0
    ingest_run_id: int | None = None
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def media_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every regular file under ``paths`` (files as given, directories walked), sorted
    within each directory; hidden files and folders are skipped. A missing path stays in
    the list (it becomes a reject)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
        else:
            out.append(p)
    return out


def read_mapping(path: str | os.PathLike[str]) -> dict[str, str]:
    """A CSV with columns ``path`` and ``media_id``: which id each file gets.

    ``path`` may be the file's path (as given or absolute) or its bare file name.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"path", "media_id"} <= set(reader.fieldnames):
                raise InputError(f"{path}: a media mapping needs the columns path and media_id")
            return {
                row["path"].strip(): row["media_id"].strip()
                for row in reader
                if (row.get("path") or "").strip() and (row.get("media_id") or "").strip()
            }
    except OSError as exc:
        raise InputError(f"{path}: cannot read the media mapping ({exc.strerror})") from None


def _media_id(path: Path, mapping: dict[str, str]) -> str:
    for key in (str(path), str(path.resolve()), path.name):
        if key in mapping:
            return mapping[key]
    return path.stem


def _row(media_id: str, path: Path, h: MediaHash) -> dict[str, str | None]:
    values = {
        "media_id": media_id,
        "kind": h.kind,
        "url": None,
        "sha256": h.sha256,
        "pdq": h.pdq,
        "pdq_quality": None if h.pdq_quality is None else str(h.pdq_quality),
        "width": None if h.width is None else str(h.width),
        "height": None if h.height is None else str(h.height),
        "duration_s": None if h.duration_s is None else repr(h.duration_s),
        "local_path": str(path.resolve()),
        "frames": " ".join(h.frames) or None,
    }
    return {c: values[c] for c in MEDIA_COLUMNS}


def hash_media(
    store: Store,
    paths: Iterable[str | os.PathLike[str]],
    *,
    mapping: dict[str, str] | None = None,
    job_id: str | None = None,
    progress: ProgressFn | None = None,
) -> HashResult:
    """Hash every file under ``paths`` and write the media rows; return the counts.

    One transaction: all of the rows, rejects and the ``ingest_runs`` row land, or none.
    A media_id already in the store only has its empty fields filled (a platform reader
    may have stored its url first).
    """
    mapping = mapping or {}
    given = [str(p) for p in paths]
    files = media_files(given)
    started = datetime.now(UTC)
    rows: dict[str, list[object]] = {c: [] for c in ("record_no", "raw", *MEDIA_COLUMNS)}
    rejects: dict[str, list[object]] = {"record_no": [], "raw": [], "reason": []}
    result = HashResult(files=len(files))
    digest = hashlib.sha256()
    for i, path in enumerate(files, 1):
        emit(progress, "hash media", i - 1, len(files))
        try:
            if not path.is_file():
                raise MediaError("no such file")
            h = hash_file(path)
        except MediaError as exc:
            for k, v in (("record_no", i), ("raw", str(path)), ("reason", str(exc))):
                rejects[k].append(v)
            continue
        digest.update(f"{path}\0{h.sha256}\n".encode())
        result.images += h.kind in ("image", "gif")
        result.videos += h.kind == "video"
        row = _row(_media_id(path, mapping), path, h)
        rows["record_no"].append(i)
        rows["raw"].append(str(path))
        for c in MEDIA_COLUMNS:
            rows[c].append(row[c])
    emit(progress, "hash media", len(files), len(files))
    label = " ".join(given)
    with store.transaction() as con:
        run_id = sql.next_run_id(con)
        sql.create_source_tables(con)
        sql.append_source(con, "media", _table(rows))
        sql.append_source(con, "rejects", _table(rejects))
        sql.stage_media(con, sql.table_source("media"))
        counts = sql.merge_media(con, run_id)
        file_rejects = sql.count_source_rejects(con)
        counts.read += file_rejects
        counts.rejected += file_rejects
        sql.write_rejects(con, run_id, label, ["media"])
        sql.write_run(
            con,
            run_id=run_id,
            job_id=job_id,
            path=label,
            content_hash=digest.hexdigest(),
            format=FORMAT,
            counts=counts,
            accounts_read=0,
            rows_skipped=0,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
        result.reject_reasons = sql.reject_reasons(con, run_id)
        sql.drop_staging(con)
    result.inserted, result.duplicate, result.rejected = (
        counts.inserted,
        counts.duplicate,
        counts.rejected,
    )
    result.ingest_run_id = run_id
    return result


def _table(columns: dict[str, list[object]]) -> pa.Table:
    return pa.table(
        {
            c: pa.array(v, type=pa.int64() if c == "record_no" else pa.string())
            for c, v in columns.items()
        }
    )

"""Ingest: get post, repost, account and follow records into the store, losing none.

Why this shape: readers decide what a file holds and turn platform exports into
canonical rows; the store (``spreadtrace.store.ingest``) validates, de-duplicates and
writes set-wise. Canonical CSV/TSV/JSON Lines/Parquet files never pass through Python
row by row: DuckDB reads and validates them. Each file is one transaction with one
``ingest_runs`` row, and for every file ``read = inserted + merged + duplicate +
rejected`` (merged: further rows of a post in a long-format file). Files of foreign
columns are read through a mapping (:mod:`spreadtrace.ingest.mapping`);
:func:`spreadtrace.ingest.inspect.inspect_file` previews any file without writing.

Example (a tiny canonical posts file):

>>> import tempfile, pathlib
>>> from spreadtrace.store import Store
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "posts.csv").write_text(
...     "post_id,account_id,created_at,parent_id\\n"
...     "1,alice,2024-05-01T10:00:00Z,\\n"
...     "2,bob,1714557660,1\\n"
...     "2,bob,1714557660,1\\n"
...     "3,carol,yesterday,1\\n")
>>> with Store.open(":memory:") as store:
...     r = ingest_file(store, d / "posts.csv")
>>> (r.format, r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected)
('posts', 4, 2, 1, 1)
"""

from __future__ import annotations

from spreadtrace.ingest.detect import FORMATS, Detected, detect
from spreadtrace.ingest.files import FileResult, content_hash, ingest_file, ingest_files

__all__ = [
    "FORMATS",
    "Detected",
    "FileResult",
    "content_hash",
    "detect",
    "ingest_file",
    "ingest_files",
]

"""Community Notes public download: notes and note status history, as corrections.

Why: a note on a post is a correction that the platform itself attaches, with the time
it was written and the time it was first shown (rated helpful). The download
(communitynotes.x.com "Download data") is a set of TSV files with documented columns;
this reader takes two of them:

* ``notes-00000.tsv``: noteId, noteAuthorParticipantId, createdAtMillis, tweetId,
  classification, believable, harmful, validationDifficulty, the misleading* and
  notMisleading* checkboxes (misleadingManipulatedMedia among them),
  trustworthySources, summary, isMediaNote;
* ``noteStatusHistory-00000.tsv``: noteId, noteAuthorParticipantId, createdAtMillis,
  timestampMillisOfFirstNonNMRStatus, firstNonNMRStatus,
  timestampMillisOfCurrentStatus, currentStatus, timestampMillisOfLatestNonNMRStatus,
  latestNonNMRStatus (older files: mostRecentNonNMRStatus), and more status columns.

Notes attach to posts by ``tweetId`` = ``post_id`` (the post need not be stored yet).
Bad rows (a noteId, tweetId or createdAtMillis that is not a number) go to ``rejects``
with a reason, so counts reconcile.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from spreadtrace.errors import InputError
from spreadtrace.ingest.detect import Detected
from spreadtrace.store import Store
from spreadtrace.store import community_notes as sql
from spreadtrace.store import ingest as ingest_sql

__all__ = ["ingest"]


def ingest(
    store: Store, path: str | os.PathLike[str], detected: Detected, job_id: str | None = None
):
    """Ingest one Community Notes TSV in one transaction; return a FileResult."""
    from spreadtrace.ingest.files import FileResult, _refused_lines, content_hash

    path = Path(path)
    started = datetime.now(UTC)
    notes = detected.format == "community-notes"
    merge = sql.stage_and_merge_notes if notes else sql.stage_and_merge_status
    digest = content_hash(path)
    # lines over the cap, counted by the reader itself: DuckDB drops a line over ~64 MiB
    # without a reject, and a corrupt or cut-off stream is refused here in one line
    refused = _refused_lines(path, True)
    with store.transaction() as con:
        run_id = ingest_sql.next_run_id(con)
        try:
            read, inserted, duplicate, rejected = merge(
                con, path, run_id, refused, detected.columns
            )
        except sql.UNREADABLE as exc:
            # not a notes TSV after all (no noteId column, not UTF-8, ...): one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"{path}: cannot read as {detected.format}: {first}") from None
        counts = ingest_sql.Counts(read, inserted, duplicate, rejected)
        ingest_sql.write_run(
            con,
            run_id=run_id,
            job_id=job_id,
            path=str(path),
            content_hash=digest,
            format=detected.format,
            counts=counts,
            accounts_read=0,
            rows_skipped=0,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
        reasons = ingest_sql.reject_reasons(con, run_id)
    result = FileResult(str(path), detected.format, digest)
    result.rows_read, result.rows_inserted = read, inserted
    result.rows_duplicate, result.rows_rejected = duplicate, rejected
    result.ingest_run_id = run_id
    result.container = detected.container
    result.reject_reasons = reasons
    return result

"""The SQL of scheduled jobs: the ``jobs`` table, and what a job must still do.

Why here: only ``spreadtrace/store`` talks to DuckDB. A job (``spreadtrace run``) holds
the store's job lock for its whole life, so any ``jobs`` row still marked ``running``
when a job starts belongs to a process that died; it is closed as ``failed`` with a
message saying so, and the work it left undone is found again from the tables
themselves (files by content hash, builds by time), never from the jobs table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spreadtrace.store import Store

__all__ = [
    "start_job",
    "finish_job",
    "already_ingested",
    "needs_build",
    "latest_build_id",
    "job_row",
]

INTERRUPTED = "interrupted: the process died before the job finished (killed or crashed)"


def start_job(store: Store, job_id: str, command: str) -> int:
    """Record a running job; close stale ``running`` rows. Returns how many were closed."""
    now = datetime.now(UTC)
    with store.transaction() as con:
        stale = con.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchall()[0][0]
        con.execute(
            "UPDATE jobs SET status = 'failed', message = ? WHERE status = 'running'",
            [INTERRUPTED],
        )
        con.execute(
            "INSERT INTO jobs (job_id, command, started_at, status) VALUES (?, ?, ?, 'running')",
            [job_id, command, now],
        )
    return int(stale)


def finish_job(
    store: Store,
    job_id: str,
    *,
    status: str,
    files_ingested: int,
    files_skipped: int,
    rows_rejected: int,
    build_id: int | None,
    report_dir: str | None,
    message: str | None,
) -> None:
    """Close a job row with its outcome (``ok``, ``rejects`` or ``failed``)."""
    if status not in ("ok", "rejects", "failed"):
        raise ValueError(f"unknown job status {status!r}")
    with store.transaction() as con:
        con.execute(
            "UPDATE jobs SET finished_at = ?, status = ?, files_ingested = ?, files_skipped = ?,"
            " rows_rejected = ?, build_id = ?, report_dir = ?, message = ? WHERE job_id = ?",
            [
                datetime.now(UTC),
                status,
                files_ingested,
                files_skipped,
                rows_rejected,
                build_id,
                report_dir,
                message,
                job_id,
            ],
        )


def already_ingested(store: Store, hashes: list[str]) -> set[str]:
    """The content hashes among ``hashes`` that an earlier ingest committed."""
    if not hashes:
        return set()
    rows = store.con.execute(
        "SELECT DISTINCT content_hash FROM ingest_runs WHERE content_hash IN (SELECT unnest(?))",
        [hashes],
    ).fetchall()
    return {r[0] for r in rows}


def needs_build(store: Store) -> bool:
    """True when stored input is newer than the last finished build (or none exists).

    Ingest and build run under the same job lock, one after the other, so an ingest
    that finished after the latest build *started* is not yet in any build. This is
    how a job killed between its ingest and its build catches up on the next run.
    """
    row = store.con.execute(
        """
        SELECT CASE WHEN built IS NULL THEN posts > 0 OR ingested IS NOT NULL
                    ELSE coalesce(ingested > built, false) END
        FROM (SELECT
            (SELECT max(started_at) FROM builds WHERE finished_at IS NOT NULL) AS built,
            (SELECT max(finished_at) FROM ingest_runs) AS ingested,
            (SELECT count(*) FROM posts) AS posts)
        """
    ).fetchall()[0]
    return bool(row[0])


def latest_build_id(store: Store) -> int | None:
    """The id of the newest finished build, or None."""
    row = store.con.execute(
        "SELECT max(build_id) FROM builds WHERE finished_at IS NOT NULL"
    ).fetchall()[0]
    return None if row[0] is None else int(row[0])


def job_row(store: Store, job_id: str) -> dict[str, object] | None:
    """One jobs row as a dict (times as ISO 8601 UTC strings), or None."""
    cur = store.con.execute(
        "SELECT job_id, command, strftime(started_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS started_at,"
        " strftime(finished_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS finished_at, status,"
        " files_ingested, files_skipped, rows_rejected, build_id, report_dir, message"
        " FROM jobs WHERE job_id = ?",
        [job_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))

"""SQL of the Community Notes reader: stage a notes or note-status TSV, reject bad rows,
merge into ``community_notes`` / ``community_note_status``.

Why here: only ``spreadtrace.store`` talks to DuckDB. The public download's columns are
documented by X (communitynotes repository, documentation "Downloading data"); only the
columns below are read, extra columns are ignored, so newer downloads still load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from spreadtrace.store.ingest import MAX_LINE_SIZE, ident

__all__ = ["NOTE_FLAGS", "stage_and_merge_notes", "stage_and_merge_status"]

# The "Why do you believe this post may be misleading?" checkboxes (0/1 columns).
NOTE_FLAGS = (
    "misleadingOther",
    "misleadingFactualError",
    "misleadingManipulatedMedia",
    "misleadingOutdatedInformation",
    "misleadingMissingImportantContext",
    "misleadingUnverifiedClaimAsFact",
    "misleadingSatire",
)
_INT = "'^[0-9]+$'"

# What reading a file that is not a notes TSV raises (no noteId column, not UTF-8, ...).
UNREADABLE = (
    duckdb.IOException,
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.BinderException,
)


def _stage(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    columns: tuple[str, ...],
    run_id: int,
    refused: Sequence[tuple[int, str, str]] = (),
    header: Sequence[str] = (),
) -> int:
    """The file as text columns, with its 1-based line number (the header is line 1).

    A line the parser cannot read (invalid UTF-8, over the line cap, say) is a reject
    at its line with the parser's reason, not a refusal of the whole download; returns
    how many. ``refused``: (line, head, reason) of lines the reader found itself
    (DuckDB drops a line over ~64 MiB without a word). The rows after such lines keep
    their physical line numbers.
    """
    con.execute("DROP TABLE IF EXISTS _cn_raw")
    if header and len(set(header)) == len(header):
        # the header as the caller parsed it: DuckDB's sniffer gives up on a file
        # holding a line over its maximum ('CSV Error on Line: 1'), a read without it
        # makes that line a reject like any other
        shape, params = "auto_detect = false, columns = ?", [{c: "VARCHAR" for c in header}]
    else:
        shape, params = "all_varchar = true", []
    con.execute(
        f"""
        CREATE TEMP TABLE _cn_raw AS
        SELECT row_number() OVER () + 1 AS record_no, *
        FROM read_csv(?, delim = '\t', header = true, {shape}, quote = '',
                      escape = '', strict_mode = false, null_padding = true,
                      max_line_size = {MAX_LINE_SIZE}, store_rejects = true, rejects_table = '_cn_csv_rejects',
                      rejects_scan = '_cn_csv_scan')
        """,  # noqa: S608 (fixed options; the file's column names are bound)
        [str(path), *params],
    )
    con.execute("CREATE TEMP TABLE _cn_refused (line BIGINT, csv_line VARCHAR, reason VARCHAR)")
    if refused:
        con.executemany("INSERT INTO _cn_refused VALUES (?, ?, ?)", [list(r) for r in refused])
    con.execute(
        """
        INSERT INTO _cn_csv_rejects (line, csv_line, error_type)
        SELECT line, csv_line, 'LINE SIZE OVER MAXIMUM' FROM _cn_refused r
        -- NOT EXISTS, not NOT IN: the rejects table's line is a nullable column, and
        -- one NULL there would make NOT IN drop every refused line
        WHERE NOT EXISTS (SELECT 1 FROM _cn_csv_rejects j WHERE j.line = r.line)
        """
    )
    con.execute("DROP TABLE _cn_refused")
    (bad,) = con.execute("SELECT count(DISTINCT line) FROM _cn_csv_rejects").fetchall()[0]
    if bad:
        # the k-th row read (record_no k + 1) sits on line k + 1 + #{refused lines
        # before it}; the i-th refused line L_i has L_i - 1 - i rows read before it
        con.execute(
            """
            UPDATE _cn_raw AS s SET record_no = s.record_no + (
              SELECT count(*) FROM (
                SELECT line, row_number() OVER (ORDER BY line) AS i
                FROM (SELECT DISTINCT line FROM _cn_csv_rejects)) AS r
              WHERE r.line - 1 - r.i < s.record_no - 1)
            """
        )
        con.execute(
            """
            INSERT INTO rejects (ingest_run_id, path, record_no, raw, reason)
            SELECT ?, ?, line, any_value(csv_line),
                   'malformed line: ' || lower(string_agg(DISTINCT error_type::VARCHAR, ', '
                                                          ORDER BY error_type::VARCHAR))
            FROM _cn_csv_rejects GROUP BY line
            """,
            [run_id, str(path)],
        )
    con.execute("DROP TABLE IF EXISTS _cn_csv_rejects")
    con.execute("DROP TABLE IF EXISTS _cn_csv_scan")
    have = {r[0] for r in con.execute("DESCRIBE _cn_raw").fetchall()}
    for col in columns:  # optional documented columns missing from an older download
        if col not in have:
            con.execute(f'ALTER TABLE _cn_raw ADD COLUMN "{col}" VARCHAR')  # fixed names
    return int(bad)


def _reject_rows(con, run_id: int, path: Path, checks: list[tuple[str, str]]) -> int:
    """Move rows failing each (condition, reason) to ``rejects``; the first reason wins."""
    total = 0
    for condition, reason in checks:
        (n,) = con.execute(f"SELECT count(*) FROM _cn_raw WHERE {condition}").fetchall()[0]  # noqa: S608
        if n:
            con.execute(
                f"""
                INSERT INTO rejects (ingest_run_id, path, record_no, raw, reason)
                SELECT ?, ?, record_no, noteId, ? FROM _cn_raw WHERE {condition}
                """,  # noqa: S608 (conditions and reasons are the fixed lists below)
                [run_id, str(path), reason],
            )
            con.execute(f"DELETE FROM _cn_raw WHERE {condition}")  # noqa: S608
            total += int(n)
    return total


def _nul_check(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """The reject check for a NUL byte in any field (as for canonical files)."""
    cols = [r[0] for r in con.execute("DESCRIBE _cn_raw").fetchall() if r[0] != "record_no"]
    joined = ", ".join(f"coalesce({ident(c)}, '')" for c in cols)
    return f"strpos(concat({joined}), chr(0)) > 0", "NUL byte in a field"


def _ms(col: str) -> str:
    """A millisecond-epoch text column as TIMESTAMPTZ; empty or -1 is NULL."""
    return (
        f"CASE WHEN regexp_full_match(coalesce(\"{col}\", ''), {_INT}) "
        f'THEN make_timestamptz(CAST("{col}" AS BIGINT) * 1000) END'
    )


def stage_and_merge_notes(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    run_id: int,
    refused: Sequence[tuple[int, str, str]] = (),
    header: Sequence[str] = (),
) -> tuple[int, int, int, int]:
    """Load a notes TSV: (read, inserted, duplicate, rejected). A note already stored
    (same noteId, from an earlier download) is a duplicate and kept as it was."""
    bad = _stage(
        con,
        path,
        (
            "noteAuthorParticipantId",
            "participantId",
            "classification",
            "summary",
            "isMediaNote",
            "trustworthySources",
            *NOTE_FLAGS,
        ),
        run_id,
        refused,
        header,
    )
    (read,) = con.execute("SELECT count(*) FROM _cn_raw").fetchall()[0]
    read += bad
    rejected = bad + _reject_rows(
        con,
        run_id,
        path,
        [
            _nul_check(con),
            (f"NOT regexp_full_match(coalesce(noteId, ''), {_INT})", "noteId is not a number"),
            (f"NOT regexp_full_match(coalesce(tweetId, ''), {_INT})", "tweetId is not a number"),
            (
                f"NOT regexp_full_match(coalesce(createdAtMillis, ''), {_INT})",
                "createdAtMillis is not a number",
            ),
        ],
    )
    flags = ", ".join(f"CASE WHEN \"{f}\" = '1' THEN '{f}' END" for f in NOTE_FLAGS)
    (before,) = con.execute("SELECT count(*) FROM community_notes").fetchall()[0]
    con.execute(
        f"""
        INSERT INTO community_notes
        SELECT DISTINCT ON (noteId) noteId, tweetId,
               coalesce(noteAuthorParticipantId, participantId),
               {_ms("createdAtMillis")}, classification,
               list_filter([{flags}], lambda x: x IS NOT NULL),
               "misleadingManipulatedMedia" = '1', trustworthySources = '1',
               isMediaNote = '1', summary, ?
        FROM _cn_raw
        WHERE noteId NOT IN (SELECT note_id FROM community_notes)
        ORDER BY noteId, record_no
        """,  # noqa: S608 (fixed column names)
        [run_id],
    )
    (after,) = con.execute("SELECT count(*) FROM community_notes").fetchall()[0]
    con.execute("DROP TABLE IF EXISTS _cn_raw")
    inserted = int(after - before)
    return int(read), inserted, int(read) - rejected - inserted, rejected


def stage_and_merge_status(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    run_id: int,
    refused: Sequence[tuple[int, str, str]] = (),
    header: Sequence[str] = (),
) -> tuple[int, int, int, int]:
    """Load a note status history TSV: (read, inserted, duplicate, rejected).

    The download is a snapshot: a note already stored takes the newer row (counted as
    a duplicate). A note is shown on the post from its first "Currently Rated
    Helpful" status: ``first_shown_at`` is timestampMillisOfFirstNonNMRStatus when
    firstNonNMRStatus is CURRENTLY_RATED_HELPFUL (else the latest non-NMR status time
    when that one is helpful; else NULL: never shown).
    """
    bad = _stage(
        con,
        path,
        (
            "timestampMillisOfCurrentStatus",
            "timestampMillisOfLatestNonNMRStatus",
            "latestNonNMRStatus",
            "mostRecentNonNMRStatus",
        ),
        run_id,
        refused,
        header,
    )
    (read,) = con.execute("SELECT count(*) FROM _cn_raw").fetchall()[0]
    read += bad
    rejected = bad + _reject_rows(
        con,
        run_id,
        path,
        [
            _nul_check(con),
            (f"NOT regexp_full_match(coalesce(noteId, ''), {_INT})", "noteId is not a number"),
        ],
    )
    (dups,) = con.execute(
        "SELECT count(DISTINCT noteId) FROM _cn_raw "
        "WHERE noteId IN (SELECT note_id FROM community_note_status)"
    ).fetchall()[0]
    con.execute("DELETE FROM community_note_status WHERE note_id IN (SELECT noteId FROM _cn_raw)")
    helpful = "'CURRENTLY_RATED_HELPFUL'"
    latest = 'coalesce(nullif("latestNonNMRStatus", \'\'), "mostRecentNonNMRStatus")'
    con.execute(
        f"""
        INSERT INTO community_note_status
        SELECT DISTINCT ON (noteId) noteId, nullif(firstNonNMRStatus, ''),
               {_ms("timestampMillisOfFirstNonNMRStatus")},
               CASE WHEN firstNonNMRStatus = {helpful}
                      THEN {_ms("timestampMillisOfFirstNonNMRStatus")}
                    WHEN {latest} = {helpful}
                      THEN {_ms("timestampMillisOfLatestNonNMRStatus")} END,
               nullif(currentStatus, ''), {_ms("timestampMillisOfCurrentStatus")}, ?
        FROM _cn_raw ORDER BY noteId, record_no DESC
        """,  # noqa: S608 (fixed column names)
        [run_id],
    )
    (n,) = con.execute("SELECT count(DISTINCT noteId) FROM _cn_raw").fetchall()[0]
    con.execute("DROP TABLE IF EXISTS _cn_raw")
    # rows beyond one per note in the file count as duplicates too
    duplicate = int(read) - rejected - (int(n) - int(dups))
    return int(read), int(n) - int(dups), duplicate, rejected

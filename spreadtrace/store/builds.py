"""The SQL of the ``builds`` table: starting and finishing a build, and "is there anything
to build?" (a fingerprint of the stored inputs).

Why: the scheduled job runs every few minutes, mostly with nothing new. Deciding that
must cost about the same whatever the store size, so it reads only cheap facts: the
row count of each input table (a ``count(*)`` reads no column data), the newest ingest
run, the number of erasures and the schema version. A
build records the fingerprint it started from in ``builds.inputs``; a later build
whose inputs and parameters are unchanged has nothing to do.

Any write to an input goes through an ingest run (files, ``media hash``), an erasure
(``forget``) or a deletion (retention), and each changes the fingerprint: a new run id,
a new erasure, fewer rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

from spreadtrace.store.schema import SCHEMA_VERSION

__all__ = [
    "LAST_RUN_SQL",
    "finish_build",
    "last_build",
    "new_since_last_build",
    "inputs_fingerprint",
    "next_build_id",
    "record_inputs",
    "start_build",
    "unchanged_since",
]

# The tables a build reads as input (everything else it reads, it wrote itself).
INPUT_TABLES = ("posts", "follows", "accounts", "media")


def inputs_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A JSON fingerprint of the stored inputs; equal fingerprints mean the same inputs.

    >>> from spreadtrace.store import Store
    >>> with Store.open(":memory:") as store:
    ...     json.loads(inputs_fingerprint(store.con))["posts"]
    0
    """
    row = con.execute(
        "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM follows), "
        "(SELECT count(*) FROM accounts), (SELECT count(*) FROM media), "
        "(SELECT max(ingest_run_id) FROM ingest_runs), (SELECT count(*) FROM erasures)"
    ).fetchall()[0]
    fingerprint = dict(zip(INPUT_TABLES, row, strict=False))
    fingerprint |= {
        "ingest_run": row[-2],
        "erasures": row[-1],
        "schema": SCHEMA_VERSION,
    }
    return json.dumps(fingerprint, sort_keys=True)


def unchanged_since(con: duckdb.DuckDBPyConnection, params: str) -> tuple[int, int, int] | None:
    """The newest finished build's (build_id, posts, cascades) when nothing changed since.

    "Nothing changed": that build started from the same input fingerprint with the
    same parameters (``params``: the JSON stored in ``builds.params``). None when a
    build is needed (no finished build, new or removed data, other parameters, a
    build from before this check existed).
    """
    last = con.execute(
        "SELECT build_id, params, inputs, posts FROM builds WHERE finished_at IS NOT NULL "
        "ORDER BY build_id DESC LIMIT 1"
    ).fetchall()
    if not last:
        return None
    build_id, stored_params, inputs, posts = last[0]
    if inputs is None or inputs != inputs_fingerprint(con):
        return None
    if json.loads(stored_params) != json.loads(params):
        return None
    cascades = con.execute("SELECT count(*) FROM cascades").fetchall()[0][0]
    return int(build_id), int(posts or 0), int(cascades)


def record_inputs(con: duckdb.DuckDBPyConnection, build_id: int, inputs: str) -> None:
    """Store the input fingerprint a build started from (see :func:`unchanged_since`)."""
    con.execute("UPDATE builds SET inputs = ? WHERE build_id = ?", [inputs, build_id])


def next_build_id(con: duckdb.DuckDBPyConnection) -> int:
    """Draw the next build id from ``build_seq`` (no ``builds`` row yet: see :func:`start_build`).

    >>> from spreadtrace.store import Store
    >>> with Store.open(":memory:") as store:
    ...     next_build_id(store.con), next_build_id(store.con)
    (1, 2)
    """
    return int(con.execute("SELECT nextval('build_seq')").fetchall()[0][0])


def start_build(con: duckdb.DuckDBPyConnection, mode: str, params: str) -> int:
    """Insert an unfinished ``builds`` row (``params``: JSON) and return its build id."""
    build_id = next_build_id(con)
    con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at) VALUES (?, ?, ?, ?)",
        [build_id, mode, params, datetime.now(UTC)],
    )
    return build_id


def _mode(con: duckdb.DuckDBPyConnection, build_id: int) -> str | None:
    row = con.execute("SELECT mode FROM builds WHERE build_id = ?", [build_id]).fetchall()
    return row[0][0] if row else None


def finish_build(
    con: duckdb.DuckDBPyConnection,
    build_id: int,
    *,
    cascades_touched: int | None = None,
    mode: str | None = None,
) -> tuple[int, int]:
    """Mark build ``build_id`` finished with the stored post count; return (posts, cascades).

    ``cascades_touched`` None means every cascade (a full build or an attach);
    ``mode`` None keeps the mode the build started with.
    """
    posts, cascades = con.execute(
        "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM cascades)"
    ).fetchall()[0]
    touched = cascades if cascades_touched is None else cascades_touched
    if (mode or _mode(con, build_id)) == "full":
        # a full build rewrites every derived row: a report range spanning it is
        # written as a full set, so the incremental builds' log before it is spent
        con.execute("DELETE FROM row_changes")
    con.execute(
        "UPDATE builds SET mode = coalesce(?, mode), finished_at = ?, posts = ?, "
        "cascades_touched = ? WHERE build_id = ?",
        [mode, datetime.now(UTC), posts, touched, build_id],
    )
    return int(posts), int(cascades)


def new_since_last_build(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(posts, distinct accounts) ingested after the newest finished build started.

    "After": in an ingest run newer than the one that build's input fingerprint
    recorded; every post when no finished build recorded one.
    """
    row = con.execute(
        f"""
        SELECT count(*), count(DISTINCT account_id) FROM posts
        WHERE ingest_run_id > ({LAST_RUN_SQL})
        """  # noqa: S608 -- a fixed query from this module
    ).fetchall()[0]
    return int(row[0]), int(row[1])


# The newest ingest run a finished build recorded in its input fingerprint (-1: none):
# rows of a later run are new to the next build.
LAST_RUN_SQL = """
    SELECT coalesce(max(json_extract(inputs, '$.ingest_run')::BIGINT), -1)
    FROM builds WHERE finished_at IS NOT NULL AND inputs IS NOT NULL
"""


def last_build(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(params, inputs) of the newest finished build (``builds.params`` and its input
    fingerprint, parsed; {} when missing), or None before any build.

    Why: a stage that keeps its results between builds may update them only when they
    were made with this build's parameters, and must know what else changed (erasures).
    """
    row = con.execute(
        "SELECT params, inputs FROM builds WHERE finished_at IS NOT NULL "
        "ORDER BY build_id DESC LIMIT 1"
    ).fetchall()
    if not row:
        return None
    params, inputs = (json.loads(x) if x else {} for x in row[0])
    return params, inputs

"""Parquet in and out of a store: canonical tables for another engine, its results back.

Why: a store that outgrows one machine moves to Apache Spark (``spreadtrace spark
build``), which reads the canonical tables as Parquet in one directory per table
(``DIR/posts/``, ``DIR/accounts/``, ``DIR/follows/``, ``DIR/media/``,
``DIR/community_notes/``, ``DIR/community_note_status/``) and writes each
derived table the same way, with the store's own column names and types. This module
is the DuckDB side of that contract: :func:`export_canonical` writes the input layout,
:func:`load_derived` replaces a store's derived rows by an engine's output. Rows are
streamed in record batches, so neither direction holds a table in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from spreadtrace.errors import SpreadtraceError
from spreadtrace.store.schema import UNINDEXED_KEYS

__all__ = [
    "CANONICAL_TABLES",
    "MANIFEST",
    "MEDIA_TABLES",
    "ITEM_TABLES",
    "ACCOUNT_TABLES",
    "NARRATIVE_TABLES",
    "AttachError",
    "Loaded",
    "export_canonical",
    "read_manifest",
    "load_derived",
]

# The input layout of `spark build`: one directory per canonical table (the Community
# Notes download's two tables included: the narratives' corrections read them).
CANONICAL_TABLES = (
    "posts",
    "accounts",
    "follows",
    "media",
    "community_notes",
    "community_note_status",
)
# Each canonical table's key, the order its rows are written in.
_ORDER = {
    "posts": "post_id",
    "accounts": "account_id",
    "follows": "follower_id, followee_id",
    "media": "media_id",
    "community_notes": "note_id",
    "community_note_status": "note_id",
}
# The engine's summary of a run (one row): which tables it wrote, with what parameters.
MANIFEST = "_spreadtrace_build"
_BATCH_ROWS = 256_000
# Derived tables an engine may hand back, and the rows of each that a load replaces
# (data_quality is shared by stages: only the issues of the stages loaded are replaced).
_REPLACE: dict[str, str] = {
    "post_cascades": "DELETE FROM post_cascades",
    "cascades": "DELETE FROM cascades",
    "data_quality": (
        "DELETE FROM data_quality WHERE issue IN ('clock_skew', 'cycle_break', 'unseen_parent')"
    ),
    "media_matches": "DELETE FROM media_matches",
    "post_media": "DELETE FROM post_media",
    "media_groups": "DELETE FROM media_groups",
    "url_keys": "DELETE FROM url_keys",
    "post_items": "DELETE FROM post_items",
    "items": "DELETE FROM items",
    "account_features": "DELETE FROM account_features",
    "coordination_shares": "DELETE FROM coordination_shares",
    "coordination_hits": "DELETE FROM coordination_hits",
    "coordination_pairs": "DELETE FROM coordination_pairs",
    "coordination_clusters": "DELETE FROM coordination_clusters",
    "account_scores": "DELETE FROM account_scores",
    "post_narratives": "DELETE FROM post_narratives",
    "narratives": "DELETE FROM narratives",
    "cascade_scores": "DELETE FROM cascade_scores",
    "origin_scores": "DELETE FROM origin_scores",
    "account_origin": "DELETE FROM account_origin",
    "item_origin_scores": "DELETE FROM item_origin_scores",
    "narrative_origin_items": "DELETE FROM narrative_origin_items",
}
# The media stage's tables: an engine output holding all three replaces the stage.
MEDIA_TABLES = ("media_matches", "post_media", "media_groups")
# The items stage's tables: likewise for the items stage.
ITEM_TABLES = ("url_keys", "post_items", "items")
# The accounts stage's tables (its stored state included): likewise for that stage.
ACCOUNT_TABLES = (
    "account_features",
    "coordination_shares",
    "coordination_hits",
    "coordination_pairs",
    "coordination_clusters",
    "account_scores",
)
# The narratives stage's tables: an output holding every one (the Spark engine's, with
# the narratives' correction columns filled) replaces the stage; with only some (an
# older output, without narrative_origin_items) the stage reruns on DuckDB, which
# rewrites the loaded ones (the same rows) with the rest.
NARRATIVE_TABLES = (
    "post_narratives",
    "narratives",
    "origin_scores",
    "account_origin",
    "cascade_scores",
    "item_origin_scores",
    "narrative_origin_items",
)


class AttachError(SpreadtraceError):
    """An engine's output that does not fit this store (other posts, missing tables)."""

    exit_code = 1


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_derived` did: rows per table and the engine's manifest."""

    rows: dict[str, int]
    manifest: dict


def export_canonical(con: duckdb.DuckDBPyConnection, out_dir: str | Path) -> dict[str, int]:
    """Write each of CANONICAL_TABLES as ``OUT/<table>/part-0.parquet``; rows each.

    The Parquet columns are the store's (TIMESTAMPTZ as UTC microsecond timestamps,
    lists as lists), in key order so the files compress well and diff stably. An empty
    table is still written, with its columns (no Community Notes: an empty notes table).
    """
    out = Path(out_dir)
    rows: dict[str, int] = {}
    for table in CANONICAL_TABLES:
        target = out / table
        target.mkdir(parents=True, exist_ok=True)
        by = _ORDER[table]
        # table and column names come from the fixed tuples above, never from input
        query = f"SELECT * FROM {table} ORDER BY {by}"  # noqa: S608
        reader = con.execute(query).to_arrow_reader(_BATCH_ROWS)
        assert reader is not None
        n = 0
        with pq.ParquetWriter(target / "part-0.parquet", reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                n += batch.num_rows
        rows[table] = n
    return rows


def read_manifest(con: duckdb.DuckDBPyConnection, in_dir: str | Path) -> dict:
    """The engine's manifest of ``in_dir`` (tables written, parameters, counts)."""
    path = Path(in_dir) / MANIFEST
    files = sorted(path.glob("*.parquet")) if path.is_dir() else []
    if not files:
        raise AttachError(f"{in_dir} is not a spreadtrace engine output (no {MANIFEST}/)")
    row = pq.read_table(files[0]).to_pylist()
    if len(row) != 1:
        raise AttachError(f"{path} must hold exactly one row, not {len(row)}")
    return {
        "engine": row[0]["engine"],
        "tables": json.loads(row[0]["tables"]),
        "params": json.loads(row[0]["params"]),
        "counts": json.loads(row[0]["counts"]),
    }


def _files(in_dir: Path, table: str) -> list[str]:
    files = sorted(str(p) for p in (in_dir / table).glob("*.parquet"))
    if not files:
        raise AttachError(f"{in_dir}/{table}/ holds no Parquet files")
    return files


def load_derived(
    con: duckdb.DuckDBPyConnection, in_dir: str | Path, build_id: int, params: dict
) -> Loaded:
    """Replace the store's rows of each derived table the engine wrote; rows per table.

    Runs inside the caller's transaction. Each row gets ``build_id`` (a ``builds`` row
    recorded here, mode ``attach``, with the engine's parameters). The output must
    cover exactly the store's posts: an output made from another export is refused
    with a one-line error rather than mixed in.
    """
    src = Path(in_dir)
    manifest = read_manifest(con, src)
    tables = [t for t in manifest["tables"] if t in _REPLACE]
    unknown = sorted(set(manifest["tables"]) - set(_REPLACE))
    if unknown:
        raise AttachError(f"{in_dir}: this spreadtrace cannot load tables {', '.join(unknown)}")
    con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at) VALUES (?, 'attach', ?, ?)",
        [build_id, json.dumps({**params, "engine": manifest}, sort_keys=True), datetime.now(UTC)],
    )
    rows: dict[str, int] = {}
    for table in tables:
        files = _files(src, table)
        if table == "post_cascades":
            missing, extra = con.execute(
                """
                WITH out AS (SELECT post_id FROM read_parquet(?))
                SELECT (SELECT count(*) FROM posts ANTI JOIN out USING (post_id)),
                       (SELECT count(*) FROM out ANTI JOIN posts USING (post_id))
                """,
                [files],
            ).fetchall()[0]
            if missing or extra:
                raise AttachError(
                    f"{in_dir} was built from other posts than this store's: {missing} stored "
                    f"post(s) missing from it, {extra} post(s) not in the store"
                )
        con.execute(_REPLACE[table])
        columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]  # fixed names
        have = {
            r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [files]).fetchall()
        }
        lacking = sorted(set(columns) - have - {"build_id"})
        if lacking:
            raise AttachError(f"{in_dir}/{table}/ lacks column(s) {', '.join(lacking)}")
        # the stored state tables (account_features, coordination_*) carry no build_id
        select = ", ".join("$build::BIGINT" if c == "build_id" else f'"{c}"' for c in columns)
        con.execute(
            f"INSERT INTO {table} SELECT {select} FROM read_parquet($files)",  # noqa: S608
            {"files": files, **({"build": build_id} if "build_id" in columns else {})},
        )
        if table in UNINDEXED_KEYS:  # no index refuses a repeated key (schema 6): check
            key = UNINDEXED_KEYS[table]
            (repeated,) = con.execute(
                f"SELECT count(*) - count(DISTINCT {key}) FROM {table}"  # noqa: S608
            ).fetchone() or (0,)
            if repeated:
                raise AttachError(f"{in_dir}/{table}/ holds {repeated} repeated {key}(s)")
        mine = "WHERE build_id = $build" if "build_id" in columns else ""  # data_quality
        (rows[table],) = con.execute(
            f"SELECT count(*) FROM {table} {mine}",  # noqa: S608
            {"build": build_id} if mine else {},
        ).fetchall()[0]
    return Loaded(rows=rows, manifest=manifest)

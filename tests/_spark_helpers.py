"""Helpers for the Spark engine tests: the local session, stores built by both engines,
and the table comparison (exact for ids, counts and integers; 1e-9 for floats).

Without Java or pyspark the Spark tests skip with the reason, except in CI
(``CI=true``), where ``make test`` installs both and a skip would hide a broken engine.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadtrace.store import Store

# The derived tables of the cascades stage, with their keys; data_quality holds the
# stage's issues only (other stages add their own).
CASCADE_TABLES = {
    "post_cascades": ["post_id"],
    "cascades": ["cascade_id"],
    "data_quality": ["issue", "cascade_id", "post_id"],
}
CASCADE_ISSUES = ("clock_skew", "cycle_break", "unseen_parent")
# The derived tables of the media stage, with their keys.
MEDIA_TABLES = {
    "media_matches": ["media_a", "media_b", "via"],
    "post_media": ["post_id", "media_group_id"],
    "media_groups": ["media_group_id"],
}
# The derived tables of the items stage, with their keys.
ITEM_TABLES = {
    "url_keys": ["url"],
    "post_items": ["post_id", "item_id"],
    "items": ["item_id"],
}
# The derived tables of the accounts stage (its stored state included), with their keys.
ACCOUNT_TABLES = {
    "account_features": ["account_id"],
    "coordination_shares": ["post_id", "item"],
    "coordination_hits": ["account_a", "account_b", "item"],
    "coordination_pairs": ["account_a", "account_b"],
    "coordination_clusters": ["account_id"],
    "account_scores": ["account_id"],
}

# The narratives stage's tables, with their keys: all seven from Spark.
NARRATIVE_TABLES = {
    "post_narratives": ["post_id", "narrative_id"],
    "narratives": ["narrative_id"],
    "origin_scores": ["narrative_id", "account_id"],
    "account_origin": ["account_id"],
    "cascade_scores": ["cascade_id"],
    "item_origin_scores": ["item_id", "account_id"],
    "narrative_origin_items": ["narrative_id"],
}
# A fact-check desk of the tests' own, given to both engines as params.factcheck_file.
DESK = "desk.checkers.example"


def plant_corrections(store: Store, seed: int) -> dict[str, int]:
    """Fact-check links and Community Notes, into a store of posts (before its builds).

    Some originals carry a fact-check article (their reposts pass it on: correction
    narratives), some replies and quotes do (corrections inside a claim narrative),
    each link its own article (no new evidence linking cascades); half of them on
    snopes.com (the shipped list), half on :data:`DESK` (a user file's domain). Under
    8 claims a fact-check desk replies with an article, which the claim's first
    resharer then reposts (a claim account meeting the correction). Community Notes on
    random posts: most say misleading, some not; some were rated helpful (shown), some
    not, some have no status row.
    """
    rng = np.random.default_rng(seed)
    con = store.con
    posts = con.execute(
        "SELECT post_id, kind, created_at, urls FROM posts ORDER BY post_id"
    ).fetchall()
    with_children = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT parent_id FROM posts WHERE parent_id IS NOT NULL"
        ).fetchall()
    }
    updates = []
    for post_id, kind, _, urls in posts:
        odds = {"original": 0.05, "reply": 0.4, "quote": 0.4}.get(kind, 0.0)
        if post_id in with_children and rng.random() < odds:
            host = "www.snopes.com" if rng.random() < 0.5 else DESK
            updates.append(([*(urls or []), f"https://{host}/fact-check/{post_id}"], post_id))
    con.executemany("UPDATE posts SET urls = ? WHERE post_id = ?", updates)
    met = con.execute(
        """
        WITH claims AS (
            SELECT p.post_id, any_value(p.platform) AS platform,
                   max(r.created_at) AS last_at, arg_min(r.account_id, r.created_at) AS sharer
            FROM posts p JOIN posts r ON r.parent_id = p.post_id AND r.kind = 'repost'
            WHERE p.kind = 'original'
            GROUP BY p.post_id HAVING count(*) >= 2 ORDER BY p.post_id LIMIT 8
        )
        INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, urls, platform,
                           ingest_run_id)
        SELECT 'fc-' || post_id, 'fact-desk', last_at + INTERVAL 60 SECOND, post_id, 'reply',
               ['https://www.snopes.com/fact-check/' || post_id], platform, 1
        FROM claims
        UNION ALL
        SELECT 'fs-' || post_id, sharer, last_at + INTERVAL 120 SECOND, 'fc-' || post_id,
               'repost', NULL, platform, 1
        FROM claims
        """
    ).fetchall()[0][0]
    chosen = rng.choice(len(posts), size=min(len(posts), 80), replace=False)
    notes, status = [], []
    for n, i in enumerate(sorted(chosen)):
        post_id, _, created_at, _ = posts[i]
        note_id = f"{1000 + n}"
        written = created_at + timedelta(seconds=float(rng.integers(60, 86_400)))
        misleading = rng.random() < 0.8
        notes.append(
            (
                note_id,
                post_id,
                f"author{n % 7}",
                written,
                "MISINFORMED_OR_POTENTIALLY_MISLEADING" if misleading else "NOT_MISLEADING",
                ["misleadingFactualError"] if misleading else [],
            )
        )
        if rng.random() < 0.75:
            helpful = rng.random() < 0.5
            shown = written + timedelta(hours=float(rng.integers(1, 48))) if helpful else None
            state = "CURRENTLY_RATED_HELPFUL" if helpful else "NEEDS_MORE_RATINGS"
            status.append((note_id, shown, state, written))
    con.executemany(
        "INSERT INTO community_notes (note_id, post_id, participant_id, created_at, "
        "classification, misleading_reasons, ingest_run_id) VALUES (?, ?, ?, ?, ?, ?, 1)",
        notes,
    )
    con.executemany(
        "INSERT INTO community_note_status (note_id, first_shown_at, current_status, "
        "current_status_at, ingest_run_id) VALUES (?, ?, ?, ?, 1)",
        status,
    )
    return {
        "factcheck_posts": len(updates),
        "desk_posts": int(met),
        "notes": len(notes),
        "status": len(status),
    }


def require_spark() -> None:
    """Skip without Java or pyspark; fail instead in CI, where both must be there."""
    missing = [
        what
        for what, ok in (
            ("java (scripts/ensure-java.sh)", shutil.which("java") is not None),
            ("pyspark (the `spark` extra)", importlib.util.find_spec("pyspark") is not None),
        )
        if not ok
    ]
    if missing:
        message = f"Spark engine unavailable: missing {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run the Spark tests)")
        pytest.skip(message)


def ingest_cli(db: Path, files: list[Path]) -> None:
    """Ingest ``files`` into the store ``db`` through the CLI, as a user would."""
    from click.testing import CliRunner

    from spreadtrace.cli import main

    result = CliRunner().invoke(main, ["--db", str(db), "ingest", "--quiet", *map(str, files)])
    assert result.exit_code == 0, result.output


def spark_session():
    """One local[2] session (call once per test module, from a module-scoped fixture)."""
    require_spark()
    from spreadtrace.spark.session import session

    return session("local[2]", shuffle_partitions=2)


def store_rows(store: Store, table: str) -> pa.Table:
    """A derived table of the store without build_id (cascade issues only for data_quality)."""
    where = ""
    if table == "data_quality":
        where = " WHERE issue IN ('clock_skew', 'cycle_break', 'unseen_parent')"
    cur = store.con.cursor()
    columns = [r[0] for r in cur.execute(f"DESCRIBE {table}").fetchall()]
    select = ", ".join(
        f'"{c}"::VARCHAR AS "{c}"' if c == "features" else f'"{c}"'
        for c in columns
        if c != "build_id"
    )  # account_scores.features is JSON: its text, as the engines write it
    return cur.sql(f"SELECT {select} FROM {table}{where}").to_arrow_table()


def parquet_rows(out_dir: Path, table: str) -> pa.Table:
    got = pq.read_table(out_dir / table)
    return got.drop(["build_id"]) if "build_id" in got.column_names else got


def _value(v: object) -> object:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def table_diff(expected: pa.Table, got: pa.Table, keys: list[str]) -> list[str]:
    """Differences between two versions of a table: columns, types, row keys and values.

    Ids, counts, booleans, strings and times must be equal; floats within 1e-9.
    """
    problems = []
    if expected.column_names != got.column_names:
        problems.append(f"columns {expected.column_names} != {got.column_names}")
        got = got.select([c for c in expected.column_names if c in got.column_names])
    for field in expected.schema:
        if field.name in got.column_names:
            other = got.schema.field(field.name).type
            same = other == field.type or (
                pa.types.is_timestamp(other)
                and pa.types.is_timestamp(field.type)
                and other.unit == field.type.unit
            )
            if not same:
                problems.append(f"{field.name}: type {other} != {field.type}")
    if problems:
        return problems
    order = [(k, "ascending") for k in keys]
    a = expected.sort_by(order).to_pylist()
    b = got.sort_by(order).to_pylist()
    if len(a) != len(b):
        problems.append(f"{len(b)} rows, expected {len(a)}")
        return problems
    for ra, rb in zip(a, b, strict=True):
        for col in expected.column_names:
            x, y = _value(ra[col]), _value(rb[col])
            if isinstance(x, float) and isinstance(y, float):
                equal = abs(x - y) <= 1e-9
            else:
                equal = x == y
            if not equal:
                problems.append(f"{[ra[k] for k in keys]} {col}: {y!r} != {x!r}")
                if len(problems) > 10:
                    return problems
    return problems


def both_engines(spark, db: Path, work: Path, narratives=None, media=None) -> Path:
    """Build ``db`` with the DuckDB engine, export it, build the export on Spark: its output.

    ``narratives``, ``media``: those stages' parameters, the same for both engines.
    """
    from spreadtrace.pipeline.build import BuildParams, run_build
    from spreadtrace.pipeline.media import MediaParams
    from spreadtrace.pipeline.narratives import NarrativeParams
    from spreadtrace.spark.build import run_spark_build
    from spreadtrace.store.parquet import export_canonical

    narratives = narratives or NarrativeParams()
    media = media or MediaParams()
    with Store.open(db) as store:
        run_build(store, params=BuildParams(narratives=narratives, media=media), publish=False)
        export_canonical(store.con.cursor(), work / "canonical")
    out = work / "derived"
    run_spark_build(spark, str(work / "canonical"), str(out), narratives=narratives, media=media)
    return out


def built_cases(
    spark, tmp_path_factory, *, seed: int, posts: int, corrections: bool = False
) -> dict[str, tuple[Path, Path]]:
    """(store, Spark output) of the bundled sample and of a generated world with media.

    ``corrections``: the world also gets fact-check links and Community Notes
    (:func:`plant_corrections`), and both engines a user fact-check file naming DESK.
    """
    from spreadtrace.pipeline.narratives import NarrativeParams
    from spreadtrace.synth import generate
    from tests.conftest import REPO
    from tests.test_spark_media import plant_media

    out = {}
    work = tmp_path_factory.mktemp("sample")
    db = work / "s.duckdb"
    ingest_cli(db, sorted((REPO / "data" / "sample").glob("*.csv.gz")))
    out["sample"] = (db, both_engines(spark, db, work))
    work = tmp_path_factory.mktemp("world")
    generate(work / "world", seed=seed, posts=posts)
    db = work / "w.duckdb"
    ingest_cli(db, sorted((work / "world").glob("*.csv.gz")))
    narratives = None
    with Store.open(db) as store:
        plant_media(store, seed)
        if corrections:
            plant_corrections(store, seed)
            desk = work / "desk.txt"
            desk.write_text(f"# the tests' own fact-check desk\n{DESK}\n", encoding="utf-8")
            narratives = NarrativeParams(factcheck_file=str(desk))
    out["world"] = (db, both_engines(spark, db, work, narratives))
    return out

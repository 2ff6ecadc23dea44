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
from pathlib import Path

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

# The narratives stage's tables, with their keys: the grouping's and amplification's
# three come from Spark so far (narratives without its origin and correction columns); the whole stage after attach.
NARRATIVE_TABLES = {
    "post_narratives": ["post_id", "narrative_id"],
    "narratives": ["narrative_id"],
    "origin_scores": ["narrative_id", "account_id"],
    "account_origin": ["account_id"],
    "cascade_scores": ["cascade_id"],
    "item_origin_scores": ["item_id", "account_id"],
    "narrative_origin_items": ["narrative_id"],
}
GROUPING_TABLES = (
    "post_narratives",
    "narratives",
    "cascade_scores",
    "origin_scores",
    "account_origin",
    "item_origin_scores",
)


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


def both_engines(spark, db: Path, work: Path) -> Path:
    """Build ``db`` with the DuckDB engine, export it, build the export on Spark: its output."""
    from spreadtrace.pipeline.build import BuildParams, run_build
    from spreadtrace.spark.build import run_spark_build
    from spreadtrace.store.parquet import export_canonical

    with Store.open(db) as store:
        run_build(store, params=BuildParams(), publish=False)
        export_canonical(store.con.cursor(), work / "canonical")
    out = work / "derived"
    run_spark_build(spark, str(work / "canonical"), str(out))
    return out


def built_cases(spark, tmp_path_factory, *, seed: int, posts: int) -> dict[str, tuple[Path, Path]]:
    """(store, Spark output) of the bundled sample and of a generated world with media."""
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
    with Store.open(db) as store:
        plant_media(store, seed)
    out["world"] = (db, both_engines(spark, db, work))
    return out

"""``spark build``: read the canonical Parquet layout, run the stages, write derived tables.

Why a runner apart from the stages: paths may be any Hadoop-compatible URI (s3a://,
abfss://, gs://, dbfs:/), so everything goes through Spark's readers and writers; the
manifest (``_spreadtrace_build/``, one row: engine, tables, parameters, counts) tells
``spreadtrace attach`` what the run produced.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spreadtrace.errors import SpreadtraceError
from spreadtrace.pipeline.accounts import AccountParams
from spreadtrace.pipeline.media import MediaParams
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.spark import accounts as accounts_stage
from spreadtrace.spark import cascades as cascades_stage
from spreadtrace.spark import items as items_stage
from spreadtrace.spark import media as media_stage
from spreadtrace.spark import narratives as narratives_stage

__all__ = ["SparkBuildError", "SparkBuildResult", "PRODUCED", "run_spark_build"]

# Derived tables this engine writes: every derived table of the store (the cascades,
# media, items, accounts and narratives stages, the narratives' correction columns
# filled), so attach runs no DuckDB stage.
PRODUCED = (
    "post_cascades",
    "cascades",
    "data_quality",
    "media_matches",
    "post_media",
    "media_groups",
    "url_keys",
    "post_items",
    "items",
    "account_features",
    "coordination_shares",
    "coordination_hits",
    "coordination_pairs",
    "coordination_clusters",
    "account_scores",
    "post_narratives",
    "narratives",
    "cascade_scores",
    "origin_scores",
    "account_origin",
    "item_origin_scores",
    "narrative_origin_items",
)
MANIFEST = "_spreadtrace_build"


class SparkBuildError(SpreadtraceError):
    """Input that the Spark build cannot read (missing layout directories)."""

    exit_code = 1


@dataclass(frozen=True)
class SparkBuildResult:
    """Rows written per table, the stage counts and seconds per step."""

    rows: dict[str, int]
    counts: dict[str, dict[str, int]]
    timings: dict[str, float] = field(default_factory=dict)


def _read(spark: SparkSession, path: str, table: str, schema: str | None = None):
    try:
        return spark.read.parquet(f"{path.rstrip('/')}/{table}")
    except Exception as exc:  # AnalysisException: the path does not exist
        if schema is not None:
            return spark.createDataFrame([], schema)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkBuildError(f"cannot read {path}/{table}/ as Parquet: {first}") from None


def _write_tables(
    spark: SparkSession, out: str, tables: list[tuple[str, DataFrame]]
) -> tuple[dict[str, int], float]:
    rows: dict[str, int] = {}
    t0 = time.perf_counter()
    for name, df in tables:
        df.write.mode("overwrite").parquet(f"{out}/{name}")
        rows[name] = spark.read.parquet(f"{out}/{name}").count()
    return rows, time.perf_counter() - t0


def _delete(spark: SparkSession, path: str) -> None:
    """Remove a directory on any Hadoop-compatible file system (the run's work tables)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(hpath, True)


def run_spark_build(
    spark: SparkSession,
    input_dir: str,
    output_dir: str,
    *,
    infer: bool = True,
    build_id: int = 1,
    giant_nodes: int = cascades_stage.GIANT_NODES,
    media: MediaParams | None = None,
    narratives: NarrativeParams | None = None,
    accounts: AccountParams | None = None,
    progress: ProgressFn | None = None,
) -> SparkBuildResult:
    """Run every stage this engine has on ``input_dir`` and write ``output_dir``.

    ``giant_nodes``: cascades with more nodes take the set-wise path
    (:func:`spreadtrace.spark.cascades.giant_rows`) instead of one pandas UDF call.
    ``media``, ``narratives``, ``accounts``: the stages' parameters (the DuckDB
    engine's defaults).
    """
    media = media or MediaParams()
    accounts = accounts or AccountParams()
    narratives = narratives or NarrativeParams()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    posts = _read(spark, input_dir, "posts")
    follows = _read(
        spark,
        input_dir,
        "follows",
        "follower_id STRING, followee_id STRING, created_at TIMESTAMP, ingest_run_id BIGINT",
    )
    media_rows = _read(spark, input_dir, "media", media_stage.MEDIA_SCHEMA)
    # an export older than the Community Notes directories: no notes
    notes = _read(spark, input_dir, "community_notes", narratives_stage.NOTES_SCHEMA)
    note_status = _read(
        spark, input_dir, "community_note_status", narratives_stage.NOTE_STATUS_SCHEMA
    )
    emit(progress, "cascades", 0, 2)
    out = output_dir.rstrip("/")
    work = f"{out}/_work"
    cascades_stage.set_work_dir(work)
    try:
        casc = cascades_stage.run(
            spark, posts, follows, build_id=build_id, infer=infer, giant_nodes=giant_nodes
        )
        rows, t_write = _write_tables(
            spark,
            out,
            [
                ("post_cascades", casc.post_cascades),
                ("cascades", casc.cascades),
                ("data_quality", casc.data_quality),
            ],
        )
        timings["cascades"] = time.perf_counter() - t0 - t_write
        emit(progress, "cascades", 1, 2)
        emit(progress, "media", 0, 1)
        t0 = time.perf_counter()
        med = media_stage.run(spark, posts, media_rows, build_id=build_id, params=media)
        more, t_more = _write_tables(
            spark,
            out,
            [
                ("media_matches", med.media_matches),
                ("post_media", med.post_media),
                ("media_groups", med.media_groups),
            ],
        )
        rows.update(more)
        t_write += t_more
        timings["media"] = time.perf_counter() - t0 - t_more
        emit(progress, "media", 1, 1)
        emit(progress, "items", 0, 1)
        t0 = time.perf_counter()

        def back(name: str) -> DataFrame:
            return spark.read.parquet(f"{out}/{name}")

        its = items_stage.run(
            spark,
            posts,
            back("cascades"),
            back("post_cascades"),
            back("post_media"),
            back("media_groups"),
            build_id=build_id,
            params=narratives,
        )
        more, t_more = _write_tables(
            spark,
            out,
            [("url_keys", its.url_keys), ("post_items", its.post_items), ("items", its.items)],
        )
        rows.update(more)
        t_write += t_more
        timings["items"] = time.perf_counter() - t0 - t_more
        emit(progress, "items", 1, 1)
        emit(progress, "accounts", 0, 1)
        t0 = time.perf_counter()
        acc = accounts_stage.run(
            spark,
            posts,
            _read(spark, input_dir, "accounts"),
            back("post_items"),
            build_id=build_id,
            params=accounts,
        )
        more, t_more = _write_tables(
            spark,
            out,
            [
                ("account_features", acc.account_features),
                ("coordination_shares", acc.coordination_shares),
                ("coordination_hits", acc.coordination_hits),
                ("coordination_pairs", acc.coordination_pairs),
                ("coordination_clusters", acc.coordination_clusters),
                ("account_scores", acc.account_scores),
            ],
        )
        rows.update(more)
        t_write += t_more
        timings["accounts"] = time.perf_counter() - t0 - t_more
        emit(progress, "accounts", 1, 1)
        emit(progress, "narratives", 0, 1)
        t0 = time.perf_counter()
        nar = narratives_stage.run(
            spark,
            posts,
            back("cascades"),
            back("post_cascades"),
            back("post_items"),
            back("items"),
            back("url_keys"),
            follows,
            back("account_scores"),
            back("coordination_clusters"),
            notes,
            note_status,
            build_id=build_id,
            params=narratives,
        )
        more, t_more = _write_tables(
            spark,
            out,
            [
                ("post_narratives", nar.post_narratives),
                ("narratives", nar.narratives),
                ("cascade_scores", nar.cascade_scores),
                ("origin_scores", nar.origin_scores),
                ("account_origin", nar.account_origin),
                ("item_origin_scores", nar.item_origin_scores),
                ("narrative_origin_items", nar.narrative_origin_items),
            ],
        )
        rows.update(more)
        t_write += t_more
        timings["narratives"] = time.perf_counter() - t0 - t_more
        emit(progress, "narratives", 1, 1)
    finally:
        cascades_stage.set_work_dir(None)
    _delete(spark, work)
    timings["write"] = t_write
    emit(progress, "cascades", 2, 2)
    counts = {
        "cascades": casc.counts,
        "media": med.counts,
        "items": its.counts,
        "accounts": acc.counts,
        "narratives": nar.counts,
    }
    manifest = spark.createDataFrame(
        [
            (
                "spark",
                json.dumps(list(PRODUCED)),
                json.dumps(
                    {
                        "cascades": {"infer": infer},
                        "media": media.to_dict(),
                        "accounts": accounts.to_dict(),
                        "narratives": narratives.to_dict(),
                    },
                    sort_keys=True,
                ),
                json.dumps(counts, sort_keys=True),
            )
        ],
        T.StructType(
            [T.StructField(c, T.StringType()) for c in ("engine", "tables", "params", "counts")]
        ),
    )
    manifest.coalesce(1).write.mode("overwrite").parquet(f"{out}/{MANIFEST}")
    return SparkBuildResult(rows=rows, counts=counts, timings=timings)

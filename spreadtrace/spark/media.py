"""Stage "media" on Spark: posts + media -> media_matches, post_media, media_groups.

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.media`, and the rows
must equal the DuckDB engine's. Every rule written as SQL in
:mod:`spreadtrace.store.media` (the items, the sha256 links, which hashes are matched,
the vPDQ video rule, groups, reuse gaps, provenance) runs here as that same text,
transpiled to Spark SQL by sqlglot over views of the same names. Two steps are
written for Spark, because DuckDB does them with engine-specific types or in one
process:

1. near-duplicate pairs by multi-index hashing (Norouzi, Punjani and Fleet 2012), as
   :func:`spreadtrace.store.media.near_pairs`: 16 chunks of 16 bits, probes at chunk
   radius ``r`` (the chunk and its 16 one-bit neighbours for r = 1), an equi-join on
   (chunk, value), then the exact Hamming distance over four 64-bit words
   (``conv(hex, 16, -10)``: Spark has no unsigned type, and ``bit_count`` of a xor is
   the same on signed words);
2. groups as connected components by minimum-label propagation with shortcutting, in
   joins: each round every node takes the smallest label among itself and its
   neighbours, then the label of its label (pointer jumping); labels only fall and
   stay inside a component, so the fixpoint labels each component by its smallest
   ``idx``, which is its smallest ``media_id`` (items are numbered in ``media_id``
   order), the group id :func:`spreadtrace.graph.media.components` leads to in DuckDB.

Example (local mode; see tests/test_spark_media.py):

    tables = run(spark, posts_df, media_df, build_id=1)
    tables.media_groups.write.parquet("out/media_groups")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spreadtrace.pipeline.media import MediaParams
from spreadtrace.spark.cascades import _stage, number_rows, to_spark_sql
from spreadtrace.store import media as media_sql

__all__ = ["MediaTables", "MEDIA_SCHEMA", "run", "near_pairs", "components"]

# The canonical media table as Parquet (an export without media/ reads as empty).
MEDIA_SCHEMA = (
    "media_id STRING, kind STRING, url STRING, sha256 STRING, pdq STRING, pdq_quality INT, "
    "width INT, height INT, duration_s DOUBLE, local_path STRING, frames ARRAY<STRING>, "
    "ingest_run_id BIGINT"
)
# The store's columns and types of each table this stage writes.
_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "media_matches": [
        ("media_a", "string"),
        ("media_b", "string"),
        ("via", "string"),
        ("distance", "double"),
        ("build_id", "bigint"),
    ],
    "post_media": [
        ("post_id", "string"),
        ("media_id", "string"),
        ("media_group_id", "string"),
        ("reuse_gap_days", "double"),
        ("out_of_context", "boolean"),
        ("build_id", "bigint"),
    ],
    "media_groups": [
        ("media_group_id", "string"),
        ("kind", "string"),
        ("media_ids", "array<string>"),
        ("label", "string"),
        ("first_post_id", "string"),
        ("first_account_id", "string"),
        ("first_at", "timestamp"),
        ("first_platform", "string"),
        ("last_at", "timestamp"),
        ("posts", "bigint"),
        ("accounts", "bigint"),
        ("platforms", "array<string>"),
        ("reused_after_days", "double"),
        ("reuses", "bigint"),
        ("out_of_context", "bigint"),
        ("bot_share", "double"),
        ("coordinated_share", "double"),
        ("build_id", "bigint"),
    ],
}


@dataclass(frozen=True)
class MediaTables:
    """The stage's output DataFrames (store schema) and its counts."""

    media_matches: DataFrame
    post_media: DataFrame
    media_groups: DataFrame
    counts: dict[str, int]


def _sql(spark: SparkSession, sql: str, **args: Any) -> DataFrame:
    """Run one of the store's media rules (DuckDB SQL) on Spark, parameters bound."""
    return spark.sql(to_spark_sql(sql), args=args or None)


def _typed(df: DataFrame, table: str) -> DataFrame:
    return df.select(*[F.col(c).cast(t).alias(c) for c, t in _COLUMNS[table]])


def near_pairs(hashes: DataFrame, *, threshold: int, radius: int) -> DataFrame:
    """(a, b, distance) with a < b for rows of ``hashes`` (idx, hex) within ``threshold``.

    The multi-index join of :func:`spreadtrace.store.media.near_pairs`: candidates share
    a chunk value (after one probe flip when ``radius`` is 1); the distance is exact.
    """
    words = hashes.select(
        "idx",
        *[
            F.conv(F.substring("hex", 16 * i + 1, 16), 16, -10).cast("bigint").alias(f"w{i}")
            for i in range(4)
        ],
    )
    chunk = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(j).alias("j"),
                    F.conv(F.substring("hex", 4 * j + 1, 4), 16, 10).cast("int").alias("v"),
                )
                for j in range(media_sql.CHUNKS)
            ]
        )
    )
    chunks = hashes.select("idx", chunk.alias("c")).select("idx", "c.j", "c.v")
    flips = [0] + ([1 << k for k in range(16)] if radius >= 1 else [])
    probes = chunks.crossJoin(
        hashes.sparkSession.createDataFrame([(f,) for f in flips], "f INT").hint("broadcast")
    ).select(F.col("idx").alias("a"), "j", F.col("v").bitwiseXOR(F.col("f")).alias("v"))
    cands = (
        probes.join(chunks.withColumnRenamed("idx", "b"), ["j", "v"])
        .where(F.col("a") < F.col("b"))
        .select("a", "b")
        .distinct()
    )
    wa = words.select(F.col("idx").alias("a"), *[F.col(f"w{i}").alias(f"a{i}") for i in range(4)])
    wb = words.select(F.col("idx").alias("b"), *[F.col(f"w{i}").alias(f"b{i}") for i in range(4)])
    distance = sum(
        (F.bit_count(F.col(f"a{i}").bitwiseXOR(F.col(f"b{i}"))) for i in range(1, 4)),
        F.bit_count(F.col("a0").bitwiseXOR(F.col("b0"))),
    )
    return (
        cands.join(wa, "a")
        .join(wb, "b")
        .select("a", "b", distance.cast("bigint").alias("distance"))
        .where(F.col("distance") <= threshold)
    )


def components(pairs: DataFrame) -> DataFrame:
    """(idx, g): the smallest idx of each node's connected component, for nodes of ``pairs``.

    Minimum-label propagation with shortcutting (Shiloach and Vishkin 1982, as in the
    "hash-to-min" family of MapReduce components): a round is a neighbour join, a
    group-by, and a label-of-label join; rounds stop when no label moved.
    """
    edges = (
        pairs.select(F.col("a").alias("u"), F.col("b").alias("v"))
        .unionByName(pairs.select(F.col("b").alias("u"), F.col("a").alias("v")))
        .distinct()
        .transform(_stage)
    )
    labels = edges.select(F.col("u").alias("idx"), F.col("u").alias("g")).distinct()
    labels = labels.transform(_stage)
    while True:
        spread = (
            edges.join(labels.withColumnRenamed("idx", "v"), "v")
            .select(F.col("u").alias("idx"), "g")
            .unionByName(labels)
            .groupBy("idx")
            .agg(F.min("g").alias("g"))
        ).transform(_stage)
        jumped = (
            spread.join(spread.select(F.col("idx").alias("g"), F.col("g").alias("gg")), "g")
            .select("idx", F.col("gg").alias("g"))
            .transform(_stage)
        )
        moved = jumped.join(labels.withColumnRenamed("g", "old"), "idx").where(
            F.col("g") != F.col("old")
        )
        labels = jumped
        if moved.isEmpty():
            return labels


def run(
    spark: SparkSession,
    posts: DataFrame,
    media: DataFrame,
    *,
    build_id: int,
    params: MediaParams | None = None,
) -> MediaTables:
    """The media stage over all posts and media (a full build): three tables and counts."""
    params = params or MediaParams()
    radius = media_sql.probe_radius(params.pdq_threshold, params.exact)
    posts.createOrReplaceTempView("posts")
    media.createOrReplaceTempView("media")
    items = number_rows(_sql(spark, media_sql.MEDIA_ITEMS_SQL), ["media_id"], "idx")
    items = items.transform(_stage)
    items.createOrReplaceTempView("_mx_items")
    n_items = items.count()

    pdq = near_pairs(
        _sql(spark, media_sql.PDQ_HASHES_SQL, q=int(params.min_quality)),
        threshold=params.pdq_threshold,
        radius=radius,
    ).select("a", "b", F.lit("pdq").alias("via"), F.col("distance").cast("double"))
    frames = (
        _sql(spark, media_sql.VIDEO_FRAMES_SQL)
        .withColumn("idx", F.monotonically_increasing_id())
        .transform(_stage)
    )
    frames.createOrReplaceTempView("_mx_frames")
    fnear = near_pairs(
        frames.select("idx", F.col("f").alias("hex")),
        threshold=params.pdq_threshold,
        radius=radius,
    ).transform(_stage)
    fnear.createOrReplaceTempView("_mx_fnear")
    video = _sql(spark, media_sql.VIDEO_PAIRS_SQL, v=float(params.video_match))
    pairs = (
        _sql(spark, media_sql.SHA256_PAIRS_SQL)
        .unionByName(pdq)
        .unionByName(video.select("a", "b", "via", F.col("distance").cast("double")))
        .transform(_stage)
    )
    pairs.createOrReplaceTempView("_mx_pairs")
    n_pairs = pairs.count()

    labels = components(pairs.select("a", "b"))
    member = items.join(labels, "idx", "left").select("idx", F.coalesce("g", "idx").alias("g"))
    member.createOrReplaceTempView("_mx_member")
    _sql(spark, media_sql.GROUP_SQL).transform(_stage).createOrReplaceTempView("_mx_group")
    matches = _typed(_sql(spark, media_sql.MATCHES_SQL, b=int(build_id)), "media_matches")
    _sql(spark, media_sql.POST_GROUPS_SQL).transform(_stage).createOrReplaceTempView("_mx_pm")
    post_media = _sql(
        spark, media_sql.POST_MEDIA_SQL, gap=float(params.reuse_gap_days), b=int(build_id)
    )
    post_media = _typed(post_media, "post_media").transform(_stage)
    post_media.createOrReplaceTempView("post_media")
    groups = _typed(_sql(spark, media_sql.MEDIA_GROUPS_SQL, b=int(build_id)), "media_groups")
    groups = groups.transform(_stage)
    agg = groups.agg(
        F.count("*").alias("groups"),
        F.sum("posts").alias("posts"),
        F.sum((F.size("media_ids") > 1).cast("int")).alias("multi"),
    ).first()
    assert agg is not None
    counts = {
        "media_groups": int(agg["groups"] or 0),
        "media_posts": int(agg["posts"] or 0),
        "groups_of_copies": int(agg["multi"] or 0),
        "media_items": n_items,
        "media_matches": n_pairs,
    }
    return MediaTables(matches, post_media, groups, counts)

"""Stage "narratives" on Spark, its first part: the grouping (post_narratives, narratives).

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.narratives` (a full
build), and the rows must equal the DuckDB engine's.

1. The content roots (one row per cascade: the store's ``ROOTS_SQL`` with its text
   group from post_items), the roots' URL keys and the media items they carry are the
   DuckDB engine's queries (:func:`~spreadtrace.store.narratives.cascade_roots`,
   :func:`~spreadtrace.store.items.url_key_frame` with ``roots_only``,
   :func:`~spreadtrace.store.narratives.root_media`), transpiled with sqlglot: joins
   shuffled by post and cascade.
2. The grouping is global by nature (a narrative links cascades anywhere in the store,
   through shared URLs, media, text groups and rare hashtags, whose caps depend on the
   number of roots), as the coordination graph's Leiden is: the roots (one row per
   cascade, where posts are many times more) are collected to the driver and grouped
   by the same :func:`~spreadtrace.graph.narratives.group_narratives` call.
3. The cascade -> narrative map goes back as a DataFrame; post_narratives and the
   narratives' counts are set-wise joins (shuffled by cascade, then by narrative).

The narratives' score columns (origin, amplification, corrections) are left NULL: the
rest of the stage still runs on DuckDB after ``attach``, which recomputes the whole
stage (these two tables included) until every table of the stage comes from Spark.

Example (local mode; see tests/test_spark_narratives.py):

    tables = run(spark, posts_df, cascades_df, post_cascades_df, post_items_df,
                 items_df, url_keys_df, build_id=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spreadtrace.graph.narratives import group_narratives
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.spark.cascades import _stage, to_spark_sql
from spreadtrace.store.narratives import ROOTS_SQL

__all__ = ["NarrativeTables", "NARRATIVE_COLUMNS", "run"]

# The narratives table's columns after the grouping, in the store's order; the others are
# the scores the later steps fill (NULL here, typed as the store's).
_LATER = [
    ("origin_account_id", "string"),
    ("origin_score", "double"),
    ("bot_share", "double"),
    ("early_bot_share", "double"),
    ("coordinated_share", "double"),
    ("reach_via_bots", "double"),
    ("amplification_score", "double"),
    ("amplification_reasons", "string"),
    ("build_id", None),
    ("share_bot_only", "double"),
    ("share_coordinated_only", "double"),
    ("share_both", "double"),
    ("share_neither", "double"),
    ("reach_via_bots_low", "double"),
    ("reach_via_bots_high", "double"),
    ("inferred_edges", "bigint"),
    ("claim_posts", "bigint"),
    ("claim_accounts", "bigint"),
    ("correction_posts", "bigint"),
    ("correction_accounts", "bigint"),
    ("first_correction_at", "timestamp"),
    ("correction_delay_s", "double"),
    ("claim_accounts_corrected", "double"),
    ("notes", "bigint"),
    ("first_note_shown_at", "timestamp"),
    ("is_correction", "boolean"),
]
# The columns the grouping computes (the rest of NARRATIVE_COLUMNS are later scores).
NARRATIVE_COLUMNS = (
    "narrative_id",
    "label",
    "kind",
    "cascades",
    "posts",
    "accounts",
    "first_at",
    "last_at",
)

# The DuckDB engine's queries (store/narratives.py, store/items.py), in one place here:
# cascade_roots, the roots' URL keys (url_key_frame roots_only; array_length for len, which
# sqlglot reads as a string length) and root_media.
_ROOTS_WITH_TEXT_SQL = f"""
    SELECT r.*, t.item_id AS text_group
    FROM ({ROOTS_SQL}) r
    LEFT JOIN (SELECT post_id, item_id FROM post_items WHERE item_id LIKE 'text:%') t
           ON t.post_id = r.post_id
"""  # noqa: S608 -- fixed queries
_ROOT_KEYS_SQL = """
    SELECT url, key FROM url_keys
    SEMI JOIN (SELECT unnest(p.urls) AS u FROM posts p
               JOIN post_cascades pc ON pc.post_id = p.post_id
               WHERE array_length(p.urls) > 0 AND pc.depth <= 1) r ON r.u = url_keys.url
"""
_ROOT_MEDIA_SQL = f"""
    SELECT r.cascade_id, pi.item_id, i.label
    FROM ({ROOTS_SQL}) r
    JOIN post_items pi ON pi.post_id = r.post_id
    JOIN items i ON i.item_id = pi.item_id
    WHERE i.kind = 'media'
"""  # noqa: S608 -- fixed queries
# write_narratives' two queries (the map is the view _sn_map, the narratives _sn_narr)
_POST_NARRATIVES_SQL = """
    SELECT pc.post_id, m.narrative_id,
           CASE WHEN pc.parent_id IS NULL THEN m.via ELSE 'cascade' END AS via
    FROM post_cascades pc JOIN _sn_map m ON m.cascade_id = pc.cascade_id
"""
_NARRATIVE_ROWS_SQL = """
    SELECT n.narrative_id, n.label, n.kind, count(DISTINCT pc.cascade_id) AS cascades,
           count(*) AS posts, count(DISTINCT p.account_id) AS accounts,
           min(p.created_at) AS first_at, max(p.created_at) AS last_at
    FROM _sn_narr n
    JOIN post_narratives pn ON pn.narrative_id = n.narrative_id
    JOIN post_cascades pc ON pc.post_id = pn.post_id
    JOIN posts p ON p.post_id = pn.post_id
    GROUP BY n.narrative_id, n.label, n.kind
"""


@dataclass(frozen=True)
class NarrativeTables:
    """The grouping's output DataFrames (store schema, build_id added) and its counts."""

    post_narratives: DataFrame
    narratives: DataFrame
    counts: dict[str, Any]


def _collect(spark: SparkSession, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(spark.sql(to_spark_sql(sql)).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def grouping(spark: SparkSession, params: NarrativeParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cascade_id, narrative_id, via) and (narrative_id, label, kind), on the driver.

    Needs the views posts, cascades, post_cascades, post_items, items and url_keys.
    """
    roots = _collect(spark, _ROOTS_WITH_TEXT_SQL)
    keys = _collect(spark, _ROOT_KEYS_SQL)
    media = _collect(spark, _ROOT_MEDIA_SQL)
    result = group_narratives(
        roots,
        text_threshold=params.text_threshold,
        num_perm=params.num_perm,
        min_text_tokens=params.min_text_tokens,
        hashtag_max_roots=params.hashtag_max_roots,
        hashtag_max_share=params.hashtag_max_share,
        min_posts=params.min_posts,
        keys=keys,
        semantic=params.semantic,
        semantic_threshold=params.semantic_threshold,
        media=media,
    )
    return result.cascades, result.narratives


def run(
    spark: SparkSession,
    posts: DataFrame,
    cascades: DataFrame,
    post_cascades: DataFrame,
    post_items: DataFrame,
    items: DataFrame,
    url_keys: DataFrame,
    *,
    build_id: int,
    params: NarrativeParams | None = None,
) -> NarrativeTables:
    """The narrative grouping over all cascades (a full build): its two tables, counts."""
    params = params or NarrativeParams()
    bid = F.lit(build_id).cast("bigint").alias("build_id")
    for name, df in (
        ("posts", posts),
        ("cascades", cascades),
        ("post_cascades", post_cascades),
        ("post_items", post_items),
        ("items", items),
        ("url_keys", url_keys),
    ):
        df.createOrReplaceTempView(name)
    mapping, narr = grouping(spark, params)
    spark.createDataFrame(
        mapping.to_pandas(), "cascade_id string, narrative_id string, via string"
    ).createOrReplaceTempView("_sn_map")
    spark.createDataFrame(
        narr.to_pandas(), "narrative_id string, label string, kind string"
    ).createOrReplaceTempView("_sn_narr")
    post_narr = spark.sql(to_spark_sql(_POST_NARRATIVES_SQL)).transform(_stage)
    post_narr.createOrReplaceTempView("post_narratives")
    rows = spark.sql(to_spark_sql(_NARRATIVE_ROWS_SQL)).transform(_stage)
    later = [bid if kind is None else F.lit(None).cast(kind).alias(name) for name, kind in _LATER]
    narratives = rows.select(*NARRATIVE_COLUMNS, *later)
    n_posts = post_narr.count()
    n_all = posts.count()
    largest = rows.agg(F.max("posts")).first()
    top = int(largest[0]) if largest is not None and largest[0] is not None else 0
    counts = {
        "narratives": narr.height,
        "narrative_posts": n_posts,
        "largest_narrative_share_pct": round(100 * top / max(n_all, 1), 2),
    }
    return NarrativeTables(
        post_narr.select("post_id", "narrative_id", "via", bid), narratives, counts
    )

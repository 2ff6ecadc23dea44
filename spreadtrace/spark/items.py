"""Stage "items" on Spark: posts, cascades, post_media -> url_keys, post_items, items.

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.items` (a full
build), and the rows must equal the DuckDB engine's. The pure functions run inside
Python workers on bounded batches, never on a whole store:

1. URL keys: the distinct posted URLs, ``mapInPandas`` over
   :func:`spreadtrace.urls.url_keys` (the project's one normaliser);
2. text items: the content roots (the store's ``ROOTS_SQL``, transpiled), each
   distinct text normalised by :func:`~spreadtrace.graph.narratives.normalize_text_expr`
   and each distinct long-enough norm MinHashed
   (:func:`~spreadtrace.graph.narratives.minhash_signatures`,
   :func:`~spreadtrace.graph.narratives.band_keys`) in ``mapInPandas`` batches; the LSH
   star pairs of :func:`~spreadtrace.graph.narratives.bucket_star_pairs` set-wise (each
   bucket's smallest norm by a group-by on (band, key), joined back to the members, the
   pair kept when the share of equal signature positions, counted over the two arrays,
   reaches the threshold: no Python call per bucket); groups are connected components
   (:func:`spreadtrace.spark.media.components`, joins), and a group's item id is
   ``text:`` plus its earliest post (created_at, post_id), as ``text_items_from_pairs``;
3. post_items and items: the store's ``POST_ITEMS_SQL`` and ``ITEM_ROWS_SQL``
   (URL, hashtag, media and text items; per item its earliest post, label and counts),
   transpiled, over views of the same names.

Example (local mode; see tests/test_spark_items.py):

    tables = run(spark, posts_df, cascades_df, post_cascades_df, post_media_df,
                 media_groups_df, build_id=1)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spreadtrace.graph.narratives import (
    band_keys,
    lsh_layout,
    minhash_signatures,
    normalize_text_expr,
)
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.spark.cascades import _stage, number_rows, to_spark_sql
from spreadtrace.spark.media import components
from spreadtrace.store.items import ITEM_ROWS_SQL, POST_ITEMS_SQL
from spreadtrace.store.narratives import ROOTS_SQL
from spreadtrace.urls import url_keys

__all__ = ["ItemTables", "run", "text_items"]


@dataclass(frozen=True)
class ItemTables:
    """The stage's output DataFrames (store schema) and its counts."""

    url_keys: DataFrame
    post_items: DataFrame
    items: DataFrame
    counts: dict[str, int]


def _key_urls(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for pdf in batches:
        keyed = url_keys(pl.Series("url", pdf["url"].tolist(), dtype=pl.String))
        yield keyed.to_pandas()


def _norms(min_tokens: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            frame = pl.DataFrame({"text": pl.Series(pdf["text"].tolist(), dtype=pl.String)})
            frame = frame.with_columns(norm=normalize_text_expr(pl.col("text"))).filter(
                pl.col("norm").str.count_matches(" ") + 1 >= min_tokens
            )
            yield frame.to_pandas()

    return run


def _signatures(num_perm: int, bands: int, rows: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            norms = pl.Series("norm", pdf["norm"].tolist(), dtype=pl.String)
            sig = minhash_signatures(norms.str.split(" "), num_perm=num_perm)
            keys = band_keys(sig, bands=bands, rows=rows)
            yield pd.DataFrame(
                {
                    "norm": norms.to_list(),
                    "sig": list(np.ascontiguousarray(sig).view(np.int32)),
                    "keys": list(np.ascontiguousarray(keys).view(np.int64)),
                }
            )

    return run


def text_items(
    spark: SparkSession, roots: DataFrame, params: NarrativeParams
) -> tuple[DataFrame, dict[str, int]]:
    """(post_id, item_id) of the roots' text items, and counts."""
    bands, rows = lsh_layout(params.text_threshold, params.num_perm)
    texts = roots.where(F.col("text").isNotNull()).select("text").distinct()
    norms = texts.mapInPandas(_norms(params.min_text_tokens), "text string, norm string")
    norms = norms.transform(_stage)
    rooted = roots.join(norms, "text").select("post_id", "created_at", "norm").transform(_stage)
    distinct = number_rows(rooted.select("norm").distinct(), ["norm"], "i").transform(_stage)
    sigs = (
        distinct.select("norm")
        .mapInPandas(
            _signatures(params.num_perm, bands, rows),
            "norm string, sig array<int>, keys array<bigint>",
        )
        .transform(_stage)
    )
    # LSH star pairs, set-wise (bucket_star_pairs' rule): in each (band, key) bucket
    # every member is paired with the bucket's smallest norm, and a pair is kept when the
    # share of equal signature positions reaches the threshold
    n_norms = distinct.count()
    members = sigs.select("norm", F.posexplode("keys").alias("band", "key"))
    heads = members.groupBy("band", "key").agg(F.min("norm").alias("norm_a"))
    cands = (
        members.join(heads, ["band", "key"])
        .where(F.col("norm") != F.col("norm_a"))
        .select("norm_a", F.col("norm").alias("norm_b"))
        .distinct()
    )
    sig_a = sigs.select(F.col("norm").alias("norm_a"), F.col("sig").alias("sa"))
    sig_b = sigs.select(F.col("norm").alias("norm_b"), F.col("sig").alias("sb"))
    equal = F.aggregate(
        F.zip_with("sa", "sb", lambda x, y: (x == y).cast("int")), F.lit(0), lambda a, v: a + v
    )
    pairs = (
        cands.join(sig_a, "norm_a")
        .join(sig_b, "norm_b")
        .where(equal.cast("double") / F.lit(float(params.num_perm)) >= params.text_threshold)
        .select("norm_a", "norm_b")
        .transform(_stage)
    )
    idx = (
        pairs.join(distinct.select(F.col("norm").alias("norm_a"), F.col("i").alias("a")), "norm_a")
        .join(distinct.select(F.col("norm").alias("norm_b"), F.col("i").alias("b")), "norm_b")
        .select("a", "b")
    )
    labels = components(idx)
    group = distinct.join(labels.withColumnRenamed("idx", "i"), "i", "left").select(
        "norm", F.coalesce("g", "i").alias("g")
    )
    joined = rooted.join(group, "norm")
    first = joined.groupBy("g").agg(
        F.min_by("post_id", F.struct("created_at", "post_id")).alias("first")
    )
    out = joined.join(first, "g").select(
        "post_id", F.concat(F.lit("text:"), F.col("first")).alias("item_id")
    )
    return out.transform(_stage), {"texts_hashed": n_norms, "text_pairs": pairs.count()}


def run(
    spark: SparkSession,
    posts: DataFrame,
    cascades: DataFrame,
    post_cascades: DataFrame,
    post_media: DataFrame,
    media_groups: DataFrame,
    *,
    build_id: int,
    params: NarrativeParams | None = None,
) -> ItemTables:
    """The items stage over all posts (a full build): url_keys, post_items, items."""
    params = params or NarrativeParams()
    bid = F.lit(build_id).cast("bigint").alias("build_id")
    posts.createOrReplaceTempView("posts")
    cascades.createOrReplaceTempView("cascades")
    post_cascades.createOrReplaceTempView("post_cascades")
    post_media.createOrReplaceTempView("post_media")
    media_groups.createOrReplaceTempView("media_groups")

    urls = (
        posts.where(F.size("urls") > 0)
        .select(F.explode("urls").alias("url"))
        .where(F.col("url").isNotNull())
        .distinct()
    )
    keys = urls.mapInPandas(_key_urls, "url string, key string, host string, shortener boolean")
    keys = keys.transform(_stage)
    url_rows = keys.select("url", "key", "host", "shortener", bid)

    roots = spark.sql(to_spark_sql(ROOTS_SQL)).select("post_id", "created_at", "text")
    texts, text_counts = text_items(spark, roots, params)

    keys.createOrReplaceTempView("url_keys")
    texts.createOrReplaceTempView("_ik_text")
    post_items = spark.sql(to_spark_sql(POST_ITEMS_SQL)).transform(_stage)
    post_items.createOrReplaceTempView("post_items")
    items = (
        spark.sql(to_spark_sql(ITEM_ROWS_SQL))
        .select(
            "*",
            F.lit(None).cast("double").alias("bot_share"),
            F.lit(None).cast("double").alias("coordinated_share"),
            bid,
        )
        .transform(_stage)
    )
    post_items = post_items.select("post_id", "item_id", bid)
    counts = {"items": items.count(), "post_items": post_items.count(), **text_counts}
    return ItemTables(url_rows, post_items, items, counts)

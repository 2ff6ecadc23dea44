"""Stage "accounts" on Spark: posts, accounts, post_items -> the account and coordination tables.

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.accounts` (a full
build, every account scored), and the rows must equal the DuckDB engine's. Each step
runs one definition shared with that engine:

1. shares, co-share hits and the kept pairs' evidence: the stored state's SQL
   (:func:`~spreadtrace.store.accounts_state.share_rows_sql`,
   :func:`~spreadtrace.store.accounts_state.co_share_hits_sql`,
   :func:`~spreadtrace.store.accounts_state.pair_evidence_sql`) transpiled with sqlglot,
   over views of the store's table names; the hits are an equi-join on (item, time
   bucket), so the shuffle is by item;
2. strengths and clusters: the kept pairs are collected (the pair graph: thousands of
   rows where posts are millions) and handed, sorted as the DuckDB engine sorts them,
   to :func:`~spreadtrace.pipeline.accounts.coordination_results` (NPMI, then Leiden over
   the whole graph: one seeded run, so the same clusters);
3. per-account aggregates: :func:`~spreadtrace.store.accounts_scores.account_aggregates_sql`,
   transpiled (shuffled by account);
4. bot scores: ``applyInArrow`` over hash buckets of accounts, each call scoring its
   accounts with :func:`~spreadtrace.pipeline.accounts.scored_accounts` (the pure
   numpy models of :mod:`spreadtrace.graph.bots`; every row depends on its own account
   only).

Example (local mode; see tests/test_spark_accounts.py):

    tables = run(spark, posts_df, accounts_df, post_items_df, build_id=1)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spreadtrace.graph.bots import ACCOUNT_SCORE_COLUMNS, load_model
from spreadtrace.pipeline.accounts import (
    AccountParams,
    coordination_results,
    scored_accounts,
)
from spreadtrace.spark.cascades import _stage, to_spark_sql
from spreadtrace.store.accounts_scores import BEHAVIOUR_COLUMNS, account_aggregates_sql
from spreadtrace.store.accounts_state import (
    STORE_DAYS_SQL,
    co_share_hits_sql,
    pair_evidence_sql,
    scored_features_sql,
    share_rows_sql,
)

__all__ = ["AccountTables", "BUCKET_ACCOUNTS", "run"]

# Accounts per applyInArrow call: one vectorised scoring pass each, a frame of tens of MB.
BUCKET_ACCOUNTS = 100_000

_SCORES_SCHEMA = ", ".join(
    f"{c} {t}" for c, t in {"account_id": "string", **ACCOUNT_SCORE_COLUMNS}.items()
)
_SCORE_COLUMNS = [c.split()[0] for c in _SCORES_SCHEMA.split(", ")]
_ARROW_TYPES = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(),
                "boolean": pa.bool_()}  # fmt: skip
# what applyInArrow must return (polars hands large strings back)
_SCORES_ARROW = pa.schema(
    [(c.split()[0], _ARROW_TYPES[c.split()[1]]) for c in _SCORES_SCHEMA.split(", ")]
)


@dataclass(frozen=True)
class AccountTables:
    """The stage's output DataFrames (store schema, build_id added) and its counts."""

    account_features: DataFrame
    coordination_shares: DataFrame
    coordination_hits: DataFrame
    coordination_pairs: DataFrame
    coordination_clusters: DataFrame
    account_scores: DataFrame
    counts: dict[str, Any]


def _sql(spark: SparkSession, sql: str, **args: Any) -> DataFrame:
    return spark.sql(to_spark_sql(sql), args=args or None)


def _scorer(params: AccountParams) -> Callable[[pa.Table], pa.Table]:
    """The applyInArrow body: one bucket's behaviour, profile and coordination rows
    (told apart by ``_side``) -> its account_scores rows. The models load in the
    worker, from the package's files."""

    def run(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        side = pl.col("_side")
        behaviour = frame.filter(side == "b").select(_BEHAVIOUR)
        profiles = frame.filter(side == "p").select(_PROFILE)
        coordination = frame.filter(side == "c").select("account_id", "coordination_score")
        scores = scored_accounts(
            behaviour,
            profiles,
            coordination,
            params,
            load_model("bot_profile"),
            load_model("bot_behaviour"),
        )
        return scores.select(_SCORE_COLUMNS).to_arrow().cast(_SCORES_ARROW)

    return run


_BEHAVIOUR = list(BEHAVIOUR_COLUMNS)  # the DuckDB engine's behaviour_features columns
_PROFILE = [
    "account_id",
    "observed_at",
    "handle",
    "display_name",
    "created_at",
    "followers_count",
    "following_count",
    "posts_count",
    "likes_count",
    "listed_count",
    "verified",
    "default_profile",
    "default_profile_image",
    "description",
]


def run(
    spark: SparkSession,
    posts: DataFrame,
    accounts: DataFrame,
    post_items: DataFrame,
    *,
    build_id: int,
    params: AccountParams | None = None,
    bucket_accounts: int = BUCKET_ACCOUNTS,
) -> AccountTables:
    """The accounts stage over all posts (a full build): the six tables and counts."""
    params = params or AccountParams()
    bid = F.lit(build_id).cast("bigint").alias("build_id")
    posts.createOrReplaceTempView("posts")
    accounts.createOrReplaceTempView("accounts")
    post_items.createOrReplaceTempView("post_items")

    shares = (
        _sql(spark, share_rows_sql(params.items, "posts", "post_items"))
        .select("post_id", "account_id", "item", F.col("t").alias("shared_at"))
        .transform(_stage)
    )
    shares.createOrReplaceTempView("coordination_shares")
    hits = _sql(
        spark, co_share_hits_sql(), w=float(params.window_s), cap=int(params.max_bucket)
    ).transform(_stage)
    hits.createOrReplaceTempView("coordination_hits")
    evidence = _sql(spark, pair_evidence_sql(emptied=True), min_shared=int(params.min_shared))
    frame = pl.from_arrow(evidence.toArrow())
    assert isinstance(frame, pl.DataFrame)
    evidence_frame = frame.sort("account_a", "account_b")
    pairs, clusters, coordination = coordination_results(evidence_frame, params)

    features = _sql(
        spark, account_aggregates_sql("posts"), fast=float(params.fast_reaction_s)
    ).transform(_stage)
    features.createOrReplaceTempView("account_features")
    (days,) = _sql(spark, STORE_DAYS_SQL).first() or (None,)
    days = float(days) if days is not None else 1.0
    behaviour_sql, profiles_sql = scored_features_sql(every=True)
    behaviour = _sql(spark, behaviour_sql, days=days)
    profiles = _sql(spark, profiles_sql)
    coord = spark.createDataFrame(
        coordination.select("account_id", "coordination_score").to_pandas(),
        "account_id string, coordination_score double",
    )
    n_accounts = profiles.count() + behaviour.count()
    n_buckets = max(1, -(-n_accounts // max(1, bucket_accounts)))
    sides = (
        behaviour.withColumn("_side", F.lit("b"))
        .unionByName(profiles.withColumn("_side", F.lit("p")), allowMissingColumns=True)
        .unionByName(coord.withColumn("_side", F.lit("c")), allowMissingColumns=True)
    )
    bucket = F.pmod(F.xxhash64("account_id"), F.lit(n_buckets)).alias("_bucket")
    scores = (
        sides.select("*", bucket)
        .groupBy("_bucket")
        .applyInArrow(_scorer(params), _SCORES_SCHEMA)
        .transform(_stage)
    )
    account_scores = scores.select("account_id", *ACCOUNT_SCORE_COLUMNS, bid)

    pair_rows = spark.createDataFrame(
        pairs.to_pandas(),
        "account_a string, account_b string, shared_items bigint, strength double, "
        "cluster_id string",
    ).select("*", bid)
    cluster_rows = spark.createDataFrame(
        clusters.to_pandas(), "cluster_id string, account_id string, cluster_size bigint"
    ).select("*", bid)
    counts = {
        "coordination_pairs": pairs.height,
        "coordination_clusters": clusters["cluster_id"].n_unique() if clusters.height else 0,
        "coordinated_accounts": clusters.height,
        "co_share_hits": hits.count(),
        "accounts_scored": account_scores.count(),
        "bot_like_accounts": account_scores.where("is_bot_like").count(),
    }
    return AccountTables(
        account_features=features,
        coordination_shares=shares,
        coordination_hits=hits,
        coordination_pairs=pair_rows,
        coordination_clusters=cluster_rows,
        account_scores=account_scores,
        counts=counts,
    )

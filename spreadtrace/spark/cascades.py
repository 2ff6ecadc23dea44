"""Stage "cascades" on Spark: posts -> post_cascades, cascades, data_quality (its issues).

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.cascades` (read its
docstring), and the results must equal the DuckDB engine's row for row. The set-wise
steps run as Spark joins so that no step needs a whole store on one machine:

1. number the posts by ``post_id`` (and unseen parent ids after them), as the store
   does, so "the smallest post_id" and ties "to the larger post_id" mean the same;
2. roots and depths by pointer jumping in joins (Wyllie 1979): each round joins the
   unsettled nodes to the node their pointer names, so ``log2(depth)`` rounds;
   cycles are cut at their smallest member by minimum-label jumping along the cycle
   (:func:`spreadtrace.graph.cascades.resolve_forest` does the same on arrays);
3. time-inferred parents as a join: the DuckDB query
   (:data:`spreadtrace.store.cascades.INFER_PARENTS_SQL`) transpiled to Spark SQL by
   sqlglot, over views of the same names; one definition of the rule;
4. per-cascade metrics with ``applyInPandas``: nodes are grouped by a hash bucket of
   their root, so each call gets many whole cascades and runs the same vectorised pure
   functions (:func:`~spreadtrace.graph.metrics.cascade_metrics`,
   :func:`~spreadtrace.graph.metrics.conversation_mask`, ...) once per bucket;
5. a giant cascade (more than ``giant_nodes`` nodes) never goes to one Python worker:
   its metrics come from set-wise steps (:func:`giant_rows`): depths by frontier
   expansion (one parent join per level), subtree sizes by reverse level aggregation
   (children's sizes summed into their parents, deepest level first), and every
   cascade metric as a group-by over its nodes, by the rules of ``cascade_metrics``.

Example (local mode; see tests/test_spark_cascades.py):

    tables = run(spark, posts_df, follows_df, build_id=1)
    tables.post_cascades.write.parquet("out/post_cascades")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlglot
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spreadtrace.graph.cascades import list_rank
from spreadtrace.graph.metrics import (
    SOURCE_CODES,
    cascade_metrics,
    conversation_mask,
    conversation_metrics,
)
from spreadtrace.store.cascades import INFER_PARENTS_SQL

__all__ = [
    "CascadeTables",
    "run",
    "giant_rows",
    "GIANT_NODES",
    "set_work_dir",
    "pointer_jump",
    "number_rows",
    "spark_infer_sql",
    "to_spark_sql",
]

# Nodes per applyInPandas bucket: many cascades per call (one vectorised pass each),
# few enough that a worker's pandas frame stays in the hundreds of MB.
BUCKET_NODES = 200_000
# Cascades with more nodes than this take the set-wise path (giant_rows): a bucket of
# one cascade cannot be split, so a cascade of millions of posts would otherwise sit in
# one worker's pandas frame.
GIANT_NODES = 200_000
_US_PER_HOUR = 3_600 * 1_000_000

_NODE_SCHEMA = T.StructType(
    [
        T.StructField("is_post", T.BooleanType()),
        T.StructField("post_id", T.StringType()),
        T.StructField("cascade_id", T.StringType()),
        T.StructField("parent_id", T.StringType()),
        T.StructField("parent_source", T.StringType()),
        T.StructField("depth", T.IntegerType()),
        T.StructField("descendants", T.LongType()),
        T.StructField("conversation", T.BooleanType()),
        # cascade columns: set on the root node's row only
        T.StructField("is_root", T.BooleanType()),
        T.StructField("root_seen", T.BooleanType()),
        T.StructField("root_account_id", T.StringType()),
        T.StructField("platform", T.StringType()),
        T.StructField("size", T.LongType()),
        T.StructField("accounts", T.LongType()),
        T.StructField("c_depth", T.IntegerType()),
        T.StructField("max_breadth", T.LongType()),
        T.StructField("structural_virality", T.DoubleType()),
        T.StructField("first_us", T.LongType()),
        T.StructField("last_us", T.LongType()),
        T.StructField("time_to_50_s", T.DoubleType()),
        T.StructField("time_to_90_s", T.DoubleType()),
        T.StructField("peak_per_hour", T.LongType()),
        T.StructField("reconstruction", T.StringType()),
        T.StructField("replies", T.LongType()),
        T.StructField("conversation_depth", T.IntegerType()),
        T.StructField("repliers", T.LongType()),
        # a data_quality row of this node (at most one: a cut node has no kept link)
        T.StructField("dq_post_id", T.StringType()),
        T.StructField("issue", T.StringType()),
        T.StructField("detail", T.StringType()),
    ]
)


class _Stager:
    """Materialises intermediate DataFrames as Parquet under one work directory.

    Why not ``localCheckpoint``: a checkpointed plan keeps its size estimate, and the
    iterated joins of pointer jumping multiply estimates round after round until the
    planner's arithmetic exhausts the driver's memory. Parquet written and read back
    has its real size (so small sides are broadcast), cuts the lineage, and works the
    same on a cluster's storage (any Hadoop-compatible URI).
    """

    def __init__(self) -> None:
        self.root: str | None = None
        self.n = 0

    def __call__(self, df: DataFrame) -> DataFrame:
        if self.root is None:
            return df.localCheckpoint()
        self.n += 1
        path = f"{self.root}/{self.n:04d}"
        df.write.mode("overwrite").parquet(path)
        return df.sparkSession.read.parquet(path)


_STAGER = _Stager()


def _stage(df: DataFrame) -> DataFrame:
    return _STAGER(df)


def set_work_dir(path: str | None) -> None:
    """Where intermediate tables go (None: in-memory local checkpoints, for small runs)."""
    _STAGER.root = path.rstrip("/") if path else None
    _STAGER.n = 0


@dataclass(frozen=True)
class CascadeTables:
    """The stage's output DataFrames (store schema) and its counts."""

    post_cascades: DataFrame
    cascades: DataFrame
    data_quality: DataFrame
    counts: dict[str, int]


def number_rows(df: DataFrame, order: list[str], name: str, start: int = 0) -> DataFrame:
    """``df`` with ``name`` = start + position in ``order`` order, without one-partition windows.

    A global sort, then each row's offset = rows in the partitions before it plus its
    place in its own partition (``monotonically_increasing_id`` keeps the partition in
    its upper bits); only the per-partition counts reach the driver.
    """
    ordered = (
        df.orderBy(*order)
        .withColumn("_pid", F.spark_partition_id())
        .withColumn("_mid", F.monotonically_increasing_id())
        .transform(_stage)
    )
    counts = {
        r["_pid"]: (r["n"], r["lo"])
        for r in ordered.groupBy("_pid")
        .agg(F.count("*").alias("n"), F.min("_mid").alias("lo"))
        .collect()
    }
    offsets, total = [], start
    for pid in sorted(counts):
        n, lo = counts[pid]
        offsets.append((pid, total - lo))
        total += n
    spark = df.sparkSession
    shift = spark.createDataFrame(offsets, "_pid INT, _shift BIGINT")
    return (
        ordered.join(F.broadcast(shift), "_pid")
        .withColumn(name, F.col("_mid") + F.col("_shift"))
        .drop("_pid", "_mid", "_shift")
    )


def pointer_jump(links: DataFrame, max_rounds: int) -> DataFrame:
    """(node, root, dist, settled) from (node, parent) links, parent NULL for a root.

    Wyllie's pointer jumping as joins: each round, every node whose pointer is not yet
    a root takes its target's pointer and adds its target's distance (synchronous: the
    join reads the previous round). A node that never settles leads into a cycle.

    References: J. C. Wyllie, *The Complexity of Parallel Computations*, 1979.
    """
    base = links.select("node", F.coalesce("parent", "node").alias("jump"))
    base = base.withColumn("dist", F.when(F.col("jump") != F.col("node"), 1).otherwise(0))
    roots = links.where(F.col("parent").isNull()).select(F.col("node").alias("jump"))
    state = (
        base.join(roots.withColumn("settled", F.lit(True)), "jump", "left")
        .select("node", "jump", "dist", F.coalesce("settled", F.lit(False)).alias("settled"))
        .transform(_stage)
    )
    for _ in range(max_rounds):
        active = state.where(~F.col("settled"))
        if active.isEmpty():
            break
        t = state.select(
            F.col("node").alias("t_node"),
            F.col("jump").alias("t_jump"),
            F.col("dist").alias("t_dist"),
            F.col("settled").alias("t_settled"),
        )
        step = active.join(t, active["jump"] == t["t_node"]).select(
            "node",
            F.col("t_jump").alias("jump"),
            (F.col("dist") + F.col("t_dist")).alias("dist"),
            F.col("t_settled").alias("settled"),
        )
        state = state.where(F.col("settled")).unionByName(step).transform(_stage)
    return state.select("node", F.col("jump").alias("root"), "dist", "settled")


def _cycle_minima(links: DataFrame, on_cycle: DataFrame, n_cycle: int) -> DataFrame:
    """The smallest node of each cycle, by minimum-label jumping along the cycles."""
    state = (
        on_cycle.join(links, "node")
        .select("node", F.col("parent").alias("step"), F.col("node").alias("label"))
        .transform(_stage)
    )
    for _ in range(int(math.ceil(math.log2(max(n_cycle, 2)))) + 1):
        t = state.select(
            F.col("node").alias("t_node"),
            F.col("step").alias("t_step"),
            F.col("label").alias("t_label"),
        )
        state = (
            state.join(t, state["step"] == t["t_node"])
            .select(
                "node", F.col("t_step").alias("step"), F.least("label", "t_label").alias("label")
            )
            .transform(_stage)
        )
    return state.where(F.col("label") == F.col("node")).select("node")


def to_spark_sql(sql: str) -> str:
    """A query of the store (DuckDB SQL) in Spark SQL, with DuckDB's meaning kept.

    sqlglot, plus what it maps to another meaning or not at all: ``epoch_us`` ->
    ``unix_micros``; ``epoch`` (DuckDB: fractional seconds, a DOUBLE of the microseconds
    over 1e6) -> the same division (sqlglot's ``unix_timestamp`` drops the fraction);
    ``hash`` -> ``xxhash64`` (64 bits as DuckDB's, not Spark's 32-bit murmur3);
    decimal literals (``1.0``) -> DOUBLE (DuckDB's ``avg`` of them is a DOUBLE, Spark's a
    DECIMAL rounded to a few places). ``$name`` parameters become ``:name``.

    >>> to_spark_sql("SELECT epoch_us(t) AS us FROM x WHERE a < $n")
    'SELECT UNIX_MICROS(t) AS us FROM x WHERE a < :n'
    >>> to_spark_sql("SELECT epoch(t) / 2.5 FROM x")
    'SELECT CAST(UNIX_MICROS(t) AS DOUBLE) / 1000000.0D / CAST(2.5 AS DOUBLE) FROM x'
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    for fn in list(tree.find_all(sqlglot.exp.Anonymous)):
        if fn.name.lower() == "epoch_us":
            fn.replace(sqlglot.exp.Anonymous(this="UNIX_MICROS", expressions=fn.expressions))
        elif fn.name.lower() == "hash" and len(fn.expressions) == 1:
            fn.replace(sqlglot.exp.Anonymous(this="XXHASH64", expressions=fn.expressions))
    for lit in list(tree.find_all(sqlglot.exp.Literal)):
        if lit.is_number and "." in lit.this and "e" not in lit.this.lower():
            lit.replace(sqlglot.exp.cast(lit.copy(), "double"))
    for t2u in list(tree.find_all(sqlglot.exp.TimeToUnix)):
        micros = sqlglot.exp.Anonymous(this="UNIX_MICROS", expressions=[t2u.this.copy()])
        t2u.replace(
            sqlglot.exp.Div(
                this=sqlglot.exp.cast(micros, "double"),
                expression=sqlglot.exp.Literal.number("1000000.0D"),
            )
        )
    return tree.sql(dialect="spark")


def spark_infer_sql() -> str:
    """The DuckDB inference query in Spark SQL (sqlglot; ``epoch_us`` -> ``unix_micros``)."""
    return to_spark_sql(INFER_PARENTS_SQL)


def run(
    spark: SparkSession,
    posts: DataFrame,
    follows: DataFrame,
    *,
    build_id: int,
    infer: bool = True,
    bucket_nodes: int = BUCKET_NODES,
    giant_nodes: int = GIANT_NODES,
) -> CascadeTables:
    """The cascades stage over all posts (a full build): the three tables and counts."""
    posts = posts.select("post_id", "account_id", "parent_id", "created_at", "kind", "platform")
    numbered = number_rows(posts, ["post_id"], "idx")
    n_posts = posts.count()
    unseen = (
        posts.where(F.col("parent_id").isNotNull())
        .select("parent_id")
        .distinct()
        .join(posts.select(F.col("post_id").alias("parent_id")), "parent_id", "left_anti")
    )
    unseen = number_rows(unseen, ["parent_id"], "idx", start=n_posts).select(
        F.col("parent_id").alias("node_id"), "idx"
    )
    ids = numbered.select(F.col("post_id").alias("node_id"), "idx").unionByName(unseen)
    ids = ids.transform(_stage)
    n_nodes = ids.count()

    pidx = ids.select(F.col("node_id").alias("parent_id"), F.col("idx").alias("p_raw"))
    nodes = (
        numbered.join(pidx, "parent_id", "left")
        .select(
            "idx",
            F.col("post_id").alias("node_id"),
            F.lit(False).alias("virtual"),
            "p_raw",
            "parent_id",
            "account_id",
            F.unix_micros("created_at").alias("t_us"),
            (F.col("kind") == "repost").alias("is_repost"),
            (F.col("kind") == "reply").alias("is_reply"),
            "platform",
        )
        .unionByName(
            unseen.select(
                "idx",
                "node_id",
                F.lit(True).alias("virtual"),
                F.lit(None).cast("bigint").alias("p_raw"),
                F.lit(None).cast("string").alias("parent_id"),
                F.lit(None).cast("string").alias("account_id"),
                F.lit(0).cast("bigint").alias("t_us"),
                F.lit(False).alias("is_repost"),
                F.lit(False).alias("is_reply"),
                F.lit(None).cast("string").alias("platform"),
            )
        )
        .transform(_stage)
    )

    # 2. explicit links -> forest: self links are cycles of one; then pointer jumping
    rounds = max(1, int(math.ceil(math.log2(max(n_nodes, 2)))) + 1)
    self_cut = F.col("p_raw") == F.col("idx")
    links = nodes.select(
        F.col("idx").alias("node"), F.when(self_cut, None).otherwise(F.col("p_raw")).alias("parent")
    ).transform(_stage)
    jumped = pointer_jump(links, rounds)
    stuck = jumped.where(~F.col("settled"))
    cuts = nodes.where(self_cut).select(F.col("idx").alias("node"))
    if not stuck.isEmpty():
        on_cycle = stuck.select(F.col("root").alias("node")).distinct().transform(_stage)
        minima = _cycle_minima(links, on_cycle, on_cycle.count())
        cuts = cuts.unionByName(minima).transform(_stage)
        links = (
            links.join(minima.withColumn("cut", F.lit(True)), "node", "left")
            .select("node", F.when(F.col("cut"), None).otherwise(F.col("parent")).alias("parent"))
            .transform(_stage)
        )
        jumped = pointer_jump(links, rounds)
    forest = (
        nodes.join(links.withColumnRenamed("node", "idx"), "idx")
        .join(
            jumped.select(F.col("node").alias("idx"), "root", F.col("dist").alias("fdepth")), "idx"
        )
        .join(cuts.select(F.col("node").alias("idx"), F.lit(True).alias("cut")), "idx", "left")
        .withColumn("cut", F.coalesce("cut", F.lit(False)))
        .withColumn("on_root", (F.col("fdepth") == 1) & F.col("is_repost"))
        .withColumn(
            "source",
            F.when(F.col("on_root"), 3).when(F.col("parent").isNotNull(), 1).otherwise(0),
        )
        .transform(_stage)
    )

    # 3. time-inferred parents, set-wise (the store's query, transpiled)
    inferred = forest.select("idx", F.lit(None).cast("bigint").alias("new_parent")).limit(0)
    if infer and not forest.where("on_root AND NOT virtual").isEmpty():
        inferred = _infer(spark, forest, follows, rounds)
    final = (
        forest.join(inferred, "idx", "left")
        .withColumn("fparent", F.col("parent"))
        .withColumn("parent", F.coalesce("new_parent", "parent"))
        .withColumn("source", F.when(F.col("new_parent").isNotNull(), 2).otherwise(F.col("source")))
    )

    # 4.-5. metrics and rows per bucket of whole cascades
    buckets = max(1, int(math.ceil(n_nodes / bucket_nodes)))
    grouped = final.select(
        "idx",
        "node_id",
        "virtual",
        F.coalesce("parent", F.lit(-1)).cast("bigint").alias("parent"),
        F.coalesce("fparent", F.lit(-1)).cast("bigint").alias("fparent"),
        "root",
        F.col("source").cast("int").alias("source"),
        "account_id",
        "t_us",
        "is_repost",
        "is_reply",
        "platform",
        "cut",
        F.col("parent_id").alias("cut_parent_id"),
    ).withColumn("bucket", F.pmod(F.xxhash64("root"), F.lit(buckets)))
    giants = (
        final.groupBy("root").count().where(F.col("count") > giant_nodes).select("root")
    ).transform(_stage)
    if giants.isEmpty():
        out = grouped.groupBy("bucket").applyInPandas(bucket_rows, _NODE_SCHEMA)
    else:
        small = grouped.join(F.broadcast(giants), "root", "left_anti")
        out = small.groupBy("bucket").applyInPandas(bucket_rows, _NODE_SCHEMA)
        big = grouped.join(F.broadcast(giants), "root").drop("bucket")
        out = out.unionByName(giant_rows(big))
    out = out.transform(_stage)

    bid = F.lit(build_id).cast("bigint").alias("build_id")
    post_cascades = out.where("is_post").select(
        "post_id",
        "cascade_id",
        "parent_id",
        "parent_source",
        "depth",
        "descendants",
        bid,
        "conversation",
    )
    cascades = out.where("is_root").select(
        "cascade_id",
        F.col("cascade_id").alias("root_post_id"),
        "root_seen",
        "root_account_id",
        "platform",
        "size",
        "accounts",
        F.col("c_depth").alias("depth"),
        "max_breadth",
        "structural_virality",
        F.timestamp_micros("first_us").alias("first_at"),
        F.timestamp_micros("last_us").alias("last_at"),
        "time_to_50_s",
        "time_to_90_s",
        "peak_per_hour",
        "reconstruction",
        bid,
        "replies",
        "conversation_depth",
        "repliers",
    )
    data_quality = out.where(F.col("issue").isNotNull()).select(
        bid, "cascade_id", F.col("dq_post_id").alias("post_id"), "issue", "detail"
    )
    agg = out.agg(
        F.sum(F.col("is_root").cast("int")).alias("cascades"),
        F.sum((F.col("is_root") & ~F.col("root_seen")).cast("int")).alias("unseen_roots"),
        F.sum((F.col("is_post") & F.col("conversation")).cast("int")).alias("conversation"),
        F.sum((F.col("issue") == "cycle_break").cast("int")).alias("cycle_breaks"),
        F.sum((F.col("issue") == "clock_skew").cast("int")).alias("clock_skew"),
    ).first()
    assert agg is not None
    counts = {
        "posts_in_scope": n_posts,
        "cascades_built": int(agg["cascades"] or 0),
        "unseen_roots": int(agg["unseen_roots"] or 0),
        "inferred_parents": inferred.count(),
        "conversation_posts": int(agg["conversation"] or 0),
        "cycle_breaks": int(agg["cycle_breaks"] or 0),
        "clock_skew": int(agg["clock_skew"] or 0),
    }
    return CascadeTables(post_cascades, cascades, data_quality, counts)


def _infer(spark: SparkSession, forest: DataFrame, follows: DataFrame, rounds: int) -> DataFrame:
    """(idx, new_parent) of the time-inferred links, by the shared query."""
    # the depth-1 ancestor of each node below the root (pointer jumping on deeper links)
    below = forest.where(~F.col("virtual") & (F.col("fdepth") >= 1))
    tops = pointer_jump(
        below.select(
            F.col("idx").alias("node"),
            F.when(F.col("fdepth") >= 2, F.col("parent")).alias("parent"),
        ),
        rounds,
    ).select(F.col("node").alias("idx"), F.col("root").alias("top"))
    top_t = forest.select(F.col("idx").alias("top"), F.col("t_us").alias("top_t"))
    accounts = number_rows(
        forest.where("NOT virtual").select("account_id").distinct(), ["account_id"], "code"
    )
    tree = number_rows(
        below.select("idx", F.col("root").alias("cascade"), "account_id", "t_us", "on_root"),
        ["t_us", "idx"],
        "rank",
    )
    tree = (
        tree.join(tops, "idx")
        .join(top_t, "top")
        .join(accounts, "account_id")
        .select(
            "idx",
            "cascade",
            F.col("code").alias("account"),
            "t_us",
            "top_t",
            "rank",
            F.col("on_root").alias("candidate"),
        )
        .transform(_stage)
    )
    accounts.createOrReplaceTempView("_st_accounts")
    tree.createOrReplaceTempView("_st_tree")
    follows.createOrReplaceTempView("follows")
    span = accounts.count() + 1
    res = spark.sql(spark_infer_sql(), args={"span": span})
    by_rank = tree.select(F.col("rank").alias("parent"), F.col("idx").alias("new_parent"))
    return (
        res.join(by_rank, "parent")
        .select(F.col("child").alias("idx"), "new_parent")
        .transform(_stage)
    )


_LABELS = np.array([SOURCE_CODES[k] for k in sorted(SOURCE_CODES)], dtype=object)


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` with None where idx < 0."""
    out = values[np.where(idx < 0, 0, idx)].astype(object) if len(values) else np.array([], object)
    out[idx < 0] = None
    return out


def _join(*parts: Any) -> np.ndarray:
    """Element-wise string concatenation of strings and string arrays (no Python loop)."""
    out = np.asarray(parts[0], dtype=str)
    for part in parts[1:]:
        out = np.char.add(out, np.asarray(part, dtype=str))
    return out.astype(object)


def bucket_rows(pdf: pd.DataFrame) -> pd.DataFrame:
    """One bucket of whole cascades -> one output row per node (see ``_NODE_SCHEMA``).

    The same pure functions as the DuckDB engine, on the bucket's nodes renumbered in
    global order (posts first, then unseen parents), so every tie breaks the same way.
    """
    pdf = pdf.sort_values("idx", kind="stable").reset_index(drop=True)
    gidx = pdf["idx"].to_numpy(np.int64)

    def local(g: Any) -> np.ndarray:
        g = np.asarray(g, dtype=np.int64)
        return np.where(g < 0, -1, np.searchsorted(gidx, g))

    virtual = pdf["virtual"].to_numpy(bool)
    n_posts = int((~virtual).sum())
    parent = local(pdf["parent"])
    fparent = local(pdf["fparent"])
    root = local(pdf["root"])
    node_id = pdf["node_id"].to_numpy(object)
    _, dist = list_rank(parent)
    depth = dist.astype(np.int32)
    account_id = pdf["account_id"].to_numpy(object)[:n_posts]
    account, _ = pd.factorize(account_id)
    account = account.astype(np.int64)
    t_us = pdf["t_us"].to_numpy(np.int64)[:n_posts]
    source = pdf["source"].to_numpy(np.int64)[:n_posts]
    is_reply = pdf["is_reply"].to_numpy(bool)
    platform = pdf["platform"].to_numpy(object)

    conv = conversation_mask(parent, depth, is_reply)
    m = cascade_metrics(parent, root, depth, n_posts, account, t_us, source, counted=~conv)
    replies, conv_depth, repliers = conversation_metrics(
        parent, m.cascade[:n_posts], conv, is_reply[:n_posts], account, len(m.root_node)
    )
    n = len(pdf)
    src = np.where(source == 0, -1, source)
    out = pd.DataFrame(
        {
            "is_post": ~virtual,
            "post_id": np.where(virtual, None, node_id),
            "cascade_id": node_id[root],
            "parent_id": _take(node_id, parent),
            "parent_source": np.concatenate([_take(_LABELS, src), np.full(n - n_posts, None)]),
            "depth": depth,
            "descendants": m.descendants,
            "conversation": conv,
        }
    )
    # cascade columns on each root's row
    cols: dict[str, Any] = {
        "is_root": np.zeros(n, dtype=bool),
        "root_seen": pd.array([None] * n, dtype="boolean"),
        "root_account_id": np.full(n, None, dtype=object),
        "platform": np.full(n, None, dtype=object),
    }
    for name in (
        "size",
        "accounts",
        "c_depth",
        "max_breadth",
        "first_us",
        "last_us",
        "peak_per_hour",
        "replies",
        "conversation_depth",
        "repliers",
    ):
        cols[name] = pd.array([None] * n, dtype="Int64")
    for name in ("structural_virality", "time_to_50_s", "time_to_90_s"):
        cols[name] = np.full(n, np.nan)
    cols["reconstruction"] = np.full(n, None, dtype=object)
    r = m.root_node
    seen = m.root_seen
    cols["is_root"][r] = True
    cols["root_seen"][r] = seen
    posts_account = np.concatenate([account_id, np.full(n - n_posts, None, dtype=object)])
    cols["root_account_id"][r] = _take(posts_account, np.where(seen, r, -1))
    cols["platform"][r] = platform[np.where(seen, r, m.first_post)]
    for name, values in (
        ("size", m.size),
        ("accounts", m.accounts),
        ("c_depth", m.depth),
        ("max_breadth", m.max_breadth),
        ("first_us", m.first_at),
        ("last_us", m.last_at),
        ("peak_per_hour", m.peak_per_hour),
        ("replies", replies),
        ("conversation_depth", conv_depth),
        ("repliers", repliers),
    ):
        cols[name][r] = np.asarray(values, dtype=np.int64)
    cols["structural_virality"][r] = m.structural_virality
    cols["time_to_50_s"][r] = m.time_to_50_s
    cols["time_to_90_s"][r] = m.time_to_90_s
    cols["reconstruction"][r] = m.reconstruction.astype(object)

    # data_quality: cycle cuts, clock skew on kept explicit links, unseen roots
    dq_post = np.full(n, None, dtype=object)
    issue = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    cut = np.flatnonzero(pdf["cut"].to_numpy(bool))
    if len(cut):
        old = pdf["cut_parent_id"].to_numpy(object)[cut]
        issue[cut] = "cycle_break"
        dq_post[cut] = node_id[cut]
        detail[cut] = _join("parent link to ", old, " cut: it closed a cycle of parent links")
    p = fparent[:n_posts]
    child = np.flatnonzero((p >= 0) & (p < n_posts))
    skewed = child[t_us[child] < t_us[p[child]]]
    if len(skewed):
        seconds = (t_us[p[skewed]] - t_us[skewed]) / 1e6
        text = np.char.mod("%.3f", seconds)
        issue[skewed] = "clock_skew"
        dq_post[skewed] = node_id[skewed]
        detail[skewed] = _join("created ", text, " s before its parent ", node_id[p[skewed]])
    unseen = r[~seen]
    if len(unseen):
        issue[unseen] = "unseen_parent"
        sizes = m.size[~seen].astype(np.int64).astype(str)
        detail[unseen] = _join("original not in the store; ", sizes, " stored post(s) hang from it")
    cols.update({"dq_post_id": dq_post, "issue": issue, "detail": detail})
    for name, values in cols.items():
        out[name] = values
    return out


def _seconds_text(us: Column) -> Column:
    """A pandas UDF: microseconds -> seconds as C's ``%.3f`` (numpy's, as bucket_rows)."""

    @F.pandas_udf(T.StringType())  # type: ignore[call-overload]
    def text(v: pd.Series) -> pd.Series:
        return pd.Series(np.char.mod("%.3f", v.to_numpy(np.int64) / 1e6).astype(object))

    return text(us)


def giant_rows(nodes: DataFrame) -> DataFrame:
    """Whole giant cascades -> one row per node (``_NODE_SCHEMA``), set-wise in joins.

    Why: a cascade of millions of posts is one group, so ``applyInPandas`` would hold
    it in one Python worker. Here every step is a join or a group-by over rows:

    * depth, the conversation flag and the distance to the top of a reply thread by
      frontier expansion: level ``d + 1`` is the nodes whose parent is on level ``d``
      (one join per level; a conversation node's flag and distance come from its
      parent's, as :func:`~spreadtrace.graph.metrics.conversation_mask` walks levels);
    * subtree sizes by reverse level aggregation: from the deepest level up, each
      level's sizes are 1 (or its counted weight) plus its children's, summed by
      parent (:func:`~spreadtrace.graph.cascades.subtree_sizes` does this on arrays);
    * the cascade metrics of :func:`~spreadtrace.graph.metrics.cascade_metrics` as
      group-bys: the Wiener index as the sum over counted edges of ``s (n - s)``
      (Wiener 1947), times to 50%/90% by a global (cascade, time) numbering.

    Example: on the path r <- a <- b (all reposts), levels are {r}, {a}, {b}; sizes
    b = 1, a = 2, r = 3; Wiener index 2 * 1 + 1 * 2 = 4; structural virality
    2 * 4 / (3 * 2) = 1.333.

    ``nodes`` has the columns of ``run``'s grouped frame (parent -1 for a root).
    References: H. Wiener, J. Am. Chem. Soc. 69 (1947); S. Goel et al., Management
    Science 62(1), 2016.
    """
    nodes = nodes.transform(_stage)
    edges = nodes.where(F.col("parent") >= 0).select("idx", "parent", "is_reply")
    front = (
        nodes.where(F.col("parent") < 0)
        .select(
            "idx",
            "parent",
            F.lit(0).alias("depth"),
            F.lit(False).alias("conv"),
            F.lit(0).alias("tdist"),
        )
        .transform(_stage)
    )
    levels = [front]
    while True:
        up = front.select(
            F.col("idx").alias("parent"),
            F.col("depth").alias("p_depth"),
            F.col("conv").alias("p_conv"),
            F.col("tdist").alias("p_tdist"),
        )
        front = (
            edges.join(up, "parent")
            .select(
                "idx",
                "parent",
                (F.col("p_depth") + 1).alias("depth"),
                (F.col("is_reply") | F.col("p_conv")).alias("conv"),
                F.when(F.col("p_conv"), F.col("p_tdist") + 1).otherwise(0).alias("tdist"),
            )
            .transform(_stage)
        )
        if front.isEmpty():
            break
        levels.append(front)

    # subtree sizes, deepest level first: all nodes, and counted (share) nodes only
    sized: list[DataFrame] = []
    below: DataFrame | None = None
    for level in reversed(levels):
        if below is not None:
            sums = below.groupBy(F.col("parent").alias("idx")).agg(
                F.sum("sub_all").alias("c_all"), F.sum("sub_cnt").alias("c_cnt")
            )
            level = level.join(sums, "idx", "left")
        else:
            level = level.withColumn("c_all", F.lit(None).cast("bigint")).withColumn(
                "c_cnt", F.lit(None).cast("bigint")
            )
        below = level.select(
            "idx",
            "parent",
            "depth",
            "conv",
            "tdist",
            (F.lit(1).cast("bigint") + F.coalesce("c_all", F.lit(0))).alias("sub_all"),
            ((~F.col("conv")).cast("bigint") + F.coalesce("c_cnt", F.lit(0))).alias("sub_cnt"),
        ).transform(_stage)
        sized.append(below)
    tree = sized[0]
    for part in sized[1:]:
        tree = tree.unionByName(part)
    full = nodes.drop("parent").join(tree, "idx")
    roots = full.where(F.col("parent") < 0).select(
        F.col("idx").alias("root"),
        F.col("sub_cnt").alias("n_tree"),
        F.col("node_id").alias("root_id"),
    )
    full = full.join(roots, "root").transform(_stage)

    # cascade metrics, one group-by each (rules of graph.metrics.cascade_metrics)
    posts = full.where(~F.col("virtual"))
    shares = posts.where(~F.col("conv"))
    count_if = lambda cond: F.sum(cond.cast("bigint"))  # noqa: E731
    shape = shares.groupBy("root").agg(
        F.count("*").alias("size"),
        F.countDistinct("account_id").alias("accounts"),
        F.max("depth").alias("c_depth"),
        count_if(F.col("source") == 1).alias("n_explicit"),
        count_if(F.col("source") == 2).alias("n_inferred"),
        count_if(F.col("source") == 3).alias("n_root"),
    )
    breadth = (
        shares.groupBy("root", "depth")
        .count()
        .groupBy("root")
        .agg(F.max("count").alias("max_breadth"))
    )
    wiener = (
        full.where(~F.col("conv") & (F.col("parent") >= 0))
        .groupBy("root")
        .agg(F.sum(F.col("sub_cnt") * (F.col("n_tree") - F.col("sub_cnt"))).alias("wiener"))
    )
    activity = (
        posts.groupBy("root")
        .agg(
            F.count("*").alias("size_all"),
            F.min("t_us").alias("first_us"),
            F.max("t_us").alias("last_us"),
            F.min(F.struct("t_us", "idx")).alias("first"),
        )
        .transform(_stage)
    )
    first_platform = posts.select(
        F.col("idx").alias("first_idx"), F.col("platform").alias("first_platform")
    )
    # times to 50% / 90%: the k-th post of its cascade by time, by a global numbering
    ranked = number_rows(posts.select("root", "t_us", "idx"), ["root", "t_us", "idx"], "pos")
    ranked = ranked.transform(_stage)
    starts = ranked.groupBy("root").agg(F.min("pos").alias("start"))
    quant = activity.join(starts, "root")
    for pct in (50, 90):
        kth = ranked.select("root", F.col("pos").alias(f"k{pct}"), F.col("t_us").alias(f"t{pct}"))
        k = F.col("start") + F.expr(f"(size_all * {pct} + 99) div 100") - 1
        quant = quant.withColumn(f"k{pct}", k.cast("bigint")).join(kth, ["root", f"k{pct}"])
    hours = (
        posts.join(activity.select("root", "first_us"), "root")
        .withColumn("hour", F.expr(f"(t_us - first_us) div {_US_PER_HOUR}"))
        .groupBy("root", "hour")
        .count()
        .groupBy("root")
        .agg(F.max("count").alias("peak_per_hour"))
    )
    replies = (posts.where(F.col("conv") & F.col("is_reply")).groupBy("root")).agg(
        F.count("*").alias("replies"), F.countDistinct("account_id").alias("repliers")
    )
    threads = posts.where("conv").groupBy("root").agg((F.max("tdist") + 1).alias("conv_depth"))

    casc = (
        roots.join(shape, "root", "left")
        .join(breadth, "root", "left")
        .join(wiener, "root", "left")
        .join(quant, "root")
        .join(hours, "root")
        .join(replies, "root", "left")
        .join(threads, "root", "left")
        .withColumn("first_idx", F.col("first.idx"))
        .join(first_platform, "first_idx")
    )
    zero = F.lit(0).cast("bigint")
    n = F.col("n_tree").cast("double")
    n_edges = F.col("n_tree") - 1
    n_explicit = F.coalesce("n_explicit", zero)
    n_inferred = F.coalesce("n_inferred", zero)
    n_root = F.coalesce("n_root", zero)
    casc = casc.select(
        "root",
        F.coalesce("size", zero).alias("size"),
        F.coalesce("accounts", zero).alias("accounts"),
        F.coalesce("c_depth", F.lit(0)).cast("int").alias("c_depth"),
        F.coalesce("max_breadth", zero).alias("max_breadth"),
        F.when(
            F.col("n_tree") >= 2,
            2.0 * F.coalesce("wiener", zero).cast("double") / (n * (n - 1.0)),
        )
        .otherwise(F.lit(float("nan")))
        .alias("structural_virality"),
        "first_us",
        "last_us",
        ((F.col("t50") - F.col("first_us")) / 1e6).alias("time_to_50_s"),
        ((F.col("t90") - F.col("first_us")) / 1e6).alias("time_to_90_s"),
        "peak_per_hour",
        F.when(n_edges == 0, "single")
        .when(n_root == n_edges, "flat")
        .when(n_explicit == n_edges, "explicit")
        .when((n_inferred > 0) & (n_explicit == 0), "inferred")
        .otherwise("mixed")
        .alias("reconstruction"),
        F.coalesce("replies", zero).alias("replies"),
        F.coalesce("conv_depth", F.lit(0)).cast("int").alias("conversation_depth"),
        F.coalesce("repliers", zero).alias("repliers"),
        "first_platform",
    )

    # node rows, with their parent's id and time (the explicit parent for clock skew)
    par = full.select(F.col("idx").alias("parent"), F.col("node_id").alias("parent_node"))
    fpar = full.select(
        F.col("idx").alias("fparent"),
        F.col("node_id").alias("f_node"),
        F.col("t_us").alias("f_t"),
        F.col("virtual").alias("f_virtual"),
    )
    rows = full.join(par, "parent", "left").join(fpar, "fparent", "left")
    rows = rows.join(casc, (rows["idx"] == casc["root"]) & (rows["parent"] < 0), "left").drop(
        casc["root"]
    )
    is_root = F.col("parent") < 0
    post = ~F.col("virtual")
    skew = post & (F.col("fparent") >= 0) & ~F.col("f_virtual") & (F.col("t_us") < F.col("f_t"))
    unseen = is_root & F.col("virtual")
    label = (
        F.when(F.col("source") == 1, "explicit")
        .when(F.col("source") == 2, "inferred")
        .when(F.col("source") == 3, "root")
    )
    # the UDF runs on every row (Spark evaluates it before the CASE): no NULL inputs
    skew_text = _seconds_text(F.coalesce(F.col("f_t") - F.col("t_us"), F.lit(0).cast("bigint")))
    return rows.select(
        post.alias("is_post"),
        F.when(post, F.col("node_id")).alias("post_id"),
        F.col("root_id").alias("cascade_id"),
        F.col("parent_node").alias("parent_id"),
        F.when(post, label).alias("parent_source"),
        F.col("depth").cast("int").alias("depth"),
        (F.col("sub_all") - 1).alias("descendants"),
        F.col("conv").alias("conversation"),
        is_root.alias("is_root"),
        F.when(is_root, post).alias("root_seen"),
        F.when(is_root & post, F.col("account_id")).alias("root_account_id"),
        F.when(is_root, F.when(post, F.col("platform")).otherwise(F.col("first_platform"))).alias(
            "platform"
        ),
        "size",
        "accounts",
        "c_depth",
        "max_breadth",
        F.when(is_root, F.col("structural_virality"))
        .otherwise(F.lit(float("nan")))
        .alias("structural_virality"),
        "first_us",
        "last_us",
        F.when(is_root, F.col("time_to_50_s")).otherwise(F.lit(float("nan"))).alias("time_to_50_s"),
        F.when(is_root, F.col("time_to_90_s")).otherwise(F.lit(float("nan"))).alias("time_to_90_s"),
        "peak_per_hour",
        "reconstruction",
        "replies",
        "conversation_depth",
        "repliers",
        F.when(unseen, None)
        .when(skew | F.col("cut"), F.col("node_id"))
        .cast("string")
        .alias("dq_post_id"),
        F.when(unseen, "unseen_parent")
        .when(skew, "clock_skew")
        .when(F.col("cut"), "cycle_break")
        .alias("issue"),
        F.when(
            unseen,
            F.concat(
                F.lit("original not in the store; "),
                F.col("size").cast("string"),
                F.lit(" stored post(s) hang from it"),
            ),
        )
        .when(
            skew,
            F.concat(F.lit("created "), skew_text, F.lit(" s before its parent "), "f_node"),
        )
        .when(
            F.col("cut"),
            F.concat(
                F.lit("parent link to "),
                F.col("cut_parent_id"),
                F.lit(" cut: it closed a cycle of parent links"),
            ),
        )
        .alias("detail"),
    )

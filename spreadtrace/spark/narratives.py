"""Stage "narratives" on Spark: all of it, every table and column the DuckDB stage writes.

Why this shape: the rules are those of :mod:`spreadtrace.pipeline.narratives` (a full
build), and the rows must equal the DuckDB engine's.

1. The content roots (one row per cascade: the store's ``ROOTS_SQL`` with its text
   group from post_items), the roots' URL keys and the media items they carry are the
   DuckDB engine's queries, the same constants (``ROOTS_WITH_TEXT_SQL`` of
   :func:`~spreadtrace.store.narratives.cascade_roots`, ``ROOT_KEYS_SQL`` of
   :func:`~spreadtrace.store.items.url_key_frame` with ``roots_only``, ``ROOT_MEDIA_SQL``
   of :func:`~spreadtrace.store.narratives.root_media`), transpiled with sqlglot: joins
   shuffled by post and cascade.
2. The grouping is global by nature (a narrative links cascades anywhere in the store,
   through shared URLs, media, text groups and rare hashtags, whose caps depend on the
   number of roots), as the coordination graph's Leiden is: the roots (one row per
   cascade, where posts are many times more) are collected to the driver and grouped
   by the same :func:`~spreadtrace.graph.narratives.group_narratives` call.
3. The cascade -> narrative map goes back as a DataFrame; post_narratives and the
   narratives' counts are set-wise joins (shuffled by cascade, then by narrative).
4. Amplification and origins (:func:`amplification`): the forest, bucketed by cascade,
   through the DuckDB engine's per-post steps (cut flags, tree features) in
   applyInPandas, then ``amplification_scores`` and ``origin_scores`` over buckets of
   cascades and narratives; ``origin_index`` on the driver over the top candidates;
   item origins by ``item_post_pairs`` per bucket of cascades, ranked per item.
5. narrative_origin_items: the store's ``NARRATIVE_ORIGIN_ITEMS_SQL`` over the item
   origins, transpiled.
6. The correction columns (:func:`corrections`): the store's ``FACTCHECK_POSTS_SQL``,
   ``CLAIM_POSTS_SQL`` and ``CORRECTIONS_SQL``, transpiled, over the fact-check hosts
   (the distinct hosts of url_keys filtered by
   :func:`~spreadtrace.corrections.is_factcheck_host` in mapInPandas: a DataFrame
   joined, never text in the SQL) and the Community Notes tables.

So ``attach`` of an output holding all seven tables of the stage skips the DuckDB stage.

Example (local mode; see tests/test_spark_narratives.py):

    tables = run(spark, posts_df, cascades_df, post_cascades_df, post_items_df,
                 items_df, url_keys_df, follows_df, account_scores_df,
                 coordination_clusters_df, build_id=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spreadtrace.corrections import factcheck_domains, is_factcheck_host
from spreadtrace.graph.amplification import (
    SCORE_COLUMNS,
    amplification_scores,
    reach_bounds,
    reached_only_via,
)
from spreadtrace.graph.narratives import group_narratives
from spreadtrace.graph.origin import (
    item_post_pairs,
    origin_index,
    origin_scores,
    post_tree_features,
)
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.spark.cascades import _stage, to_spark_sql
from spreadtrace.store.items import NARRATIVE_ORIGIN_ITEMS_SQL, OWN_ITEMS_SQL, ROOT_KEYS_SQL
from spreadtrace.store.narratives import (
    CANDIDATES_SQL,
    CLAIM_POSTS_SQL,
    CORRECTIONS_SQL,
    FACTCHECK_POSTS_SQL,
    FOREST_SQL,
    NARRATIVE_ROWS_SQL,
    POST_NARRATIVES_SQL,
    ROOT_MEDIA_SQL,
    ROOTS_WITH_TEXT_SQL,
)

__all__ = [
    "BUCKET_CASCADES",
    "NOTES_SCHEMA",
    "NOTE_STATUS_SCHEMA",
    "NarrativeTables",
    "NARRATIVE_COLUMNS",
    "amplification",
    "corrections",
    "factcheck_hosts",
    "grouping",
    "run",
]

# The Community Notes tables as the store holds them (an input without them: no notes).
NOTES_SCHEMA = (
    "note_id STRING, post_id STRING, participant_id STRING, created_at TIMESTAMP, "
    "classification STRING, misleading_reasons ARRAY<STRING>, "
    "misleading_manipulated_media BOOLEAN, trustworthy_sources BOOLEAN, "
    "is_media_note BOOLEAN, summary STRING, ingest_run_id BIGINT"
)
NOTE_STATUS_SCHEMA = (
    "note_id STRING, first_status STRING, first_status_at TIMESTAMP, "
    "first_shown_at TIMESTAMP, current_status STRING, current_status_at TIMESTAMP, "
    "ingest_run_id BIGINT"
)

# Cascades per applyInPandas call: one vectorised forest pass each (the DuckDB engine's
# arrays, over a bucket of whole cascades instead of the store).
BUCKET_CASCADES = 50_000

# The narratives table's columns after the grouping's, in the store's order, typed as the
# store's: the origin, amplification and correction columns the later steps fill.
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


@dataclass(frozen=True)
class NarrativeTables:
    """The stage's output DataFrames (store schema, build_id added) and counts."""

    post_narratives: DataFrame
    narratives: DataFrame
    cascade_scores: DataFrame
    origin_scores: DataFrame
    account_origin: DataFrame
    item_origin_scores: DataFrame
    narrative_origin_items: DataFrame
    counts: dict[str, Any]


def _collect(spark: SparkSession, sql: str) -> pl.DataFrame:
    frame = pl.from_arrow(spark.sql(to_spark_sql(sql)).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def grouping(spark: SparkSession, params: NarrativeParams) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cascade_id, narrative_id, via) and (narrative_id, label, kind), on the driver.

    Needs the views posts, cascades, post_cascades, post_items, items and url_keys.
    """
    roots = _collect(spark, ROOTS_WITH_TEXT_SQL)
    keys = _collect(spark, ROOT_KEYS_SQL)
    media = _collect(spark, ROOT_MEDIA_SQL)
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
    follows: DataFrame,
    account_scores: DataFrame,
    coordination_clusters: DataFrame,
    community_notes: DataFrame | None = None,
    community_note_status: DataFrame | None = None,
    *,
    build_id: int,
    params: NarrativeParams | None = None,
    bucket_cascades: int = BUCKET_CASCADES,
) -> NarrativeTables:
    """The whole stage over all cascades (a full build): the seven tables, counts.

    ``community_notes`` / ``community_note_status``: the store's Community Notes tables
    (None: no notes).
    """
    params = params or NarrativeParams()
    bid = F.lit(build_id).cast("bigint").alias("build_id")
    for name, df in (
        ("posts", posts),
        ("cascades", cascades),
        ("post_cascades", post_cascades),
        ("post_items", post_items),
        ("items", items),
        ("url_keys", url_keys),
        ("follows", follows),
        ("account_scores", account_scores),
        ("coordination_clusters", coordination_clusters),
        (
            "community_notes",
            spark.createDataFrame([], NOTES_SCHEMA) if community_notes is None else community_notes,
        ),
        (
            "community_note_status",
            spark.createDataFrame([], NOTE_STATUS_SCHEMA)
            if community_note_status is None
            else community_note_status,
        ),
    ):
        df.createOrReplaceTempView(name)
    mapping, narr = grouping(spark, params)
    cascade_map = spark.createDataFrame(
        mapping.to_pandas(), "cascade_id string, narrative_id string, via string"
    )
    cascade_map.createOrReplaceTempView("_sn_map")
    spark.createDataFrame(
        narr.to_pandas(), "narrative_id string, label string, kind string"
    ).createOrReplaceTempView("_sn_narr")
    post_narr = spark.sql(to_spark_sql(POST_NARRATIVES_SQL)).transform(_stage)
    post_narr.createOrReplaceTempView("post_narratives")
    rows = spark.sql(to_spark_sql(NARRATIVE_ROWS_SQL)).transform(_stage)

    per_cascade, per_narrative, origins, item_origins = amplification(
        spark, params, bucket_cascades=bucket_cascades
    )
    # the accounts' origin index is across narratives, over the top candidates only
    # (origin_top_k rows a narrative): collected, as the DuckDB engine computes it
    collected = pl.from_arrow(origins.toArrow())
    sizes = pl.from_arrow(rows.select("narrative_id", "posts").toArrow())
    assert isinstance(collected, pl.DataFrame) and isinstance(sizes, pl.DataFrame)
    seeds = origin_index(collected, sizes, seed_rank=params.seed_rank, wide_posts=params.wide_posts)
    account_origin = spark.createDataFrame(
        seeds.select("account_id", "origin_index", "narratives_seeded").to_pandas(),
        "account_id string, origin_index double, narratives_seeded bigint",
    ).select("*", bid)
    first_origin = origins.where("rank = 1").select(
        "narrative_id",
        F.col("account_id").alias("origin_account_id"),
        F.col("origin_score").alias("origin_score"),
    )
    item_origins.createOrReplaceTempView("item_origin_scores")
    origin_items = spark.sql(to_spark_sql(NARRATIVE_ORIGIN_ITEMS_SQL))
    per_correction, n_correction_posts = corrections(spark, params)
    scored = (
        rows.join(per_narrative, "narrative_id", "left")
        .join(first_origin, "narrative_id", "left")
        .join(per_correction, "narrative_id", "left")
    )
    later = [bid if kind is None else F.col(name).cast(kind).alias(name) for name, kind in _LATER]
    narratives = scored.select(*NARRATIVE_COLUMNS, *later)
    cascade_scores = per_cascade.join(
        cascade_map.select("cascade_id", "narrative_id"), "cascade_id", "left"
    ).select(
        "cascade_id",
        "narrative_id",
        *SCORE_COLUMNS[:6],
        bid,
        *SCORE_COLUMNS[6:],
    )
    n_posts = post_narr.count()
    n_all = posts.count()
    largest = rows.agg(F.max("posts")).first()
    top = int(largest[0]) if largest is not None and largest[0] is not None else 0
    counts = {
        "narratives": narr.height,
        "narrative_posts": n_posts,
        "largest_narrative_share_pct": round(100 * top / max(n_all, 1), 2),
        "cascade_scores": per_cascade.count(),
        "origin_candidates": collected.height,
        "origin_accounts": seeds.height,
        "item_origin_candidates": item_origins.count(),
        "correction_posts": n_correction_posts,
    }
    return NarrativeTables(
        post_narr.select("post_id", "narrative_id", "via", bid),
        narratives,
        cascade_scores,
        origins.select("*", bid),
        account_origin,
        item_origins.select("*", bid),
        origin_items.transform(_stage),
        counts,
    )


# --- corrections (the narratives' correction columns) ----------------------------------


def factcheck_hosts(spark: SparkSession, params: NarrativeParams) -> DataFrame:
    """The fact-check hosts among url_keys' distinct hosts (column ``host``).

    The shipped domains plus ``params.factcheck_file`` (read on the driver), tested by
    :func:`~spreadtrace.corrections.is_factcheck_host` over batches of hosts in
    mapInPandas: the hosts stay a DataFrame, joined by the SQL, never text in it.
    """
    domains = factcheck_domains(params.factcheck_file)

    def keep(batches):
        for pdf in batches:
            hit = is_factcheck_host(pl.from_pandas(pdf["host"]), domains).to_numpy()
            yield pdf[hit]

    return spark.sql("SELECT DISTINCT host FROM url_keys WHERE host IS NOT NULL").mapInPandas(
        keep, "host string"
    )


def corrections(spark: SparkSession, params: NarrativeParams) -> tuple[DataFrame, int]:
    """Per narrative, its correction columns (``CORRECTIONS_SQL``); correction posts.

    Needs the views posts, url_keys, post_narratives, community_notes and
    community_note_status. The correction posts (``_sn_fc``) and the narratives' posts
    marked claim or correction (``_sn_np``, read twice) are staged, as the DuckDB
    engine's temp tables.
    """
    factcheck_hosts(spark, params).createOrReplaceTempView("_sn_hosts")
    fc = spark.sql(to_spark_sql(FACTCHECK_POSTS_SQL)).transform(_stage)
    fc.createOrReplaceTempView("_sn_fc")
    spark.sql(to_spark_sql(CLAIM_POSTS_SQL)).transform(_stage).createOrReplaceTempView("_sn_np")
    return spark.sql(to_spark_sql(CORRECTIONS_SQL)), fc.count()


# --- amplification (cascade_scores, the narratives' amplification columns) -------------

_CUT_SCHEMA = (
    "cascade_id string, narrative_id string, post_id string, created_at bigint, "
    "bot boolean, coordinated boolean, inferred boolean, is_share boolean, "
    "cut boolean, cut_low boolean, cut_high boolean, account_id string, root_seen boolean, "
    "depth bigint, reach bigint, centrality double, parent_id string"
)
_ITEM_ROWS_SCHEMA = (
    "item_id string, cascade_id string, account_id string, created_at bigint, "
    "root_seen boolean, depth bigint, reach bigint, centrality double"
)
_ORIGIN_SCHEMA = (
    "narrative_id string, account_id string, rank int, origin_score double, "
    "first_at timestamp, reach_share double, centrality double, reasons string"
)
_ITEM_ORIGIN_SCHEMA = _ORIGIN_SCHEMA.replace("narrative_id string", "item_id string")
_SCORE_TYPES = {
    "amplification_reasons": "string",
    "inferred_edges": "bigint",
}


def _score_schema(by: str) -> str:
    cols = [f"{c} {_SCORE_TYPES.get(c, 'double')}" for c in SCORE_COLUMNS]
    return ", ".join([f"{by} string", *cols])


def _cuts(forest: pd.DataFrame, cands: pd.DataFrame) -> pd.DataFrame:
    """One bucket of whole cascades -> each post's cut flags (the DuckDB engine's
    ``_reach_cuts``, over the bucket's forest instead of the store's)."""
    posts = pl.from_pandas(forest).sort("cascade_id", "depth", "post_id")
    posts = posts.with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    index = posts.select(parent_id="post_id", parent_idx="idx")
    posts = posts.join(index, on="parent_id", how="left").sort("idx")
    parent = posts["parent_idx"].fill_null(-1).to_numpy()
    cascade = (posts["cascade_id"].rank("dense").cast(pl.Int64) - 1).to_numpy()
    n = len(parent)
    n_codes = int(cascade.max()) + 1 if n else 0
    unseen = np.zeros(n_codes, dtype=bool)
    unseen[cascade[~posts["root_seen"].to_numpy()]] = True
    depth, reach, centrality = post_tree_features(parent, cascade, unseen)
    is_root = posts["is_root"].to_numpy()
    inferred = posts["inferred"].to_numpy()
    flagged = (posts["bot"] | posts["coordinated"]).to_numpy() & ~is_root
    root_of = np.full(int(cascade.max()) + 1 if n else 0, -1, dtype=np.int64)
    root_of[cascade[is_root]] = np.flatnonzero(is_root)
    explicit = parent.copy()
    explicit[inferred] = root_of[cascade[inferred]]
    cut = reached_only_via(explicit, flagged)
    low = high = cut
    if inferred.any():
        pairs = pl.from_pandas(cands).select("child", "candidate")
        ids = posts.select("post_id", "idx")
        pairs = pairs.join(ids.rename({"post_id": "child", "idx": "c"}), on="child").join(
            ids.rename({"post_id": "candidate", "idx": "k"}), on="candidate"
        )
        cand_child = pairs["c"].to_numpy().astype(np.int64)
        cand = pairs["k"].to_numpy().astype(np.int64)
        missing = np.flatnonzero(inferred & (np.bincount(cand_child, minlength=n) == 0))
        fixed = np.flatnonzero((parent >= 0) & ~inferred)
        child = np.concatenate([fixed, cand_child, missing])
        par = np.concatenate([parent[fixed], cand, parent[missing]])
        low = reach_bounds(n, child, par, flagged, worst=False)
        high = reach_bounds(n, child, par, flagged, worst=True)
    out = posts.select(
        "cascade_id",
        "narrative_id",
        "post_id",
        "created_at",
        "bot",
        "coordinated",
        "inferred",
        is_share=~pl.col("is_root") & ~pl.col("conversation"),
        cut=pl.Series(cut),
        cut_low=pl.Series(low),
        cut_high=pl.Series(high),
        account_id=pl.col("account_id"),
        root_seen=pl.col("root_seen"),
        depth=pl.Series(depth).cast(pl.Int64),
        reach=pl.Series(reach).cast(pl.Int64),
        centrality=pl.Series(centrality).cast(pl.Float64),
        parent_id=pl.col("parent_id"),
    )
    return out.to_pandas()


def _item_rows(cuts: pd.DataFrame, own: pd.DataFrame) -> pd.DataFrame:
    """A bucket of whole cascades' posts (with their tree features) and the items they
    carry -> one row per (item, post spreading it), as the DuckDB engine's
    ``_item_origins`` frame (:func:`~spreadtrace.graph.origin.item_post_pairs`)."""
    posts = pl.from_pandas(cuts).with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    index = posts.select(parent_id="post_id", parent_idx="idx")
    posts = posts.join(index, on="parent_id", how="left").sort("idx")
    parent = posts["parent_idx"].fill_null(-1).to_numpy()
    share = (posts["is_share"] | posts["parent_id"].is_null()).to_numpy()
    owned = (
        pl.from_pandas(own)
        .select("post_id", "item_id")
        .join(posts.select("post_id", "idx"), on="post_id")
        .with_columns(item=pl.col("item_id").rank("dense").cast(pl.Int64) - 1)
        .sort("idx", "item")
    )
    ids = owned.select("item", "item_id").unique("item").sort("item")["item_id"]
    depth = posts["depth"].to_numpy()
    rows, item = item_post_pairs(
        parent, share, owned["idx"].to_numpy(), owned["item"].to_numpy(), depth
    )
    frame = posts[rows].select(
        "cascade_id", "account_id", "created_at", "root_seen", "depth", "reach", "centrality"
    )
    return (
        frame.with_columns(item_id=ids.gather(item)).select("item_id", *frame.columns).to_pandas()
    )


def _originator(params: NarrativeParams, by: str = "narrative_id", top_k: int | None = None):
    """The applyInPandas body: a bucket of whole narratives' posts -> origin_scores rows."""

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        frame = pl.from_pandas(pdf).with_columns(
            pl.col("created_at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        )
        ranked = origin_scores(
            frame, weights=params.origin, top_k=top_k or params.origin_top_k, by=by
        )
        return ranked.with_columns(
            pl.col("first_at").dt.replace_time_zone(None), pl.col("rank").cast(pl.Int32)
        ).to_pandas()

    return run


def _scorer(by: str, unit: str, params: NarrativeParams):
    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        frame = pl.from_pandas(pdf)
        scores = amplification_scores(
            frame,
            by=by,
            early_fraction=params.early_fraction,
            weights=params.amplification,
            unit=unit,
        )
        return scores.select(by, *SCORE_COLUMNS).to_pandas()

    return run


def _buckets(df: DataFrame, key: str, n: int) -> DataFrame:
    return df.select("*", F.pmod(F.xxhash64(key), F.lit(n)).alias("_bucket"))


def amplification(
    spark: SparkSession, params: NarrativeParams, *, bucket_cascades: int = BUCKET_CASCADES
) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    """Amplification scores per cascade and per narrative (cascade_id / narrative_id and
    SCORE_COLUMNS), as the DuckDB engine's ``_amplification``.

    Needs the views posts, follows, post_cascades, post_narratives, account_scores and
    coordination_clusters. The cut flags are computed over buckets of whole cascades
    (an inferred link's candidates are in its cascade); the scores are group-wise, so
    buckets of cascades, then of narratives, give the same rows.
    """
    # the store's forest by id; created_at as microseconds (only its order is read)
    forest = spark.sql(to_spark_sql(FOREST_SQL)).withColumn(
        "created_at", F.unix_micros("created_at")
    )
    cands = spark.sql(to_spark_sql(CANDIDATES_SQL))
    n_cascades = spark.sql("SELECT count(DISTINCT cascade_id) FROM post_cascades").first()
    n = max(1, -(-int(n_cascades[0] if n_cascades else 0) // max(1, bucket_cascades)))
    cuts = (
        _buckets(forest, "cascade_id", n)
        .groupBy("_bucket")
        .cogroup(_buckets(cands, "cascade_id", n).groupBy("_bucket"))
        .applyInPandas(lambda f, c: _cuts(f.drop(columns="_bucket"), c), _CUT_SCHEMA)
        .transform(_stage)
    )
    per_cascade = (
        _buckets(cuts, "cascade_id", n)
        .groupBy("_bucket")
        .applyInPandas(
            lambda pdf: _scorer("cascade_id", "cascade", params)(pdf.drop(columns="_bucket")),
            _score_schema("cascade_id"),
        )
    )
    per_narrative = (
        _buckets(cuts.where(F.col("narrative_id").isNotNull()), "narrative_id", n)
        .groupBy("_bucket")
        .applyInPandas(
            lambda pdf: _scorer("narrative_id", "narrative", params)(
                pdf.drop(columns=["_bucket", "cascade_id"])
            ),
            _score_schema("narrative_id"),
        )
    )
    origins = (
        _buckets(
            cuts.where(F.col("narrative_id").isNotNull()).select(
                "narrative_id",
                "cascade_id",
                "account_id",
                "created_at",
                "root_seen",
                "depth",
                "reach",
                "centrality",
            ),
            "narrative_id",
            n,
        )
        .groupBy("_bucket")
        .applyInPandas(lambda pdf: _originator(params)(pdf.drop(columns="_bucket")), _ORIGIN_SCHEMA)
    )
    own = spark.sql(to_spark_sql(OWN_ITEMS_SQL), args={"m": int(params.item_min_accounts)})
    item_rows = (
        _buckets(cuts, "cascade_id", n)
        .groupBy("_bucket")
        .cogroup(_buckets(own, "cascade_id", n).groupBy("_bucket"))
        .applyInPandas(lambda f, o: _item_rows(f.drop(columns="_bucket"), o), _ITEM_ROWS_SCHEMA)
    )
    item_origins = (
        _buckets(item_rows, "item_id", n)
        .groupBy("_bucket")
        .applyInPandas(
            lambda pdf: _originator(params, by="item_id", top_k=params.item_origin_top_k)(
                pdf.drop(columns="_bucket")
            ),
            _ITEM_ORIGIN_SCHEMA,
        )
    )
    return (
        per_cascade.transform(_stage),
        per_narrative.transform(_stage),
        origins.transform(_stage),
        item_origins.transform(_stage),
    )

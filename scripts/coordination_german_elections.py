"""Co-URL sharing on the 2021 German federal election data (Righetti et al. 2022).

Usage (from the repository root):

    .venv/bin/python scripts/coordination_german_elections.py [--window 60] [--min-shared 2]

Reads ``../shared/data/coordination/german_elections.csv.gz`` at run time (CooRTweet's
example data: Facebook ``fb_`` and Twitter ``tw_`` accounts, anonymised ids), loads each
post as an original post whose ``urls`` are its anonymised URL ids (``url-<id>``) into
an in-memory store, and runs the same co-share search, NPMI strength and clustering as
``spreadtrace build``. Prints the figures quoted in docs/scores.md. With
``--images`` the perceptual image hashes (``phash_id``) count as shared items too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.graph.coordination import cluster_pairs, npmi  # noqa: E402
from spreadtrace.pipeline import cascades as cascades_stage  # noqa: E402
from spreadtrace.pipeline import items as items_stage  # noqa: E402
from spreadtrace.store import Store  # noqa: E402
from spreadtrace.store import coordination as coordination_sql  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "coordination" / "german_elections.csv.gz"


def load_posts(path: Path, images: bool) -> pl.DataFrame:
    raw = pl.read_csv(path, schema_overrides={"account_id": pl.String})
    raw = raw.filter(pl.col("post_id").is_not_null())  # 3 rows carry no post at all
    items = raw.select(
        pl.col("post_id").cast(pl.String),
        "account_id",
        "timestamp",
        pl.format("url-{}", pl.col("url_id")).alias("item"),
    )
    if images:
        items = pl.concat(
            [
                items,
                raw.select(
                    pl.col("post_id").cast(pl.String),
                    "account_id",
                    "timestamp",
                    pl.format("image-{}", pl.col("phash_id")).alias("item"),
                ),
            ]
        )
    return (
        items.group_by("post_id", "account_id")
        .agg(pl.col("timestamp").min(), pl.col("item").drop_nulls().unique().alias("urls"))
        .with_columns(pl.from_epoch(pl.col("timestamp"), time_unit="s").dt.replace_time_zone("UTC"))
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--min-shared", type=int, default=2)
    ap.add_argument("--min-strength", type=float, default=0.3)
    ap.add_argument("--images", action="store_true")
    args = ap.parse_args(argv)
    posts = load_posts(args.data, args.images)
    with Store.open(":memory:") as store:
        con = store.con
        con.register("_in", posts.to_arrow())
        con.execute(
            "INSERT INTO posts (post_id, account_id, created_at, kind, urls, ingest_run_id) "
            "SELECT post_id, account_id, timestamp, 'original', urls, 1 FROM _in"
        )
        with store.transaction():
            # the co-share search reads the posts' URL items (post_items), as in a build
            cascades_stage.run(store, 1, full=True)
            items_stage.run(store, 1)
            t0 = time.perf_counter()
            stats = coordination_sql.co_share_pairs(
                con, window_s=args.window, min_shared=args.min_shared, items=("url",)
            )
            pairs = coordination_sql.fetch_pairs(con)
            elapsed = time.perf_counter() - t0
    pairs = pairs.with_columns(
        pl.Series(
            "strength",
            npmi(pairs["shared_items"], pairs["n_a"], pairs["n_b"], int(pairs["n_items"][0])),
        )
    )
    clusters = cluster_pairs(pairs, min_strength=args.min_strength, method="leiden")
    platform = pl.col("account_id").str.slice(0, 2)
    per_cluster = (
        clusters.group_by("cluster_id")
        .agg(
            pl.len().alias("accounts"),
            (platform == "fb").sum().alias("fb"),
            (platform == "tw").sum().alias("tw"),
        )
        .sort("accounts", descending=True)
    )
    cross_pairs = pairs.filter(
        pl.col("account_a").str.slice(0, 2) != pl.col("account_b").str.slice(0, 2)
    )
    print(f"posts {posts.height}, accounts {posts['account_id'].n_unique()}; {stats}")
    print(
        f"co-share search {elapsed:.2f} s; window {args.window:g} s, "
        f"min_shared {args.min_shared}, min_strength {args.min_strength}"
    )
    print(
        f"pairs {pairs.height} (cross-platform fb-tw: {cross_pairs.height}); "
        f"strength >= {args.min_strength}: {pairs.filter(pl.col('strength') >= args.min_strength).height}"
    )
    print(
        f"clusters {per_cluster.height}, accounts in clusters {clusters.height}, "
        f"mixed fb+tw clusters {per_cluster.filter((pl.col('fb') > 0) & (pl.col('tw') > 0)).height}"
    )
    print(per_cluster.head(10))
    print(pairs.sort("shared_items", descending=True).head(10))
    print(cross_pairs.sort("shared_items", descending=True).head(5))


if __name__ == "__main__":
    main()

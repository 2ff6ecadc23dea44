"""Account scores on real timelines: PHEME (Twitter) and the German election 2021 data.

Usage (from the repository root):

    .venv/bin/python scripts/bots_real_data.py [--top 10]

Reads ``../shared/data/pheme-germanwings/tweets.jsonl.gz`` (ingested with the Twitter
v1.1 reader, embedded user objects become profile snapshots) and
``../shared/data/coordination/german_elections.csv.gz`` (each post an original post
whose URLs are its anonymised URL ids, as ``scripts/coordination_german_elections.py``
loads it; ``fb_``/``tw_`` prefixes give the platform; no profiles) into in-memory
stores, builds them with the defaults (the accounts stage reads the items the build's
items stage writes), and prints the figures quoted in
docs/scores.md: accounts scored, evidence states, flagged share, the top flagged
accounts with their reasons, and for the election data the largest coordination
cluster (a Facebook page network).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.ingest import ingest_file  # noqa: E402
from spreadtrace.pipeline.build import run_build  # noqa: E402
from spreadtrace.store import Store  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def _scores(store: Store) -> pl.DataFrame:
    store.con.complete()
    return store.con.sql(
        """
        SELECT s.*, a.handle, a.followers_count, a.verified, c.cluster_id, c.cluster_size
        FROM account_scores s
        LEFT JOIN accounts a USING (account_id)
        LEFT JOIN coordination_clusters c USING (account_id)
        """
    ).pl()


def summary(name: str, scores: pl.DataFrame, top: int) -> None:
    n = scores.height
    flagged = scores.filter(pl.col("is_bot_like"))
    evidence = dict(scores.group_by("bot_evidence").len().rows())
    print(f"## {name}")
    print(
        f"accounts scored {n:,}; evidence sufficient {evidence.get('sufficient', 0):,}, "
        f"insufficient {evidence.get('insufficient', 0):,}; flagged bot-like "
        f"{flagged.height:,} ({flagged.height / max(n, 1):.2%}); in a coordination cluster "
        f"{scores['cluster_id'].is_not_null().sum():,}; coordination_score >= 0.5: "
        f"{(scores['coordination_score'] >= 0.5).sum():,}"
    )
    print("highest bot scores, flagged or not:")
    with pl.Config(fmt_str_lengths=400, tbl_rows=5, tbl_width_chars=250):
        print(
            scores.sort("bot_score", descending=True)
            .head(5)
            .select("handle", "account_id", "posts", pl.col("bot_score").round(3), "is_bot_like",
                    "bot_reasons")
        )  # fmt: skip
    print("flagged bot-like:")
    with pl.Config(fmt_str_lengths=400, tbl_rows=top, tbl_width_chars=250):
        print(
            flagged.sort("bot_score", descending=True)
            .head(top)
            .select(
                "account_id",
                "handle",
                "posts",
                pl.col("bot_score").round(3),
                pl.col("coordination_score").round(2),
                "bot_reasons",
            )
        )


def pheme(top: int) -> None:
    with Store.open(":memory:") as store:
        ingest_file(store, DATA / "pheme-germanwings" / "tweets.jsonl.gz")
        run_build(store, full=True, publish=False)
        scores = _scores(store)
    summary("PHEME Germanwings (Twitter, 2015)", scores, top)
    verified = scores.filter(pl.col("verified").fill_null(False))
    print(
        f"verified accounts (news organisations, journalists): {verified.height}, "
        f"flagged {verified['is_bot_like'].sum()}"
    )
    with pl.Config(fmt_str_lengths=300, tbl_rows=8, tbl_width_chars=250):
        print(
            verified.sort("posts", descending=True)
            .head(8)
            .select("handle", "posts", pl.col("bot_score").round(3), "bot_evidence", "bot_reasons")
        )


def german_elections(top: int) -> None:
    raw = pl.read_csv(
        DATA / "coordination" / "german_elections.csv.gz",
        schema_overrides={"account_id": pl.String},
    ).filter(pl.col("post_id").is_not_null())
    posts = (
        raw.group_by(pl.col("post_id").cast(pl.String), "account_id")
        .agg(
            pl.col("timestamp").min(),
            pl.format("url-{}", pl.col("url_id")).drop_nulls().unique().alias("urls"),
        )
        .with_columns(
            pl.from_epoch(pl.col("timestamp"), time_unit="s").dt.replace_time_zone("UTC"),
            pl.when(pl.col("account_id").str.starts_with("fb_"))
            .then(pl.lit("facebook"))
            .otherwise(pl.lit("twitter"))
            .alias("platform"),
        )
    )
    with Store.open(":memory:") as store:
        con = store.con
        con.register("_in", posts.to_arrow())
        con.execute(
            "INSERT INTO posts (post_id, account_id, created_at, kind, urls, platform, "
            "ingest_run_id) SELECT post_id, account_id, timestamp, 'original', urls, "
            "platform, 1 FROM _in"
        )
        con.unregister("_in")
        run_build(store, full=True, publish=False)
        scores = _scores(store)
    summary("German federal election 2021 (Facebook + Twitter)", scores, top)
    biggest = (
        scores.filter(pl.col("cluster_id").is_not_null())
        .group_by("cluster_id")
        .agg(
            pl.len().alias("accounts"),
            pl.col("bot_score").mean().round(3).alias("mean_bot_score"),
            pl.col("is_bot_like").sum().alias("bot_like"),
            pl.col("coordination_score").mean().round(3).alias("mean_coordination_score"),
            pl.col("posts").median().alias("median_posts"),
        )
        .sort("accounts", descending=True)
        .head(5)
    )
    print("largest coordination clusters:")
    print(biggest)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    pheme(args.top)
    german_elections(args.top)


if __name__ == "__main__":
    main()

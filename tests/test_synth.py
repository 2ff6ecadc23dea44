"""The synthetic world: deterministic, canonical, and what it plants is really there."""

from __future__ import annotations

import gzip
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.cli import main
from spreadtrace.graph.bots import fit_logistic, roc_auc
from spreadtrace.synth import SAMPLE_POSTS, generate, read_posts
from tests.conftest import REPO

SAMPLE = REPO / "data" / "sample"
FILES = [
    "posts.csv.gz",
    "accounts.csv.gz",
    "follows.csv.gz",
    "truth/accounts.csv",
    "truth/narratives.csv",
    "truth/parents.csv",
    "truth/params.json",
]
POST_COLUMNS = (
    "post_id,account_id,created_at,parent_id,kind,root_id,text,urls,hashtags,lang,platform"
)
ACCOUNT_COLUMNS = (
    "account_id,handle,display_name,created_at,followers_count,following_count,posts_count,"
    "likes_count,listed_count,verified,default_profile,default_profile_image,description,"
    "platform,observed_at"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A sample-sized world with a seed other than the sample's, loaded once."""
    out = tmp_path_factory.mktemp("world")
    generate(out, seed=11, posts=30_000)
    posts = read_posts(out / "posts.csv.gz")
    truth = pl.read_csv(out / "truth" / "accounts.csv", infer_schema=False).with_columns(
        pl.col("is_bot") == "true"
    )
    posts = posts.join(truth, on="account_id", how="left")
    parents = posts.select(
        pl.col("post_id").alias("parent_id"), pl.col("created_at").alias("parent_at")
    )
    reposts = (
        posts.filter(pl.col("kind") == "repost")
        .join(parents, on="parent_id", how="inner")
        .with_columns(delay=(pl.col("created_at") - pl.col("parent_at")).dt.total_seconds())
    )
    return {
        "out": out,
        "posts": posts,
        "truth": truth,
        "reposts": reposts,
        "narratives": pl.read_csv(out / "truth" / "narratives.csv", infer_schema=False),
        "params": json.loads((out / "truth" / "params.json").read_text()),
    }


def _bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_same_seed_same_bytes_other_seed_other_world(tmp_path):
    for name in ("a", "b", "c"):
        generate(tmp_path / name, seed=5 if name != "c" else 6, posts=4_000)
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert _bytes(tmp_path / "a" / "posts.csv.gz") != _bytes(tmp_path / "c" / "posts.csv.gz")
    # gzip header: no file name, mtime 0 (bytes 4..7), so bytes do not depend on when
    raw = (tmp_path / "a" / "posts.csv.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[3] & 0x08 == 0 and raw[4:8] == b"\0\0\0\0"


def test_the_bundled_sample_is_what_the_command_regenerates(tmp_path, runner):
    """Compare decompressed bytes: another zlib may compress the same rows differently."""
    result = runner.invoke(main, ["synth", "--sample", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    for f in FILES:
        assert _bytes(tmp_path / f) == _bytes(SAMPLE / f), (
            f"data/sample/{f} is stale: run `make sample` and commit it"
        )
    assert sum((SAMPLE / f).stat().st_size for f in FILES) < 5_000_000


def test_canonical_columns_and_formats(world):
    out = world["out"]
    with gzip.open(out / "posts.csv.gz", "rt", encoding="utf-8", errors="replace") as fh:
        assert fh.readline().strip() == POST_COLUMNS
    with gzip.open(out / "accounts.csv.gz", "rt") as fh:
        assert fh.readline().strip() == ACCOUNT_COLUMNS
    with gzip.open(out / "follows.csv.gz", "rt") as fh:
        assert fh.readline().strip() == "follower_id,followee_id"
    assert (out / "truth" / "accounts.csv").read_text().splitlines()[0] == (
        "account_id,is_bot,coordination_group"
    )
    assert world["narratives"].columns == ["narrative_id", "origin_account_id", "post_id", "kind"]
    raw = pl.read_csv(
        out / "posts.csv.gz", infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True
    )
    ok = raw.filter(pl.col("created_at").str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    assert raw.height - ok.height == 1  # only the planted bad timestamp
    urls = world["posts"]["urls"].drop_nulls()
    assert urls.str.contains(" ").any() is False or urls.str.starts_with("http").all()
    assert set(world["posts"]["kind"].unique()) == {"original", "repost", "quote", "reply"}


def test_counts_reconcile_with_params(world):
    c = world["params"]["counts"]
    posts = world["posts"]
    assert posts.height == 30_000 == c["posts"]
    assert posts["post_id"].n_unique() == posts.height
    with gzip.open(world["out"] / "posts.csv.gz", "rb") as fh:
        lines = fh.read().count(b"\n") - 1
    assert lines == c["post_lines"] == c["posts"] + c["duplicate_lines"] + c["malformed_lines"]
    assert c["malformed_lines"] == 5 and c["duplicate_lines"] > 0
    # reposts whose parent is not in the data, and clock skew, are really there
    known = set(posts["post_id"])
    unseen = posts.filter(pl.col("parent_id").is_not_null() & ~pl.col("parent_id").is_in(known))
    assert unseen.height == c["posts_with_unseen_parent"] > 0
    reposts = world["reposts"]
    assert (reposts["delay"] < 0).sum() == c["clock_skew_posts"] > 0
    assert reposts.filter(pl.col("delay") < 0)["delay"].min() >= -5


def test_bots_react_in_seconds_humans_in_minutes(world):
    reposts = world["reposts"].filter(pl.col("delay") >= 0)
    bot = reposts.filter(pl.col("is_bot") & pl.col("coordination_group").is_null())["delay"]
    human = reposts.filter(~pl.col("is_bot"))["delay"]
    assert bot.quantile(0.25) < 15  # seconds for most bots (scheduled bots take minutes)
    assert human.median() > 600  # minutes or more
    assert bot.median() < human.median() / 5
    assert human.quantile(0.95) > 86_400 / 4  # a long tail into hours and days
    # ...but they overlap: some humans react within seconds, some bots take minutes
    assert 0.01 < (human <= 10).mean() < 0.1
    assert bot.quantile(0.8) > 120


def _account_features(world: dict) -> pl.DataFrame:
    """Per account with >= 5 timed reposts: delay features, rate, hour-of-day entropy."""
    reposts = world["reposts"].filter(pl.col("delay") >= 0)
    timed = reposts.group_by("account_id").agg(
        pl.len().alias("timed"),
        *[(pl.col("delay") <= s).mean().alias(f"within_{s}s") for s in (5, 10, 30, 60)],
        pl.col("delay").median().alias("median_delay"),
        pl.col("delay").quantile(0.25).alias("q25_delay"),
    )
    hours = (
        world["posts"]
        .group_by("account_id")
        .agg(
            pl.len().alias("posts"),
            (pl.col("kind") == "repost").mean().alias("repost_share"),
            pl.col("created_at").dt.hour().value_counts().alias("vc"),
        )
        .explode("vc")
        .unnest("vc")
        .with_columns((pl.col("count") / pl.col("count").sum().over("account_id")).alias("q"))
        .group_by("account_id")
        .agg(
            pl.col("posts").first(),
            pl.col("repost_share").first(),
            (-(pl.col("q") * pl.col("q").log(2)).sum()).alias("hour_entropy"),
        )
    )
    return (
        timed.filter(pl.col("timed") >= 5)
        .join(hours, on="account_id")
        .join(world["truth"], on="account_id")
        .filter(pl.col("coordination_group").is_null())  # groups: the coordination tests
    )


def test_no_single_timing_feature_separates_bots_but_behaviour_together_does(world):
    """Overlap is real: delays alone must not give AUC ~1 (else the bot test is trivial)."""
    acc = _account_features(world)
    y = acc["is_bot"].to_numpy()
    assert 30 <= y.sum() < len(y) - 300
    delay_cols = ["within_5s", "within_10s", "within_30s", "within_60s"]
    delay_cols += ["median_delay", "q25_delay"]
    aucs = {}
    for c in [*delay_cols, "hour_entropy", "posts", "repost_share"]:
        a = roc_auc(y, acc[c].to_numpy().astype(float))
        aucs[c] = max(a, 1 - a)
    best_delay = max(aucs[c] for c in delay_cols)
    assert best_delay < 0.99, aucs
    assert 0.7 < best_delay  # still a strong signal
    assert max(aucs.values()) < 0.99, aucs
    # several behaviour features together still separate (in-sample logistic fit)
    X = np.column_stack(
        [
            acc["within_10s"],
            np.log1p(acc["median_delay"].to_numpy()),
            np.log1p(acc["posts"].to_numpy()),
            acc["hour_entropy"],
            acc["repost_share"],
        ]
    ).astype(float)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    coef, b = fit_logistic(Z, y.astype(float), l2=1.0)
    combined = roc_auc(y, Z @ coef + b)
    assert combined >= 0.95 and combined > best_delay + 0.01, (combined, aucs)


def test_bots_post_round_the_clock_and_more(world):
    def entropy(hours: pl.Series) -> float:
        counts = np.bincount(hours.to_numpy(), minlength=24)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log2(p)).sum())

    acc = (
        world["posts"]
        .group_by("account_id")
        .agg(
            pl.col("is_bot").first(), pl.len().alias("n"), pl.col("created_at").dt.hour().alias("h")
        )
    )
    acc = acc.filter(pl.col("n") >= 10).with_columns(
        pl.col("h").map_elements(entropy, return_dtype=pl.Float64).alias("H")
    )
    bots, humans = acc.filter(pl.col("is_bot")), acc.filter(~pl.col("is_bot"))
    assert bots["H"].median() > humans["H"].median() + 0.3
    assert bots["n"].median() > humans["n"].median()


def test_coordinated_groups_co_repost_within_seconds(world):
    posts, truth = world["posts"], world["truth"]
    groups = truth.filter(pl.col("coordination_group").is_not_null())
    sizes = groups.group_by("coordination_group").agg(pl.len(), pl.col("is_bot").sum())
    assert sizes.height == world["params"]["params"]["groups"] == 3
    mixed = sizes.filter((pl.col("is_bot") > 0) & (pl.col("is_bot") < pl.col("len")))
    assert mixed.height == 1  # one group mixes bots and human-looking accounts
    for (g,) in sizes.select("coordination_group").rows():
        members = set(groups.filter(pl.col("coordination_group") == g)["account_id"])
        ring = posts.filter(pl.col("account_id").is_in(members) & pl.col("parent_id").is_not_null())
        per_item = (
            ring.group_by("parent_id")
            .agg(
                pl.col("account_id"),
                (pl.col("created_at").max() - pl.col("created_at").min())
                .dt.total_seconds()
                .alias("spread"),
            )
            .filter(pl.col("account_id").list.len() >= len(members) // 2)
        )
        assert per_item.height >= 8
        assert per_item["spread"].max() <= 10
        shared = {pair: 0 for pair in combinations(sorted(members), 2)}
        for accounts in per_item["account_id"]:
            for pair in combinations(sorted(set(accounts)), 2):
                shared[pair] += 1
        assert min(shared.values()) >= 2  # every pair co-reposts >= 2 items within 60 s


def test_narrative_origins_come_first_and_variants_are_copies(world):
    narr = world["narratives"].join(
        world["posts"].select("post_id", "account_id", "created_at", "text", "urls"),
        on="post_id",
        how="left",
    )
    assert narr["created_at"].null_count() == 0  # every planted post is in the data
    first = narr.sort("created_at").group_by("narrative_id", maintain_order=True).first()
    assert (first["account_id"] == first["origin_account_id"]).all()
    kinds = first.group_by("kind").len().sort("kind")
    assert kinds["len"].to_list() == [6, 6]  # benign, misinfo
    for nid in first.filter(pl.col("kind") == "misinfo")["narrative_id"]:
        rows = narr.filter(pl.col("narrative_id") == nid)
        words = [set(t.lower().split()) for t in rows["text"]]
        overlap = [len(w & words[0]) / len(words[0]) for w in words[1:]]
        assert min(overlap) >= 0.6  # copy-paste with small edits
    urls = narr["urls"].drop_nulls()
    assert urls.str.contains("utm_source|fbclid").any()


def test_cascade_sizes_and_followers_are_heavy_tailed(world):
    c = world["params"]["counts"]
    small = c["cascades_size_1"] + c["cascades_size_2_10"]
    assert small / c["cascades"] >= 0.9
    assert c["cascade_size_max"] >= 50
    assert c["max_followers_in_graph"] >= 15 * c["median_followers_in_graph"]
    # the viral event: the largest cascade, hundreds of posts, not the world's budget
    (viral,) = c["viral_cascade_sizes"]
    assert viral == c["cascade_size_max"]
    assert 200 <= viral <= 2_000
    assert viral <= 0.15 * c["posts"]
    posts = world["posts"]
    sizes = posts.group_by(pl.coalesce("root_id", "post_id")).len()["len"]
    assert sizes.max() >= 200  # visible in the data itself (twitter/bluesky carry root_id)


def test_viral_events_scale_and_are_cut_within_budget(tmp_path):
    """Small worlds have none; a burst longer than its share of the batch is cut in time."""
    from spreadtrace.synth import SynthParams

    assert SynthParams.for_posts(5_000).viral_events == 0
    assert SynthParams.for_posts(5_000_000).viral_events == 2
    p = SynthParams.for_posts(20_000, seed=3, viral_max_share=0.01)
    r = generate(tmp_path, params=p)
    c = r.counts
    (viral,) = c["viral_cascade_sizes"]
    assert viral == int(0.01 * 20_000) and c["viral_posts_cut"] > 0
    posts = read_posts(tmp_path / "posts.csv.gz")
    assert posts.height == 20_000
    known = set(posts["post_id"])
    # the cut keeps every kept post's parent: no new dangling parents beyond the planted ones
    dangling = posts.filter(pl.col("parent_id").is_not_null() & ~pl.col("parent_id").is_in(known))
    assert dangling.height == c["posts_with_unseen_parent"]


def test_true_parents_of_flattened_reposts(world):
    """truth/parents.csv: the real parent behind every twitter parent_id = original."""
    posts = world["posts"]
    truth = pl.read_csv(world["out"] / "truth" / "parents.csv", infer_schema=False)
    assert truth.columns == ["post_id", "true_parent_id"]
    tw = posts.filter((pl.col("platform") == "twitter") & pl.col("parent_id").is_not_null())
    assert set(truth["post_id"]) == set(tw["post_id"])
    assert truth.height == world["params"]["counts"]["flattened_posts"]
    j = tw.join(truth, on="post_id").join(
        posts.select(
            pl.col("post_id").alias("true_parent_id"),
            pl.col("root_id").alias("tp_root"),
            pl.col("parent_id").alias("tp_parent"),
            pl.col("created_at").alias("tp_at"),
            pl.col("platform").alias("tp_platform"),
        ),
        on="true_parent_id",
        how="left",
    )
    direct = j.filter(pl.col("true_parent_id") == pl.col("root_id"))
    deeper = j.filter(pl.col("true_parent_id") != pl.col("root_id"))
    assert deeper.height == world["params"]["counts"]["flattened_posts_deeper"] > 100
    assert direct.height > 100
    # a deeper true parent is itself a reshare of the same original, made earlier
    assert deeper["tp_at"].null_count() == 0
    assert (deeper["tp_root"] == deeper["root_id"]).all()
    assert (deeper["tp_parent"] == deeper["root_id"]).all()
    assert (deeper["tp_at"] <= deeper["created_at"]).mean() > 0.99  # clock skew aside
    assert (deeper["tp_platform"] == "twitter").all()


def test_platforms_flat_and_explicit_parents(world):
    rep = world["posts"].filter(pl.col("parent_id").is_not_null())
    tw = rep.filter(pl.col("platform") == "twitter")
    assert (tw["parent_id"] == tw["root_id"]).all()
    bsky = rep.filter(pl.col("platform") == "bluesky")
    assert (bsky["parent_id"] != bsky["root_id"]).any()  # intermediate parents
    assert rep.filter(pl.col("platform") == "mastodon")["root_id"].null_count() > 0


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31), posts=st.integers(1, 2_500))
def test_any_size_gives_exactly_that_many_distinct_posts(tmp_path_factory, seed, posts):
    out = tmp_path_factory.mktemp("w")
    r = generate(out, seed=seed, posts=posts)
    df = read_posts(out / "posts.csv.gz")
    assert r.posts == df.height == df["post_id"].n_unique() == posts
    narr = pl.read_csv(out / "truth" / "narratives.csv", infer_schema=False)
    assert narr["post_id"].is_in(df["post_id"].implode()).all()


def test_sample_size():
    assert SAMPLE_POSTS == 30_000


def test_ingest_of_the_sample_reconciles_with_its_truth(file_store):
    """The contract with ingest: every planted malformed line is one reject, nothing else."""
    from spreadtrace.ingest import ingest_file

    counts = json.loads((SAMPLE / "truth" / "params.json").read_text())["counts"]
    r = ingest_file(file_store, SAMPLE / "posts.csv.gz")
    assert r.rows_read == counts["post_lines"]
    assert r.rows_inserted == counts["posts"]
    assert r.rows_duplicate == counts["duplicate_lines"]
    assert r.rows_rejected == counts["malformed_lines"]

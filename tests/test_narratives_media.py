"""A media group is narrative evidence (issue 13): the same picture joins unrelated cascades.

A planted world (several seeds): image stories -- one picture (PDQ hash, re-encoded
copies a few bits away) posted as fresh originals with unrelated texts and no link --
next to article stories whose roots all carry one stock picture. The image stories must
each be one narrative of kind ``media``; the stock picture, on far more roots than the
rare-evidence cap, must not merge the articles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spreadtrace.graph.narratives import group_narratives
from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store

SEEDS = (1, 2, 3)
_WORDS = [f"w{i}" for i in range(400)]
_T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _near(rng: np.random.Generator, pdq: str, bits: int) -> str:
    """The hash with ``bits`` random bits flipped (a re-encoded copy)."""
    value = int(pdq, 16)
    for b in rng.choice(256, size=bits, replace=False):
        value ^= 1 << int(b)
    return f"{value:064x}"


def media_world(
    seed: int, images: int = 6, articles: int = 20
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Posts and truth (post_id, story, kind, origin_account_id) of the planted world."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    truth: list[tuple[str, str, str, str]] = []

    def text() -> str:
        return " ".join(rng.choice(_WORDS, size=10))

    def post(pid, who, t, words, url, media, parent=None):
        rows.append(
            {
                "post_id": pid,
                "account_id": who,
                "created_at": (_T0 + timedelta(seconds=float(t))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "parent_id": parent,
                "kind": "repost" if parent else "original",
                "text": words,
                "urls": url,
                "media": media,
            }
        )
        for r in range(int(rng.integers(0, 4))):  # reposts carry no content of their own
            who_r = f"r{int(rng.integers(0, 300)):03d}"
            rows.append(
                {
                    "post_id": f"{pid}-r{r}",
                    "account_id": who_r,
                    "created_at": (
                        _T0 + timedelta(seconds=float(t + rng.uniform(60, 3600)))
                    ).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "parent_id": pid,
                    "kind": "repost",
                    "text": None,
                    "urls": None,
                    "media": None,
                }
            )

    accounts = iter(f"a{i:03d}" for i in rng.permutation(900))
    for k in range(images):
        pdq = "".join(rng.choice(list("0123456789abcdef"), size=64))
        t0 = float(rng.uniform(0, 86_400 * 3))
        origin = next(accounts)
        for j in range(int(rng.integers(3, 6))):
            who = origin if j == 0 else next(accounts)
            ref = f"pdq:{pdq if j == 0 else _near(rng, pdq, int(rng.integers(0, 12)))}"
            pid = f"img{k}-{j}"
            post(pid, who, t0 + (0 if j == 0 else rng.uniform(600, 86_400)), text(), None, ref)
            truth.append((pid, f"img{k}", "media", origin))
    stock = "".join(rng.choice(list("0123456789abcdef"), size=64))
    for k in range(articles):
        url = f"https://news{k % 4}.example/2024/{1000 + k}/story-{k}"
        t0 = float(rng.uniform(0, 86_400 * 3))
        origin = next(accounts)
        for j in range(3):
            who = origin if j == 0 else next(accounts)
            pid = f"art{k}-{j}"
            post(pid, who, t0 + (0 if j == 0 else rng.uniform(600, 86_400)), text(), url,
                 f"pdq:{stock}")  # fmt: skip
            truth.append((pid, f"art{k}", "article", origin))
    posts = pl.DataFrame(rows).with_columns(
        root_id=pl.col("parent_id"), hashtags=pl.lit(None, dtype=pl.String),
        lang=pl.lit("en"), platform=pl.lit("twitter"),
    )  # fmt: skip
    frame = pl.DataFrame(
        truth, schema=["post_id", "story", "kind", "origin_account_id"], orient="row"
    )
    return posts, frame


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, pl.DataFrame]]:
    out = {}
    for seed in SEEDS:
        d = Path(tmp_path_factory.mktemp(f"media{seed}"))
        posts, truth = media_world(seed)
        posts.write_csv(d / "posts.csv")
        with Store.open(d / "store.duckdb") as store:
            ingest_file(store, d / "posts.csv")
            run_build(store, full=True, publish=False)
            q = store.con.sql
            out[seed] = {
                "truth": truth,
                "found": truth.join(
                    q("SELECT post_id, narrative_id FROM post_narratives").pl(),
                    on="post_id",
                    how="left",
                ),
                "narratives": q("SELECT narrative_id, kind, label FROM narratives").pl(),
                "top": q("SELECT narrative_id, account_id FROM origin_scores WHERE rank = 1").pl(),
            }
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_the_same_picture_joins_unrelated_cascades_into_one_media_narrative(built, seed) -> None:
    world = built[seed]
    img = world["found"].filter(pl.col("kind") == "media")
    per_story = img.group_by("story").agg(
        found=pl.col("narrative_id").n_unique(), missing=pl.col("narrative_id").null_count()
    )
    assert per_story["found"].to_list() == [1] * 6
    assert per_story["missing"].to_list() == [0] * 6
    stories = img.unique("story")
    assert stories["narrative_id"].n_unique() == 6  # and no two pictures share one
    narr = stories.join(world["narratives"], on="narrative_id")
    assert narr["kind"].to_list() == ["media"] * 6
    assert narr["label"].str.starts_with("[media] ").all()
    ranked = stories.join(world["top"], on="narrative_id")
    assert (ranked["account_id"] == ranked["origin_account_id"]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_a_stock_picture_on_many_stories_merges_nothing(built, seed) -> None:
    arts = built[seed]["found"].filter(pl.col("kind") == "article")
    per_story = arts.group_by("story").agg(found=pl.col("narrative_id").n_unique())
    assert per_story["found"].to_list() == [1] * 20
    # 20 articles on 60 roots all carrying the stock picture: still 20 narratives
    assert arts.unique("story")["narrative_id"].n_unique() == 20
    assert arts["narrative_id"].null_count() == 0


def test_media_ties_follow_the_article_rule() -> None:
    # m1 on roots a, b (unrelated texts): one narrative via media. c carries article x
    # and picture m1 once: one root is no tie, so c stays with its article (d has x too).
    roots = pl.DataFrame(
        {
            "cascade_id": ["a", "b", "c", "d"],
            "created_at": [1, 2, 3, 4],
            "text": ["one two three four", "five six seven eight", "nine ten", "eleven"],
            "urls": [[], [], ["https://x.org/1"], ["https://x.org/1"]],
            "hashtags": [[], [], [], []],
            "size": [2, 2, 2, 2],
        }
    )
    media = pl.DataFrame(
        {"cascade_id": ["a", "b", "c"], "item_id": ["media:m1"] * 3, "label": ["flood"] * 3}
    )
    g = group_narratives(roots, media=media)
    narrative = dict(zip(g.cascades["cascade_id"], g.cascades["narrative_id"], strict=True))
    via = dict(zip(g.cascades["cascade_id"], g.cascades["via"], strict=True))
    assert narrative["a"] == narrative["b"] == "n-a" and via["b"] == "media"
    assert narrative["c"] == narrative["d"] == "n-c" and via["c"] == "url"
    assert g.narratives.rows() == [("n-a", "[media] flood", "media"), ("n-c", "x.org/1", "url")]
    # the same picture on more roots than the cap is no evidence: a and b fall apart
    g = group_narratives(roots, media=media, hashtag_max_roots=2, hashtag_max_share=0.0)
    narrative = dict(zip(g.cascades["cascade_id"], g.cascades["narrative_id"], strict=True))
    assert narrative["a"] != narrative["b"]

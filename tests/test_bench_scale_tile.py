"""`bench scale --real=FILE --tile=N`: N disjoint copies of real posts, split by time.

The tiled store stands in for issue 12's 1.28M real-world-shaped store, so its copies
must never join (a shared URL, text, hashtag, media hash, account or parent would merge
copies into items, narratives or cascades N times the real size) while each copy keeps
the real structure: the same parents, the same near-duplicate texts, the same media
distances.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from bench.bench_scale import _real_split, tile
from spreadtrace.graph.narratives import normalize_text_expr
from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.urls import url_key_expr
from tests.conftest import shared_file

# A reply thread, a quote and a copy-paste twin of the root's text, with links, a
# mention, hashtags, a platform media id and an image hash; the last post is 10 days
# after the first (the span that copy i is shifted by, times i, plus one second).
POSTS = """post_id,account_id,created_at,parent_id,kind,text,urls,hashtags,media
1,a,2024-01-01T00:00:00Z,,original,The plane CRASHED in the Alps https://t.co/x #Crash,https://ex.com/a?b=1#top,Crash,m1
2,b,2024-01-01T01:00:00Z,1,reply,@a sad news indeed,,,phash:00ff00ff00ff00f0
3,c,2024-01-02T00:00:00Z,2,reply,@b where did it crash,www.ex.com/b,,
4,d,2024-01-05T00:00:00Z,,original,the plane crashed in the alps!! #crash,url-23678,crash,phash:00ff00ff00ff00ff
5,a,2024-01-11T00:00:00Z,4,quote,RT @d: the plane crashed in the alps #CRASH,,,
"""
ACCOUNTS = """account_id,handle,followers_count,created_at,observed_at
a,alice,10,2010-01-01T00:00:00Z,2024-01-02T00:00:00Z
b,bob,20,2011-01-01T00:00:00Z,2024-01-02T00:00:00Z
"""
SPAN_S = 10 * 86400 + 1
COPIES = 3


@pytest.fixture
def tiled(tmp_path: Path, mem_store: Store) -> duckdb.DuckDBPyConnection:
    (tmp_path / "posts.csv").write_text(POSTS)
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    ingest_file(mem_store, tmp_path / "posts.csv", format="posts")
    ingest_file(mem_store, tmp_path / "accounts.csv", format="accounts")
    assert tile(mem_store.con, COPIES) == SPAN_S
    return mem_store.con


def _copy(post_id: str) -> int:
    return int(post_id.rsplit("-t", 1)[1])


def test_tile_makes_disjoint_copies_of_every_row(tiled: duckdb.DuckDBPyConnection) -> None:
    posts = tiled.sql("SELECT * FROM _split_posts").pl()
    accounts = tiled.sql("SELECT * FROM _split_accounts").pl()
    assert (posts.height, accounts.height) == (5 * COPIES, 2 * COPIES)
    assert posts["post_id"].n_unique() == posts.height
    assert accounts["account_id"].n_unique() == accounts.height
    assert accounts["handle"].n_unique() == accounts.height
    # every parent and every author is in the post's own copy
    by_id = dict(zip(posts["post_id"], posts["account_id"], strict=True))
    for post_id, parent_id, account_id in posts.select("post_id", "parent_id", "account_id").rows():
        assert _copy(account_id) == _copy(post_id)
        if parent_id is not None:
            assert parent_id in by_id and _copy(parent_id) == _copy(post_id)
    # copy i follows copy i - 1: shifted by i x the span, in order, never overlapping
    times = posts.with_columns(copy=pl.col("post_id").map_elements(_copy, return_dtype=pl.Int64))
    spans = times.group_by("copy").agg(lo=pl.col("created_at").min(), hi=pl.col("created_at").max())
    spans = spans.sort("copy")
    assert (spans["lo"][1:].to_numpy() > spans["hi"][:-1].to_numpy()).all()
    assert (spans["lo"].diff().drop_nulls().dt.total_seconds() == SPAN_S).all()


def test_copies_share_no_item_and_keep_their_structure(tiled: duckdb.DuckDBPyConnection) -> None:
    posts = tiled.sql("SELECT * FROM _split_posts").pl()
    posts = posts.with_columns(
        copy=pl.col("post_id").map_elements(_copy, return_dtype=pl.Int64),
        norm=normalize_text_expr(pl.col("text")),
    )
    urls = posts.explode("urls").with_columns(key=url_key_expr(pl.col("urls")))
    media = posts.explode("media").drop_nulls("media")
    tags = posts.explode("hashtags").drop_nulls("hashtags")
    for frame, col in ((urls.drop_nulls("key"), "key"), (media, "media"), (tags, "hashtags")):
        owners = frame.group_by(col).agg(pl.col("copy").n_unique())
        assert (owners["copy"] == 1).all(), col  # no link, hash or hashtag in two copies
        # and every copy has as many as the real rows (3 links, 3 media, 2 hashtags)
        assert frame.group_by("copy").len()["len"].n_unique() == 1
    assert urls.drop_nulls("key").filter(pl.col("copy") == 0).height == 3
    words = posts.select("copy", w=pl.col("norm").str.split(" ")).explode("w")
    assert (words.group_by("w").agg(pl.col("copy").n_unique())["copy"] == 1).all()
    # inside a copy the root and its copy-paste twin (and the quote) still normalise alike
    for c in range(COPIES):
        norms = posts.filter(pl.col("copy") == c).sort("created_at")["norm"].to_list()
        assert norms[0] == norms[3] == norms[4] != norms[1]
    # the two image hashes are 4 bits apart in every copy, and ~half their bits away
    # from their twins in the other copies
    hashes = [
        [
            int(m.split(":")[1], 16)
            for m in media.filter(pl.col("copy") == c)["media"]
            if m.startswith("phash:")
        ]
        for c in range(COPIES)
    ]
    for a, b in hashes:
        assert (a ^ b).bit_count() == 4
    assert min((x ^ y).bit_count() for x, y in zip(hashes[0], hashes[1], strict=True)) > 8


def test_real_split_holds_out_the_newest_share_of_the_tiled_posts(tmp_path: Path) -> None:
    (tmp_path / "posts.csv").write_text(POSTS)
    db, new, total = _real_split(str(tmp_path / "posts.csv"), "", 0.2, tmp_path, COPIES)
    assert total == 5 * COPIES
    held = duckdb.sql(f"SELECT post_id, created_at FROM '{new}'").pl()  # noqa: S608 (our path)
    # the posts at or after the 0.8 quantile of 15 times (quantile_disc: the 12th time,
    # post 2 of the last copy): the last copy's last four, all after the stored ones
    assert sorted(held["post_id"]) == ["2-t2", "3-t2", "4-t2", "5-t2"]
    with Store.open(db) as store:
        stored = store.con.execute("SELECT count(*), max(created_at) FROM posts").fetchone()
    assert stored[0] == total - held.height
    assert stored[1] < held["created_at"].min()


@pytest.mark.slow
def test_tiled_pheme_builds_n_disjoint_copies_of_one(tmp_path: Path) -> None:
    # The build is the judge of disjointness: on real threads (replies, links, media,
    # profiles), no cascade, item or narrative of two copies holds posts of both, and
    # the copies give twice one copy's cascades, link/hashtag/media items, media groups
    # and accounts. Text items only nearly: MinHash hashes the tagged words anew, so a
    # pair near the similarity threshold may fall on the other side (1 of 460 here).
    src = shared_file("pheme-germanwings/tweets.jsonl.gz")
    counts = []
    for copies in (1, 2):
        root = tmp_path / f"x{copies}"
        root.mkdir()
        db, new, _total = _real_split(str(src), "", 0.0, root, copies)
        with Store.open(db) as store:
            ingest_file(store, new, format="posts")
            run_build(store, full=True, publish=False)
            con = store.con
            counts.append(
                con.execute(
                    "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM cascades), "
                    "(SELECT count(*) FROM items WHERE NOT starts_with(item_id, 'text:')), "
                    "(SELECT count(*) FROM media_groups), (SELECT count(*) FROM account_scores), "
                    "(SELECT max(size) FROM cascades), "
                    "(SELECT count(*) FROM items WHERE starts_with(item_id, 'text:'))"
                ).fetchone()
            )
            if copies == 2:
                for table, key in (
                    ("post_cascades", "cascade_id"),
                    ("post_items", "item_id"),
                    ("post_narratives", "narrative_id"),
                ):
                    mixed = con.execute(
                        f"SELECT count(*) FROM (SELECT {key} FROM {table} "
                        "GROUP BY ALL HAVING count(DISTINCT right(post_id, 3)) > 1)"
                    ).fetchone()[0]
                    assert mixed == 0, table
                assert con.execute("SELECT count(*) FROM post_narratives").fetchone()[0] > 0
    one, two = counts
    assert one[0] == 4489 and two[0] == 2 * one[0]
    assert two[1:5] == tuple(2 * x for x in one[1:5])
    assert two[5] == one[5]  # the largest cascade is a real thread, not merged copies
    assert abs(two[6] - 2 * one[6]) <= 0.01 * one[6]

"""Media end to end: the media column and file kind, readers, `media hash`, groups,
provenance (first appearance, reuse out of context), co-sharing, media.csv, migration."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from spreadtrace.cli import main
from spreadtrace.ingest import ingest_file
from spreadtrace.ingest.bluesky import read_jetstream
from spreadtrace.ingest.twitter import read_v1
from spreadtrace.media import hash_media
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import SCHEMA_VERSION, Store, migrate
from spreadtrace.store.schema import MIGRATIONS
from tests import _media_helpers as draw
from tests.conftest import shared_file

PDQ_A = "f" * 64
PDQ_A_NEAR = "0" * 7 + "f" * 57  # 28 bits away from PDQ_A
PDQ_FAR = "0" * 64


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- input --------------------------------------------------------------------------------


def test_media_column_is_a_list_of_references_and_bad_hashes_are_rejected(mem_store, tmp_path):
    f = _write(
        tmp_path / "posts.csv",
        "post_id,account_id,created_at,media\n"
        f"1,a,2024-01-01T00:00:00Z,photo1 PDQ:{PDQ_A.upper()}\n"
        "2,b,2024-01-01T00:01:00Z,phash:ABC123  sha256:" + "0" * 64 + "\n"
        "3,c,2024-01-01T00:02:00Z,pdq:1234\n"
        "4,d,2024-01-01T00:03:00Z,\n",
    )
    r = ingest_file(mem_store, f)
    assert (r.rows_read, r.rows_inserted, r.rows_rejected) == (4, 3, 1)
    rows = dict(mem_store.con.execute("SELECT post_id, media FROM posts").fetchall())
    assert rows == {
        "1": ["photo1", f"pdq:{PDQ_A}"],  # the hash form is lower-cased, ids are kept
        "2": ["phash:abc123", "sha256:" + "0" * 64],
        "4": None,
    }
    (reason,) = mem_store.con.execute("SELECT reason FROM rejects").fetchone()
    assert reason.startswith("malformed media reference")


def test_media_file_kind_validates_and_fills_like_posts(mem_store, tmp_path):
    f = _write(
        tmp_path / "media.csv",
        "media_id,kind,url,sha256,pdq,pdq_quality,width,height\n"
        f"m1,image,https://x/1.jpg,,{PDQ_A},90,640,480\n"
        "m2,sticker,,,,,,\n"
        "m3,video,,,nothex,,,\n"
        "m4,image,,,,101,,\n"
        f"m1,IMAGE,,{'a' * 64},,,,\n",
    )
    r = ingest_file(mem_store, f)
    assert r.format == "media"
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (5, 1, 1, 3)
    row = mem_store.con.execute("SELECT kind, url, sha256, pdq, pdq_quality FROM media").fetchone()
    assert row == ("image", "https://x/1.jpg", "a" * 64, PDQ_A, 90)  # sha256 from the 2nd copy
    reasons = sorted(r[0] for r in mem_store.con.execute("SELECT reason FROM rejects").fetchall())
    assert reasons == [
        "pdq is not 64 hex digits",
        "pdq_quality is not an integer in 0..100",
        "unknown media kind (image, video, gif)",
    ]


def test_twitter_v1_extended_entities_become_media():
    tweet = {
        "id_str": "10",
        "created_at": "Tue Mar 24 10:37:41 +0000 2015",
        "text": "look",
        "user": {"id_str": "u1", "screen_name": "a"},
        "extended_entities": {
            "media": [
                {"id_str": "111", "type": "photo", "media_url_https": "https://p/1.jpg"},
                {
                    "id_str": "112",
                    "type": "video",
                    "media_url_https": "https://p/thumb.jpg",
                    "video_info": {
                        "duration_millis": 5300,
                        "variants": [
                            {"content_type": "video/mp4", "bitrate": 256, "url": "https://v/lo"},
                            {"content_type": "video/mp4", "bitrate": 832, "url": "https://v/hi"},
                            {"content_type": "application/x-mpegURL", "url": "https://v/m3u8"},
                        ],
                    },
                },
            ]
        },
    }
    rows = read_v1(tweet)
    post = next(r for k, r, _ in rows if k == "posts")
    assert post["media"] == "111 112"
    media = [r for k, r, _ in rows if k == "media"]
    assert [(m["media_id"], m["kind"], m["url"], m["duration_s"]) for m in media] == [
        ("111", "image", "https://p/1.jpg", None),
        ("112", "video", "https://v/hi", "5.3"),
    ]


def test_twitter_v2_media_from_real_files(mem_store):
    path = shared_file("twitter-v2/media_tweet.jsonl.gz")
    r = ingest_file(mem_store, path)
    assert r.rows_rejected == 0 and r.media_read >= 1
    post, refs = mem_store.con.execute(
        "SELECT post_id, media FROM posts WHERE post_id = '1558553189766631429'"
    ).fetchone()
    assert refs == ["7_1558552952549277696"]
    kind, url, width, duration = mem_store.con.execute(
        "SELECT kind, url, width, duration_s FROM media WHERE media_id = ?", [refs[0]]
    ).fetchone()
    # the best mp4 variant (2,176 kbit/s), 1280 wide, 71.292 s
    assert (kind, width, duration) == ("video", 1280, 71.292)
    assert url.endswith("1280x720/WiZrNZKT2lMzK5zA.mp4?tag=12")


def test_twitter_v2_withheld_pages_keep_every_included_photo(mem_store):
    r = ingest_file(mem_store, shared_file("twitter-v2/withheld.jsonl.gz"))
    n_media, n_refs, unreferenced = mem_store.con.execute(
        "SELECT (SELECT count(*) FROM media), "
        "(SELECT count(DISTINCT m) FROM (SELECT unnest(media) AS m FROM posts)), "
        "(SELECT count(*) FROM media WHERE media_id NOT IN "
        " (SELECT unnest(media) FROM posts WHERE media IS NOT NULL))"
    ).fetchone()
    assert r.rows_rejected == 0 and n_media == r.media_inserted > 0
    # every included media row is some post's reference; pages include only some of
    # the media their tweets refer to (the others stay references of their own)
    assert unreferenced == 0 and n_refs > n_media


def _bsky_post(rkey: str, embed: dict) -> dict:
    return {
        "did": "did:plc:a",
        "time_us": 1725911162329308,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": {"createdAt": "2024-09-09T19:46:02Z", "text": "x", "embed": embed},
        },
    }


def _blob(cid: str, mime: str) -> dict:
    return {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": 1}


def test_bluesky_images_video_and_record_with_media_keep_blob_cids():
    images = {
        "$type": "app.bsky.embed.images",
        "images": [
            {"image": _blob("bafyA", "image/jpeg"), "alt": ""},
            {"image": _blob("bafyG", "image/gif"), "alt": ""},
        ],
    }
    video = {"$type": "app.bsky.embed.video", "video": {"ref": {"$link": "bafyV"}}}  # no mime
    quote = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"record": {"uri": "at://did:plc:b/app.bsky.feed.post/q"}},
        "media": {
            "$type": "app.bsky.embed.images",
            "images": [{"image": _blob("bafyA", "image/jpeg")}],
        },
    }
    got = {}
    for rkey, embed in (("i", images), ("v", video), ("q", quote)):
        rows = read_jetstream(_bsky_post(rkey, embed))
        post = rows[0][1]
        got[rkey] = (
            post["kind"],
            post["media"],
            [(r["media_id"], r["kind"]) for _, r, _ in rows[1:]],
        )
    assert got == {
        "i": ("original", "bafyA bafyG", [("bafyA", "image"), ("bafyG", "gif")]),
        "v": ("original", "bafyV", [("bafyV", "video")]),
        "q": ("quote", "bafyA", [("bafyA", "image")]),  # same bytes, same CID, same media
    }


def test_v1_store_migrates_and_keeps_its_posts():
    con = duckdb.connect()
    migrate(con, 0, 1)
    con.execute(
        "INSERT INTO posts VALUES ('p', 'a', now(), NULL, 'original', NULL, 't', NULL, NULL, "
        "NULL, 'x', 1)"
    )
    migrate(con, 1, SCHEMA_VERSION, MIGRATIONS)
    assert con.execute("SELECT post_id, media FROM posts").fetchall() == [("p", None)]
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert {"media", "media_matches", "post_media", "media_groups"} <= tables


# --- media hash --------------------------------------------------------------------------


def test_media_hash_counts_reconcile_and_rejects_say_why(mem_store, tmp_path):
    draw.scene(1).save(tmp_path / "a.png")
    draw.scene(2).save(tmp_path / "b.jpg")
    (tmp_path / "sub").mkdir()
    draw.scene(3).save(tmp_path / "sub" / "c.webp")
    _write(tmp_path / "notes.txt", "hello")
    _write(tmp_path / "broken.jpg", "not a jpeg at all")
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())  # same id as b.jpg
    r = hash_media(mem_store, [tmp_path, tmp_path / "missing.png"])
    assert r.files == 7
    assert (r.inserted, r.duplicate, r.rejected) == (3, 1, 3)
    assert r.files == r.inserted + r.duplicate + r.rejected
    assert r.reject_reasons == {
        "no such file": 1,
        "not a readable image (UnidentifiedImageError)": 1,
        "not an image or video (.txt)": 1,
    }
    run = mem_store.con.execute(
        "SELECT format, rows_read, rows_inserted, rows_duplicate, rows_rejected FROM ingest_runs"
    ).fetchone()
    assert run == ("media-files", 7, 3, 1, 3)
    rows = mem_store.con.execute(
        "SELECT media_id, kind, length(sha256), length(pdq), pdq_quality >= 50, width, "
        "local_path IS NOT NULL FROM media ORDER BY media_id"
    ).fetchall()
    assert rows == [
        ("a", "image", 64, 64, True, 640, True),
        ("b", "image", 64, 64, True, 640, True),
        ("c", "image", 64, 64, True, 640, True),
    ]


def test_media_hash_mapping_names_the_ids(mem_store, tmp_path):
    draw.scene(1).save(tmp_path / "IMG_0001.png")
    mapping = _write(tmp_path / "ids.csv", "path,media_id\nIMG_0001.png,3_1499\n")
    from spreadtrace.media import read_mapping

    r = hash_media(mem_store, [tmp_path / "IMG_0001.png"], mapping=read_mapping(mapping))
    assert r.inserted == 1
    assert mem_store.con.execute("SELECT media_id FROM media").fetchall() == [("3_1499",)]


# --- groups and provenance ------------------------------------------------------------------


def _posts(store: Store, rows: list[tuple]) -> None:
    store.con.executemany(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, urls, platform, media, "
        "ingest_run_id) VALUES (?, ?, ?::TIMESTAMPTZ, 'original', ?, ?, ?, ?, 1)",
        rows,
    )


def test_hash_references_match_by_distance_bytes_and_identity(mem_store):
    sha = "b" * 64
    mem_store.con.execute(
        "INSERT INTO media (media_id, kind, sha256, pdq, pdq_quality, ingest_run_id) "
        "VALUES ('file1', 'image', ?, ?, 100, 1)",
        [sha, PDQ_FAR],
    )
    _posts(
        mem_store,
        [
            ("1", "a", "2024-01-01", "t", None, "twitter", [f"pdq:{PDQ_A}"]),
            ("2", "b", "2024-01-02", "t", None, "facebook", [f"pdq:{PDQ_A_NEAR}"]),
            ("3", "c", "2024-01-03", "t", None, "twitter", [f"sha256:{sha}"]),
            ("4", "d", "2024-01-04", "t", None, "twitter", ["file1"]),
            ("5", "e", "2024-01-05", "t", None, "facebook", ["phash:abc"]),
            ("6", "f", "2024-01-06", "t", None, "twitter", ["phash:abc"]),
            ("7", "g", "2024-01-07", "t", None, "twitter", ["phash:abd"]),
        ],
    )
    run_build(mem_store, publish=False)
    groups = mem_store.con.execute(
        "SELECT media_ids, first_post_id, posts, platforms FROM media_groups ORDER BY first_post_id"
    ).fetchall()
    assert groups == [
        ([f"pdq:{PDQ_A_NEAR}", f"pdq:{PDQ_A}"], "1", 2, ["facebook", "twitter"]),  # 28 bits
        (["file1", f"sha256:{sha}"], "3", 2, ["twitter"]),  # same bytes
        (["phash:abc"], "5", 2, ["facebook", "twitter"]),  # same precomputed hash
        (["phash:abd"], "7", 1, ["twitter"]),
    ]


def test_reuse_after_a_gap_with_new_words_is_an_out_of_context_candidate(mem_store):
    pic = [f"pdq:{PDQ_A}"]
    _posts(
        mem_store,
        [
            ("1", "a", "2023-01-01", "Flood in Valencia", ["https://news/1"], "twitter", pic),
            ("2", "b", "2023-01-02", "flood in valencia ", ["https://news/1"], "twitter", pic),
            # 40 days later, same words and link: a reuse, but not out of context
            ("3", "c", "2023-02-11", "Flood in Valencia", ["https://news/1"], "twitter", pic),
            # 100 days after that, new words: the out-of-context candidate
            ("4", "d", "2023-05-22", "Migrants riot tonight", None, "facebook", pic),
            ("5", "e", "2023-05-23", "Migrants riot tonight", None, "facebook", pic),
        ],
    )
    run_build(mem_store, publish=False)
    flags = mem_store.con.execute(
        "SELECT post_id, round(reuse_gap_days), out_of_context FROM post_media ORDER BY post_id"
    ).fetchall()
    assert flags == [
        ("1", None, False),
        ("2", None, False),
        ("3", 40.0, False),
        ("4", 100.0, True),
        ("5", None, False),  # one day after the reuse: no gap
    ]
    g = mem_store.con.execute(
        "SELECT first_account_id, reused_after_days, reuses, out_of_context, accounts "
        "FROM media_groups"
    ).fetchone()
    assert g == ("a", 100.0, 2, 1, 5)


def test_media_groups_read_as_generic_items(mem_store):
    from spreadtrace.store.media import ITEM_POSTS_SQL, ITEMS_SQL

    _posts(
        mem_store,
        [
            ("1", "a", "2024-01-01", "first", None, "twitter", [f"pdq:{PDQ_A}"]),
            ("2", "b", "2024-01-02", "second", None, "twitter", [f"pdq:{PDQ_A_NEAR}"]),
        ],
    )
    run_build(mem_store, publish=False)
    item = mem_store.con.execute(ITEMS_SQL).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4], r[6], r[7]) for r in item] == [
        (f"media:pdq:{PDQ_A_NEAR}", "media", "first", "1", "a", 2, 2)
    ]
    assert sorted(mem_store.con.execute(ITEM_POSTS_SQL).fetchall()) == [
        ("1", f"media:pdq:{PDQ_A_NEAR}"),
        ("2", f"media:pdq:{PDQ_A_NEAR}"),
    ]


def test_reuse_gap_is_configurable(mem_store):
    from spreadtrace.pipeline.build import BuildParams
    from spreadtrace.pipeline.media import MediaParams

    pic = [f"pdq:{PDQ_A}"]
    _posts(
        mem_store,
        [
            ("1", "a", "2023-01-01", "x", None, "twitter", pic),
            ("2", "b", "2023-01-11", "y", None, "twitter", pic),
        ],
    )
    run_build(mem_store, publish=False, params=BuildParams(media=MediaParams(reuse_gap_days=7)))
    assert mem_store.con.execute("SELECT out_of_context, reuses FROM media_groups").fetchone() == (
        1,
        1,
    )


def test_co_sharing_the_same_image_counts_as_coordination(mem_store):
    # Two accounts post copies of the same three pictures (different hashes within the
    # threshold, never reposts) within seconds of each other; a third posts them alone.
    rows = []
    for i, base in enumerate(("1" * 64, "2" * 64, "3" * 64)):
        near = "0" + base[1:]  # a few bits away
        day = f"2024-03-0{i + 1}T10:00:"
        rows += [
            (f"a{i}", "acct_a", day + "00Z", "look", None, "twitter", [f"pdq:{base}"]),
            (f"b{i}", "acct_b", day + "20Z", "wow", None, "facebook", [f"pdq:{near}"]),
            (
                f"c{i}",
                "acct_c",
                f"2024-04-0{i + 1}T10:00:00Z",
                "hm",
                None,
                "twitter",
                [f"pdq:{base}"],
            ),
        ]
    _posts(mem_store, rows)
    run_build(mem_store, publish=False)
    pairs = mem_store.con.execute(
        "SELECT account_a, account_b, shared_items FROM coordination_pairs"
    ).fetchall()
    assert pairs == [("acct_a", "acct_b", 3)]
    shares = mem_store.con.execute(
        "SELECT round(coordinated_share, 3) FROM media_groups ORDER BY media_group_id"
    ).fetchall()
    # acct_a and acct_b form the cluster: 2 of each group's 3 posts
    assert shares == [(0.667,)] * 3


# --- end to end through the command line ---------------------------------------------------


def test_media_hash_ingest_build_report_groups_every_copy_with_its_first_poster(runner, tmp_path):
    db = str(tmp_path / "work.duckdb")
    pics = tmp_path / "downloads"
    pics.mkdir()
    copies: dict[str, list[str]] = {}
    for s in range(3):
        im = draw.scene(s)
        im.save(pics / f"orig{s}.png")
        draw.resized(im, 0.5).save(pics / f"small{s}.png")
        draw.jpeg(im, pics / f"lowq{s}.jpg", 15)
        draw.captioned(im).save(pics / f"caption{s}.png")
        draw.brightened(im, 1.2).save(pics / f"bright{s}.png")
        copies[f"orig{s}"] = [f"small{s}", f"lowq{s}", f"caption{s}", f"bright{s}"]
    draw.scene(99).save(pics / "unrelated.png")
    (pics / "readme.txt").write_text("not media")

    result = runner.invoke(main, ["--db", db, "media", "hash", "--json", str(pics)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["files"], summary["inserted"], summary["rejected"]) == (17, 16, 1)

    lines = ["post_id,account_id,created_at,text,platform,media"]
    for s in range(3):
        lines.append(f"o{s},first{s},2024-05-0{s + 1}T08:00:00Z,original {s},twitter,orig{s}")
        for j, copy in enumerate(copies[f"orig{s}"]):
            platform = "facebook" if j % 2 else "twitter"
            lines.append(f"c{s}{j},reposter{j},2024-05-0{s + 1}T1{j}:00:00Z,copy,{platform},{copy}")
    lines.append("u1,someone,2024-05-09T08:00:00Z,other,twitter,unrelated")
    posts = _write(tmp_path / "posts.csv", "\n".join(lines) + "\n")
    assert runner.invoke(main, ["--db", db, "ingest", str(posts)]).exit_code == 0
    assert runner.invoke(main, ["--db", db, "build"]).exit_code == 0
    out = tmp_path / "reports"
    assert runner.invoke(main, ["--db", db, "report", "--out", str(out)]).exit_code == 0, (
        "report failed"
    )
    rows = {r["media_group_id"]: r for r in _csv(out / "latest" / "media.csv")}
    assert set(rows) == {"bright0", "bright1", "bright2", "unrelated"}
    for s in range(3):
        row = rows[f"bright{s}"]  # the group's id is its smallest media id
        assert sorted(row["media_ids"].split()) == sorted([f"orig{s}", *copies[f"orig{s}"]])
        assert (row["first_post_id"], row["first_account_id"]) == (f"o{s}", f"first{s}")
        assert (row["posts"], row["accounts"], row["platforms"]) == ("5", "5", "facebook twitter")
        assert row["first_at"].startswith(f"2024-05-0{s + 1}T08:00:00")
        assert row["reused_after_days"] == ""
    assert rows["unrelated"]["media_ids"] == "unrelated"


@pytest.mark.slow
def test_german_elections_phash_ids_become_media_groups(mem_store, tmp_path):
    """The real cross-platform file: phash_id per row, one row per item of a post, so
    the posts are grouped by post_id when written as a canonical posts file."""
    src = shared_file("coordination/german_elections.csv.gz")
    posts = tmp_path / "posts.csv"
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
          SELECT post_id, any_value(account_id) AS account_id,
                 strftime(to_timestamp(min(timestamp)), '%Y-%m-%dT%H:%M:%SZ') AS created_at,
                 CASE WHEN any_value(account_id) LIKE 'fb_%' THEN 'facebook' ELSE 'twitter' END
                   AS platform,
                 nullif(string_agg(DISTINCT 'phash:' || lower(phash_id::VARCHAR), ' '), '') AS media
          FROM read_csv('{src}')
          WHERE post_id IS NOT NULL
          GROUP BY post_id
        ) TO '{posts}' (HEADER)
        """
    )
    r = ingest_file(mem_store, posts)
    assert r.rows_rejected == 0
    counts = run_build(mem_store, publish=False).counts["media"]
    n_hashes = con.execute(
        f"SELECT count(DISTINCT phash_id) FROM read_csv('{src}') WHERE phash_id IS NOT NULL"
    ).fetchone()[0]
    assert counts["media_groups"] == n_hashes  # identity: one group per distinct phash_id
    cross = mem_store.con.execute(
        "SELECT count(*) FROM media_groups WHERE len(platforms) = 2"
    ).fetchone()[0]
    assert cross > 0  # the same images on Facebook and Twitter

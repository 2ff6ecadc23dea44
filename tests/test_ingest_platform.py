"""Platform readers: Twitter v1.1 (twarc 1), Twitter v2 (twarc2 pages), Bluesky Jetstream.

Fixtures in tests/data/ingest were written by hand from the public format docs; the
expected rows are worked out next to each assert. The real PHEME file must ingest with
zero rejects.
"""

from __future__ import annotations

import gzip
import shutil

import pytest

from spreadtrace.errors import InputError
from spreadtrace.ingest import detect, ingest_file
from tests.conftest import TEST_DATA, shared_file

DATA = TEST_DATA / "ingest"


def _posts(store):
    return store.con.execute(
        "SELECT post_id, account_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), parent_id, "
        "kind, root_id FROM posts ORDER BY post_id"
    ).fetchall()


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("twitter_v1.jsonl", "twitter-v1"),
        ("twitter_v2.jsonl", "twitter-v2"),
        ("bluesky.jsonl", "bluesky"),
    ],
)
def test_detection(name, fmt):
    assert detect(DATA / name).format == fmt


def test_twitter_v1(mem_store):
    r = ingest_file(mem_store, DATA / "twitter_v1.jsonl")
    # 7 lines. Posts: 1001 (line 1), 1002 + embedded 1001 (line 2), 1003 + embedded 1001
    # (line 3), 1004 (line 4), 1005 (line 7, bad time) = 7 post records + 1 broken line.
    # inserted 1001..1004; the two embedded 1001 copies are duplicates; line 6 (broken
    # JSON) and 1005 (created_at '24/03/2015 10:55') rejected. Line 5 (delete) skipped.
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (8, 4, 2, 2)
    assert r.rows_skipped == 1
    assert _posts(mem_store) == [
        ("1001", "111", "2015-03-24T10:37:41Z", None, "original", None),
        ("1002", "222", "2015-03-24T10:40:00Z", "1001", "repost", None),
        ("1003", "333", "2015-03-24T10:45:00Z", "1001", "quote", None),
        ("1004", "333", "2015-03-24T10:50:00Z", "1001", "reply", None),
    ]
    # truncated tweet: the extended full_text wins; entities come through
    assert mem_store.con.execute("SELECT text FROM posts WHERE post_id = '1004'").fetchone() == (
        "@annalert source? which flight was it",
    )
    assert mem_store.con.execute(
        "SELECT urls, hashtags FROM posts WHERE post_id = '1001'"
    ).fetchone() == (["https://news.example/alps"], ["germanwings"])
    # Account snapshots, observed at the line's tweet time: 111 at 10:37:41 (line 1),
    # 10:40 (line 2, embedded, 5100 followers), 10:45 (line 3, embedded, 5000); 222 at
    # 10:40; 333 at 10:45 and 10:50. Line 7's user has an unparseable time: rejected.
    assert (r.accounts_read, r.accounts_inserted, r.accounts_rejected) == (7, 6, 1)
    snaps = mem_store.con.execute(
        "SELECT strftime(observed_at, '%H:%M:%S'), followers_count FROM account_snapshots "
        "WHERE account_id = '111' ORDER BY observed_at"
    ).fetchall()
    assert snaps == [("10:37:41", 5000), ("10:40:00", 5100), ("10:45:00", 5000)]
    latest = mem_store.con.execute(
        "SELECT account_id, handle, following_count, posts_count, verified, default_profile_image "
        "FROM accounts ORDER BY 1"
    ).fetchall()
    assert latest == [
        ("111", "annalert", 10, 900, False, False),
        ("222", "bo_rt", 2000, 40000, False, True),
        ("333", "cy", 20, 100, True, False),
    ]
    reasons = mem_store.con.execute(
        "SELECT record_no, reason FROM rejects ORDER BY record_no, reason"
    ).fetchall()
    assert reasons == [
        (6, "broken JSON line"),
        (7, "unparseable created_at"),
        (7, "unparseable observed_at"),
    ]


def test_twitter_v2_pages(mem_store):
    r = ingest_file(mem_store, DATA / "twitter_v2.jsonl")
    # page 1: data 2001..2004 + includes.tweets 1999 and 2001 again (duplicate);
    # page 2: 2005 has no author_id (rejected); page 3: no tweets (skipped).
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (7, 5, 1, 1)
    assert r.rows_skipped == 1
    assert _posts(mem_store) == [
        ("1999", "11", "2014-03-01T12:00:00Z", None, "original", None),
        ("2001", "11", "2022-02-24T04:00:00Z", None, "original", None),
        ("2002", "22", "2022-02-24T04:01:00Z", "2001", "repost", None),
        ("2003", "33", "2022-02-24T04:02:00Z", "1999", "quote", None),
        # a reply's conversation_id is its thread root
        ("2004", "33", "2022-02-24T04:03:00Z", "2001", "reply", "2001"),
    ]
    users = mem_store.con.execute(
        "SELECT account_id, handle, strftime(observed_at, '%Y-%m-%dT%H:%M:%SZ'), "
        "followers_count, posts_count, default_profile_image FROM accounts ORDER BY 1"
    ).fetchall()
    # observed at the page's __twarc.retrieved_at; default image from the image URL
    assert users == [
        ("11", "source", "2022-02-24T05:00:00Z", 90000, 50000, False),
        ("22", "amp1", "2022-02-24T05:00:00Z", 1, 9000, True),
        ("33", "checker", "2022-02-24T05:00:00Z", 500, 3000, None),
    ]
    # the raw text of a rejected v2 tweet is that tweet, not its whole page
    (raw,) = mem_store.con.execute("SELECT raw FROM rejects").fetchone()
    assert raw.startswith('{"id": "2005"')


def test_bluesky_jetstream(mem_store):
    r = ingest_file(mem_store, DATA / "bluesky.jsonl")
    # 11 lines: 6 posts (lines 1-5, 11) + 1 follow (line 6) + broken line 8 = 8 read;
    # line 11's createdAt 'not-a-date' rejected; like (7) and delete (10) skipped;
    # identity (9) is an account snapshot.
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (8, 6, 0, 2)
    assert (r.rows_skipped, r.accounts_read) == (2, 1)
    a, b, c = "did:plc:aaaa", "did:plc:bbbb", "did:plc:cccc"
    p1 = f"at://{a}/app.bsky.feed.post/3kaaa"
    assert _posts(mem_store) == [
        (p1, a, "2024-09-09T19:46:02Z", None, "original", None),
        # embed.record of a post -> quote
        (f"at://{b}/app.bsky.feed.post/3kddd", b, "2024-09-09T19:46:30Z", p1, "quote", None),
        (f"at://{b}/app.bsky.feed.repost/3kbbb", b, "2024-09-09T19:46:10Z", p1, "repost", None),
        # reply.parent is the parent, reply.root the root
        (f"at://{c}/app.bsky.feed.post/3kccc", c, "2024-09-09T19:46:20Z", p1, "reply", p1),
        # recordWithMedia quoting B's quote
        (
            f"at://{c}/app.bsky.feed.post/3keee",
            c,
            "2024-09-09T19:46:40Z",
            f"at://{b}/app.bsky.feed.post/3kddd",
            "quote",
            None,
        ),
    ]
    assert mem_store.con.execute(
        "SELECT urls, hashtags, lang FROM posts WHERE post_id = ?", [p1]
    ).fetchone() == (["https://example.org/ballots"], ["election"], "en")
    assert mem_store.con.execute("SELECT follower_id, followee_id FROM follows").fetchall() == [
        (c, a)
    ]
    assert mem_store.con.execute("SELECT account_id, handle FROM accounts").fetchall() == [
        (a, "ballotwatch.bsky.social")
    ]


@pytest.mark.parametrize("name", ["twitter_v1.jsonl", "twitter_v2.jsonl", "bluesky.jsonl"])
def test_platform_files_are_idempotent(mem_store, name):
    first = ingest_file(mem_store, DATA / name)
    tables = ("posts", "account_snapshots", "accounts", "follows")
    counts = [mem_store.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in tables]
    again = ingest_file(mem_store, DATA / name)
    assert [mem_store.con.execute(f"SELECT count(*) FROM {t}").fetchone() for t in tables] == counts
    assert again.rows_inserted == 0 and again.accounts_inserted == 0
    assert again.rows_read == first.rows_read
    assert again.rows_duplicate == first.rows_inserted + first.rows_duplicate


def test_truncated_gzip_platform_file_writes_nothing(file_store, tmp_path):
    gz = tmp_path / "tweets.jsonl.gz"
    with open(DATA / "twitter_v1.jsonl", "rb") as src, gzip.open(gz, "wb") as dst:
        for _ in range(200):
            src.seek(0)
            shutil.copyfileobj(src, dst)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gz.read_bytes()[:-200])
    with pytest.raises(InputError, match="gzip"):
        ingest_file(file_store, cut)
    for table in ("posts", "account_snapshots", "rejects", "ingest_runs"):
        assert file_store.con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_invalid_utf8_line_is_rejected_not_fatal(mem_store, tmp_path):
    path = tmp_path / "bsky.jsonl"
    good = (DATA / "bluesky.jsonl").read_bytes().splitlines()[0]
    path.write_bytes(good + b"\n" + b'{"did": "\xff\xfe", "kind": "commit"}\n')
    r = ingest_file(mem_store, path, format="bluesky")
    assert (r.rows_inserted, r.rows_rejected) == (1, 1)
    assert mem_store.con.execute("SELECT record_no, reason FROM rejects").fetchall() == [
        (2, "invalid UTF-8")
    ]


def test_pheme_ingests_with_zero_rejects(mem_store):
    path = shared_file("pheme-germanwings/tweets.jsonl.gz")
    r = ingest_file(mem_store, path)
    assert r.format == "twitter-v1"
    assert r.rows_rejected == 0 and r.accounts_rejected == 0
    # 4,489 tweets, each with its user object
    assert (r.rows_read, r.rows_inserted, r.accounts_read) == (4489, 4489, 4489)
    con = mem_store.con
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    kinds = dict(con.execute("SELECT kind, count(*) FROM posts GROUP BY 1").fetchall())
    # PHEME threads are a source tweet and its replies
    assert set(kinds) == {"original", "reply"}
    assert kinds["original"] >= 469 and kinds["reply"] > 5 * kinds["original"]  # 469 threads
    (accounts,) = con.execute("SELECT count(DISTINCT account_id) FROM posts").fetchone()
    assert con.execute("SELECT count(*) FROM accounts").fetchone() == (accounts,)

"""Real twarc2 output (../shared/data/twitter-v2, DocNow twarc-csv test data, MIT).

Each file must be detected without --format (a search page is one ~400 KB line) and
ingest each tweet once, with the author, parent and kind that an independent reading
of the raw JSON gives (the reference below applies the documented precedence:
retweeted, then replied_to, then quoted).
"""

from __future__ import annotations

import gzip
import json

import pytest

from spreadtrace.ingest import detect, ingest_file
from tests.conftest import shared_file

FILES = [
    "brexit.jsonl.gz",
    "kpop.jsonl.gz",
    "withheld.jsonl.gz",
    "streaming_output_with_error.jsonl.gz",
    "edited.jsonl.gz",
    "quoted_edit.jsonl.gz",
    "media_tweet.jsonl.gz",
]


def _reference(path):
    """post_id -> (author, parent, kind) for every tweet in data and includes.tweets,
    and the set of user ids in includes.users; lines that do not parse are counted."""
    tweets, users, broken = {}, set(), 0
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            try:
                page = json.loads(line)
            except ValueError:
                broken += 1
                continue
            data = page.get("data") or []
            data = [data] if isinstance(data, dict) else data
            for t in data + (page.get("includes") or {}).get("tweets", []):
                refs = {r["type"]: r["id"] for r in t.get("referenced_tweets") or []}
                for ref_type, kind in (
                    ("retweeted", "repost"),
                    ("replied_to", "reply"),
                    ("quoted", "quote"),
                ):
                    if ref_type in refs:
                        expected = (t["author_id"], refs[ref_type], kind)
                        break
                else:
                    expected = (t["author_id"], None, "original")
                tweets.setdefault(t["id"], expected)
            users |= {u["id"] for u in (page.get("includes") or {}).get("users", [])}
    return tweets, users, broken


@pytest.mark.parametrize("name", FILES)
def test_real_v2_file_detected_and_each_tweet_once(mem_store, name):
    path = shared_file(f"twitter-v2/{name}")
    assert detect(path).format == "twitter-v2"  # no --format
    r = ingest_file(mem_store, path)
    tweets, users, broken = _reference(path)
    assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
    assert r.rows_inserted == len(tweets) and r.rows_rejected == broken
    got = mem_store.con.execute("SELECT post_id, account_id, parent_id, kind FROM posts").fetchall()
    assert len(got) == len({g[0] for g in got})  # each tweet once
    assert {g[0]: g[1:] for g in got} == tweets  # authors, parents, kinds
    stored_users = {
        a for (a,) in mem_store.con.execute("SELECT account_id FROM accounts").fetchall()
    }
    assert stored_users == users


def test_search_page_lines_are_longer_than_the_old_detection_head():
    path = shared_file("twitter-v2/brexit.jsonl.gz")
    with gzip.open(path, "rb") as f:
        assert len(f.readline()) > 300_000


def test_streaming_capture_cut_off_mid_record_is_a_named_reject(mem_store):
    path = shared_file("twitter-v2/streaming_output_with_error.jsonl.gz")
    r = ingest_file(mem_store, path)
    # 7 complete tweet lines, then an eighth cut off after its author_id
    assert r.reject_reasons == {"truncated JSON record (the capture was cut off mid-record)": 1}
    record_no, raw = mem_store.con.execute("SELECT record_no, raw FROM rejects").fetchone()
    assert record_no == 8 and raw.startswith('{"data": {"author_id": "1021159080151404544"')


def test_edited_tweet_versions_and_a_reply_to_the_edit(mem_store):
    ingest_file(mem_store, shared_file("twitter-v2/edited.jsonl.gz"))
    ingest_file(mem_store, shared_file("twitter-v2/quoted_edit.jsonl.gz"))
    rows = dict(mem_store.con.execute("SELECT post_id, account_id FROM posts").fetchall())
    # both versions of the edited tweet (edit_history_tweet_ids) are kept, once each,
    # and both carry the shared history
    assert rows["1576994746135764992"] == rows["1576994789110992896"] == "337119125"
    history = mem_store.con.execute(
        "SELECT DISTINCT platform_meta FROM posts "
        "WHERE post_id IN ('1576994746135764992', '1576994789110992896')"
    ).fetchall()
    assert history == [
        ('{"edit_history_tweet_ids": ["1576994746135764992", "1576994789110992896"]}',)
    ]
    # the reply to the edited version (it also quotes the first version): reply wins
    assert mem_store.con.execute(
        "SELECT parent_id, kind FROM posts WHERE post_id = '1576995594388000768'"
    ).fetchone() == ("1576994789110992896", "reply")


def test_api_error_object_is_a_reject_with_the_api_text(mem_store, tmp_path):
    path = tmp_path / "stream.jsonl"
    tweet = {
        "data": {"id": "1", "author_id": "u", "created_at": "2021-04-01T15:52:31.000Z", "text": "x"}
    }
    error = {
        "errors": [
            {
                "title": "operational-disconnect",
                "disconnect_type": "UpstreamOperationalDisconnect",
                "detail": "This stream has been disconnected upstream for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect",
            }
        ]
    }
    path.write_text(json.dumps(error) + "\n" + json.dumps(tweet) + "\n")
    assert detect(path).format == "twitter-v2"
    r = ingest_file(mem_store, path)
    assert (r.rows_inserted, r.rows_rejected) == (1, 1)
    assert r.reject_reasons == {
        "Twitter API error: operational-disconnect: This stream has been disconnected "
        "upstream for operational reasons.": 1
    }

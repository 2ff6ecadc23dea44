"""Readers for Telegram Desktop, Mastodon and Reddit (Pushshift) exports, the shipped
mappings on fixtures written from each export's public description, zstd input,
directories, and ``spreadtrace inspect`` on each.

Fixtures live in tests/data/ingest/foreign; the expected rows are worked out next to
each assert from the fixture text.
"""

from __future__ import annotations

import json

import pytest
import zstandard

from spreadtrace.cli import main
from spreadtrace.ingest import detect, ingest_file
from spreadtrace.ingest.inspect import inspect_file
from spreadtrace.ingest.mapping import load_mapping
from spreadtrace.store import Store
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "ingest" / "foreign"
POST_COLUMNS = (
    "post_id, account_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), parent_id, kind, "
    "root_id, text, urls, hashtags, media, lang, platform, platform_meta"
)


def _posts(store):
    return {
        row[0]: row[1:] for row in store.con.execute(f"SELECT {POST_COLUMNS} FROM posts").fetchall()
    }


def _accounts(store, columns="handle, display_name, followers_count, following_count, posts_count"):
    return {
        row[0]: row[1:]
        for row in store.con.execute(f"SELECT account_id, {columns} FROM accounts").fetchall()
    }


def test_telegram_desktop_export_every_field(mem_store):
    path = DATA / "telegram_result.json"
    assert (detect(path).format, detect(path).container) == ("telegram", "json")
    r = ingest_file(mem_store, path)
    # 6 messages: 1 service message (skipped), 5 posts; accounts: the channel (each
    # message repeats it: identical snapshots are duplicates) and the forwarded-from one
    assert (r.rows_read, r.rows_inserted, r.rows_rejected, r.rows_skipped) == (5, 5, 0, 1)
    meta = '{"chat": "Daily Truth", "chat_type": "public_channel"}'
    fwd = '{"chat": "Daily Truth", "chat_type": "public_channel", "forwarded_from": '
    assert _posts(mem_store) == {
        # links and hashtags from text_entities; the photo as a media reference
        "tg:1234567890/2": (
            "channel1234567890",
            "2023-11-14T22:13:20Z",  # date_unixtime (the naive 'date' is local time)
            None,
            "original",
            None,
            "The dam has failed #dam https://news.example/dam",
            ["https://news.example/dam"],
            ["dam"],
            ["photo:photos/photo_1@14-11-2023_23-13-20.jpg"],
            None,
            "telegram",
            meta,
        ),
        # forwarded with the source chat and message: a repost of that message;
        # a text_link's href is the URL; the file as media with its media_type
        "tg:1234567890/3": (
            "channel1234567890",
            "2023-11-14T22:20:00Z",
            "tg:555/77",
            "repost",
            None,
            "the leak",
            ["https://leak.example/doc"],
            None,
            ["document:files/leak.pdf"],
            None,
            "telegram",
            fwd + '"Other Channel"}',
        ),
        # a reply in the same chat; a photo the export left out is still a reference
        "tg:1234567890/4": (
            "channel1234567890",
            "2023-11-14T22:30:00Z",
            "tg:1234567890/2",
            "reply",
            None,
            "Update: it has not",
            None,
            None,
            ["photo:tg:1234567890/4"],
            None,
            "telegram",
            meta,
        ),
        # forwarded from a hidden user: a repost whose parent is unknown
        "tg:1234567890/5": (
            "channel1234567890",
            "2023-11-14T22:40:00Z",
            None,
            "repost",
            None,
            "forwarded without a source id",
            None,
            None,
            None,
            None,
            "telegram",
            fwd + '"A Private User"}',
        ),
        # no from_id in a channel: the channel posted it
        "tg:1234567890/6": (
            "channel1234567890",
            "2023-11-14T22:46:40Z",
            None,
            "original",
            None,
            "no sender and no time is still a channel post",
            None,
            None,
            None,
            None,
            "telegram",
            meta,
        ),
    }
    assert _accounts(mem_store, "display_name, platform") == {
        "channel1234567890": ("Daily Truth", "telegram"),
        "channel555": ("Other Channel", "telegram"),
    }


def test_telegram_full_account_export_with_a_chat_list(mem_store, tmp_path):
    chat = json.loads((DATA / "telegram_result.json").read_text())
    path = tmp_path / "result.json"
    path.write_text(
        json.dumps({"about": "export", "chats": {"about": "", "list": [chat]}}, indent=1)
    )
    assert detect(path).format == "telegram"
    assert ingest_file(mem_store, path).rows_inserted == 5


def test_mastodon_statuses_every_field(mem_store):
    path = DATA / "mastodon_statuses.json"
    assert (detect(path).format, detect(path).container) == ("mastodon", "json")
    r = ingest_file(mem_store, path)
    # 3 statuses + the reblogged status embedded in the second (a copy of the first,
    # identical: a duplicate)
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (4, 3, 1, 0)
    posts = _posts(mem_store)
    assert posts["mastodon:111000000000000001"] == (
        "mastodon:109000000000000001",
        "2023-11-14T22:13:20Z",
        None,
        "original",
        None,
        "The dam has failed #dam news.example/dam & more",  # HTML to text
        ["https://news.example/dam?utm_source=x"],  # links, not hashtag links; the card
        ["dam"],  # tags
        ["https://files.mastodon.example/media/dam.jpg"],  # media_attachments
        "en",
        "mastodon",
        '{"visibility": "public", "url": "https://mastodon.example/@ann/111000000000000001", '
        '"uri": "https://mastodon.example/users/ann/statuses/111000000000000001"}',
    )
    # reblog -> repost of the reblogged status
    assert posts["mastodon:111000000000000002"][:4] == (
        "mastodon:109000000000000002",
        "2023-11-14T22:20:00Z",
        "mastodon:111000000000000001",
        "repost",
    )
    # in_reply_to_id -> reply; the mention link is not a URL
    reply = posts["mastodon:111000000000000003"]
    assert reply[2:4] == ("mastodon:111000000000000001", "reply")
    assert (reply[5], reply[6], reply[9]) == ("@ann Quelle?", None, "de")
    # account snapshots: acct as handle, counts, the default avatar flag, note as text
    assert _accounts(
        mem_store,
        "handle, display_name, followers_count, following_count, posts_count, "
        "default_profile_image, description, strftime(created_at, '%Y-%m-%d')",
    ) == {
        "mastodon:109000000000000001": (
            "ann",
            "Ann Alert",
            500,
            10,
            900,
            False,
            "alerts",
            "2022-11-01",
        ),
        "mastodon:109000000000000002": (
            "bo@other.example",
            "Bo",
            3,
            2000,
            40000,
            True,
            None,
            "2023-01-01",
        ),
        "mastodon:109000000000000003": ("cy", "Cy", 12, 20, 100, False, None, "2023-02-01"),
    }


def test_mastodon_one_status_per_line_and_pages_per_line(mem_store, tmp_path):
    statuses = json.loads((DATA / "mastodon_statuses.json").read_text())
    lines = tmp_path / "statuses.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in statuses) + "\n")
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps(statuses[:2]) + "\n" + json.dumps(statuses[2:]) + "\n")
    for path in (lines, pages):
        assert (detect(path).format, detect(path).container) == ("mastodon", "jsonl")
    with Store.open(":memory:") as a, Store.open(":memory:") as b:
        ingest_file(a, lines)
        ingest_file(b, pages)
        assert _posts(a) == _posts(b)
        assert len(_posts(a)) == 3


def test_reddit_submissions_and_comments_every_field(mem_store):
    path = DATA / "reddit.ndjson"
    assert detect(path).format == "reddit"
    r = ingest_file(mem_store, path)
    assert (r.rows_read, r.rows_inserted, r.rows_rejected) == (5, 4, 1)
    assert r.reject_reasons == {"not a Reddit submission or comment (no id or subreddit)": 1}
    posts = _posts(mem_store)
    assert posts["t3_s1"] == (
        "u/alice",
        "2023-11-14T22:13:20Z",
        None,
        "original",
        None,
        "Dam failed upstream",
        ["https://news.example/dam"],  # a link post: its url
        None,
        None,
        None,
        "reddit",
        '{"subreddit": "news", "score": 120, "permalink": "/r/news/comments/s1/dam_failed_upstream/"}',
    )
    # a top-level comment: parent and root are the submission (t3_)
    assert posts["t1_c1"][:5] == ("u/bob", "2023-11-14T22:20:00Z", "t3_s1", "reply", "t3_s1")
    # a reply to a comment: parent t1_, root the submission; float created_utc
    assert posts["t1_c2"][:5] == ("u/alice", "2023-11-14T22:21:40Z", "t1_c1", "reply", "t3_s1")
    # a self post crossposting s1: a repost; title and selftext as text; no URL
    assert posts["t3_s2"][:7] == (
        "u/[deleted]",
        "2023-11-14T22:23:20Z",
        "t3_s1",
        "repost",
        None,
        "They hide the dam\n\nText post body",
        None,
    )
    assert json.loads(posts["t3_s2"][11])["subreddit"] == "conspiracy"
    assert set(_accounts(mem_store)) == {"u/alice", "u/bob"}  # deleted authors: no snapshot


@pytest.mark.parametrize(
    ("fixture", "mapping", "expected"),
    [
        (
            "coortweet.csv",
            "coortweet",
            {
                # object_id is the shared object: the parent; every share a repost
                "c1": ("acc1", "2021-01-01T00:00:00Z", "https://news.example/a", "repost"),
                "c3": ("acc3", "2021-01-01T00:00:30Z", "https://news.example/a", "repost"),
                "c5": ("acc2", "2021-01-01T00:01:45Z", "#election", "repost"),
            },
        ),
        (
            "crowdtangle.csv",
            "crowdtangle",
            {
                # EDT is US Eastern (UTC-4); Link and a different Final Link are both URLs
                "https://www.facebook.com/dailytruth/posts/111": (
                    "100001",
                    "2021-09-01T14:00:00Z",
                    None,
                    "original",
                ),
            },
        ),
        (
            "4cat.csv",
            "4cat-csv",
            {"newschan-102": ("9001", "2023-11-14T22:30:00Z", None, "original")},
        ),
        (
            "4cat.ndjson",
            "4cat-ndjson",
            {"t1_def": ("bob", "2023-11-14T22:20:00Z", None, "original")},
        ),
    ],
)
def test_shipped_mapping_on_its_fixture(mem_store, fixture, mapping, expected):
    r = ingest_file(mem_store, DATA / fixture, mapping=load_mapping(mapping))
    assert r.rows_rejected == 0 and r.rows_read == r.rows_inserted
    posts = _posts(mem_store)
    for post_id, want in expected.items():
        assert posts[post_id][:4] == want


def test_crowdtangle_fields(mem_store):
    ingest_file(mem_store, DATA / "crowdtangle.csv", mapping=load_mapping("crowdtangle"))
    post = _posts(mem_store)["https://www.facebook.com/dailytruth/posts/111"]
    assert post[5] == "Read this, before it is deleted"
    assert post[6] == ["https://bit.ly/xyz", "https://news.example/story"]
    assert post[10] == "facebook"
    assert json.loads(post[11]) == {
        "page_name": "Daily Truth",
        "user_name": "dailytruth",
        "type": "Link",
    }


def test_4cat_keeps_the_thread(mem_store):
    ingest_file(mem_store, DATA / "4cat.ndjson", mapping=load_mapping("4cat-ndjson"))
    post = _posts(mem_store)["t1_def"]
    assert (post[5], json.loads(post[11])) == ("No, it is from 2019", {"thread_id": "t3_abc"})


def test_coortweet_file_is_not_silently_read_as_accounts(mem_store):
    from spreadtrace.errors import InputError

    with pytest.raises(InputError, match="has account_id but looks like posts"):
        ingest_file(mem_store, DATA / "coortweet.csv")


def test_jetstream_zstd_equals_plain(tmp_path):
    plain = TEST_DATA / "ingest" / "bluesky.jsonl"
    packed = tmp_path / "jetstream.jsonl.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    found = detect(packed)
    assert (found.format, found.compression) == ("bluesky", "zstd")
    with Store.open(":memory:") as a, Store.open(":memory:") as b:
        ra, rb = ingest_file(a, plain), ingest_file(b, packed)
        assert (ra.rows_read, ra.rows_inserted) == (rb.rows_read, rb.rows_inserted)
        assert _posts(a) == _posts(b) and len(_posts(a)) > 0


@pytest.mark.parametrize(
    ("fixture", "fmt", "first_post"),
    [
        ("telegram_result.json", "telegram", "tg:1234567890/2"),
        ("mastodon_statuses.json", "mastodon", "mastodon:111000000000000001"),
        ("reddit.ndjson", "reddit", "t3_s1"),
    ],
)
def test_inspect_platform_exports(fixture, fmt, first_post):
    found = inspect_file(DATA / fixture, rows=2)
    assert found.format == fmt
    assert [row["post_id"] for row in found.preview][0] == first_post
    assert all(row["reason"] is None for row in found.preview)


def test_inspect_foreign_columns_suggests_and_previews(tmp_path):
    found = inspect_file(DATA / "4cat.csv")
    assert found.format is None
    assert found.suggested["post_id"] == "id"
    assert found.suggested["created_at"] == "unix_timestamp"
    assert found.preview[0]["created_at"] == "2023-11-14T22:13:20Z"
    found = inspect_file(DATA / "4cat.ndjson", mapping=load_mapping("4cat-ndjson"))
    assert [r["post_id"] for r in found.preview] == ["t3_abc", "t1_def"]
    found = inspect_file(DATA / "coortweet.csv")  # refused as accounts: a posts suggestion
    assert found.suggested == {
        "post_id": "content_id",
        "account_id": "account_id",
        "created_at": "timestamp_share",
        "parent_id": "object_id",
    }


def test_inspect_cli_writes_nothing(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["inspect", str(DATA / "crowdtangle.csv")])
    assert result.exit_code == 0, result.output
    assert "columns of its own" in result.output
    assert 'post_id = "URL"' in result.output  # the suggested TOML
    result = runner.invoke(
        main, ["inspect", str(DATA / "crowdtangle.csv"), "--mapping", "crowdtangle", "--json"]
    )
    assert result.exit_code == 0, result.output
    preview = json.loads(result.stdout)["preview"]
    assert preview[0]["created_at"] == "2021-09-01T14:00:00Z"
    assert list(tmp_path.iterdir()) == []  # no store, no lock file


def test_ingest_a_directory_summary_per_file_and_a_total(runner, tmp_path):
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    for name in ("telegram_result.json", "reddit.ndjson"):
        (folder / name).write_bytes((DATA / name).read_bytes())
    (folder / "sub" / "statuses.json").write_bytes((DATA / "mastodon_statuses.json").read_bytes())
    (folder / ".hidden").write_text("not ingested")
    db = tmp_path / "s.duckdb"
    result = runner.invoke(main, ["--db", str(db), "ingest", str(folder)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 + 3 + 1  # header, one line per file, the total
    assert lines[-1].split()[:5] == ["total", "(3", "of", "3", "files)"]
    # totals: read 5 + 4 + 5 = 14; inserted 5 + 3 + 4 = 12
    assert lines[-1].split()[5:7] == ["14", "12"]
    result = runner.invoke(main, ["--db", str(db), "ingest", "--json", str(folder / "*.json")])
    assert json.loads(result.stdout)["totals"]["rows_read"] == 5  # the quoted glob


def _everything(store):
    return (
        _posts(store),
        _accounts(store, "display_name, platform"),
        store.con.execute("SELECT record_no, reason FROM rejects ORDER BY record_no").fetchall(),
    )


@pytest.mark.parametrize(
    "order",
    [
        ("messages", "name", "type", "id"),  # every chat key after the messages
        ("id", "messages", "name", "type"),  # sorted keys (jq -S): name and type after
        ("name", "messages", "id", "type"),
        ("type", "id", "name", "messages"),
    ],
)
def test_telegram_export_in_any_key_order_reads_like_desktops(mem_store, tmp_path, order):
    # Telegram Desktop writes name, type, id, then messages; a re-serialised export
    # (sorted keys, another tool) may put the chat's keys after the messages. The
    # streamed reader then holds the messages back (spooled to disk) until the chat's
    # keys are known: same posts, accounts and rejects as Desktop's order, counts
    # reconcile, and the export is detected as Telegram.
    chat = json.loads((DATA / "telegram_result.json").read_text())
    chat["messages"].append({"id": 9, "type": "message", "text": "x\ud800"})  # a reject
    chat["messages"].append(5)  # not a message: a reject
    reference = tmp_path / "desktop.json"
    reference.write_text(json.dumps(chat, indent=1))
    with Store.open(":memory:") as store:
        expected_result = ingest_file(store, reference)
        expected = _everything(store)
    assert expected_result.rows_rejected == 2 and expected_result.rows_inserted == 5
    path = tmp_path / "result.json"
    path.write_text(json.dumps({k: chat[k] for k in order}, indent=1))
    assert detect(path).format == "telegram"
    r = ingest_file(mem_store, path)
    assert (r.rows_read, r.rows_inserted, r.rows_rejected, r.rows_skipped) == (
        expected_result.rows_read,
        expected_result.rows_inserted,
        expected_result.rows_rejected,
        expected_result.rows_skipped,
    )
    assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
    assert _everything(mem_store) == expected


def test_telegram_chat_list_with_ids_after_messages(mem_store, tmp_path):
    # A full account export whose chats each name their id after their messages: each
    # chat's messages get their own chat's id, not the next chat's or none.
    chat = json.loads((DATA / "telegram_result.json").read_text())
    other = {**chat, "id": 77, "name": "Other", "messages": chat["messages"][1:2]}
    chats = [{k: c[k] for k in ("messages", "name", "type", "id")} for c in (chat, other)]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"about": "export", "chats": {"list": chats}}, indent=1))
    r = ingest_file(mem_store, path)
    assert (r.rows_inserted, r.rows_rejected) == (6, 0)
    assert sorted(p for p in _posts(mem_store) if p.startswith("tg:77/")) == ["tg:77/2"]

"""Ingest of canonical files: posts, accounts, follows in CSV, TSV, JSON Lines, Parquet, gzip.

Fixtures live in tests/data/ingest; the expected outcome of every line is worked out in
the comments next to the asserts.
"""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spreadtrace.errors import InputError
from spreadtrace.ingest import content_hash, detect, ingest_file, ingest_files
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "ingest"


def _posts(store):
    return store.con.execute(
        "SELECT post_id, account_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'), parent_id, "
        "kind, root_id, text, urls, hashtags FROM posts ORDER BY post_id"
    ).fetchall()


def _reconciles(r):
    assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected


def test_posts_csv_every_line_accounted_for(mem_store):
    r = ingest_file(mem_store, DATA / "posts.csv")
    # 14 data lines: p1..p5 inserted; line 7 is p2 again with its kind and hashtag
    # (merged into it: same account and time, adds fields); lines 8-15 rejected.
    assert (
        r.format,
        r.rows_read,
        r.rows_inserted,
        r.rows_merged,
        r.rows_duplicate,
        r.rows_rejected,
    ) == ("posts", 14, 5, 1, 0, 8)
    _reconciles(r)
    assert _posts(mem_store) == [
        # original: no parent_id and no kind -> 'original'; urls/hashtags split on spaces
        (
            "p1",
            "alice",
            "2024-05-01T10:00:00Z",
            None,
            "original",
            None,
            "Breaking: the dam has failed",
            ["https://ex.com/dam", "https://ex.com/b"],
            ["dam", "breaking"],
        ),
        # +02:00 offset -> 10:00 UTC; kind defaults to repost (has parent); the in-file
        # duplicate on line 7 filled its missing hashtags
        ("p2", "bob", "2024-05-01T10:00:00Z", "p1", "repost", "p1", "RT dam", None, ["dam"]),
        # epoch seconds 1714557720 = 2024-05-01T10:02:00Z
        (
            "p3",
            "carol",
            "2024-05-01T10:02:00Z",
            "p1",
            "quote",
            "p1",
            "So it begins, folks",
            None,
            None,
        ),
        # no offset -> UTC
        ("p4", "dave", "2024-05-01T10:03:00Z", "p3", "reply", "p1", "source?", None, None),
        # repost of a post we never saw: kept
        ("p5", "erin", "2024-05-01T10:04:00Z", "p404", "repost", None, None, None, None),
    ]
    rejects = mem_store.con.execute(
        "SELECT record_no, reason, raw FROM rejects ORDER BY record_no"
    ).fetchall()
    assert [(n, reason) for n, reason, _ in rejects] == [
        (8, "missing post_id"),
        (9, "missing account_id"),
        (10, "unparseable created_at"),  # 'yesterday'
        (11, "parent_id equals post_id"),
        (12, "unknown kind"),  # 'retweet'
        (13, "malformed line: too many columns"),
        (14, "malformed line: invalid encoding"),
        (15, "created_at out of range (not in 1900-2199)"),  # an epoch number beyond s, ms, µs
    ]
    assert rejects[2][2] == "p7,gina,yesterday,,,,,,,,"
    assert "too,many,fields" in rejects[5][2]
    run = mem_store.con.execute(
        "SELECT path, format, rows_read, rows_inserted, rows_merged, rows_duplicate, "
        "rows_rejected, content_hash FROM ingest_runs"
    ).fetchall()
    assert run == [
        (str(DATA / "posts.csv"), "posts", 14, 5, 1, 0, 8, content_hash(DATA / "posts.csv"))
    ]
    assert r.reject_reasons["unparseable created_at"] == 1
    assert r.reject_reasons["created_at out of range (not in 1900-2199)"] == 1


def test_same_file_twice_is_idempotent(mem_store):
    first = ingest_file(mem_store, DATA / "posts.csv")
    before = _posts(mem_store)
    second = ingest_file(mem_store, DATA / "posts.csv")
    assert _posts(mem_store) == before
    # the 5 posts are now duplicates and line 7 is merged into p2 again (merging is
    # counted within a file); rejects are rejected again (and recorded again)
    assert (
        second.rows_read,
        second.rows_inserted,
        second.rows_merged,
        second.rows_duplicate,
    ) == (14, 0, 1, 5)
    assert second.rows_rejected == first.rows_rejected == 8
    assert second.ingest_run_id != first.ingest_run_id


def test_reingest_fills_missing_fields_never_loses_them(mem_store, tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("post_id,account_id,created_at,text\nx1,al,2024-01-01T00:00:00Z,hello\n")
    b = tmp_path / "b.csv"
    b.write_text(
        "post_id,account_id,created_at,parent_id,text,lang\n"
        "x1,al,2024-01-01T00:00:00Z,x0,,de\n"  # learns parent + lang; text kept
        "x2,bo,2024-01-01T00:01:00Z,x1,,\n"
    )
    ingest_file(mem_store, a)
    r = ingest_file(mem_store, b)
    assert (r.rows_inserted, r.rows_duplicate) == (1, 1)
    row = mem_store.con.execute(
        "SELECT text, parent_id, kind, lang FROM posts WHERE post_id = 'x1'"
    ).fetchone()
    # text survives; the stored 'original' that learned its parent becomes a repost
    assert row == ("hello", "x0", "repost", "de")
    ingest_file(mem_store, a)  # the older, poorer copy again: nothing is lost
    assert mem_store.con.execute(
        "SELECT text, parent_id, kind, lang FROM posts WHERE post_id = 'x1'"
    ).fetchone() == ("hello", "x0", "repost", "de")


def test_overlapping_files_one_row_per_post(mem_store, tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    header = "post_id,account_id,created_at\n"
    a.write_text(header + "".join(f"q{i},u{i},{1714557600 + i}\n" for i in range(0, 60)))
    b.write_text(header + "".join(f"q{i},u{i},{1714557600 + i}\n" for i in range(40, 100)))
    ra, rb = ingest_files(mem_store, [a, b])
    assert (ra.rows_inserted, rb.rows_inserted, rb.rows_duplicate) == (60, 40, 20)
    assert mem_store.con.execute(
        "SELECT count(*), count(DISTINCT post_id) FROM posts"
    ).fetchone() == (100, 100)


def test_tsv_and_gzip(mem_store, tmp_path):
    gz = tmp_path / "posts.tsv.gz"
    with open(DATA / "posts.tsv", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect(gz).container == "tsv" and detect(gz).compressed
    r = ingest_file(mem_store, gz)
    assert (r.rows_read, r.rows_inserted) == (2, 2)
    # a comma inside a TSV field is just text
    assert mem_store.con.execute("SELECT text FROM posts WHERE post_id='t1'").fetchone() == (
        "comma, inside",
    )


def test_jsonl_posts(mem_store):
    r = ingest_file(mem_store, DATA / "posts.jsonl")
    # 5 lines: j1, j2, j4 good; line 3 broken JSON; line 4 a JSON array, not an object
    assert (r.rows_read, r.rows_inserted, r.rows_rejected) == (5, 3, 2)
    assert mem_store.con.execute(
        "SELECT post_id, account_id, urls, hashtags, kind FROM posts ORDER BY post_id"
    ).fetchall() == [
        ("j1", "alice", ["https://ex.com/a", "https://ex.com/b"], ["x", "y"], "original"),
        ("j2", "42", None, None, "repost"),  # numbers become text ids
        ("j4", "carol", None, None, "quote"),
    ]
    assert mem_store.con.execute(
        "SELECT record_no, reason FROM rejects ORDER BY record_no"
    ).fetchall() == [(3, "broken JSON line"), (4, "JSON line is not an object")]


def test_parquet_posts(mem_store, tmp_path):
    path = tmp_path / "posts.parquet"
    table = pa.table(
        {
            "post_id": ["a1", "a2", "a3"],
            "account_id": ["u1", "u2", None],  # a3 -> missing account_id
            "created_at": pa.array(
                [datetime(2024, 5, 1, 10, tzinfo=UTC)] * 3, type=pa.timestamp("us", tz="UTC")
            ),
            "parent_id": [None, "a1", "a1"],
            "urls": [["https://x.org/1"], None, None],
        }
    )
    pq.write_table(table, path)
    r = ingest_file(mem_store, path)
    assert (r.container, r.rows_read, r.rows_inserted, r.rows_rejected) == ("parquet", 3, 2, 1)
    assert _posts(mem_store)[0][:5] == ("a1", "u1", "2024-05-01T10:00:00Z", None, "original")
    assert _posts(mem_store)[0][7] == ["https://x.org/1"]
    assert mem_store.con.execute("SELECT record_no, reason FROM rejects").fetchall() == [
        (3, "missing account_id")
    ]


def test_accounts_snapshots_and_latest(mem_store):
    r = ingest_file(mem_store, DATA / "accounts.csv")
    # 7 rows: alice x2 (two observed_at), bob inserted; last line repeats alice's first
    # snapshot (duplicate); carol (count 'many'), no id, dave ('maybe') rejected
    assert (r.format, r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (
        "accounts",
        7,
        3,
        1,
        3,
    )
    assert mem_store.con.execute("SELECT count(*) FROM account_snapshots").fetchone() == (3,)
    latest = mem_store.con.execute(
        "SELECT account_id, display_name, followers_count, verified FROM accounts ORDER BY 1"
    ).fetchall()
    # alice: the 2024-05-02 snapshot is the latest by observed_at
    assert latest == [("alice", "Alice A.", 150, False), ("bob", None, None, None)]
    # bob had no observed_at: it defaults to the ingestion time
    (observed,) = mem_store.con.execute(
        "SELECT epoch(observed_at) FROM accounts WHERE account_id='bob'"
    ).fetchone()
    assert abs(observed - datetime.now(UTC).timestamp()) < 120
    again = ingest_file(mem_store, DATA / "accounts.csv")
    # same file again: even bob's defaulted snapshot is recognised as the same profile
    assert (again.rows_inserted, again.rows_duplicate) == (0, 4)


def test_follows_dedupe_pairs(mem_store):
    r = ingest_file(mem_store, DATA / "follows.csv")
    # bob->alice, carol->alice (twice: one duplicate, which supplies created_at);
    # dave->dave and a missing followee rejected
    assert (r.rows_read, r.rows_inserted, r.rows_duplicate, r.rows_rejected) == (5, 2, 1, 2)
    assert mem_store.con.execute(
        "SELECT follower_id, followee_id, strftime(created_at, '%Y-%m-%d') FROM follows ORDER BY 1"
    ).fetchall() == [("bob", "alice", "2024-04-01"), ("carol", "alice", "2024-04-02")]
    assert ingest_file(mem_store, DATA / "follows.csv").rows_inserted == 0


def test_timestamps_round_trip_as_utc(mem_store, tmp_path):
    path = tmp_path / "ts.csv"
    path.write_text(
        "post_id,account_id,created_at\n"
        "a,u,2024-03-31T01:30:00-05:00\n"  # = 06:30Z
        "b,u,2024-03-31T06:30:00Z\n"
        "c,u,2024-03-31T06:30:00\n"  # no offset: UTC
        "d,u,1711866600\n"  # epoch seconds
        "e,u,1711866600.5\n"
    )
    ingest_file(mem_store, path)
    (dtype,) = mem_store.con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name='posts' AND column_name='created_at'"
    ).fetchone()
    assert dtype == "TIMESTAMP WITH TIME ZONE"
    rows = mem_store.con.execute("SELECT post_id, created_at FROM posts ORDER BY 1").fetchall()
    want = datetime(2024, 3, 31, 6, 30, tzinfo=UTC)
    assert [r[1] for r in rows[:4]] == [want] * 4
    assert rows[4][1].timestamp() == want.timestamp() + 0.5
    assert all(r[1].utcoffset().total_seconds() == 0 for r in rows)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file"),
        (b"name,age\nbob,3\n", "none of post_id"),
        (b"post_id,account_id\np1,u1\n", r"required column\(s\) created_at"),
        (b"", "empty file"),
    ],
)
def test_unreadable_files_raise_and_write_nothing(file_store, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        ingest_file(file_store, path)
    assert file_store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)


def test_truncated_gzip_writes_nothing(file_store, tmp_path):
    full = tmp_path / "full.csv.gz"
    body = "post_id,account_id,created_at\n" + "".join(
        f"p{i},u{i % 7},{1714557600 + i}\n" for i in range(20000)
    )
    full.write_bytes(gzip.compress(body.encode()))
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(InputError, match="gzip|GZIP"):
        ingest_file(file_store, cut)
    con = file_store.con
    assert con.execute("SELECT count(*) FROM posts").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    # the store is still usable: the whole file goes in afterwards
    assert ingest_file(file_store, full).rows_inserted == 20000


def test_ingest_files_continues_after_an_unreadable_file(mem_store, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,useful\n1,2\n")
    results = ingest_files(mem_store, [bad, DATA / "follows.csv"])
    assert not results[0].ok and "post_id" in results[0].error
    assert results[1].ok and results[1].rows_inserted == 2


def test_format_override(mem_store, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("account_id,handle,post_id\nu1,h1,p\n")  # post_id would say 'posts'
    r = ingest_file(mem_store, path, format="accounts")
    assert (r.format, r.rows_inserted) == ("accounts", 1)
    with pytest.raises(InputError, match="unknown format"):
        ingest_file(mem_store, path, format="myspace")


def test_file_the_strict_csv_parser_refuses_is_read_leniently(mem_store, tmp_path):
    path = tmp_path / "cr.csv"
    # a bare carriage return inside a line makes DuckDB's strict parser give up on the
    # whole file; the lenient re-read keeps the good lines and rejects the odd ones
    path.write_bytes(
        b"post_id,account_id,created_at\n"
        b"p1,a,2024-05-01T10:00:00Z\n"
        b"p2,b\r,2024-05-01T10:00:00Z\n"
        b"p3,c,2024-05-01T10:00:00Z,surplus\n"
        b"p4,d,2024-05-01T10:00:00Z\n"
    )
    r = ingest_file(mem_store, path)
    _reconciles(r)
    posts = [p for (p,) in mem_store.con.execute("SELECT post_id FROM posts ORDER BY 1").fetchall()]
    assert posts[0] == "p1" and posts[-1] == "p4" and "p3" not in posts
    reasons = r.reject_reasons
    assert reasons.get("malformed line: too many columns") == 1
    assert mem_store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (1,)


def test_bulk_and_staged_paths_agree(tmp_path):
    # Into an empty store posts go straight from the reader into `posts` (bulk path);
    # into a non-empty store they are staged first. Both must give the same rows,
    # counts, rejects and line numbers.
    from spreadtrace.store import Store

    seed = tmp_path / "seed.csv"
    seed.write_text("post_id,account_id,created_at\nzz,u,2024-01-01T00:00:00Z\n")
    with Store.open(":memory:") as bulk, Store.open(":memory:") as staged:
        ingest_file(staged, seed)
        rb = ingest_file(bulk, DATA / "posts.csv")
        rs = ingest_file(staged, DATA / "posts.csv")
        assert (rb.rows_read, rb.rows_inserted, rb.rows_duplicate, rb.rows_rejected) == (
            rs.rows_read,
            rs.rows_inserted,
            rs.rows_duplicate,
            rs.rows_rejected,
        )
        staged.con.execute("DELETE FROM posts WHERE post_id = 'zz'")
        assert _posts(bulk) == _posts(staged)
        q = "SELECT record_no, reason, raw FROM rejects WHERE path LIKE '%posts.csv' ORDER BY 1"
        assert bulk.con.execute(q).fetchall() == staged.con.execute(q).fetchall()


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_bulk_load_finds_rejects_whatever_the_line_endings(mem_store, tmp_path, eol):
    # The bulk path skips its reject scan only when a line count proves there is
    # nothing to find; line endings and quoted newlines must never fool it.
    path = tmp_path / "posts.csv"
    lines = [
        "post_id,account_id,created_at,text",
        'p1,alice,2024-05-01T10:00:00Z,"two\nlines"',
        "p2,bob,not a time,x",
        "p3,carol,2024-05-01T10:00:00Z,y",
    ]
    path.write_text(eol.join(lines) + eol, newline="")
    r = ingest_file(mem_store, path)
    assert (r.rows_read, r.rows_inserted, r.rows_rejected) == (3, 2, 1)
    assert r.reject_reasons == {"unparseable created_at": 1}


def test_in_file_copies_merge_in_file_order(mem_store, tmp_path):
    # Copies of one post: the first record wins, later ones only fill its NULLs; an
    # explicit 'original' that learns a parent from a later copy takes that copy's kind.
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at,parent_id,kind,text\n"
        "p1,alice,2024-05-01T10:00:00Z,,original,\n"
        "p1,alice,2024-05-01T10:00:00Z,p0,quote,later text\n"
        "p1,alice,2024-05-01T10:00:00Z,p9,reply,even later\n"
    )
    r = ingest_file(mem_store, path)
    # rows 2 and 3 both add something to row 1 (a parent, a text): merged
    assert (r.rows_read, r.rows_inserted, r.rows_merged, r.rows_duplicate) == (3, 1, 2, 0)
    assert mem_store.con.execute(
        "SELECT account_id, parent_id, kind, text FROM posts"
    ).fetchall() == [("alice", "p0", "quote", "later text")]


def test_copies_conflicting_on_account_or_time_are_rejected_with_both_values(mem_store, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at,urls\n"
        "p1,alice,2024-05-01T10:00:00Z,u1\n"
        "p1,mallory,2024-05-01T10:00:00Z,u2\n"
        "p1,alice,2024-05-02T10:00:00Z,u3\n"
        "p1,alice,2024-05-01T10:00:00Z,u4\n"
        "p1,alice,2024-05-01T10:00:00Z,u1\n"
    )
    r = ingest_file(mem_store, path)
    # line 5 (u4) merged, line 6 identical to line 2: duplicate; lines 3-4 conflict
    assert (r.rows_read, r.rows_inserted, r.rows_merged, r.rows_duplicate, r.rows_rejected) == (
        5,
        1,
        1,
        1,
        2,
    )
    rejects = mem_store.con.execute("SELECT record_no, reason FROM rejects ORDER BY 1").fetchall()
    assert rejects == [
        (3, "conflicting account_id for post p1: alice in an earlier row, mallory in this one"),
        (
            4,
            "conflicting created_at for post p1: 2024-05-01T10:00:00.000000Z in an earlier "
            "row, 2024-05-02T10:00:00.000000Z in this one",
        ),
    ]
    assert mem_store.con.execute("SELECT urls FROM posts").fetchall() == [(["u1", "u4"],)]
    # the same conflict against a post already stored
    later = tmp_path / "later.csv"
    later.write_text("post_id,account_id,created_at\np1,eve,2024-05-01T10:00:00Z\n")
    r2 = ingest_file(mem_store, later)
    assert (r2.rows_inserted, r2.rows_rejected) == (0, 1)
    assert next(iter(r2.reject_reasons)) == (
        "conflicting account_id for post p1: alice in the store, eve in this row"
    )


def test_created_at_range_boundaries_to_the_microsecond(mem_store, tmp_path):
    # Years outside 1900..2199 are refused (epoch milliseconds passed as seconds land
    # far outside); both ends are inclusive to the microsecond.
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at\n"
        "in1,a,1900-01-01T00:00:00Z\n"
        "out1,a,1899-12-31T23:59:59.999999Z\n"
        "in2,a,2199-12-31T23:59:59.999999Z\n"
        "out2,a,2200-01-01T00:00:00Z\n"
        "out3,a,-99999999999999999\n"
        "out4,a,290000-01-01T00:00:00Z\n"
    )
    r = ingest_file(mem_store, path)
    assert (r.rows_inserted, r.rows_rejected) == (2, 4)
    rows = mem_store.con.execute("SELECT post_id FROM posts ORDER BY 1").fetchall()
    assert rows == [("in1",), ("in2",)]


def test_canonical_jsonl_names_a_lone_surrogate(mem_store, tmp_path):
    # A lone surrogate escape is valid JSON syntax but no character: DuckDB's JSON
    # parser refuses it, and the reject says so, as the platform readers' rejects do.
    # A pair is one character; an escaped backslash before "ud800" is plain text; a
    # line broken for another reason stays "broken JSON line" even with a lone one.
    lone = "lone UTF-16 surrogate in a JSON string (not a character)"
    lines = [
        r'{"post_id": "s1", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "\ud83d\ude00"}',
        r'{"post_id": "s2", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "x\ud800"}',
        r'{"post_id": "s3", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "\uDC00y"}',
        r'{"post_id": "s4", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "\\ud800"}',
        r'{"post_id": "s5", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "\ud800" ',
        r'{"post_id": "s6", "account_id": "a", "created_at": "2024-05-01T10:00:00Z", "text": "\ud800\ud800"}',
    ]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = ingest_file(mem_store, path)
    assert (r.rows_read, r.rows_inserted, r.rows_rejected) == (6, 2, 4)
    _reconciles(r)
    assert mem_store.con.execute("SELECT post_id, text FROM posts ORDER BY post_id").fetchall() == [
        ("s1", "\U0001f600"),
        ("s4", "\\ud800"),
    ]
    assert mem_store.con.execute(
        "SELECT record_no, reason FROM rejects ORDER BY record_no"
    ).fetchall() == [
        (2, lone),
        (3, lone),
        (5, "broken JSON line"),
        (6, lone),
    ]

"""Invariants of ingest, checked with hypothesis: twice equals once; junk never crashes
and is always accounted for (read = inserted + duplicate + rejected)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.errors import InputError
from spreadtrace.ingest import ingest_file
from spreadtrace.ingest.mapping import Mapping
from spreadtrace.store import Store

pytestmark = pytest.mark.slow  # ~35 s together; still runs in CI

_IDS = st.sampled_from([f"p{i}" for i in range(12)])
_ACCOUNTS = st.sampled_from(["a", "b", "c", ""])
_TIMES = st.sampled_from(
    [
        "2024-05-01T10:00:00Z",
        "1714557600",
        "2024-05-01 12:00:00+02:00",
        "",
        "soon",
        "99999999999999",
    ]
)
_KINDS = st.sampled_from(["", "original", "repost", "quote", "reply", "Retweet"])
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)

_row = st.tuples(_IDS, _ACCOUNTS, _TIMES, st.one_of(st.just(""), _IDS), _KINDS, _TEXT)

_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _write_posts(path, rows) -> None:
    lines = ["post_id,account_id,created_at,parent_id,kind,text"]
    for post_id, account, created, parent, kind, text in rows:
        lines.append(",".join([post_id, account, created, parent, kind, _csv_field(text)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _snapshot(store):
    return store.con.execute(
        "SELECT post_id, account_id, created_at, parent_id, kind, text FROM posts ORDER BY post_id"
    ).fetchall()


def _reconciles(store, r):
    assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
    (n_rejects,) = store.con.execute(
        "SELECT count(*) FROM rejects WHERE ingest_run_id = ?", [r.ingest_run_id]
    ).fetchone()
    (n_posts,) = store.con.execute(
        "SELECT count(*) FROM posts WHERE ingest_run_id = ?", [r.ingest_run_id]
    ).fetchone()
    assert (n_rejects, n_posts) == (r.rows_rejected, r.rows_inserted)


@_SETTINGS
@given(rows=st.lists(_row, max_size=25))
def test_ingesting_twice_equals_ingesting_once(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("twice") / "posts.csv"
    _write_posts(path, rows)
    with Store.open(":memory:") as once, Store.open(":memory:") as twice:
        r1 = ingest_file(once, path)
        _reconciles(once, r1)
        ingest_file(twice, path)
        r2 = ingest_file(twice, path)
        _reconciles(twice, r2)
        assert _snapshot(once) == _snapshot(twice)
        assert r2.rows_inserted == 0
        assert r2.rows_duplicate == r1.rows_inserted + r1.rows_duplicate
        # one row per post, always
        (dupes,) = twice.con.execute(
            "SELECT count(*) - count(DISTINCT post_id) FROM posts"
        ).fetchone()
        assert dupes == 0


@_SETTINGS
@given(
    good=st.lists(st.integers(0, 10_000), unique=True, max_size=10),
    junk=st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")), max_size=15),
    order=st.randoms(use_true_random=False),
)
def test_junk_csv_lines_never_crash_and_are_accounted_for(tmp_path_factory, good, junk, order):
    path = tmp_path_factory.mktemp("junk") / "posts.csv"
    lines = [f"g{i},acc,{1714557600 + i}".encode() for i in good] + junk
    order.shuffle(lines)
    path.write_bytes(b"post_id,account_id,created_at\n" + b"\n".join(lines) + b"\n")
    with Store.open(":memory:") as store:
        r = ingest_file(store, path)
        _reconciles(store, r)
        if not any(b'"' in j or b"\r" in j for j in junk):
            # without quotes no junk line can swallow a neighbour: every good line landed
            (landed,) = store.con.execute(
                "SELECT count(*) FROM posts WHERE post_id LIKE 'g%' AND account_id = 'acc'"
            ).fetchone()
            assert landed >= len(good)


# Keys that steer each platform reader into its deeper branches.
_PLATFORM_KEYS = st.sampled_from(
    [
        "did", "kind", "commit", "time_us",  # bluesky
        "id", "id_str", "user", "created_at", "retweeted_status", "text",  # twitter v1
        "data", "includes", "author_id", "referenced_tweets",  # twitter v2
        "account", "reblog", "uri", "content", "in_reply_to_id",  # mastodon
        "name", "author", "created_utc", "parent_id", "subreddit", "title", "body",  # reddit
        "type", "from_id", "date_unixtime", "forwarded_from", "messages", "_chat",  # telegram
    ]
)  # fmt: skip
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_PLATFORM_KEYS, inner, max_size=4),
    max_leaves=12,
)
_PLATFORM_LINE = st.one_of(
    st.binary(max_size=80),
    st.dictionaries(_PLATFORM_KEYS, _JSON_VALUES, max_size=6).map(lambda d: json.dumps(d).encode()),
).map(lambda b: b.replace(b"\n", b" "))
# Whole files refused in one line: what the content says the file is not.
_REFUSED = "corrupt (zstd|gzip)|Parquet|UTF-16|not a .* export|cannot read as|empty file"
_LINE_END = re.compile(rb"\r\n|\r|\n")


@_SETTINGS
@given(
    junk=st.lists(_PLATFORM_LINE, min_size=1, max_size=15),
    fmt=st.sampled_from(["bluesky", "twitter-v1", "twitter-v2", "mastodon", "reddit", "telegram"]),
)
def test_junk_platform_lines_never_crash(tmp_path_factory, junk, fmt):
    path = tmp_path_factory.mktemp("pjunk") / "events.jsonl"
    path.write_bytes(b"\n".join(junk) + b"\n")
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path, format=fmt)
        except InputError as exc:
            # refused whole (a compressed or Parquet magic, UTF-16, ...): one line, nothing written
            assert re.search(_REFUSED, str(exc)) and "\n" not in str(exc), str(exc)
            assert store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)
            return
        assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
        (n_rejects,) = store.con.execute("SELECT count(*) FROM rejects").fetchone()
        assert n_rejects >= r.rows_rejected + r.accounts_rejected
        if r.container == "jsonl":
            lines = [x for x in _LINE_END.split(path.read_bytes()) if x.strip()]
            # every non-blank line is a record read, a reject, or skipped on purpose:
            # none vanishes (a line may hold several records, so at least one each)
            assert r.rows_read + r.rows_skipped + r.accounts_read >= len(lines)


_MESSAGE = st.dictionaries(
    st.sampled_from(
        ["id", "type", "date", "date_unixtime", "from", "from_id", "text", "text_entities",
         "forwarded_from", "forwarded_from_id", "forward_from_message_id",
         "reply_to_message_id", "photo", "file", "media_type"]
    ),
    _JSON_VALUES | st.sampled_from(["message", "service", "1700000000", "channel42", "user7"]),
    max_size=8,
)  # fmt: skip


@_SETTINGS
@given(
    messages=st.lists(st.one_of(_MESSAGE, _JSON_VALUES), max_size=12),
    chat=st.dictionaries(st.sampled_from(["name", "type", "id"]), _JSON_VALUES, max_size=3),
    indent=st.sampled_from([None, 1]),
)
def test_junk_telegram_exports_never_crash_and_every_message_is_counted(
    tmp_path_factory, messages, chat, indent
):
    path = tmp_path_factory.mktemp("tg") / "result.json"
    doc = {"name": "x", "type": "public_channel", "id": 1, **chat, "messages": messages}
    path.write_text(json.dumps(doc, indent=indent))
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path, format="telegram")
        except InputError as exc:
            assert "\n" not in str(exc)
            assert store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)
            return
        assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
        # each message is a post (read), a reject or a skip (service messages)
        assert r.rows_read + r.rows_skipped >= len(messages)


_NOTE_CELL = st.one_of(
    st.sampled_from(["1", "1700000000000", "-1", "", "x", "NOT_MISLEADING", "1e3", "٣"]),
    st.text(
        alphabet=st.characters(blacklist_characters="\t\r\n", blacklist_categories=("Cs",)),
        max_size=6,
    ),
)


@_SETTINGS
@given(
    rows=st.lists(st.lists(_NOTE_CELL, min_size=1, max_size=6), max_size=12),
    raw=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b" ")), max_size=3),
)
def test_junk_community_notes_never_crash_and_reconcile(tmp_path_factory, rows, raw):
    path = tmp_path_factory.mktemp("notes") / "notes-00000.tsv"
    header = "noteId\tcreatedAtMillis\ttweetId\tclassification\tsummary\tisMediaNote"
    body = [("\t".join(r)).encode() for r in rows] + raw
    path.write_bytes(header.encode() + b"\n" + b"".join(b + b"\n" for b in body))
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path)
        except InputError as exc:
            assert "\n" not in str(exc) and "cannot read as community-notes" in str(exc)
            return
        assert r.format == "community-notes"
        assert r.rows_read == r.rows_inserted + r.rows_duplicate + r.rows_rejected
        (n_rejects,) = store.con.execute("SELECT count(*) FROM rejects").fetchone()
        (n_notes,) = store.con.execute("SELECT count(*) FROM community_notes").fetchone()
        assert (n_rejects, n_notes) == (r.rows_rejected, r.rows_inserted)


@_SETTINGS
@given(
    rows=st.lists(_row, max_size=15),
    junk=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")), max_size=5),
    container=st.sampled_from(["jsonl", "tsv", "mapped"]),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    order=st.randoms(use_true_random=False),
)
def test_junk_canonical_jsonl_tsv_and_mapped_never_crash(
    tmp_path_factory, rows, junk, container, eol, order
):
    d = tmp_path_factory.mktemp("canon")
    names = ("post_id", "account_id", "created_at", "parent_id", "kind", "text")
    mapping = None
    if container == "jsonl":
        path = d / "posts.jsonl"
        body = [json.dumps(dict(zip(names, r, strict=True))).encode() for r in rows]
    else:
        path = d / "posts.tsv"
        header = "\t".join(names)
        if container == "mapped":
            header = header.replace("post_id", "id").replace("account_id", "user")
            mapping = Mapping(kind="posts", columns={"post_id": "id", "account_id": "user"})
        clean = [[c.replace("\t", " ").replace("\r", " ") for c in r] for r in rows]
        body = [header.encode()] + ["\t".join(c).encode() for c in clean]
    junk = [j.replace(b"\r", b" ") for j in junk]
    lines = body[1:] + junk if container != "jsonl" else body + junk
    order.shuffle(lines)
    if container != "jsonl":
        lines = [body[0], *lines]
    path.write_bytes(eol.join(lines) + eol)
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path, mapping=mapping)
        except InputError as exc:
            assert "\n" not in str(exc)
            return
        _reconciles(store, r)
        n_lines = sum(1 for x in lines if (x.strip() if container == "jsonl" else x))
        if container == "jsonl":
            assert r.rows_read == n_lines  # one record per non-blank line, none vanished
        elif not any(b'"' in x for x in lines):
            assert r.rows_read == n_lines - 1  # the header is no record


_EOL = st.sampled_from([b"\n", b"\r\n"])


@_SETTINGS
@given(
    rows=st.lists(_row, max_size=25),
    junk=st.lists(st.sampled_from([b"x,y", b",,", b'"open', b"a,b,c,d,e,f,g"]), max_size=3),
    eol=_EOL,
    order=st.randoms(use_true_random=False),
)
def test_bulk_path_equals_staged_path(tmp_path_factory, rows, junk, eol, order):
    # Into an empty store posts go straight from the reader into `posts` (bulk path,
    # unordered parallel insert, rejects proven absent by a line count); into a
    # non-empty store they are staged. Same rows, counts, rejects, line numbers.
    path = tmp_path_factory.mktemp("paths") / "posts.csv"
    lines = [b"post_id,account_id,created_at,parent_id,kind,text"]
    body = [
        ",".join([p, a, c, par, k, _csv_field(t)]).encode() for p, a, c, par, k, t in rows
    ] + junk
    order.shuffle(body)
    path.write_bytes(eol.join(lines + body) + eol)
    seed = path.with_name("seed.csv")
    seed.write_text("post_id,account_id,created_at\nzz,u,2024-01-01T00:00:00Z\n")
    with Store.open(":memory:") as bulk, Store.open(":memory:") as staged:
        ingest_file(staged, seed)
        rb = ingest_file(bulk, path)
        rs = ingest_file(staged, path)
        _reconciles(bulk, rb)
        _reconciles(staged, rs)
        assert (rb.rows_read, rb.rows_inserted, rb.rows_duplicate, rb.rows_rejected) == (
            rs.rows_read,
            rs.rows_inserted,
            rs.rows_duplicate,
            rs.rows_rejected,
        )
        staged.con.execute("DELETE FROM posts WHERE post_id = 'zz'")
        assert _snapshot(bulk) == _snapshot(staged)
        q = "SELECT record_no, reason, raw FROM rejects WHERE path = ? ORDER BY 1, 2"
        assert (
            bulk.con.execute(q, [str(path)]).fetchall()
            == staged.con.execute(q, [str(path)]).fetchall()
        )
        # a merged post never ends up 'original' with a parent
        (bad,) = bulk.con.execute(
            "SELECT count(*) FROM posts WHERE kind = 'original' AND parent_id IS NOT NULL"
        ).fetchone()
        assert bad == 0


def _tweet_lines(n: int) -> bytes:
    return b"".join(
        json.dumps(
            {
                "id_str": str(i),
                "created_at": "Tue Mar 24 10:37:41 +0000 2015",
                "text": f"t{i}",
                "user": {"id_str": "u", "screen_name": "a"},
            }
        ).encode()
        + b"\n"
        for i in range(n)
    )


@_SETTINGS
@given(
    kind=st.sampled_from(["gzip", "zstd"]),
    body=st.sampled_from(["tweets", "posts"]),
    cut=st.one_of(st.none(), st.floats(0.0, 0.999)),
    flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(1, 255)), max_size=3),
)
def test_cut_or_corrupt_compressed_files_are_refused_or_reconcile(
    tmp_path_factory, kind, body, cut, flips
):
    # A compressed file cut short is always refused in one line (it used to be read as
    # its first part when zstd); one with flipped bytes is refused or, if the stream
    # still decodes and checks, read with reconciled counts. Nothing is half written.
    import gzip

    import zstandard

    data = (
        _tweet_lines(300)
        if body == "tweets"
        else b"post_id,account_id,created_at\n"
        + b"".join(b"p%d,a,2024-05-01T10:00:00Z\n" % i for i in range(300))
    )
    packed = bytearray(gzip.compress(data, mtime=0) if kind == "gzip" else zstandard.compress(data))
    for where, xor in flips:
        packed[int(where * len(packed))] ^= xor
    if cut is not None:
        packed = packed[: int(cut * len(packed))]
    path = tmp_path_factory.mktemp("z") / ("f.jsonl" if body == "tweets" else "f.csv")
    path.write_bytes(bytes(packed))
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path)
        except InputError as exc:
            assert "\n" not in str(exc)
            assert store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)
            return
        assert cut is None, "a file cut short was read as if whole"
        _reconciles(store, r)


@_SETTINGS
@given(
    messages=st.lists(_MESSAGE, max_size=6),
    cut=st.one_of(st.none(), st.floats(0.0, 0.999)),
    flips=st.lists(st.tuples(st.floats(0.0, 0.999), st.binary(min_size=1, max_size=3)), max_size=3),
    indent=st.sampled_from([None, 1]),
)
def test_mangled_telegram_exports_never_crash(tmp_path_factory, messages, cut, flips, indent):
    # bytes of a real-shaped export cut short or overwritten: streamed, refused in one
    # line (broken JSON, too deep, not an export) or read with reconciled counts
    doc = {"name": "x", "type": "public_channel", "id": 1, "messages": messages}
    data = bytearray(json.dumps(doc, indent=indent).encode())
    for where, junk in flips:
        i = int(where * len(data))
        data[i : i + len(junk)] = junk
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path_factory.mktemp("tgm") / "result.json"
    path.write_bytes(bytes(data))
    with Store.open(":memory:") as store:
        try:
            r = ingest_file(store, path, format="telegram")
        except InputError as exc:
            assert "\n" not in str(exc)
            assert store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)
            return
        _reconciles(store, r)

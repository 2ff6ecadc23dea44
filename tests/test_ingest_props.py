"""Invariants of ingest, checked with hypothesis: twice equals once; junk never crashes
and is always accounted for (read = inserted + duplicate + rejected)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.errors import InputError
from spreadtrace.ingest import ingest_file
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


@_SETTINGS
@given(
    junk=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.dictionaries(
                st.sampled_from(["did", "kind", "commit", "time_us"]), st.integers()
            ).map(lambda d: json.dumps(d).encode()),
        ).map(lambda b: b.replace(b"\n", b" ")),
        min_size=1,
        max_size=15,
    ),
    fmt=st.sampled_from(["bluesky", "twitter-v1", "twitter-v2"]),
)
def test_junk_platform_lines_never_crash(tmp_path_factory, junk, fmt):
    path = tmp_path_factory.mktemp("pjunk") / "events.jsonl"
    path.write_bytes(b"\n".join(junk) + b"\n")
    with Store.open(":memory:") as store:
        head = path.read_bytes()
        if head[:4] == b"\x28\xb5\x2f\xfd" or head[:2] == b"\x1f\x8b":
            # zstd's or gzip's magic: a (corrupt) compressed file, refused whole in one line
            with pytest.raises(InputError, match="corrupt (zstd|gzip)"):
                ingest_file(store, path, format=fmt)
            return
        if head[:4] == b"PAR1":
            # Parquet's magic: not a JSON-lines file, refused whole in one line
            with pytest.raises(InputError, match="Parquet"):
                ingest_file(store, path, format=fmt)
            return
        r = ingest_file(store, path, format=fmt)
        assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
        (n_rejects,) = store.con.execute("SELECT count(*) FROM rejects").fetchone()
        assert n_rejects == r.rows_rejected + r.accounts_rejected
        nonblank = sum(1 for j in junk if j.strip())
        # every non-blank line is a record, a reject, or skipped on purpose
        assert r.rows_rejected + r.rows_skipped <= nonblank


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

"""``spreadtrace forget`` and ``run --retain``: erasure that leaves nothing, retention.

The erasure test runs on the bundled synthetic sample (30,000 posts). It erases an
account whose posts others shared, then checks that no table, snapshot (the
dashboard's read model), dashboard response or report names the account's id,
handle or post ids, and that every derived table equals that of a store built from
the same files without the account (the reposts of its posts then hang from the
same opaque tokens, as from originals never ingested).
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from spreadtrace.cli import main
from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.privacy import forget
from spreadtrace.store import SCHEMA_VERSION, Store, migrate
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.schema import MIGRATIONS
from spreadtrace.store.snapshot import SnapshotReader

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
DERIVED = (
    "post_cascades", "cascades", "data_quality", "account_scores", "coordination_pairs",
    "coordination_clusters", "post_narratives", "narratives", "origin_scores",
    "account_origin", "cascade_scores", "text_norms", "text_pairs",
)  # fmt: skip


def token(post_id: str) -> str:
    return f"erased-{post_id[::-1]}-x"  # deterministic, for the comparison only


def _read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with gzip.open(
        SAMPLE / name, "rt", encoding="utf-8", errors="surrogateescape", newline=""
    ) as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _target() -> tuple[str, str, set[str]]:
    """An account whose posts others shared, named in no one else's text or URLs."""
    _, posts = _read("posts.csv.gz")
    _, accounts = _read("accounts.csv.gz")
    handle = {a["account_id"]: a["handle"] for a in accounts}
    by_account: dict[str, set[str]] = {}
    for p in posts:
        by_account.setdefault(p["account_id"], set()).add(p["post_id"])
    shared: dict[str, int] = {}
    owner = {p["post_id"]: p["account_id"] for p in posts}
    for p in posts:
        if p["parent_id"] and p["parent_id"] in owner and owner[p["parent_id"]] != p["account_id"]:
            shared[owner[p["parent_id"]]] = shared.get(owner[p["parent_id"]], 0) + 1
    others_text = "\n".join((p["text"] or "") + (p["urls"] or "") for p in posts)
    for account_id, _n in sorted(shared.items(), key=lambda kv: -kv[1]):
        h = handle.get(account_id)
        if h and h not in others_text and account_id not in others_text:
            return account_id, h, by_account[account_id]
    raise AssertionError("no suitable account in the sample")


def _derived(con) -> dict[str, list[tuple]]:
    out = {}
    for table in DERIVED:
        cols = [
            c[0]
            for c in con.execute(f"DESCRIBE {table}").fetchall()
            if c[0] not in ("build_id", "features")
        ]
        sel = ", ".join(f'"{c}"' for c in cols)
        rows = con.execute(f"SELECT {sel} FROM {table}").fetchall()
        # floats to 9 digits: parallel sums may differ in the last bit between runs
        rows = [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]
        out[table] = sorted(rows, key=repr)
    return out


def _named(text: str, needles: list[str]) -> list[str]:
    """The needles found in ``text`` as whole words (``mia4`` is not in ``mia43``)."""
    import re

    return [n for n in needles if re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w.-])", text)]


def _all_text(con) -> str:
    """Every value of every table, as text."""
    parts = []
    for (table,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall():
        rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
        parts.append(repr(rows))
    return "\n".join(parts)


def _published(db: Path) -> dict[Path, str]:
    """Every value of every file of every published version (and of any leftover
    folder), as text per version: Parquet is compressed, so bytes alone prove nothing."""
    out = {}
    for version in sorted(p for p in Path(f"{db}.snapshots").iterdir() if p.is_dir()):
        con = duckdb.connect()
        parts = [
            repr(con.execute("SELECT * FROM read_parquet(?)", [str(f)]).fetchall())
            for f in sorted(version.rglob("*.parquet"))
        ]
        con.close()
        out[version] = "\n".join(parts)
    return out


@pytest.mark.slow
def test_forget_leaves_no_trace_and_equals_a_store_without_the_account(tmp_path, runner):
    account_id, handle, post_ids = _target()
    names = ("accounts.csv.gz", "follows.csv.gz", "posts.csv.gz")
    db = tmp_path / "store.duckdb"
    with Store.open(db) as store:
        for name in names:
            ingest_file(store, SAMPLE / name)
        run_build(store)
    reports = tmp_path / "reports"
    runner.invoke(main, ["--db", str(db), "report", "--out", str(reports), "--quiet"])

    result = forget(db, [account_id], reports=reports, token=token)
    assert result.counts.posts == len(post_ids) and result.counts.snapshots >= 1
    assert result.counts.follows > 0 and result.counts.references_rewritten > 0

    # no table names the account, its handle or its posts
    with Store.open(db, read_only=True) as store:
        everything = _all_text(store.con)
        erased = _derived(store.con)
        erasure = store.con.execute("SELECT * FROM erasures").fetchall()
    needles = [account_id, handle, *post_ids]
    assert _named(everything, needles) == []
    assert len(erasure) == 1 and account_id not in repr(erasure)
    # the store file holds no deleted row either (compacted), nor any published version
    raw = db.read_bytes().decode("latin-1")
    assert _named(raw, [account_id, handle]) == []
    versions = _published(db)
    assert len(versions) == 1
    for path, text in versions.items():
        assert _named(text, [account_id, handle, *post_ids]) == [], path
    # dashboard responses (read from the republished snapshot)
    reader = SnapshotReader(str(db))
    with reader.lease() as (con, _sid):
        responses = [
            dq.accounts_table(con, search=account_id),
            dq.accounts_table(con, search=handle),
            dq.account_info(con, account_id),
            *[dq.cascade_info(con, p) for p in sorted(post_ids)[:20]],
        ]
        dash_text = _all_text(con)
    reader.close()
    assert responses[0][1] == 0  # no account with that id
    assert _named(repr(responses[1][0].to_dicts()), needles) == []  # mia4 is not mia43
    assert all(r is None for r in responses[2:])
    assert _named(dash_text, needles) == []
    # reports: only the rewritten run is left, and it names none of it
    runs = [p for p in reports.iterdir() if p.is_dir() and p.name != "latest"]
    assert len(runs) == 1
    for f in [*runs[0].iterdir(), *(reports / "latest").iterdir()]:
        text = f.read_text(encoding="utf-8")
        assert _named(text, needles) == [], f

    # the same files, the account's rows taken out before any build (the plain
    # reference: rows deleted by hand, reposts of its posts hanging from the same
    # tokens as from never-ingested originals): equal derived tables
    ref_db = tmp_path / "ref.duckdb"
    with Store.open(ref_db) as store:
        for name in names:
            ingest_file(store, SAMPLE / name)
        con = store.con
        con.execute("DELETE FROM posts WHERE account_id = ?", [account_id])
        con.execute("DELETE FROM account_snapshots WHERE account_id = ?", [account_id])
        con.execute("DELETE FROM accounts WHERE account_id = ?", [account_id])
        con.execute("DELETE FROM follows WHERE ? IN (follower_id, followee_id)", [account_id])
        for post_id in post_ids:
            for col in ("parent_id", "root_id"):
                con.execute(
                    f"UPDATE posts SET {col} = ? WHERE {col} = ?", [token(post_id), post_id]
                )
        run_build(store, full=True, publish=False)
        reference = _derived(store.con)
    for table in DERIVED:
        assert erased[table] == reference[table], table


def test_forget_cli_one_line_and_counts_only_in_the_log(tmp_path, runner):
    db = tmp_path / "s.duckdb"
    posts = tmp_path / "posts.csv"
    posts.write_text(
        "post_id,account_id,created_at,parent_id,kind,text\n"
        "p1,alice,2024-01-01T00:00:00Z,,original,hello\n"
        "p2,bob,2024-01-01T00:01:00Z,p1,repost,RT @alice_h: hello p1\n"
        "p3,carol,2024-01-01T00:02:00Z,p2,repost,hello\n"
    )
    acc = tmp_path / "accounts.csv"
    acc.write_text("account_id,handle,observed_at\nalice,alice_h,2024-01-01T00:00:00Z\n")
    with Store.open(db) as store:
        ingest_file(store, posts)
        ingest_file(store, acc)
        run_build(store)
    result = runner.invoke(main, ["--db", str(db), "forget", "alice"])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()
    assert len(line) == 1 and "removed 1 posts" in line[0] and "alice" not in line[0]
    with Store.open(db, read_only=True) as store:
        text = _all_text(store.con)
        bob = store.con.execute("SELECT parent_id, text FROM posts WHERE post_id = 'p2'").fetchone()
    assert "alice" not in text and "'p1'" not in text
    assert bob[0].startswith("erased-") and bob[1] == "RT @[erased]: hello [erased]"
    log = [json.loads(x) for x in open(f"{db}.audit.jsonl")]
    assert log[-1]["action"] == "forget" and "alice" not in json.dumps(log)
    # nothing to forget: a one-line error
    result = runner.invoke(main, ["--db", str(db), "forget", " "])
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_a_version_1_store_migrates_to_2_with_the_erasures_table():
    con = duckdb.connect()
    migrate(con, 0, 1, MIGRATIONS)
    migrate(con, 1, SCHEMA_VERSION, MIGRATIONS)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
    assert con.execute("SELECT count(*) FROM erasures").fetchone()[0] == 0


def test_run_retain_drops_old_posts_each_run_set_wise(tmp_path):
    from spreadtrace.jobs import run_job

    inbox, reports = tmp_path / "inbox", tmp_path / "reports"
    inbox.mkdir()
    now = datetime(2024, 3, 20, tzinfo=UTC)
    rows = ["post_id,account_id,created_at,parent_id,kind"]
    for day in range(10):  # one cascade per day: an original and a repost
        at = (now - timedelta(days=day, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows += [f"o{day},a{day},{at},,original", f"r{day},b{day},{at},o{day},repost"]
    (inbox / "posts.csv").write_text("\n".join(rows) + "\n")
    db = tmp_path / "s.duckdb"
    result = run_job(db, inbox, reports, settle=0, retain_days=3.5, now=now)
    assert result.exit_code == 0 and result.rows_expired == 12  # days 4..9
    with Store.open(db, read_only=True) as store:
        kept = {r[0] for r in store.con.execute("SELECT post_id FROM posts").fetchall()}
        cascades = {r[0] for r in store.con.execute("SELECT cascade_id FROM cascades").fetchall()}
    assert kept == {f"{k}{d}" for d in range(4) for k in "or"} and cascades == {
        "o0",
        "o1",
        "o2",
        "o3",
    }
    # a day later, the next run drops the next day, and rebuilds (full)
    result = run_job(db, inbox, reports, settle=0, retain_days=3.5, now=now + timedelta(days=1))
    assert result.rows_expired == 2 and result.build_id == 2
    with Store.open(db, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM cascades").fetchone()[0] == 3
    report = (reports / "latest" / "cascades.csv").read_text()
    assert "o3" not in report and "o0" in report


@pytest.mark.slow
def test_forget_killed_after_the_erasure_is_finished_by_the_next_run(tmp_path):
    """SIGKILL right after the erasure committed (before the rebuild, compaction and
    republication): the store is consistent, and the next `run` finishes the work."""
    import os
    import signal
    import subprocess
    import sys

    db = tmp_path / "s.duckdb"
    posts = tmp_path / "posts.csv"
    posts.write_text(
        "post_id,account_id,created_at,parent_id,kind,text\n"
        "p1,alice,2024-01-01T00:00:00Z,,original,hello\n"
        "p2,bob,2024-01-01T00:01:00Z,p1,repost,hello\n"
        "p3,carol,2024-01-01T00:02:00Z,,original,other\n"
    )
    with Store.open(db) as store:
        ingest_file(store, posts)
        run_build(store)
    env = {**os.environ, "SPREADTRACE_TEST_PAUSE_AT": "forget",
           "SPREADTRACE_TEST_PAUSE_SECONDS": "120"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", "from spreadtrace.cli import main; main()", "--db", str(db),
         "forget", "alice"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()
        assert "pause at forget" in line, line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with Store.open(db, read_only=True) as store:
        assert (
            store.con.execute("SELECT count(*) FROM posts WHERE account_id = 'alice'").fetchone()[0]
            == 0
        )
        assert store.con.execute("SELECT completed_at FROM erasures").fetchall() == [(None,)]
        stale = store.con.execute(
            "SELECT count(*) FROM post_cascades WHERE post_id = 'p1'"
        ).fetchone()[0]
    assert stale == 1  # the derived tables still name it: the work left to finish
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    from spreadtrace.jobs import run_job

    result = run_job(db, inbox, tmp_path / "reports", settle=0)
    assert result.exit_code == 0, result
    with Store.open(db, read_only=True) as store:
        text = _all_text(store.con)
        done = store.con.execute("SELECT completed_at IS NOT NULL FROM erasures").fetchall()
    assert _named(text, ["alice", "p1"]) == [] and done == [(True,)]
    versions = _published(db)
    assert len(versions) == 1 and _named("\n".join(versions.values()), ["alice", "p1"]) == []

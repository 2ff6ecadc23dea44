"""Snapshots: the dashboard reads while a real writer process builds the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from spreadtrace.errors import StoreError
from spreadtrace.store import Store
from spreadtrace.store.snapshot import (
    KEEP,
    NOT_EXPORTED,
    UNREAD_COLUMNS,
    PublishStats,
    SnapshotReader,
    latest,
    publish,
    snapshot_dir,
)
from tests.conftest import REPO


def test_memory_store_publishes_nothing(mem_store):
    assert publish(mem_store) is None


def test_no_snapshot_yet(db_path):
    assert latest(db_path) is None
    reader = SnapshotReader(db_path)
    with pytest.raises(StoreError, match="no snapshot"):
        with reader.lease():
            pass


def _add_build(con, build_id: int) -> None:
    con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, "
        "cascades_touched) VALUES (?, 'full', '{}', now(), now(), 0, 0)",
        [build_id],
    )


def _add_posts(con, run: int, n: int, prefix: str = "p") -> None:
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, "
        "ingest_run_id) SELECT ? || ? || '-' || i, 'a' || (i % 7), "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 MINUTE, 'original', "
        "'word' || (i % 13) || ' run' || ?, 'x', ? FROM range(?) t(i)",
        [prefix, run, run, run, n],
    )


def _versions(db_path) -> list[str]:
    return sorted(p.name for p in snapshot_dir(db_path).iterdir() if p.is_dir())


def test_publish_writes_the_committed_state_and_prunes(file_store, db_path):
    con = file_store.con
    paths = []
    for build_id in range(1, 4):
        _add_build(con, build_id)
        paths.append(publish(file_store))
    # The pointer names the newest; no reader held the older ones: only KEEP remain.
    assert latest(db_path) == paths[-1]
    assert paths[-1].name.startswith("000003-")
    assert _versions(db_path) == sorted(p.name for p in paths[-KEEP:])
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, sid):
        assert sid == paths[-1].name
        assert snap.execute("SELECT max(build_id) FROM builds").fetchone()[0] == 3
    reader.close()


def test_second_publish_writes_only_what_changed_and_links_the_rest(file_store, db_path):
    con = file_store.con
    _add_posts(con, 1, 500)
    _add_build(con, 1)
    first_stats = PublishStats()
    first = publish(file_store, stats=first_stats)
    assert "posts/run-000000001.parquet" in first_stats.written and not first_stats.linked
    inodes = {rel: os.stat(first / rel).st_ino for rel in first_stats.written}

    # A new ingest run and a new build row: nothing else changes.
    _add_posts(con, 2, 20, prefix="q")
    _add_build(con, 2)
    stats = PublishStats()
    second = publish(file_store, stats=stats)
    written = set(stats.written)
    # the new run's posts and search parts, the builds table and the read-model tables
    # that read posts or builds; nothing else
    assert {
        "posts/run-000000002.parquet",
        "dash_search_terms/run-000000002.parquet",
        "dash_search_docs/run-000000002.parquet",
        "builds.parquet",
        "dash_headline.parquet",
        "dash_search_stats.parquet",
    } <= written
    assert not any("run-000000001" in rel for rel in written)
    # the cascades (and their scores) are one file, no longer depending on posts
    assert {"dash_cascade_rows.parquet", "accounts.parquet", "meta.parquet"} <= set(stats.linked)
    # linked files are the same inodes as in the first version (hard links, no bytes)
    for rel in stats.linked:
        assert os.stat(second / rel).st_ino == inodes[rel], rel
    assert (
        inodes["posts/run-000000001.parquet"]
        == os.stat(second / "posts/run-000000001.parquet").st_ino
    )
    # the first version was pruned (no reader), its links live on in the second
    assert not first.exists() and _versions(db_path) == [second.name]
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, _):
        assert snap.execute("SELECT count(*) FROM posts").fetchone()[0] == 520
        assert snap.execute("SELECT posts FROM dash_headline").fetchone()[0] == 520
        hits = dict(snap.execute("SELECT n, avgdl FROM dash_search_stats").fetchall())
        assert list(hits) == [520]
        assert (
            snap.execute(
                "SELECT count(DISTINCT doc) FROM dash_search_terms WHERE term = 'run2'"
            ).fetchone()[0]
            == 20
        )
    reader.close()


def test_changed_rows_rewrite_their_part_and_the_read_model_matches_the_store(file_store, db_path):
    con = file_store.con
    _add_posts(con, 1, 300)
    _add_posts(con, 2, 300, prefix="q")
    _add_build(con, 1)
    first = publish(file_store)
    old_run2 = os.stat(first / "posts/run-000000002.parquet").st_ino
    # an erasure-like change inside run 1: its part (only) is rewritten without the rows
    con.execute("DELETE FROM posts WHERE account_id = 'a3'")
    stats = PublishStats()
    second = publish(file_store, stats=stats)
    assert "posts/run-000000001.parquet" in stats.written
    assert "posts/run-000000001.parquet" not in stats.linked
    assert os.stat(second / "posts/run-000000002.parquet").st_ino != old_run2  # a3 in both
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, _):
        assert snap.execute("SELECT count(*) FROM posts WHERE account_id = 'a3'").fetchone()[0] == 0
        # every exported table (those served as views of the read model too): same
        # columns, types and rows as the store, but for the columns no page reads
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        ).fetchall():
            if table in NOT_EXPORTED:
                continue
            unread = UNREAD_COLUMNS.get(table, ())
            cols = f"* EXCLUDE ({', '.join(unread)})" if unread else "*"
            want = con.execute(f'DESCRIBE SELECT {cols} FROM "{table}"').fetchall()
            got = snap.execute(f'DESCRIBE "{table}"').fetchall()
            assert [r[:2] for r in got] == [r[:2] for r in want], table
            assert sorted(map(repr, snap.execute(f'SELECT * FROM "{table}"').fetchall())) == sorted(
                map(repr, con.execute(f'SELECT {cols} FROM "{table}"').fetchall())
            ), table
    reader.close()


def test_a_version_a_reader_holds_is_kept_until_it_lets_go(file_store, db_path):
    _add_build(file_store.con, 1)
    first = publish(file_store)
    reader = SnapshotReader(db_path)
    assert reader.snapshot_id == first.name
    _add_build(file_store.con, 2)
    second = publish(file_store)
    assert first.exists()  # held by the reader (its shared lock)
    assert reader.snapshot_id == second.name  # the reader moved on, releasing the first
    _add_build(file_store.con, 3)
    third = publish(file_store)
    assert not first.exists() and second.exists() and third.exists()  # second: held
    # erasure: removed even while held
    _add_build(file_store.con, 4)
    stats = PublishStats()
    fourth = publish(file_store, force_prune=True, stats=stats)
    assert _versions(db_path) == [fourth.name] and stats.removed == 2
    reader.close()


def test_stale_temp_files_are_removed_and_bad_pointer_refused(file_store, db_path):
    folder = snapshot_dir(db_path)
    folder.mkdir()
    (folder / ".tmp-000001-20240101T000000000000Z").mkdir()
    (folder / ".tmp-000001-20240101T000000000000Z" / "posts.parquet").write_bytes(b"half")
    publish(file_store)
    assert not list(folder.glob(".tmp-*"))
    (folder / "LATEST").write_text("../../etc/passwd\n")
    with pytest.raises(StoreError, match="does not name a snapshot"):
        latest(db_path)


KILLED = textwrap.dedent(
    """
    import sys
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import publish
    with Store.open(sys.argv[1]) as store:
        store.con.execute("DELETE FROM posts WHERE ingest_run_id = 1")
        store.con.execute(
            "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, "
            "cascades_touched) VALUES (2, 'full', '{}', now(), now(), 0, 0)"
        )
        publish(store)  # paused by the test hook after writing its files, then killed
    """
)


def test_sigkill_during_publish_leaves_the_previous_version_served(tmp_path):
    db = tmp_path / "store.duckdb"
    with Store.open(db) as store:
        _add_posts(store.con, 1, 200)
        _add_build(store.con, 1)
        first = publish(store)
    reader = SnapshotReader(db)
    assert reader.snapshot_id == first.name
    flag = tmp_path / "paused"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(db)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "SPREADTRACE_TEST_PAUSE_AT": "publish",
            "SPREADTRACE_TEST_PAUSE_FLAG": str(flag),
        },
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert writer.poll() is None, writer.stderr.read()
            assert time.monotonic() < deadline, "the writer never reached the publish"
            time.sleep(0.05)
        # files of the half-published version are on disk, under a temp name
        assert list(snapshot_dir(db).glob(".tmp-*/posts/*.parquet"))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    # the dashboard still serves the previous version, whole
    assert latest(db) == first and reader.snapshot_id == first.name
    with reader.lease() as (con, _):
        assert con.execute("SELECT count(*) FROM posts").fetchone()[0] == 200
        assert con.execute("SELECT max(build_id) FROM builds").fetchone()[0] == 1
    fresh = SnapshotReader(db)
    with fresh.lease() as (con, sid):
        assert sid == first.name and con.execute("SELECT count(*) FROM posts").fetchone()[0] == 200
    fresh.close()
    # the next publish clears the leftovers and publishes what the killed writer had
    # committed before its publish (the delete, build 2)
    with Store.open(db) as store:
        second = publish(store)
    assert not list(snapshot_dir(db).glob(".tmp-*")) and reader.snapshot_id == second.name
    with reader.lease() as (con, _):
        assert con.execute("SELECT count(*), max(build_id) FROM posts, builds").fetchone() == (
            0,
            None,
        )
        assert con.execute("SELECT max(build_id) FROM builds").fetchone()[0] == 2
    reader.close()


def test_reader_switches_and_closes_old_generation(file_store, db_path):
    publish(file_store)
    reader = SnapshotReader(db_path)
    first = reader.snapshot_id
    with reader.lease() as (con, sid):
        assert sid == first
        file_store.con.execute(
            "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (7, 'full', '{}', now(), now(), 0, 0)"
        )
        publish(file_store)
        # A request in flight keeps its snapshot while a newer one appears.
        assert con.execute("SELECT count(*) FROM builds").fetchone()[0] == 0
        with reader.lease() as (con2, sid2):
            assert sid2 != first
            assert con2.execute("SELECT max(build_id) FROM builds").fetchone()[0] == 7
        assert con.execute("SELECT count(*) FROM builds").fetchone()[0] == 0
    reader.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import publish
    db, builds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t0 = time.monotonic()
    with Store.open(db) as store:
        for b in range(1, builds + 1):
            with store.transaction() as con:
                con.execute("DELETE FROM cascades")
                con.execute(
                    "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (?, 'full', '{}', now(), NULL, ?, ?)", [b, rows, rows]
                )
                # Half the rows, a pause (a reader looking now must not see them), the rest.
                for part in (0, 1):
                    con.execute(
                        "INSERT INTO cascades (cascade_id, root_post_id, root_seen, "
                        "root_account_id, platform, size, accounts, depth, max_breadth, "
                        "structural_virality, first_at, last_at, time_to_50_s, time_to_90_s, "
                        "peak_per_hour, reconstruction, build_id) "
                        "SELECT 'c' || i || '-' || ?, 'p', true, 'a', 'x', "
                        "?, 1, 0, 1, NULL, now(), now(), NULL, NULL, 1, 'single', ? "
                        "FROM range(?, ?) t(i)",
                        [b, b, b, part * rows // 2, (part + 1) * rows // 2],
                    )
                    time.sleep(0.05)
                con.execute("UPDATE builds SET finished_at = now() WHERE build_id = ?", [b])
            publish(store)
    print(f"{time.monotonic() - t0:.3f}")
    """
)


@pytest.mark.slow
def test_readers_never_block_the_writer_nor_see_half_a_build(tmp_path):
    db = tmp_path / "live.duckdb"
    with Store.open(db) as store:
        publish(store)  # an empty first snapshot, as `serve` does on a fresh store
    builds, rows = 12, 2000
    reader = SnapshotReader(db)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(builds), str(rows)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seen: list[int] = []
    reads = 0
    try:
        while writer.poll() is None:
            with reader.lease() as (con, _sid):
                n, lo, hi, size_ok, built = con.execute(
                    "SELECT count(*), min(build_id), max(build_id), "
                    "bool_and(size = build_id), (SELECT max(build_id) FROM builds) FROM cascades"
                ).fetchone()
            reads += 1
            if n == 0:
                assert built is None
            else:
                # A whole build, all of one build, and the build's row finished with it.
                assert (n, lo, hi, size_ok) == (rows, built, built, True)
            if not seen or seen[-1] != (built or 0):
                seen.append(built or 0)
            # While the writer holds the store, the live file cannot even be opened to read.
            time.sleep(0.005)
        out, err = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == 0, err
    # Snapshots only move forward, and the reader did follow the builds.
    assert seen == sorted(seen) and len(seen) >= 3, seen
    with reader.lease() as (con, _):
        assert con.execute("SELECT max(build_id) FROM cascades").fetchone()[0] == builds
    reader.close()
    assert reads > 10
    assert len([p for p in snapshot_dir(db).iterdir() if p.is_dir()]) <= KEEP + 1


def test_live_store_cannot_be_opened_while_written(tmp_path):
    """Why snapshots exist: DuckDB refuses a second process on a file a writer holds."""
    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from spreadtrace.store import Store\n"
            "s = Store.open(sys.argv[1]); print('ready', flush=True); time.sleep(30)",
            str(db),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(duckdb.Error):
            duckdb.connect(str(db), read_only=True)
    finally:
        holder.kill()
        holder.wait()


def test_snapshot_has_the_read_model_and_the_live_store_does_not(file_store, db_path):
    con = file_store.con
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, "
        "ingest_run_id) VALUES ('p', 'a', now(), 'original', 't', 'x', 1)"
    )
    publish(file_store)
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, _):
        assert snap.execute("SELECT count(*) FROM posts").fetchone()[0] == 1
        assert snap.execute("SELECT posts FROM dash_headline").fetchone()[0] == 1
        # input history the dashboard never reads stays out of the read model
        names = {r[0] for r in snap.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        assert not names & NOT_EXPORTED
    reader.close()
    # The live store itself is left without the read model.
    assert not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'dash_%'"
    ).fetchone()[0]


def test_publish_with_uncommitted_changes_fails_and_publishes_nothing(file_store, db_path):
    file_store.con.execute("BEGIN TRANSACTION")
    file_store.con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (9, 'full', '{}', now(), now(), 0, 0)"
    )
    with pytest.raises(duckdb.Error):
        publish(file_store)
    file_store.con.execute("ROLLBACK")
    assert latest(db_path) is None
    assert not [p for p in snapshot_dir(db_path).iterdir() if p.name != "LATEST"]


def test_a_held_version_goes_after_the_grace_period(file_store, db_path, monkeypatch):
    from spreadtrace.store import snapshot

    _add_build(file_store.con, 1)
    first = publish(file_store)
    reader = SnapshotReader(db_path)
    assert reader.snapshot_id == first.name  # holds the first version
    _add_build(file_store.con, 2)
    publish(file_store)
    assert first.exists()
    monkeypatch.setattr(snapshot, "GRACE", -1.0)  # as if an hour had passed
    _add_build(file_store.con, 3)
    third = publish(file_store)
    assert not first.exists()
    # the idle reader moves to the newest version on its next request
    with reader.lease() as (con, sid):
        assert sid == third.name
        assert con.execute("SELECT max(build_id) FROM builds").fetchone()[0] == 3
    reader.close()


def test_a_column_named_like_the_row_alias_does_not_hide_changes(file_store, db_path):
    """A table's fingerprint hashes whole rows: a column named ``t`` (the alias the
    fingerprint once used) must not make it hash that column alone."""
    con = file_store.con
    _add_posts(con, 1, 10)
    _add_build(con, 1)
    con.execute("CREATE TABLE zz_user_notes (t INTEGER, note VARCHAR)")
    con.execute("INSERT INTO zz_user_notes VALUES (1, 'first')")
    first = publish(file_store)
    con.execute("UPDATE zz_user_notes SET note = 'second'")
    stats = PublishStats()
    second = publish(file_store, stats=stats)
    assert first != second
    assert "zz_user_notes.parquet" in stats.written
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{second / 'zz_user_notes.parquet'}')")
    assert rows.fetchall() == [(1, "second")]


def test_cascades_and_post_cascades_are_views_of_one_stored_copy(file_store, db_path):
    """``cascades``, ``cascade_scores`` and ``post_cascades`` have no file of their own:
    views over ``dash_cascade_rows`` / ``dash_node_rows`` give exactly the store's rows
    (a score without a cascade, a cascade without a score, a placed post missing from
    ``posts`` included), and ``dash_cascades`` / ``dash_nodes`` give the rows of their
    former definitions (joins over the store)."""
    from spreadtrace.store import dashboard_queries as dq

    con = file_store.con
    _add_posts(con, 1, 30)
    _add_build(con, 1)
    con.execute(
        "INSERT INTO cascades (cascade_id, root_post_id, root_seen, root_account_id, "
        "platform, size, accounts, depth, max_breadth, first_at, last_at, peak_per_hour, "
        "reconstruction, build_id) SELECT 'p1-' || i, 'p1-' || i, true, 'a' || (i % 7), "
        "'x', 30 - i, 1, 1, 1, TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL 1 HOUR, "
        "TIMESTAMPTZ '2024-01-02 00:00:00+00', 1, 'explicit', 1 FROM range(10) t(i)"
    )
    con.execute(  # cascade p1-9 has no score; score 'gone' has no cascade
        "INSERT INTO cascade_scores (cascade_id, narrative_id, bot_share, early_bot_share, "
        "coordinated_share, reach_via_bots, amplification_score, amplification_reasons, "
        "build_id, share_both) SELECT CASE WHEN i = 9 THEN 'gone' ELSE 'p1-' || i END, "
        "'n' || (i % 3), i / 10, 0, 0, 0, i / 20, 'r', 2, i / 30 FROM range(10) t(i)"
    )
    con.execute(  # post 'ghost' is placed but not in posts
        "INSERT INTO post_cascades (post_id, cascade_id, parent_id, parent_source, depth, "
        "descendants, build_id, conversation) SELECT CASE WHEN i = 29 THEN 'ghost' "
        "ELSE 'p1-' || i END, 'p1-' || (i % 10), CASE WHEN i >= 10 THEN 'p1-' || (i % 10) "
        "END, 'explicit', (i >= 10)::INTEGER, 0, 1, CASE WHEN i = 3 THEN true END "
        "FROM range(30) t(i)"
    )
    version = publish(file_store)
    files = {p.relative_to(version).as_posix() for p in version.rglob("*.parquet")}
    assert not files & {"cascades.parquet", "cascade_scores.parquet", "post_cascades.parquet"}
    old_cascades = """
        SELECT c.*, s.narrative_id, s.bot_share, s.early_bot_share, s.coordinated_share,
               s.reach_via_bots, s.amplification_score, s.amplification_reasons
        FROM cascades c LEFT JOIN cascade_scores s USING (cascade_id)"""
    old_nodes = """
        SELECT pc.cascade_id, pc.post_id, pc.parent_id, pc.parent_source, pc.depth,
               pc.descendants, p.account_id, p.created_at,
               coalesce(pc.conversation, false) AS conversation
        FROM post_cascades pc JOIN posts p USING (post_id)"""
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, _):
        for table in ("cascades", "cascade_scores", "post_cascades"):
            got = [r[:2] for r in snap.execute(f"DESCRIBE {table}").fetchall()]
            assert got == [r[:2] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            got = snap.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            assert got == con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        names = [r[0] for r in con.execute(f"DESCRIBE {old_cascades}").fetchall()]
        got = snap.execute(f"SELECT {', '.join(names)} FROM dash_cascades ORDER BY ALL")
        assert got.fetchall() == con.execute(f"{old_cascades} ORDER BY ALL").fetchall()
        got = snap.execute("SELECT * FROM dash_nodes ORDER BY ALL").fetchall()
        assert got == con.execute(f"{old_nodes} ORDER BY ALL").fetchall()
        # the overview's page: root texts looked up for its rows, or joined to sort by
        for sort in ([], [("root_text", "desc")], [("size", "asc")]):
            page, total = dq.cascade_table(snap, dq.CascadeFilter(), sort=sort, limit=4)
            assert total == 10 and page.columns == list(dq.CASCADE_COLUMNS)
            text = dict(con.execute("SELECT post_id, text FROM posts").fetchall())
            assert page["root_text"].to_list() == [text[c] for c in page["cascade_id"]]
        by_text, _ = dq.cascade_table(snap, dq.CascadeFilter(), sort=[("root_text", "desc")])
        assert by_text["root_text"].to_list() == sorted(by_text["root_text"], reverse=True)
    reader.close()


def test_publish_caps_duckdb_memory_and_restores_the_store_limit(file_store, monkeypatch):
    # The publish lowers the limit to PUBLISH_MEMORY while it runs, never raises a
    # lower one, and gives the store its own limit back (not a little less each time).
    from spreadtrace.store import snapshot

    con = file_store.con
    seen = []
    write_all = snapshot._VersionWriter.write_all

    def spy(self):
        seen.append(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        write_all(self)

    monkeypatch.setattr(snapshot._VersionWriter, "write_all", spy)
    _add_build(con, 1)
    for limit, during in (("11GB", "1.5 GiB"), ("1GB", "953.6 MiB")):
        con.execute(f"SET memory_limit = '{limit}'")
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        for _ in range(3):
            publish(file_store)
            assert seen.pop() == during
            assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before


def test_a_version_in_an_older_format_is_not_served_and_serve_publishes_anew(file_store, db_path):
    # A version published by the previous code (manifest format 1: every table a file,
    # no views) is not what this code's queries read: it counts as no snapshot, so
    # `serve` publishes a new one, and the next publish links nothing from it.
    import json

    from spreadtrace.cli.serve import ensure_snapshot

    _add_build(file_store.con, 1)
    old = publish(file_store)
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format"] = 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert latest(db_path) is None
    file_store.close()
    ensure_snapshot(str(db_path))
    new = latest(db_path)
    assert new is not None and new != old
    reader = SnapshotReader(db_path)
    with reader.lease() as (snap, sid):
        assert sid == new.name
        assert snap.execute("SELECT count(*) FROM cascades").fetchone()[0] == 0
    reader.close()

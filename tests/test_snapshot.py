"""Snapshots: the dashboard reads while a real writer process builds the same store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from spreadtrace.errors import StoreError
from spreadtrace.store import Store
from spreadtrace.store.snapshot import KEEP, SnapshotReader, latest, publish, snapshot_dir
from tests.conftest import REPO


def test_memory_store_publishes_nothing(mem_store):
    assert publish(mem_store) is None


def test_no_snapshot_yet(db_path):
    assert latest(db_path) is None
    reader = SnapshotReader(db_path)
    with pytest.raises(StoreError, match="no snapshot"):
        with reader.lease():
            pass


def test_publish_copies_the_committed_state_and_prunes(file_store, db_path):
    con = file_store.con
    paths = []
    for build_id in range(1, KEEP + 3):
        con.execute(
            "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (?, 'full', '{}', now(), now(), 0, 0)",
            [build_id],
        )
        paths.append(publish(file_store))
    # The pointer names the newest; only the newest KEEP files remain; no temp files.
    assert latest(db_path) == paths[-1]
    assert paths[-1].name.startswith(f"{KEEP + 2:06d}-")
    on_disk = sorted(p.name for p in snapshot_dir(db_path).iterdir() if p.name != "LATEST")
    assert on_disk == sorted(p.name for p in paths[-KEEP:])
    snap = duckdb.connect(str(paths[-1]), read_only=True)
    assert snap.execute("SELECT max(build_id) FROM builds").fetchone()[0] == KEEP + 2
    snap.close()


def test_stale_temp_files_are_removed_and_bad_pointer_refused(file_store, db_path):
    folder = snapshot_dir(db_path)
    folder.mkdir()
    (folder / ".tmp-000001-crashed.duckdb").write_bytes(b"half")
    publish(file_store)
    assert not list(folder.glob(".tmp-*"))
    (folder / "LATEST").write_text("../../etc/passwd\n")
    with pytest.raises(StoreError, match="does not name a snapshot"):
        latest(db_path)


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
    assert len(list(snapshot_dir(db).glob("*.duckdb"))) <= KEEP


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


def test_snapshot_is_a_valid_store_with_the_read_model(file_store, db_path):
    con = file_store.con
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, "
        "ingest_run_id) VALUES ('p', 'a', now(), 'original', 't', 'x', 1)"
    )
    path = publish(file_store)
    with Store.open(path, read_only=True) as snap:  # a valid store of the current schema
        assert snap.con.execute("SELECT count(*) FROM posts").fetchone()[0] == 1
        assert snap.con.execute("SELECT posts FROM dash_headline").fetchone()[0] == 1
    assert not Path(f"{path}.wal").exists()
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
    assert not list(snapshot_dir(db_path).glob("*.duckdb"))
    assert not list(snapshot_dir(db_path).glob(".tmp-*"))

"""The store: schema versioning, forward migrations, the job lock, transactions."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from spreadtrace.errors import StoreBusy, StoreError
from spreadtrace.store import SCHEMA_VERSION, Store, migrate
from spreadtrace.store.schema import MIGRATIONS, UNINDEXED_KEYS


def test_new_store_has_current_schema(file_store):
    assert file_store.schema_version() == SCHEMA_VERSION
    tables = {r[0] for r in file_store.con.execute("SHOW TABLES").fetchall()}
    assert {"posts", "accounts", "account_snapshots", "follows", "ingest_runs", "rejects"} <= tables


def test_timestamps_are_utc_timestamptz(file_store):
    types = dict(
        file_store.con.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE column_name IN ('created_at', 'observed_at', 'started_at', 'finished_at')"
        ).fetchall()
    )
    assert types, "no timestamp columns found"
    assert set(types.values()) == {"TIMESTAMP WITH TIME ZONE"}, types


def test_store_from_newer_version_is_refused(db_path):
    with Store.open(db_path) as store:
        store.con.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)]
        )
    with pytest.raises(StoreError, match="upgrade spreadtrace"):
        Store.open(db_path)


def test_forward_migration_applies_in_order():
    con = duckdb.connect()
    extra = dict(MIGRATIONS)
    extra[SCHEMA_VERSION + 1] = ["ALTER TABLE posts ADD COLUMN reach BIGINT"]
    migrate(con, 0, SCHEMA_VERSION, extra)
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, ingest_run_id) VALUES ('p', 'a', now(), 'original', 1)"
    )
    migrate(con, SCHEMA_VERSION, SCHEMA_VERSION + 1, extra)
    assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION + 1
    )
    # the old row survived and gained the new column
    assert con.execute("SELECT post_id, reach FROM posts").fetchall() == [("p", None)]


def test_schema_6_drops_the_derived_keys_index_and_keeps_rows_and_constraints():
    """A version-5 store with derived rows: after migrating, the same rows, no PRIMARY
    KEY on the derived tables (their ART index cost every commit the whole index), the
    key still NOT NULL, the other NOT NULL columns too, and the input tables' keys kept."""
    con = duckdb.connect()
    migrate(con, 0, 5)
    con.execute("INSERT INTO account_origin VALUES ('a', 0.5, 1, 1), ('b', 0.25, 2, 1)")
    pk = "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    assert set(UNINDEXED_KEYS) <= {r[0] for r in con.execute(pk).fetchall()}
    migrate(con, 5, 6)
    keyed = {r[0] for r in con.execute(pk).fetchall()}
    assert not keyed & set(UNINDEXED_KEYS)
    assert {"accounts", "builds", "jobs", "meta", "ingest_runs"} <= keyed
    assert con.execute("SELECT * FROM account_origin ORDER BY 1").fetchall() == [
        ("a", 0.5, 1, 1),
        ("b", 0.25, 2, 1),
    ]
    for row in (("NULL", "0.5"), ("'c'", "NULL")):  # key and origin_index stay NOT NULL
        with pytest.raises(duckdb.ConstraintException):
            con.execute(f"INSERT INTO account_origin VALUES ({row[0]}, {row[1]}, 1, 1)")


def test_failed_migration_rolls_back():
    con = duckdb.connect()
    broken = {1: MIGRATIONS[1] + ["THIS IS NOT SQL"]}
    with pytest.raises(duckdb.Error):
        migrate(con, 0, 1, broken)
    assert (
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='main'"
        ).fetchone()[0]
        == 0
    )


def test_read_only_open_of_missing_store_is_clear(tmp_path):
    with pytest.raises(StoreError, match="spreadtrace init"):
        Store.open(tmp_path / "nope.duckdb", read_only=True)


def test_second_writer_is_refused_then_admitted_after_release(db_path):
    first = Store.open(db_path)
    with pytest.raises(StoreBusy, match="--wait"):
        Store.open(db_path)
    first.close()
    Store.open(db_path).close()


def test_lock_dies_with_its_process(db_path):
    Store.open(db_path).close()
    code = (
        "import os, sys; from spreadtrace.store import Store; "
        f"s = Store.open({str(db_path)!r}); print('locked', flush=True); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "locked"
    # the child exited without releasing: the OS dropped its flock, so we get in
    Store.open(db_path).close()


def test_transaction_rolls_back_on_error(file_store):
    with pytest.raises(RuntimeError):
        with file_store.transaction() as con:
            con.execute("INSERT INTO meta VALUES ('x', 'y')")
            raise RuntimeError("interrupted")
    assert file_store.con.execute("SELECT count(*) FROM meta WHERE key='x'").fetchone()[0] == 0


def test_a_v1_store_with_scores_migrates_to_the_accounts_columns(db_path):
    # a store written at version 1, with a row in each table the accounts area extends
    con = duckdb.connect(str(db_path))
    migrate(con, 0, 1)
    con.execute(
        "INSERT INTO account_scores (account_id, posts, reposts, bot_score, is_bot_like, "
        "bot_reasons, model_version, build_id) VALUES ('a', 1, 0, 0.2, false, 'x', 'v1', 1)"
    )
    con.execute("INSERT INTO cascade_scores VALUES ('c', NULL, 0.1, 0.1, 0.1, 0.1, 0.1, 'r', 1)")
    con.close()
    with Store.open(db_path) as store:  # opening migrates forward
        assert store.schema_version() == SCHEMA_VERSION
        row = store.con.execute(
            "SELECT account_id, bot_score, coordination_score, bot_evidence FROM account_scores"
        ).fetchall()
        assert row == [("a", 0.2, None, None)]  # filled by the next build
        cols = {
            r[0]
            for r in store.con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'cascade_scores'"
            ).fetchall()
        }
        assert {"share_bot_only", "share_coordinated_only", "share_both", "share_neither"} <= cols
        assert store.con.execute("SELECT share_neither FROM cascade_scores").fetchall() == [(None,)]

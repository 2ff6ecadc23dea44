"""``spreadtrace ingest`` through click's runner: summary, --json, exit codes."""

from __future__ import annotations

import gzip
import json

from spreadtrace.cli import main
from spreadtrace.store import Store
from tests.conftest import TEST_DATA

DATA = TEST_DATA / "ingest"


def test_json_summary_reconciles(runner, db_path):
    result = runner.invoke(
        main,
        [
            "--db",
            str(db_path),
            "ingest",
            "--json",
            str(DATA / "posts.csv"),
            str(DATA / "follows.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    posts, follows = summary["files"]
    assert (posts["format"], posts["rows_read"], posts["rows_inserted"]) == ("posts", 14, 5)
    assert (follows["format"], follows["rows_inserted"]) == ("follows", 2)
    for f in summary["files"]:
        assert (
            f["rows_read"]
            == f["rows_inserted"] + f["rows_merged"] + f["rows_duplicate"] + f["rows_rejected"]
        )
    assert summary["totals"]["rows_read"] == 19
    assert summary["failed"] == []
    with Store.open(db_path, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (2,)


def test_plain_summary_one_line_per_file(runner, db_path):
    result = runner.invoke(main, ["--db", str(db_path), "ingest", str(DATA / "posts.csv")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["file", "format", "read", "inserted"]
    assert "posts/csv" in lines[1] and " 14 " in lines[1]


def test_quiet_prints_nothing(runner, db_path):
    result = runner.invoke(main, ["--db", str(db_path), "ingest", "-q", str(DATA / "posts.csv")])
    assert result.exit_code == 0
    assert result.stdout == ""


def test_unreadable_file_exits_2_after_ingesting_the_others(runner, db_path, tmp_path):
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(
        gzip.compress(("post_id,account_id,created_at\n" + "p,a,0\n" * 50000).encode())[:300]
    )
    result = runner.invoke(
        main,
        ["--db", str(db_path), "ingest", "--json", str(cut), str(DATA / "follows.csv")],
    )
    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["failed"] == [str(cut)]
    assert "gzip" in result.stderr.lower()
    assert result.stderr.count("error:") == 1
    with Store.open(db_path, read_only=True) as store:
        # the readable file landed; nothing from the truncated one
        assert store.con.execute("SELECT path FROM ingest_runs").fetchall() == [
            (str(DATA / "follows.csv"),)
        ]
        assert store.con.execute("SELECT count(*) FROM posts").fetchone() == (0,)


def test_format_option_is_validated(runner, db_path):
    result = runner.invoke(
        main, ["--db", str(db_path), "ingest", "--format", "myspace", str(DATA / "posts.csv")]
    )
    assert result.exit_code == 2
    assert "myspace" in result.output

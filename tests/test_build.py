"""run_build as a whole: the builds row, one transaction, snapshot publishing, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spreadtrace.cli import main
from spreadtrace.pipeline import cascades as cascades_stage
from spreadtrace.pipeline.build import BuildParams, run_build
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.store import Store
from tests.test_cascades_support import insert_follows, insert_posts, table_rows

POSTS = [
    ("a", "u1", 0, None, "original"),
    ("b", "u2", 1, "a", "repost"),
    ("c", "u3", 2, "a", "repost"),
    ("d", "u4", 3, "unseen", "repost"),
]


def test_builds_row_records_mode_params_and_counts(mem_store):
    insert_posts(mem_store, POSTS)
    params = BuildParams(cascades=CascadeParams(infer=False))
    first = run_build(mem_store, params=params)
    insert_posts(mem_store, [("e", "u5", 4, "b", "reply")], run_id=2)
    second = run_build(mem_store, params=params)
    rows = mem_store.con.execute(
        "SELECT build_id, mode, params, posts, cascades_touched, finished_at >= started_at "
        "FROM builds ORDER BY build_id"
    ).fetchall()
    assert [r[:2] for r in rows] == [(first.build_id, "full"), (second.build_id, "incremental")]
    assert json.loads(rows[0][2]) == params.to_dict()
    assert json.loads(rows[0][2])["cascades"] == {"infer": False}
    assert [r[3] for r in rows] == [4, 5]
    assert [r[4] for r in rows] == [2, 1]  # full: both cascades; then only "a"
    assert all(r[5] for r in rows)
    assert second.touched == ["a"]
    # rows of the untouched cascade keep the build that wrote them
    assert mem_store.con.execute(
        "SELECT cascade_id, build_id FROM cascades ORDER BY 1"
    ).fetchall() == [("a", second.build_id), ("unseen", first.build_id)]


def test_a_failing_build_leaves_the_store_as_it_was(mem_store, monkeypatch):
    insert_posts(mem_store, POSTS)
    insert_follows(mem_store, [("u3", "u2")])
    run_build(mem_store)
    before = {t: table_rows(mem_store, t) for t in ("post_cascades", "cascades", "builds")}
    insert_posts(mem_store, [("e", "u5", 4, "b", "reply")], run_id=2)

    real_write = cascades_stage.sql.write_results

    def write_then_crash(con, *args, **kwargs):
        real_write(con, *args, **kwargs)  # the old rows are already deleted here
        raise RuntimeError("disk full")

    monkeypatch.setattr(cascades_stage.sql, "write_results", write_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        run_build(mem_store)
    for table, rows in before.items():
        assert table_rows(mem_store, table) == rows, table
    monkeypatch.undo()
    # and the next build picks the new post up
    assert run_build(mem_store).counts["cascades"]["new_posts"] == 1


def test_a_file_store_build_publishes_a_snapshot(file_store):
    insert_posts(file_store, POSTS)
    result = run_build(file_store)
    assert result.snapshot is not None and Path(result.snapshot).exists()
    assert run_build(file_store, publish=False).snapshot is None


def test_cli_build_json_and_summary(runner, db_path):
    with Store.open(db_path) as store:
        insert_posts(store, POSTS)
    result = runner.invoke(main, ["--db", str(db_path), "build", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["mode"] == "full" and data["posts"] == 4 and data["cascades"] == 2
    assert data["counts"]["cascades"]["unseen_roots"] == 1
    result = runner.invoke(main, ["--db", str(db_path), "build", "--no-infer"])
    assert result.exit_code == 0, result.output
    # other parameters than the stored cascades': the build runs in full
    assert "build 2 (full): 4 posts in 2 cascades" in result.output
    quiet = runner.invoke(main, ["--db", str(db_path), "build", "--quiet", "--no-infer"])
    assert quiet.exit_code == 0 and quiet.output == ""
    with Store.open(db_path) as store:
        params = store.con.execute("SELECT params FROM builds ORDER BY build_id").fetchall()
    # the quiet build had nothing new to do (same data, same parameters): no third row
    assert len(params) == 2
    assert json.loads(params[1][0])["cascades"]["infer"] is False


def test_cli_build_on_a_busy_store_is_a_one_line_error(runner, db_path):
    with Store.open(db_path):
        result = runner.invoke(main, ["--db", str(db_path), "build"])
    assert result.exit_code == 75
    assert "another spreadtrace job is writing" in result.output

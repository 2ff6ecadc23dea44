"""A build with nothing new since the last one does no stage work and says so (issue 12)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from spreadtrace.cli import main
from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import BuildParams, run_build
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.store import Store, snapshot
from spreadtrace.store.erasure import drop_posts_before
from tests.test_cascades_support import table_rows

HEADER = "post_id,account_id,created_at,parent_id,kind,text\n"


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows))
    return path


FIRST = [
    "a,u1,2024-03-01T10:00:00Z,,original,the claim",
    "b,u2,2024-03-01T10:01:00Z,a,repost,",
    "c,u3,2024-03-01T10:02:00Z,a,repost,",
    "d,u4,2024-03-02T09:00:00Z,,original,another story",
]


def _builds(store):
    return store.con.execute("SELECT build_id, mode FROM builds ORDER BY build_id").fetchall()


def _derived(store):
    return {t: table_rows(store, t) for t in ("cascades", "post_cascades", "account_scores")}


def test_second_build_with_nothing_new_does_no_stage_work(file_store, tmp_path, monkeypatch):
    ingest_file(file_store, _csv(tmp_path, "one.csv", FIRST))
    first = run_build(file_store, publish=False)
    before = _derived(file_store)

    # no stage may run: make every stage fail if called
    from spreadtrace.pipeline import accounts, cascades, media, narratives

    for stage in (accounts, cascades, media, narratives):
        monkeypatch.setattr(stage, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    again = run_build(file_store, publish=False)
    assert (again.mode, again.build_id, again.cascades_touched) == (
        "nothing-new",
        first.build_id,
        0,
    )
    assert (again.posts, again.cascades) == (4, first.cascades)
    assert _builds(file_store) == [(first.build_id, "full")]  # no new builds row
    assert _derived(file_store) == before
    # --full still rebuilds (stages run: here they raise)
    monkeypatch.undo()
    assert run_build(file_store, full=True, publish=False).build_id == first.build_id + 1


def test_new_data_other_parameters_or_removed_posts_do_build(file_store, tmp_path):
    ingest_file(file_store, _csv(tmp_path, "one.csv", FIRST))
    assert run_build(file_store, publish=False).build_id == 1
    # a new file
    ingest_file(file_store, _csv(tmp_path, "two.csv", ["e,u5,2024-03-01T10:03:00Z,b,repost,"]))
    assert run_build(file_store, publish=False).mode == "incremental"
    assert run_build(file_store, publish=False).mode == "nothing-new"
    # other parameters
    other = BuildParams(cascades=CascadeParams(infer=False))
    assert run_build(file_store, params=other, publish=False).mode == "full"
    assert run_build(file_store, params=other, publish=False).mode == "nothing-new"
    # posts removed by retention (no ingest run): the count differs
    assert drop_posts_before(file_store, datetime(2024, 3, 2, tzinfo=UTC)) == 4
    result = run_build(file_store, params=other, publish=False)
    assert result.mode != "nothing-new" and result.posts == 1
    # a build from before the fingerprint existed (a migrated store): the next one runs
    file_store.con.execute("UPDATE builds SET inputs = NULL")
    assert run_build(file_store, params=other, publish=False).mode != "nothing-new"
    assert [b for b, _ in _builds(file_store)] == [1, 2, 3, 4, 5]


def test_cli_says_nothing_new_and_publishes_a_missing_snapshot(runner, db_path, tmp_path):
    with Store.open(db_path) as store:
        ingest_file(store, _csv(tmp_path, "one.csv", FIRST))
    first = runner.invoke(main, ["--db", str(db_path), "build", "--quiet"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["--db", str(db_path), "build"])
    assert again.exit_code == 0, again.output
    assert "nothing new since build 1 (4 posts in 2 cascades, same parameters)" in again.output
    as_json = runner.invoke(main, ["--db", str(db_path), "build", "--json"])
    data = json.loads(as_json.output)
    assert (data["mode"], data["build_id"], data["cascades_touched"]) == ("nothing-new", 1, 0)
    # a fault left the snapshot unpublished: the nothing-new build publishes it
    folder = snapshot.snapshot_dir(str(db_path))
    shutil.rmtree(folder)
    assert snapshot.latest_build_id(str(db_path)) is None
    runner.invoke(main, ["--db", str(db_path), "build", "--quiet"])
    assert snapshot.latest_build_id(str(db_path)) == 1

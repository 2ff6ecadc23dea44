"""A SIGKILL during an incremental build (issue 12, part 1): a real ``spreadtrace run``
process is killed while its build is in the narratives stage (cascades, media, items
and accounts rows already written, uncommitted). The store must still hold the last
published build, the dashboard's snapshot must still be that build's, and the next
run must catch up to exactly what a full build gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store, snapshot
from spreadtrace.synth import generate
from tests.test_cascades_support import table_rows
from tests.test_crash import Job
from tests.test_incremental import DERIVED, _posts

pytestmark = pytest.mark.slow


def _tables(db: Path) -> dict[str, list[tuple]]:
    with Store.open(db, read_only=True) as store:
        tables = {t: table_rows(store, t) for t in DERIVED}
        tables["builds"] = store.con.execute(
            "SELECT build_id, mode, finished_at IS NOT NULL FROM builds ORDER BY build_id"
        ).fetchall()
        return tables


def test_sigkill_during_an_incremental_build_keeps_the_last_build_and_the_next_run_catches_up(
    tmp_path,
):
    world = generate(tmp_path / "world", seed=5, posts=1500).out_dir
    posts = _posts(world)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("accounts.csv.gz", "follows.csv.gz"):
        (inbox / name).write_bytes((world / name).read_bytes())
    posts.head(1200).write_csv(inbox / "posts-1.csv")
    db = tmp_path / "store.duckdb"

    first = Job(tmp_path)
    assert first.finish() == 0
    published = _tables(db)
    build_id = snapshot.latest_build_id(db)
    assert build_id is not None and published["builds"][-1][0] == build_id

    posts.tail(posts.height - 1200).write_csv(inbox / "posts-2.csv")
    killed = Job(tmp_path, pause="build", task="narratives")
    killed.wait_for("pause at build")
    killed.kill()
    with Store.open(db, read_only=True) as store:
        # the new file's posts were ingested (their own committed step) ...
        assert store.con.execute("SELECT count(*) FROM posts").fetchone()[0] > 1200
    # ... but every derived table, the builds log and the snapshot are the last build's
    assert _tables(db) == published
    assert snapshot.latest_build_id(db) == build_id

    again = Job(tmp_path)
    assert again.finish() == 0
    caught_up = _tables(db)
    assert caught_up["builds"][-1][1:] == ("incremental", True)
    assert snapshot.latest_build_id(db) == caught_up["builds"][-1][0] > build_id
    with Store.open(db) as store:
        run_build(store, full=True, publish=False)
    full = _tables(db)
    for table in DERIVED:
        assert caught_up[table] == full[table], table

"""A real ingest process killed with SIGKILL leaves no partial file in the store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from spreadtrace.ingest import ingest_file
from spreadtrace.store import Store
from tests.conftest import REPO, TEST_DATA

# The child ingests one file; at a given step of the file's transaction it reports and
# sleeps, so the parent can kill it exactly there (or at a random time when step = -1).
_CHILD = """
import sys, time
from spreadtrace.store import Store
from spreadtrace.ingest import ingest_file
db, path, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
def progress(task, done, total):
    if task.startswith("ingest ") and not task.endswith("(read)") and done == stop_at:
        print("at", done, flush=True)
        time.sleep(120)
with Store.open(db) as store:
    print("open", flush=True)
    ingest_file(store, path, progress=progress)
print("done", flush=True)
"""


def _big_csv(path, n: int) -> None:
    lines = ["post_id,account_id,created_at,parent_id"]
    lines += [
        f"k{i},a{i % 97},{1714557600 + i},{'' if i % 2 == 0 else f'k{i - 1}'}" for i in range(n)
    ]
    lines.append("k0,,broken,")  # one reject, so rejects would show a partial write too
    path.write_text("\n".join(lines) + "\n")


def _spawn(db, path, stop_at: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), str(path), str(stop_at)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _counts(db):
    with Store.open(db) as store:
        return tuple(
            store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("posts", "rejects", "ingest_runs")
        )


@pytest.mark.parametrize("stop_at", [1, 2])  # 1: staged; 2: merged, rejects written, not committed
def test_sigkill_inside_the_transaction_leaves_nothing(db_path, tmp_path, stop_at):
    with Store.open(db_path) as store:
        ingest_file(store, TEST_DATA / "ingest" / "follows.csv")  # earlier work must survive
    before = _counts(db_path)
    assert before == (0, 2, 1)  # follows.csv: no posts, 2 rejects, 1 run
    path = tmp_path / "big.csv"
    _big_csv(path, 20_000)
    child = _spawn(db_path, path, stop_at)
    assert child.stdout.readline().strip() == "open"
    assert child.stdout.readline().strip() == f"at {stop_at}"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert _counts(db_path) == before  # nothing of the killed file
    # the store is consistent and writable: the same file now goes in whole
    with Store.open(db_path) as store:
        r = ingest_file(store, path)
    assert (r.rows_inserted, r.rows_rejected) == (20_000, 1)


@pytest.mark.slow
def test_sigkill_at_random_times_is_all_or_nothing(db_path, tmp_path):
    path = tmp_path / "big.csv"
    n = 200_000
    _big_csv(path, n)
    rng = random.Random(7)
    for _ in range(4):
        child = _spawn(db_path, path, -1)
        assert child.stdout.readline().strip() == "open"
        time.sleep(rng.uniform(0.0, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        posts, rejects, runs = _counts(db_path)
        # either the file is fully there (once: later runs are duplicates) or not at all
        assert posts in (0, n)
        assert (posts == 0) == (runs == 0)
        assert rejects == runs  # each completed run rejected exactly the one bad line
    with Store.open(db_path) as store:
        (dupes,) = store.con.execute(
            "SELECT count(*) - count(DISTINCT post_id) FROM posts"
        ).fetchone()
    assert dupes == 0

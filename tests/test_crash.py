"""Crash safety of `spreadtrace run`: real processes, killed with SIGKILL, then run again.

Two ways of killing: deterministically, at a known point inside ingest, build and the
report write (the job's documented ``SPREADTRACE_TEST_PAUSE_AT`` hook makes it log
``pause at <step>`` from inside that step and sleep, and we kill it then), and at
random moments across many runs while files keep arriving. Afterwards one clean run
must leave: every row of every file ingested exactly once, the store consistent (every
post in exactly one cascade, no half build), no job left ``running``, no visible report
file truncated, and reports equal to those of an uninterrupted run on the same files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spreadtrace.jobs import EXIT_OK, run_job
from spreadtrace.reports import CHANGES_FILES, REPORT_FILES
from spreadtrace.store import Store
from tests.test_jobs import make_posts, write_posts
from tests.test_reports_changes import same_published_reports

CMD = [sys.executable, "-c", "from spreadtrace.cli import main; main()"]

pytestmark = pytest.mark.slow


def batches() -> list[tuple[str, list[list[str]]]]:
    """Three files; the third repeats 100 rows of the second (duplicates, not doubles)."""
    a = make_posts(1500, seed=11, prefix="a")
    b = make_posts(1500, seed=12, prefix="b")
    c = b[-100:] + make_posts(1500, seed=13, prefix="c")
    return [("a.csv", a), ("b.csv", b), ("c.csv", c)]


def unique_posts() -> int:
    return len({row[0] for _, rows in batches() for row in rows})


class Job:
    """A `spreadtrace run` subprocess whose stderr lines we can wait for."""

    def __init__(
        self, root: Path, pause: str | None = None, task: str | None = None, kind: str = "auto"
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPREADTRACE_TEST")}
        if pause:
            env |= {"SPREADTRACE_TEST_PAUSE_AT": pause, "SPREADTRACE_TEST_PAUSE_SECONDS": "120"}
        if task:
            env |= {"SPREADTRACE_TEST_PAUSE_TASK": task}
        args = ["--db", str(root / "store.duckdb"), "run", "--incoming", str(root / "inbox"),
                "--reports", str(root / "reports"), "--archive", str(root / "archive"),
                "--settle", "0", "--log", str(root / "run.log"),
                "--report-kind", kind]  # fmt: skip
        self.proc = subprocess.Popen(
            CMD + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put("")  # EOF

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return
            if line == "":
                break
        raise AssertionError(f"never saw {text!r}; stderr was:\n{''.join(self.seen)}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc.stderr.close()

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        return code


def setup(root: Path, files: list[tuple[str, list[list[str]]]]) -> Path:
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    for name, rows in files:
        write_posts(root / "inbox" / name, rows)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The reports of one uninterrupted run over all three files."""
    root = setup(tmp_path_factory.mktemp("reference"), batches())
    result = run_job(root / "store.duckdb", root / "inbox", root / "reports", settle=0)
    assert result.exit_code == EXIT_OK, result
    return root / "reports" / "latest"


def check_report_folders(reports: Path) -> None:
    """Every visible report folder is complete: manifest present, every file whole
    (a full set's files, or a changes set's)."""
    if not reports.exists():
        return
    for folder in reports.iterdir():
        if folder.name.startswith("."):
            continue  # hidden staging: invisible to readers by design
        manifest = json.loads((folder / "manifest.json").read_text())
        files = CHANGES_FILES if manifest["kind"] == "changes" else REPORT_FILES
        assert sorted(manifest["files"]) == sorted(files)
        assert folder.name.endswith(".changes") == (manifest["kind"] == "changes") or (
            folder.name in ("latest", "latest-changes")
        )
        for name, info in manifest["files"].items():
            data = (folder / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == info["sha256"], (folder, name)
            with open(folder / name, newline="", encoding="utf-8") as fh:
                assert sum(1 for _ in csv.reader(fh)) == info["rows"] + 1


def check_store(db: Path, *, complete: bool = True) -> dict[str, int]:
    with Store.open(db, read_only=True) as store:
        con = store.con

        def one(sql: str) -> int:
            return con.execute(sql).fetchone()[0]

        counts = {
            "posts": one("SELECT count(*) FROM posts"),
            "distinct": one("SELECT count(DISTINCT post_id) FROM posts"),
            "files": one("SELECT count(*) FROM ingest_runs"),
            "hashes": one("SELECT count(DISTINCT content_hash) FROM ingest_runs"),
            "inserted": one("SELECT coalesce(sum(rows_inserted), 0) FROM ingest_runs"),
            "running": one("SELECT count(*) FROM jobs WHERE status = 'running'"),
            "unfinished_builds": one("SELECT count(*) FROM builds WHERE finished_at IS NULL"),
            "in_cascades": one("SELECT count(*) FROM post_cascades"),
            "distinct_in_cascades": one("SELECT count(DISTINCT post_id) FROM post_cascades"),
            "cascade_sizes": one("SELECT coalesce(sum(size), 0) FROM cascades"),
        }
    # never a row twice, never a file twice, counts reconcile, no half build
    assert counts["posts"] == counts["distinct"] == counts["inserted"]
    assert counts["files"] == counts["hashes"]
    assert counts["unfinished_builds"] == 0
    assert counts["in_cascades"] == counts["distinct_in_cascades"] == counts["cascade_sizes"]
    if complete:
        assert counts["posts"] == unique_posts() and counts["files"] == 3
        assert counts["in_cascades"] == counts["posts"] and counts["running"] == 0
    return counts


def same_reports(latest: Path, reference: Path) -> None:
    """``latest/`` with the changes sets after it applied equals the reference."""
    same_published_reports(latest.parent, reference)


def test_kill_during_ingest(tmp_path, reference):
    root = setup(tmp_path, batches())
    job = Job(root, pause="ingest")
    job.wait_for("pause at ingest")  # inside the first file's transaction
    job.kill()
    counts = check_store(root / "store.duckdb", complete=False)
    assert counts["posts"] == 0 and counts["files"] == 0 and counts["running"] == 1
    assert sorted(os.listdir(root / "inbox")) == ["a.csv", "b.csv", "c.csv"]
    assert Job(root).finish() == EXIT_OK
    check_store(root / "store.duckdb")
    check_report_folders(root / "reports")
    same_reports(root / "reports" / "latest", reference)
    with Store.open(root / "store.duckdb", read_only=True) as store:
        statuses = store.con.execute(
            "SELECT status, message FROM jobs ORDER BY started_at"
        ).fetchall()
    assert statuses[0][0] == "failed" and "interrupted" in statuses[0][1]
    assert statuses[1] == ("ok", None)
    assert sorted(os.listdir(root / "archive")) == ["a.csv", "b.csv", "c.csv"]


def test_kill_during_build(tmp_path, reference):
    root = setup(tmp_path, batches())
    job = Job(root, pause="build")
    job.wait_for("pause at build")  # inside the build's transaction
    job.kill()
    counts = check_store(root / "store.duckdb", complete=False)
    # every file committed, the build did not: no cascades, no build row finished
    assert counts["files"] == 3 and counts["posts"] == unique_posts()
    assert counts["in_cascades"] == 0
    assert not (root / "reports" / "latest").exists()
    assert Job(root).finish() == EXIT_OK  # nothing new to ingest, but it builds
    check_store(root / "store.duckdb")
    same_reports(root / "reports" / "latest", reference)


@pytest.mark.parametrize("kind", ["full", "changes"])
def test_kill_during_report_write(tmp_path, reference, kind):
    root = setup(tmp_path, batches()[:2])
    first = run_job(root / "store.duckdb", root / "inbox", root / "reports", settle=0)
    assert first.exit_code == EXIT_OK  # a first complete report of a and b
    before = {n: (root / "reports" / "latest" / n).read_bytes() for n in REPORT_FILES}
    write_posts(root / "inbox" / "c.csv", batches()[2][1])
    job = Job(root, pause="report", kind=kind)
    job.wait_for("pause at report")  # one file of the new report written, five to go
    job.kill()
    staging = [p for p in (root / "reports").iterdir() if p.name.startswith(".partial")]
    assert staging, "the kill should have left a hidden staging folder"
    check_report_folders(root / "reports")
    # readers still see the previous complete report
    assert {n: (root / "reports" / "latest" / n).read_bytes() for n in REPORT_FILES} == before
    assert not (root / "reports" / "latest-changes").exists()
    assert Job(root, kind=kind).finish() == EXIT_OK  # build is current; the reports are stale
    check_store(root / "store.duckdb")
    check_report_folders(root / "reports")
    # the set the killed job did not finish was written by the next one, of its kind
    assert (root / "reports" / "latest-changes").exists() == (kind == "changes")
    same_reports(root / "reports" / "latest", reference)
    assert not [p for p in (root / "reports").iterdir() if p.name.startswith(".partial")]


def test_kill_at_random_moments_while_files_arrive(tmp_path, reference):
    """Files arrive one per round; each round's job is killed at a random moment."""
    rng = random.Random(20240501)
    root = setup(tmp_path, [])
    files = batches()
    # measure one uninterrupted job on the same data to pick kill times inside it
    probe = setup(tmp_path / "probe", files)
    t0 = time.monotonic()
    assert Job(probe).finish() == EXIT_OK
    span = time.monotonic() - t0
    shutil.rmtree(probe)
    kills = 0
    for round_no in range(6):
        if round_no < len(files):
            name, rows = files[round_no]
            write_posts(root / "inbox" / name, rows)
        job = Job(root)
        time.sleep(rng.uniform(0.3, span))
        if job.proc.poll() is None:
            job.kill()
            kills += 1
        else:
            job.finish()
        check_report_folders(root / "reports")
        check_store(root / "store.duckdb", complete=False)
    assert kills >= 3, "kill times should land inside most jobs"
    assert Job(root).finish() == EXIT_OK
    check_store(root / "store.duckdb")
    check_report_folders(root / "reports")
    same_reports(root / "reports" / "latest", reference)

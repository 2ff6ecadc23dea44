"""Faults during build, run, report and the snapshot copy: one line, a documented exit
code, the store consistent, and the next run recovers.

Real processes on real file systems: a full disk is a small tmpfs filled to the last
byte (needs root to mount; skipped otherwise, with the reason), a read-only store is a
tmpfs remounted read-only (root ignores file modes, so chmod would prove nothing), a
busy store is one this test process holds open for writing. SIGKILL at any point of
``run`` is covered by tests/test_crash.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spreadtrace.store import Store
from spreadtrace.store import snapshot as snap
from tests.test_jobs import make_posts, write_posts

CMD = [sys.executable, "-c", "from spreadtrace.cli import main; main()"]


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPREADTRACE_")}
    return subprocess.run(
        [*CMD, "--db", str(db), *args], capture_output=True, text=True, env=env, timeout=300
    )


def _mount(path: Path, size: str, *, options: str = "") -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    opts = f"size={size}" + (f",{options}" if options else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "disk"
    _mount(mnt, "48m")
    try:
        yield mnt
    finally:
        _umount(mnt)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; return the filler file."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def consistent(db: Path) -> dict[str, int]:
    """Counts that must hold in any consistent store: every post in exactly one
    cascade after a finished build, no half build."""
    with Store.open(db, read_only=True) as store:
        con = store.con
        posts = con.execute("SELECT count(*) FROM posts").fetchone()[0]
        finished = con.execute(
            "SELECT count(*) FROM builds WHERE finished_at IS NOT NULL"
        ).fetchone()[0]
        unfinished = con.execute(
            "SELECT count(*) FROM builds WHERE finished_at IS NULL"
        ).fetchone()[0]
        placed = con.execute("SELECT count(DISTINCT post_id) FROM post_cascades").fetchone()[0]
        rows = con.execute("SELECT count(*) FROM post_cascades").fetchone()[0]
        running = con.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchone()[0]
    assert unfinished == 0  # a build lands whole or not at all
    assert rows == placed  # never a post in two cascades
    if finished:
        assert placed == posts
    return {"posts": posts, "builds": finished, "placed": placed, "running": running}


def _inbox(root: Path, n: int = 3000, seed: int = 1, name: str = "a.csv") -> Path:
    inbox = root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    write_posts(inbox / name, make_posts(n, seed=seed, prefix=name[0]))
    return inbox


# --- disk full -----------------------------------------------------------------------


def test_disk_full_during_build_one_line_consistent_and_recovers(small_disk, tmp_path):
    db = small_disk / "store.duckdb"
    inbox = _inbox(tmp_path)
    assert cli("ingest", str(inbox / "a.csv"), "--quiet", db=db).returncode == 0
    filler = fill(small_disk)
    done = cli("build", "--quiet", db=db)
    assert done.returncode == 74, done.stderr
    assert "no space left" in one_error_line(done.stderr)
    filler.unlink()
    assert consistent(db) == {"posts": 3000, "builds": 0, "placed": 0, "running": 0}
    done = cli("build", "--quiet", db=db)
    assert done.returncode == 0, done.stderr
    assert consistent(db)["builds"] == 1
    assert snap.latest_build_id(db) is not None


def test_disk_full_during_run_closes_the_job_and_the_next_run_recovers(small_disk, tmp_path):
    db = small_disk / "store.duckdb"
    reports = tmp_path / "reports"
    inbox = _inbox(tmp_path)
    assert cli("init", db=db).returncode == 0
    filler = fill(small_disk)
    run = ["run", "--incoming", str(inbox), "--reports", str(reports), "--settle", "0"]
    done = cli(*run, db=db)
    assert done.returncode == 74, done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert failed and "no space left" in failed[0], done.stderr
    filler.unlink()
    state = consistent(db)
    assert state["posts"] in (0, 3000) and state["builds"] == 0
    # the job row is 'failed', or (when even that write failed) still 'running' until
    # the next run closes it
    done = cli(*run, db=db)
    assert done.returncode == 0, done.stderr
    state = consistent(db)
    assert state == {"posts": 3000, "builds": 1, "placed": 3000, "running": 0}
    manifest = json.loads((reports / "latest" / "manifest.json").read_text())
    assert manifest["build"]["build_id"] == snap.latest_build_id(db)


def test_disk_full_during_snapshot_copy_dashboard_and_reports_agree(tmp_path):
    """The snapshot folder is a tiny file system: the build commits, its snapshot
    cannot be written. The run stops before the reports (the dashboard and the
    reports both still show no build); the next run publishes the snapshot first,
    then writes the reports of the same build."""
    db = tmp_path / "store.duckdb"
    reports = tmp_path / "reports"
    inbox = _inbox(tmp_path)
    snaps = snap.snapshot_dir(db)
    _mount(snaps, "64k")
    try:
        run = ["run", "--incoming", str(inbox), "--reports", str(reports), "--settle", "0"]
        done = cli(*run, db=db)
        assert done.returncode == 74, done.stderr
        assert "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
        assert "dashboard snapshot" in errors[0] and "no space left" in errors[0], errors
        assert snap.latest_build_id(db) is None
        assert not (reports / "latest").exists()  # the reports did not run ahead
        assert not [p for p in snaps.iterdir() if p.name.startswith(".tmp-")]
        state = consistent(db)
        assert state["builds"] == 1 and state["running"] == 0
    finally:
        _umount(snaps)
    done = cli(*run, db=db)
    assert done.returncode == 0, done.stderr
    assert "published for build 1" in done.stderr
    manifest = json.loads((reports / "latest" / "manifest.json").read_text())
    assert manifest["build"]["build_id"] == snap.latest_build_id(db) == 1


def test_disk_full_during_report_one_line_and_latest_untouched(tmp_path):
    db = tmp_path / "store.duckdb"
    inbox = _inbox(tmp_path)
    assert cli("ingest", str(inbox / "a.csv"), "--quiet", db=db).returncode == 0
    assert cli("build", "--quiet", db=db).returncode == 0
    out = tmp_path / "reports"
    _mount(out, "16k")
    try:
        done = cli("report", "--out", str(out), "--quiet", db=db)
        assert done.returncode == 74, done.stderr
        assert "no space left" in one_error_line(done.stderr)
        assert not (out / "latest").exists()
        visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        assert visible == []  # only hidden staging names, removed by the next writer
    finally:
        _umount(out)


# --- read-only store -------------------------------------------------------------------


def test_read_only_store_one_line_and_recovers_when_writable(small_disk, tmp_path):
    db = small_disk / "store.duckdb"
    inbox = _inbox(tmp_path)
    assert cli("ingest", str(inbox / "a.csv"), "--quiet", db=db).returncode == 0
    ro = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True)
    assert ro.returncode == 0, ro.stderr
    try:
        done = cli("build", "--quiet", db=db)
        assert done.returncode == 73, done.stderr
        assert "read-only" in one_error_line(done.stderr)
        run = ["run", "--incoming", str(inbox), "--reports", str(tmp_path / "r"), "--settle", "0"]
        done = cli(*run, db=db)
        assert done.returncode == 73, done.stderr
        assert "Traceback" not in done.stderr and "read-only" in done.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], capture_output=True)
    assert consistent(db)["builds"] == 0
    done = cli(*run, db=db)
    assert done.returncode == 0, done.stderr
    assert consistent(db)["builds"] == 1


def test_read_only_reports_folder_one_line(tmp_path):
    db = tmp_path / "store.duckdb"
    inbox = _inbox(tmp_path)
    assert cli("ingest", str(inbox / "a.csv"), "--quiet", db=db).returncode == 0
    assert cli("build", "--quiet", db=db).returncode == 0
    out = tmp_path / "ro"
    _mount(out, "1m", options="ro")
    try:
        done = cli("report", "--out", str(out), "--quiet", db=db)
        assert done.returncode == 73, done.stderr
        assert "read-only" in one_error_line(done.stderr)
    finally:
        _umount(out)


# --- busy ----------------------------------------------------------------------------


def test_busy_store_build_and_report_one_line_exit_75(tmp_path):
    db = tmp_path / "store.duckdb"
    inbox = _inbox(tmp_path, n=50)
    assert cli("ingest", str(inbox / "a.csv"), "--quiet", db=db).returncode == 0
    holder = Store.open(db)  # another job writes the store
    try:
        for args in (["build", "--quiet"], ["report", "--out", str(tmp_path / "r"), "--quiet"]):
            done = cli(*args, db=db)
            assert done.returncode == 75, (args, done.stderr)
            one_error_line(done.stderr)
    finally:
        holder.close()
    assert cli("build", "--quiet", db=db).returncode == 0

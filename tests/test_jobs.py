"""The scheduled job (`spreadtrace run`): scanning, skipping, exit codes, locking, logs.

Real ingests and builds run here (no stand-ins); the crash tests with SIGKILL are in
tests/test_crash.py.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spreadtrace.cli import main
from spreadtrace.jobs import EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_REJECTS, scan_incoming
from spreadtrace.reports import REPORT_FILES
from spreadtrace.store import Store

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
HEADER = ["post_id", "account_id", "created_at", "parent_id", "kind", "text"]


def make_posts(n: int, *, seed: int = 0, prefix: str = "p", start: int = 0) -> list[list[str]]:
    """``n`` canonical post rows forming random share cascades, in time order.

    Each post is an original with probability 0.2 (or when it is the first), else a
    repost of a uniformly chosen earlier post of this batch; some texts are hostile.
    """
    rng = random.Random(seed)
    rows: list[list[str]] = []
    evil = ['=HYPERLINK("http://x.example","click")', "+1", "-1", "@SUM(A1)", "\tx", "\rx"]
    for i in range(n):
        post_id = f"{prefix}{start + i}"
        at = T0 + timedelta(seconds=7 * (start + i))
        parent = "" if i == 0 or rng.random() < 0.2 else rows[rng.randrange(i)][0]
        text = rng.choice(evil) if rng.random() < 0.1 else f"post {post_id}"
        rows.append([post_id, f"acct{rng.randrange(40)}", at.isoformat(), parent,
                     "repost" if parent else "original", text])  # fmt: skip
    return rows


def write_posts(path: Path, rows: list[list[str]], *, extra_lines: list[str] = ()) -> Path:
    """Write rows as canonical posts CSV (via a temp name, like a well-behaved exporter)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(HEADER)
        writer.writerows(rows)
        for line in extra_lines:
            fh.write(line + "\n")
    os.replace(tmp, path)
    return path


def run_cli(runner, db: Path, incoming: Path, reports: Path, *args: str):
    return runner.invoke(
        main,
        [
            "--db",
            str(db),
            "run",
            "--incoming",
            str(incoming),
            "--reports",
            str(reports),
            "--settle",
            "0.05",
            *args,
        ],  # fmt: skip
    )


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    d = {name: tmp_path / name for name in ("inbox", "reports", "archive")}
    d["inbox"].mkdir()
    d["db"] = tmp_path / "store.duckdb"
    return d


def store_counts(db: Path) -> dict[str, object]:
    with Store.open(db, read_only=True) as store:
        con = store.con
        return {
            "posts": con.execute("SELECT count(*) FROM posts").fetchone()[0],
            "distinct": con.execute("SELECT count(DISTINCT post_id) FROM posts").fetchone()[0],
            "runs_per_hash": con.execute(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM ingest_runs GROUP BY content_hash)"
            ).fetchone()[0],
            "rejects": con.execute("SELECT count(*) FROM rejects").fetchone()[0],
            "jobs": con.execute(
                "SELECT status, count(*) FROM jobs GROUP BY 1 ORDER BY 1"
            ).fetchall(),
            "in_cascades": con.execute("SELECT count(*) FROM post_cascades").fetchone()[0],
        }


# --- scanning ------------------------------------------------------------------------


def test_scan_ignores_hidden_and_temporary_names(tmp_path):
    for name in ["a.csv", ".hidden.csv", "b.csv.tmp", "c.part", "d.jsonl.gz"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    ready, waiting = scan_incoming(tmp_path, settle=0)
    assert sorted(p.name for p in ready) == ["a.csv", "d.jsonl.gz"] and waiting == []


def test_scan_holds_back_a_file_still_being_written(tmp_path):
    (tmp_path / "done.csv").write_text("complete\n")
    growing = tmp_path / "growing.csv"
    growing.write_text("start\n")
    stop = threading.Event()

    def writer():
        with open(growing, "a") as fh:
            while not stop.is_set():
                fh.write("more\n")
                fh.flush()
                time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    try:
        ready, waiting = scan_incoming(tmp_path, settle=0.3)
    finally:
        stop.set()
        t.join()
    assert [p.name for p in ready] == ["done.csv"]
    assert [p.name for p in waiting] == ["growing.csv"]
    ready, waiting = scan_incoming(tmp_path, settle=0.1)  # writer finished: now ready
    assert sorted(p.name for p in ready) == ["done.csv", "growing.csv"] and waiting == []


# --- runs ----------------------------------------------------------------------------


def test_run_ingests_builds_reports_and_archives(runner, dirs):
    write_posts(dirs["inbox"] / "a.csv", make_posts(50, seed=1))
    write_posts(dirs["inbox"] / "b.csv", make_posts(30, seed=2, prefix="q"))
    log = dirs["db"].parent / "run.log"
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"],
                     "--archive", str(dirs["archive"]), "--log", str(log))  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert sorted(os.listdir(dirs["archive"])) == ["a.csv", "b.csv"]
    assert os.listdir(dirs["inbox"]) == []
    counts = store_counts(dirs["db"])
    assert counts["posts"] == counts["distinct"] == counts["in_cascades"] == 80
    assert counts["jobs"] == [("ok", 1)]
    latest = dirs["reports"] / "latest"
    assert sorted(os.listdir(latest)) == sorted([*REPORT_FILES, "manifest.json"])
    with open(latest / "cascades.csv", newline="") as fh:
        assert sum(int(r["size"]) for r in csv.DictReader(fh)) == 80
    # one line per event, each with the same run id, in the log file
    lines = log.read_text().splitlines()
    run_ids = {re.search(r"run=(\S+)", line).group(1) for line in lines}
    assert len(run_ids) == 1 and next(iter(run_ids)).startswith("run-")
    events = [line.split(" ", 3)[3].split(" ")[0] for line in lines]
    assert events[0] == "start" and events[-1] == "done"
    assert events.count("ingest") == 2 and events.count("archive") == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO run=run-", lines[0])
    # the build and report lines say where the run's time went
    build_line = next(line for line in lines if re.search(r" build \d+: mode=", line))
    assert re.search(r" in \d+\.\d\d s \(cascades=\d+\.\d\d .*snapshot=", build_line)
    assert re.search(r" report \S+ in \d+\.\d\d s: cascades=", log.read_text())
    # hostile post texts (=HYPERLINK, +1, -1, @SUM, tab, CR) came through neutralised
    with open(latest / "cascades.csv", newline="", encoding="utf-8") as fh:
        texts = [r["root_text"] for r in csv.DictReader(fh)]
    assert any(t.startswith("'=HYPERLINK(") for t in texts)
    assert not [t for t in texts if t[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_a_file_already_ingested_is_skipped_and_nothing_is_rewritten(runner, dirs):
    rows = make_posts(40, seed=3)
    write_posts(dirs["inbox"] / "a.csv", rows)
    assert run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"]).exit_code == EXIT_OK
    first = sorted(os.listdir(dirs["reports"]))
    # same bytes under another name: skipped by content hash; no build, no new report
    write_posts(dirs["inbox"] / "copy-of-a.csv", rows)
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert '"files_ingested": []' in result.output
    timings = json.loads(result.output[result.output.index("{") :])["timings"]
    assert set(timings) == {"ingest"}  # nothing new: no build, no report
    assert len(re.findall(r"already ingested", result.output)) == 2
    assert sorted(os.listdir(dirs["reports"])) == first
    counts = store_counts(dirs["db"])
    assert counts["posts"] == 40 and counts["runs_per_hash"] == 1
    # a different secret makes the reports on disk stale: they are rewritten
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--pseudonymize", "k" * 16)
    assert result.exit_code == EXIT_OK
    assert len(os.listdir(dirs["reports"])) == len(first) + 1
    assert "acct_" in (dirs["reports"] / "latest" / "cascades.csv").read_text()


def test_keep_runs_bounds_the_report_folders_of_a_cron_job(runner, dirs):
    """Each run with new data adds a report folder; --keep-runs 2 holds them at two."""
    for k in range(3):
        write_posts(dirs["inbox"] / f"f{k}.csv", make_posts(20, seed=10 + k, prefix=f"k{k}"))
        result = run_cli(
            runner, dirs["db"], dirs["inbox"], dirs["reports"], "--keep-runs", "2",
            "--report-kind", "full",
        )  # fmt: skip
        assert result.exit_code == EXIT_OK, result.output
    folders = sorted(p.name for p in dirs["reports"].iterdir() if not p.name.startswith("."))
    assert len(folders) == 3 and folders[-1] == "latest"  # two runs and latest/
    assert "removed 1 older report folder(s)" in result.output
    with open(dirs["reports"] / "latest" / "cascades.csv", newline="") as fh:
        assert sum(int(r["size"]) for r in csv.DictReader(fh)) == 60


def test_a_cron_run_writes_a_changes_set_between_full_ones(runner, dirs):
    """Default --report-kind=auto: a full set first, then changes sets; the log says which."""
    names = []
    for k, extra in enumerate(([], [], ["--full-reports-every", "0s"])):
        write_posts(dirs["inbox"] / f"f{k}.csv", make_posts(20, seed=20 + k, prefix=f"c{k}"))
        result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], *extra)
        assert result.exit_code == EXIT_OK, result.output
        names.append(re.search(r" report \S+/(\S+) in ", result.output).group(1))
    assert [n.endswith(".changes") for n in names] == [False, True, False]
    assert "(full set: the newest full set is older than 0s)" in result.output
    changes = dirs["reports"] / names[1]
    assert (changes / "cascades.changes.csv").exists() and (changes / "alerts.csv").exists()
    bad = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--full-reports-every", "x")
    assert bad.exit_code == 2 and "not a time window" in bad.output


def test_partly_written_file_waits_for_the_next_run(runner, dirs):
    rows = make_posts(60, seed=4)
    target = dirs["inbox"] / "slow.csv"
    with open(target, "w", newline="") as fh:
        csv.writer(fh).writerow(HEADER)
    stop = threading.Event()

    def slow_exporter():
        with open(target, "a", newline="") as fh:
            writer = csv.writer(fh)
            for row in rows:
                if stop.is_set():
                    break
                writer.writerow(row)
                fh.flush()
                time.sleep(0.01)

    t = threading.Thread(target=slow_exporter)
    t.start()
    try:
        result = runner.invoke(main, ["--db", str(dirs["db"]), "run", "--incoming",
                                      str(dirs["inbox"]), "--reports", str(dirs["reports"]),
                                      "--settle", "0.15"])  # fmt: skip
    finally:
        t.join()
    assert result.exit_code == EXIT_OK, result.output
    assert "wait slow.csv: still being written" in result.output
    assert store_counts(dirs["db"])["posts"] == 0
    # the exporter has finished: the next run takes the whole file
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
    assert result.exit_code == EXIT_OK, result.output
    assert store_counts(dirs["db"])["posts"] == 60


def test_a_file_of_only_rejects_exits_with_the_rejects_code(runner, dirs):
    write_posts(
        dirs["inbox"] / "bad.csv",
        [],
        extra_lines=["x1,acct1,not-a-time,,original,hi", ",acct2,2024-05-01T00:00:00Z,,original,"],
    )
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--archive",
                     str(dirs["archive"]))  # fmt: skip
    assert result.exit_code == EXIT_REJECTS, result.output
    counts = store_counts(dirs["db"])
    assert counts["posts"] == 0 and counts["rejects"] == 2
    assert counts["jobs"] == [("rejects", 1)]
    assert os.listdir(dirs["archive"]) == ["bad.csv"]  # rejects are data, not a failure
    with Store.open(dirs["db"], read_only=True) as store:
        reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert all(reasons)


def test_an_unreadable_file_is_quarantined_and_blocks_nothing(runner, dirs):
    """The broken file arrives first; the good ones behind it are ingested anyway, the
    broken one moves to INCOMING/quarantine with its reason, named in the log; the
    next run does not trip over it again."""
    broken = dirs["inbox"] / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    os.utime(broken, (1, 1))  # oldest: first in the queue
    write_posts(dirs["inbox"] / "good.csv", make_posts(20, seed=5))
    write_posts(dirs["inbox"] / "good2.csv", make_posts(20, seed=55, prefix="q"))
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--archive",
                     str(dirs["archive"]))  # fmt: skip
    assert result.exit_code == EXIT_FAILED, result.output
    assert "unreadable broken.csv.gz" in result.output
    assert "quarantine broken.csv.gz" in result.output
    assert sorted(os.listdir(dirs["archive"])) == ["good.csv", "good2.csv"]
    assert os.listdir(dirs["inbox"]) == ["quarantine"]
    quarantine = dirs["inbox"] / "quarantine"
    assert sorted(os.listdir(quarantine)) == ["broken.csv.gz", "broken.csv.gz.reason.txt"]
    reason = (quarantine / "broken.csv.gz.reason.txt").read_text()
    assert "broken.csv.gz" in reason and "gzip" in reason.lower()
    counts = store_counts(dirs["db"])
    assert counts["posts"] == 40 and counts["jobs"] == [("failed", 1)]
    assert (dirs["reports"] / "latest" / "cascades.csv").exists()
    # the next run is clean: nothing left to trip over
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
    assert result.exit_code == EXIT_OK, result.output


def test_a_reader_crash_is_quarantined_not_a_failed_job(runner, dirs, monkeypatch):
    """A reader that dies with an unexpected error (say, RecursionError on a deeply
    nested line) costs that file only."""
    import spreadtrace.ingest as ingest_pkg

    real = ingest_pkg.ingest_file

    def flaky(store, path, **kw):
        if Path(path).name == "deep.csv":
            raise RecursionError("maximum recursion depth exceeded")
        return real(store, path, **kw)

    monkeypatch.setattr(ingest_pkg, "ingest_file", flaky)
    write_posts(dirs["inbox"] / "deep.csv", make_posts(5, seed=8, prefix="d"))
    write_posts(dirs["inbox"] / "fine.csv", make_posts(5, seed=9, prefix="f"))
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
    assert result.exit_code == EXIT_FAILED, result.output
    assert "quarantine deep.csv" in result.output and "RecursionError" in result.output
    assert store_counts(dirs["db"])["posts"] == 5
    assert (dirs["inbox"] / "quarantine" / "deep.csv").exists()


def test_second_job_is_refused_with_the_busy_code_or_waits(runner, dirs):
    write_posts(dirs["inbox"] / "a.csv", make_posts(10, seed=6))
    holder = Store.open(dirs["db"])  # another job holds the lock
    try:
        result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
        assert result.exit_code == EXIT_BUSY
        assert "another spreadtrace job is writing" in result.output
        assert f"pid {os.getpid()}" in result.output
    finally:
        timer = threading.Timer(0.5, holder.close)
        timer.start()
    # with --wait the job waits for the holder to finish, then runs
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"], "--wait", "30")
    timer.join()
    assert result.exit_code == EXIT_OK, result.output
    assert store_counts(dirs["db"])["posts"] == 10


def test_a_failed_build_fails_the_job_and_the_next_run_catches_up(runner, dirs, monkeypatch):
    import spreadtrace.pipeline.build

    write_posts(dirs["inbox"] / "a.csv", make_posts(25, seed=8))

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(spreadtrace.pipeline.build, "run_build", broken)
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
    assert result.exit_code == EXIT_FAILED
    assert "failed: RuntimeError: disk on fire" in result.output
    counts = store_counts(dirs["db"])
    assert counts["posts"] == 25 and counts["in_cascades"] == 0  # ingest kept, no build
    assert counts["jobs"] == [("failed", 1)]
    monkeypatch.undo()
    # nothing new arrives, but the store is ahead of the last build: the next run builds
    result = run_cli(runner, dirs["db"], dirs["inbox"], dirs["reports"])
    assert result.exit_code == EXIT_OK, result.output
    assert "already ingested" in result.output and "build 1:" in result.output
    assert store_counts(dirs["db"])["in_cascades"] == 25


@pytest.mark.slow
def test_two_real_runs_at_once_one_exits_busy(dirs):
    """OS processes: the first pauses inside its build; a second run, an ingest and a
    build on the same store each exit at once with 75 and a message naming it."""
    write_posts(dirs["inbox"] / "a.csv", make_posts(30, seed=7))
    env = os.environ | {
        "SPREADTRACE_TEST_PAUSE_AT": "build",
        "SPREADTRACE_TEST_PAUSE_SECONDS": "60",
    }
    cli = [
        sys.executable,
        "-c",
        "from spreadtrace.cli import main; main()",
        "--db",
        str(dirs["db"]),
    ]
    run = [
        "run",
        "--incoming",
        str(dirs["inbox"]),
        "--reports",
        str(dirs["reports"]),
        "--settle",
        "0",
    ]
    first = subprocess.Popen(cli + run, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stderr:
            if "pause at build" in line:
                break
        others = [
            subprocess.Popen(cli + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in (run, ["ingest", str(dirs["inbox"] / "a.csv")], ["build"])
        ]
        # a report (a reader) is refused too while the job writes, with the same code
        report = subprocess.run(
            cli + ["report", "--out", str(dirs["reports"])], capture_output=True, text=True
        )
        assert report.returncode == EXIT_BUSY, report.stderr
        for other in others:
            _, err = other.communicate(timeout=120)
            assert other.returncode == EXIT_BUSY, err
            err = " ".join(err.split())  # rich wraps long messages off a terminal
            assert "another spreadtrace job is writing" in err and f"pid {first.pid}" in err
    finally:
        first.kill()  # it would sleep on; the crash tests cover what a kill leaves
        first.wait(timeout=60)
        first.stderr.close()
    # the killed job's ingest had committed; the next run builds and reports
    result = subprocess.run(cli + run, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_OK, result.stderr
    assert store_counts(dirs["db"])["jobs"] == [("failed", 1), ("ok", 1)]
    assert store_counts(dirs["db"])["in_cascades"] == 30


# --- whole runs on the bundled synthetic sample ------------------------------------------

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _sample_rows(name: str) -> tuple[list[str], list[list[str]]]:
    # the sample plants malformed bytes: carry them through unchanged
    with gzip.open(
        SAMPLE / name, "rt", newline="", encoding="utf-8", errors="surrogateescape"
    ) as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)


def _sample_files(folder: Path) -> list[list[Path]]:
    """The sample as four arrivals: accounts + follows, then the posts in three parts."""
    if not (SAMPLE / "posts.csv.gz").exists():
        pytest.skip("data/sample not generated (make sample)")
    folder.mkdir(parents=True, exist_ok=True)
    arrivals: list[list[Path]] = [[]]
    for name in ("accounts", "follows"):
        header, rows = _sample_rows(f"{name}.csv.gz")
        _write(folder / f"{name}.csv", header, rows)
        arrivals[0].append(folder / f"{name}.csv")
    header, rows = _sample_rows("posts.csv.gz")
    third = len(rows) // 3
    for i, part in enumerate([rows[:third], rows[third : 2 * third], rows[2 * third :]]):
        _write(folder / f"posts-{i}.csv", header, part)
        arrivals.append([folder / f"posts-{i}.csv"])
    return arrivals


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["full", "auto"])
def test_incremental_runs_equal_a_fresh_full_run(tmp_path, kind):
    from spreadtrace.jobs import run_job
    from tests.test_reports_changes import same_published_reports

    arrivals = _sample_files(tmp_path / "files")
    # incremental: files arrive over four runs, each run builds and reports
    inc = {name: tmp_path / "inc" / name for name in ("inbox", "reports")}
    inc["inbox"].mkdir(parents=True)
    for batch in arrivals:
        for path in batch:
            shutil.copy(path, inc["inbox"] / path.name)
        result = run_job(
            tmp_path / "inc.duckdb", inc["inbox"], inc["reports"], settle=0, report_kind=kind
        )
        assert result.exit_code in (EXIT_OK, EXIT_REJECTS), result
    # fresh: everything in one run on a new store
    full = {name: tmp_path / "full" / name for name in ("inbox", "reports")}
    full["inbox"].mkdir(parents=True)
    for batch in arrivals:
        for path in batch:
            shutil.copy(path, full["inbox"] / path.name)
    result = run_job(tmp_path / "full.duckdb", full["inbox"], full["reports"], settle=0)
    assert result.exit_code in (EXIT_OK, EXIT_REJECTS), result
    assert len([p for p in inc["reports"].iterdir() if p.name[0].isdigit()]) == 4
    with Store.open(str(tmp_path / "inc.duckdb")) as store:
        modes = [m for (m,) in store.con.execute("SELECT mode FROM builds").fetchall()]
        logged = store.con.execute("SELECT count(*) FROM row_changes").fetchone()[0]
    assert modes.count("incremental") == 3, modes  # each logged the keys it inserted
    if kind == "full":  # each run's full set spent its build's log: the run pruned it
        assert logged == 0
    else:  # changes sets since the first (full) set: their builds' keys are kept
        assert logged > 0
    if kind == "auto":  # one full set, then three changes sets: applied, the same rows
        assert len(list(inc["reports"].glob("*.changes"))) == 3
        same_published_reports(inc["reports"], full["reports"] / "latest")
        return
    for name in REPORT_FILES:
        a = (inc["reports"] / "latest" / name).read_text(encoding="utf-8")
        b = (full["reports"] / "latest" / name).read_text(encoding="utf-8")
        assert a == b, f"{name} differs between incremental and full runs"
    manifests = [
        json.loads((d["reports"] / "latest" / "manifest.json").read_text()) for d in (inc, full)
    ]
    rows = [{k: v["rows"] for k, v in m["files"].items()} for m in manifests]
    assert rows[0] == rows[1] and rows[0]["cascades.csv"] > 1000
    assert manifests[0]["build"]["params"] == manifests[1]["build"]["params"]


@pytest.mark.slow
def test_pseudonymized_run_names_no_account(tmp_path):
    from spreadtrace.jobs import run_job

    arrivals = _sample_files(tmp_path / "inbox")
    result = run_job(
        tmp_path / "s.duckdb", tmp_path / "inbox", tmp_path / "reports", settle=0,
        pseudonymize="team-secret-of-the-desk",
    )  # fmt: skip
    assert result.exit_code in (EXIT_OK, EXIT_REJECTS), result
    with gzip.open(SAMPLE / "accounts.csv.gz", "rt", errors="replace") as fh:
        accounts = list(csv.DictReader(fh))
    ids = {a["account_id"] for a in accounts}
    handles = {a["handle"].lower() for a in accounts if a["handle"]}
    with gzip.open(SAMPLE / "posts.csv.gz", "rt", errors="replace") as fh:
        ids |= {p["account_id"] for p in csv.DictReader(fh) if p.get("account_id")}
    latest = tmp_path / "reports" / "latest"
    text = "\n".join((latest / n).read_text(encoding="utf-8") for n in REPORT_FILES)
    text += (latest / "manifest.json").read_text()
    tokens = set(re.findall(r"[A-Za-z0-9_.]+", text.lower()))
    assert not tokens & ids, sorted(tokens & ids)[:5]
    assert not tokens & handles, sorted(tokens & handles)[:5]
    assert "team-secret-of-the-desk" not in text
    # the pseudonyms are there instead, and joinable across files
    cascades = (latest / "cascades.csv").read_text()
    accounts_csv = (latest / "accounts.csv").read_text()
    assert cascades.count("acct_") > 1000 and accounts_csv.count("acct_") >= len(accounts)
    assert arrivals  # (files were consumed from the same folder)


def test_archive_never_overwrites_a_different_file_of_the_same_name(tmp_path):
    from spreadtrace.ingest import content_hash
    from spreadtrace.jobs import _archive

    archive = tmp_path / "archive"
    first = tmp_path / "in" / "export.csv"
    first.parent.mkdir()
    first.write_text("one\n")
    assert _archive(first, archive, content_hash(first)) == archive / "export.csv"
    first.write_text("two\n")  # a new export under the same name
    digest = content_hash(first)
    target = _archive(first, archive, digest)
    assert target == archive / f"export.csv.{digest[:12]}"
    assert (archive / "export.csv").read_text() == "one\n" and target.read_text() == "two\n"
    first.write_text("one\n")  # the very same bytes again: archived over its twin
    assert _archive(first, archive, content_hash(first)) == archive / "export.csv"
    assert not first.exists() and len(list(archive.iterdir())) == 2

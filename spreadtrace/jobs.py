"""The scheduled job behind ``spreadtrace run``: ingest new files, build, write reports.

Why this shape: the job runs unattended (cron, systemd timer), so whatever happens to
the machine nothing may be lost, doubled or left half-done. Each step is one unit of
work that either lands whole or not at all, and the next run finds what is left to do
from the store itself rather than from a to-do list that a crash could corrupt:

1. take the store's job lock (held for the whole job; a second job exits at once
   with :class:`~spreadtrace.errors.StoreBusy`, exit code 75, or waits ``wait`` s);
2. scan the incoming folder; a file whose size or mtime changes between two looks
   ``settle`` seconds apart is still being written and waits for the next run;
3. skip files whose content hash an earlier ingest committed; ingest each new file
   in its own transaction (``spreadtrace.ingest.ingest_file``): a kill mid-file rolls
   that file back, and the next run ingests it again, exactly once;
4. build incrementally if anything was ingested, or if an earlier job ingested but
   died before its build committed (one transaction: all of the build or none);
5. write the reports if the build changed, or the last report run died, or the
   reports on disk are of another build (temp names + renames: never truncated);
6. optionally move ingested (and already-ingested) files to the archive folder,
   each copied under a temp name, renamed, then removed from incoming.

A file that cannot be read (not a known format, truncated, a reader that gives up on
it) is moved to the quarantine folder (``INCOMING/quarantine`` unless given) with a
``<name>.reason.txt`` beside it, logged by name, and the files behind it are ingested
as usual: one bad file never blocks the queue, and it is not retried every run.

Faults: a full disk or a read-only store stops the job with one log line and the
documented exit code (74, 73); every unit rolls back, the ``jobs`` row is closed as
``failed`` (or, when even that write fails, by the next run), and the next run
finishes the work. The reports are written only after the dashboard snapshot of the
same build is published (a snapshot a fault prevented is published by the next run
first), so the dashboard and the reports never disagree about the build.

One log line per event, each with the run id, goes to the ``spreadtrace.jobs``
logger; the CLI sends it to stderr and, with ``--log FILE``, to a file.

Test hook: with ``SPREADTRACE_TEST_PAUSE_AT=ingest|build|report`` the job logs
``pause at <step>`` from inside that step's transaction (or, for ``report``, with
the report half-written) and sleeps ``SPREADTRACE_TEST_PAUSE_SECONDS`` (default 60),
so a crash test can SIGKILL it at a known point. Unset, it costs one dict lookup.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spreadtrace.durable import fsync_file
from spreadtrace.errors import InputError, StorageError, StoreError
from spreadtrace.progress import ProgressFn
from spreadtrace.reports import AlertParams, prune_change_log, write_reports
from spreadtrace.store import Store, storage_error
from spreadtrace.store import jobs as job_sql

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_REJECTS",
    "EXIT_BUSY",
    "EXIT_NO_SPACE",
    "EXIT_READ_ONLY",
    "QUARANTINE",
    "JobResult",
    "run_job",
    "scan_incoming",
    "new_job_id",
]

EXIT_OK = 0  # everything ingested, built and reported
EXIT_FAILED = 1  # a file could not be read, or the build or report failed
EXIT_REJECTS = 65  # all done, but some rows were rejected (see the rejects table)
EXIT_BUSY = 75  # another job holds the store (EX_TEMPFAIL: try again later)
EXIT_NO_SPACE = StorageError.exit_code  # 74: disk full or an I/O error (EX_IOERR)
EXIT_READ_ONLY = 73  # the store or an output folder cannot be written (EX_CANTCREAT)

QUARANTINE = "quarantine"
"""Default quarantine folder name, inside the incoming folder (a folder: never scanned)."""

# Names a writer uses while a file is incomplete, and hidden files: never picked up.
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".lock")

log = logging.getLogger("spreadtrace.jobs")


@dataclass
class JobResult:
    """What one job did; ``exit_code`` is the documented process exit code."""

    job_id: str
    status: str  # ok | rejects | failed
    exit_code: int
    files_ingested: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)  # already ingested
    files_waiting: list[str] = field(default_factory=list)  # still being written
    files_failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    files_quarantined: dict[str, str] = field(default_factory=dict)  # new path -> reason
    rows_inserted: int = 0
    rows_rejected: int = 0
    rows_expired: int = 0  # posts dropped by the retention window
    build_id: int | None = None
    report_dir: str | None = None
    message: str | None = None
    # wall seconds per step (ingest, build with its stages, snapshot, report), so a
    # slow scheduled run says where its time went
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_job_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: ``run-20240501T120000Z-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"run-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def scan_incoming(
    incoming: str | os.PathLike[str], *, settle: float = 2.0
) -> tuple[list[Path], list[Path]]:
    """The files in ``incoming`` ready to ingest, and those still being written.

    Looks twice, ``settle`` seconds apart: a file whose size or mtime changed (or that
    vanished) in between is still being written. Hidden files and temporary names
    (``*.tmp``, ``*.part``, ...) are ignored: writers that create the file under such a
    name and rename it when done are never caught half-way. Ready files come oldest
    first (mtime, then name).
    """
    folder = Path(incoming)
    if not folder.is_dir():
        raise InputError(f"incoming folder {folder} does not exist")

    def look() -> dict[Path, tuple[int, int]]:
        seen = {}
        for entry in os.scandir(folder):
            name = entry.name
            if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue
            seen[Path(entry.path)] = (st.st_size, st.st_mtime_ns)
        return seen

    first = look()
    if not first:
        return [], []
    if settle > 0:
        time.sleep(settle)
    second = look()
    ready = [p for p, sig in first.items() if second.get(p) == sig]
    waiting = sorted(p for p in first if second.get(p) != first[p])
    ready.sort(key=lambda p: (first[p][1], p.name))
    return ready, waiting


class _JobLog(logging.LoggerAdapter):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("extra", {})["run_id"] = (self.extra or {})["run_id"]
        return msg, kwargs


def _pause_hook(step: str, jlog: _JobLog) -> ProgressFn | None:
    """The crash-test hook: pause once inside ``step`` when the env var asks for it.

    ``SPREADTRACE_TEST_PAUSE_TASK`` narrows it to one progress task of the step (e.g.
    the build's "narratives": earlier stages have written their rows, uncommitted)."""
    if os.environ.get("SPREADTRACE_TEST_PAUSE_AT") != step:
        return None
    seconds = float(os.environ.get("SPREADTRACE_TEST_PAUSE_SECONDS", "60"))
    only = os.environ.get("SPREADTRACE_TEST_PAUSE_TASK")
    fired = False

    def hook(task: str, done: int, total: int | None) -> None:
        nonlocal fired
        if not fired and done > 0 and only in (None, task):
            fired = True
            jlog.warning("pause at %s (test hook, %s s)", step, seconds)
            for handler in logging.getLogger().handlers + log.handlers:
                handler.flush()
            time.sleep(seconds)

    return hook


def run_job(
    db: str | os.PathLike[str],
    incoming: str | os.PathLike[str],
    reports: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    wait: float = 0.0,
    settle: float = 2.0,
    pseudonymize: str | None = None,
    alerts: AlertParams | None = None,
    job_id: str | None = None,
    format: str | None = None,
    quarantine: str | os.PathLike[str] | None = None,
    retain_days: float | None = None,
    now: datetime | None = None,
    memory_limit: str | None = None,
    keep_reports: int | None = None,
    report_kind: str = "auto",
    full_reports_every: float | None = 86400.0,
) -> JobResult:
    """Run one scheduled job on the store at ``db``; see the module docstring.

    Raises :class:`~spreadtrace.errors.StoreBusy` when another job holds the store
    (after waiting ``wait`` seconds), and :class:`~spreadtrace.errors.StorageError`
    when the store cannot even be opened for writing (read-only, disk full). Every
    other failure is caught, logged, recorded in the ``jobs`` row and returned as
    ``status="failed"`` (with exit code 74 or 73 for a full disk or a read-only
    location). With ``retain_days``, posts created more than that many days before
    ``now`` (default: the wall clock) are deleted after the ingest, in one statement,
    and the build that follows is a full one. ``memory_limit`` caps DuckDB's memory
    (default: half the memory available up to 2 GB, see :meth:`Store.limit_memory`).
    ``keep_reports`` keeps only that many report folders (:func:`write_reports`'s
    ``keep``; default: every one). ``report_kind`` and ``full_reports_every``:
    :func:`write_reports`'s ``kind`` and ``full_every`` (default: a changes set, and a
    full one at least once a day).
    """
    job_id = job_id or new_job_id()
    jlog = _JobLog(log, {"run_id": job_id})
    incoming, reports = Path(incoming), Path(reports)
    archive = Path(archive) if archive is not None else None
    quarantine = Path(quarantine) if quarantine is not None else incoming / QUARANTINE
    with Store.open(db, wait=wait) as store:  # the job lock, held to the end
        stale = job_sql.start_job(store, job_id, "run")
        limit = store.limit_memory(memory_limit)
        jlog.info(
            "start db=%s incoming=%s reports=%s memory_limit=%s", db, incoming, reports, limit
        )
        if stale:
            jlog.warning("closed %d job(s) left 'running' by a process that died", stale)
        result = JobResult(job_id=job_id, status="ok", exit_code=EXIT_OK)
        fault: StorageError | None = None
        try:
            _finish_erasures(store, jlog)
            t0 = time.perf_counter()
            _ingest_new(store, incoming, archive, quarantine, settle, format, job_id, jlog, result)
            result.timings["ingest"] = round(time.perf_counter() - t0, 3)
            if retain_days is not None:
                _retain(store, retain_days, now, jlog, result)
            _build_and_report(
                store,
                reports,
                pseudonymize,
                alerts,
                jlog,
                result,
                keep_reports,
                report_kind,
                full_reports_every,
            )
        except Exception as exc:  # recorded and returned: a scheduled job must say why
            fault = storage_error(exc, "writing failed")
            result.message = (
                " ".join(str(fault).split()) if fault else f"{type(exc).__name__}: {exc}"
            )
            jlog.error("failed: %s", result.message)
            result.status = "failed"
        if result.status != "failed" and (result.files_failed or result.files_quarantined):
            result.status = "failed"
            result.message = (
                f"{len(result.files_failed) + len(result.files_quarantined)} file(s) could "
                f"not be read ({len(result.files_quarantined)} moved to {quarantine})"
            )
        elif result.status == "ok" and result.rows_rejected:
            result.status = "rejects"
            result.message = f"{result.rows_rejected} row(s) rejected; see the rejects table"
        result.exit_code = {"ok": EXIT_OK, "rejects": EXIT_REJECTS}.get(result.status, EXIT_FAILED)
        if fault is not None:
            result.exit_code = fault.exit_code
        try:
            job_sql.finish_job(
                store,
                job_id,
                status=result.status,
                files_ingested=len(result.files_ingested),
                files_skipped=len(result.files_skipped),
                rows_rejected=result.rows_rejected,
                build_id=result.build_id,
                report_dir=result.report_dir,
                message=result.message,
            )
        except (StoreError, StorageError) as exc:
            # The store cannot take even this write (disk full): the row stays
            # 'running' until the next job, which closes it as failed.
            jlog.error("could not record the job's end (the next run closes it): %s", exc)
            if result.exit_code == EXIT_OK or result.exit_code == EXIT_REJECTS:
                result.exit_code = getattr(exc, "exit_code", EXIT_FAILED)
                result.status = "failed"
    jlog.info(
        "done status=%s exit=%d ingested=%d skipped=%d waiting=%d failed=%d quarantined=%d "
        "rejected=%d",
        result.status,
        result.exit_code,
        len(result.files_ingested),
        len(result.files_skipped),
        len(result.files_waiting),
        len(result.files_failed),
        len(result.files_quarantined),
        result.rows_rejected,
    )
    return result


def _ingest_new(
    store: Store,
    incoming: Path,
    archive: Path | None,
    quarantine: Path,
    settle: float,
    format: str | None,
    job_id: str,
    jlog: _JobLog,
    result: JobResult,
) -> None:
    from spreadtrace.ingest import content_hash, ingest_file

    ready, waiting = scan_incoming(incoming, settle=settle)
    for path in waiting:
        jlog.info("wait %s: still being written (size or mtime changed)", path.name)
        result.files_waiting.append(str(path))
    hashes: dict[Path, str] = {}
    for path in ready:
        try:
            hashes[path] = content_hash(path)
        except FileNotFoundError:  # taken away between the scan and now
            jlog.info("gone %s: removed before it could be read", path.name)
    ready = [path for path in ready if path in hashes]
    done = job_sql.already_ingested(store, list(set(hashes.values())))
    pause = _pause_hook("ingest", jlog)
    for path in ready:
        digest = hashes[path]
        if digest in done:
            jlog.info("skip %s: already ingested (sha256 %s)", path.name, digest[:12])
            result.files_skipped.append(str(path))
        else:
            try:
                r = ingest_file(store, path, format=format, job_id=job_id, progress=pause)
            except Exception as exc:  # noqa: BLE001 -- a reader giving up is the file's fault
                fault = storage_error(exc, f"ingesting {path.name}")
                if fault is not None and (
                    not isinstance(exc, InputError) or fault.exit_code == EXIT_NO_SPACE
                ):
                    raise fault from exc  # the store's or the disk's fault, not the file's
                reason = " ".join(str(exc).split()) or type(exc).__name__
                if not isinstance(exc, InputError):
                    reason = f"{type(exc).__name__}: {reason}"
                jlog.error("unreadable %s: %s", path.name, reason)
                _quarantine_file(path, quarantine, reason, digest, jlog, result)
                continue
            done.add(digest)
            result.files_ingested.append(str(path))
            result.rows_inserted += r.rows_inserted
            result.rows_rejected += r.rows_rejected
            jlog.info(
                "ingest %s: format=%s read=%d inserted=%d duplicate=%d rejected=%d",
                path.name,
                r.format,
                r.rows_read,
                r.rows_inserted,
                r.rows_duplicate,
                r.rows_rejected,
            )
        if archive is not None:
            target = _archive(path, archive, digest)
            jlog.info("archive %s -> %s", path.name, target)


def _quarantine_file(
    path: Path, quarantine: Path, reason: str, digest: str, jlog: _JobLog, result: JobResult
) -> None:
    """Move an unreadable file aside, with its reason, so it blocks nothing behind it."""
    try:
        target = _archive(path, quarantine, digest)
        tmp = target.with_name(f".{target.name}.reason.tmp")
        tmp.write_text(
            f"{datetime.now(UTC).isoformat(timespec='seconds')} {path.name}: {reason}\n",
            encoding="utf-8",
        )
        os.replace(tmp, target.with_name(target.name + ".reason.txt"))
    except OSError as exc:  # cannot move it: it stays, and is reported as failed
        jlog.error("cannot quarantine %s: %s", path.name, exc)
        result.files_failed[str(path)] = reason
        return
    jlog.warning("quarantine %s -> %s: %s", path.name, target, reason)
    result.files_quarantined[str(target)] = reason


def _archive(path: Path, archive: Path, digest: str) -> Path:
    """Move ``path`` into ``archive`` without ever leaving a partial copy under its name.

    A rename when incoming and archive share a file system; otherwise a copy to a
    hidden temp name, fsync, rename, then unlink of the source. Killed in between, the
    source is still in incoming; the next run sees it is already ingested and
    archives it again. A different file already archived under
    the same name keeps its name; this one gets its hash added.
    """
    archive.mkdir(parents=True, exist_ok=True)
    target = archive / path.name
    if target.exists():
        from spreadtrace.ingest import content_hash

        if content_hash(target) != digest:
            target = archive / f"{path.name}.{digest[:12]}"
    try:
        os.rename(path, target)  # same file system: one atomic step
        return target
    except OSError:
        pass  # another file system: copy under a temp name, then rename
    tmp = archive / f".{target.name}.{os.getpid()}.tmp"
    shutil.copyfile(path, tmp)
    fsync_file(tmp)
    os.replace(tmp, target)
    path.unlink()
    return target


def _build_and_report(
    store: Store,
    reports: Path,
    pseudonymize: str | None,
    alerts: AlertParams | None,
    jlog: _JobLog,
    result: JobResult,
    keep_reports: int | None = None,
    report_kind: str = "auto",
    full_reports_every: float | None = 86400.0,
) -> None:
    built = False
    if result.files_ingested or result.rows_expired or job_sql.needs_build(store):
        # imported only for a build: the stages' modules bring polars, numpy, pyarrow
        # and igraph (~0.7 s of a run's start), which a run with nothing new never uses
        from spreadtrace.pipeline.build import run_build

        full = result.rows_expired > 0  # deleted posts: every derived table may change
        jlog.info("build: %s", "full (posts expired)" if full else "incremental")
        t0 = time.perf_counter()
        b = run_build(store, full=full, progress=_pause_hook("build", jlog))
        result.timings["build"] = round(time.perf_counter() - t0, 3)
        result.timings |= {f"build.{k}": round(v, 3) for k, v in b.timings.items()}
        built = True
        result.build_id = b.build_id
        jlog.info(
            "build %d: mode=%s posts=%d cascades_touched=%d in %.2f s (%s)",
            b.build_id,
            b.mode,
            b.posts,
            b.cascades_touched,
            result.timings["build"],
            " ".join(f"{k}={v:.2f}" for k, v in b.timings.items()),
        )
    else:
        result.build_id = job_sql.latest_build_id(store)
        jlog.info("build: nothing new since build %s", result.build_id)
    _ensure_snapshot(store, result.build_id, jlog)
    if built or _reports_stale(reports, result.build_id, pseudonymize):
        t0 = time.perf_counter()
        r = write_reports(
            store,
            reports,
            pseudonymize=pseudonymize,
            alerts=alerts,
            progress=_pause_hook("report", jlog),
            keep=keep_reports,
            kind=report_kind,
            full_every=full_reports_every,
        )
        result.timings["report"] = round(time.perf_counter() - t0, 3)
        result.report_dir = str(r.run_dir)
        rows = " ".join(f"{name.removesuffix('.csv')}={n}" for name, n in r.rows.items())
        jlog.info(
            "report %s in %.2f s: %s (%s set: %s)",
            r.run_dir,
            result.timings["report"],
            rows,
            r.kind,
            r.reason,
        )
        if r.removed_runs:
            jlog.info("report: removed %d older report folder(s)", r.removed_runs)
        pruned = prune_change_log(store, reports)
        if pruned:
            jlog.info("report: pruned %d logged key change(s) no report set can need", pruned)
    else:
        jlog.info("report: up to date (build %s)", result.build_id)


def _finish_erasures(store: Store, jlog: _JobLog) -> None:
    """Finish an erasure a killed ``forget`` left half done (rebuild, compact, publish)."""
    from spreadtrace.store.erasure import pending_erasures

    if not pending_erasures(store):
        return
    from spreadtrace.privacy import finish_erasures

    build_id, _path, _removed = finish_erasures(store)
    jlog.warning("finished an erasure a process that died had left: full build %d", build_id)


def _retain(
    store: Store, days: float, now: datetime | None, jlog: _JobLog, result: JobResult
) -> None:
    """Drop posts older than the retention window (set-wise, one statement)."""
    from datetime import timedelta

    from spreadtrace.store.erasure import drop_posts_before

    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    result.rows_expired = drop_posts_before(store, cutoff)
    if result.rows_expired:
        jlog.info(
            "retain %g days: dropped %d post(s) created before %s",
            days,
            result.rows_expired,
            cutoff.isoformat(timespec="seconds"),
        )


def _ensure_snapshot(store: Store, build_id: int | None, jlog: _JobLog) -> None:
    """Publish the dashboard snapshot of ``build_id`` if a fault left it unpublished,
    before any report of that build is written (reports never run ahead of the
    dashboard)."""
    import importlib.util

    if build_id is None or importlib.util.find_spec("spreadtrace.store.snapshot") is None:
        return
    from spreadtrace.store import snapshot

    if store.path == ":memory:" or snapshot.latest_build_id(store.path) == build_id:
        return
    path = snapshot.publish(store)
    jlog.info("snapshot %s: published for build %d (a fault had left it out)", path, build_id)


def _reports_stale(reports: Path, build_id: int | None, pseudonymize: str | None) -> bool:
    """True unless the newest published set (``reports/latest-changes`` when there is
    one: it is newer than ``reports/latest``, which a full set retires it from) is a
    complete report of ``build_id``, same keying."""
    import json

    from spreadtrace.reports import LATEST, LATEST_CHANGES
    from spreadtrace.store.report_queries import PseudonymKey

    for name in (LATEST_CHANGES, LATEST):
        try:
            manifest = json.loads((reports / name / "manifest.json").read_text())
            break
        except (OSError, ValueError):
            continue
    else:
        return True
    key_id = PseudonymKey.from_secret(pseudonymize).key_id if pseudonymize else None
    have = (manifest.get("build") or {}).get("build_id")
    return have != build_id or manifest.get("pseudonym_key_id") != key_id

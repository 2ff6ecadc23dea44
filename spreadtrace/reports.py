"""CSV reports for colleagues: safe to open in a spreadsheet, never half-written.

Why this shape: reports leave the team, are opened in Excel, and are picked up by
other scripts while a scheduled job may be writing the next ones. So:

- every file is UTF-8 CSV with a header, a stable column order (declared once in
  :mod:`spreadtrace.store.report_queries`), ISO 8601 UTC times and a total row order;
- a run goes to ``out_dir/<UTC timestamp>/`` and is published as ``out_dir/latest/``
  (hard links to the run's files, which are never written again; a copy where the
  file system has no hard links).
  Each file is written to a temporary name and renamed; the run folder is assembled
  under a hidden name and renamed into place whole; ``latest/`` is swapped atomically
  (``renameat2(RENAME_EXCHANGE)`` on Linux, else two renames). A reader sees the old
  report or the new one, never a truncated file, whatever happens to the writer;
- untrusted text is neutralised against spreadsheet formula injection by
  :func:`safe_cell` (and its SQL twin for the files), after any separator a
  spreadsheet may split on, and every text cell is quoted;
- ``pseudonymize=SECRET`` replaces account ids, handles, post, cascade and narrative
  ids by HMAC-SHA256 keyed pseudonyms (stable for the same secret, unlinkable without
  it) in every file, and masks every account trace in free text;
- the manifest names the store by its file name only, never an absolute path.

>>> safe_cell("=1+2")
"'=1+2"
>>> safe_cell("plain"), safe_cell(-1.5), safe_cell(None)
('plain', '-1.5', '')
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spreadtrace import __version__
from spreadtrace.durable import fsync_dir, fsync_file, write_text_atomic
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store, storage_errors
from spreadtrace.store.report_queries import (
    CSV_SEPARATORS,
    FORMULA_RE,
    LEADING_CONTROL_RE,
    REPORTS,
    PseudonymKey,
    changes_possible,
    export_changes_csv,
    export_csv,
    latest_build,
    model_versions,
    prune_row_changes,
    watermarks,
)

__all__ = [
    "AlertParams",
    "ReportResult",
    "REPORT_FILES",
    "safe_cell",
    "csv_row",
    "write_reports",
    "parse_window",
    "prune_runs",
    "prune_change_log",
    "CHANGES_FILES",
    "REPORT_KINDS",
]

REPORT_FILES: tuple[str, ...] = tuple(f"{q.name}.csv" for q in REPORTS)
CHANGES_FILES: tuple[str, ...] = tuple(
    f"{q.name}.changes.csv" if q.key else f"{q.name}.csv" for q in REPORTS
)
"""A changes set's files: the big files' changes under ``<name>.changes.csv``, the small,
time-critical ones (alerts, coordination pairs and clusters, media) in full."""
REPORT_KINDS = ("auto", "full", "changes")
LATEST = "latest"
LATEST_CHANGES = "latest-changes"
CHANGES_SUFFIX = ".changes"
_STAGING_PREFIX = ".partial-"
RUN_DIR = re.compile(r"^\d{8}T\d{6}Z(-\d+)?(\.changes)?$")
"""The name of one run's folder (:func:`_unique_stamp`): a UTC stamp, ``-n`` on a clash,
``.changes`` for a changes set."""


def safe_cell(value: object) -> str:
    """One cell as text that no spreadsheet will run as a formula.

    A formula sign (``=``, ``+``, ``-``, ``@``, or their full-width and small forms
    ``＝ ＋ － ＠``, or the minus sign) at the start of the cell, or right after any
    separator a spreadsheet may split a line on (``,`` ``;`` tab ``|``: the locale
    decides which), even behind spaces, NBSP, invisible characters or quote marks,
    gets a single quote inserted before it; so does a leading tab or carriage return
    (the OWASP "CSV injection" rule, extended to every locale). Excel, LibreOffice
    and Google Sheets then show text instead of evaluating it. Numbers are numbers,
    not formulas, so ``-1.5`` stays ``-1.5``; None becomes the empty cell. The report
    files apply the same rule in SQL (``safe_cell_sql``, tested equal); the
    dashboard's CSV downloads call this function.

    >>> [safe_cell(v) for v in ["+1", "@SUM(A1)", "\\tx", "a=b", 3, "\\xa0＝1", "x;=cmd"]]
    ["'+1", "'@SUM(A1)", "'\\tx", 'a=b', '3', "'\\xa0＝1", "x;'=cmd"]
    """
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    text = _FORMULA.sub(r"\1'\2", text)
    return _LEADING_CONTROL.sub(r"'\1", text)


_FORMULA = re.compile(FORMULA_RE)
_LEADING_CONTROL = re.compile(LEADING_CONTROL_RE)
_NEEDS_QUOTES = re.compile(f'[{re.escape(CSV_SEPARATORS)}"\r\n]')


def csv_row(values: list[object]) -> str:
    """One CSV line: every cell neutralised by :func:`safe_cell`, and quoted when it
    holds a separator of any locale (``,`` ``;`` tab ``|``), a quote or a newline.

    >>> print(csv_row(["a;b", "=1", 2]), end="")
    "a;b",'=1,2
    """
    cells = []
    for value in values:
        cell = safe_cell(value)
        if _NEEDS_QUOTES.search(cell):
            cell = '"' + cell.replace('"', '""') + '"'
        cells.append(cell)
    return ",".join(cells) + "\n"


@dataclass(frozen=True)
class AlertParams:
    """The alerts.csv rule: a share rate far above the item's own earlier rate.

    An item (cascade or narrative) alerts when it got at least ``floor`` posts in the
    last ``window_s`` seconds before the newest post in the store, and at least
    ``ratio`` times its own average per window before that (an item with no earlier
    posts alerts on the floor alone). Defaults: 1 hour, 5x, 20 posts. ``at`` moves
    "now" back in time (later posts are ignored), to look at past data as it stood.
    """

    window_s: float = 3600.0
    ratio: float = 5.0
    floor: int = 20
    at: datetime | None = None  # "now" for the rule; None: the newest post in the store

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.ratio <= 0 or self.floor < 1:
            raise ValueError("alert window and ratio must be > 0 and the floor >= 1")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("the alert time must be timezone-aware (UTC)")

    @property
    def window_label(self) -> str:
        return format_window(self.window_s)


def parse_window(text: str) -> float:
    """Seconds in ``text`` such as ``90s``, ``15m``, ``1h``, ``2d`` or a bare number.

    >>> parse_window("15m"), parse_window("1h"), parse_window("45")
    (900.0, 3600.0, 45.0)
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise ValueError(f"not a time window: {text!r} (use e.g. 90s, 15m, 1h, 2d)") from None


def format_window(seconds: float) -> str:
    """The shortest exact label for a window: 3600 -> ``1h``, 90 -> ``90s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass
class ReportResult:
    """What one :func:`write_reports` call wrote."""

    run_dir: Path
    latest_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    removed_runs: int = 0  # older run folders deleted (``keep``)
    kind: str = "full"  # full | changes
    reason: str = ""  # why this kind (auto)


def write_reports(
    store: Store,
    out_dir: str | os.PathLike[str],
    *,
    pseudonymize: str | None = None,
    alerts: AlertParams | None = None,
    progress: ProgressFn | None = None,
    keep: int | None = None,
    kind: str = "full",
    full_every: float | None = None,
) -> ReportResult:
    """Write every report file into ``out_dir/<UTC timestamp>/`` and ``out_dir/latest/``.

    ``kind``: ``full`` (the default) writes every file whole. ``changes`` writes a
    CHANGES set into ``out_dir/<UTC timestamp>.changes/``, published as
    ``out_dir/latest-changes/``: for each big file only the rows added, updated or
    removed since the previous set (``<name>.changes.csv``, first column ``change``),
    the small files whole; it falls back to a full set when there is no earlier set to
    build on, the keying changed, or a full build ran since (``reason`` says which).
    ``auto`` is ``changes``, but full when the newest full set is older than
    ``full_every`` seconds.

    Crash-safe: nothing under a visible name is ever partly written (see the module
    docstring). Leftovers of an interrupted earlier call (hidden staging folders) are
    removed first. Concurrent writers to the same ``out_dir`` are serialised by a lock
    file, ``out_dir/.lock``. With ``keep``, only the newest ``keep`` run folders stay
    (this one included; see :func:`prune_runs`): a cron job every five minutes on a
    million posts would otherwise add ~250 MB of reports each run, without end.
    """
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    if kind not in REPORT_KINDS:
        raise ValueError(f"report kind must be one of {', '.join(REPORT_KINDS)}, not {kind!r}")
    out = Path(out_dir)
    alerts = alerts or AlertParams()
    key = PseudonymKey.from_secret(pseudonymize) if pseudonymize is not None else None
    # A full disk or a read-only folder: one line (StorageError). Only hidden staging
    # names were written; the next writer removes them, and latest/ is unchanged.
    with storage_errors(f"cannot write the reports in {out}"):
        return _write_reports(store, out, key, alerts, progress, keep, kind, full_every)


def _write_reports(
    store: Store,
    out: Path,
    key: PseudonymKey | None,
    alerts: AlertParams,
    progress: ProgressFn | None,
    keep: int | None,
    kind: str,
    full_every: float | None,
) -> ReportResult:
    out.mkdir(parents=True, exist_ok=True)
    with _dir_lock(out):
        _clean_leftovers(out)
        now = datetime.now(UTC)
        since, reason = _plan(store, out, key, kind, full_every, now)
        stamp = _unique_stamp(out, now) + (CHANGES_SUFFIX if since else "")
        staging = out / f"{_STAGING_PREFIX}{stamp}"
        staging.mkdir()
        params = {
            "window_s": alerts.window_s,
            "floor": alerts.floor,
            "ratio": alerts.ratio,
            "window_label": alerts.window_label,
            "at": alerts.at,
        }
        rows: dict[str, int] = {}
        files: dict[str, Any] = {}
        total = len(REPORTS) + 1
        marks = watermarks(store)
        for done, query in enumerate(REPORTS, start=1):
            counts = None
            if since is not None and query.key is not None:
                filename = f"{query.name}.changes.csv"
                tmp = staging / f"{filename}.tmp"
                counts = export_changes_csv(
                    store,
                    query,
                    tmp,
                    since_build=since["watermarks"]["build_id"],
                    since_run=since["watermarks"]["ingest_run_id"],
                    key=key,
                )
                n, header = sum(counts.values()), ["change", *query.header]
            else:
                filename = f"{query.name}.csv"
                tmp = staging / f"{filename}.tmp"
                n = export_csv(store, query, tmp, key=key, params=params)
                header = query.header
            fsync_file(tmp)
            os.replace(tmp, staging / filename)
            rows[filename] = n
            files[filename] = {"rows": n, "columns": header, "sha256": _sha256(staging / filename)}
            if counts is not None:
                files[filename]["changes"] = counts
            emit(progress, "report", done, total)
        manifest = _manifest(store, stamp, now, files, alerts, key)
        manifest["kind"] = "changes" if since is not None else "full"
        manifest["watermarks"] = {"build_id": marks[0], "ingest_run_id": marks[1]}
        if since is not None:
            full_prev = since.get("kind", "full") == "full"
            manifest["base"] = since["report"] if full_prev else since["base"]
            manifest["since"] = {"report": since["report"], **since["watermarks"]}
            manifest["builds"] = {"after": since["watermarks"]["build_id"], "to": marks[0]}
        write_text_atomic(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        fsync_dir(staging)
        run_dir = out / stamp
        os.rename(staging, run_dir)
        fsync_dir(out)
        if since is not None:
            latest = _publish_latest(out, run_dir, LATEST_CHANGES)
        else:
            latest = _publish_latest(out, run_dir)
            # the newest changes set was of an older base: gone with it
            _remove_latest(out, LATEST_CHANGES)
        removed = prune_runs(out, keep, run_dir) if keep is not None else 0
        emit(progress, "report", total, total)
    return ReportResult(
        run_dir=run_dir,
        latest_dir=latest,
        rows=rows,
        manifest=manifest,
        removed_runs=removed,
        kind=manifest["kind"],
        reason=reason,
    )


def _plan(
    store: Store,
    out: Path,
    key: PseudonymKey | None,
    kind: str,
    full_every: float | None,
    now: datetime,
) -> tuple[dict[str, Any] | None, str]:
    """The previous set a changes set is written against (its manifest), or None for a
    full set; and why."""
    if kind == "full":
        return None, "full set asked for"
    prev = _newest_set(out)
    if prev is None or "watermarks" not in prev:
        return None, "no earlier report set to build on"
    if prev.get("pseudonym_key_id") != (key.key_id if key is not None else None):
        return None, "the keying (pseudonymisation) changed"
    base_name = prev["report"] if prev.get("kind", "full") == "full" else prev.get("base")
    base = _read_manifest(out / str(base_name)) if base_name else None
    if base is None:
        return None, f"the base full set {base_name} is gone"
    published = _read_manifest(out / LATEST)
    if published is None or published.get("report") != base_name:
        # a writer killed between renaming a full set into place and publishing it:
        # changes must be of the full set readers find in latest/
        return None, f"{LATEST}/ does not hold the base full set {base_name}"
    why = changes_possible(store, prev["watermarks"]["build_id"])
    if why is not None:
        return None, why
    if kind == "auto" and full_every is not None:
        made = datetime.fromisoformat(str(base["created_at"]).replace("Z", "+00:00"))
        if (now - made).total_seconds() >= full_every:
            return None, f"the newest full set is older than {format_window(full_every)}"
    return prev, f"changes since {prev['report']} (base {base_name})"


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _newest_set(out: Path) -> dict[str, Any] | None:
    """The manifest of the newest complete run folder in ``out`` (full or changes)."""
    runs = sorted(
        (p for p in out.iterdir() if p.is_dir() and RUN_DIR.match(p.name)),
        key=_run_order,
        reverse=True,
    )
    for run in runs:
        manifest = _read_manifest(run)
        if manifest is not None:
            return manifest
    return None


def prune_runs(out: Path, keep: int, current: Path) -> int:
    """Keep ``current`` and the newest ``keep - 1`` other run folders in ``out``; delete
    the rest and return how many went.

    Only folders named like a run (:data:`RUN_DIR`) are touched, never ``latest/`` (its
    files are hard links, so they outlive their run folder) nor anything else a user
    keeps there. ``current`` always stays, even beside a later stamp (a clock set
    back): with ``keep=1`` nothing else remains, which erasure relies on. Newest by
    name: the names are UTC stamps, and a clash's ``-n`` counts in order. Call it
    holding the folder's lock.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("20240101T000000Z", "20240101T000000Z-2", "20240101T000000Z-10", "notes"):
    ...     (d / name).mkdir()
    >>> prune_runs(d, 1, d / "20240101T000000Z-10")
    2
    >>> sorted(p.name for p in d.iterdir())
    ['20240101T000000Z-10', 'notes']
    """
    others = [
        p for p in out.iterdir() if p.is_dir() and RUN_DIR.match(p.name) and p.name != current.name
    ]
    others.sort(key=_run_order, reverse=True)
    kept = [current, *others[: keep - 1]]
    # the full set a kept changes set is based on stays, whatever its age: without it
    # the changes cannot be applied to anything
    bases = {
        str(m.get("base"))
        for m in (_read_manifest(p) for p in kept if p.name.endswith(CHANGES_SUFFIX))
        if m is not None and m.get("base")
    }
    removed = 0
    for p in others[keep - 1 :]:
        if p.name in bases:
            continue
        shutil.rmtree(p)
        removed += 1
    if removed:
        fsync_dir(out)
    return removed


def prune_change_log(store: Store, out_dir: str | os.PathLike[str]) -> int:
    """Drop the store's log of inserted and deleted keys (``row_changes``) that no
    changes set of ``out_dir`` can read any more; return the rows dropped.

    Why: the log grew with every run until a full build. A changes set of ``out_dir``
    is only ever written since the folder's newest set, and only while that set's base
    full set is the one ``latest/`` holds (:func:`_plan`): every set it can be written
    since was made at or after that full set's build, so the log of the builds up to
    it is spent. The scheduled job (the folder's owner) calls it after each report; a
    changes set asked since an older build, in another folder, is then written as a
    full set (:func:`spreadtrace.store.report_queries.changes_possible`), never wrong.
    """
    manifest = _read_manifest(Path(out_dir) / LATEST)
    marks = (manifest or {}).get("watermarks")
    if not isinstance(marks, dict) or "build_id" not in marks:
        return 0
    return prune_row_changes(store, int(marks["build_id"]))


def _run_order(path: Path) -> tuple[str, int]:
    stamp, _, n = path.name.removesuffix(CHANGES_SUFFIX).partition("-")
    return stamp, int(n) if n else 1


# --- helpers -----------------------------------------------------------------------------


def _manifest(
    store: Store,
    stamp: str,
    now: datetime,
    files: dict[str, Any],
    alerts: AlertParams,
    key: PseudonymKey | None,
) -> dict[str, Any]:
    build = latest_build(store)
    if build is not None:
        build = {
            "build_id": build["build_id"],
            "mode": build["mode"],
            "finished_at": build["finished_at"],
            "posts": build["posts"],
            "params": json.loads(build["params"]) if build["params"] else None,
        }
    return {
        "spreadtrace_version": __version__,
        # the file name only: an absolute path tells readers of a shared report where
        # and under which user the store lives
        "store": Path(store.path).name,
        "schema_version": store.schema_version(),
        "created_at": _iso(now),
        "report": stamp,
        "build": build,
        "model_versions": model_versions(store),
        "alerts": asdict(alerts) | {"window": alerts.window_label, "at": _iso(alerts.at)},
        "pseudonymized": key is not None,
        # A public fingerprint of the scrypt-stretched key: reports with the same key_id
        # have comparable pseudonyms. The secret itself is never written anywhere.
        "pseudonym_key_id": key.key_id if key is not None else None,
        "files": files,
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unique_stamp(out: Path, now: datetime) -> str:
    base = now.strftime("%Y%m%dT%H%M%SZ")
    stamp, n = base, 1
    while (out / stamp).exists() or (out / f"{stamp}{CHANGES_SUFFIX}").exists():
        n += 1
        stamp = f"{base}-{n}"
    return stamp


@contextlib.contextmanager
def _dir_lock(out: Path):  # type: ignore[no-untyped-def]
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _clean_leftovers(out: Path) -> None:
    """Remove hidden staging folders a killed writer left behind (we hold the lock)."""
    for child in out.iterdir():
        for name in (LATEST, LATEST_CHANGES):
            old = f".{name}-old"
            if child.name == old and not (out / name).exists():
                # killed between the two renames of the fallback swap: put it back
                os.rename(child, out / name)
                break
        else:
            if child.name.startswith((_STAGING_PREFIX, ".latest-")):
                shutil.rmtree(child, ignore_errors=True)


def _remove_latest(out: Path, name: str) -> None:
    """Remove ``out/name`` (renamed aside first, so no reader sees it half-deleted)."""
    if not (out / name).exists():
        return
    aside = out / f".{name}-gone"
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(out / name, aside)
    fsync_dir(out)
    shutil.rmtree(aside)


def _publish_latest(out: Path, run_dir: Path, name: str = LATEST) -> Path:
    """Make ``out/latest`` a complete copy of ``run_dir``, replaced in one step.

    The files are hard links to the run folder's (a copy where the file system has
    none): they are complete and fsynced before they are linked, and never written
    again, so a link shows the same bytes as a copy without writing every report a
    second time on each run (at 1M posts, ~250 MB per run)."""
    new = out / f".{name}-new"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir()
    for src in sorted(run_dir.iterdir()):
        try:
            os.link(src, new / src.name)
        except OSError:  # no hard links here (some network or FAT file systems)
            shutil.copyfile(src, new / src.name)
            fsync_file(new / src.name)
    fsync_dir(new)
    latest = out / name
    if not latest.exists():
        os.rename(new, latest)
    elif _exchange(new, latest):
        shutil.rmtree(new)  # now holds the previous latest
    else:
        old = out / f".{name}-old"
        os.rename(latest, old)
        os.rename(new, latest)
        shutil.rmtree(old)
    fsync_dir(out)
    return latest


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

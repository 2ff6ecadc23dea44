"""Read-only snapshots of the store, published after each build, for the dashboard.

Why: DuckDB allows one writing process, and a read-only opener cannot open a file
that a writer holds. The dashboard must keep serving while ``ingest`` and ``build``
write the store, and must never show half a build. So the dashboard never opens the
live store: after a build commits, the writer calls :func:`publish`, which copies the
committed store file into ``<db>.snapshots/<build_id>-<UTC timestamp>.duckdb`` (written
under a temporary name, then renamed) and atomically replaces the pointer file
``<db>.snapshots/LATEST``. Readers (:class:`SnapshotReader`) open the snapshot the
pointer names, read-only, and switch to a newer one when the pointer changes (one
``os.stat`` per request). A snapshot is the store file as of a checkpoint taken by
the writer after its commit, while it holds the job lock, so it is always one
consistent, whole-build state; the writer never waits on readers, and readers never
wait on the writer.

Old snapshots are pruned by :func:`publish` (the newest ``keep`` stay). A reader that
still has a pruned file open keeps reading it (POSIX keeps unlinked open files alive)
and moves to the newest one on its next request.

Example:

>>> import tempfile, os
>>> from spreadtrace.store import SCHEMA_VERSION, Store
>>> d = tempfile.mkdtemp()
>>> with Store.open(os.path.join(d, "s.duckdb")) as store:
...     path = publish(store)
>>> latest(os.path.join(d, "s.duckdb")) == path
True
>>> reader = SnapshotReader(os.path.join(d, "s.duckdb"))
>>> with reader.lease() as (con, snapshot_id):
...     version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
>>> version == str(SCHEMA_VERSION)
True
>>> reader.close()
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from spreadtrace.errors import StoreError
from spreadtrace.store.dashboard_queries import create_read_model

if TYPE_CHECKING:
    from spreadtrace.store import Store

__all__ = ["publish", "latest", "latest_build_id", "snapshot_dir", "SnapshotReader", "KEEP"]

KEEP = 3
"""How many snapshots :func:`publish` keeps (the newest ones)."""

POINTER = "LATEST"

_NAME = re.compile(r"^\d{6,}-\d{8}T\d{6}\d{6}Z\.duckdb$")


def snapshot_dir(db_path: str | os.PathLike[str]) -> Path:
    """The directory holding the snapshots of the store at ``db_path``."""
    return Path(f"{os.fspath(db_path)}.snapshots")


def publish(store: Store, *, keep: int = KEEP) -> Path | None:
    """Copy the store's committed state into a new read-only snapshot; return its path.

    Call it from the writer, after its transaction committed (never inside one: the
    checkpoint it needs fails there). The store file is checkpointed and copied byte
    for byte (fast, a reflink on filesystems that have them), then the copy gets the
    dashboard's read model (:data:`spreadtrace.store.dashboard_queries.READ_MODEL`).
    Returns None for an in-memory store (nothing can read it from outside the process).
    """
    if store.path == ":memory:":
        return None
    if store.read_only:
        raise StoreError("a snapshot is published by the writer; this store is open read-only")
    from spreadtrace.store import storage_errors

    # A full disk or a read-only folder: one line (StorageError); the temp copy is
    # removed and the pointer still names the previous, complete snapshot.
    with storage_errors(f"cannot write the dashboard snapshot of {store.path}"):
        return _publish(store, keep)


def _publish(store: Store, keep: int) -> Path:
    con = store.con
    folder = snapshot_dir(store.path)
    folder.mkdir(parents=True, exist_ok=True)
    # Only the job-lock holder publishes, so any temp file here is a crashed publish's.
    for stale in folder.glob(".tmp-*"):
        stale.unlink(missing_ok=True)
    build_id = con.execute("SELECT coalesce(max(build_id), 0) FROM builds").fetchall()[0][0]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{int(build_id):06d}-{stamp}.duckdb"
    tmp = folder / f".tmp-{name}"
    final = folder / name
    # Fold the WAL into the file: the file alone is then the committed state, and no
    # one writes it while we copy (we are the writer, holding the job lock).
    con.execute("CHECKPOINT")
    wal = Path(f"{store.path}.wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(f"cannot publish a snapshot: {wal} is not empty after a checkpoint")
    try:
        shutil.copyfile(store.path, tmp)  # copy_file_range: a reflink where the FS can
        snap = duckdb.connect(str(tmp))
        try:
            snap.execute("SET TimeZone = 'UTC'")
            create_read_model(snap)  # the dashboard's tables, computed once, not per request
            snap.execute("CHECKPOINT")
        finally:
            snap.close()
        Path(f"{tmp}.wal").unlink(missing_ok=True)  # empty after the checkpoint
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    os.replace(tmp, final)
    _write_pointer(folder, name)
    _prune(folder, keep=max(keep, 1), current=name)
    return final


def _write_pointer(folder: Path, name: str) -> None:
    tmp = folder / f".tmp-{POINTER}"
    with open(tmp, "w") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / POINTER)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _prune(folder: Path, *, keep: int, current: str) -> None:
    names = sorted(p.name for p in folder.iterdir() if _NAME.match(p.name))
    for old in names[:-keep]:
        if old != current:
            (folder / old).unlink(missing_ok=True)


def latest_build_id(db_path: str | os.PathLike[str]) -> int | None:
    """The build id of the newest published snapshot (from its name), or None."""
    path = latest(db_path)
    return None if path is None else int(path.name.split("-", 1)[0])


def latest(db_path: str | os.PathLike[str]) -> Path | None:
    """The newest published snapshot of the store at ``db_path``, or None if none yet."""
    folder = snapshot_dir(db_path)
    try:
        name = (folder / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not _NAME.match(name):
        raise StoreError(f"{folder / POINTER} does not name a snapshot: {name[:80]!r}")
    path = folder / name
    return path if path.exists() else None


@dataclass
class _Generation:
    """One open snapshot and the number of requests currently reading it."""

    path: Path
    con: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False

    @property
    def snapshot_id(self) -> str:
        return self.path.stem


@dataclass
class SnapshotReader:
    """Read-only access to the newest snapshot, switching when a newer one is published.

    Thread-safe: each :meth:`lease` gets its own DuckDB cursor. A superseded snapshot
    is closed once the last request using it finishes.
    """

    db_path: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _current: _Generation | None = field(default=None, repr=False)
    _pointer_stat: tuple[int, int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.db_path = os.fspath(self.db_path)

    def _pointer_changed(self) -> bool:
        try:
            st = os.stat(snapshot_dir(self.db_path) / POINTER)
        except FileNotFoundError:
            return self._current is None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._pointer_stat and self._current is not None:
            return False
        self._pointer_stat = key
        return True

    def refresh(self) -> str | None:
        """Switch to the newest snapshot if the pointer moved; return the current id."""
        with self._lock:
            if self._pointer_changed():
                path = latest(self.db_path)
                if path is not None and (self._current is None or path != self._current.path):
                    try:
                        con = duckdb.connect(str(path), read_only=True)
                    except duckdb.Error as exc:
                        raise StoreError(f"cannot open snapshot {path}: {exc}") from None
                    con.execute("SET TimeZone = 'UTC'")
                    old, self._current = self._current, _Generation(path, con)
                    if old is not None:
                        old.retired = True
                        if old.users == 0:
                            old.con.close()
            return None if self._current is None else self._current.snapshot_id

    @contextmanager
    def lease(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """A cursor on the newest snapshot and its id, for the length of one request."""
        self.refresh()
        with self._lock:
            gen = self._current
            if gen is None:
                raise StoreError(
                    f"no snapshot of {self.db_path} yet: run `spreadtrace build` "
                    "(each build publishes one)"
                )
            gen.users += 1
            cur = gen.con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            yield cur, gen.snapshot_id
        finally:
            cur.close()
            with self._lock:
                gen.users -= 1
                if gen.retired and gen.users == 0:
                    gen.con.close()

    @property
    def snapshot_id(self) -> str | None:
        """The id (file stem) of the snapshot currently served, after a refresh."""
        return self.refresh()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                if self._current.users == 0:
                    self._current.con.close()
                self._current = None

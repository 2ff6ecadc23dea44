"""The DuckDB store: opening, schema migrations, the job lock and transactions.

Why: only this package talks to DuckDB directly. Everything else receives frames or
runs SQL that a store module hands it. A store is one DuckDB file; writers take an
exclusive job lock (``<db>.lock``) so that two scheduled jobs never interleave, and
each unit of work (one input file, one build) runs in one transaction, so an
interrupted job leaves the store as it was before that unit.

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     store.schema_version() == SCHEMA_VERSION
True
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import duckdb

from spreadtrace.errors import CannotWrite, DiskFull, StoreBusy, StoreError
from spreadtrace.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Store", "SCHEMA_VERSION", "DEFAULT_DB", "write_failure"]

DEFAULT_DB = "spreadtrace.duckdb"
MEMORY = ":memory:"


class _JobLock:
    """An exclusive advisory lock on ``<db>.lock``, released when the process dies.

    flock is tied to the open file description, so a SIGKILLed job never leaves a
    stale lock behind (unlike a pid file).
    """

    def __init__(self, db_path: str, wait: float = 0.0) -> None:
        self.path = f"{db_path}.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(self._fd)
                    raise StoreBusy(
                        f"another spreadtrace job is writing {db_path}{holder}; "
                        "try again later or pass --wait SECONDS"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def _holder(self) -> str:
        try:
            pid = Path(self.path).read_text().strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid else ""

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


class Store:
    """An open spreadtrace store: a DuckDB connection ``con`` plus the job lock.

    Use :meth:`open`; close it (or use it as a context manager) when done.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str, lock: _JobLock | None) -> None:
        self.con = con
        self.path = path
        self._lock = lock
        self.read_only = lock is None and path != MEMORY

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = DEFAULT_DB,
        *,
        read_only: bool = False,
        create: bool = True,
        wait: float = 0.0,
    ) -> Self:
        """Open (and create or migrate) the store at ``path``.

        Writers take the job lock first (waiting up to ``wait`` seconds), then migrate
        the schema forward. Read-only opens take no lock and never migrate.
        """
        path = str(path)
        if path != MEMORY:
            if Path(path).is_dir():
                raise StoreError(
                    f"{path} is a directory, not a store file; pass --db a file path such "
                    f"as {Path(path) / DEFAULT_DB}"
                )
            exists = Path(path).exists()
            if not exists and (read_only or not create):
                raise StoreError(f"no store at {path}; create one with `spreadtrace init`")
        try:
            if path != MEMORY and not exists:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            lock = None if (read_only or path == MEMORY) else _JobLock(path, wait)
        except OSError as exc:
            raise write_failure(exc, path) or exc from None
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if lock:
                lock.release()
            if "lock" in str(exc).lower() and "permission" not in str(exc).lower():
                raise StoreBusy(f"{path} is in use by another process: {exc}") from None
            failure = write_failure(exc, path)
            if failure is not None:
                raise failure from None
            if "version" in str(exc).lower():
                raise StoreError(
                    f"{path} was written by another version of DuckDB than this "
                    f"spreadtrace uses (duckdb {duckdb.__version__}): open it with the "
                    f"spreadtrace that wrote it, or upgrade; DuckDB said: {_one_line(exc)}"
                ) from None
            raise StoreError(f"cannot open store {path}: {_one_line(exc)}") from None
        except duckdb.Error as exc:
            if lock:
                lock.release()
            raise StoreError(f"cannot open store {path}: {exc}") from None
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on a terminal; the CLI owns the terminal.
        con.execute("SET enable_progress_bar = false")
        store = cls(con, path, lock)
        try:
            store._check_and_migrate(read_only)
        except BaseException:
            store.close()
            raise
        return store

    # -- schema ------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The store's schema version (0 for an empty database)."""
        has_meta = self.con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_name = 'meta'"
        ).fetchone()[0]
        if not has_meta:
            return 0
        row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _check_and_migrate(self, read_only: bool) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, but this spreadtrace only knows "
                f"up to {SCHEMA_VERSION}; upgrade spreadtrace to open it"
            )
        if current == SCHEMA_VERSION:
            return
        if read_only:
            raise StoreError(
                f"{self.path} has schema version {current} (current is {SCHEMA_VERSION}); "
                "open it once for writing (e.g. `spreadtrace init`) to migrate it"
            )
        migrate(self.con, current, SCHEMA_VERSION)

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: all of it lands, or none of it does."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException as exc:
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # a failed statement may have ended the transaction already
            failure = write_failure(exc, self.path)
            if failure is not None:
                raise failure from None
            raise
        try:
            self.con.execute("COMMIT")
        except (duckdb.Error, OSError) as exc:
            failure = write_failure(exc, self.path)
            if failure is None:
                raise
            try:
                self.con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise failure from None

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        self.con.execute("CHECKPOINT")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None  # type: ignore[assignment]
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def write_failure(exc: BaseException, path: str) -> StoreError | None:
    """The store-level error a write failure means, or None if it is something else.

    Why by message as well as errno: DuckDB reports a full disk or a read-only file
    as an IOException whose text carries the operating system's message.

    >>> type(write_failure(OSError(28, "No space left on device"), "s.duckdb")).__name__
    'DiskFull'
    >>> write_failure(ValueError("x"), "s.duckdb") is None
    True
    """
    import errno

    text = str(exc)
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "No space left on device" in text or "Disk quota" in text:
        return DiskFull(
            f"disk full while writing {path}: free space on that disk or pass --db a path "
            "on another one; the file or build being written was rolled back"
        )
    if (
        code in (errno.EROFS, errno.EACCES, errno.EPERM)
        or "Read-only file system" in text
        or "Permission denied" in text
    ):
        # Only about the store's own files: an unreadable *input* file is not this.
        if not isinstance(exc, OSError | duckdb.Error) or path not in text:
            return None
        return CannotWrite(
            f"cannot write {path}: its folder or file is read-only or not yours "
            f"({_one_line(exc)}); pass --db a writable path, or fix the permissions"
        )
    return None


def migrate(
    con: duckdb.DuckDBPyConnection,
    from_version: int,
    to_version: int,
    migrations: dict[int, list[str]] | None = None,
) -> None:
    """Apply migrations ``from_version + 1 .. to_version`` in one transaction."""
    migrations = MIGRATIONS if migrations is None else migrations
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(from_version + 1, to_version + 1):
            for statement in migrations[version]:
                con.execute(statement)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")

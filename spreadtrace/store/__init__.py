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

import contextlib
import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import duckdb

from spreadtrace.durable import fsync_file
from spreadtrace.errors import (
    OutOfMemory,
    ReadOnlyLocation,
    StorageError,
    StoreBusy,
    StoreError,
)
from spreadtrace.store.schema import MIGRATIONS, SCHEMA_VERSION, Migration

__all__ = [
    "DEFAULT_DB",
    "BUILD_MEMORY_CAP_MB",
    "DEFAULT_MEMORY_CAP_MB",
    "SCHEMA_VERSION",
    "Store",
    "default_memory_limit",
    "memory_cap_mb",
    "aborted_cause",
    "storage_error",
    "storage_errors",
]

DEFAULT_DB = "spreadtrace.duckdb"
MEMORY = ":memory:"


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
_NO_SPACE_TEXT = ("no space left on device", "disk quota exceeded", "file too large")
_READ_ONLY_TEXT = ("read-only file system", "permission denied", "operation not permitted")


# DuckDB's default share of a job's memory: a full build at 5M posts must peak under
# 3 GB in all (issue 12), and the rest is Python's frames and DuckDB's own allocations
# outside its buffer pool; beyond the limit DuckDB spills its joins, sorts and
# aggregates to disk. Not lower: what DuckDB cannot spill inside the build's one
# transaction (its indexes, updates, local rows) grows with the store, and a build
# ran out of memory at 200 MB per million posts (1 GB at 5M, 200 MB at 1M); a build
# runs at 300 MB per million (bench/RESULTS.md, mem12 and mem), but the cron run's
# report step at 5M did not: both its full set and its changes set ran out at 1.5 GB
# (bench/RESULTS.md, session close), where 2 GB wrote them. 2 GB leaves that margin.
DEFAULT_MEMORY_CAP_MB = 2048
# ... and per million stored posts, so a store past ~5M posts is not capped below what its
# build cannot spill (2 GB would fail a build from ~8M posts on): 400 MB a million
MEMORY_CAP_MB_PER_MILLION_POSTS = 400
# ... but a build's stages run within a fixed share, whatever the store's size: the
# build's peak is then DuckDB's share plus Python's frames, and does not follow the
# posts through DuckDB's limit (at 20M posts the 8,000 MB cap above was most of an
# 11.3 GB peak). Its joins, sorts, aggregates and temp tables spill past it. What it
# cannot spill still grows with the store (a fetched result is held whole until it
# is converted; count(DISTINCT) aggregates): a 1M build fails at 200 MB and runs at
# 250 MB, a 5M build runs at 1 GB (bench/RESULTS.md, branch mem, 2026-11-30); past
# 5M it was not measured. An explicit limit is kept as given. So that a larger store
# keeps the margin the 1M and 5M runs had, the share grows by 200 MB per million posts
# past 5M (half the default's 400), and a build that still runs out of memory within it
# is rolled back and run again at the job's limit (``run_build``).
BUILD_MEMORY_CAP_MB = 1024
BUILD_MEMORY_MB_PER_MILLION_POSTS = 200


def memory_cap_mb(posts: int) -> int:
    """The default cap of DuckDB's memory for a store of ``posts`` posts, in MB.

    >>> memory_cap_mb(1_000_000), memory_cap_mb(5_000_000), memory_cap_mb(20_000_000)
    (2048, 2048, 8000)
    """
    return max(DEFAULT_MEMORY_CAP_MB, posts * MEMORY_CAP_MB_PER_MILLION_POSTS // 10**6)


def default_memory_limit(
    fraction: float = 0.5, floor_mb: int = 1024, cap_mb: int = DEFAULT_MEMORY_CAP_MB
) -> str:
    """Half the memory available now (``MemAvailable``), at least 1 GB and at most
    ``cap_mb`` (2 GB), as "NMB".

    >>> default_memory_limit().endswith("MB")
    True
    >>> default_memory_limit(cap_mb=1024)
    '1024MB'
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        kb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
    return f"{max(floor_mb, min(cap_mb, int(kb * fraction / 1024)))}MB"


def aborted_cause(exc: BaseException) -> BaseException:
    """The failure that ``exc`` hides when ``exc`` is DuckDB's "transaction is aborted".

    Why: after a statement fails inside a transaction, every later statement on the
    connection fails with "Current transaction is aborted", and a cleanup statement in
    a ``finally`` (a DROP of a work table) raises that while the real failure (out of
    memory, a full disk) propagates: Python keeps the real one as ``__context__`` only.
    Without this a build that ran out of memory in such a block was not retried at the
    job's limit and reported a bare TransactionException (a 1% run at 5M posts did).

    >>> con = duckdb.connect()
    >>> _ = con.execute("BEGIN")
    >>> try:
    ...     try:
    ...         con.execute("SELECT 1 / 'x'")
    ...     finally:
    ...         con.execute("SELECT 1")
    ... except duckdb.Error as exc:
    ...     print(type(exc).__name__, "hides", type(aborted_cause(exc)).__name__)
    TransactionException hides ConversionException
    """
    for _ in range(8):  # a chain of cleanups, each hiding the one before
        inner = exc.__context__
        if (
            not isinstance(exc, duckdb.TransactionException)
            or "transaction is aborted" not in str(exc).lower()
            or inner is None
        ):
            break
        exc = inner
    return exc


def storage_error(exc: BaseException, what: str, *, io_errors: bool = True) -> StorageError | None:
    """The one-line :class:`StorageError` for a failed write, or None if ``exc`` is not one.

    Why one place: DuckDB reports a full disk as an ``IOException``, a
    ``TransactionException`` or a ``FatalException`` depending on where the write
    failed, and Python as an ``OSError``; the command line must say "no space left"
    (exit 74) or "read-only" (exit 73) in one line whichever it was. ``io_errors=False``
    where the statement also reads an input file: there a bare I/O error (a truncated
    gzip) is the input's fault, not the store's.

    >>> storage_error(OSError(28, "No space left on device"), "writing x").exit_code
    74
    >>> storage_error(ValueError("bad"), "writing x") is None
    True
    """
    if isinstance(exc, StorageError):
        return exc
    exc = aborted_cause(exc)
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    first = " ".join(str(exc).split())[:300]
    if code in _NO_SPACE or any(t in text for t in _NO_SPACE_TEXT):
        return StorageError(
            f"{what}: disk full, no space left on the device ({first}); free space on that "
            "disk or pass --db a path on another one (what was being written was rolled back)"
        )
    if code in _READ_ONLY or any(t in text for t in _READ_ONLY_TEXT):
        return ReadOnlyLocation(
            f"{what}: cannot write, the location is read-only or not writable ({first}); "
            "pass --db a writable path, or fix the permissions"
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        limit = _current_limit(exc)
        return OutOfMemory(
            f"{what}: out of memory within DuckDB's limit{limit}, even spilling to disk "
            "(what was being written was rolled back); run again with a larger "
            "--memory-limit, or without one"
        )
    if io_errors and isinstance(exc, duckdb.IOException | duckdb.FatalException):
        return StorageError(f"{what}: I/O error ({first})")
    return None


def _current_limit(exc: BaseException) -> str:
    """`` of N`` from DuckDB's out-of-memory message (" (x/N used)"), or nothing."""
    m = re.search(r"\([\d.]+ \w+/([\d.]+ \w+) used\)", str(exc))
    return f" of {m.group(1)}" if m else ""


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn a failed write inside the block into a one-line :class:`StorageError`."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        err = storage_error(exc, what)
        if err is None or err is exc:
            raise
        raise err from exc


class _JobLock:
    """An exclusive advisory lock on ``<db>.lock``, released when the process dies.

    flock is tied to the open file description, so a SIGKILLed job never leaves a
    stale lock behind (unlike a pid file).
    """

    def __init__(self, db_path: str, wait: float = 0.0) -> None:
        self.path = f"{db_path}.lock"
        with storage_errors(f"cannot create the lock file {self.path}"):
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
        # the limit limit_memory set when it was the default one (no size given), and
        # the build's share of it for this store's size (build_memory)
        self._default_limit: str | None = None
        self.build_cap_mb = BUILD_MEMORY_CAP_MB
        # whether build_memory lowered the limit (a build then retries at the default)
        self.build_capped = False

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
            raise storage_error(exc, f"cannot create store {path}") or exc from None
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if lock:
                lock.release()
            if "lock" in str(exc).lower() and "permission" not in str(exc).lower():
                raise StoreBusy(f"{path} is in use by another process: {exc}") from None
            err = storage_error(exc, f"cannot open store {path}")
            if err is not None:
                raise err from None
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
        ).fetchall()[0][0]
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

    # -- small reads and writes the front ends need ------------------------------------------
    def meta(self, key: str) -> str | None:
        """The ``meta`` value under ``key`` (None when unset).

        >>> with Store.open(":memory:") as store:
        ...     store.set_meta("created_by", "a test")
        ...     store.meta("created_by"), store.meta("nothing here")
        ('a test', None)
        """
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set the ``meta`` value under ``key`` (replacing an earlier one)."""
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def counts(self) -> dict[str, int]:
        """Rows in the main tables: posts, accounts, cascades, narratives, and the number
        of coordination clusters (``clusters``).

        >>> with Store.open(":memory:") as store:
        ...     store.counts()["posts"]
        0
        """
        row = self.con.execute(
            "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM accounts),"
            " (SELECT count(*) FROM cascades), (SELECT count(*) FROM narratives),"
            " (SELECT count(DISTINCT cluster_id) FROM coordination_clusters)"
        ).fetchall()[0]
        names = ("posts", "accounts", "cascades", "narratives", "clusters")
        return {name: int(n) for name, n in zip(names, row, strict=True)}

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: all of it lands, or none of it does.

        A write that fails for lack of room or on a read-only store (in the block or
        at the commit) rolls back and raises :class:`~spreadtrace.errors.StorageError`.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):  # the failure may have ended it already
                self.con.execute("ROLLBACK")
            cause = aborted_cause(exc)  # not the cleanup's "transaction is aborted"
            err = storage_error(cause, f"writing {self.path}")
            if err is None and cause is not exc:
                raise cause from None
            if err is None or err is exc:
                raise
            raise err from cause
        try:
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            err = storage_error(exc, f"committing to {self.path}")
            if err is None:
                raise
            raise err from exc

    def limit_memory(self, limit: str | None = None) -> str:
        """Cap DuckDB's memory (``limit`` like "4GB"; None: :func:`default_memory_limit`,
        half the available memory up to 2 GB, or 400 MB per million stored posts when
        that is more) and let it spill to ``<store>.tmp/`` next to the store; return the
        limit set.

        Why: set-wise work then runs within the limit on a shared machine, going out of
        core instead of growing until the kernel kills the job.
        """
        default = not limit
        if not limit:
            (posts,) = self.con.execute("SELECT count(*) FROM posts").fetchone() or (0,)
            limit = default_memory_limit(cap_mb=memory_cap_mb(int(posts)))
            per_posts = BUILD_MEMORY_MB_PER_MILLION_POSTS * int(posts) // 1_000_000
            self.build_cap_mb = max(BUILD_MEMORY_CAP_MB, per_posts)
        limit = limit.replace(" ", "")
        if not re.fullmatch(r"\d+(\.\d+)?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", limit, re.I):
            raise StoreError(f"memory limit {limit!r}: give a size such as 512MB or 4GB")
        self.con.execute(f"SET memory_limit = '{limit}'")
        self._default_limit = limit if default else None
        # DuckDB's allocator returns freed pages in the background instead of keeping
        # them for reuse: they would count against the job's memory, not DuckDB's limit
        self.con.execute("SET allocator_background_threads = true")
        if self.path != MEMORY:
            spill = Path(self.path + ".tmp")
            self.con.execute("SET temp_directory = ?", [str(spill)])
        return limit

    @contextmanager
    def build_memory(self, cap_mb: int | None = None) -> Iterator[str]:
        """Within the block, DuckDB's limit is at most ``cap_mb`` (None: the store's build
        share, ``build_cap_mb``) when it was the default one (:meth:`limit_memory` without
        a size); yield the limit in force.

        Why: a build's set-wise work spills, so its share need not grow with the store,
        while the report step after it keeps the job's default (at 5M posts its queries
        ran out of memory at 1.5 GB). A limit the user gave, or none set, is left as is.
        """
        before = self._default_limit
        if before is None:
            self.build_capped = False
            yield str(self.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
            return
        share = self.build_cap_mb if cap_mb is None else cap_mb
        default_mb = int(before.removesuffix("MB"))  # before: "NMB"
        cap = f"{min(int(share), default_mb)}MB"
        self.build_capped = int(share) < default_mb
        self.con.execute(f"SET memory_limit = '{cap}'")
        try:
            yield cap
        finally:
            with contextlib.suppress(duckdb.Error):  # a connection a fault closed
                self.con.execute(f"SET memory_limit = '{before}'")  # checked by limit_memory

    def out_of_build_memory(self, exc: BaseException) -> bool:
        """True when ``exc`` is DuckDB running out of memory inside a build share that
        :meth:`build_memory` had lowered: the build can run again at the job's limit."""
        cause = aborted_cause(exc)
        return self.build_capped and isinstance(cause, OutOfMemory | duckdb.OutOfMemoryException)

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        with storage_errors(f"checkpointing {self.path}"):
            self.con.execute("CHECKPOINT")

    def compact(self) -> None:
        """Rewrite the store file so that deleted rows are gone from it, not just unlinked.

        Why: DuckDB reuses the blocks of deleted rows later but leaves their bytes in
        the file, so an erased account could still be read with a hex editor. The
        committed database is copied into a new file (``COPY FROM DATABASE``: tables,
        sequences with their values, views) that replaces the old one in one rename,
        while this process holds the job lock. Killed before the rename, the old file
        is intact and the leftover temp file is removed by the next compact.
        """
        if self.path == MEMORY or self._lock is None:
            return
        tmp = f"{self.path}.compact.tmp"
        for leftover in (tmp, f"{tmp}.wal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        with storage_errors(f"compacting {self.path}"):
            self.con.execute("CHECKPOINT")
            name = self.con.execute("SELECT current_database()").fetchall()[0][0]
            quoted_tmp = tmp.replace("'", "''")
            quoted_name = str(name).replace('"', '""')
            self.con.execute(f"ATTACH '{quoted_tmp}' AS _spreadtrace_compact")
            self.con.execute(f'COPY FROM DATABASE "{quoted_name}" TO _spreadtrace_compact')
            self.con.execute("DETACH _spreadtrace_compact")
            self.con.close()
            fsync_file(tmp)
            os.replace(tmp, self.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}.wal")
            self.con = duckdb.connect(self.path)
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET enable_progress_bar = false")

    def close(self) -> None:
        if self.con is not None:
            # Closing checkpoints; on a full disk that fails, and the committed work
            # stays in the write-ahead log, which the next open replays.
            with contextlib.suppress(duckdb.Error):
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


def migrate(
    con: duckdb.DuckDBPyConnection,
    from_version: int,
    to_version: int,
    migrations: dict[int, list[Migration]] | None = None,
) -> None:
    """Apply migrations ``from_version + 1 .. to_version`` in one transaction."""
    migrations = MIGRATIONS if migrations is None else migrations
    con.execute("BEGIN TRANSACTION")
    try:
        for version in range(from_version + 1, to_version + 1):
            for step in migrations[version]:
                if callable(step):
                    step(con)
                else:
                    con.execute(step)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")

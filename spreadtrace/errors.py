"""Errors the library raises; the CLI turns each into a one-line message and exit code.

Why a hierarchy: front ends (CLI, scheduled jobs, dashboard) must tell "your input is
bad" from "another job holds the store" from "this store is from the future" without
parsing messages.
"""

from __future__ import annotations


class SpreadtraceError(Exception):
    """Base class for every error spreadtrace raises on purpose."""

    exit_code: int = 1


class InputError(SpreadtraceError):
    """A file cannot be read at all (wrong format, truncated gzip, unknown columns)."""

    exit_code = 2


class StoreError(SpreadtraceError):
    """The store cannot be used (corrupt, from a newer spreadtrace, not initialised)."""

    exit_code = 3


class StoreBusy(StoreError):
    """Another job holds the store's write lock."""

    exit_code = 75  # EX_TEMPFAIL: cron/systemd may simply try again later


class StorageError(SpreadtraceError):
    """Writing failed for lack of room or an I/O error (disk full, quota, device).

    Nothing half-written stays visible (transactions roll back, files are renamed into
    place only when complete); free space and run the command again.
    """

    exit_code = 74  # EX_IOERR


class ReadOnlyLocation(StorageError):
    """The store, its folder or an output folder cannot be written (read-only, no permission)."""

    exit_code = 73  # EX_CANTCREAT


class OutOfMemory(StorageError):
    """The work did not fit in the memory limit (``--memory-limit``), even spilling to disk.

    What was being written was rolled back; run again with a larger limit, or without
    one (the default follows the machine's available memory and the store's size).
    """

    exit_code = 71  # EX_OSERR: a system resource ran short


class PortInUse(SpreadtraceError):
    """``serve`` cannot listen: another program holds the address and port."""

    exit_code = 69  # EX_UNAVAILABLE

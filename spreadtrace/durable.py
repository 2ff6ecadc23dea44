"""Files that survive a crash or a power cut: fsync, and write-then-rename.

Why one module: the store, the read model, the reports, the job queue and the users file
all publish files that a reader may open at any moment; each must either see the old
file or the complete new one. The rule (write a temp file, fsync it, rename it over the
target, fsync the folder so the new name is durable) is written once, here.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> write_text_atomic(p, "hello\\n")
>>> p.read_text()
'hello\\n'
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["fsync_dir", "fsync_file", "write_text_atomic"]


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file's (or a folder's) contents to the device."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the names in a folder durable (a file system that cannot sync folders is skipped)."""
    with contextlib.suppress(OSError):
        fsync_file(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` in one step: readers see the old file or the new one.

    The temp file is created with ``mode`` (0o600 for secrets) and lives beside the
    target, so the rename stays on one file system.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)

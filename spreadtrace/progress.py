"""Progress reporting without printing: library code calls a callback, the CLI draws.

Why: library code never writes to the terminal. Long-running functions take an
optional ``progress`` callable and report ``(task, done, total)``; ``total`` is None
when unknown. The CLI turns these calls into rich progress bars, tests can record
them, and scheduled jobs log them.

>>> seen = []
>>> report = lambda task, done, total: seen.append((task, done, total))
>>> emit(report, "ingest", 5, 10)
>>> emit(None, "ingest", 6, 10)  # no callback: nothing happens
>>> seen
[('ingest', 5, 10)]
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int | None], None]


def emit(progress: ProgressFn | None, task: str, done: int, total: int | None) -> None:
    """Report progress on ``task`` if a callback was given."""
    if progress is not None:
        progress(task, done, total)

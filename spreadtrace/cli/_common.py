"""Shared pieces of the command line: options, progress bars, errors, JSON output.

Why: every command parses options, makes one library call, prints. The shared parts
(how progress is drawn, how a library error becomes a one-line message and an exit
code, how ``--json`` prints) live here so each command stays a thin front end.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from spreadtrace.errors import SpreadtraceError
from spreadtrace.progress import ProgressFn

# Messages and progress go to stderr; stdout is for data (summaries, --json).
err_console = Console(stderr=True, soft_wrap=True)  # never wrap: logs and cron mail
out_console = Console(soft_wrap=True)


class Settings:
    """What the top-level group parsed: the store path."""

    def __init__(self, db: str) -> None:
        self.db = db


pass_settings = click.make_pass_decorator(Settings)

quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress bars or summary; errors only."
)
wait_option = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="If another job holds the store, wait this long for it instead of exiting (75).",
)
memory_limit_option = click.option(
    "--memory-limit",
    default=None,
    metavar="SIZE",
    help="Cap DuckDB's memory, e.g. 4GB; it spills to STORE.tmp/ beyond it "
    "(default: half the memory available when the job starts, at least 1GB, at most "
    "2GB or 400MB per million stored posts; a build's stages run within 1GB of it, "
    "200MB per million posts past 5M).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a machine-readable JSON summary on stdout."
)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into ``click`` exits with the error's own exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpreadtraceError as exc:
            # One line, never wrapped (cron mail, log scrapers), and never interpreted as
            # markup: library messages may quote untrusted input.
            message = " ".join(str(exc).split())
            click.echo(f"error: {message}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:
            # A full disk or a read-only folder met outside the store's own checks
            # (a report folder, a snapshot): still one line and a documented code.
            import errno

            codes = {errno.ENOSPC: 74, errno.EROFS: 73, errno.EACCES: 73, errno.EPERM: 73}
            if exc.errno not in codes:
                raise
            where = f" ({exc.filename})" if exc.filename else ""
            click.echo(
                f"error: {exc.strerror}{where}; free space or choose a writable path", err=True
            )
            sys.exit(codes[exc.errno])

    return wrapper


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressFn | None]:
    """A rich progress display on stderr when ``enabled`` and stderr is a terminal.

    Yields a ``progress(task, done, total)`` callback for library functions, or None.
    """
    if not enabled or not err_console.is_terminal:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def report(task: str, done: int, total: int | None) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield report


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (datetimes as ISO 8601)."""
    click.echo(json.dumps(data, default=_default, indent=2, sort_keys=False))

"""``spreadtrace ingest``: load export files into the store, one transaction per file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    err_console,
    handle_errors,
    json_option,
    pass_settings,
    print_json,
    progress_bar,
    quiet_option,
    wait_option,
)
from spreadtrace.errors import InputError
from spreadtrace.ingest import FORMATS, FileResult, ingest_files
from spreadtrace.store import Store

_TOTALS = ("rows_read", "rows_inserted", "rows_duplicate", "rows_rejected", "accounts_read")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default=None,
    help="Skip detection: posts, accounts, follows (canonical CSV/TSV/JSONL/Parquet) "
    "or a platform export. Default: detected from each file's content.",
)
@wait_option
@quiet_option
@json_option
@pass_settings
@handle_errors
def ingest(
    settings: Settings,
    paths: tuple[Path, ...],
    format_: str | None,
    wait: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Ingest post, repost, account and follow exports into the store.

    Each file is one transaction: it lands whole or not at all. Re-ingesting a file,
    or overlapping files, adds each post once (duplicates are counted) and only ever
    fills fields a stored post lacked. Unusable rows go to the `rejects` table with
    their raw text and a reason. Formats are detected from content: canonical posts /
    accounts / follows (CSV, TSV, JSON Lines, Parquet; .gz ok), Twitter API v1.1 and
    v2 (twarc), Bluesky Jetstream.

    Exits with status 2 if any file could not be read at all (after ingesting the
    others); that file's reason is printed and nothing from it is written.

    \b
    Example:
        spreadtrace --db work.duckdb ingest posts.csv.gz accounts.csv follows.csv
        spreadtrace --db work.duckdb ingest --json tweets.jsonl.gz
        spreadtrace --db work.duckdb ingest --format bluesky jetstream-*.jsonl
    """
    with Store.open(settings.db, wait=wait) as store:
        with progress_bar(not quiet and not as_json) as progress:
            results = ingest_files(store, list(paths), format=format_, progress=progress)
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(_summary(results))
    elif not quiet:
        click.echo(_table(results))
    for r in failed:
        err_console.print(f"error: {r.error}", style="red", markup=False, highlight=False)
    if failed:
        err_console.print(
            f"{len(failed)} of {len(results)} file(s) could not be read; the others were ingested",
            markup=False,
        )
        sys.exit(InputError.exit_code)


def _summary(results: list[FileResult]) -> dict[str, object]:
    ok = [r for r in results if r.ok]
    return {
        "files": [r.to_dict() for r in results],
        "totals": {k: sum(getattr(r, k) for r in ok) for k in _TOTALS},
        "failed": [r.path for r in results if not r.ok],
    }


def _table(results: list[FileResult]) -> str:
    """A plain, aligned table (one line per file) that reads well in logs and mail."""
    header = ("file", "format", "read", "inserted", "duplicate", "rejected", "accounts")
    rows = []
    for r in results:
        if not r.ok:
            rows.append((r.path, "unreadable", "-", "-", "-", "-", "-", ""))
            continue
        top = next(iter(r.reject_reasons.items()), None)
        rows.append(
            (
                r.path,
                f"{r.format}/{r.container}",
                f"{r.rows_read:,}",
                f"{r.rows_inserted:,}",
                f"{r.rows_duplicate:,}",
                f"{r.rows_rejected:,}",
                f"{r.accounts_read:,}",
                f"top reject: {top[0]} ({top[1]:,})" if top else "",
            )
        )
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(v).ljust(w) if i < 2 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=False))
        ]
        extra = row[7] if len(row) > 7 and row[7] else ""
        lines.append(("  ".join(cells) + ("  " + extra if extra else "")).rstrip())
    return "\n".join(lines)

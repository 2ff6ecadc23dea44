"""``spreadtrace ingest``: load export files into the store, one transaction per file."""

from __future__ import annotations

import glob
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from spreadtrace.ingest.mapping import Mapping, load_mapping
from spreadtrace.store import Store

_TOTALS = (
    "rows_read",
    "rows_inserted",
    "rows_merged",
    "rows_duplicate",
    "rows_rejected",
    "accounts_read",
)


def mapping_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--map, --mapping, --time-format, --time-zone (shared by ingest and inspect)."""
    options = [
        click.option(
            "--map",
            "maps",
            multiple=True,
            metavar="CANONICAL=SOURCE",
            help="Read canonical column CANONICAL from the file's column SOURCE "
            "(repeatable), e.g. --map post_id=content_id.",
        ),
        click.option(
            "--mapping",
            "mapping_file",
            metavar="FILE|NAME",
            help="A TOML mapping file (columns, constants, expressions, kind, time format), "
            "or the name of a shipped one: german-elections, coortweet, crowdtangle, "
            "4cat-csv, 4cat-ndjson. --map options override it.",
        ),
        click.option(
            "--time-format",
            metavar="STRPTIME",
            help="Format of times that are neither ISO 8601 nor epoch numbers, "
            "e.g. '%d.%m.%Y %H:%M'.",
        ),
        click.option(
            "--time-zone",
            metavar="ZONE",
            help="IANA time zone of times written without an offset (default UTC).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def resolve_mapping(
    maps: tuple[str, ...],
    mapping_file: str | None,
    time_format: str | None,
    time_zone: str | None,
) -> Mapping | None:
    """The mapping the options describe, or None when they describe none."""
    if not (maps or mapping_file or time_format or time_zone):
        return None
    base = load_mapping(mapping_file) if mapping_file else None
    return Mapping.from_options(maps, base=base, time_format=time_format, time_zone=time_zone)


def expand_paths(paths: tuple[Path, ...]) -> list[Path]:
    """Files to ingest: directories walked (sorted, hidden files skipped) and quoted
    glob patterns expanded; anything else is passed on as given (and reported)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise InputError(f"{p}: directory holds no files to ingest")
            out += found
        elif not p.exists() and glob.has_magic(str(p)):
            matched = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
            if not matched:
                raise InputError(f"{p}: no file matches this pattern")
            out += [m for m in matched if m.is_file()]
        else:
            out.append(p)
    return out


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
@mapping_options
@wait_option
@quiet_option
@json_option
@pass_settings
@handle_errors
def ingest(
    settings: Settings,
    paths: tuple[Path, ...],
    format_: str | None,
    maps: tuple[str, ...],
    mapping_file: str | None,
    time_format: str | None,
    time_zone: str | None,
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
    v2 (twarc), Bluesky Jetstream (.zst ok), Telegram Desktop result.json, Mastodon
    statuses, Reddit (Pushshift). A directory is walked; a quoted glob is expanded.

    Files with columns of their own are read through a mapping (--map, --mapping; see
    `spreadtrace inspect FILE` for a suggestion). Several rows of one post (one per
    URL, hashtag or image) are merged: read = inserted + merged + duplicate + rejected.

    Exits with status 2 if any file could not be read at all (after ingesting the
    others); that file's reason is printed and nothing from it is written.

    \b
    Example:
        spreadtrace --db work.duckdb ingest posts.csv.gz accounts.csv follows.csv
        spreadtrace --db work.duckdb ingest --json tweets.jsonl.gz
        spreadtrace --db work.duckdb ingest exports/
        spreadtrace --db work.duckdb ingest shares.csv --map post_id=content_id \\
            --map parent_id=object_id --map created_at=timestamp_share
        spreadtrace --db work.duckdb ingest --mapping german-elections german_elections.csv.gz
    """
    mapping = resolve_mapping(maps, mapping_file, time_format, time_zone)
    files = expand_paths(paths)
    with Store.open(settings.db, wait=wait) as store:
        with progress_bar(not quiet and not as_json) as progress:
            results = ingest_files(store, files, format=format_, mapping=mapping, progress=progress)
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(_summary(results))
    elif not quiet:
        click.echo(_table(results))
    for r in failed:
        err_console.print(f"error: {r.error}", style="red", markup=False, highlight=False)
    if failed:
        err_console.print(_failed_summary(len(failed), len(results)), markup=False)
        sys.exit(InputError.exit_code)


def _failed_summary(failed: int, total: int) -> str:
    """One line on what was and was not ingested.

    >>> _failed_summary(1, 1), _failed_summary(4, 4), _failed_summary(1, 3)
    ('the file could not be read; nothing was written', 'none of the 4 files could be read; nothing was written', '1 of 3 files could not be read; the other 2 were ingested')
    """
    if total == 1:
        return "the file could not be read; nothing was written"
    if failed == total:
        return f"none of the {total} files could be read; nothing was written"
    rest = total - failed
    other = "the other file was" if rest == 1 else f"the other {rest} were"
    return f"{failed} of {total} files could not be read; {other} ingested"


def _summary(results: list[FileResult]) -> dict[str, object]:
    ok = [r for r in results if r.ok]
    return {
        "files": [r.to_dict() for r in results],
        "totals": {k: sum(getattr(r, k) for r in ok) for k in _TOTALS},
        "failed": [r.path for r in results if not r.ok],
    }


def _table(results: list[FileResult]) -> str:
    """A plain, aligned table (one line per file) that reads well in logs and mail."""
    header = ("file", "format", "read", "inserted", "merged", "duplicate", "rejected", "accounts")
    rows: list[tuple[str, ...]] = []
    for r in results:
        if not r.ok:
            rows.append((r.path, "unreadable", "-", "-", "-", "-", "-", "-", ""))
            continue
        top = next(iter(r.reject_reasons.items()), None)
        rows.append(
            (
                r.path,
                f"{r.format}/{r.container}",
                f"{r.rows_read:,}",
                f"{r.rows_inserted:,}",
                f"{r.rows_merged:,}",
                f"{r.rows_duplicate:,}",
                f"{r.rows_rejected:,}",
                f"{r.accounts_read:,}",
                f"top reject: {top[0]} ({top[1]:,})" if top else "",
            )
        )
    ok = [r for r in results if r.ok]
    if len(results) > 1:
        rows.append(
            (
                f"total ({len(ok)} of {len(results)} files)",
                "",
                *(f"{sum(getattr(r, k) for r in ok):,}" for k in _TOTALS),
                "",
            )
        )
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(v).ljust(w) if i < 2 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=False))
        ]
        extra = row[8] if len(row) > 8 and row[8] else ""
        lines.append(("  ".join(cells) + ("  " + extra if extra else "")).rstrip())
    return "\n".join(lines)

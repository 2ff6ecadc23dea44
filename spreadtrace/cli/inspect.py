"""``spreadtrace inspect``: what a file is and how it would land, before ingesting it."""

from __future__ import annotations

from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import handle_errors, json_option, print_json
from spreadtrace.cli.ingest import mapping_options, resolve_mapping


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@mapping_options
@click.option("--rows", default=5, show_default=True, type=click.IntRange(1, 1000))
@json_option
@handle_errors
def inspect(
    path: Path,
    maps: tuple[str, ...],
    mapping_file: str | None,
    time_format: str | None,
    time_zone: str | None,
    rows: int,
    as_json: bool,
) -> None:
    """Show a file's detected format and columns, a suggested mapping, and its first
    rows as they would land in the store. Writes nothing (no store is opened).

    For a file of foreign columns the suggestion matches canonical names to likely
    source names; save it as a TOML file and pass it to `ingest --mapping`, or try
    your own with --map / --mapping here first.

    \b
    Example:
        spreadtrace inspect shares.csv.gz
        spreadtrace inspect shares.csv.gz --mapping german-elections
    """
    from spreadtrace.ingest.inspect import inspect_file

    mapping = resolve_mapping(maps, mapping_file, time_format, time_zone)
    found = inspect_file(path, mapping=mapping, rows=rows)
    if as_json:
        print_json(
            {
                "path": found.path,
                "format": found.format,
                "container": found.container,
                "compression": found.compression,
                "columns": list(found.columns),
                "suggested_mapping": found.suggested,
                "mapping": found.mapping.to_json() if found.mapping else None,
                "preview": found.preview,
                "note": found.note,
            }
        )
        return
    packed = f"{found.container}" + (f" ({found.compression})" if found.compression else "")
    if found.format:
        click.echo(f"{found.path}: {found.format} in {packed}")
    else:
        click.echo(f"{found.path}: {packed} with columns of its own (needs a mapping)")
    if found.columns:
        click.echo("columns: " + ", ".join(found.columns))
    if found.suggested and found.format is None and not (mapping and mapping.renames):
        click.echo("\nsuggested mapping (save as a .toml file for --mapping):")
        for line in found.suggested_toml().rstrip().splitlines():
            click.echo(f"  {line}".rstrip())
    if found.note and found.format is None and not found.preview:
        click.echo(f"\nno preview: {found.note}")
    if found.preview:
        used = (
            f" (mapping: {found.mapping.name})" if found.mapping and found.mapping.renames else ""
        )
        click.echo(f"\nfirst {len(found.preview)} row(s) as they would land{used}:")
        click.echo(_rows(found.preview))


def _rows(preview: list[dict[str, object]]) -> str:
    """Only the columns that hold something, one aligned line per row."""
    keys = [k for k in preview[0] if any(r.get(k) not in (None, "") for r in preview)]

    def cell(v: object) -> str:
        if isinstance(v, list):
            v = " ".join(str(x) for x in v)
        text = "" if v is None else " ".join(str(v).split())
        return text if len(text) <= 40 else text[:39] + "…"

    table = [keys] + [[cell(r.get(k)) for k in keys] for r in preview]
    widths = [max(len(row[i]) for row in table) for i in range(len(keys))]
    return "\n".join(
        "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )

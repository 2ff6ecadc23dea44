"""``spreadtrace export-parquet`` and ``attach``: move a store to and from the Spark engine."""

from __future__ import annotations

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
from spreadtrace.store import Store
from spreadtrace.store.parquet import export_canonical


@main.command("export-parquet")
@click.option(
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write: OUTPUT/posts/, accounts/, follows/, media/, community_notes/, "
    "community_note_status/ (Parquet).",
)
@json_option
@pass_settings
@handle_errors
def export_parquet(settings: Settings, out_dir: str, as_json: bool) -> None:
    """Write the store's canonical tables as Parquet, the input layout of `spark build`.

    One directory per table with the store's columns and types, so a team can move
    from the DuckDB engine to Spark (and compare the two).

    \b
    Example:
        spreadtrace --db work.duckdb export-parquet --output lake/canonical
        spreadtrace spark build --input lake/canonical --output lake/derived
    """
    with Store.open(settings.db, read_only=True) as store:
        rows = export_canonical(store.con.cursor(), out_dir)
    if as_json:
        print_json({"output": out_dir, "rows": rows})
    else:
        for table, n in rows.items():
            click.echo(f"{n:>12,}  {table}")


@main.command()
@click.argument("in_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False))
@wait_option
@quiet_option
@json_option
@pass_settings
@handle_errors
def attach(settings: Settings, in_dir: str, wait: float, quiet: bool, as_json: bool) -> None:
    """Load a `spark build` output into the store, as one build.

    The derived tables Spark wrote replace the store's (today's engine writes all of
    them); the stages an older output lacks are computed here from it, in the same
    transaction. Then report,
    export-graph and serve work as after `build`. The store must hold the posts the
    output was built from (the store that `export-parquet` wrote it from).

    \b
    Example:
        spreadtrace --db work.duckdb attach lake/derived
        spreadtrace --db work.duckdb report --out reports
    """
    from spreadtrace.attach import attach_output

    with (
        Store.open(settings.db, wait=wait) as store,
        progress_bar(not quiet and not as_json) as progress,
    ):
        result = attach_output(store, in_dir, progress=progress)
    if as_json:
        print_json(
            {
                "build_id": result.build_id,
                "rows": result.rows,
                "engine_tables": result.engine_tables,
                "duckdb_stages": result.duckdb_stages,
            }
        )
    elif not quiet:
        for table, n in result.rows.items():
            click.echo(f"{n:>12,}  {table} (from the engine)")
        here = ", ".join(result.duckdb_stages) or "no stage"
        err_console.print(f"build {result.build_id} (attach): {here} computed here", markup=False)

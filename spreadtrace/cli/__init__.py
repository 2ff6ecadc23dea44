"""The ``spreadtrace`` command line: one thin front end per library entry point.

Each command parses options, makes one library call, prints, and turns library errors
into a one-line message with a documented exit code.
"""

from __future__ import annotations

import click

from spreadtrace import __version__
from spreadtrace.cli._common import Settings
from spreadtrace.store import DEFAULT_DB


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="SPREADTRACE_DB",
    default=DEFAULT_DB,
    show_default=True,
    metavar="PATH",
    help="The store (a DuckDB file). Also the SPREADTRACE_DB environment variable.",
)
@click.version_option(__version__, prog_name="spreadtrace")
@click.pass_context
def main(ctx: click.Context, db: str) -> None:
    """spreadtrace: how misinformation spreads, who spreads it, and whether it is organic.

    \b
    Example:
        spreadtrace --db work.duckdb init
        spreadtrace --db work.duckdb ingest exports/*.jsonl.gz
    """
    ctx.obj = Settings(db)


def _register() -> None:
    # Each command lives in its own module; importing registers it on `main`.
    from spreadtrace.cli import (
        build,  # noqa: F401
        demo,  # noqa: F401
        export_graph,  # noqa: F401
        ingest,  # noqa: F401
        init,  # noqa: F401
        report,  # noqa: F401
        run,  # noqa: F401
        serve,  # noqa: F401
        synth,  # noqa: F401
    )


_register()

"""The ``spreadtrace`` command line: one thin front end per library entry point.

Each command parses options, makes one library call, prints, and turns library errors
into a one-line message with a documented exit code.
"""

from __future__ import annotations

import importlib

import click

from spreadtrace import __version__
from spreadtrace.cli._common import Settings
from spreadtrace.store import DEFAULT_DB

# Each command lives in its own module (spreadtrace/cli/<module>.py) and registers
# itself on `main` when imported. The group imports a command's module only when that
# command runs (or help lists it), so `spreadtrace ingest` from cron does not pay for
# importing the graph and dashboard stacks: start-up is part of every scheduled job.
COMMANDS: dict[str, str] = {
    "audit": "audit",
    "build": "build",
    "demo": "demo",
    "export-graph": "export_graph",
    "forget": "forget",
    "ingest": "ingest",
    "init": "init",
    "media": "media",
    "inspect": "inspect",
    "report": "report",
    "run": "run",
    "serve": "serve",
    "synth": "synth",
    "users": "users",
    # the Spark engine (issue 15): the Parquet layout in and out, and `spark build`
    "export-parquet": "parquet",
    "attach": "parquet",
    "spark": "spark",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"spreadtrace.cli.{COMMANDS[cmd_name]}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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

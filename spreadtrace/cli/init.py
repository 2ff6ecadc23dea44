"""``spreadtrace init``: create (or migrate) a store."""

from __future__ import annotations

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import Settings, err_console, handle_errors, pass_settings
from spreadtrace.store import Store


@main.command()
@pass_settings
@handle_errors
def init(settings: Settings) -> None:
    """Create an empty store, or migrate an existing one to this version's schema.

    \b
    Example:
        spreadtrace --db work.duckdb init
    """
    with Store.open(settings.db) as store:
        version = store.schema_version()
    err_console.print(f"store {settings.db} ready (schema version {version})")
    click.get_current_context().exit(0)

"""``spreadtrace audit``: print the dashboard's audit log."""

from __future__ import annotations

import json

import click

from spreadtrace.auth import read_audit
from spreadtrace.cli import main
from spreadtrace.cli._common import Settings, handle_errors, json_option, pass_settings


def audit_path(settings: Settings, log: str | None) -> str:
    """The audit log: as given, else ``<db>.audit.jsonl`` beside the store."""
    return log or f"{settings.db}.audit.jsonl"


@main.command()
@click.option(
    "--log",
    "log_file",
    envvar="SPREADTRACE_AUDIT_LOG",
    type=click.Path(dir_okay=False),
    help="The audit log (default: <db>.audit.jsonl). Also SPREADTRACE_AUDIT_LOG.",
)
@click.option("--user", "who", help="Only this user's events.")
@click.option("--action", help="Only this action (login, view, open account, search, export, ...).")
@json_option
@pass_settings
@handle_errors
def audit(
    settings: Settings, log_file: str | None, who: str | None, action: str | None, as_json: bool
) -> None:
    """Print the dashboard's audit log: who opened, searched or exported what, and when.

    One event per line: time (UTC), user, role, action, and what it concerned. The
    log is append-only; spreadtrace never rewrites it.

    \b
    Example:
        spreadtrace --db work.duckdb audit
        spreadtrace --db work.duckdb audit --user ana --action export
    """
    for event in read_audit(audit_path(settings, log_file)):
        if who is not None and event.get("user") != who:
            continue
        if action is not None and event.get("action") != action:
            continue
        if as_json:
            click.echo(json.dumps(event, ensure_ascii=False))
            continue
        rest = {k: v for k, v in event.items() if k not in ("at", "user", "role", "action")}
        detail = " ".join(
            f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v!r}"
            for k, v in rest.items()
        )
        click.echo(
            f"{event.get('at')}  {event.get('user') or '-'}  {event.get('role') or '-'}  "
            f"{event.get('action')}  {detail}".rstrip()
        )

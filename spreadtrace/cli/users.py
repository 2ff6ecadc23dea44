"""``spreadtrace users``: the dashboard's accounts (add, remove, list)."""

from __future__ import annotations

import sys

import click

from spreadtrace.auth import MIN_PASSWORD, ROLES, add_user, list_users, remove_user
from spreadtrace.cli import main
from spreadtrace.cli._common import Settings, err_console, handle_errors, pass_settings


def users_path(settings: Settings, users: str | None) -> str:
    """The users file: as given, else ``<db>.users.json`` beside the store."""
    return users or f"{settings.db}.users.json"


users_option = click.option(
    "--users",
    "users_file",
    envvar="SPREADTRACE_USERS",
    type=click.Path(dir_okay=False),
    help="The users file (default: <db>.users.json). Also SPREADTRACE_USERS.",
)


@main.group()
def users() -> None:
    """Manage who may sign in to the dashboard, and with which role.

    Roles: viewer (sees pseudonyms instead of account ids, handles and platform
    ids, everywhere and in downloads), analyst (sees everything), admin (an analyst
    who manages users). Passwords are stored as argon2id hashes, never in clear.

    \b
    Example:
        spreadtrace --db work.duckdb users add ana --role analyst
        spreadtrace --db work.duckdb users list
    """


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (scripts).",
)
@users_option
@pass_settings
@handle_errors
def users_add(
    settings: Settings, name: str, role: str, password_stdin: bool, users_file: str | None
) -> None:
    """Add a user (or set an existing user's password and role).

    The password is asked twice on the terminal (at least 12 characters), or read
    from standard input with --password-stdin.

    \b
    Example:
        spreadtrace --db work.duckdb users add ana --role analyst
        printf '%s\\n' "$PW" | spreadtrace users add bo --role viewer --password-stdin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"password for {name} (at least {MIN_PASSWORD} characters)",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
    path = users_path(settings, users_file)
    add_user(path, name, password, role)
    err_console.print(f"user {name} ({role}) saved in {path}", markup=False, highlight=False)


@users.command("remove")
@click.argument("name")
@users_option
@pass_settings
@handle_errors
def users_remove(settings: Settings, name: str, users_file: str | None) -> None:
    """Remove a user; their open sessions end at their next request.

    \b
    Example:
        spreadtrace --db work.duckdb users remove bo
    """
    path = users_path(settings, users_file)
    remove_user(path, name)
    err_console.print(f"user {name} removed from {path}", markup=False, highlight=False)


@users.command("list")
@users_option
@pass_settings
@handle_errors
def users_list(settings: Settings, users_file: str | None) -> None:
    """List users and roles (never the hashes).

    \b
    Example:
        spreadtrace --db work.duckdb users list
    """
    for name, role, updated in list_users(users_path(settings, users_file)):
        click.echo(f"{name}\t{role}\t{updated}")

"""``spreadtrace report``: write the CSV reports (and alerts) for colleagues."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
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
)
from spreadtrace.errors import SpreadtraceError
from spreadtrace.reports import AlertParams, parse_window, write_reports
from spreadtrace.store import Store
from spreadtrace.store.report_queries import MIN_SECRET_LENGTH, check_secret


def _window(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_window(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _utc(ctx: click.Context, param: click.Parameter, value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


def alert_params(window: float, ratio: float, floor: int, at: datetime | None) -> AlertParams:
    """The alert rule from the shared options."""
    return AlertParams(window_s=window, ratio=ratio, floor=floor, at=at)


class BadSecret(SpreadtraceError):
    """A pseudonymisation secret that is empty or too short to resist guessing."""

    exit_code = 2


def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return value


def checked_secret(value: str | None) -> str | None:
    """``value`` if it is a usable secret (or None); else :class:`BadSecret` (one line)."""
    if value is not None:
        try:
            check_secret(value)
        except ValueError as exc:
            raise BadSecret(str(exc)) from None
    return value


def report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``report`` and ``run``: pseudonymisation and the alert rule."""
    options = [
        click.option(
            "--pseudonymize",
            metavar="SECRET",
            envvar="SPREADTRACE_PSEUDONYMIZE",
            callback=_secret,
            help="Replace account ids, handles and post, cascade and narrative ids by keyed "
            "HMAC-SHA256 pseudonyms and mask account traces in text (same secret, same "
            f"pseudonyms; at least {MIN_SECRET_LENGTH} characters). Also the "
            "SPREADTRACE_PSEUDONYMIZE environment "
            "variable, which keeps the secret out of `ps` and crontabs.",
        ),
        click.option(
            "--alert-window",
            default="1h",
            show_default=True,
            callback=_window,
            help="alerts.csv: the recent window (90s, 15m, 1h, 2d), ending at the newest post.",
        ),
        click.option(
            "--alert-ratio",
            type=click.FloatRange(min=0, min_open=True),
            default=5.0,
            show_default=True,
            help="alerts.csv: recent shares must be this many times the item's earlier rate.",
        ),
        click.option(
            "--alert-at",
            type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
            default=None,
            callback=_utc,
            help="alerts.csv: judge as of this UTC time instead of the newest post "
            "(e.g. 2024-03-17T12:00:00Z), to look at past data as it stood.",
        ),
        click.option(
            "--keep-runs",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="Keep only the newest N report folders (this one included) and delete "
            "older ones; latest/ always stays. Default: keep every folder. A cron job "
            "wants this: each run adds a full set of reports.",
        ),
        click.option(
            "--alert-floor",
            type=click.IntRange(min=1),
            default=20,
            show_default=True,
            help="alerts.csv: and at least this many shares in the window.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Reports folder: each run goes to OUT/<UTC timestamp>/, published as OUT/latest/.",
)
@report_options
@quiet_option
@json_option
@pass_settings
@handle_errors
def report(
    settings: Settings,
    out_dir: str,
    pseudonymize: str | None,
    alert_window: float,
    alert_at: datetime | None,
    alert_ratio: float,
    alert_floor: int,
    keep_runs: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Write the CSV reports: cascades, accounts, narratives, coordination, alerts.

    UTF-8 CSV with a header, stable columns and ISO 8601 UTC times, in a timestamped
    folder plus latest/, with manifest.json. Every file is written under a temporary
    name and renamed, so no reader ever sees a truncated report. Text cells that a
    spreadsheet would run as a formula are prefixed with a single quote.

    \b
    Example:
        spreadtrace --db work.duckdb report --out reports
        SPREADTRACE_PSEUDONYMIZE="$(cat secret)" spreadtrace report --out shared/ --alert-window 30m
    """
    pseudonymize = checked_secret(pseudonymize)
    alerts = alert_params(alert_window, alert_ratio, alert_floor, alert_at)
    with Store.open(settings.db, read_only=True) as store, progress_bar(not quiet) as progress:
        result = write_reports(
            store,
            out_dir,
            pseudonymize=pseudonymize,
            alerts=alerts,
            progress=progress,
            keep=keep_runs,
        )
    if as_json:
        print_json(
            {
                "run_dir": result.run_dir,
                "latest_dir": result.latest_dir,
                "rows": result.rows,
                "removed_runs": result.removed_runs,
            }
        )
    elif not quiet:
        for name, rows in result.rows.items():
            click.echo(f"{rows:>9,}  {name}")
        err_console.print(f"reports in {result.run_dir} (and {result.latest_dir})", markup=False)

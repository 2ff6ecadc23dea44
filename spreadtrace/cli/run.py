"""``spreadtrace run``: the scheduled job (cron, systemd timer): ingest, build, report."""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    handle_errors,
    json_option,
    memory_limit_option,
    pass_settings,
    print_json,
    wait_option,
)
from spreadtrace.cli.report import alert_params, checked_secret, report_options
from spreadtrace.errors import StorageError, StoreBusy
from spreadtrace.jobs import log as job_log
from spreadtrace.jobs import new_job_id, run_job
from spreadtrace.reports import REPORT_KINDS, parse_window


class _UTCFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)


def _handlers(log_file: str | None, quiet: bool) -> list[logging.Handler]:
    formatter = _UTCFormatter(
        "%(asctime)s %(levelname)s run=%(run_id)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ"
    )
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING if quiet else logging.INFO)
    handlers: list[logging.Handler] = [stderr]
    if log_file:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
    return handlers


@main.command()
@click.option(
    "--incoming",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="Folder where new export files arrive.",
)
@click.option(
    "--reports",
    "reports_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Reports folder (as `report --out`).",
)
@click.option(
    "--archive",
    type=click.Path(file_okay=False),
    help="Move each file here once it is ingested (or found already ingested).",
)
@wait_option
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Look at each file twice this far apart; one still changing waits for the next run.",
)
@click.option(
    "--log", "log_file", type=click.Path(dir_okay=False), help="Also append the log here."
)
@click.option(
    "--quarantine",
    type=click.Path(file_okay=False),
    help="Move files that cannot be read here, each with a <name>.reason.txt "
    "(default: INCOMING/quarantine).",
)
@click.option(
    "--retain",
    "retain_days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="DAYS",
    help="Drop posts created more than DAYS days ago, on every run (then a full build).",
)
@click.option("--format", "fmt", default=None, help="Input format (default: detect per file).")
@click.option(
    "--report-kind",
    "reports_kind",
    type=click.Choice(REPORT_KINDS),
    default="auto",
    show_default=True,
    help="full: every file whole; changes: for the big files only the rows added, "
    "updated or removed since the previous set (in REPORTS/<stamp>.changes/, and "
    "REPORTS/latest-changes/); auto: changes, but a full set when none exists yet, the "
    "newest is older than --full-reports-every, the keying changed or a full build ran.",
)
@click.option(
    "--full-reports-every",
    "full_every",
    default="24h",
    show_default=True,
    metavar="WINDOW",
    help="With --report-kind=auto, write a full set when the newest is this old (e.g. 6h, 1d).",
)
@report_options
@memory_limit_option
@click.option("--quiet", "-q", is_flag=True, help="Log warnings and errors only.")
@json_option
@pass_settings
@handle_errors
def run(
    settings: Settings,
    incoming: str,
    reports_dir: str,
    archive: str | None,
    wait: float,
    settle: float,
    log_file: str | None,
    quarantine: str | None,
    retain_days: float | None,
    fmt: str | None,
    reports_kind: str,
    full_every: str,
    pseudonymize: str | None,
    alert_window: float,
    alert_at: datetime | None,
    alert_ratio: float,
    alert_floor: int,
    keep_runs: int | None,
    memory_limit: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Ingest every new file in INCOMING, build incrementally, write the reports.

    Meant for cron or a systemd timer. A file already ingested (same content hash) is
    skipped; a file still being written waits for the next run. One job at a time: a
    second job on the same store exits at once with code 75, or waits with --wait.
    Killed at any moment, the next run finishes the work: nothing is lost or doubled.
    One log line per event, with the run id, on stderr (and in --log FILE).

    A file that cannot be read is moved to the quarantine folder with its reason and
    never blocks the files behind it.

    Reports: by default (--report-kind=auto) a run writes a full set once a day
    (--full-reports-every) and otherwise a CHANGES set: for cascades, accounts,
    narratives and items only the rows added, updated or removed since the previous
    set, in REPORTS/<stamp>.changes/ (also REPORTS/latest-changes/); REPORTS/latest/
    stays the newest full set.

    \b
    Exit codes: 0 all good; 65 done, but some rows were rejected (see the rejects
    table); 1 failed (an unreadable file, quarantined, or the build or report
    failed); 71 out of memory within --memory-limit; 73 the store or an output
    folder is read-only; 74 no space left on the device (or another I/O error); 75
    another job holds the store.

    \b
    Example:
        spreadtrace --db work.duckdb run --incoming inbox --reports reports \\
            --archive done --log spreadtrace.log --full-reports-every 6h
    """
    pseudonymize = checked_secret(pseudonymize)
    try:
        full_every_s = parse_window(full_every)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--full-reports-every") from None
    job_id = new_job_id()
    handlers = _handlers(log_file, quiet)
    for handler in handlers:
        job_log.addHandler(handler)
    job_log.setLevel(logging.INFO)
    job_log.propagate = False
    try:
        try:
            result = run_job(
                settings.db,
                incoming,
                reports_dir,
                archive=archive,
                wait=wait,
                settle=settle,
                pseudonymize=pseudonymize,
                alerts=alert_params(alert_window, alert_ratio, alert_floor, alert_at),
                job_id=job_id,
                format=fmt,
                quarantine=quarantine,
                retain_days=retain_days,
                memory_limit=memory_limit,
                keep_reports=keep_runs,
                report_kind=reports_kind,
                full_reports_every=full_every_s,
            )
        except StoreBusy as exc:
            job_log.warning("busy: %s", exc, extra={"run_id": job_id})
            raise
        except StorageError as exc:
            job_log.error("failed: %s", " ".join(str(exc).split()), extra={"run_id": job_id})
            raise
    finally:
        for handler in handlers:
            job_log.removeHandler(handler)
            handler.close()
    if as_json:
        print_json(result.to_dict())
    click.get_current_context().exit(result.exit_code)

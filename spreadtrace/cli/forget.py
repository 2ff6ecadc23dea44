"""``spreadtrace forget``: erase accounts (a data-protection request)."""

from __future__ import annotations

from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    err_console,
    handle_errors,
    json_option,
    pass_settings,
    print_json,
    wait_option,
)


@main.command()
@click.argument("account_ids", nargs=-1, required=True)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(file_okay=False),
    help="Also rewrite the reports in this folder and delete its older runs.",
)
@click.option(
    "--pseudonymize",
    metavar="SECRET",
    envvar="SPREADTRACE_PSEUDONYMIZE",
    help="Pseudonymise the rewritten reports (as `report --pseudonymize`).",
)
@wait_option
@json_option
@pass_settings
@handle_errors
def forget(
    settings: Settings,
    account_ids: tuple[str, ...],
    reports_dir: str | None,
    pseudonymize: str | None,
    wait: float,
    as_json: bool,
) -> None:
    """Erase accounts: their posts, profile snapshots and follows, everywhere.

    Others' posts that shared an erased post keep their place (their parent becomes
    an opaque token, as for an original never ingested), and the account's handle,
    id and post ids are masked in others' texts. Every derived table is rebuilt, so
    the other accounts' results equal those of a store that never had the account;
    the store file is compacted (deleted rows leave it only then), the dashboard
    snapshot is republished and older snapshots deleted. The erasure is recorded
    (counts only, never the ids) in the `erasures` table and the audit log.

    \b
    Example:
        spreadtrace --db work.duckdb forget 1234567890 did:plc:abcd --reports reports
    """
    from spreadtrace.auth import AuditLog
    from spreadtrace.cli.report import checked_secret
    from spreadtrace.privacy import forget as forget_accounts

    secret = checked_secret(pseudonymize)
    result = forget_accounts(
        settings.db, list(account_ids), reports=reports_dir, pseudonymize=secret, wait=wait
    )
    AuditLog(Path(f"{settings.db}.audit.jsonl")).write(
        None, "cli", "forget", erasure_id=result.erasure_id, **result.counts.to_dict()
    )
    if as_json:
        print_json(result.to_dict())
        return
    c = result.counts
    err_console.print(
        f"erasure {result.erasure_id}: {c.accounts} account(s); removed {c.posts:,} posts, "
        f"{c.snapshots:,} profile snapshots, {c.follows:,} follows, {c.rejects:,} rejected "
        f"lines; rewrote {c.references_rewritten:,} references and {c.texts_masked:,} texts "
        f"of others; rebuilt (build {result.build_id}), store compacted, dashboard snapshot "
        "republished" + (f", reports in {result.report_dir}" if result.report_dir else ""),
        markup=False,
        highlight=False,
    )

"""``spreadtrace demo``: the whole pipeline on the bundled synthetic sample, then serve it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    err_console,
    handle_errors,
    pass_settings,
    progress_bar,
    quiet_option,
)
from spreadtrace.errors import StoreError
from spreadtrace.store import Store

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEMO_DIR = Path("demo-store")
# Input files in the order they go in: profiles and follows first, so that the build
# can infer parents from follows and score profiles.
SAMPLE_FILES = ("accounts.csv.gz", "follows.csv.gz", "posts.csv.gz")


def _fresh_demo_store(path: Path) -> Store:
    """Open a fresh demo store at ``path``, replacing an earlier demo store only.

    A store that ``demo`` did not create is never deleted: pointing ``--out`` at real
    work by mistake must not destroy it.
    """
    if path.exists():
        with Store.open(path) as old:
            created_by = old.meta("created_by")
        if created_by != "spreadtrace demo":
            raise StoreError(
                f"{path} exists and was not made by `spreadtrace demo`; not replacing it"
            )
        for leftover in path.parent.glob(path.name + "*"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
    store = Store.open(path)
    store.set_meta("created_by", "spreadtrace demo")
    return store


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Folder for the demo store and its reports (an earlier demo there is replaced).",
)
@click.option(
    "--sample",
    "sample_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SAMPLE_DIR,
    show_default="data/sample",
    help="The canonical files to ingest.",
)
@click.option("--serve/--no-serve", default=True, help="Serve the dashboard when done.")
@click.option("--port", default=8050, show_default=True, help="Port for the dashboard.")
@quiet_option
@pass_settings
@handle_errors
def demo(
    settings: Settings, out_dir: Path, sample_dir: Path, serve: bool, port: int, quiet: bool
) -> None:
    """Ingest the bundled sample into a fresh store, build everything, report, serve.

    The store goes to OUT/demo.duckdb and the CSV reports to OUT/reports/latest/;
    the dashboard is served on http://127.0.0.1:PORT until you press Ctrl-C.

    \b
    Example:
        spreadtrace demo
        spreadtrace demo --no-serve --out /tmp/demo
    """
    from spreadtrace.ingest import ingest_files
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.reports import write_reports

    db = out_dir / "demo.duckdb"
    paths = [sample_dir / name for name in SAMPLE_FILES]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise StoreError(f"sample files missing: {', '.join(missing)} (run `make sample`)")

    if serve:  # fail before the work (and before replacing an earlier demo store)
        from spreadtrace.cli.serve import check_port

        check_port("127.0.0.1", port)
    started = time.perf_counter()
    with _fresh_demo_store(db) as store, progress_bar(not quiet) as progress:
        results = ingest_files(store, paths, progress=progress)
        build = run_build(store, full=True, progress=progress)
        report = write_reports(store, out_dir / "reports", progress=progress)
        counts = store.counts()
    elapsed = time.perf_counter() - started

    if not quiet:
        for r in results:
            err_console.print(
                f"ingested {Path(r.path).name}: read {r.rows_read:,} = inserted {r.rows_inserted:,}"
                f" + duplicate {r.rows_duplicate:,} + rejected {r.rows_rejected:,}",
                markup=False,
                highlight=False,
            )
        err_console.print(
            f"build {build.build_id}: {counts['posts']:,} posts from {counts['accounts']:,} "
            f"profiled accounts in {counts['cascades']:,} cascades and "
            f"{counts['narratives']:,} narratives; {counts['clusters']:,} coordination clusters",
            markup=False,
            highlight=False,
        )
        err_console.print(f"reports in {report.latest_dir}", markup=False, highlight=False)
        err_console.print(
            f"demo ready in {elapsed:.1f} s (store {db})", markup=False, highlight=False
        )

    if serve:
        from spreadtrace.cli.serve import serve as serve_command

        settings.db = str(db)
        click.get_current_context().invoke(
            serve_command, host="127.0.0.1", port=port, auth=None, threads=8
        )

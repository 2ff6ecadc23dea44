"""The command line as a whole: help texts, examples, README coverage."""

from __future__ import annotations

import re

from spreadtrace.cli import main
from tests.conftest import REPO


def _commands():
    import click

    return main.list_commands(click.Context(main))


def test_every_command_module_registers_its_command():
    import click

    from spreadtrace.cli import COMMANDS

    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name, name


def test_cli_start_up_does_not_import_the_heavy_stacks():
    import subprocess
    import sys

    code = (
        "import sys; from spreadtrace.cli import main; "
        "print(sorted(m for m in ('igraph', 'networkx', 'dash', 'plotly', 'polars') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_every_command_has_help_with_an_example(runner):
    for name in _commands():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example:" in result.output, f"`spreadtrace {name} --help` has no Example: block"


def test_every_command_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^### `spreadtrace ([a-z-]+)", readme, flags=re.M))
    missing = set(_commands()) - documented
    assert not missing, f"commands missing from README.md: {sorted(missing)}"


def test_init_creates_a_store(runner, db_path):
    result = runner.invoke(main, ["--db", str(db_path), "init"])
    assert result.exit_code == 0, result.output
    assert db_path.exists()


def test_db_from_environment(runner, db_path):
    result = runner.invoke(main, ["init"], env={"SPREADTRACE_DB": str(db_path)})
    assert result.exit_code == 0, result.output
    assert db_path.exists()


def test_library_errors_are_one_unwrapped_line(runner, db_path):
    from spreadtrace.store import SCHEMA_VERSION, Store

    with Store.open(db_path) as store:
        store.con.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)]
        )
    result = runner.invoke(main, ["--db", str(db_path), "init"])
    assert result.exit_code == 3  # StoreError
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "upgrade spreadtrace" in lines[0]


def test_writers_share_one_wait_option(runner, db_path):
    import threading

    from spreadtrace.store import Store

    holder = Store.open(db_path)
    # busy without --wait: the documented exit code, at once
    busy = runner.invoke(main, ["--db", str(db_path), "build", "--quiet"])
    assert busy.exit_code == 75, busy.output
    # with --wait the build waits for the holder to let go, then runs
    threading.Timer(0.5, holder.close).start()
    waited = runner.invoke(main, ["--db", str(db_path), "build", "--quiet", "--wait", "30"])
    assert waited.exit_code == 0, waited.output
    for command in ("ingest", "build", "run"):
        bad = runner.invoke(main, ["--db", str(db_path), command, "--wait", "-1"])
        assert bad.exit_code == 2 and "--wait" in bad.output, (command, bad.output)

"""DuckDB works within a memory limit (issue 12, part 3): the option and its default."""

from __future__ import annotations

import re

from spreadtrace.cli import main
from spreadtrace.store import Store, default_memory_limit
from tests.test_build_nothing_new import FIRST, _csv


def _settings(store):
    return store.con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchall()[0]


def test_limit_memory_sets_duckdb_limit_and_spill_folder(file_store, db_path):
    assert file_store.limit_memory("1GB") == "1GB"
    limit, temp = _settings(file_store)
    assert limit == "953.6 MiB"  # DuckDB shows 10^9 bytes in binary units
    assert temp == str(db_path) + ".tmp"


def test_default_is_half_the_available_memory_with_a_floor():
    meminfo = open("/proc/meminfo").read()
    available_mb = int(re.search(r"MemAvailable:\s+(\d+)", meminfo)[1]) // 1024
    got = int(default_memory_limit().removesuffix("MB"))
    # MemAvailable moves between the two reads: allow 10% either way
    assert got >= 1024
    assert got == 1024 or abs(got - available_mb / 2) <= 0.1 * available_mb
    assert default_memory_limit(fraction=0.0) == "1024MB"


def test_a_limit_that_is_not_a_size_is_refused(mem_store):
    for bad in ("lots", "1GB; SELECT 1", "-1GB", ""):
        try:
            mem_store.limit_memory(bad or "x")
        except Exception as exc:
            assert "memory limit" in str(exc)
        else:
            raise AssertionError(bad)


def test_cli_build_takes_memory_limit(runner, db_path, tmp_path):
    with Store.open(db_path) as store:
        from spreadtrace.ingest import ingest_file

        ingest_file(store, _csv(tmp_path, "one.csv", FIRST))
    ok = runner.invoke(main, ["--db", str(db_path), "build", "--memory-limit", "512MB"])
    assert ok.exit_code == 0, ok.output
    assert "build 1 (full)" in ok.output
    bad = runner.invoke(main, ["--db", str(db_path), "build", "--memory-limit", "much"])
    assert bad.exit_code != 0
    assert "memory limit 'much'" in bad.output and "Traceback" not in bad.output

"""DuckDB works within a memory limit (issue 12, part 3): the option and its default."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from spreadtrace.cli import main
from spreadtrace.errors import OutOfMemory
from spreadtrace.pipeline.build import bound_free_heap, release_free_memory, run_build
from spreadtrace.store import (
    BUILD_MEMORY_CAP_MB,
    DEFAULT_MEMORY_CAP_MB,
    Store,
    default_memory_limit,
    storage_error,
)
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


def test_default_is_half_the_available_memory_with_a_floor_and_a_cap():
    meminfo = open("/proc/meminfo").read()
    available_mb = int(re.search(r"MemAvailable:\s+(\d+)", meminfo)[1]) // 1024
    got = int(default_memory_limit(cap_mb=10**9).removesuffix("MB"))
    # MemAvailable moves between the two reads: allow 10% either way
    assert got >= 1024
    assert got == 1024 or abs(got - available_mb / 2) <= 0.1 * available_mb
    assert default_memory_limit(fraction=0.0) == "1024MB"
    # the default cap: DuckDB's share of a build that must peak under 3 GB at 5M posts
    assert 1024 <= int(default_memory_limit().removesuffix("MB")) <= DEFAULT_MEMORY_CAP_MB
    assert default_memory_limit(fraction=1.0, cap_mb=1500) == "1500MB"


def _limit_mib(store) -> float:
    (shown,) = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    value, unit = shown.split()
    return float(value) * {"MiB": 1, "GiB": 1024}[unit]


def test_a_build_runs_within_a_fixed_share_of_the_default_limit(file_store):
    # the job's default (2 GB on a machine with 4 GB free) is lowered to the build's
    # fixed share while the stages run, whatever the store's size, then restored for
    # the report step
    default = int(file_store.limit_memory().removesuffix("MB"))
    before = _limit_mib(file_store)
    seen: list[float] = []
    run_build(file_store, publish=False, progress=lambda *_: seen.append(_limit_mib(file_store)))
    cap_mib = min(BUILD_MEMORY_CAP_MB, default) * 10**6 / 2**20
    assert seen and all(abs(s - cap_mib) < 1 for s in seen)
    assert _limit_mib(file_store) == before


def test_a_limit_given_is_the_builds_limit(file_store):
    file_store.limit_memory("3GB")
    given = _limit_mib(file_store)
    assert given > BUILD_MEMORY_CAP_MB
    seen: list[float] = []
    run_build(file_store, publish=False, progress=lambda *_: seen.append(_limit_mib(file_store)))
    assert seen and set(seen) == {given}


def test_limit_memory_lets_duckdb_return_freed_pages(file_store):
    file_store.limit_memory("1GB")
    (on,) = file_store.con.execute(
        "SELECT current_setting('allocator_background_threads')"
    ).fetchall()[0]
    assert on is True


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_returns_freed_heap_pages():
    # 300 MB in 100 kB blocks (below glibc's mmap threshold: on the heap), all freed but
    # the last, which pins the heap's top: only a trim hands the freed pages back
    blocks = [bytearray(100_000) for _ in range(3000)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    last = blocks[-1]
    del blocks
    before = _rss()
    release_free_memory()
    assert _rss() < before - 200_000_000
    assert len(last) == 100_000


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_bound_free_heap_returns_freed_mid_size_blocks_without_a_trim():
    # a freed 20 MB block raises glibc's own mmap threshold to 20 MB: 2 MB blocks would
    # then come from the heap, and with the last one pinning its top stay resident
    big = bytearray(20_000_000)
    del big
    bound_free_heap()
    blocks = [bytearray(2_000_000) for _ in range(150)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page
    last = blocks[-1]
    before = _rss()
    del blocks
    assert _rss() < before - 200_000_000  # no malloc_trim: each block was its own mapping
    assert len(last) == 2_000_000


def test_polars_frees_pages_at_once_once_spreadtrace_is_imported_first():
    # a fresh interpreter: this one loaded polars long ago
    code = (
        "import spreadtrace, polars as pl, numpy as np\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "a = pl.DataFrame({'x': np.arange(10_000_000)}).with_columns(y=pl.col('x') * 2)\n"
        "held = rss()\n"
        "del a\n"
        "print(held - rss())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 100_000_000  # the 160 MB of the frame are given back


def test_a_build_that_outgrows_its_share_runs_again_at_the_jobs_limit(tmp_path):
    """What DuckDB cannot spill grows with the store: a build that runs out of memory
    within the build's share is rolled back and run again at the job's default limit,
    with the same tables as a build that never ran short, and says so in its counts."""
    from tests.synth_worlds import build_in_batches, synth_world, world_posts
    from tests.test_cascades_support import table_rows
    from tests.test_incremental import DERIVED

    world = synth_world(3, str(tmp_path), 900)
    cut = np.zeros(world_posts(world).height, dtype=np.int64)
    cut[-60:] = 1
    got: dict[str, dict[str, list]] = {}
    for tag, share in (("short", 4), ("ample", None)):
        with Store.open(tmp_path / f"{tag}.duckdb") as store:
            store.limit_memory()
            if share is not None:
                store.build_cap_mb = share  # 4 MB: every build runs short
            results = list(build_in_batches(store, world, cut, tmp_path, tag))
            retried = [r.counts.get("memory", {}).get("retried_at_job_limit") for r in results]
            assert [r.mode for r in results] == ["full", "incremental"]
            assert retried == ([1, 1] if share else [None, None])
            got[tag] = {t: table_rows(store, t) for t in DERIVED}
    assert got["short"] == got["ample"]


def test_out_of_memory_hidden_by_a_cleanup_statement_is_still_out_of_memory(tmp_path):
    """A work table dropped in a ``finally`` after a statement ran out of memory fails
    with "transaction is aborted", which Python raises instead: the build must still
    see the lack of memory (and run again at the job's limit), and the user read it."""
    import duckdb

    with Store.open(tmp_path / "s.duckdb") as store:
        store.limit_memory()
        store.build_cap_mb = 8
        with store.build_memory(), pytest.raises(duckdb.TransactionException) as info:
            store.con.execute("BEGIN")
            try:
                try:  # a list aggregate cannot spill: 5M values do not fit in 8 MB
                    store.con.execute("SELECT list(i) FROM range(5000000) t(i)").fetchall()
                finally:
                    store.con.execute("DROP TABLE IF EXISTS _nothing")
            finally:
                store.con.execute("ROLLBACK")
        assert "transaction is aborted" in str(info.value).lower()
        assert store.out_of_build_memory(info.value)
        err = storage_error(info.value, "writing s.duckdb")
        assert isinstance(err, OutOfMemory)
        assert "out of memory within DuckDB's limit" in str(err)
        # any failure, in a transaction: the one the cleanup hid is what is raised
        with pytest.raises(duckdb.ConversionException), store.transaction() as con:
            try:
                con.execute("SELECT 1 / 'x'")
            finally:
                con.execute("DROP TABLE IF EXISTS _nothing")


def test_an_explicit_limit_is_not_retried(tmp_path):
    """A limit the user gave is the build's: running out within it is an error, not a
    silent second build at a larger size."""
    from tests.synth_worlds import build_in_batches, synth_world, world_posts

    world = synth_world(3, str(tmp_path), 900)
    cut = np.zeros(world_posts(world).height, dtype=np.int64)
    with Store.open(tmp_path / "s.duckdb") as store:
        store.limit_memory("4MB")
        with pytest.raises(OutOfMemory, match="out of memory within DuckDB's limit of"):
            list(build_in_batches(store, world, cut, tmp_path))

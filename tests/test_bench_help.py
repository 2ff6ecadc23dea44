"""`python -m bench --help` lists the benchmarks and runs none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_bench_help_lists_every_benchmark_and_runs_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("usage: python -m bench")
    names = sorted(p.stem.removeprefix("bench_") for p in (REPO / "bench").glob("bench_*.py"))
    assert names, "no benchmarks found"
    for name in names:
        assert f"  {name} " in out, name
    assert "== bench" not in out  # nothing was run


def test_each_benchmarks_help_prints_its_options_and_runs_nothing() -> None:
    # `python -m bench scores --help` once started the 5M-post benchmark: a module
    # without a parser ignored the flag. Help never runs a benchmark.
    names = sorted(p.stem.removeprefix("bench_") for p in (REPO / "bench").glob("bench_*.py"))
    out = subprocess.run(
        [sys.executable, "-m", "bench", *names, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "== bench" not in out  # nothing was run
    for name in names:
        summary = (REPO / "bench" / f"bench_{name}.py").read_text().split('"""')[1].split("\n")[0]
        assert f"bench {name}:" in out or "usage:" in out, name
        if "argparse" not in (REPO / "bench" / f"bench_{name}.py").read_text():
            assert summary.strip() in out, name

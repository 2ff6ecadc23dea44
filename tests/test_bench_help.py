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

"""The benches' peak RSS is the measured process's own, not its parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]


def test_a_child_does_not_report_its_parents_high_water_mark() -> None:
    # the parent grows by 300 MiB, then starts a small child: ru_maxrss (carried over
    # fork and exec on Linux) would report >= 300 MiB for it
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident
    assert peak_rss_mb() >= 300
    code = "from bench import peak_rss_mb; print(peak_rss_mb())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert float(out) < 100, out
    del ballast

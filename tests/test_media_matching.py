"""Media matching: the multi-index join against brute force, drawn pictures and their
edited copies, ffmpeg test clips, and the false-match rate of unrelated pictures."""

from __future__ import annotations

import itertools
import shutil

import duckdb
import numpy as np
import pytest

from spreadtrace.graph.media import pairs_brute_force
from spreadtrace.media.hashing import MAX_SIDE, hamming, pdq_of_rgb
from spreadtrace.store import media as media_sql
from tests import _media_helpers as draw

THRESHOLD = 31


def _planted(seed: int, n: int = 400) -> tuple[np.ndarray, list[str]]:
    """Random hashes plus copies at every distance 0..48 (so the threshold is crossed)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (n, 256), dtype=np.uint8)
    copies = []
    for i, d in enumerate(range(0, 49)):
        b = bits[i].copy()
        flip = rng.choice(256, d, replace=False)
        b[flip] ^= 1
        copies.append(b)
    bits = np.vstack([bits, np.array(copies)])
    hexes = [np.packbits(b).tobytes().hex() for b in bits]
    return bits, hexes


def _words(hexes: list[str]) -> np.ndarray:
    return np.array(
        [[int(h[16 * i : 16 * i + 16], 16) for i in range(4)] for h in hexes], dtype=np.uint64
    )


def _index_pairs(hexes: list[str], threshold: int, radius: int) -> list[tuple[int, int, int]]:
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE src (idx BIGINT, hex VARCHAR)")
    con.executemany("INSERT INTO src VALUES (?, ?)", list(enumerate(hexes)))
    con.execute(
        f"CREATE TEMP TABLE _mx_src AS SELECT idx, {media_sql.words_sql('hex')} AS h FROM src"
    )
    media_sql.near_pairs(con, "_mx_src", threshold=threshold, radius=radius, out="_mx_out")
    return sorted(con.execute("SELECT a, b, distance FROM _mx_out").fetchall())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_index_finds_exactly_the_brute_force_pairs(seed):
    _, hexes = _planted(seed)
    brute = pairs_brute_force(_words(hexes), THRESHOLD)
    # copies at distance 0..31 of hashes 0..31: 32 planted pairs (random pairs sit near 128)
    assert len(brute) == 32
    assert _index_pairs(hexes, THRESHOLD, media_sql.probe_radius(THRESHOLD)) == brute


@pytest.mark.parametrize("seed", [4, 5])
def test_fast_index_is_exact_to_15_bits_and_misses_only_beyond(seed):
    _, hexes = _planted(seed)
    brute = pairs_brute_force(_words(hexes), THRESHOLD)
    fast = _index_pairs(hexes, THRESHOLD, 0)
    assert set(fast) <= set(brute)
    assert {p for p in brute if p[2] <= 15} <= set(fast)


def test_pdq_hex_matches_the_bit_vector_and_brute_force_distance():
    bits, hexes = _planted(9, n=60)
    for i, j in [(0, 1), (0, 60), (3, 63), (40, 100)]:
        assert hamming(hexes[i], hexes[j]) == int((bits[i] != bits[j]).sum())


def _pdq(im) -> str:
    im = im.convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE))
    return pdq_of_rgb(np.asarray(im))[0]


SEEDS = range(40)


@pytest.fixture(scope="module")
def originals():
    return {s: draw.scene(s) for s in SEEDS}


def _edit(edit: str, im, s: int, tmp_path):
    if edit == "resized_half":
        return draw.resized(im, 0.5)
    if edit == "resized_double":
        return draw.resized(im, 2.0)
    if edit == "jpeg_q15":
        return draw.jpeg(im, tmp_path / f"{s}.jpg", 15)
    if edit == "captioned":
        return draw.captioned(im)
    if edit == "brightened":
        return draw.brightened(im, 1.2)
    return draw.noised(im, 12.0, seed=s)


@pytest.mark.parametrize(
    "edit",
    ["resized_half", "resized_double", "jpeg_q15", "captioned", "brightened", "noised"],
)
def test_edited_copies_match_their_original(edit, originals, tmp_path):
    worst = 0
    for s, im in originals.items():
        copy = _edit(edit, im, s, tmp_path)
        worst = max(worst, hamming(_pdq(im), _pdq(copy)))
    assert worst <= THRESHOLD, f"{edit}: worst distance {worst}"


def test_unrelated_pictures_never_match():
    # 120 drawn scenes = 7,140 pairs; random 256-bit hashes sit at 128 +- 8.
    hexes = [_pdq(draw.scene(1000 + s)) for s in range(120)]
    d = np.array([hamming(a, b) for a, b in itertools.combinations(hexes, 2)])
    assert len(d) == 7140
    assert (d <= THRESHOLD).sum() == 0
    assert d.min() > 2 * THRESHOLD  # not even close


needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg missing (scripts/ensure-ffmpeg.sh installs it)"
)


@needs_ffmpeg
def test_video_copies_match_and_different_clips_do_not(tmp_path, mem_store):
    from spreadtrace.media import hash_media
    from spreadtrace.pipeline import media as media_stage

    # Sources with picture content. (Cellular automata -- life, cellauto -- are patterns
    # of 1-pixel cells: scaled to half size they are a different picture, and their
    # small copies rightly do not match; measured in docs/scores.md.) The seeded sources
    # (sierpinski, gradients) are drawn with seed 1 (draw.clip): unseeded, sierpinski
    # drew a new fractal each run, and for some (seed 2 is one) its fine detail at 160x120
    # falls past the threshold, so this test failed about one run in four.
    sources = ["testsrc", "mandelbrot", "testsrc2", "sierpinski", "smptebars", "gradients"]
    for name in sources:
        src = draw.clip(tmp_path / f"{name}.mp4", name)
        draw.reencoded(src, tmp_path / f"{name}_small.mp4", scale="160:120", crf=35)
        draw.reencoded(src, tmp_path / f"{name}_big.mp4", scale="640:480", crf=28)
    result = hash_media(mem_store, [tmp_path])
    assert (result.files, result.videos, result.rejected) == (18, 18, 0)
    mem_store.con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, media, ingest_run_id) "
        "SELECT 'p_' || media_id, 'acct', TIMESTAMPTZ '2024-01-01', 'original', [media_id], 1 "
        "FROM media"
    )
    media_stage.run(mem_store, 1)
    groups = dict(
        mem_store.con.execute("SELECT media_group_id, media_ids FROM media_groups").fetchall()
    )
    # gradients: smooth colour ramps, PDQ quality 0 in every frame, so no frame is kept
    # and its copies match only by bytes (they differ): three groups of one.
    expected = {n: sorted([n, f"{n}_big", f"{n}_small"]) for n in sources if n != "gradients"}
    expected |= {n: [n] for n in ("gradients", "gradients_big", "gradients_small")}
    assert groups == expected
    vias = {r[0] for r in mem_store.con.execute("SELECT via FROM media_matches").fetchall()}
    assert vias == {"video"}

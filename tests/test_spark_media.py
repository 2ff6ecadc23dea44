"""The Spark engine's media stage equals the DuckDB engine's, table by table.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports its canonical tables as Parquet, runs
``spark build`` and compares media_matches, post_media and media_groups: exact for
ids, counts and integers, 1e-9 for floats. media_groups' bot and coordinated shares
come from the accounts stage, which runs on DuckDB after ``attach``
(tests/test_spark_cli.py compares the attached store). The two set-wise steps written
for Spark (the multi-index pair join, components by label propagation) are also
checked against brute force.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spreadtrace.graph.media import components, pairs_brute_force
from spreadtrace.pipeline.build import BuildParams
from spreadtrace.pipeline.media import MediaParams
from spreadtrace.store import Store
from spreadtrace.synth import generate
from tests._spark_helpers import (
    MEDIA_TABLES,
    both_engines,
    ingest_cli,
    parquet_rows,
    spark_session,
    store_rows,
    table_diff,
)
from tests.conftest import REPO, shared_file

# filled by the accounts stage (DuckDB, after attach), not by the media stage
_LATER = ["bot_share", "coordinated_share"]


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


def _diff(db: Path, out: Path, table: str) -> list[str]:
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    got = parquet_rows(out, table)
    if table == "media_groups":
        expected, got = expected.drop(_LATER), got.drop(_LATER)
    return table_diff(expected, got, MEDIA_TABLES[table])


def _count(db: Path, sql: str) -> int:
    with Store.open(db, read_only=True) as store:
        return int(store.con.cursor().execute(sql).fetchall()[0][0])


# --- a generated world with planted media copies --------------------------------------


def _hex(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), size=64))


def _flip(rng: np.random.Generator, pdq: str, bits: int) -> str:
    """The hash with ``bits`` random bits flipped (a re-encoded copy)."""
    value = int(pdq, 16)
    for b in rng.choice(256, size=bits, replace=False):
        value ^= 1 << int(b)
    return f"{value:064x}"


def plant_media(store: Store, seed: int) -> dict[str, int]:
    """Media rows and post references with planted copies, into a store of posts.

    Images with re-encoded copies at 0..45 bits (the threshold is crossed), some of low
    PDQ quality, some sharing an original's bytes (sha256); chains of copies of copies
    (each link 20 bits, the ends far apart: components over several rounds); videos
    whose copies keep a varying share of frames; post references that name no media
    row (pdq:, sha256:, phash:), posts with two items of one group, mixed kinds (the
    kind tie rule), and media that no post carries.
    """
    rng = np.random.default_rng(seed)
    media: list[tuple] = []
    refs: list[str] = []

    def mid() -> str:
        return f"m{int(rng.integers(0, 10**9)):09d}"

    def add(kind, pdq, quality=100, sha=None, frames=None, posted=True) -> str:
        m = mid()
        media.append((m, kind, sha, pdq, quality, frames))
        if posted:
            refs.append(m)
        return m

    for _ in range(25):
        base, sha = _hex(rng), _hex(rng)
        add(rng.choice(["image", "image", "gif"]), base, 90, sha)
        for _ in range(int(rng.integers(1, 7))):
            kind = rng.choice(["image", "gif", None])
            quality = int(rng.choice([30, 60, 100]))
            same_bytes = sha if rng.random() < 0.2 else _hex(rng)
            add(kind, _flip(rng, base, int(rng.integers(0, 46))), quality, same_bytes)
        refs.append(f"pdq:{_flip(rng, base, int(rng.integers(0, 30)))}")
        if rng.random() < 0.3:
            refs.append(f"sha256:{sha}")
        if rng.random() < 0.3:
            add("image", _flip(rng, base, 3), 100, posted=False)
    for _ in range(3):  # chains: copies of copies
        h = _hex(rng)
        for _ in range(8):
            add("image", h, 100)
            h = _flip(rng, h, 20)
    for _ in range(6):  # videos and their copies
        frames = [_hex(rng) for _ in range(int(rng.integers(4, 10)))]
        add("video", frames[0], 100, frames=frames + frames[:2])  # repeated frames
        for _ in range(int(rng.integers(1, 4))):
            keep = rng.random(len(frames)) < rng.uniform(0.5, 1.0)
            copy = [
                _flip(rng, f, int(rng.integers(0, 8))) if k else _hex(rng)
                for f, k in zip(frames, keep, strict=True)
            ]
            add("video", copy[0], 100, frames=copy)
    refs += [f"phash:{int(rng.integers(0, 40)):x}" for _ in range(30)]

    store.con.executemany(
        "INSERT INTO media (media_id, kind, sha256, pdq, pdq_quality, frames, ingest_run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, 1)",
        media,
    )
    post_ids = [
        r[0]
        for r in store.con.execute(
            "SELECT post_id FROM posts WHERE kind <> 'repost' ORDER BY post_id"
        ).fetchall()
    ]
    chosen = rng.choice(len(post_ids), size=min(len(post_ids), 3 * len(refs)), replace=False)
    updates = []
    for n, i in enumerate(chosen):
        carried = [refs[n % len(refs)]]
        if rng.random() < 0.15:
            carried.append(refs[int(rng.integers(0, len(refs)))])
        updates.append((sorted(set(carried)), post_ids[i]))
    store.con.executemany("UPDATE posts SET media = ? WHERE post_id = ?", updates)
    # spread the posts over weeks, so that reuse gaps and out-of-context cases occur
    store.con.execute(
        "UPDATE posts SET created_at = created_at + to_days(CAST(hash(post_id) % 60 AS INTEGER)) "
        "WHERE media IS NOT NULL"
    )
    return {"media": len(media), "posts": len(updates)}


WORLDS = {
    # seed: the media stage's parameters
    31: MediaParams(reuse_gap_days=7.0),
    32: MediaParams(pdq_threshold=20, exact=False, video_match=0.6, min_quality=40),
}


@pytest.fixture(scope="module")
def worlds(spark, tmp_path_factory):
    """Per seed: (store path, Spark output) of a generated world with planted media."""
    built = {}
    for seed, params in WORLDS.items():
        work = tmp_path_factory.mktemp(f"media{seed}")
        generate(work / "world", seed=seed, posts=1_500)
        db = work / "w.duckdb"
        ingest_cli(db, sorted((work / "world").glob("*.csv.gz")))
        with Store.open(db) as store:
            plant_media(store, seed)
        built[seed] = (db, both_engines(spark, db, work, media=params))
    return built


@pytest.mark.parametrize("seed", sorted(WORLDS))
@pytest.mark.parametrize("table", sorted(MEDIA_TABLES))
def test_media_tables_equal_on_a_world_with_planted_copies(worlds, seed, table):
    db, out = worlds[seed]
    assert _diff(db, out, table) == [], table


@pytest.mark.parametrize("seed", sorted(WORLDS))
def test_the_planted_world_exercises_every_rule(worlds, seed):
    """The comparison means something: every kind of match, reuses and chains occur."""
    db, _ = worlds[seed]
    vias = _count(db, "SELECT count(DISTINCT via) FROM media_matches")
    assert vias == 3  # sha256, pdq and video
    assert _count(db, "SELECT count(*) FROM media_groups WHERE len(media_ids) >= 4") > 0
    assert _count(db, "SELECT count(*) FROM post_media WHERE reuse_gap_days IS NOT NULL") > 0
    assert _count(db, "SELECT count(*) FROM post_media WHERE out_of_context") > 0
    assert _count(db, "SELECT count(*) FROM media_groups WHERE len(platforms) > 0") > 0


# --- the bundled sample (no media: empty tables of the same schema) -------------------


def test_media_tables_equal_on_the_bundled_sample(spark, tmp_path):
    db = tmp_path / "sample.duckdb"
    ingest_cli(db, sorted((REPO / "data" / "sample").glob("*.csv.gz")))
    out = both_engines(spark, db, tmp_path, media=MediaParams())
    for table in MEDIA_TABLES:
        assert _diff(db, out, table) == [], table


# --- real data: the German elections' image hashes ------------------------------------


@pytest.mark.slow
def test_media_tables_equal_on_the_german_elections_image_hashes(spark, tmp_path):
    """The real cross-platform file (CooRTweet's example data, Righetti et al. 2022):
    phash_id per row, one row per item of a post; posts grouped by post_id."""
    import duckdb

    src = shared_file("coordination/german_elections.csv.gz")
    posts = tmp_path / "posts.csv"
    duckdb.connect().execute(
        f"""
        COPY (
          SELECT post_id, any_value(account_id) AS account_id,
                 strftime(to_timestamp(min(timestamp)), '%Y-%m-%dT%H:%M:%SZ') AS created_at,
                 CASE WHEN any_value(account_id) LIKE 'fb_%' THEN 'facebook' ELSE 'twitter' END
                   AS platform,
                 nullif(string_agg(DISTINCT 'phash:' || lower(phash_id::VARCHAR), ' '), '') AS media
          FROM read_csv('{src}')
          WHERE post_id IS NOT NULL
          GROUP BY post_id
        ) TO '{posts}' (HEADER)
        """
    )
    db = tmp_path / "german.duckdb"
    ingest_cli(db, [posts])
    out = both_engines(spark, db, tmp_path, media=MediaParams())
    assert _count(db, "SELECT count(*) FROM media_groups WHERE len(platforms) = 2") > 0
    for table in MEDIA_TABLES:
        assert _diff(db, out, table) == [], table


# --- the Spark-only steps against brute force ----------------------------------------


@pytest.mark.parametrize("seed", [5, 6])
@pytest.mark.parametrize(("threshold", "exact"), [(31, True), (31, False), (15, True)])
def test_spark_pair_join_finds_the_brute_force_pairs(spark, seed, threshold, exact):
    from spreadtrace.spark.media import near_pairs
    from spreadtrace.store.media import probe_radius

    rng = np.random.default_rng(seed)
    hexes = [_hex(rng) for _ in range(150)]
    hexes += [_flip(rng, hexes[i], d) for i, d in enumerate(range(0, 49))]
    words = np.array(
        [[int(h[16 * i : 16 * i + 16], 16) for i in range(4)] for h in hexes], dtype=np.uint64
    )
    brute = pairs_brute_force(words, threshold)
    df = spark.createDataFrame(list(enumerate(hexes)), "idx BIGINT, hex STRING")
    got = sorted(
        tuple(r)
        for r in near_pairs(df, threshold=threshold, radius=probe_radius(threshold, exact))
        .select("a", "b", "distance")
        .collect()
    )
    if exact:
        assert got == brute
    else:  # chunk equality: exact to 15 bits, a subset beyond
        assert set(got) <= set(brute) and {p for p in brute if p[2] <= 15} <= set(got)
    assert len(brute) >= threshold  # the planted copies within the threshold


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_spark_components_equal_the_igraph_components(spark, seed):
    from spreadtrace.spark.media import components as spark_components

    rng = np.random.default_rng(seed)
    n = 300
    a = rng.integers(0, n, 260)
    b = rng.integers(0, n, 260)
    path = np.arange(40, 80)  # one long path: label propagation needs several rounds
    a, b = np.concatenate([a, path[:-1]]), np.concatenate([b, path[1:]])
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    membership = components(n, lo, hi)
    expected = {}
    for i in np.unique(np.concatenate([lo, hi])):
        expected[int(i)] = int(np.flatnonzero(membership == membership[i]).min())
    pairs = spark.createDataFrame(
        [(int(x), int(y)) for x, y in zip(lo, hi, strict=True)], "a BIGINT, b BIGINT"
    )
    got = {int(r["idx"]): int(r["g"]) for r in spark_components(pairs).collect()}
    assert got == expected


def test_attach_loads_the_media_tables_and_skips_the_duckdb_media_stage(worlds, tmp_path):
    """After attach, the store's media tables (with the shares the accounts stage fills
    afterwards on DuckDB) equal those of the DuckDB build, and media ran on Spark."""
    import shutil

    from spreadtrace.attach import attach_output

    db, out = worlds[31]
    copy = tmp_path / "attached.duckdb"
    shutil.copy(db, copy)
    with Store.open(db, read_only=True) as store:
        expected = {t: store_rows(store, t) for t in MEDIA_TABLES}
    with Store.open(copy) as store:
        result = attach_output(store, out, params=BuildParams(media=WORLDS[31]), publish=False)
        assert "media" not in result.duckdb_stages
        assert set(MEDIA_TABLES) <= set(result.engine_tables)
        for table, keys in MEDIA_TABLES.items():
            assert table_diff(expected[table], store_rows(store, table), keys) == [], table

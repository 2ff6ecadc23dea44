"""The Spark engine's cascades stage equals the DuckDB engine's, table by table.

Spark runs in local mode (local[2]), one session for the module. Each case builds a
store with the DuckDB engine, exports its canonical tables as Parquet, runs
``spark build`` on them and compares post_cascades, cascades and data_quality (the
stage's issues): exact for ids, counts and integers, 1e-9 for floats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spreadtrace.graph.cascades import list_rank
from spreadtrace.pipeline.build import BuildParams, run_build
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.store import Store
from spreadtrace.store.parquet import export_canonical
from spreadtrace.synth import generate
from tests._spark_helpers import (
    CASCADE_TABLES,
    ingest_cli,
    parquet_rows,
    spark_session,
    store_rows,
    table_diff,
)
from tests.conftest import REPO, shared_file
from tests.test_cascades_support import insert_follows, insert_posts


@pytest.fixture(scope="module")
def spark():
    session = spark_session()
    yield session
    session.stop()


def _both_engines(spark, store: Store, work: Path, infer: bool = True) -> Path:
    """Build ``store`` with DuckDB (cascades stage), export it, build it on Spark; output dir."""
    from spreadtrace.spark.build import run_spark_build

    params = BuildParams(cascades=CascadeParams(infer=infer))
    run_build(store, params=params, publish=False)
    export_canonical(store.con.cursor(), work / "canonical")
    out = work / "derived"
    run_spark_build(spark, str(work / "canonical"), str(out), infer=infer)
    return out


def _assert_equal(store: Store, out: Path) -> None:
    for table, keys in CASCADE_TABLES.items():
        expected, got = store_rows(store, table), parquet_rows(out, table)
        assert table_diff(expected, got, keys) == [], table


@pytest.fixture(scope="module")
def sample(spark, tmp_path_factory):
    """The bundled sample, ingested, built by both engines: (store path, Spark output)."""
    work = tmp_path_factory.mktemp("sample")
    db = work / "sample.duckdb"
    ingest_cli(db, sorted((REPO / "data" / "sample").glob("*.csv.gz")))
    with Store.open(db) as store:
        out = _both_engines(spark, store, work)
    return db, out


@pytest.mark.parametrize("table", sorted(CASCADE_TABLES))
def test_cascade_tables_equal_on_the_bundled_sample(sample, table):
    db, out = sample
    with Store.open(db, read_only=True) as store:
        expected = store_rows(store, table)
    got = parquet_rows(out, table)
    assert expected.num_rows > 0  # the sample has unseen roots and clock skew: dq rows too
    assert table_diff(expected, got, CASCADE_TABLES[table]) == []


def test_the_sample_exercises_inference_conversation_and_skew(sample):
    # honest test: the equality above covers every rule only if the sample uses them
    db, out = sample
    with Store.open(db, read_only=True) as store:
        sources, conv, issues = (
            store.con.cursor()
            .execute(
                "SELECT (SELECT list(DISTINCT parent_source ORDER BY parent_source) FROM post_cascades"
                "        WHERE parent_source IS NOT NULL),"
                " (SELECT count(*) FROM post_cascades WHERE conversation),"
                " (SELECT list(DISTINCT issue ORDER BY issue) FROM data_quality)"
            )
            .fetchall()[0]
        )
    assert sources == ["explicit", "inferred", "root"]
    assert conv > 0
    assert {"clock_skew", "unseen_parent"} <= set(issues)


@pytest.mark.parametrize("seed", [11])
def test_cascade_tables_equal_on_a_generated_world(spark, tmp_path, seed):
    generate(tmp_path / "world", seed=seed, posts=4_000)
    db = tmp_path / "world.duckdb"
    ingest_cli(db, sorted((tmp_path / "world").glob("*.csv.gz")))
    with Store.open(db) as store:
        out = _both_engines(spark, store, tmp_path)
        assert store.con.execute("SELECT count(*) FROM post_cascades").fetchall()[0][0] >= 3_900
        _assert_equal(store, out)


def test_cascade_metrics_equal_on_a_real_cascade_dataset(spark, tmp_path):
    # PHEME Germanwings: 469 real rumour threads (a source tweet and its replies)
    path = shared_file("pheme-germanwings/tweets.jsonl.gz")
    db = tmp_path / "pheme.duckdb"
    ingest_cli(db, [path])
    with Store.open(db) as store:
        out = _both_engines(spark, store, tmp_path)
        (threads, deep) = store.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE conversation_depth >= 2) FROM cascades"
            " WHERE replies > 0"
        ).fetchall()[0]
        assert threads >= 400 and deep > 0  # real reply threads, some of them nested
        _assert_equal(store, out)


def _random_world(rng: np.random.Generator, n: int) -> tuple[list[tuple], list[tuple]]:
    """Posts with random parents (cycles, self links, unseen ids, ties) and follows."""
    ids = [f"p{i:03d}" for i in range(n)]
    unseen = ["u1", "u2"]
    accounts = [f"a{i}" for i in range(8)]
    kinds = ["original", "repost", "repost", "repost", "quote", "reply"]
    rows = []
    for pid in ids:
        kind = kinds[rng.integers(len(kinds))]
        parent = None
        if kind != "original":
            pool = ids + unseen
            parent = pool[rng.integers(len(pool))]
        # few distinct times: ties on created_at must break the same way in both engines
        rows.append((pid, accounts[rng.integers(8)], int(rng.integers(0, 40)), parent, kind))
    follows = [
        (accounts[a], accounts[b], int(rng.integers(0, 30)))
        if rng.random() < 0.3
        else (accounts[a], accounts[b])
        for a, b in rng.integers(0, 8, size=(20, 2))
        if a != b
    ]
    return rows, follows


def test_hand_made_edge_cases_equal(spark, tmp_path):
    posts = [
        # a cycle of three (a -> c -> b -> a) with a repost hanging into it, and a self link
        ("a", "u1", 0, "c", "repost"),
        ("b", "u2", 1, "a", "repost"),
        ("c", "u3", 2, "b", "repost"),
        ("d", "u4", 3, "a", "repost"),
        ("e", "u5", 4, "e", "repost"),
        # an original, flattened reposts to infer (ties on time), a reply thread and a
        # repost of a reply (conversation), a clock-skewed quote, an unseen original
        ("r", "u1", 10, None, "original"),
        ("r1", "u2", 11, "r", "repost"),
        ("r2", "u3", 11, "r", "repost"),
        ("r3", "u4", 12, "r", "repost"),
        ("q", "u5", 9, "r1", "quote"),
        ("t1", "u6", 13, "r", "reply"),
        ("t2", "u1", 14, "t1", "reply"),
        ("t3", "u7", 15, "t2", "repost"),
        ("x", "u8", 20, "gone", "repost"),
        ("y", "u9", 21, "gone", "repost"),
    ]
    follows = [("u4", "u2"), ("u4", "u3"), ("u3", "u2", 100), ("u9", "u8")]
    with Store.open(tmp_path / "s.duckdb") as store:
        insert_posts(store, posts)
        insert_follows(store, follows)
        out = _both_engines(spark, store, tmp_path)
        issues = {r[0] for r in store.con.execute("SELECT issue FROM data_quality").fetchall()}
        assert issues == {"cycle_break", "clock_skew", "unseen_parent"}
        assert store.con.execute(
            "SELECT parent_id FROM post_cascades WHERE post_id = 'r3'"
        ).fetchall() == [("r2",)]  # inferred: u4 follows u2 and u3, r2 wins the tie
        _assert_equal(store, out)


@pytest.mark.parametrize("seed, infer", [(2, True), (3, False)])
def test_random_forests_with_cycles_equal(spark, tmp_path, seed, infer):
    rows, follows = _random_world(np.random.default_rng(seed), 120)
    with Store.open(tmp_path / "s.duckdb") as store:
        insert_posts(store, rows)
        insert_follows(store, follows)
        out = _both_engines(spark, store, tmp_path, infer=infer)
        _assert_equal(store, out)


def test_pointer_jumping_in_joins_matches_list_rank(spark):
    from spreadtrace.spark.cascades import pointer_jump

    rng = np.random.default_rng(5)
    n = 400
    # a random forest: each node's parent is an earlier node or none
    parent = np.array(
        [-1 if i == 0 or rng.random() < 0.2 else rng.integers(0, i) for i in range(n)]
    )
    links = spark.createDataFrame(
        [(i, None if p < 0 else int(p)) for i, p in enumerate(parent)], "node BIGINT, parent BIGINT"
    )
    got = {
        r["node"]: (r["root"], r["dist"], r["settled"]) for r in pointer_jump(links, 12).collect()
    }
    root, dist = list_rank(parent)
    assert got == {i: (int(root[i]), int(dist[i]), True) for i in range(n)}
    assert dist.max() >= 4  # deep enough to need several rounds


def test_inference_runs_the_store_query_transpiled():
    from spreadtrace.spark.cascades import spark_infer_sql

    sql = spark_infer_sql()
    assert "UNIX_MICROS(" in sql and "EPOCH_US" not in sql.upper()
    assert ":span" in sql  # the store query's parameter, bound by spark.sql(args=...)


@pytest.mark.parametrize("seed, giant", [(11, 2), (12, 8), (13, 2)])
def test_giant_cascades_set_wise_equal_on_generated_worlds(spark, tmp_path, seed, giant):
    # thresholds this small send most cascades down the set-wise path (giant_rows)
    from spreadtrace.spark.build import run_spark_build

    generate(tmp_path / "world", seed=seed, posts=1_500)
    db = tmp_path / "world.duckdb"
    ingest_cli(db, sorted((tmp_path / "world").glob("*.csv.gz")))
    with Store.open(db) as store:
        run_build(store, params=BuildParams(), publish=False)
        export_canonical(store.con.cursor(), tmp_path / "canonical")
        out = tmp_path / "derived"
        run_spark_build(spark, str(tmp_path / "canonical"), str(out), giant_nodes=giant)
        (giants, conv, skew) = store.con.execute(
            "SELECT (SELECT count(*) FROM cascades WHERE size > ?),"
            " (SELECT count(*) FROM cascades WHERE replies > 0 AND size > ?),"
            " (SELECT count(*) FROM data_quality WHERE issue = 'clock_skew')",
            [giant, giant],
        ).fetchall()[0]
        assert giants >= 5 and conv >= 1  # the path really ran, on reply threads too
        _assert_equal(store, out)


@pytest.mark.parametrize("seed", [2, 4])
def test_giant_cascades_set_wise_equal_on_random_forests(spark, tmp_path, seed):
    # cycles, self links, unseen roots, clock skew and ties, all through giant_rows
    from spreadtrace.spark.build import run_spark_build

    rows, follows = _random_world(np.random.default_rng(seed), 120)
    with Store.open(tmp_path / "s.duckdb") as store:
        insert_posts(store, rows)
        insert_follows(store, follows)
        run_build(store, params=BuildParams(), publish=False)
        export_canonical(store.con.cursor(), tmp_path / "canonical")
        out = tmp_path / "derived"
        run_spark_build(spark, str(tmp_path / "canonical"), str(out), giant_nodes=2)
        _assert_equal(store, out)

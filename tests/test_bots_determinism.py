"""The rhythm features (hour_entropy, burstiness) are the same bits whatever the threads.

DuckDB adds a float sum over a group's rows in the order its threads combine partial
states, which varies between runs: the stored features used to differ in the last bit
between two builds of one store (and between an incremental and a full build). Here
many accounts with posts scattered over the table and sub-second times, two threads.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.store.accounts_scores import account_aggregates_sql
from tests._accounts_helpers import insert_posts
from tests.test_cascades_support import table_rows

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RHYTHM_SQL = "SELECT account_id, hour_entropy, burstiness FROM account_features ORDER BY account_id"


def _posts(n: int, accounts: int, seed: int) -> pl.DataFrame:
    """n originals by ``accounts`` accounts in random order, at random microseconds of a year."""
    rng = np.random.default_rng(seed)
    us = rng.integers(0, 365 * 86_400 * 10**6, n)
    return pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n)],
            "account_id": [f"a{a}" for a in rng.integers(0, accounts, n)],
            "created_at": [
                (T0 + timedelta(microseconds=int(u))).isoformat().replace("+00:00", "Z") for u in us
            ],
            "kind": ["original"] * n,
        }
    )


def _bits(rows: list[tuple]) -> list[tuple]:
    return [(a, *(None if v is None else struct.pack("<d", v) for v in vals)) for a, *vals in rows]


def test_the_aggregates_give_the_same_bits_on_every_run_with_two_threads(tmp_path: Path) -> None:
    # failed before: of 400 accounts, 150-270 hour entropies and 1-2 burstiness values
    # differed from the first run in each of five more runs
    path = tmp_path / "posts.csv"
    _posts(200_000, 400, seed=1).write_csv(path)
    with Store.open(":memory:") as store:
        ingest_file(store, path, format="posts")
        store.con.execute("SET threads = 2")
        sql = f"SELECT account_id, hour_entropy, burstiness FROM ({account_aggregates_sql('posts')}) ORDER BY 1"  # noqa: S608
        runs = [_bits(store.con.execute(sql, {"fast": 60.0}).fetchall()) for _ in range(6)]
    assert len(runs[0]) == 400
    for run in runs[1:]:
        assert run == runs[0]


def test_two_builds_and_an_incremental_one_store_the_same_bits(tmp_path: Path) -> None:
    posts = _posts(60_000, 150, seed=2)
    whole, first, second = tmp_path / "all.csv", tmp_path / "a.csv", tmp_path / "b.csv"
    posts.write_csv(whole)
    posts.head(45_000).write_csv(first)
    posts.tail(15_000).write_csv(second)
    with Store.open(":memory:") as full, Store.open(":memory:") as inc:
        for store in (full, inc):
            store.con.execute("SET threads = 2")
        ingest_file(full, whole, format="posts")
        run_build(full, publish=False)
        once = _bits(full.con.execute(RHYTHM_SQL).fetchall())
        scores_once = table_rows(full, "account_scores")
        run_build(full, full=True, publish=False)
        assert _bits(full.con.execute(RHYTHM_SQL).fetchall()) == once
        assert table_rows(full, "account_scores") == scores_once  # the features JSON too
        ingest_file(inc, first, format="posts")
        run_build(inc, publish=False)
        ingest_file(inc, second, format="posts")
        result = run_build(inc, publish=False)
        assert result.counts["accounts"]["full"] is False
        assert _bits(inc.con.execute(RHYTHM_SQL).fetchall()) == once
        assert table_rows(inc, "account_scores") == scores_once


def _reference(seconds: list[Fraction]) -> tuple[float, float | None]:
    """hour_entropy and burstiness from exact arithmetic (times in seconds after T0)."""
    hours: dict[int, int] = {}
    for s in seconds:
        h = int(s // 3600) % 24  # T0 is midnight UTC
        hours[h] = hours.get(h, 0) + 1
    n = len(seconds)
    entropy = max(math.log(n) - sum(c * math.log(c) for c in hours.values()) / n, 0.0)
    ts = sorted(seconds)
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    if len(gaps) < 2 or sum(gaps) == 0:
        return entropy / math.log(24), None
    mu = sum(gaps) / len(gaps)
    sigma = math.sqrt(sum((g - mu) ** 2 for g in gaps) / len(gaps))
    return entropy / math.log(24), float((sigma - mu) / (sigma + float(mu)))


@pytest.mark.parametrize(
    "seconds",
    [
        # clockwork: every 60 s, to the microsecond but one (sigma tiny against mu)
        [Fraction(60 * i) for i in range(50)] + [Fraction(3000) + Fraction(1, 10**6)],
        # sub-second times: the gaps are exact microseconds
        [Fraction(i * 7919 + (i * i) % 1000, 1000) for i in range(40)],
        # a bursty account: a quiet year, then a minute of posts
        [Fraction(0)] + [Fraction(31_536_000 + i) for i in range(60)],
    ],
    ids=["clockwork", "sub-second", "bursty"],
)
def test_the_rhythm_features_equal_exact_arithmetic(mem_store: Store, seconds) -> None:
    rows = [
        (f"p{i}", "acc", 0, None, "original") for i in range(len(seconds))
    ]  # times set below (insert_posts takes whole seconds)
    insert_posts(mem_store, rows)
    for i, s in enumerate(seconds):
        mem_store.con.execute(
            "UPDATE posts SET created_at = ?::TIMESTAMPTZ + to_microseconds(?) WHERE post_id = ?",
            [T0, int(s * 10**6), f"p{i}"],
        )
    got = mem_store.con.execute(
        f"SELECT hour_entropy, burstiness FROM ({account_aggregates_sql('posts')})",  # noqa: S608
        {"fast": 60.0},
    ).fetchone()
    assert got is not None
    entropy, burstiness = _reference(seconds)
    assert got[0] == pytest.approx(entropy, abs=1e-12)
    assert burstiness is not None and got[1] == pytest.approx(burstiness, abs=1e-12)


def test_burstiness_past_38_digits_falls_back_to_doubles(mem_store: Store) -> None:
    # 150,000 one-second gaps, then one of 290 years: n * sum(dt^2) in microseconds
    # passes 1e37, so V is taken in doubles; the variance dwarfs mu^2 there
    mem_store.con.execute(
        """
        INSERT INTO posts (post_id, account_id, created_at, kind, ingest_run_id)
        SELECT 'p' || i, 'acc', TIMESTAMPTZ '1905-01-01 00:00:00+00' + to_seconds(i), 'original', 1
        FROM range(150001) r(i)
        UNION ALL
        SELECT 'last', 'acc', TIMESTAMPTZ '2195-01-01 00:00:00+00', 'original', 1
        """
    )
    (got,) = mem_store.con.execute(
        f"SELECT burstiness FROM ({account_aggregates_sql('posts')})",  # noqa: S608
        {"fast": 60.0},
    ).fetchone()
    gaps = np.append(
        np.ones(150_000), (T0.replace(year=2195) - T0.replace(year=1905)).total_seconds() - 150_000
    )
    want = (gaps.std() - gaps.mean()) / (gaps.std() + gaps.mean())
    assert got == pytest.approx(want, abs=1e-12)

"""A day boundary of the store's span (issue 12): posts_per_day moves for every account
with posts, and only the accounts whose verdict, reasons or rounded features can move
are scored again; the others' bot and behaviour scores follow from their stored parts
(graph.bots.rate_shift). Both must equal scoring every account with the new span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spreadtrace.graph.bots import (
    SCORE_COLUMNS,
    SCORE_PART_COLUMNS,
    LogisticModel,
    load_model,
    rate_shift,
    score_accounts,
)
from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline import accounts as accounts_stage
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.synth_worlds import build_in_batches, synth_world, world_posts
from tests.test_cascades_support import table_rows
from tests.test_incremental import DERIVED


def _world(rng: np.random.Generator, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(behaviour without posts_per_day, profiles) of ``n`` random accounts: posting
    counts from 1 to 20,000, most of them a few (log-exponential; some rates on both
    sides of 50 a day over tens of days), most with a profile, some incomplete, some
    evidence thin."""
    ids = [f"a{i:05d}" for i in range(n)]
    posts = np.minimum(np.exp(rng.exponential(1.5, n)), 20_000).astype(np.int64)
    reposts = (posts * rng.uniform(0, 1, n)).astype(np.int64)
    timed = (reposts * rng.uniform(0, 1, n)).astype(np.int64)
    texts = posts - (reposts * rng.uniform(0, 1, n)).astype(np.int64)
    behaviour = pl.DataFrame(
        {
            "account_id": ids,
            "posts": posts,
            "reposts": reposts,
            "repost_share": reposts / posts,
            "reposts_timed": timed,
            "fast_share": rng.uniform(0, 1, n),
            "median_delay_s": np.exp(rng.uniform(0, 10, n)),
            "hour_entropy": rng.uniform(0.3, 1, n),
            "burstiness": rng.uniform(-1, 1, n),
            "coordinated_share": [None] * n,
            "texts": texts,
            "self_repeat_share": rng.uniform(0, 0.5, n),
        },
        schema_overrides={"coordinated_share": pl.Float64},
    )
    observed = datetime(2024, 3, 1, tzinfo=UTC)
    age = rng.uniform(1, 4000, n)
    has = rng.uniform(0, 1, n) < 0.8
    profiles = pl.DataFrame(
        {
            "account_id": ids,
            "observed_at": [observed] * n,
            "handle": [f"user{int(d)}" for d in rng.integers(0, 10**6, n)],
            "display_name": ["Name"] * n,
            "created_at": [
                observed - timedelta(days=float(a)) if rng.uniform() < 0.9 else None for a in age
            ],
            "followers_count": rng.integers(0, 10**5, n),
            "following_count": rng.integers(0, 10**4, n),
            "posts_count": rng.integers(0, 10**5, n),
            "likes_count": rng.integers(0, 10**4, n),
            "listed_count": rng.integers(0, 100, n),
            "verified": rng.uniform(0, 1, n) < 0.05,
            "default_profile": rng.uniform(0, 1, n) < 0.5,
            "default_profile_image": rng.uniform(0, 1, n) < 0.2,
            "description": ["x" * int(k) for k in rng.integers(0, 160, n)],
        }
    ).filter(pl.Series(has))
    return behaviour, profiles


def _at(behaviour: pl.DataFrame, days: float) -> pl.DataFrame:
    # posts over the span, as the store divides (one correctly rounded division)
    rate = behaviour["posts"].cast(pl.Float64).to_numpy() / days
    return behaviour.with_columns(pl.Series("posts_per_day", rate)).select(
        "account_id", "posts", "reposts", "repost_share", "reposts_timed", "fast_share",
        "median_delay_s", "posts_per_day", "hour_entropy", "burstiness",
        "coordinated_share", "texts", "self_repeat_share",
    )  # fmt: skip


# (span before, span now, the most accounts rescored): over a short span most rates
# rounded to 4 places move; over 2,369 days fewer (1.4% on the real-shaped store)
SPANS = [(40.0, 41.0, 1.0), (400.0, 403.0, 0.6), (2369.0, 2394.0, 0.25)]


@pytest.mark.parametrize(("days_before", "days", "most"), SPANS)
def test_rate_shift_is_scoring_every_account_again(days_before, days, most):
    rng = np.random.default_rng(int(days))
    behaviour, profiles = _world(rng, 6000)
    profile_model, behaviour_model = load_model("bot_profile"), load_model("bot_behaviour")
    assert isinstance(behaviour_model, LogisticModel)
    models = {"profile_model": profile_model, "behaviour_model": behaviour_model}
    before = score_accounts(_at(behaviour, days_before), profiles, parts=True, **models)
    after = score_accounts(_at(behaviour, days), profiles, parts=True, **models)
    parts = before.select("account_id", *SCORE_PART_COLUMNS)
    # one account's parts are missing (a Spark build's scores): it is rescored
    parts = parts.with_columns(
        pl.when(pl.col("account_id") == "a00007").then(None).otherwise(pl.col(c)).alias(c)
        for c in SCORE_PART_COLUMNS
    )
    moved = rate_shift(
        _at(behaviour, days), parts, days_before, days, behaviour_model=behaviour_model
    )
    assert moved["account_id"].to_list() == after["account_id"].to_list()
    # the scores follow bit for bit, whether or not the account is rescored (but
    # without parts: no score)
    known = pl.col("account_id") != "a00007"
    for column in ("behaviour_score", "bot_score"):
        assert moved.filter(known)[column].to_list() == after.filter(known)[column].to_list()
        assert moved.filter(~known)[column].to_list() == [None]
    keep = ~moved["rescore"].to_numpy()
    # every account not rescored keeps every other column and its parts
    others = [c for c in (*SCORE_COLUMNS, *SCORE_PART_COLUMNS)
              if c not in ("behaviour_score", "bot_score")]  # fmt: skip
    for column in others:
        assert before[column].filter(keep).to_list() == after[column].filter(keep).to_list(), column
    # ... and almost every account is not rescored, though every score moved
    assert (before["bot_score"] != after["bot_score"]).all()
    assert moved["rescore"].sum() <= most * behaviour.height
    assert moved["rescore"].filter(moved["account_id"] == "a00007").item()
    # the rescored ones include every account whose row or parts did move
    changed = np.zeros(behaviour.height, dtype=bool)
    for column in others:
        changed |= (
            ~(before[column] == after[column])
            .fill_null(before[column].is_null() & after[column].is_null())
            .to_numpy()
        )
    assert changed.any()  # the shift does meet accounts whose verdict or reasons move
    assert not (changed & keep).any()


HEADER = "post_id,account_id,created_at,kind,parent_id\n"


def _ingest(store: Store, tmp: Path, name: str, lines: list[str]) -> None:
    path = tmp / name
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    ingest_file(store, path, format="posts")


def _long_span() -> list[str]:
    """Posts over 800 days: 60 accounts of 1 to 5 posts (their rates round alike over
    800 and 801 days), one account posting 40 times a day for its last 30 days, and
    reposts of it seconds later."""
    start = datetime(2022, 1, 1, 10, tzinfo=UTC)
    lines = [f"first,o,{start.isoformat()},original,"]
    for i in range(60):
        for k in range(1 + i % 5):
            t = start + timedelta(days=10 * i + k, hours=i % 24)
            lines.append(f"p{i}_{k},u{i:02d},{t.isoformat()},original,")
    end = start + timedelta(days=800)
    for k in range(1200):
        t = end - timedelta(minutes=36 * k)
        lines.append(f"h{k},heavy,{t.isoformat()},original,")
        if k % 10 == 0:
            lines.append(f"r{k},u{k % 7:02d},{(t + timedelta(seconds=3)).isoformat()},repost,h{k}")
    return lines


def test_a_day_crossing_rescores_only_the_accounts_that_can_change_and_equals_a_full_build(
    tmp_path, monkeypatch
):
    first = _long_span()
    # one new post a day and a half after the newest: 800 -> 802 whole days
    later = ["n1,u03,2024-03-13T02:00:00+00:00,original,"]
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        monkeypatch.setattr(accounts_stage, "RESCORE_BATCH", 7)
        _ingest(inc, tmp_path, "a.csv", first)
        run_build(inc, publish=False)
        rows = "SELECT * EXCLUDE (build_id) FROM account_scores ORDER BY account_id"
        before = inc.con.sql(rows).pl()
        _ingest(inc, tmp_path, "b.csv", later)
        counts = run_build(inc, publish=False).counts["accounts"]
        after = inc.con.sql(rows).pl()
        assert inc.con.execute("SELECT value FROM meta WHERE key = 'accounts_days'").fetchone()
        assert counts["full"] is False and counts["rescore_batches"] == 0
        assert counts["shift_batches"] == -(-after.height // 7)
        # u03 posted (scored as new posts); the others' rates moved by 1/400 of themselves
        assert counts["accounts_scored"] == after.height == before.height
        assert counts["accounts_shifted"] >= 55
        assert counts["accounts_rescored"] == 1 + counts["shift_rescored"]
        assert counts["shift_rescored"] <= 8
        # every score moved; the other columns only where the account was rescored
        assert (before["bot_score"] != after["bot_score"]).all()
        texts = ["is_bot_like", "bot_reasons", "features", "bot_evidence"]
        moved = before.select("account_id", *texts).join(
            after.select("account_id", *texts), on="account_id", suffix="_now"
        )
        changed = moved.filter(pl.any_horizontal(pl.col(c) != pl.col(f"{c}_now") for c in texts))[
            "account_id"
        ].to_list()
        assert "heavy" in changed  # 1,200 posts: its rate in 4 places moved
        assert len(changed) <= 1 + counts["shift_rescored"]
        monkeypatch.undo()
        _ingest(full, tmp_path, "f.csv", first + later)
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table
        assert table_rows(inc, "account_score_parts")


def test_a_synthetic_world_arriving_in_time_order_equals_a_full_build(tmp_path):
    # bots, rings and people with profiles; the newest posts arrive in three later
    # batches, each moving the store's span past day boundaries
    world = synth_world(11, str(tmp_path), 1500)
    when = world_posts(world)["created_at"].str.to_datetime(strict=False, time_zone="UTC")
    last = when.max()
    assert isinstance(last, datetime)
    cut = np.zeros(when.len(), dtype=np.int64)
    for k, back in enumerate((6, 3, 1), start=1):
        cut[(when >= last - timedelta(days=back)).fill_null(False).to_numpy()] = k
    # and one post two years older: a long span, over which most rates round alike
    old = (last - timedelta(days=730)).isoformat()
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        _ingest(inc, tmp_path, "old.csv", [f"old1,archive,{old},original,"])
        results = list(build_in_batches(inc, world, cut, tmp_path, "inc-"))
        later = [r.counts["accounts"] for r in results[1:]]
        assert all(a["full"] is False for a in later)
        assert sum(a["shift_batches"] for a in later) >= 2
        shifted = sum(a["accounts_shifted"] for a in later)
        rescored = sum(a["shift_rescored"] for a in later)
        assert shifted > rescored > 0
        assert table_rows(inc, "account_score_parts")
        _ingest(full, tmp_path, "old.csv", [f"old1,archive,{old},original,"])
        list(build_in_batches(full, world, np.zeros_like(cut), tmp_path, "full-"))
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table

"""Bot scores: features worked out by hand, the model pieces, pooling, reasons, the stage."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.bots import (
    PROFILE_FEATURES,
    fit_logistic,
    load_model,
    profile_features,
    roc_auc,
    score_accounts,
)
from spreadtrace.graph.tree_model import TreeEnsemble
from spreadtrace.pipeline.accounts import AccountParams, run
from spreadtrace.store import Store
from spreadtrace.store.accounts_scores import behaviour_features
from tests._accounts_helpers import insert_posts


def test_behaviour_features_by_hand(mem_store: Store) -> None:
    rows = [
        ("o1", "author", 0, None, "original"),
        ("o2", "author", 86_400, None, "original"),
        # fast: 3 reposts 2 s, 4 s and 600 s after their parent; one original
        ("f1", "fast", 2, "o1", "repost"),
        ("f2", "fast", 86_404, "o2", "repost"),
        ("f3", "fast", 1_200, "o1", "repost"),
        ("f4", "fast", 3 * 86_400, None, "original"),
        # a repost of a parent that is not stored: counted as a repost, not timed
        ("u1", "lonely", 100, "missing", "repost"),
    ]
    insert_posts(mem_store, rows)
    b = behaviour_features(mem_store.con, fast_s=10, coordination=False)
    fast = b.filter(pl.col("account_id") == "fast").row(0, named=True)
    assert fast["posts"] == 4 and fast["reposts"] == 3
    assert fast["repost_share"] == pytest.approx(0.75)
    assert fast["reposts_timed"] == 3
    assert fast["fast_share"] == pytest.approx(2 / 3)  # 2 s and 4 s, not 600 s
    assert fast["median_delay_s"] == pytest.approx(4.0)
    # store spans 3 days (0 .. 259,200 s): 4 posts / 3 days
    assert fast["posts_per_day"] == pytest.approx(4 / 3)
    # hours 0, 0, 0 (t=2, 86404, 1200 s) and 0 (3 days): all in hour 0 -> entropy 0
    assert fast["hour_entropy"] == pytest.approx(0.0)
    # gaps 1198, 85204, 172796: burstiness (sigma - mu) / (sigma + mu)
    gaps = np.array([1198.0, 85204.0, 172796.0])
    want = (gaps.std() - gaps.mean()) / (gaps.std() + gaps.mean())
    assert fast["burstiness"] == pytest.approx(want)
    lonely = b.filter(pl.col("account_id") == "lonely").row(0, named=True)
    assert lonely["reposts_timed"] == 0 and lonely["fast_share"] is None
    assert lonely["burstiness"] is None
    author = b.filter(pl.col("account_id") == "author").row(0, named=True)
    assert author["repost_share"] == 0.0


def test_hour_entropy_is_one_around_the_clock(mem_store: Store) -> None:
    insert_posts(
        mem_store, [(f"p{h}", "clock", h * 3600 + 60, None, "original") for h in range(24)]
    )
    b = behaviour_features(mem_store.con, fast_s=10, coordination=False)
    assert b["hour_entropy"][0] == pytest.approx(1.0)
    assert b["burstiness"][0] == pytest.approx(-1.0)  # perfectly periodic


def _snapshot(**over: object) -> dict:
    row = {
        "account_id": "a",
        "observed_at": datetime(2024, 1, 11, tzinfo=UTC),
        "handle": "jane_doe",
        "display_name": "Jane Doe",
        "created_at": datetime(2014, 1, 11, tzinfo=UTC),
        "followers_count": 300,
        "following_count": 250,
        "posts_count": 4000,
        "likes_count": 9000,
        "listed_count": 5,
        "verified": False,
        "default_profile": False,
        "default_profile_image": False,
        "description": "Gardener, reader, occasional runner.",
    }
    row.update(over)
    return row


def test_profile_features_by_hand() -> None:
    f = profile_features(
        pl.DataFrame(
            [
                _snapshot(),
                _snapshot(
                    account_id="b",
                    handle="x83749201",
                    created_at=datetime(2024, 1, 10, 12, tzinfo=UTC),
                    description=None,
                ),
            ]
        )
    )
    a, b = f.row(0, named=True), f.row(1, named=True)
    assert set(PROFILE_FEATURES) <= set(f.columns)
    assert a["account_age_days"] == pytest.approx(3652.0)
    assert a["posts_per_day_age"] == pytest.approx(4000 / 3652)
    assert a["followers_following_log_ratio"] == pytest.approx(math.log(301) - math.log(251))
    assert a["handle_digits"] == 0 and a["handle_length"] == 8
    assert b["handle_digits"] == 8
    assert b["account_age_days"] == 1.0  # half a day, floored at one day
    assert b["description_length"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_do_not_depend_on_which_accounts_are_scored_together(seed: int) -> None:
    """Each account's scores, reasons and features are the same scored with all the
    others or alone (an incremental build rescores a few, the Spark engine scores
    buckets). Ages of whole seconds over 86,400 hit the ties of the 4-place rounding
    where polars' column-by-scalar division (a reciprocal multiplication) was one ulp
    off only from two rows on."""
    rng = np.random.default_rng(seed)
    n = 40
    observed = datetime(2024, 3, 18, tzinfo=UTC)
    frame = pl.DataFrame(
        [
            _snapshot(
                account_id=f"a{i}",
                created_at=datetime.fromtimestamp(
                    observed.timestamp()
                    - int(rng.integers(1, 400)) * 86400
                    - 108 * int(rng.integers(0, 800)),
                    UTC,
                ),
                followers_count=int(rng.integers(0, 5000)),
            )
            for i in range(n)
        ]
    ).with_columns(observed_at=pl.lit(observed))
    together = score_accounts(None, frame).sort("account_id")
    alone = pl.concat([score_accounts(None, frame.slice(i, 1)) for i in range(n)]).sort(
        "account_id"
    )
    assert together.to_dicts() == alone.to_dicts()


def test_roc_auc_matches_pairwise_count() -> None:
    r = np.random.default_rng(1)
    y = r.integers(0, 2, 200)
    s = np.round(r.normal(size=200) + y, 1)  # ties on purpose
    pos, neg = s[y == 1], s[y == 0]
    want = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(y, s) == pytest.approx(want)


def test_fit_logistic_recovers_planted_coefficients() -> None:
    r = np.random.default_rng(2)
    Z = r.normal(size=(20_000, 3))
    logit = 0.5 + Z @ np.array([2.0, -1.0, 0.0])
    y = (r.uniform(size=20_000) < 1 / (1 + np.exp(-logit))).astype(float)
    coef, intercept = fit_logistic(Z, y, l2=0.0)
    assert coef == pytest.approx([2.0, -1.0, 0.0], abs=0.08)
    assert intercept == pytest.approx(0.5, abs=0.08)


def test_committed_profile_model_is_plain_data_with_honest_metrics() -> None:
    m = load_model("bot_profile")
    assert isinstance(m, TreeEnsemble)
    assert set(m.features) <= set(profile_features(pl.DataFrame([_snapshot()])).columns)
    # scale-free features only: no raw counts, no account age (collection artefacts)
    assert not {"posts_count", "followers_count", "account_age_days"} & set(m.features)
    assert 0.5 < m.meta["cv5_auc_mean"] <= 1.0
    lodo = m.meta["leave_one_dataset_out_auc"]
    assert set(lodo) == {
        "botwiki-2019",
        "cresci-stock-2018",
        "political-bots-2019",
        "pronbots-2019",
        "vendor-purchased-2019",
    }
    assert all(0 <= v["botruler_auc"] <= 1 for v in lodo.values())
    assert set(m.meta["human_collection_held_out_auc"]) == {"cresci-stock-2018", "verified-2019"}
    json.dumps(m.to_json())  # plain data
    # calibrated: a profile with every feature missing sits near the even prior
    assert 0.05 < 1 / (1 + math.exp(-m.bias())) < 0.95


def _behaviour_row(account_id: str, **over: object) -> dict:
    row = {
        "account_id": account_id,
        "posts": 40,
        "reposts": 20,
        "repost_share": 0.5,
        "reposts_timed": 20,
        "fast_share": 0.0,
        "median_delay_s": 1500.0,
        "posts_per_day": 3.0,
        "hour_entropy": 0.7,
        "burstiness": 0.3,
        "coordinated_share": 0.0,
        "texts": 20,
        "self_repeat_share": 0.0,
    }
    row.update(over)
    return row


def test_score_accounts_parts_pooling_and_reasons() -> None:
    behaviour = pl.DataFrame(
        [
            _behaviour_row(
                "bot",
                repost_share=0.95,
                fast_share=0.82,
                median_delay_s=4.0,
                posts_per_day=80.0,
            ),
            _behaviour_row("human"),
            _behaviour_row("both", fast_share=0.9, median_delay_s=3.0),
        ]
    )
    profiles = pl.DataFrame([_snapshot(account_id="profile_only"), _snapshot(account_id="both")])
    out = score_accounts(behaviour, profiles, threshold=0.5, fast_s=5)
    rows = {r["account_id"]: r for r in out.iter_rows(named=True)}
    assert set(rows) == {"bot", "human", "both", "profile_only"}
    assert rows["bot"]["bot_score"] > 0.9 and rows["bot"]["is_bot_like"]
    assert rows["human"]["bot_score"] < 0.3 and not rows["human"]["is_bot_like"]
    assert "reposts within 5 s of the parent in 82% of its shares" in rows["bot"]["bot_reasons"]
    assert rows["bot"]["bot_reasons"].count(";") <= 2  # at most three reasons
    # a low score lists what looks organic, not "no bot-like signal"
    assert "reacts minutes after the parent (median delay 1500 s)" in rows["human"]["bot_reasons"]
    assert {r["bot_evidence"] for r in rows.values()} == {"sufficient"}
    # an account with only a profile, or only posts, still gets a score: the part's
    # logit pooled with the base rate (weight 0.5 each for a profile)
    only = rows["profile_only"]
    assert only["behaviour_score"] is None
    prior = math.log(0.15 / 0.85)
    lp = math.log(only["profile_score"] / (1 - only["profile_score"]))
    assert only["bot_score"] == pytest.approx(1 / (1 + math.exp(-(lp + prior) / 2)))
    assert rows["bot"]["profile_score"] is None
    # both parts: the pooled score lies between the base rate and the parts
    both = rows["both"]
    lo = min(both["profile_score"], both["behaviour_score"], 0.15)
    hi = max(both["profile_score"], both["behaviour_score"], 0.15)
    assert lo <= both["bot_score"] <= hi
    assert json.loads(rows["both"]["features"])["fast_share"] == pytest.approx(0.9)
    assert rows["bot"]["model_version"].startswith("profile:profile-rf-1+behaviour:")


def test_co_sharing_is_not_an_input_of_the_bot_score() -> None:
    plain = pl.DataFrame([_behaviour_row("a")])
    lockstep = pl.DataFrame([_behaviour_row("a", coordinated_share=1.0)])
    assert score_accounts(plain, None)["bot_score"][0] == pytest.approx(
        score_accounts(lockstep, None)["bot_score"][0]
    )
    assert "coordinated_share" not in load_model("bot_behaviour").features


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 500),
            st.floats(0, 1),
            st.floats(0, 1) | st.none(),
            st.floats(0, 1e6) | st.none(),
            st.floats(0, 1e4),
            st.floats(0, 1) | st.none(),
            st.floats(-1, 1) | st.none(),
            st.floats(0, 1) | st.none(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_scores_always_in_unit_interval(values: list[tuple]) -> None:
    behaviour = pl.DataFrame(
        [
            _behaviour_row(
                f"a{i}",
                posts=max(p, 1),
                reposts=0,
                repost_share=rs,
                fast_share=fs,
                median_delay_s=md,
                posts_per_day=ppd,
                hour_entropy=he,
                burstiness=bu,
                coordinated_share=cs,
            )
            for i, (p, rs, fs, md, ppd, he, bu, cs) in enumerate(values)
        ]
    )
    out = score_accounts(behaviour, None)
    assert out["bot_score"].is_between(0, 1).all()
    assert out["bot_reasons"].str.len_chars().min() > 0


def test_stage_scores_every_account_with_posts_or_profile(mem_store: Store) -> None:
    rows = [(f"o{i}", "author", i * 3600, None, "original") for i in range(20)]
    rows += [(f"b{i}", "botty", i * 3600 + 2, f"o{i}", "repost") for i in range(20)]
    rows += [(f"h{i}", "person", i * 3600 + 1800, f"o{i}", "repost") for i in range(0, 20, 3)]
    insert_posts(mem_store, rows)
    mem_store.con.execute(
        "INSERT INTO accounts (account_id, observed_at, handle, followers_count, "
        "following_count, posts_count, created_at, ingest_run_id) VALUES "
        "('silent', TIMESTAMPTZ '2024-03-05', 'silent', 10, 10, 10, TIMESTAMPTZ '2020-01-01', 1)"
    )
    with mem_store.transaction():
        counts = run(mem_store, 3, AccountParams(bot_threshold=0.5))
    got = dict(
        mem_store.con.execute(
            "SELECT account_id, bot_score FROM account_scores ORDER BY account_id"
        ).fetchall()
    )
    assert set(got) == {"author", "botty", "person", "silent"}
    assert counts["accounts_scored"] == 4
    assert got["botty"] > 0.5 > got["person"]
    evidence = dict(
        mem_store.con.execute("SELECT account_id, bot_evidence FROM account_scores").fetchall()
    )
    # 'silent' has a complete profile; 'person' 7 reposts with timed parents
    assert evidence == dict.fromkeys(got, "sufficient")
    n, build = mem_store.con.execute(
        "SELECT count(*), min(build_id) FROM account_scores WHERE bot_score BETWEEN 0 AND 1"
    ).fetchall()[0]
    assert (n, build) == (4, 3)

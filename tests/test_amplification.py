"""Amplification: the cut-off what-if against networkx, shares and scores on hand-made cascades."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import networkx as nx
import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.amplification import (
    DECOMPOSITION,
    amplification_scores,
    reached_only_via,
)
from tests.test_origin import _random_forest


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
    p=st.floats(0.0, 0.6),
)
def test_cut_off_matches_networkx_reachability(sizes: list[int], seed: int, p: float) -> None:
    parent = _random_forest(sizes, seed)
    rng = np.random.default_rng(seed)
    flagged = rng.random(len(parent)) < p
    flagged[parent < 0] = False  # roots are kept, as the pipeline does
    cut = reached_only_via(parent, flagged)
    D = nx.DiGraph()
    D.add_nodes_from(range(len(parent)))
    D.add_edges_from((int(q), i) for i, q in enumerate(parent) if q >= 0)
    kept = D.subgraph([v for v in D if not flagged[v]])
    for root in np.flatnonzero(parent < 0):
        tree = nx.descendants(D, int(root)) | {int(root)}
        still = nx.descendants(kept, int(root)) | {int(root)}
        for v in tree:
            assert cut[v] == (v not in still)


T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _cascade(cid: str, bot_at: set[int], n: int, coordinated: set[int] = frozenset()) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "cascade_id": cid,
                "post_id": f"{cid}{i:03d}",
                "created_at": T0 + timedelta(minutes=i),
                "is_share": i > 0,
                "bot": i in bot_at,
                "coordinated": i in coordinated,
                "cut": False,
            }
        )
    return rows


def test_early_bot_push_scores_above_organic() -> None:
    # 21 posts each: root + 20 shares; the first 10% of shares = the first 2.
    pushed = _cascade("p", {1, 2}, 21)
    late = _cascade("l", {19, 20}, 21)
    organic = _cascade("o", set(), 21)
    out = {
        r["cascade_id"]: r
        for r in amplification_scores(pl.DataFrame(pushed + late + organic)).iter_rows(named=True)
    }
    assert out["p"]["early_bot_share"] == 1.0
    assert out["l"]["early_bot_share"] == 0.0
    assert out["p"]["bot_share"] == out["l"]["bot_share"] == 0.1
    assert out["p"]["amplification_score"] > out["l"]["amplification_score"] > 0
    assert out["o"]["amplification_score"] == 0.0
    assert out["o"]["amplification_reasons"] == "no bot-like or coordinated amplification found"
    assert "2 of the first 2 shares" in out["p"]["amplification_reasons"]


def test_single_post_cascade_has_no_shares() -> None:
    row = amplification_scores(pl.DataFrame(_cascade("s", {0}, 1))).row(0, named=True)
    assert row["shares"] == 0
    assert row["bot_share"] == row["amplification_score"] == 0.0
    assert row["amplification_reasons"] == "no shares yet"


def test_coordinated_share_and_reach_feed_the_score() -> None:
    rows = _cascade("c", set(), 11, coordinated={1, 2, 3, 4, 5})
    for r in rows[1:6]:
        r["cut"] = True
    row = amplification_scores(pl.DataFrame(rows)).row(0, named=True)
    assert math.isclose(row["coordinated_share"], 0.5)
    assert math.isclose(row["reach_via_bots"], 0.5)
    # early: the first share (coordinated) -> 1.0; flagged share 0.5; reach 0.5
    assert math.isclose(row["amplification_score"], 0.35 * 1.0 + 0.45 * 0.5 + 0.2 * 0.5)
    assert "50% of shares came from flagged accounts" in row["amplification_reasons"]
    assert "coordinated only 50%" in row["amplification_reasons"]


def test_a_share_by_a_bot_like_coordinated_account_counts_once() -> None:
    # 10 shares: 1-3 bot-like only, 4-5 both, 6 coordinated only, 7-10 neither
    rows = _cascade("d", {1, 2, 3, 4, 5}, 11, coordinated={4, 5, 6})
    row = amplification_scores(pl.DataFrame(rows)).row(0, named=True)
    parts = [row[c] for c in DECOMPOSITION]
    assert parts == [0.3, 0.1, 0.2, 0.4]
    assert math.isclose(sum(parts), 1.0)
    # the flagged share is the union (0.6), not bot share + coordinated share (0.5 + 0.3)
    assert math.isclose(row["amplification_score"], 0.35 * 1.0 + 0.45 * 0.6)
    # flagging the same accounts as coordinated too does not raise the score
    both = _cascade("e", {1, 2, 3, 4, 5}, 11, coordinated={1, 2, 3, 4, 5, 6})
    again = amplification_scores(pl.DataFrame(both)).row(0, named=True)
    assert math.isclose(again["amplification_score"], 0.35 * 1.0 + 0.45 * 0.6)
    assert again["share_both"] == 0.5 and again["share_bot_only"] == 0.0


@settings(max_examples=40, deadline=None)
@given(
    flags=st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=40)
)
def test_scores_stay_in_unit_interval(flags: list[tuple[bool, bool, bool]]) -> None:
    rows = _cascade("h", set(), len(flags))
    for r, (bot, coord, cut) in zip(rows, flags, strict=True):
        r.update(bot=bot, coordinated=coord, cut=cut and r["is_share"])
    out = amplification_scores(pl.DataFrame(rows))
    for col in [
        "bot_share",
        "early_bot_share",
        "coordinated_share",
        "reach_via_bots",
        "amplification_score",
    ]:
        assert out[col].is_between(0.0, 1.0).all()
    parts = out.select(DECOMPOSITION).to_numpy().sum(axis=1)
    assert np.allclose(parts, 1.0)

"""Honest reach-via-bots: the explicit-only figure and its bounds over inferred parents.

Hand-worked cascades through the real stages, and :func:`reach_bounds` against a
brute force over every assignment of candidate parents.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spreadtrace.graph.amplification import reach_bounds, reached_only_via
from spreadtrace.pipeline import cascades as cascades_stage
from spreadtrace.pipeline import narratives as narratives_stage
from spreadtrace.store import Store
from tests.test_cascades_support import insert_follows, insert_posts


def _brute(n, fixed, candidates, flagged):
    """Per node, the min and max of ``cut`` over every choice of the uncertain parents."""
    uncertain = sorted(candidates)
    lows = np.ones(n, dtype=bool)
    highs = np.zeros(n, dtype=bool)
    for choice in itertools.product(*(candidates[v] for v in uncertain)):
        parent = np.full(n, -1, dtype=np.int64)
        for v, p in fixed.items():
            parent[v] = p
        for v, p in zip(uncertain, choice, strict=True):
            parent[v] = p
        cut = reached_only_via(parent, flagged)
        lows &= cut
        highs |= cut
    return lows, highs


@pytest.mark.parametrize("seed", range(40))
def test_bounds_equal_brute_force_over_all_assignments(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 11))
    fixed, candidates = {}, {}
    for v in range(1, n):  # node 0 is the root; parents are earlier nodes
        if v >= 2 and rng.random() < 0.4 and len(candidates) < 5:
            k = int(rng.integers(1, min(3, v - 1) + 1))
            candidates[v] = sorted(rng.choice(np.arange(1, v), size=k, replace=False).tolist())
        else:
            fixed[v] = int(rng.integers(0, v))
    flagged = rng.random(n) < 0.3
    flagged[0] = False
    child = [*fixed, *(v for v, cs in candidates.items() for _ in cs)]
    par = [*fixed.values(), *(c for cs in candidates.values() for c in cs)]
    low = reach_bounds(n, np.array(child), np.array(par), flagged, worst=False)
    high = reach_bounds(n, np.array(child), np.array(par), flagged, worst=True)
    want_low, want_high = _brute(n, fixed, candidates, flagged)
    assert low.tolist() == want_low.tolist()
    assert high.tolist() == want_high.tolist()
    assert (low <= high).all()


# root r (u0); the bot and a human h1 repost it; u3 follows both and reposts later,
# u4 follows u3 and reposts after it. The platform flattens every repost onto r.
POSTS = [
    ("r", "u0", 0, None, "original"),
    ("b", "bot", 1, "r", "repost"),
    ("h", "h1", 2, "r", "repost"),
    ("x", "u3", 3, "r", "repost"),
    ("y", "u4", 4, "r", "repost"),
]
FOLLOWS = [("u3", "bot"), ("u3", "h1"), ("u4", "u3")]


def _build(store: Store) -> tuple:
    insert_posts(store, POSTS)
    insert_follows(store, FOLLOWS)
    cascades_stage.run(store, 1)
    store.con.execute(
        "INSERT INTO account_scores (account_id, posts, reposts, bot_score, is_bot_like, "
        "bot_reasons, model_version, build_id) VALUES ('bot', 1, 1, 0.97, true, 'fast', 't', 1)"
    )
    narratives_stage.run(store, 1)
    return store.con.execute(
        "SELECT reach_via_bots, reach_via_bots_low, reach_via_bots_high, inferred_edges, "
        "amplification_reasons FROM cascade_scores WHERE cascade_id = 'r'"
    ).fetchall()[0]


def test_reach_over_explicit_links_with_bounds_over_the_guesses(mem_store: Store) -> None:
    # inference: x -> h (the most recent sharer u3 follows), y -> x; 2 inferred links
    explicit, low, high, inferred, reasons = _build(mem_store)
    # explicit only: x and y hang on r, so only the bot's own share is cut off: 1 of 4
    assert explicit == pytest.approx(0.25)
    # best case: x came through h (y through x): still 1 of 4
    assert low == pytest.approx(0.25)
    # worst case: x came through the bot, and y through x: b, x, y = 3 of 4
    assert high == pytest.approx(0.75)
    assert inferred == 2
    assert "over explicit links" in reasons
    assert "counting the 2 inferred (guessed) parent links, between 25% and 75%" in reasons


def test_without_inferred_links_the_bounds_collapse(mem_store: Store) -> None:
    insert_posts(
        mem_store,
        [
            ("r", "u0", 0, None, "original"),
            ("b", "bot", 1, "r", "repost"),
            ("c", "u1", 2, "b", "repost"),
        ],
    )
    cascades_stage.run(mem_store, 1)
    mem_store.con.execute(
        "INSERT INTO account_scores (account_id, posts, reposts, bot_score, is_bot_like, "
        "bot_reasons, model_version, build_id) VALUES ('bot', 1, 1, 0.97, true, 'fast', 't', 1)"
    )
    narratives_stage.run(mem_store, 1)
    row = mem_store.con.execute(
        "SELECT reach_via_bots, reach_via_bots_low, reach_via_bots_high, inferred_edges, "
        "amplification_reasons FROM cascade_scores"
    ).fetchall()[0]
    # c hangs explicitly on the bot's share: both cut off, 2 of 2; nothing guessed
    assert row[:4] == (1.0, 1.0, 1.0, 0)
    assert "inferred" not in row[4] and "over explicit links" not in row[4]

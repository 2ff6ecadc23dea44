"""Coordination: the SQL co-share search against a brute-force reference, NPMI, clusters."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.coordination import cluster_pairs, npmi
from spreadtrace.graph.narratives import group_narratives
from spreadtrace.pipeline.accounts import AccountParams, run
from spreadtrace.store import Store
from spreadtrace.store import coordination as coordination_sql
from spreadtrace.store import items as items_sql
from spreadtrace.urls import normalize_urls
from tests._accounts_helpers import insert_posts

_URL_VARIANTS = [
    "https://www.Example.COM/a/b/?utm_source=x&id=3#frag",
    "http://example.com/a/b?id=3",
    "example.com/a/b/?fbclid=zz&id=3",
    "https://example.com/a/b?id=3&gclid=1&mc_cid=2&spm=x",  # tracking params of both lists
    "https://ex.org/%7Efoo/?igsh=1",  # percent-encoding (RFC 3986, url-normalize)
    "https://ex.org/~foo",
    "https://t.co/AbC?si=12&utm_x=1",  # a shortener: labelled, never fetched
    "ftp://x.org/p?a=1&utm_a=2&b=3",
    "https://x.org/p?b=3&a=1",
]


def test_coordination_and_narratives_share_one_url_normaliser(mem_store: Store) -> None:
    # The same raw URLs, posted once each by different accounts: coordination's co-share
    # items and the narratives' URL groups must partition the posts identically, and
    # both must use the one key of spreadtrace.urls.
    rows = [
        (f"p{i}", f"a{i}", float(i), None, "original", [u]) for i, u in enumerate(_URL_VARIANTS)
    ]
    insert_posts(mem_store, rows)
    coordination_sql.co_share_pairs(mem_store.con, window_s=60, min_shared=1, items=("url",))
    coord = dict(mem_store.con.execute("SELECT account_id, item FROM _co_shares").fetchall())
    keys = normalize_urls(_URL_VARIANTS)
    assert [coord[f"a{i}"] for i in range(len(rows))] == ["url:" + k for k in keys]
    assert len(set(keys)) == 4  # example.com/a/b?id=3, ex.org/~foo, t.co/AbC, x.org/p?a=1&b=3
    shortener = dict(mem_store.con.execute("SELECT key, shortener FROM url_keys").fetchall())
    assert shortener["t.co/AbC"] is True
    assert shortener["x.org/p?a=1&b=3"] is False
    roots = pl.DataFrame(
        {
            "cascade_id": [f"c{i}" for i in range(len(rows))],
            "created_at": list(range(len(rows))),
            "text": [f"post {i}" for i in range(len(rows))],  # too short to be evidence
            "urls": [[u] for u in _URL_VARIANTS],
            "hashtags": [[] for _ in rows],
            "size": [1] * len(rows),
        }
    )
    stored = items_sql.url_key_frame(mem_store.con)
    grouping = group_narratives(roots, keys=stored).cascades
    narrative = dict(zip(grouping["cascade_id"], grouping["narrative_id"], strict=True))
    by_coord = {
        frozenset(i for i in range(len(rows)) if coord[f"a{i}"] == c) for c in coord.values()
    }
    by_narr = {
        frozenset(i for i in range(len(rows)) if narrative.get(f"c{i}") == n)
        for n in narrative.values()
    }
    # t.co/AbC is posted once: no narrative; every other coordination item is one.
    assert by_narr == {g for g in by_coord if len(g) >= 2}
    assert group_narratives(roots).cascades.equals(grouping)  # computed keys == stored keys


def _brute_pairs(shares: list[tuple[str, str, float]], window: float, min_shared: int):
    """Reference: every pair of shares of the same item by two accounts within window."""
    hits: dict[tuple[str, str], set[str]] = {}
    for (a1, i1, t1), (a2, i2, t2) in itertools.combinations(shares, 2):
        if i1 == i2 and a1 != a2 and abs(t1 - t2) <= window:
            key = (min(a1, a2), max(a1, a2))
            hits.setdefault(key, set()).add(i1)
    return {k: len(v) for k, v in hits.items() if len(v) >= min_shared}


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    window=st.sampled_from([1.0, 7.0, 60.0]),
    min_shared=st.integers(1, 3),
)
def test_co_share_pairs_match_brute_force(seed: int, window: float, min_shared: int) -> None:
    # Random reposts of a few parents at times spread over a few windows, including
    # shares exactly on bucket edges and exactly `window` apart.
    rng = random.Random(seed)
    rows = [(f"o{i}", "origin", 0, None, "original") for i in range(6)]
    shares = []
    for k in range(rng.randint(5, 60)):
        account = f"a{rng.randint(0, 7)}"
        parent = f"o{rng.randint(0, 5)}"
        t = rng.choice([rng.uniform(0, 4 * window), float(rng.randint(0, 4)) * window])
        t = round(t, 3)
        rows.append((f"r{k}", account, t, parent, "repost"))
        shares.append((account, "p:" + parent, t))
    shares = list({(a, i, t) for a, i, t in shares})
    with Store.open(":memory:") as store:
        insert_posts(store, rows)
        stats = coordination_sql.co_share_pairs(
            store.con, window_s=window, min_shared=min_shared, max_bucket=10_000
        )
        got = {
            (a, b): n
            for a, b, n in store.con.execute(
                "SELECT account_a, account_b, shared_items FROM _co_pairs"
            ).fetchall()
        }
    assert stats["shares_capped"] == 0
    assert got == _brute_pairs(shares, window, min_shared)


def test_hot_item_is_capped_per_bucket(mem_store: Store) -> None:
    # 300 accounts share one item in the same second: 44,850 pairs without a cap; with a
    # cap of 50 per (item, bucket) only the first 50 shares take part (1,225 pairs).
    rows = [("o", "origin", 0, None, "original")]
    rows += [(f"r{k}", f"a{k:03d}", 1 + k * 0.001, "o", "repost") for k in range(300)]
    insert_posts(mem_store, rows)
    stats = coordination_sql.co_share_pairs(mem_store.con, window_s=60, min_shared=1, max_bucket=50)
    assert stats["shares_capped"] == 250
    assert stats["pairs"] == 50 * 49 // 2


def test_repost_urls_do_not_double_count(mem_store: Store) -> None:
    # Two accounts repost the same post carrying a URL: one shared item, not two.
    rows = [
        ("o", "origin", 0, None, "original", ["https://x.org/a"]),
        ("r1", "a", 5, "o", "repost", ["https://x.org/a"]),
        ("r2", "b", 6, "o", "repost", ["https://x.org/a"]),
    ]
    insert_posts(mem_store, rows)
    coordination_sql.co_share_pairs(mem_store.con, window_s=60, min_shared=1)
    assert mem_store.con.execute("SELECT shared_items FROM _co_pairs").fetchall() == [(1,)]


def test_url_items_are_co_shared(mem_store: Store) -> None:
    # a and b post the same link (spelled differently) in their own posts, twice.
    rows = [
        ("p1", "a", 0, None, "original", ["https://www.news.example/x?utm_source=tw"]),
        ("p2", "b", 20, None, "original", ["http://news.example/x/"]),
        ("p3", "a", 500, None, "original", ["https://news.example/y"]),
        ("p4", "b", 530, None, "original", ["https://news.example/y#top"]),
        ("p5", "c", 5000, None, "original", ["https://news.example/y"]),  # too late
    ]
    insert_posts(mem_store, rows)
    coordination_sql.co_share_pairs(mem_store.con, window_s=60, min_shared=2)
    assert mem_store.con.execute(
        "SELECT account_a, account_b, shared_items FROM _co_pairs"
    ).fetchall() == [("a", "b", 2)]


def test_npmi_discounts_prolific_accounts() -> None:
    # Same 10 shared items; the pair of specialists (10 items each) scores 1, a pair of
    # accounts sharing 500 items each barely beats chance among 1,000 items.
    s = npmi(np.array([10, 10]), np.array([10, 500]), np.array([10, 500]), 1000)
    assert s[0] == pytest.approx(1.0)
    assert s[1] < 0.1
    # never outside [0, 1], even for fewer overlaps than chance
    r = np.random.default_rng(0)
    n_a = r.integers(1, 100, 500)
    n_b = r.integers(1, 100, 500)
    shared = np.minimum(n_a, n_b) * r.uniform(0, 1, 500)
    out = npmi(np.maximum(shared, 1), n_a, n_b, 100)
    assert ((out >= 0) & (out <= 1)).all()


def _two_rings_with_bridge() -> pl.DataFrame:
    ring = lambda p: [(f"{p}{i}", f"{p}{j}", 0.9) for i, j in itertools.combinations(range(6), 2)]  # noqa: E731
    rows = ring("a") + ring("b") + [("a0", "b0", 0.4)]
    return pl.DataFrame(rows, schema=["account_a", "account_b", "strength"], orient="row")


def test_leiden_splits_loosely_bridged_groups_components_do_not() -> None:
    pairs = _two_rings_with_bridge()
    leiden = cluster_pairs(pairs, min_strength=0.3, method="leiden")
    comps = cluster_pairs(pairs, min_strength=0.3, method="components")
    assert leiden["cluster_id"].n_unique() == 2
    assert sorted(leiden.group_by("cluster_id").len()["len"].to_list()) == [6, 6]
    assert comps["cluster_id"].n_unique() == 1
    # a stricter threshold drops the bridge for components too
    assert cluster_pairs(pairs, min_strength=0.5, method="components")["cluster_id"].n_unique() == 2


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=1, max_size=40))
def test_components_match_networkx(edges: list[tuple[int, int]]) -> None:
    edges = [(f"n{a:02d}", f"n{b:02d}") for a, b in edges if a != b]
    if not edges:
        return
    pairs = pl.DataFrame(
        {
            "account_a": [min(e) for e in edges],
            "account_b": [max(e) for e in edges],
            "strength": [1.0] * len(edges),
        }
    )
    got = cluster_pairs(pairs, method="components")
    G = nx.Graph(edges)
    want = {frozenset(c) for c in nx.connected_components(G) if len(c) >= 2}
    have = {frozenset(g["account_id"].to_list()) for _, g in got.group_by("cluster_id")}
    assert have == want
    sizes = got.group_by("cluster_id").agg(pl.len(), pl.col("cluster_size").first())
    assert (sizes["len"] == sizes["cluster_size"]).all()


def test_stage_writes_pairs_and_clusters_with_build_id(mem_store: Store) -> None:
    rng = random.Random(3)
    rows = [(f"o{i}", f"h{i % 20}", i * 3600, None, "original") for i in range(40)]
    # a ring of five reposts posts o0..o9 within 5 s of each other
    for i in range(10):
        rows += [(f"g{i}_{g}", f"ring{g}", i * 3600 + 3 + g, f"o{i}", "repost") for g in range(5)]
    # organic reposts minutes apart
    for i in range(40):
        for k, h in enumerate(rng.sample(range(20), 5)):
            rows.append(
                (f"h{i}_{k}", f"h{h}", i * 3600 + rng.randint(100, 3000), f"o{i}", "repost")
            )
    insert_posts(mem_store, rows)
    with mem_store.transaction():
        counts = run(mem_store, 7, AccountParams())
    con = mem_store.con
    members = con.execute(
        "SELECT account_id FROM coordination_clusters ORDER BY account_id"
    ).fetchall()
    assert [m[0] for m in members] == [f"ring{g}" for g in range(5)]
    assert counts["coordination_clusters"] == 1
    pair = con.execute(
        "SELECT shared_items, strength, cluster_id, build_id FROM coordination_pairs "
        "WHERE account_a = 'ring0' AND account_b = 'ring1'"
    ).fetchone()
    assert pair == (10, pytest.approx(1.0), "c:ring0", 7)
    # every stored pair has a < b and strength in [0, 1]
    assert (
        con.execute(
            "SELECT count(*) FROM coordination_pairs WHERE NOT (account_a < account_b "
            "AND strength BETWEEN 0 AND 1)"
        ).fetchone()[0]
        == 0
    )
    # temp tables are gone after the stage
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_co\\_%' ESCAPE '\\'"
        ).fetchone()[0]
        == 0
    )
    # ... and the accounts stage's work tables too
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_ac\\_%' ESCAPE '\\'"
        ).fetchone()[0]
        == 0
    )
    # a second build replaces, never duplicates; unchanged rows keep the build that
    # wrote them (only the difference is written)
    with mem_store.transaction():
        again = run(mem_store, 8, AccountParams())
    assert con.execute("SELECT count(*), max(build_id) FROM coordination_clusters").fetchone() == (
        5,
        7,
    )
    assert again["coordination_rows_written"] == 0


def test_coordination_scores_reset_every_account_missing_from_the_scores(
    mem_store: Store,
) -> None:
    """An account that lost its kept pairs scores 0 again, whatever else ``scores``
    holds: a NULL account_id in it made ``NOT IN`` unknown for every account (three-
    valued logic), and b kept its stale 0.4 (the reset is a NOT EXISTS now)."""
    from spreadtrace.store.accounts_scores import update_coordination_scores

    for account_id, score in (("a", 0.7), ("b", 0.4), ("c", 0.0)):
        mem_store.con.execute(
            "INSERT INTO account_scores (account_id, posts, reposts, bot_score, is_bot_like, "
            "bot_reasons, model_version, coordination_score, build_id) "
            "VALUES (?, 1, 0, 0.1, false, '', 'm', ?, 1)",
            [account_id, score],
        )
    scores = pl.DataFrame(
        {"account_id": ["a", None], "coordination_score": [0.9, 0.5]},
        schema={"account_id": pl.String, "coordination_score": pl.Float64},
    )
    assert update_coordination_scores(mem_store.con, scores, 2) == 2  # a's and b's rows
    rows = mem_store.con.execute(
        "SELECT account_id, coordination_score, build_id FROM account_scores ORDER BY 1"
    ).fetchall()
    assert rows == [("a", 0.9, 2), ("b", 0.0, 2), ("c", 0.0, 1)]

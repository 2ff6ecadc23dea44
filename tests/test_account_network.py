"""The narrative account network: edges by kind (incl. mentions), k-core pruning
against networkx's k_core, GEXF export, and the page that draws it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import networkx as nx
import numpy as np
import polars as pl
import pytest

from spreadtrace.graph.account_network import kcore_prune, network_gexf
from spreadtrace.store import dashboard_queries as dq


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kcore_prune_matches_networkx_k_core(seed):
    rng = np.random.default_rng(seed)
    n = 60
    edges = rng.integers(0, n, size=(150, 2))
    edges = edges[edges[:, 0] != edges[:, 1]]
    G = nx.Graph()
    G.add_nodes_from(range(n))
    G.add_edges_from(edges.tolist())
    core = nx.core_number(G)
    for limit in (5, 20, 40, 59, 60):
        keep, k, cut = kcore_prune(n, edges, limit)
        assert keep.sum() <= limit
        if limit >= n:
            assert keep.all() and k == 0
            continue
        if not cut:
            # the smallest k whose core fits, and exactly that core
            assert set(np.flatnonzero(keep)) == set(nx.k_core(G, k).nodes)
            assert k == 0 or len(nx.k_core(G, k - 1)) > limit
        else:  # the innermost core is itself too large: cut to its best-connected
            inner = {v for v, c in core.items() if c == max(core.values())}
            assert len(inner) > limit and set(np.flatnonzero(keep)) <= inner


def _fill(con) -> None:
    """Alice posts; bob reposts, carol quotes bob's repost, dave replies to alice and
    mentions @Carol; all in narrative n."""
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    posts = [
        ("p1", "alice", "original", None, "the claim"),
        ("p2", "bob", "repost", "p1", None),
        ("p3", "carol", "quote", "p2", "look"),
        ("p4", "dave", "reply", "p1", "no, ask @Carol and @nobody"),
    ]
    for i, (pid, acc, kind, parent, text) in enumerate(posts):
        con.execute(
            "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, "
            "ingest_run_id) VALUES (?, ?, ?, ?, ?, ?, 1)",
            [pid, acc, t0 + timedelta(minutes=i), parent, kind, text],
        )
        con.execute(
            "INSERT INTO post_cascades (post_id, cascade_id, parent_id, parent_source, depth, "
            "descendants, build_id) VALUES (?, 'p1', ?, 'explicit', ?, ?, 1)",
            [pid, parent, 0 if parent is None else 1, {"p1": 3, "p2": 1}.get(pid, 0)],
        )
        con.execute(
            "INSERT INTO post_narratives (post_id, narrative_id, via, build_id) "
            "VALUES (?, 'n', 'cascade', 1)",
            [pid],
        )
    for acc in ("alice", "bob", "carol", "dave"):
        con.execute(
            "INSERT INTO accounts (account_id, observed_at, handle, platform, ingest_run_id) "
            "VALUES (?, ?, ?, 'x', 1)",
            [acc, t0, acc.capitalize()],
        )


def test_edges_by_kind_including_mentions(mem_store):
    con = mem_store.con
    _fill(con)
    dq.create_read_model(con)
    nodes, edges = dq.narrative_account_network(con, "n")
    got = {(r["source"], r["target"], r["kind"], r["weight"]) for r in edges.to_dicts()}
    assert got == {
        ("alice", "bob", "repost", 1),
        ("bob", "carol", "quote", 1),
        ("alice", "dave", "reply", 1),
        ("carol", "dave", "mention", 1),  # @Carol, case-insensitive; @nobody is no account
    }
    reach = dict(zip(nodes["account_id"], nodes["reach"], strict=True))
    assert reach == {"alice": 4, "bob": 2, "carol": 1, "dave": 1}  # own posts + below
    assert set(nodes["bot_state"]) == {"not scored"}
    # GEXF: Gephi reads it back with every account and edge kind
    index = {a: i for i, a in enumerate(nodes["account_id"])}
    numbered = edges.with_columns(
        s=pl.col("source").replace_strict(index), t=pl.col("target").replace_strict(index)
    )
    text = network_gexf(nodes, numbered)
    G = nx.read_gexf(io.StringIO(text))
    assert set(G.nodes) == {"alice", "bob", "carol", "dave"}
    assert sorted(d["kind"] for _, _, d in G.edges(data=True)) == [
        "mention", "quote", "reply", "repost"
    ]  # fmt: skip

"""The narratives stage end to end on a hand-made store (rows inserted directly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spreadtrace.pipeline.narratives import NarrativeParams, run
from spreadtrace.store import Store
from tests.test_cascades_support import table_rows

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# Cascade A: origin's claim with a URL; r1 (a bot) reshares at once, r2 and r3 hang from r1.
# Cascade B: a copy-paste variant by 'copier' 2 h later, same URL with tracking junk; one
#            organic repost.
# Cascade C: reposts of an original that is not in the store (unseen root 'gone'), text
#            a near-duplicate of A: x1 is the hub, x2 and x3 hang from it.
# Cascade D: an unrelated lone post: no narrative.
POSTS = [
    # post_id, account_id, minutes, parent_id, kind, text, urls, cascade, depth
    (
        "a0",
        "origin",
        0,
        None,
        "original",
        "Secret memo proves the mayor rigged the vote count",
        ["https://news.example/memo?utm_source=x"],
        "a0",
        0,
    ),
    ("a1", "bot1", 0.05, "a0", "repost", None, [], "a0", 1),
    ("a2", "p2", 30, "a1", "repost", None, [], "a0", 2),
    ("a3", "p3", 40, "a1", "repost", None, [], "a0", 2),
    (
        "b0",
        "copier",
        120,
        None,
        "original",
        "look at this",
        ["http://www.news.example/memo/?fbclid=zz"],
        "b0",
        0,
    ),
    ("b1", "p4", 150, "b0", "repost", None, [], "b0", 1),
    (
        "c1",
        "hub",
        200,
        "gone",
        "repost",
        "RT @ghost: secret memo proves the mayor rigged the vote count!!",
        [],
        "gone",
        1,
    ),
    ("c2", "p5", 210, "c1", "repost", None, [], "gone", 2),
    ("c3", "p6", 215, "c1", "repost", None, [], "gone", 2),
    ("d0", "loner", 300, None, "original", "nice weather today in the park", [], "d0", 0),
]


def _load(store: Store) -> None:
    con = store.con
    for pid, acc, minutes, parent, kind, text, urls, cid, depth in POSTS:
        created = T0 + timedelta(minutes=minutes)
        con.execute(
            "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, urls, hashtags, ingest_run_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, [], 1)",
            [pid, acc, created, parent, kind, text, urls],
        )
        con.execute(
            "INSERT INTO post_cascades (post_id, cascade_id, parent_id, parent_source, depth,"
            " descendants, build_id) VALUES (?, ?, ?, ?, ?, 0, 1)",
            [pid, cid, None if depth == 0 else parent, None if depth == 0 else "explicit", depth],
        )
    for cid, root, seen, acc, size, first, last in [
        ("a0", "a0", True, "origin", 4, 0, 40),
        ("b0", "b0", True, "copier", 2, 120, 150),
        ("gone", "gone", False, None, 3, 200, 215),
        ("d0", "d0", True, "loner", 1, 300, 300),
    ]:
        con.execute(
            "INSERT INTO cascades (cascade_id, root_post_id, root_seen, root_account_id, size, accounts, depth, "
            "max_breadth, first_at, last_at, peak_per_hour, reconstruction, build_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, 1, ?, ?, 1, 'explicit', 1)",
            [
                cid,
                root,
                seen,
                acc,
                size,
                size,
                T0 + timedelta(minutes=first),
                T0 + timedelta(minutes=last),
            ],
        )
    con.execute(
        "INSERT INTO account_scores (account_id, posts, reposts, bot_score, is_bot_like, bot_reasons, "
        "model_version, build_id) VALUES ('bot1', 1, 1, 0.97, true, 'reacts in seconds', 't', 1), "
        "('p2', 1, 1, 0.1, false, '', 't', 1)"
    )
    con.execute("INSERT INTO coordination_clusters VALUES ('k1', 'p6', 2, 1), ('k1', 'zz', 2, 1)")


@pytest.fixture
def built(mem_store: Store) -> Store:
    _load(mem_store)
    counts = run(mem_store, 7, NarrativeParams())
    assert counts["narratives"] == 1
    return mem_store


def test_one_narrative_from_url_and_text(built: Store) -> None:
    con = built.con
    rows = con.execute(
        "SELECT post_id, narrative_id, via, build_id FROM post_narratives ORDER BY post_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["a0", "a1", "a2", "a3", "b0", "b1", "c1", "c2", "c3"]  # not d0
    assert {r[1] for r in rows} == {"n-a0"}
    via = {r[0]: r[2] for r in rows}
    assert via["a0"] == via["b0"] == "url" and via["a1"] == "cascade"
    assert via["c1"] == "cascade"  # c1 is the top of an unseen-root cascade, not its root
    assert {r[3] for r in rows} == {7}
    narr = con.execute(
        "SELECT narrative_id, label, kind, cascades, posts, accounts, first_at, last_at, origin_account_id "
        "FROM narratives"
    ).fetchall()
    assert narr == [
        ("n-a0", "news.example/memo", "url", 3, 9, 9, T0, T0 + timedelta(minutes=215), "origin")
    ]


def test_origin_ranks_the_first_poster(built: Store) -> None:
    con = built.con
    ranked = con.execute(
        "SELECT account_id, rank, origin_score, reach_share, reasons FROM origin_scores ORDER BY rank"
    ).fetchall()
    assert ranked[0][0] == "origin" and ranked[0][1] == 1
    assert ranked[0][3] == pytest.approx(4 / 9)  # a0's whole cascade of 4 out of 9 posts
    assert all(0.0 <= r[2] <= 1.0 for r in ranked)
    assert "first to post it" in ranked[0][4]
    seeds = dict(con.execute("SELECT account_id, narratives_seeded FROM account_origin").fetchall())
    assert seeds["origin"] == 1 and len(seeds) == 3  # the top three candidates seed it


def test_amplification_per_cascade_and_narrative(built: Store) -> None:
    con = built.con
    got = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT cascade_id, narrative_id, bot_share, early_bot_share, coordinated_share, reach_via_bots, "
            "amplification_score FROM cascade_scores"
        ).fetchall()
    }
    assert set(got) == {"a0", "b0", "gone", "d0"}
    # a0: 3 shares, bot1 first; removing bot1 cuts a1, a2, a3 off the root.
    assert got["a0"][1:5] == (pytest.approx(1 / 3), 1.0, 0.0, 1.0)
    # gone: 3 shares (the root is unseen), p6 coordinated; only c3 is cut off.
    assert got["gone"][1:5] == (0.0, 0.0, pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert got["b0"][5] == 0.0 and got["d0"][0] is None
    assert got["a0"][5] > got["gone"][5] > got["b0"][5]
    narr = con.execute(
        "SELECT bot_share, early_bot_share, coordinated_share, reach_via_bots, amplification_reasons FROM narratives"
    ).fetchone()
    # 6 shares: a1 a2 a3 b1 c2 c3 (c1 is a share too: its parent is missing) -> 7 shares.
    assert narr[0] == pytest.approx(1 / 7)
    assert narr[1] == 1.0  # the first share of the narrative is bot1's
    assert narr[2] == pytest.approx(1 / 7)
    assert narr[3] == pytest.approx(4 / 7)
    assert "bot-like or coordinated accounts made 1 of the first 1 shares" in narr[4]
    # the decomposition: bot1 bot-like only (1 of 7), p6 coordinated only (1 of 7)
    parts = con.execute(
        "SELECT share_bot_only, share_coordinated_only, share_both, share_neither FROM narratives"
    ).fetchone()
    assert parts == (pytest.approx(1 / 7), pytest.approx(1 / 7), 0.0, pytest.approx(5 / 7))


def test_rebuild_replaces_rows_and_leaves_no_work_tables(built: Store) -> None:
    con = built.con
    before = {t: table_rows(built, t) for t in ("post_narratives", "narratives", "cascade_scores")}
    run(built, 8, NarrativeParams())
    # the same inputs: only changed rows are written, so every row keeps build 7
    assert con.execute("SELECT count(*), min(build_id) FROM post_narratives").fetchone() == (9, 7)
    assert con.execute("SELECT max(build_id) FROM narratives").fetchone()[0] == 7
    assert con.execute("SELECT count(*) FROM cascade_scores").fetchone()[0] == 4
    assert {t: table_rows(built, t) for t in before} == before
    temp = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '_sn_%' "
        "OR table_name LIKE '_sync_%'"
    ).fetchone()[0]
    assert temp == 0


def test_empty_store(mem_store: Store) -> None:
    counts = run(mem_store, 1)
    assert counts["narratives"] == 0 and counts["cascade_scores"] == 0

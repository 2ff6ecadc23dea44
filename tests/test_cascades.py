"""The cascades stage through the store: reconstruction, unseen roots, merges, cycles,
clock skew, and incremental builds equal to full ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.pipeline import cascades as cascades_stage
from spreadtrace.pipeline.build import BuildParams, run_build
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.store import Store
from tests.test_cascades_support import insert_follows, insert_posts, parents, table_rows

NO_INFER = BuildParams(cascades=CascadeParams(infer=False))

# A Twitter-style flattened cascade: every repost points at the original O, except one
# quote (R5) that names its real parent. Times in minutes.
FLAT_CASCADE = [
    ("O", "alice", 0, None, "original"),
    ("R1", "bob", 1, "O", "repost"),
    ("R2", "carol", 2, "O", "repost"),
    ("R3", "dave", 3, "O", "repost"),
    ("R4", "erin", 4, "O", "repost"),
    ("R5", "frank", 5, "R1", "quote"),
    ("R6", "gina", 6, "O", "repost"),
    ("R7", "hank", 7, "O", "repost"),
    ("R8", "ivan", 8, "O", "repost"),
    ("R9", "jill", 9, "O", "reply"),
    ("R10", "kate", 10, "O", "repost"),
]
FOLLOWS = [
    ("bob", "alice"),  # bob follows only the original's author
    ("carol", "bob"),
    ("dave", "bob"),
    ("dave", "carol"),
    ("erin", "alice"),
    ("frank", "carol"),  # irrelevant: frank's parent is explicit
    ("gina", "frank"),
    ("hank", "ivan"),  # ivan shares after hank
    ("kate", "dave", 20),  # kate followed dave only after her repost (minute 20)
    ("jill", "carol"),  # jill replied: a reply's parent is explicit
]


def test_time_inferred_reconstruction_on_a_hand_made_follow_graph(mem_store):
    insert_posts(mem_store, FLAT_CASCADE)
    insert_follows(mem_store, FOLLOWS)
    run_build(mem_store)
    got = {k: v[:3] for k, v in parents(mem_store).items()}
    assert got == {
        "O": (None, None, 0),
        # bob follows only alice, the root's author: no earlier non-root sharer -> root
        "R1": ("O", "root", 1),
        # carol follows bob, who shared at 1 < 2 -> R1
        "R2": ("R1", "inferred", 2),
        # dave follows bob (1) and carol (2): the most recent earlier one is carol -> R2
        "R3": ("R2", "inferred", 3),
        # erin follows only alice -> stays on the root
        "R4": ("O", "root", 1),
        # a quote naming R1 is an explicit intermediate parent: never overridden
        "R5": ("R1", "explicit", 2),
        # gina follows frank, whose R5 (5 < 6) sits under R1 -> R5, depth 3
        "R6": ("R5", "inferred", 3),
        # hank follows ivan, but ivan shared later (8 > 7) -> root
        "R7": ("O", "root", 1),
        # ivan follows nobody -> root
        "R8": ("O", "root", 1),
        # a reply to O is explicit, although jill follows an earlier sharer
        "R9": ("O", "explicit", 1),
        # kate's follow of dave started after her repost -> root
        "R10": ("O", "root", 1),
    }
    row = mem_store.con.execute(
        "SELECT size, accounts, depth, max_breadth, reconstruction, root_account_id, "
        "replies, conversation_depth, repliers FROM cascades WHERE cascade_id = 'O'"
    ).fetchone()
    # the reply R9 is conversation, not spread: shares at depth 1: R1 R4 R7 R8 R10 (5);
    # depth 2: R2 R5; depth 3: R3 R6; size 10 = O + 9 shares; one reply by one account
    assert row == (10, 10, 3, 5, "mixed", "alice", 1, 1, 1)
    # descendants of R1: R2, R3, R5, R6
    assert parents(mem_store)["R1"][4] == 4


def test_no_infer_keeps_the_flat_star(mem_store):
    insert_posts(mem_store, FLAT_CASCADE)
    insert_follows(mem_store, FOLLOWS)
    run_build(mem_store, params=NO_INFER)
    got = {k: v[:2] for k, v in parents(mem_store).items()}
    assert got["R2"] == ("O", "root") and got["R5"] == ("R1", "explicit")
    assert got["R9"] == ("O", "explicit")
    sources = {v[1] for k, v in got.items() if k != "O"}
    assert sources == {"root", "explicit"}


def test_flat_cascade_without_follows_is_flat(mem_store):
    insert_posts(mem_store, [r for r in FLAT_CASCADE if r[4] == "repost" or r[0] == "O"])
    run_build(mem_store)
    assert mem_store.con.execute("SELECT reconstruction, depth FROM cascades").fetchall() == [
        ("flat", 1)
    ]


def test_unseen_root_counts_stored_posts_only_and_later_arrival_merges(mem_store):
    # B and C reshare an original A that is not in the store: cascade "A", unseen root.
    insert_posts(mem_store, [("B", "u1", 1, "A", "repost"), ("C", "u2", 2, "B", "quote")])
    run_build(mem_store)
    row = mem_store.con.execute(
        "SELECT cascade_id, root_seen, root_account_id, size, depth, structural_virality "
        "FROM cascades"
    ).fetchone()
    # tree A - B - C: depth counted from the unseen A; size counts B and C only;
    # virality on the 3-node path: (1 + 1 + 2) / 3
    assert row == ("A", False, None, 2, 2, pytest.approx(4 / 3))
    assert mem_store.con.execute("SELECT issue, cascade_id FROM data_quality").fetchall() == [
        ("unseen_parent", "A")
    ]

    # A arrives, itself a repost of P, which is already stored: "A" merges into "P".
    insert_posts(mem_store, [("P", "u0", -5, None, "original")], run_id=2)
    run_build(mem_store)
    insert_posts(mem_store, [("A", "u3", 0, "P", "repost")], run_id=3)
    result = run_build(mem_store)
    assert result.mode == "incremental"
    assert set(result.touched) == {"A", "P"}
    assert {k: v[3] for k, v in parents(mem_store).items()} == dict.fromkeys("PABC", "P")
    assert {k: v[2] for k, v in parents(mem_store).items()} == {"P": 0, "A": 1, "B": 2, "C": 3}
    assert mem_store.con.execute("SELECT cascade_id, size, root_seen FROM cascades").fetchall() == [
        ("P", 4, True)
    ]
    assert mem_store.con.execute("SELECT count(*) FROM data_quality").fetchone()[0] == 0


def test_two_unseen_cascades_merge_when_the_link_arrives(mem_store):
    insert_posts(mem_store, [("X", "a", 1, "U1", "repost"), ("Y", "b", 2, "U2", "repost")])
    run_build(mem_store)
    assert mem_store.con.execute("SELECT count(*) FROM cascades").fetchone()[0] == 2
    insert_posts(mem_store, [("U1", "c", 0, "U2", "quote")], run_id=2)
    result = run_build(mem_store)
    assert set(result.touched) == {"U1", "U2"}
    rows = mem_store.con.execute(
        "SELECT cascade_id, size, root_seen, depth FROM cascades"
    ).fetchall()
    assert rows == [("U2", 3, False, 2)]  # U2 (unseen) <- U1 <- X, U2 <- Y


def test_cycles_are_broken_at_the_smallest_post_id_and_recorded(mem_store):
    insert_posts(
        mem_store,
        [
            ("c1", "a", 0, "c3", "repost"),  # c1 -> c3 -> c2 -> c1
            ("c2", "b", 1, "c1", "repost"),
            ("c3", "c", 2, "c2", "repost"),
            ("c4", "d", 3, "c2", "reply"),  # hangs into the cycle
            ("s1", "e", 0, "s1", "repost"),  # a self link
        ],
    )
    run_build(mem_store)
    got = parents(mem_store)
    assert got["c1"][:3] == (None, None, 0)  # c1's link to c3 was cut
    assert got["c2"][0] == "c1" and got["c3"][0] == "c2" and got["c4"][0] == "c2"
    assert got["s1"][:3] == (None, None, 0)
    dq = mem_store.con.execute(
        "SELECT post_id, cascade_id, detail FROM data_quality WHERE issue = 'cycle_break' "
        "ORDER BY post_id"
    ).fetchall()
    assert [r[:2] for r in dq] == [("c1", "c1"), ("s1", "s1")]
    assert "c3" in dq[0][2]


def test_clock_skew_is_counted_not_fixed(mem_store):
    insert_posts(
        mem_store,
        [
            ("p", "a", 10, None, "original"),
            ("q", "b", 5, "p", "reply"),
            ("r", "c", 11, "p", "reply"),
        ],
    )
    result = run_build(mem_store)
    assert result.counts["cascades"]["clock_skew"] == 1
    assert parents(mem_store)["q"][:2] == ("p", "explicit")  # kept as given
    rows = mem_store.con.execute(
        "SELECT post_id, cascade_id, detail FROM data_quality WHERE issue = 'clock_skew'"
    ).fetchall()
    assert rows == [("q", "p", "created 300.000 s before its parent p")]
    # first_at is the earliest post, even if it is the skewed child
    first = mem_store.con.execute("SELECT time_to_50_s FROM cascades").fetchone()[0]
    assert first == 300.0  # 2 of 3 posts by minute 10


def test_every_post_is_in_exactly_one_cascade_and_counts_reconcile(mem_store):
    insert_posts(mem_store, FLAT_CASCADE + [("Z", "zed", 3, "missing", "repost")])
    run_build(mem_store)
    con = mem_store.con
    assert con.execute(
        "SELECT count(*), count(DISTINCT post_id) FROM post_cascades"
    ).fetchone() == (
        12,
        12,
    )
    # every stored post is counted once: as spread (size) or as conversation
    assert (
        con.execute("SELECT sum(size) FROM cascades").fetchone()[0]
        + con.execute("SELECT count(*) FROM post_cascades WHERE conversation").fetchone()[0]
        == 12
    )
    # a tree of n nodes has n - 1 edges (the unseen root counts as a node)
    assert (
        con.execute(
            "SELECT count(*) FILTER (WHERE parent_id IS NOT NULL) FROM post_cascades"
        ).fetchone()[0]
        == 12 - 1
    )


# --- incremental == full --------------------------------------------------------------


@st.composite
def post_sets(draw):
    n = draw(st.integers(1, 25))
    ids = [f"p{i:02d}" for i in range(n)]
    unseen = ["u0", "u1", "u2"]
    accounts = [f"a{i}" for i in range(6)]
    rows = []
    for pid in ids:
        kind = draw(st.sampled_from(["original", "repost", "repost", "quote", "reply"]))
        parent = None if kind == "original" else draw(st.sampled_from(ids + unseen))
        rows.append((pid, draw(st.sampled_from(accounts)), draw(st.integers(0, 300)), parent, kind))
    follows = draw(
        st.lists(
            st.tuples(st.sampled_from(accounts), st.sampled_from(accounts)),
            max_size=12,
            unique=True,
        )
    )
    batches = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return rows, follows, batches


def _stage(store: Store, params: CascadeParams, *, full: bool = False) -> str:
    """The cascades stage alone, in its own transaction, as run_build runs it."""
    with store.transaction():
        return "full" if cascades_stage.run(store, 1, params, full=full).full else "incremental"


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(post_sets(), st.booleans())
def test_incremental_equals_full_on_random_splits(case, infer):
    # The stage alone (the later stages recompute globally): fast enough for many examples.
    rows, follows, batches = case
    params = CascadeParams(infer=infer)
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        insert_follows(inc, follows)
        for b in range(4):
            batch = [r for r, k in zip(rows, batches, strict=True) if k == b]
            if batch:
                insert_posts(inc, batch, run_id=b + 1)
            mode = _stage(inc, params)
            if b > 0:
                assert mode == "incremental"
        insert_follows(full, follows)
        insert_posts(full, rows)
        _stage(full, params, full=True)
        for table in ("post_cascades", "cascades", "data_quality"):
            assert table_rows(inc, table) == table_rows(full, table), table


def test_incremental_equals_full_through_run_build(mem_store):
    # The same through run_build once: the flat cascade arrives in three batches,
    # its original last (so the cascade first hangs from an unseen root).
    insert_follows(mem_store, FOLLOWS)
    for batch, rows in enumerate((FLAT_CASCADE[5:], FLAT_CASCADE[1:5], FLAT_CASCADE[:1])):
        insert_posts(mem_store, rows, run_id=batch + 1)
        result = run_build(mem_store)
    assert result.mode == "incremental" and result.touched == ["O"]
    incremental = {t: table_rows(mem_store, t) for t in ("post_cascades", "cascades")}
    run_build(mem_store, full=True)
    for table, rows in incremental.items():
        assert table_rows(mem_store, table) == rows, table


def test_an_incremental_build_writes_only_the_rows_that_changed(mem_store):
    """A new reply to one leaf of a built cascade: the cascade is recomputed, but only
    the post_cascades rows whose values changed (the new post, and the ancestors whose
    reach grew) take the new build id; the other posts keep the build that wrote them."""
    insert_follows(mem_store, FOLLOWS)
    insert_posts(mem_store, FLAT_CASCADE)
    first = run_build(mem_store, params=NO_INFER).build_id
    cols = "post_id, cascade_id, parent_id, parent_source, depth, descendants"
    before = set(mem_store.con.execute(f"SELECT {cols} FROM post_cascades").fetchall())
    insert_posts(mem_store, [("R11", "lena", 11, "R5", "reply")], run_id=2)
    second = run_build(mem_store, params=NO_INFER)
    assert second.mode == "incremental" and second.touched == ["O"]
    after = set(mem_store.con.execute(f"SELECT {cols} FROM post_cascades").fetchall())
    changed = {r[0] for r in after - before}
    assert changed == {"R11", "R5", "R1", "O"}  # the reply, and the reach of its ancestors
    builds = dict(mem_store.con.execute("SELECT post_id, build_id FROM post_cascades").fetchall())
    assert {p for p, b in builds.items() if b == second.build_id} == changed
    assert {b for p, b in builds.items() if p not in changed} == {first}
    # its cascade row changed (the reply counts): rewritten with the new build
    assert mem_store.con.execute("SELECT build_id FROM cascades").fetchall() == [(second.build_id,)]


def test_build_twice_gives_identical_tables(mem_store):
    insert_posts(mem_store, FLAT_CASCADE + [("Z", "zed", 3, "missing", "repost")])
    insert_follows(mem_store, FOLLOWS)
    run_build(mem_store)
    before = {t: table_rows(mem_store, t) for t in ("post_cascades", "cascades", "data_quality")}
    second = run_build(mem_store)
    assert second.mode == "nothing-new" and second.cascades_touched == 0  # nothing new
    third = run_build(mem_store, full=True)
    assert third.mode == "full"
    for t, rows in before.items():
        assert table_rows(mem_store, t) == rows


def test_new_follows_force_a_full_rebuild(mem_store):
    insert_posts(mem_store, FLAT_CASCADE)
    run_build(mem_store)
    assert parents(mem_store)["R2"][:2] == ("O", "root")
    insert_follows(mem_store, FOLLOWS, run_id=2)
    result = run_build(mem_store)
    assert result.mode == "full"  # inferred parents anywhere may depend on a follow
    assert parents(mem_store)["R2"][:2] == ("R1", "inferred")


def test_posts_removed_behind_the_builds_back_trigger_a_full_rebuild(mem_store):
    insert_posts(mem_store, FLAT_CASCADE)
    run_build(mem_store)
    mem_store.con.execute("DELETE FROM posts WHERE post_id = 'R2'")
    result = run_build(mem_store)
    assert result.mode == "full"
    assert "R2" not in parents(mem_store)
    # 10 posts left, of which the reply R9 is conversation
    assert mem_store.con.execute("SELECT size FROM cascades").fetchall() == [(9,)]


def _ingest_run(store: Store, run_id: int) -> None:
    """Record ingest run ``run_id`` (as ingest does), so builds know which posts are new."""
    store.con.execute(
        "INSERT INTO ingest_runs (ingest_run_id, path, content_hash, format, rows_read, "
        "rows_inserted, rows_duplicate, rows_rejected, started_at, finished_at) "
        "VALUES (?, 'test', ?, 'posts', 0, 0, 0, 0, now(), now())",
        [run_id, f"hash-{run_id}"],
    )


def test_an_incremental_scope_takes_the_new_runs_posts_and_a_gap_rebuilds_in_full(mem_store):
    """The posts new to an incremental build are those of the ingest runs after the
    last finished build; an older post without its cascade row (removed behind the
    build's back) is no new post: the counts do not add up, and the build is full."""
    insert_follows(mem_store, FOLLOWS)
    insert_posts(mem_store, FLAT_CASCADE[:6], run_id=1)
    _ingest_run(mem_store, 1)
    run_build(mem_store)
    insert_posts(mem_store, FLAT_CASCADE[6:8], run_id=2)
    _ingest_run(mem_store, 2)
    second = run_build(mem_store)
    assert second.mode == "incremental" and second.touched == ["O"]
    assert second.counts["cascades"]["new_posts"] == 2
    mem_store.con.execute("DELETE FROM post_cascades WHERE post_id = 'R3'")
    insert_posts(mem_store, FLAT_CASCADE[8:], run_id=3)
    _ingest_run(mem_store, 3)
    third = run_build(mem_store)
    assert third.mode == "full"
    incremental = {t: table_rows(mem_store, t) for t in ("post_cascades", "cascades")}
    assert len(incremental["post_cascades"]) == len(FLAT_CASCADE)
    run_build(mem_store, full=True)
    for table, rows in incremental.items():
        assert table_rows(mem_store, table) == rows, table


# --- a full build in ranges of cascades == in one range ---------------------------------


def _full_stage(store: Store, params: CascadeParams, chunk_nodes: int | None) -> dict:
    with store.transaction():
        return cascades_stage.run(store, 1, params, full=True, chunk_nodes=chunk_nodes).counts


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(post_sets(), st.booleans(), st.integers(1, 6))
def test_a_full_build_in_small_ranges_of_cascades_equals_one_range(case, infer, chunk_nodes):
    # Random posts with unseen parents, cycles and self links, random follows: every
    # range holds whole cascades (a cycle with what hangs into it, an unseen root with
    # its posts), so every table and count equals the single-range build's.
    rows, follows, _ = case
    params = CascadeParams(infer=infer)
    with Store.open(":memory:") as small, Store.open(":memory:") as whole:
        for store in (small, whole):
            insert_follows(store, follows)
            insert_posts(store, rows)
        got = _full_stage(small, params, chunk_nodes)
        want = _full_stage(whole, params, 10**9)
        assert got == want
        for table in ("post_cascades", "cascades", "data_quality"):
            assert table_rows(small, table) == table_rows(whole, table), table


def test_ranges_of_cascades_on_a_hand_made_store(mem_store):
    # The flat cascade (inferred parents), a cycle with a reply hanging into it, and
    # two posts under one unseen root, in ranges of one node: 3 cascades, each whole.
    rows = FLAT_CASCADE + [
        ("c1", "a", 0, "c3", "repost"),
        ("c2", "b", 1, "c1", "repost"),
        ("c3", "c", 2, "c2", "repost"),
        ("c4", "d", 3, "c2", "reply"),
        ("x1", "e", 1, "U", "repost"),
        ("x2", "f", 2, "U", "repost"),
    ]
    insert_posts(mem_store, rows)
    insert_follows(mem_store, FOLLOWS)
    counts = _full_stage(mem_store, CascadeParams(), 1)
    assert counts["cascades_built"] == 3 and counts["cycle_breaks"] == 1
    assert counts["unseen_roots"] == 1 and counts["inferred_parents"] == 3  # R2 R3 R6
    assert parents(mem_store)["R6"][:3] == ("R5", "inferred", 3)  # as in one range
    assert parents(mem_store)["c4"][3] == "c1"  # hangs into the cycle cut at c1
    sizes = dict(mem_store.con.execute("SELECT cascade_id, size FROM cascades").fetchall())
    assert sizes == {"O": 10, "c1": 3, "U": 2}  # c4 is a reply: conversation


def test_a_full_build_sees_posts_and_follows_its_own_transaction_added(mem_store):
    # A full build reads through a second connection only when the transaction's posts
    # and follows are the committed ones; here they are not (inserted in the same
    # transaction), so it reads through the transaction and misses nothing.
    insert_posts(mem_store, FLAT_CASCADE[:3])
    with mem_store.transaction():
        insert_posts(mem_store, FLAT_CASCADE[3:], run_id=2)
        insert_follows(mem_store, FOLLOWS, run_id=2)
        counts = cascades_stage.run(mem_store, 1, full=True).counts
        assert counts["posts_in_scope"] == len(FLAT_CASCADE)
        assert counts["inferred_parents"] == 3  # R2 R3 R6: the follows were seen
    assert len(parents(mem_store)) == len(FLAT_CASCADE)

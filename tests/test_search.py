"""Search over the dashboard's read model: BM25 term index, grouped results, viewer role."""

from __future__ import annotations

import pytest

from spreadtrace.dashboard import security
from spreadtrace.dashboard.components import highlight
from spreadtrace.store import Store
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.snapshot import SnapshotReader, publish
from tests.test_dashboard_world import HOSTILE_HANDLE, make_world


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    db = tmp_path_factory.mktemp("search") / "world.duckdb"
    with Store.open(db) as store:
        make_world(store, big=300)
        publish(store)
    reader = SnapshotReader(str(db))
    with reader.lease() as (c, _sid):
        yield c
    reader.close()


def test_terms_split_like_the_index(con):
    assert dq.search_terms(con, "#Claim  https://EX.com/a claim") == [
        "claim",
        "https",
        "ex",
        "com",
        "a",
    ]
    assert dq.search_terms(con, "  <>!! ") == []


def test_every_term_required_and_bm25_ranks_the_repeated_term_first(con):
    found = dq.search(con, "claim 3")
    # posts whose text holds both "claim" and "3": cascade c003's five posts
    # ("claim 3 <i>k</i>") and the "<i>3</i>" post of each cascade with >= 4 posts.
    texts = found["posts"]["text"].to_list()
    assert all("claim" in t and "3" in t for t in texts)
    assert found["post_total"] == 5 + 10
    assert found["cascades"]["cascade_id"][0] == "c003"  # all 5 of its posts match
    assert found["cascades"]["matching_posts"][0] == 5
    assert set(found["narratives"]["narrative_id"]) == {"n1", "n2"}
    # "claim 3 <i>3</i>" holds "3" twice: the highest BM25 score
    assert texts[0] == "claim 3 <i>3</i>"


def test_ids_match_exactly(con):
    found = dq.search(con, "c001-p00000")
    assert found["posts"]["post_id"].to_list() == ["c001-p00000"]
    assert dq.search(con, "c005")["cascades"]["cascade_id"][0] == "c005"
    assert dq.search(con, "n2")["narratives"]["narrative_id"][0] == "n2"
    assert dq.search(con, "x", search="acc0007")["accounts"]["account_id"][0] == "acc0007"
    assert dq.search(con, "x", search="@user_1")["accounts"]["account_id"][0] == "acc0001"


def test_no_match_is_empty_not_an_error(con):
    found = dq.search(con, "zzzunheard")
    assert found["post_total"] == 0 and found["posts"].height == 0
    assert found["cascades"].height == 0 and found["narratives"].height == 0


def test_hostile_handle_found_as_text(con):
    found = dq.search(con, "alert", search="alert")
    assert found["accounts"]["handle"].to_list() == [HOSTILE_HANDLE]


def test_highlight_marks_terms_and_never_makes_markup():
    pieces = highlight('<script>alert("x")</script> Claim', ["claim", "script"])
    marked = [p.children for p in pieces if not isinstance(p, str)]
    assert marked == ["script", "script", "Claim"]
    assert "".join(p if isinstance(p, str) else p.children for p in pieces) == (
        '<script>alert("x")</script> Claim'
    )


def test_viewer_search_gets_pseudonyms_and_no_account_by_real_name(tmp_path):
    from spreadtrace.dashboard import queries

    db = tmp_path / "w.duckdb"
    with Store.open(db) as store:
        make_world(store, big=30)
        publish(store)
    queries.use(str(db))
    try:
        with security.as_role("viewer"):
            found = queries.run(dq.search, "claim 3", search="user_1")
        assert found["accounts"].height == 0  # a real handle confirms nobody
        assert all(p.startswith("p_") for p in found["posts"]["post_id"])
        assert all(a.startswith("acct_") for a in found["posts"]["account_id"])
        with security.as_role("analyst"):
            assert queries.run(dq.search, "claim", search="user_1")["accounts"].height > 0
    finally:
        queries.reader().close()


def test_cluster_evidence_is_the_closest_co_shares_of_each_pair(con):
    from datetime import datetime

    ev = dq.cluster_evidence(con, "k1")
    assert ev.height > 0
    posts = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT post_id, account_id, root_id, created_at FROM posts"
        ).fetchall()
    }
    pairs = set(
        con.execute(
            "SELECT account_a, account_b FROM coordination_pairs WHERE cluster_id = 'k1'"
        ).fetchall()
    )
    for r in ev.iter_rows(named=True):
        assert (r["account_a"], r["account_b"]) in pairs
        acc_a, root_a, at_a = posts[r["post_a"]]
        acc_b, root_b, at_b = posts[r["post_b"]]
        assert (acc_a, acc_b) == (r["account_a"], r["account_b"])
        assert r["root_id"] == root_a == root_b and r["item_url"] is None
        assert r["gap_s"] == abs((at_a - at_b).total_seconds())
        # brute force: no closer pair of shares of this item by these two accounts
        times_a = [
            p[2]
            for p in posts.values()
            if p[0] == acc_a and p[1] == r["root_id"] and p[2] is not None
        ]
        times_b = [p[2] for p in posts.values() if p[0] == acc_b and p[1] == r["root_id"]]
        assert r["gap_s"] <= min(abs((x - y).total_seconds()) for x in times_a for y in times_b)
        assert isinstance(at_a, datetime)


def test_groups_are_ranked_over_the_best_matches_and_the_page_says_so(con, monkeypatch):
    # With a basis of 3 posts, the 15 matches of "claim 3" rank the groups over the
    # best 3 (BM25) only; the page states the basis when there are more matches.
    monkeypatch.setattr(dq, "SEARCH_BASIS", 3)
    found = dq.search(con, "claim 3")
    assert found["post_total"] == 15 and found["basis"] == 3
    assert sum(found["cascades"]["matching_posts"]) == 3
    assert found["posts"].height == 3  # a page of posts never exceeds what was ranked


@pytest.mark.parametrize("q", ["claim", "claim 3"])
def test_bm25_scores_equal_a_brute_force_reference(con, q):
    """The index query (one-word queries take a path without grouping) against BM25
    computed row by row in Python from the same term index: same posts, same scores."""
    import math

    terms = dq.search_terms(con, q)
    rows = con.execute(
        "SELECT term, post_id, tf, len FROM dash_search_terms JOIN dash_post_rows USING (doc) "
        "WHERE term IN "
        f"({', '.join('?' for _ in terms)})",
        terms,
    ).fetchall()
    n, avgdl = con.execute("SELECT n, avgdl FROM dash_search_stats").fetchone()
    df = {t: sum(1 for r in rows if r[0] == t) for t in terms}
    k1, b = dq._BM25_K1, dq._BM25_B
    score: dict[str, float] = {}
    seen: dict[str, int] = {}
    for term, post, tf, dl in rows:
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        score[post] = score.get(post, 0.0) + idf * tf * (k1 + 1) / (
            tf + k1 * (1 - b + b * dl / avgdl)
        )
        seen[post] = seen.get(post, 0) + 1
    expected = {p: s for p, s in score.items() if seen[p] == len(terms)}
    total, best = dq._search_post_ids(con, q, terms, 1000)
    assert total == len(expected) > 0
    assert {p: round(s, 9) for p, s in best} == {p: round(s, 9) for p, s in expected.items()}
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)


def test_pl_reads_a_db_api_result_since_the_copy_free_paths_do_not_fit():
    # Pins why dashboard_queries._pl takes a DB-API result (see its docstring): with
    # DuckDB 2.0.1 a connection has no .pl(), and the relation path refuses to run
    # while a fetchone() of a one-row count is still open on the connection.
    import duckdb

    c = duckdb.connect()
    assert not hasattr(c.execute("SELECT 1"), "pl")
    assert not hasattr(c, "fetch_arrow_table")
    assert c.execute("SELECT 41").fetchone() == (41,)  # a count, left unfinished
    with pytest.raises(duckdb.Error, match="unfinished result"):
        c.sql("SELECT 1 AS a").pl()
    c.execute("SELECT 42").fetchone()
    assert dq._pl(c.execute("SELECT ? AS a", [7])).to_dicts() == [{"a": 7}]
    c.close()


# Today's account search, a scan of every handle and name: the reference the gram index
# must reproduce row for row (same match, same order, same limit).
_ACCOUNT_SCAN = """
    SELECT a.account_id, a.handle, a.display_name, s.posts, s.bot_state
    FROM accounts a LEFT JOIN dash_accounts s USING (account_id)
    WHERE ? <> '' AND (a.account_id = ? OR contains(lower(a.handle), ?)
                       OR contains(lower(a.display_name), ?))
    ORDER BY (a.account_id = ?) DESC, (lower(a.handle) = ?) DESC,
             s.posts DESC NULLS LAST, a.account_id
    LIMIT ?
"""
# upper/lower pairs whose case mapping changes length or is special, a combining
# accent, an emoji: the pieces of a handle are characters, not bytes
_ALPHABET = list("abAB_xX1") + ["İ", "i", "ı", "ß", "ẞ", "\u0301", "é", "😀", "Σ", "ς"]


@pytest.fixture(scope="module")
def accounts_con(tmp_path_factory):
    import random
    from datetime import UTC, datetime

    rng = random.Random(11)
    db = tmp_path_factory.mktemp("account_search") / "world.duckdb"
    names = []
    with Store.open(db) as store:
        make_world(store, big=30)
        rows = []
        for i in range(600):
            handle = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 9)))
            if i % 5 == 0:
                handle = rng.choice(["User_1", "USER_", "xuser_3"]) + handle
            name = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
            rows.append(
                (
                    f"r{i:04d}",
                    datetime(2024, 1, 1, tzinfo=UTC),
                    None if i % 17 == 0 else handle,
                    None if i % 13 == 0 else name,
                    "x",
                    1,
                )
            )
            names += [handle, name]
        store.con.executemany(
            "INSERT INTO accounts (account_id, observed_at, handle, display_name, platform, "
            "ingest_run_id) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        publish(store)
    reader = SnapshotReader(str(db))
    with reader.lease() as (c, _sid):
        yield c, names
    reader.close()


def _queries(names, seed):
    import random

    rng = random.Random(seed)
    out = ["", "@", " ", "zzz", "acc0003", "r0042", "@r0042", "user_1", "@USER_1", "USER_"]
    for _ in range(150):
        text = rng.choice([n for n in names if n])
        start = rng.randrange(len(text))
        piece = text[start : start + rng.randint(1, 6)]
        piece = rng.choice([piece, piece.upper(), piece.lower(), piece.swapcase()])
        out.append(rng.choice(["", "@", " "]) + piece)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_account_search_by_gram_index_equals_the_scan(accounts_con, seed):
    con, names = accounts_con
    indexed = 0
    for q in _queries(names, seed):
        who = q.strip()
        handle = who.removeprefix("@").lower()
        for limit in (20, 3):
            scan = con.execute(
                _ACCOUNT_SCAN, [handle, who, handle, handle, who, handle, limit]
            ).fetchall()
            got = dq._search_accounts(con, q, limit)
            assert got.rows() == scan, q
            assert dq.search(con, "", search=q, limit=limit)["accounts"].rows() == scan
        indexed += len(handle) >= 3
    assert indexed > 30  # the index path ran, not only the short-query scan


def test_account_grams_index_every_piece_of_handles_and_names(accounts_con):
    # brute force: the index's rows are exactly the 3-character pieces of each lowered
    # handle and display name (DuckDB's lower; pieces by character), with the account's
    # own handle, name, posts and bot state; the counts count them
    con, _ = accounts_con
    rows = con.execute(
        "SELECT lower(a.handle), lower(a.display_name), a.account_id, a.handle, "
        "a.display_name, s.posts, s.bot_state "
        "FROM accounts a LEFT JOIN dash_accounts s USING (account_id)"
    ).fetchall()
    expected = {
        (t[i : i + 3], *row[2:]) for row in rows for t in row[:2] if t for i in range(len(t) - 2)
    }
    got = con.execute(
        "SELECT gram, account_id, handle, display_name, posts, bot_state FROM dash_account_grams"
    ).fetchall()
    assert len(got) == len(expected) and set(got) == expected
    counts = {}
    for gram, *_ in expected:
        counts[gram] = counts.get(gram, 0) + 1
    assert dict(con.execute("SELECT * FROM dash_account_gram_counts").fetchall()) == counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ties_across_ingest_runs_go_to_the_smaller_post_id(tmp_path, seed):
    """The index numbers posts per ingest run (``doc`` sorts like post_id only within a
    run). Posts of four runs with interleaved ids and many equal scores: the best
    ``top`` must still be the first ``top`` by (score desc, post_id), as a brute-force
    sort of every match gives, for every ``top`` and for an exact post id query."""
    import random

    rng = random.Random(seed)
    db = tmp_path / "ties.duckdb"
    with Store.open(db) as store:
        ids = rng.sample(range(10_000, 99_999), 240)
        for i, pid in enumerate(ids):  # same text length: many exact ties
            words = rng.choice(["alpha beta", "alpha alpha", "beta gamma", "alpha gamma"])
            store.con.execute(
                "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, "
                "ingest_run_id) VALUES (?, 'a', TIMESTAMPTZ '2024-01-01 00:00:00+00', "
                "'original', ?, 'x', ?)",
                [f"p{pid}", words, 1 + i % 4],
            )
        publish(store)
    reader = SnapshotReader(str(db))
    with reader.lease() as (c, _sid):
        for q in ("alpha", "alpha beta", "gamma", f"p{ids[7]}", "alpha zzz"):
            terms = dq.search_terms(c, q)
            total, every = dq._search_post_ids(c, q, terms, 10_000)
            assert every == sorted(every, key=lambda r: (-r[1], r[0]))  # reference order
            assert total == len(every)
            for top in (1, 3, 17, 60, 500):
                assert dq._search_post_ids(c, q, terms, top) == (total, every[:top]), (q, top)
    reader.close()

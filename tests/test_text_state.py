"""The items stage's stored near-duplicate state (issue 12): incremental text items equal
the from-scratch reference :func:`spreadtrace.graph.narratives.text_items` after every build.

Texts are variants of a few templates over a small vocabulary, so LSH buckets are
shared across batches: a new text often joins a stored bucket, and a text that sorts
before the stored ones becomes a bucket's new head (every star pair of that bucket
changes). Reposts of originals not yet stored carry text and are their cascade's
content root until the original arrives, when the root's row must go.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.graph.narratives import (
    band_keys,
    bucket_star_pairs,
    norm_band_keys,
    norm_signatures,
    shared_bucket_rows,
    text_items,
)
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.store import narratives as narrative_sql

T0 = datetime(2024, 3, 1, tzinfo=UTC)
WORDS = "the mayor rigged vote count in city hall last night again ballots".split()


def _insert(store: Store, rows: list[tuple]) -> None:
    """rows: (post_id, account_id, minute, parent_id | None, text | None)."""
    new_posts = pa.table(  # noqa: F841 (read by DuckDB by name)
        {
            "post_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "created_at": pa.array(
                [T0 + timedelta(minutes=r[2]) for r in rows], pa.timestamp("us", tz="UTC")
            ),
            "parent_id": pa.array([r[3] for r in rows], pa.string()),
            "kind": ["repost" if r[3] else "original" for r in rows],
            "text": pa.array([r[4] for r in rows], pa.string()),
            "platform": ["test"] * len(rows),
            "ingest_run_id": [1] * len(rows),
        }
    )
    store.con.execute("INSERT INTO posts BY NAME SELECT * FROM new_posts")


def _world(seed: int, n: int) -> list[tuple]:
    """n posts: template variants (some too short to count), reposts, late originals."""
    rng = np.random.default_rng(seed)
    templates = [rng.choice(WORDS, size=9) for _ in range(3)]
    rows: list[tuple] = []
    for k in range(n):
        pid = f"p{k:04d}"
        roll = rng.random()
        if roll < 0.25 and rows:  # a repost of a stored or a not-yet-stored post
            target = int(rng.integers(0, n))
            text = None if rng.random() < 0.5 else " ".join(rng.choice(WORDS, size=6))
            rows.append((pid, f"a{k % 7}", k, f"p{target:04d}", text))
            continue
        words = list(templates[int(rng.integers(0, 3))])
        for _ in range(int(rng.integers(0, 4))):
            words[int(rng.integers(0, len(words)))] = str(rng.choice(WORDS))
        if rng.random() < 0.15:
            words = words[:3]  # too short to be evidence
        rows.append(
            (pid, f"a{k % 7}", k, None, " ".join(words).upper() if k % 5 else " ".join(words))
        )
    return rows


def _text_rows(store: Store) -> list[tuple]:
    return sorted(
        store.con.execute(
            "SELECT post_id, item_id FROM post_items WHERE item_id LIKE 'text:%'"
        ).fetchall()
    )


def _reference(store: Store) -> list[tuple]:
    roots = narrative_sql.content_roots(store.con)
    return sorted(text_items(roots).rows())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(20, 80), batches=st.integers(2, 5))
def test_incremental_text_items_equal_the_reference_after_every_build(seed, n, batches):
    rows = _world(seed, n)
    order = np.random.default_rng(seed + 1).permutation(n)  # arrival order is random
    parts = np.array_split(order, batches)
    with Store.open(":memory:") as store:
        for part in parts:
            _insert(store, [rows[i] for i in part])
            run_build(store, publish=False)
            assert _text_rows(store) == _reference(store)
        # the state equals one rebuilt from scratch (a full build empties it first)
        state = {
            t: sorted(store.con.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("text_norms", "text_pairs")
        }
        run_build(store, full=True, publish=False)
        assert _text_rows(store) == _reference(store)
        for table, before in state.items():
            assert sorted(store.con.execute(f"SELECT * FROM {table}").fetchall()) == before


def test_a_new_smallest_text_becomes_the_buckets_head():
    # "a ..." sorts before "the ...": the second build must re-pair the whole bucket
    base = "the mayor rigged the vote count in city hall"
    with Store.open(":memory:") as store:
        _insert(store, [("p1", "x", 0, None, base), ("p2", "y", 1, None, base + " again")])
        run_build(store, publish=False)
        heads = store.con.execute("SELECT DISTINCT norm_a FROM text_pairs").fetchall()
        assert heads == [(base,)]
        _insert(store, [("p3", "z", 2, None, "a " + base)])
        run_build(store, publish=False)
        heads = store.con.execute("SELECT DISTINCT norm_a FROM text_pairs").fetchall()
        assert ("a " + base,) in heads
        assert _text_rows(store) == _reference(store)
        assert {r[1] for r in _text_rows(store)} == {"text:p1"}  # one group, earliest post


def test_bucket_star_pairs_match_a_brute_force_over_buckets():
    # every bucket: its smallest row paired with each member that agrees enough
    rng = np.random.default_rng(5)
    sig = rng.integers(0, 3, size=(40, 8)).astype(np.uint32)
    keys = rng.integers(0, 4, size=(40, 2)).astype(np.uint64)
    got = {tuple(t) for t in bucket_star_pairs(sig, keys, threshold=0.5).tolist()}
    want = set()
    for band in range(2):
        for key in np.unique(keys[:, band]):
            members = np.flatnonzero(keys[:, band] == key)
            head = members.min()
            for j in members[members != head]:
                if (sig[head] == sig[j]).mean() >= 0.5:
                    want.add((band, int(head), int(j)))
    assert got == want and got


def test_star_pairs_from_the_shared_rows_signatures_alone_are_the_same():
    # the items stage keeps keys for every text but signs again only the rows that share
    # a bucket (bounded memory, issue 12); pairs verified in blocks of 3: the same triples
    rng = np.random.default_rng(11)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 9)))) for _ in range(300)]
    norms = pl.Series(sorted(set(texts)))
    sig = norm_signatures(norms, num_perm=16)
    keys = band_keys(sig, bands=4, rows=4)
    assert (norm_band_keys(norms, num_perm=16, bands=4, rows=4, chunk=7) == keys).all()
    held = shared_bucket_rows(keys)
    assert 0 < len(held) < len(norms)  # some rows alone in every band: their sigs not needed
    want = bucket_star_pairs(sig, keys, threshold=0.5)
    got = bucket_star_pairs(sig[held], keys, threshold=0.5, held=held, block=3)
    assert len(want) > 0 and (got == want).all()


def test_a_trickle_hashes_and_regroups_only_what_it_reaches():
    """A build after one new near-duplicate hashes that text alone and re-forms only the
    group it joins (its roots and the new one), not every stored root's group."""
    topics = [" ".join(np.random.default_rng(k).choice(WORDS, size=9)) for k in range(40)]
    with Store.open(":memory:") as store:
        _insert(store, [(f"p{k:03d}", f"a{k}", k, None, topics[k % 40]) for k in range(120)])
        run_build(store, publish=False)
        _insert(store, [("q1", "b", 500, None, topics[7])])  # joins the group of topic 7
        result = run_build(store, publish=False)
        assert result.mode == "incremental"
        items = result.counts["items"]
        assert items["texts_hashed"] == 1
        # topic 7's three stored roots and the new one, against 121 roots in all
        assert items["text_region_roots"] == 4
        assert _text_rows(store) == _reference(store)
        assert ("q1", "text:p007") in _text_rows(store)

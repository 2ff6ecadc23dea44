"""Item origins from stored parts (issue 12): an incremental build loads the trees of the
cascades whose parts may change, not every cascade of an item that grew, and still
equals a full build on every derived table, the parts included
(:mod:`spreadtrace.store.origin_state`).

- a topic hashtag on a dozen cascades gains a deep repost in one of them: only that
  cascade's tree is loaded, the item is re-ranked from its parts;
- a hashtag one account posted on six cascades (not ranked; a topic, so no narrative
  links them) is posted by a second account: it is ranked for the first time, from
  all seven cascades;
- a media group absorbs another (a new picture close to both): the absorbed group's
  posts carry the other item now, in cascades no new post touches;
- a store migrated from schema 7 (no parts yet) takes the global path once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.test_cascades_support import table_rows
from tests.test_incremental import DERIVED
from tests.test_incremental_narratives import (
    T0,
    _builds,
    _post,
    _story,
    _write_rows,
)


def _distinct(k: int) -> str:
    """A text of its own (no near-duplicate of another: no text item links roots)."""
    return f"story {k} " + " ".join(f"w{k}x{j}" for j in range(8))


def _topic_case() -> list[list[list[str]]]:
    """#news on 12 roots by 12 accounts, each reposted twice, and a repost of a repost;
    then one deeper repost in n3 (its author's reach there grows)."""
    first: list[list[str]] = []
    for k in range(12):
        first += _story(f"n{k}", f"a{k}", 10 * k, _distinct(k), "news", [f"f{k}", f"g{k}"])
        first += [_post(f"n{k}-d", f"h{k}", 10 * k + 30, f"n{k}-r0")]
    second = [_post("n3-late", "late", 900, "n3-d")]
    return [first, second]


def _news_origins(store: Store) -> list[tuple]:
    return store.con.execute(
        "SELECT account_id, rank, origin_score, reach_share FROM item_origin_scores "
        "WHERE item_id = 'hashtag:news' ORDER BY rank"
    ).fetchall()


def _part_cascades(store: Store, item_id: str) -> set[str]:
    rows = store.con.execute(
        "SELECT DISTINCT cascade_id FROM item_origin_parts WHERE item_id = ?", [item_id]
    ).fetchall()
    return {r[0] for r in rows}


def _assert_equals_full(inc: Store, batches: list, tmp_path: Path) -> None:
    with Store.open(":memory:") as full:
        _builds(full, [[row for batch in batches for row in batch]], tmp_path, "full")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_a_grown_topic_item_is_reranked_from_its_parts_without_its_other_trees(tmp_path):
    batches = _topic_case()
    with Store.open(":memory:") as inc:
        _builds(inc, batches[:1], tmp_path, "inc")
        before = _news_origins(inc)
        assert len(before) == 3  # ranked: 12 accounts posted it
        assert _part_cascades(inc, "hashtag:news") == {f"n{k}" for k in range(12)}
        (result,) = _builds(inc, batches[1:], tmp_path, "inc-1")
        counts = result.counts["narratives"]
        assert result.mode == "incremental" and counts["incremental"] is True
        assert result.touched == ["n3"]
        # the forest: n3 (and its narrative's cascades), not the item's 12 cascades
        assert counts["forest_cascades"] <= 2
        assert counts["item_parts_changed"] == 1 and counts["items_reranked"] == 1
        # the new post moved the item's ranking (else this tests nothing)
        assert _news_origins(inc) != before
        _assert_equals_full(inc, batches, tmp_path)


def _newly_ranked_case() -> list[list[list[str]]]:
    """solo posts #lonely on six roots (reposted: the shares carry it, but one account
    posted it, so it is not ranked; on more roots than the cap of 5, it links none);
    then other posts it on a new root."""
    first: list[list[str]] = []
    for k in range(6):
        first += _story(f"s{k}", "solo", 20 * k, _distinct(20 + k), "lonely", [f"fan{k}"])
    first += _story("z0", "zed", 5, _distinct(40), "", ["fan9"])
    second = _story("s9", "other", 400, _distinct(29), "lonely", ["fan8"])
    return [first, second]


def test_an_item_ranked_for_the_first_time_gets_the_parts_of_all_its_cascades(tmp_path):
    batches = _newly_ranked_case()
    with Store.open(":memory:") as inc:
        _builds(inc, batches[:1], tmp_path, "inc")
        assert _part_cascades(inc, "hashtag:lonely") == set()
        (result,) = _builds(inc, batches[1:], tmp_path, "inc-1")
        assert result.counts["narratives"]["incremental"] is True
        old = {f"s{k}" for k in range(6)}
        assert not old & set(result.touched or [])
        # each is a narrative of its own (a topic hashtag links no roots): the new
        # root's narrative does not reach them
        narratives = inc.con.execute(
            "SELECT count(DISTINCT narrative_id), count(*) FROM post_narratives "
            "WHERE post_id IN ('s0', 's1', 's2', 's3', 's4', 's5', 's9')"
        ).fetchone()
        assert narratives == (7, 7)
        # its untouched cascades were loaded for it: it is ranked over all seven
        assert _part_cascades(inc, "hashtag:lonely") == old | {"s9"}
        ranked = inc.con.execute(
            "SELECT account_id FROM item_origin_scores WHERE item_id = 'hashtag:lonely' "
            "ORDER BY rank"
        ).fetchall()
        # solo first (earliest, most reach), then the shares of its first cascades
        assert ranked == [("solo",), ("fan0",), ("fan1",)]
        _assert_equals_full(inc, batches, tmp_path)


def _pdq(bits: list[int]) -> str:
    value = 0
    for b in bits:
        value ^= 1 << b
    return f"pdq:{value:064x}"


def _media_rows() -> list[list[list[str]]]:
    """Group A: six roots with pictures 2 bits apart, group B: six more, 42 bits from A
    (a PDQ match is within 31); each root by its own account, reposted. Then a picture
    22 bits from both: one group, named by its smallest id, A's (B's item is gone)."""

    def at(minutes: float) -> str:
        return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def root(pid: str, acc: str, minutes: float, media: str) -> list[list[str]]:
        text = _distinct(100 + int(minutes))
        return [
            [pid, acc, at(minutes), "", "original", text, "", "", media],
            [f"{pid}-r", f"fan-{pid}", at(minutes + 5), pid, "repost", "", "", "", ""],
        ]

    first: list[list[str]] = []
    for k in range(6):
        first += root(f"ma{k}", f"pa{k}", 10 * k, _pdq([100 + k]))
        first += root(f"mb{k}", f"pb{k}", 10 * k + 3, _pdq([*range(40), 150 + k]))
    second = root("mm", "pm", 500, _pdq([*range(20), 250]))
    return [first, second]


def test_a_media_group_that_absorbs_another_moves_the_absorbed_parts(tmp_path):
    batches = _media_rows()
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        ingest_file(inc, _write_rows(tmp_path / "inc-0.csv", batches[0]), format="posts")
        run_build(inc, publish=False)
        items = inc.con.execute(
            "SELECT DISTINCT item_id FROM item_origin_parts WHERE item_id LIKE 'media:%'"
        ).fetchall()
        assert len(items) == 2  # A and B, each ranked (six accounts)
        a_item = _pdq([100])
        ingest_file(inc, _write_rows(tmp_path / "inc-1.csv", batches[1]), format="posts")
        result = run_build(inc, publish=False)
        assert result.counts["narratives"]["incremental"] is True
        b_roots = {f"mb{k}" for k in range(6)}
        assert not b_roots & set(result.touched or [])
        # B's posts carry A's item now, written by this build
        moved = inc.con.execute(
            "SELECT count(*) FROM post_items WHERE post_id LIKE 'mb%' AND item_id = ? "
            "AND build_id = ?",
            [f"media:{a_item}", result.build_id],
        ).fetchone()[0]
        assert moved == 6
        cascades = _part_cascades(inc, f"media:{a_item}")
        assert b_roots | {"mm", "ma0"} <= cascades
        all_rows = [row for batch in batches for row in batch]
        ingest_file(full, _write_rows(tmp_path / "full.csv", all_rows), format="posts")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_a_store_migrated_from_schema_7_builds_its_parts_on_the_next_build(tmp_path):
    """A version-7 store with a finished build has no parts and no record of them: the
    next build's narratives stage takes its global path, stores every part, and the one
    after is incremental again; all equal a full build."""
    batches = _topic_case()
    later = [[_post("n5-late", "late2", 950, "n5")]]
    db = tmp_path / "store.duckdb"
    with Store.open(str(db)) as inc:
        _builds(inc, batches[:1], tmp_path, "inc")
    con = duckdb.connect(str(db))  # back to version 7, as written before the parts
    con.execute("DROP TABLE item_origin_parts")
    con.execute("DELETE FROM meta WHERE key = 'item_origin_parts'")
    con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    con.close()
    with Store.open(str(db)) as inc:  # opening migrates to 8: an empty parts table
        assert inc.con.execute("SELECT count(*) FROM item_origin_parts").fetchone()[0] == 0
        (second,) = _builds(inc, batches[1:], tmp_path, "inc-1")
        assert second.mode == "incremental"
        assert second.counts["narratives"]["incremental"] is False
        assert len(_part_cascades(inc, "hashtag:news")) == 12
        (third,) = _builds(inc, later, tmp_path, "inc-2")
        assert third.counts["narratives"]["incremental"] is True
        _assert_equals_full(inc, [*batches, *later], tmp_path)

"""The narratives stage's incremental path on hand-made batches: each case changes the
results of cascades that no new post touches, and the incremental build must still
equal a full build on every derived table (issue 12, part 1).

- an account turns coordinated (its old shares' cascades are rescored);
- a new root links two existing narratives by their hashtags (untouched cascades change
  narrative);
- a hashtag crosses its cap (a topic now, its narrative dissolves).

The grouping itself is incremental too (only the closure of the changed roots is
regrouped, :mod:`spreadtrace.store.narrative_state`): a random world dense in shared
evidence (articles with tracking variants, shortened links, near-duplicate texts,
hashtags crossing their cap, near-duplicate pictures, cascades that grow, originals
arriving after their reposts) is ingested in random batches, and every derived table,
the grouping's state included, must equal a full build's.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import networkx as nx
import numpy as np
import polars as pl
import pytest

from spreadtrace.graph.narratives import group_narratives, grouping_cap
from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline.build import BuildParams, BuildResult, run_build
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.store import Store
from spreadtrace.store.erasure import drop_posts_before
from tests.test_cascades_support import insert_follows, table_rows
from tests.test_incremental import DERIVED

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
HEADER = ["post_id", "account_id", "created_at", "parent_id", "kind", "text", "hashtags"]
TEXTS = [
    "the harbour bridge will close for repairs all of next spring",
    "council votes to raise parking fees downtown once again this year",
    "new bus line to the airport opens on monday with free rides",
    "library extends opening hours during the exam weeks in june",
    "river festival moves to the old market square after flooding",
    "school meals will be free for every pupil from september",
    "the city zoo welcomes two red pandas from a breeding program",
]


def _post(pid: str, acc: str, minutes: float, parent: str = "", text: str = "", tags: str = ""):
    at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [pid, acc, at, parent, "repost" if parent else "original", text, tags]


def _story(pid: str, acc: str, minutes: float, text: str, tags: str = "", reposters=()):
    """A root and its reposts (each a few minutes apart, by ``reposters``)."""
    rows = [_post(pid, acc, minutes, text=text, tags=tags)]
    rows += [_post(f"{pid}-r{i}", a, minutes + 7 * (i + 1), pid) for i, a in enumerate(reposters)]
    return rows


def _coordinated_case() -> list[list[list[str]]]:
    """c1 and c2 reshare x0 40 minutes apart; then they reshare three new stories within
    seconds of each other: a coordinated pair, whose old shares are in x0's cascade (and
    c1's own old post carries #ownclaim: that item's coordinated share moves)."""
    first = _story("x0", "author", 0, TEXTS[0], "bridgefix", ["c1", "u1", "u2", "c2"])
    first += _story("p1", "c1", 50, TEXTS[2], "ownclaim", ["u5"])
    first += _story("w0", "writer", 5, TEXTS[3], "", ["u3", "u4"])
    for k in range(40):  # background sharing: co-shares by chance are rare (NPMI)
        first += _story(f"bg{k}", f"bga{k}", 20 + k, f"background item {k}", "", [f"bgb{k}"])
    second = []
    for k, story in enumerate(("y0", "z0", "v0")):
        at = 600 + 60 * k
        second += _story(story, f"src{k}", at, TEXTS[4 + k], "", [])
        second += [_post(f"{story}-c1", "c1", at + 0.05, story)]
        second += [_post(f"{story}-c2", "c2", at + 0.1, story)]
    return [first, second]


def _link_case() -> list[list[list[str]]]:
    """Two stories, each with its own rare hashtag; a new root carries both."""
    first = _story("a0", "ann", 0, TEXTS[0], "bridgefix", ["u1", "u2"])
    first += _story("b0", "bob", 30, TEXTS[1], "parkfee", ["u3", "u4"])
    first += _story("n0", "noise", 60, TEXTS[3], "", ["u5"])
    second = _story("l0", "cat", 300, TEXTS[2], "bridgefix parkfee", ["u6"])
    return [first, second]


def _cap_case() -> list[list[list[str]]]:
    """Five roots share a hashtag (at the cap of 5: a narrative); a sixth makes it a topic."""
    first = []
    for k in range(5):
        first += _story(f"k{k}", f"poster{k}", 10 * k, TEXTS[k], "kappa", [f"fan{k}"])
    second = _story("k5", "poster5", 100, TEXTS[5], "kappa", ["fan5"])
    return [first, second]


CASES = {"coordinated": _coordinated_case, "link": _link_case, "cap": _cap_case}


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _builds(store: Store, batches: list[list[list[str]]], tmp: Path, tag: str) -> list:
    """Ingest each batch as its own file, a build after each; the results."""
    results: list[BuildResult] = []
    for b, rows in enumerate(batches):
        ingest_file(store, _write(tmp / f"{tag}-{b}.csv", rows), format="posts")
        results.append(run_build(store, publish=False))
    return results


def _narrative_of(store: Store, cascade_id: str) -> str | None:
    row = store.con.execute(
        "SELECT narrative_id FROM post_narratives WHERE post_id = ?", [cascade_id]
    ).fetchall()
    return row[0][0] if row else None


def _item_shares(store: Store, item_id: str) -> list[tuple]:
    return store.con.execute(
        "SELECT bot_share, coordinated_share FROM items WHERE item_id = ?", [item_id]
    ).fetchall()


def _cascade_score(store: Store, cascade_id: str) -> tuple:
    return store.con.execute(
        "SELECT coordinated_share, amplification_score FROM cascade_scores WHERE cascade_id = ?",
        [cascade_id],
    ).fetchall()[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_incremental_build_equals_a_full_build_when_untouched_cascades_change(tmp_path, case):
    batches = CASES[case]()
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        before: dict[str, object] = {}
        ingest_file(inc, _write(tmp_path / "inc-0.csv", batches[0]), format="posts")
        run_build(inc, publish=False)
        before = {
            "x0": _cascade_score(inc, "x0") if case == "coordinated" else None,
            "own": _item_shares(inc, "hashtag:ownclaim"),
            "a0": _narrative_of(inc, "a0"),
            "b0": _narrative_of(inc, "b0"),
            "k0": _narrative_of(inc, "k0"),
            "k1": _narrative_of(inc, "k1"),
        }
        ingest_file(inc, _write(tmp_path / "inc-1.csv", batches[1]), format="posts")
        result = run_build(inc, publish=False)
        assert result.mode == "incremental"
        assert result.counts["narratives"]["incremental"] is True
        # the case did change a result no new post touches (else it tests nothing)
        if case == "coordinated":
            coordinated = {
                r[0]
                for r in inc.con.execute("SELECT account_id FROM coordination_clusters").fetchall()
            }
            assert {"c1", "c2"} <= coordinated
            assert result.counts["narratives"]["flags_changed"] >= 2
            assert "x0" not in (result.touched or [])
            assert _cascade_score(inc, "x0") != before["x0"]
            # no new post carries c1's #ownclaim: its share moves with c1's flag alone
            assert before["own"] == [(0.0, 0.0)]
            assert _item_shares(inc, "hashtag:ownclaim")[0][1] == 1.0  # coordinated now
        elif case == "link":
            assert before["a0"] != before["b0"]
            assert _narrative_of(inc, "a0") == _narrative_of(inc, "b0") is not None
        else:
            assert before["k0"] == before["k1"] is not None
            assert _narrative_of(inc, "k1") != before["k1"]  # n-k0 lost k1 .. k4
        _builds(full, [[row for batch in batches for row in batch]], tmp_path, "full")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_a_build_after_posts_left_the_store_recomputes_every_narrative(tmp_path):
    """Retention dropped posts (a reply to a narrative's post may be among them, and
    nothing left points to its narrative): the stage takes its global path, and equals
    a full build."""
    first, second = _link_case()
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        _builds(inc, [first], tmp_path, "inc")
        dropped = drop_posts_before(inc, T0 + timedelta(minutes=20))  # a0 and its shares
        assert dropped == 3
        (result,) = _builds(inc, [second], tmp_path, "inc-after")
        assert result.counts["narratives"]["incremental"] is False
        kept = [r for r in first if r[0] not in {"a0", "a0-r0", "a0-r1"}]
        _builds(full, [kept + second], tmp_path, "full")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


# -- random batches over a world dense in shared evidence -----------------------------

_RHEADER = ["post_id", "account_id", "created_at", "parent_id", "kind", "text", "hashtags",
            "urls", "media"]  # fmt: skip
_ARTICLES = [f"https://news{k % 3}.example/2024/{100 + k}/story-{k}" for k in range(12)]
_SHORT = ["https://bit.ly/abc1", "https://bit.ly/abc2", "https://t.co/zz9"]
_TAGS = ["bridgefix", "parkfee", "busline", "zoo", "kappa", "exam", "flood", "vote"]
_VOCAB = [f"word{i}" for i in range(300)]


def _pdq(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), size=64))


def _random_world(seed: int, roots: int = 90) -> list[list[str]]:
    """Rows of a world where roots often share evidence (pools of articles, shortened
    links, texts with one-word edits, skewed hashtags, near-identical pictures)."""
    rng = np.random.default_rng(seed)
    images = [_pdq(rng) for _ in range(3)]
    rows: list[list[str]] = []

    def at(minutes: float) -> str:
        return (T0 + timedelta(minutes=float(minutes))).strftime("%Y-%m-%dT%H:%M:%SZ")

    for k in range(roots):
        t = float(rng.uniform(0, 2000))
        if rng.random() < 0.3:  # a story's text, maybe with a one-word edit
            words = TEXTS[int(rng.integers(0, len(TEXTS)))].split()
            if rng.random() < 0.4:
                words[int(rng.integers(0, len(words)))] = f"edit{int(rng.integers(0, 5))}"
        else:  # a text of its own
            words = list(rng.choice(_VOCAB, size=10))
        text = " ".join(words) if rng.random() < 0.9 else f"short {k}"
        urls = []
        if rng.random() < 0.3:
            url = _ARTICLES[int(rng.integers(0, len(_ARTICLES)))]
            urls.append(url + ("?utm_source=x" if rng.random() < 0.3 else ""))
        if rng.random() < 0.1:
            urls.append(_SHORT[int(rng.integers(0, len(_SHORT)))])
        if rng.random() < 0.05:
            urls.append(_ARTICLES[int(rng.integers(0, len(_ARTICLES)))])
        # skewed: the first tags are on more roots than the cap of 5, in some batches
        tags = {_TAGS[min(int(rng.geometric(0.3)) - 1, len(_TAGS) - 1)]
                for _ in range(int(rng.geometric(0.6)) - 1)}  # fmt: skip
        media = ""
        if rng.random() < 0.15:
            image = images[int(rng.integers(0, len(images)))]
            value = int(image, 16) ^ (1 << int(rng.integers(0, 256)))  # a re-encoded copy
            media = f"pdq:{value:064x}"
        root = f"r{k}"
        rows.append([root, f"acc{int(rng.integers(0, 40))}", at(t), "", "original", text,
                     " ".join(sorted(tags)), " ".join(urls), media])  # fmt: skip
        for j in range(int(rng.integers(0, 4))):
            rows.append([f"{root}-s{j}", f"fan{int(rng.integers(0, 60))}",
                         at(t + rng.uniform(1, 300)), root, "repost", "", "", "", ""])  # fmt: skip
    return rows


def _write_rows(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(_RHEADER)
        writer.writerows(rows)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_batches_regroup_only_their_closure_and_equal_a_full_build(tmp_path, seed):
    rows = _random_world(seed)
    rng = np.random.default_rng(1000 + seed)
    # a big first load, then trickles; a repost may come before its original
    cut = rng.choice(5, size=len(rows), p=[0.7, 0.15, 0.05, 0.05, 0.05])
    batches = [[r for r, b in zip(rows, cut, strict=True) if b == k] for k in range(5)]
    batches = [b for b in batches if b]
    regrouped = []
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        for b, batch in enumerate(batches):
            ingest_file(inc, _write_rows(tmp_path / f"inc-{b}.csv", batch), format="posts")
            result = run_build(inc, publish=False)
            counts = result.counts["narratives"]
            if b:
                assert counts["incremental"] is True
                assert "grouping_seeds" in counts  # the grouping took its scoped path
                total = inc.con.execute("SELECT count(*) FROM cascades").fetchone()[0]
                regrouped.append(counts["regrouped_cascades"] / total)
        assert min(regrouped) < 0.7  # some builds kept part of the grouping as it was
        assert inc.con.execute("SELECT count(*) FROM narratives").fetchone()[0] > 5
        ingest_file(full, _write_rows(tmp_path / "full.csv", rows), format="posts")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


# -- a closed subset of roots groups as inside the whole store -------------------------


def _random_roots(seed: int, n: int = 400) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Roots (with stored text groups) and their media, dense in shared evidence; many
    roots at the same minute (ties in the order)."""
    rng = np.random.default_rng(seed)
    rows, media = [], []
    for i in range(n):
        if rng.random() < 0.4:
            k = int(rng.integers(0, 20))
            text, group = f"pooled story number {k} is spreading fast today", f"text:p{k}"
        else:
            text, group = " ".join(rng.choice(_VOCAB, size=8)), f"text:c{i}"
        if rng.random() < 0.1:
            text, group = "too short", None
        urls = [f"https://news.example/a/{int(rng.integers(0, 30))}"
                for _ in range(int(rng.geometric(0.6)) - 1)]  # fmt: skip
        if rng.random() < 0.08:
            urls.append(_SHORT[int(rng.integers(0, len(_SHORT)))])
        tags = [f"#tag{min(int(rng.geometric(0.15)), 30)}"
                for _ in range(int(rng.geometric(0.5)) - 1)]  # fmt: skip
        rows.append((f"c{i:03d}", T0 + timedelta(minutes=int(rng.integers(0, 60))), text,
                     urls, tags, int(rng.integers(1, 4)), group))  # fmt: skip
        if rng.random() < 0.15:
            img = int(rng.integers(0, 12))
            media.append((f"c{i:03d}", f"media:img{img}", f"caption {img}"))
    roots = pl.DataFrame(
        rows,
        schema={
            "cascade_id": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "text": pl.String,
            "urls": pl.List(pl.String),
            "hashtags": pl.List(pl.String),
            "size": pl.Int64,
            "text_group": pl.String,
        },  # fmt: skip
        orient="row",
    )
    return roots, pl.DataFrame(media, schema=["cascade_id", "item_id", "label"], orient="row")


@pytest.mark.parametrize("seed", range(6))
def test_a_subset_closed_under_the_linking_keys_groups_as_in_the_whole_store(seed):
    """The claim the incremental grouping rests on, checked against networkx: take
    whole components of the roots-and-linking-keys graph (hashtags and media groups
    link within their cap only), group them alone with the store's root count and
    topics, and get the whole store's grouping restricted to them."""
    roots, media = _random_roots(seed)
    kw = {"hashtag_max_share": 0.02, "hashtag_max_roots": 50, "media": media}
    whole = group_narratives(roots, **kw)
    cap = grouping_cap(roots.height, 0.02, 50)  # 8 of 400 roots; a subset's own cap is less
    counts = whole.evidence.group_by("key").agg(n=pl.len())
    capped = pl.col("key").str.contains("^[hm]:")
    links = counts.filter(~capped | pl.col("n").is_between(2, cap))["key"]
    assert counts.filter(capped & (pl.col("n") > cap)).height > 0  # topics exist
    G = nx.Graph()
    G.add_nodes_from(roots["cascade_id"])
    G.add_edges_from(whole.evidence.filter(pl.col("key").is_in(links.implode())).rows())
    rng = np.random.default_rng(seed)
    parts = [c for c in nx.connected_components(G) if rng.random() < 0.5]
    chosen = {x for c in parts for x in c if x in set(roots["cascade_id"])}
    keys_in = whole.evidence.filter(pl.col("cascade_id").is_in(list(chosen)))["key"]
    topics = counts.filter(capped & (pl.col("n") > cap) & pl.col("key").is_in(keys_in.implode()))
    part = group_narratives(
        roots.filter(pl.col("cascade_id").is_in(list(chosen))),
        n_roots=roots.height,
        topics=topics["key"],
        stored_text_groups=True,
        **{**kw, "media": media.filter(pl.col("cascade_id").is_in(list(chosen)))},
    )
    expected = whole.cascades.filter(pl.col("cascade_id").is_in(list(chosen)))
    assert part.cascades.height > 20  # narratives of several roots among them
    assert part.cascades.equals(expected)
    assert part.narratives.equals(
        whole.narratives.filter(pl.col("narrative_id").is_in(expected["narrative_id"].implode()))
    )
    in_part = whole.evidence.filter(pl.col("cascade_id").is_in(list(chosen)))
    assert part.evidence.sort(pl.all()).equals(in_part.sort(pl.all()))


def test_an_even_split_between_two_anchors_breaks_the_same_way_in_a_subset():
    """r's text group is held half by p (article k02's anchor), half by q (k10's); the
    tie goes to the anchor of the smaller key in the store and in any closed subset
    (as decimal strings "a10" < "a2" it went the other way in the store only)."""
    texts = {"p": "the dam will be opened at noon says the mayor",
             "q": "the dam will be opened at noon says the governor",
             "r": "the dam will be opened at noon says the police"}  # fmt: skip
    rows = [(f"a{i:02d}", f"unrelated story {i} about the weather this week", [f"https://x.org/k{i:02d}"],
             f"text:a{i:02d}") for i in range(12)]  # fmt: skip
    rows += [("p", texts["p"], ["https://x.org/k02"], "text:T"),
             ("q", texts["q"], ["https://x.org/k10"], "text:T"),
             ("r", texts["r"], [], "text:T")]  # fmt: skip
    roots = pl.DataFrame(
        {
            "cascade_id": [r[0] for r in rows],
            "created_at": [T0 + timedelta(minutes=i) for i in range(len(rows))],
            "text": [r[1] for r in rows],
            "urls": [r[2] for r in rows],
            "hashtags": [[] for _ in rows],
            "size": [1] * len(rows),
            "text_group": [r[3] for r in rows],
        },
        schema_overrides={"urls": pl.List(pl.String), "hashtags": pl.List(pl.String)},
    )
    whole = group_narratives(roots).cascades
    closed = ["a02", "a10", "p", "q", "r"]  # every root sharing k02, k10 or text:T
    part = group_narratives(roots.filter(pl.col("cascade_id").is_in(closed)), n_roots=15).cascades
    narrative = dict(whole.select("cascade_id", "narrative_id").iter_rows())
    assert narrative["r"] == narrative["p"] == "n-a02"  # the smaller key's anchor
    assert part.equals(whole.filter(pl.col("cascade_id").is_in(closed)))


def test_an_untouched_cascade_of_a_changed_narrative_keeps_its_reach_bounds(tmp_path):
    """x0 and x1 are one narrative (same claim, same hashtag). In x0, u9's repost hangs
    on u1's share by inference, but u9 also follows c1, whom the second batch finds
    coordinated: the narrative's reach via bots has bounds. A third batch touches x1
    only: the narrative is recomputed, and x0's candidate parents must be read though
    x0 itself is not (its scores do not change)."""
    first, second = _coordinated_case()
    first += _story("x1", "author2", 2, TEXTS[0], "bridgefix", ["u7"])
    first += [_post("x0-r9", "u9", 35, "x0")]  # u1 shared at 14, c1 at 7: u9 follows both
    third = [_post("x1-r8", "u8", 900, "x1")]
    follows = [("u9", "c1"), ("u9", "u1")]
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        insert_follows(inc, follows)
        *_, last = _builds(inc, [first, second, third], tmp_path, "inc")
        counts = last.counts["narratives"]
        assert last.mode == "incremental" and counts["incremental"] is True
        assert counts["flags_changed"] == 0
        assert "x1" in (last.touched or []) and "x0" not in (last.touched or [])
        narrative = _narrative_of(inc, "x0")
        assert narrative is not None and narrative == _narrative_of(inc, "x1")
        low, high = inc.con.execute(
            "SELECT reach_via_bots_low, reach_via_bots_high FROM narratives WHERE narrative_id = ?",
            [narrative],
        ).fetchall()[0]
        assert low < high  # u9 may have come through c1's share
        insert_follows(full, follows)
        _builds(full, [first + second + third], tmp_path, "full")
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_an_account_seeding_a_grown_and_an_untouched_narrative_gets_its_whole_index(tmp_path):
    """seeder started s1 and s2; a second batch grows s2 only. An incremental build
    re-ranks s2's narrative alone, but seeder's origin index spans both narratives: it
    must be recomputed (s2 spread wider) from s1's stored candidates and size too, and
    equal a full build's."""
    first = _story("s1", "seeder", 0, TEXTS[0], "", ["u1", "u2"])
    first += _story("s2", "seeder", 30, TEXTS[1], "", ["u3", "u4"])
    first += _story("o1", "other", 60, TEXTS[2], "", ["u5", "u6"])
    second = [_post(f"s2-n{i}", f"v{i}", 200 + i, "s2") for i in range(6)]

    def index(store: Store) -> tuple:
        return store.con.execute(
            "SELECT origin_index, narratives_seeded, build_id FROM account_origin "
            "WHERE account_id = 'seeder'"
        ).fetchall()[0]

    def narrative_build(store: Store, cascade_id: str) -> int:
        return store.con.execute(
            "SELECT build_id FROM narratives WHERE narrative_id = ?",
            [_narrative_of(store, cascade_id)],
        ).fetchall()[0][0]

    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        (one,) = _builds(inc, [first], tmp_path, "inc1")
        before = index(inc)
        assert before[1] == 2  # seeds both narratives
        (two,) = _builds(inc, [second], tmp_path, "inc2")
        assert two.mode == "incremental" and two.counts["narratives"]["incremental"] is True
        after = index(inc)
        assert after[0] > before[0]  # s2 spread wider
        assert after[1] == 2 and after[2] == two.build_id
        _builds(full, [first + second], tmp_path, "full")
        run_build(full, full=True, publish=False)
        assert narrative_build(inc, "s1") == one.build_id  # s1's narrative untouched
        assert narrative_build(inc, "s2") == two.build_id
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def _correction_batches() -> list[list[list[str]]]:
    """A claim (two stories sharing its article) corrected across batches: the fact-check
    reply, then replies, reposts and a quote of it, then the claim's late sharers."""
    claim, check = "https://news.example/memo", "https://www.snopes.com/fact-check/memo/"

    def row(pid: str, acc: str, minutes: float, parent: str = "", kind: str = "", url: str = ""):
        at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        kind = kind or ("repost" if parent else "original")
        return [pid, acc, at, parent, kind, f"post {pid} on the memo story", url]

    first = [
        row("c0", "a", 0, url=claim),
        row("c1", "b", 1, "c0"),
        row("c2", "c", 2, "c0"),
        row("e0", "e", 3, url=claim),
        row("e1", "g", 4, "e0"),
        row("o0", "x", 0, url="https://other.example/a"),
        row("o1", "y", 5, "o0"),
    ]
    second = [
        row("f0", "d", 10, "c0", "reply", check),
        row("r1", "c", 15, "f0", "reply"),
        row("s1", "b", 20, "f0", "repost"),
        row("q1", "h", 25, "f0", "quote", claim),
    ]
    third = [row("c3", "k", 30, "c0"), row("e2", "b", 31, "e0"), row("e3", "m", 32, "e0")]
    # lone originals: 12 roots, then 14, then 16 (a cap of half the roots moves each time)
    fillers = [
        [row(f"z{b}{k}", f"zz{b}{k}", 40 + k) for k in range(n)] for b, n in enumerate((9, 2, 2))
    ]
    return [first + fillers[0], second + fillers[1], third + fillers[2]]


@pytest.mark.parametrize("cap_share", [None, 0.5])
def test_corrections_after_incremental_batches_equal_a_full_build(tmp_path, cap_share):
    # the scoped corrections read an affected narrative's posts from the forest's scope
    # rows, not from posts: a correction arriving, answered and shared in later batches
    # must give the same claim/correction columns as a full build. cap_share 0.5: the
    # hashtag cap (half the roots) moves with every batch, so the grouping is global
    # while the rest of the stage stays incremental (its other path to the scope rows)
    params = BuildParams()
    if cap_share is not None:
        params = BuildParams(narratives=NarrativeParams(hashtag_max_share=cap_share))
    header = ["post_id", "account_id", "created_at", "parent_id", "kind", "text", "urls"]

    def write(path: Path, rows: list[list[str]]) -> Path:
        return _write(path, rows, header)

    batches = _correction_batches()
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        for b, rows in enumerate(batches):
            ingest_file(inc, write(tmp_path / f"inc-{b}.csv", rows), format="posts")
            result = run_build(inc, params=params, publish=False)
            if b:
                assert result.counts["narratives"]["incremental"] is True
                # grouped globally (no seeds) exactly when the cap moves
                assert ("grouping_seeds" in result.counts["narratives"]) is (cap_share is None)
        corrected = inc.con.execute(
            "SELECT correction_posts, claim_accounts_corrected FROM narratives "
            "WHERE correction_posts > 0"
        ).fetchall()
        assert corrected and all(c[1] > 0 for c in corrected), corrected
        ingest_file(
            full, write(tmp_path / "full.csv", [r for b in batches for r in b]), format="posts"
        )
        run_build(full, full=True, params=params, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table

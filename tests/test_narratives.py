"""Narratives: URL keys, text normalisation, MinHash LSH against exact Jaccard, grouping."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.narratives import (
    group_narratives,
    lsh_layout,
    minhash_signatures,
    near_duplicate_pairs,
    normalize_urls,
)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("https://www.Example.COM/News/Story?id=7#comments", "example.com/News/Story?id=7"),
        (
            "http://example.com/News/Story/?utm_source=tw&utm_medium=x&id=7",
            "example.com/News/Story?id=7",
        ),
        ("https://m.example.com/a?fbclid=IwAR0&gclid=1&si=abc", "m.example.com/a"),
        ("https://open.spotify.com/track/1?si=XYZ", "open.spotify.com/track/1"),
        ("https://example.com:443/a?b=2&a=1", "example.com/a?a=1&b=2"),
        ("example.com/a", "example.com/a"),
        ("https://www2.example.com/", "example.com"),
        ("https://user:pw@Example.com/x", "example.com/x"),
        ("not a url", None),
        ("", None),
    ],
)
def test_url_keys(raw: str, key: str | None) -> None:
    assert normalize_urls([raw]) == [key]


_host = st.from_regex(r"[a-z]{1,8}\.(com|org|de)", fullmatch=True)
_path = st.from_regex(r"(/[A-Za-z0-9_-]{1,6}){0,3}", fullmatch=True)
_params = st.lists(st.from_regex(r"[a-z]{1,4}=[a-z0-9]{0,4}", fullmatch=True), max_size=3)


@settings(max_examples=80, deadline=None)
@given(
    host=_host,
    path=_path,
    params=_params,
    junk=st.sampled_from(["utm_source=x", "fbclid=1", "si=a"]),
)
def test_url_key_ignores_tracking_case_www_fragment(
    host: str, path: str, params: list[str], junk: str
) -> None:
    params = [p for p in params if not p.startswith(("si=", "spm="))]
    base = f"https://{host}{path}" + (f"?{'&'.join(params)}" if params else "")
    noisy_params = [junk, *reversed(params)]
    noisy = f"http://WWW.{host.upper()}{path}/?{'&'.join(noisy_params)}#frag"
    key, noisy_key = normalize_urls([base, noisy])
    assert key == noisy_key
    assert normalize_urls([key]) == [key]  # idempotent


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def _bigrams(words: list[str]) -> set:
    return set(zip(words, words[1:], strict=False)) if len(words) > 1 else {tuple(words)}


def test_minhash_estimates_jaccard() -> None:
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(300)]
    base = [rng.choice(vocab) for _ in range(40)]
    texts = [base]
    for edits in (2, 6, 12, 25):
        t = list(base)
        for i in rng.sample(range(40), edits):
            t[i] = rng.choice(vocab)
        texts.append(t)
    sig = minhash_signatures(pl.Series(texts), num_perm=256)
    for t, row in zip(texts[1:], sig[1:], strict=True):
        exact = _jaccard(_bigrams(base), _bigrams(t))
        estimate = float((sig[0] == row).mean())
        assert abs(estimate - exact) < 0.1, (exact, estimate)


def test_lsh_finds_the_near_duplicate_pairs_of_a_brute_force() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(2000)]
    texts: list[list[str]] = []
    for _ in range(60):  # 60 families of 5 variants with 1-2 word edits, plus noise texts
        base = [rng.choice(vocab) for _ in range(25)]
        for _ in range(5):
            t = list(base)
            for i in rng.sample(range(25), rng.randint(0, 2)):
                t[i] = rng.choice(vocab)
            texts.append(t)
    texts += [[rng.choice(vocab) for _ in range(25)] for _ in range(300)]
    sig = minhash_signatures(pl.Series(texts), num_perm=64)
    bands, rows = lsh_layout(0.5, 64)
    found = {
        tuple(p) for p in near_duplicate_pairs(sig, threshold=0.5, bands=bands, rows=rows).tolist()
    }
    shingles = [_bigrams(t) for t in texts]
    truth = {
        (i, j)
        for i in range(len(texts))
        for j in range(i + 1, len(texts))
        if _jaccard(shingles[i], shingles[j]) >= 0.5
    }

    # Components, not pairs, matter: compare the groups each side implies.
    def groups(pairs: set) -> set[frozenset]:
        import igraph as ig

        g = ig.Graph(n=len(texts), edges=list(pairs))
        return {frozenset(c) for c in g.connected_components() if len(c) > 1}

    truth_groups, found_groups = groups(truth), groups(found)
    recovered = len(truth_groups & found_groups) / len(truth_groups)
    assert recovered >= 0.95
    false_pairs = [p for p in found if _jaccard(shingles[p[0]], shingles[p[1]]) < 0.35]
    assert not false_pairs


T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _roots(rows: list[tuple[str, str | None, list[str], list[str], int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cascade_id": [r[0] for r in rows],
            "created_at": [T0 + timedelta(minutes=i) for i in range(len(rows))],
            "text": [r[1] for r in rows],
            "urls": [r[2] for r in rows],
            "hashtags": [r[3] for r in rows],
            "size": [r[4] for r in rows],
        },
        schema_overrides={"urls": pl.List(pl.String), "hashtags": pl.List(pl.String)},
    )


def test_grouping_by_url_text_and_rare_hashtag() -> None:
    common = [f"#common{i}" for i in range(1)]
    rows = [
        ("u1", "read this", ["https://news.example/story?utm_source=a"], [], 5),
        ("u2", "wow", ["http://www.news.example/story/#top"], common, 2),
        ("u3", "unrelated post about lunch", ["https://news.example/"], common, 3),  # bare domain
        ("t1", "the moon landing was staged in a studio in nevada", [], [], 4),
        ("t2", "The moon landing was staged in a studio in Nevada!!", [], [], 1),
        ("t3", "BREAKING the moon landing was staged in a big studio in nevada", [], [], 1),
        ("h1", "one", [], ["#RareTag"], 2),
        ("h2", "two", [], ["#raretag"], 1),
        ("s1", "alone with reposts", [], [], 9),
        ("s2", "alone without reposts", [], [], 1),
    ]
    # #common1 is on 60 roots: too common to mean anything.
    rows += [(f"c{i}", f"filler {i}", [], common, 1) for i in range(60)]
    g = group_narratives(_roots(rows), hashtag_max_roots=50)
    by_cascade = dict(zip(g.cascades["cascade_id"], g.cascades["narrative_id"], strict=True))
    via = dict(zip(g.cascades["cascade_id"], g.cascades["via"], strict=True))
    assert by_cascade["u1"] == by_cascade["u2"] == "n-u1"
    assert by_cascade["u3"] == "n-u3"  # a bare domain is no link: its own narrative
    assert by_cascade["t1"] == by_cascade["t2"] == by_cascade["t3"] == "n-t1"
    assert by_cascade["h1"] == by_cascade["h2"] == "n-h1"
    assert by_cascade["s1"] == "n-s1" and via["s1"] == "cascade"
    assert "s2" not in by_cascade  # one post, no links: no narrative
    assert via["u1"] == "url" and via["t2"] == "text" and via["h2"] == "hashtag"
    labels = dict(
        zip(
            g.narratives["narrative_id"],
            zip(g.narratives["label"], g.narratives["kind"], strict=True),
            strict=True,
        )
    )
    assert labels["n-u1"] == ("news.example/story", "url")
    assert labels["n-t1"] == ("the moon landing was staged in a studio in nevada", "text")
    assert labels["n-h1"] == ("#raretag", "hashtag")
    assert labels["n-s1"] == ("alone with reposts", "cascade")
    assert set(g.cascades["narrative_id"]) == set(g.narratives["narrative_id"])


def test_grouping_handles_empty_and_null_inputs() -> None:
    assert group_narratives(_roots([])).cascades.height == 0
    g = group_narratives(_roots([("a", None, [], [], 1), ("b", None, [], [], 3)]))
    assert g.cascades.rows() == [("b", "n-b", "cascade")]
    assert g.narratives.rows() == [("n-b", "", "cascade")]


def test_near_duplicate_bridge_does_not_merge_two_articles() -> None:
    # a and c link different articles; b (no link) is a near-duplicate of both texts.
    # Single linkage merged all three; now b joins one article and a, c stay apart.
    base = "officials hid the audit on missing relief funds in the {} district today"
    roots = pl.DataFrame(
        {
            "cascade_id": ["a", "b", "c", "d"],
            "created_at": [1, 2, 3, 4],
            "text": [base.format("north"), base.format("east"), base.format("south"), "x y"],
            "urls": [["https://one.news/a/1"], [], ["https://two.news/b/2"], []],
            "hashtags": [[], [], [], []],
            "size": [3, 3, 3, 3],
        }
    )
    g = group_narratives(roots).cascades
    narrative = dict(zip(g["cascade_id"], g["narrative_id"], strict=True))
    assert narrative["a"] != narrative["c"]
    assert narrative["b"] in {narrative["a"], narrative["c"]}


def test_two_articles_join_only_on_a_strong_tie() -> None:
    # Two roots each carry both links (co-occurrence 2): one narrative. c carries z with
    # x (one root only: no tie for z) and joins the narrative of its most-carried link.
    roots = pl.DataFrame(
        {
            "cascade_id": ["a", "b", "c"],
            "created_at": [1, 2, 3],
            "text": ["one", "two", "three"],
            "urls": [
                ["https://x.org/1", "https://y.org/2"],
                ["https://x.org/1?utm_source=t", "https://y.org/2"],
                ["https://z.org/3", "https://x.org/1"],
            ],
            "hashtags": [[], [], []],
            "size": [2, 2, 2],
        }
    )
    g = group_narratives(roots).cascades
    narrative = dict(zip(g["cascade_id"], g["narrative_id"], strict=True))
    assert narrative["a"] == narrative["b"] == narrative["c"]

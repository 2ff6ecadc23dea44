"""The narratives grouping holds less than one extra copy of the roots' texts (issue 12,
part 3: peak RSS of a full build at 5M posts).

It keys its per-root rows and its labels on integer codes, not on the roots' strings (a
multi-column group-by or sort copies every long string key). The cascades and items
stages' earlier release of their arrays changes no result: the equality tests
(tests/test_incremental.py, tests/test_cascades.py) cover them.
"""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from spreadtrace.graph.narratives import group_narratives

# Peak RSS above the start while grouping 100k roots whose texts (10k distinct, 300
# words: ~2 KB each) total 165 MB, text groups stored as in a build. Measured: 107 MB
# with codes, 252 MB when the labels grouped and stripped every member's text.
_GROUPING = """
import os, threading, time
import numpy as np, polars as pl
import spreadtrace
from spreadtrace.graph.narratives import group_narratives

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

n, distinct, words = 100_000, 10_000, 300
rng = np.random.default_rng(1)
vocab = np.array([f"w{i}" for i in range(5000)])
texts = [" ".join(vocab[rng.integers(0, 5000, words)]) for _ in range(distinct)]
roots = pl.DataFrame(
    {
        "cascade_id": [f"c{i:07d}" for i in range(n)],
        "created_at": rng.permutation(n),
        "text": [texts[i % distinct] for i in range(n)],
        "urls": [[] for _ in range(n)],
        "hashtags": [[] for _ in range(n)],
        "size": np.full(n, 2),
        "text_group": [f"text:g{i % distinct}" for i in range(n)],
    },
    schema_overrides={"urls": pl.List(pl.String), "hashtags": pl.List(pl.String)},
)
text_bytes = int(roots["text"].str.len_bytes().sum())
peak = [0]
stop = [False]

def poll():
    while not stop[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)

before = rss()
peak[0] = before
sampler = threading.Thread(target=poll)
sampler.start()
g = group_narratives(roots)
stop[0] = True
sampler.join()
print(text_bytes, peak[0] - before, g.narratives.height)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_grouping_long_texts_holds_less_than_one_copy_of_them():
    # a fresh interpreter: allocator state and frames of other tests do not count
    out = subprocess.run(
        [sys.executable, "-c", _GROUPING], capture_output=True, text=True, check=True
    )
    text_bytes, grew, narratives = (int(x) for x in out.stdout.split())
    assert narratives == 10_000  # each distinct text is one narrative of 10 roots
    assert text_bytes > 150_000_000
    # one more copy of the texts (a sorted copy of the roots, the norms per root, the
    # labels' stripped texts) would alone reach text_bytes
    assert grew < 0.8 * text_bytes


def test_labels_break_ties_on_the_smaller_norm_and_show_the_earliest_raw_text():
    # two norms, two roots each, in one narrative (linked by a shared article): the
    # label is the smaller norm (a tie on count and on the earliest root is impossible
    # here, so the count decides: "b" has 3 roots), shown as its earliest raw form
    roots = pl.DataFrame(
        {
            "cascade_id": ["c1", "c2", "c3", "c4", "c5"],
            "created_at": [1, 2, 3, 4, 5],
            "text": [
                "Zebra crossing closed downtown today",
                "zebra crossing closed downtown today!",
                "ZEBRA crossing closed downtown today",
                "apple orchard flooded after the storm",
                "ok",
            ],
            "urls": [["https://x.org/a"]] * 5,
            "hashtags": [[]] * 5,
            "size": [1, 1, 1, 1, 1],
        },
        schema_overrides={"urls": pl.List(pl.String), "hashtags": pl.List(pl.String)},
    )
    g = group_narratives(roots)
    assert g.narratives.rows() == [("n-c1", "x.org/a", "url")]
    # without the article, the four texts split; the two-word "ok" stays alone
    g = group_narratives(roots.with_columns(urls=pl.lit([], dtype=pl.List(pl.String))))
    labels = dict(g.narratives.select("narrative_id", "label").rows())
    assert labels == {"n-c1": "Zebra crossing closed downtown today"}

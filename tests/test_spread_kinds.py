"""Kinds of spread: reposts and quotes are shares, replies are conversation.

On the real PHEME Germanwings threads (source tweets and their replies, no retweets),
nothing is spread: every cascade is its source tweet plus a conversation. Before this
rule a 43-post thread, 33 of them a back-and-forth between two users, counted as a
cascade of size 43, depth 19 and structural virality 8.0.
"""

from __future__ import annotations

from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.conftest import shared_file
from tests.test_cascades_support import insert_posts

THREAD = "580325090367315968"  # @139631790 (22 replies) and @476243412 (11) argue


def test_pheme_replies_are_conversation_not_shares(mem_store: Store) -> None:
    ingest_file(mem_store, shared_file("pheme-germanwings/tweets.jsonl.gz"))
    run_build(mem_store)
    con = mem_store.con
    row = con.execute(
        "SELECT size, accounts, depth, max_breadth, structural_virality, replies, "
        "conversation_depth, repliers FROM cascades WHERE cascade_id = ?",
        [THREAD],
    ).fetchall()[0]
    # size 1 (the source tweet), no spread; 42 replies by 10 accounts, longest thread 19
    assert row == (1, 1, 0, 1, None, 42, 19, 10)
    shares, reach, reasons = con.execute(
        "SELECT bot_share, reach_via_bots, amplification_reasons FROM cascade_scores "
        "WHERE cascade_id = ?",
        [THREAD],
    ).fetchall()[0]
    assert (shares, reach, reasons) == (0.0, 0.0, "no shares yet")
    # the whole file: 4,019 replies are conversation; sizes count the 470 source tweets
    totals = con.execute(
        "SELECT sum(size), sum(replies), max(depth), "
        "(SELECT count(*) FILTER (WHERE conversation) FROM post_cascades) FROM cascades"
    ).fetchall()[0]
    assert totals == (470, 4019, 0, 4019)


def test_a_repost_of_a_reply_is_conversation_and_a_quote_is_a_share(mem_store: Store) -> None:
    insert_posts(
        mem_store,
        [
            ("o", "a", 0, None, "original"),
            ("q", "b", 1, "o", "quote"),  # share, depth 1
            ("r", "c", 2, "q", "repost"),  # share of the quote, depth 2
            ("x", "d", 3, "o", "reply"),  # conversation
            ("y", "a", 4, "x", "reply"),  # the author answers: thread of 2
            ("z", "e", 5, "x", "repost"),  # spreads the reply, not o: conversation
        ],
    )
    run_build(mem_store)
    con = mem_store.con
    row = con.execute(
        "SELECT size, accounts, depth, max_breadth, structural_virality, replies, "
        "conversation_depth, repliers FROM cascades"
    ).fetchall()[0]
    # shares tree o - q - r: a path of 3, structural virality (1 + 1 + 2) * 2 / 6 = 4/3
    assert row[:4] == (3, 3, 2, 1) and abs(row[4] - 4 / 3) < 1e-9
    # replies x, y by d and a; the thread x <- {y, z} is 2 posts deep
    assert row[5:] == (2, 2, 2)
    conv = dict(con.execute("SELECT post_id, conversation FROM post_cascades").fetchall())
    assert conv == {"o": False, "q": False, "r": False, "x": True, "y": True, "z": True}


def test_dashboard_draws_shares_and_replies_apart() -> None:
    from datetime import datetime, timedelta

    import numpy as np
    import polars as pl

    from spreadtrace.dashboard import figures

    t0 = datetime(2024, 1, 1)
    # root 0; 1 a repost (share); 2 a reply and 3 a reply to it (conversation)
    nodes = pl.DataFrame(
        {
            "parent": [-1, 0, 0, 2],
            "parent_source": [None, "explicit", "explicit", "explicit"],
            "conversation": [False, False, True, True],
            "descendants": [3, 0, 1, 0],
            "count": [1, 1, 1, 1],
            "aggregate": [False] * 4,
            "x": [0.0, 1.0, -1.0, -2.0],
            "y": [0.0, 1.0, 1.0, 2.0],
            "t": [0.0, 60.0, 120.0, 180.0],
            "bot_score": [0.1, 0.2, 0.3, 0.4],
            "is_bot_like": [False] * 4,
            "cluster_id": [None] * 4,
            "created_at": [t0 + timedelta(minutes=i) for i in range(4)],
        }
    )
    fig = figures.cascade(nodes)
    names = [tr["name"] for tr in fig["data"]]
    assert names == ["parent explicit", "reply (conversation, not a share)", "posts"]
    # the reply edges are the two into nodes 2 and 3, styled apart
    reply = fig["data"][1]
    assert reply["line"]["dash"] == figures.EDGE_STYLE["reply"]["dash"] != "solid"
    xs = np.frombuffer(__import__("base64").b64decode(reply["x"]["bdata"]), np.float32)
    assert xs.reshape(-1, 3)[:, 1].tolist() == [-1.0, -2.0]
    assert fig["data"][2]["marker"]["symbol"] == [0, 0, 2, 2]  # conversation: diamonds
    timeline = figures.cascade_timeline(nodes)
    lines = {tr["name"]: tr["y"][-1] for tr in timeline["data"]}
    # shares: the root and the repost; the two replies on their own line
    assert lines == {
        "shares by bot-like accounts": 0,
        "shares by other accounts": 2,
        "replies (conversation, not shares)": 2,
    }

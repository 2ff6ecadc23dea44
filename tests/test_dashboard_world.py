"""A small, fully derived store for the dashboard tests, filled through the schema tables.

Why hand-made: the dashboard reads the derived tables (cascades, scores, narratives,
coordination); building a world directly lets its tests pin exact counts and plant
hostile strings (HTML, spreadsheet formulas) in handles and post text.

Planted facts (asserted by the dashboard tests):
- ``N_ACCOUNTS`` accounts ``acc0000..``; the first ``N_BOTS`` are bot-like (score 0.9).
- ``acc0003``'s handle is an HTML/script string, ``acc0004``'s a spreadsheet formula.
- cascade ``c000`` is the big one (``big`` posts), the others have sizes 2..; all on
  platform ``x`` except odd cascades on ``bluesky``.
- accounts acc0000..acc0004 form coordination cluster ``k1`` (all pairs).
- narrative ``n1`` holds the even cascades, ``n2`` the odd ones.
- items: every repost of cascade c carries the link ``url:example.org/claim{c % 3}``;
  those of cascade c002 also carry ``HOSTILE_URL`` (a ``javascript:`` link), so the
  narrative n1 lists it; item labels are the raw URLs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from spreadtrace.store import Store

N_ACCOUNTS = 40
N_BOTS = 8
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOSTILE_HANDLE = '<script>alert("x")</script><b>bold</b>'
FORMULA_HANDLE = '=HYPERLINK("http://evil","x")'
HOSTILE_URL = "javascript:alert(document.domain)"


def _tree(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parents (-1 for the root), depths and descendants of a random recursive tree."""
    parent = np.full(n, -1, dtype=np.int64)
    if n > 1:
        # Mostly attach to early posts so a few hubs form, like real cascades.
        u = rng.random(n - 1)
        parent[1:] = np.floor((u**2.5) * np.arange(1, n)).astype(np.int64)
    depth = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        depth[i] = depth[parent[i]] + 1
    desc = np.zeros(n, dtype=np.int64)
    for i in range(n - 1, 0, -1):
        desc[parent[i]] += desc[i] + 1
    return parent, depth, desc


def _items(posts: pl.DataFrame, build_id: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The world's items: a link per cascade group, and the hostile link in c002."""
    reposts = posts.filter(pl.col("kind") == "repost").with_columns(
        c=pl.col("post_id").str.slice(1, 3).cast(pl.Int64)
    )
    links = reposts.select(
        "post_id", "account_id", "created_at",
        item_id=pl.lit("url:example.org/claim") + (pl.col("c") % 3).cast(pl.Utf8),
        label=pl.lit("https://example.org/claim") + (pl.col("c") % 3).cast(pl.Utf8),
    )  # fmt: skip
    hostile = reposts.filter(pl.col("c") == 2).select(
        "post_id", "account_id", "created_at",
        item_id=pl.lit("url:" + HOSTILE_URL), label=pl.lit(HOSTILE_URL),
    )  # fmt: skip
    both = pl.concat([links, hostile]).sort("created_at", "post_id")
    items = both.group_by("item_id").agg(
        kind=pl.lit("url"),
        label=pl.col("label").first(),
        first_post_id=pl.col("post_id").first(),
        first_account_id=pl.col("account_id").first(),
        first_at=pl.col("created_at").first(),
        posts=pl.len().cast(pl.Int64),
        accounts=pl.col("account_id").n_unique().cast(pl.Int64),
        build_id=pl.lit(build_id, dtype=pl.Int64),
    )
    post_items = both.select("post_id", "item_id", build_id=pl.lit(build_id, dtype=pl.Int64))
    return items.drop("kind").with_columns(kind=pl.lit("url")), post_items


def make_world(store: Store, *, big: int = 300, cascades: int = 12, build_id: int = 1) -> dict:
    """Fill ``store`` with a consistent derived world; return a summary of what was planted."""
    rng = np.random.default_rng(7)
    accounts = [f"acc{i:04d}" for i in range(N_ACCOUNTS)]
    handles = [f"user_{i}" for i in range(N_ACCOUNTS)]
    handles[3] = HOSTILE_HANDLE
    handles[4] = FORMULA_HANDLE
    bot_score = np.where(np.arange(N_ACCOUNTS) < N_BOTS, 0.9, 0.1 + 0.2 * rng.random(N_ACCOUNTS))
    posts, pcs, crows, cscores, pnarr = [], [], [], [], []
    for c in range(cascades):
        n = big if c == 0 else 2 + c
        parent, depth, desc = _tree(n, rng)
        cid = f"c{c:03d}"
        ids = [f"{cid}-p{i:05d}" for i in range(n)]
        start = T0 + timedelta(days=c)
        times = [start + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 600, n))]
        times[0] = start
        who = rng.integers(0, N_ACCOUNTS, n)
        if c == 0:
            who[0] = 10  # an organic account seeds the big cascade
        platform = "x" if c % 2 == 0 else "bluesky"
        for i in range(n):
            pid = None if parent[i] < 0 else ids[parent[i]]
            posts.append(
                {
                    "post_id": ids[i],
                    "account_id": accounts[who[i]],
                    "created_at": times[i],
                    "parent_id": pid,
                    "kind": "original" if i == 0 else "repost",
                    "root_id": ids[0],
                    "text": "=1+1 claim" if i == 0 and c == 1 else f"claim {c} <i>{i}</i>",
                    "platform": platform,
                    "ingest_run_id": 1,
                }
            )
            pcs.append(
                {
                    "post_id": ids[i],
                    "cascade_id": cid,
                    "parent_id": pid,
                    "parent_source": None if i == 0 else ("inferred" if i % 3 == 0 else "explicit"),
                    "depth": int(depth[i]),
                    "descendants": int(desc[i]),
                    "build_id": build_id,
                }
            )
        bots = float(np.mean(bot_score[who] >= 0.5))
        crows.append(
            {
                "cascade_id": cid,
                "root_post_id": ids[0],
                "root_seen": True,
                "root_account_id": accounts[who[0]],
                "platform": platform,
                "size": n,
                "accounts": len(set(who.tolist())),
                "depth": int(depth.max()),
                "max_breadth": int(np.bincount(depth).max()),
                "structural_virality": None if n == 1 else 1.5 + c / 10,
                "first_at": times[0],
                "last_at": max(times),
                "time_to_50_s": 60.0,
                "time_to_90_s": 120.0,
                "peak_per_hour": n,
                "reconstruction": "mixed",
                "build_id": build_id,
            }
        )
        narrative = "n1" if c % 2 == 0 else "n2"
        cscores.append(
            {
                "cascade_id": cid,
                "narrative_id": narrative,
                "bot_share": bots,
                "early_bot_share": bots,
                "coordinated_share": 0.1,
                "reach_via_bots": bots / 2,
                "amplification_score": min(1.0, bots * 1.2),
                "amplification_reasons": f"{bots:.0%} of shares by bot-like accounts",
                "build_id": build_id,
                # the decomposition: sums to 1, each share counted once
                "share_bot_only": bots * 0.8,
                "share_coordinated_only": 0.1 - bots * 0.05,
                "share_both": bots * 0.2,
                "share_neither": 0.9 - bots * 0.95,
            }
        )
        pnarr += [
            {"post_id": p, "narrative_id": narrative, "via": "cascade", "build_id": build_id}
            for p in ids
        ]
    frames = {
        "posts": pl.DataFrame(posts),
        "post_cascades": pl.DataFrame(pcs),
        "cascades": pl.DataFrame(crows),
        "cascade_scores": pl.DataFrame(cscores),
        "post_narratives": pl.DataFrame(pnarr),
        "accounts": pl.DataFrame(
            {
                "account_id": accounts,
                "observed_at": [T0] * N_ACCOUNTS,
                "handle": handles,
                "display_name": handles,
                "followers_count": list(range(N_ACCOUNTS)),
                "platform": ["x"] * N_ACCOUNTS,
                "ingest_run_id": [1] * N_ACCOUNTS,
            }
        ),
    }
    post_counts = frames["posts"].group_by("account_id").len()
    counts = dict(zip(post_counts["account_id"], post_counts["len"], strict=True))
    frames["account_scores"] = pl.DataFrame(
        {
            "account_id": accounts,
            "posts": [counts.get(a, 0) for a in accounts],
            "reposts": [counts.get(a, 0) for a in accounts],
            "bot_score": bot_score.tolist(),
            "is_bot_like": (bot_score >= 0.5).tolist(),
            "bot_reasons": [
                "posts every 30 s around the clock; default profile image"
                if s >= 0.5
                else "no bot-like signals"
                for s in bot_score
            ],
            "model_version": ["test"] * N_ACCOUNTS,
            "build_id": [build_id] * N_ACCOUNTS,
            "coordination_score": [0.9 if i < 5 else 0.0 for i in range(N_ACCOUNTS)],
            # every 7th non-bot account: too little evidence to judge
            "bot_evidence": [
                "insufficient" if i % 7 == 3 and s < 0.5 else "sufficient"
                for i, s in enumerate(bot_score)
            ],
        }
    )
    k1 = accounts[:5]
    pairs = [(a, b) for i, a in enumerate(k1) for b in k1[i + 1 :]]
    frames["coordination_pairs"] = pl.DataFrame(
        {
            "account_a": [a for a, _ in pairs],
            "account_b": [b for _, b in pairs],
            "shared_items": [5 + i for i in range(len(pairs))],
            "strength": [0.5 + i / 40 for i in range(len(pairs))],
            "cluster_id": ["k1"] * len(pairs),
            "build_id": [build_id] * len(pairs),
        }
    )
    frames["coordination_clusters"] = pl.DataFrame(
        {
            "cluster_id": ["k1"] * 5,
            "account_id": k1,
            "cluster_size": [5] * 5,
            "build_id": [build_id] * 5,
        }
    )
    narr_rows = []
    for nid, members in (("n1", crows[0::2]), ("n2", crows[1::2])):
        narr_rows.append(
            {
                "narrative_id": nid,
                "label": f"http://example.org/{nid}?<b>",
                "kind": "url",
                "cascades": len(members),
                "posts": sum(m["size"] for m in members),
                "accounts": N_ACCOUNTS,
                "first_at": min(m["first_at"] for m in members),
                "last_at": max(m["last_at"] for m in members),
                "origin_account_id": members[0]["root_account_id"],
                "origin_score": 0.8,
                "bot_share": 0.3,
                "early_bot_share": 0.4,
                "coordinated_share": 0.1,
                "reach_via_bots": 0.2,
                "amplification_score": 0.5 if nid == "n1" else 0.2,
                "amplification_reasons": "early shares mostly by bot-like accounts",
                "build_id": build_id,
                "share_bot_only": 0.25,
                "share_coordinated_only": 0.05,
                "share_both": 0.05,
                "share_neither": 0.65,
            }
        )
    frames["narratives"] = pl.DataFrame(narr_rows)
    frames["origin_scores"] = pl.DataFrame(
        {
            "narrative_id": ["n1", "n1", "n2"],
            "account_id": [accounts[10], accounts[3], accounts[5]],
            "rank": [1, 2, 1],
            "origin_score": [0.8, 0.3, 0.7],
            "first_at": [T0, T0 + timedelta(hours=1), T0 + timedelta(days=1)],
            "reach_share": [0.9, 0.1, 0.8],
            "centrality": [0.7, 0.2, 0.6],
            "reasons": ["first to post; 90% of later reach descends from it"] * 3,
            "build_id": [build_id] * 3,
        }
    )
    frames["account_origin"] = pl.DataFrame(
        {
            "account_id": accounts,
            "origin_index": [0.8 if i == 10 else 0.0 for i in range(N_ACCOUNTS)],
            "narratives_seeded": [1 if i == 10 else 0 for i in range(N_ACCOUNTS)],
            "build_id": [build_id] * N_ACCOUNTS,
        }
    )
    frames["items"], frames["post_items"] = _items(frames["posts"], build_id)
    with store.transaction() as con:
        for table, df in frames.items():
            con.register("world_frame", df.to_arrow())
            cols = ", ".join(df.columns)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM world_frame")
            con.unregister("world_frame")
        con.execute(
            "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (?, 'full', '{}', ?, ?, ?, ?)",
            [build_id, T0, T0, len(posts), cascades],
        )
    return {
        "posts": len(posts),
        "cascades": cascades,
        "big": big,
        "accounts": N_ACCOUNTS,
        "bots": N_BOTS,
    }


def test_world_is_consistent(mem_store):
    summary = make_world(mem_store, big=50, cascades=5)
    con = mem_store.con
    # Every post sits in exactly one cascade, and cascade sizes add up to the posts.
    assert con.execute("SELECT count(*) FROM post_cascades").fetchone()[0] == summary["posts"]
    assert con.execute("SELECT sum(size) FROM cascades").fetchone()[0] == summary["posts"]
    # The root's reach is everything below it: size - 1.
    root_desc = con.execute(
        "SELECT descendants FROM post_cascades WHERE cascade_id = 'c000' AND depth = 0"
    ).fetchone()[0]
    assert root_desc == 49

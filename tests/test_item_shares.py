"""The items' bot and coordinated shares, filled after the accounts stage, carry the build.

Why: every derived row a build changes takes that build's id, and readers find a
build's changes by it (the snapshot's delta, "what changed in this build"). Here two
accounts start co-sharing in a second build: an item posted in the first build keeps
its posts and counts but its coordinated share moves, and only that write changes it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store, snapshot

HEADER = "post_id,account_id,created_at,kind,parent_id,urls\n"
ITEMS = "SELECT item_id, posts, accounts, coordinated_share, build_id FROM items"
U0 = "url:news.example/u0"


def _file(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / name
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    return path


def _batches() -> tuple[list[str], list[str]]:
    # others post a link each; a and b post u0 five seconds apart (one co-share)
    first = [f"x{i},o{i},2024-03-01T0{i}:00:00Z,original,,https://other.example/{i}" for i in range(6)]  # fmt: skip
    first += [
        "a0,a,2024-03-02T10:00:00Z,original,,https://news.example/u0",
        "b0,b,2024-03-02T10:00:05Z,original,,https://news.example/u0",
    ]
    # two more co-shares: a and b become a coordination cluster; u0 gets no new post
    second = [
        f"{acc}{day},{acc},2024-03-0{day + 2}T10:00:0{5 * (acc == 'b')}Z,original,,https://news.example/u{day}"
        for day in (1, 2)
        for acc in "ab"
    ]
    return first, second


def _items(store: Store) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in store.con.execute(ITEMS).fetchall()}


def test_items_whose_shares_move_take_the_build_id_and_the_snapshot_delta_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "DELTA_MIN_ROWS", 0)  # the test store is small
    first, second = _batches()
    with Store.open(tmp_path / "store.duckdb") as store:
        ingest_file(store, _file(tmp_path, "1.csv", first), format="posts")
        one = run_build(store, publish=False)
        assert snapshot.publish(store) is not None
        before = _items(store)
        assert before[U0] == (2, 2, 0.0, one.build_id)

        ingest_file(store, _file(tmp_path, "2.csv", second), format="posts")
        two = run_build(store, publish=False)
        assert two.mode == "incremental"
        after = _items(store)
        # u0: same posts and accounts, its coordinated share moved: build two wrote it
        assert after[U0] == (2, 2, 1.0, two.build_id)
        # the items no share of which moved keep the build that wrote them
        for item_id, row in before.items():
            if item_id != U0:
                assert after[item_id] == row, item_id
        # the narratives stage's affected items are still those whose posts this
        # build wrote (u1, u2): the shares are filled after it
        assert two.counts["narratives"]["affected_items"] == 2

        stats = snapshot.PublishStats()
        path = snapshot.publish(store, stats=stats)
        assert path is not None
        assert "items" not in stats.by_hash  # found by build id, not by hashing every row
        opened = snapshot.open_version(path)
        assert opened is not None
        con, fd = opened
        try:
            published = con.execute(
                "SELECT item_id, posts, accounts, coordinated_share FROM items ORDER BY ALL"
            ).fetchall()
        finally:
            con.close()
            os.close(fd)
        assert published == sorted((k, *v[:3]) for k, v in after.items())

        # a full rebuild moves no share: no item is written again
        three = run_build(store, full=True, publish=False)
        assert three.build_id > two.build_id
        assert _items(store) == after

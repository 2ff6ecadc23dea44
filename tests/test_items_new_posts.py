"""The items stage's incremental scope: the URL and hashtag items of the new posts only,
and the whole of them again on top of a build from another schema."""

from __future__ import annotations

import numpy as np

from spreadtrace.store import SCHEMA_VERSION, Store
from tests.synth_worlds import build_in_batches, synth_world, world_posts
from tests.test_cascades_support import table_rows

TABLES = ("url_keys", "post_items", "items")


def _full(tmp, world, rows: int) -> dict[str, list]:
    with Store.open(":memory:") as full:
        for _ in build_in_batches(full, world, np.zeros(rows, dtype=np.int64), tmp, "full"):
            pass
        return {t: table_rows(full, t) for t in TABLES}


def test_a_trickle_equals_a_full_build_on_the_item_tables(tmp_path):
    """The trickle's URL and hashtag rows are the only ones computed: were an old
    post's left out of the comparison wrongly (or dropped), the tables would differ."""
    world = synth_world(3, str(tmp_path), 900)
    rows = world_posts(world).height
    cut = np.zeros(rows, dtype=np.int64)
    cut[-40:] = 1
    with Store.open(":memory:") as inc:
        first, second = build_in_batches(inc, world, cut, tmp_path, "inc")
        assert second.mode == "incremental"
        new_urls = inc.con.execute(
            "SELECT count(*) FROM post_items WHERE build_id = ? AND starts_with(item_id, 'url:')",
            [second.build_id],
        ).fetchone()[0]
        got = {t: table_rows(inc, t) for t in TABLES}
    assert new_urls > 0  # the trickle's own links were keyed and written
    assert got == _full(tmp_path, world, rows)


def test_on_top_of_a_build_of_another_schema_every_posts_urls_are_keyed(tmp_path):
    """A store whose last build ran before a migration may lack the keys of stored
    posts' URLs (url_keys came with schema 3): the next build keys and compares them
    all, not only the new posts'."""
    world = synth_world(3, str(tmp_path), 900)
    rows = world_posts(world).height
    cut = np.zeros(rows, dtype=np.int64)
    cut[-40:] = 1
    with Store.open(":memory:") as inc:
        batches = build_in_batches(inc, world, cut, tmp_path, "inc")
        first = next(batches)
        assert inc.con.execute("SELECT count(*) FROM url_keys").fetchone()[0] > 0
        # as left by a build before url_keys existed
        inc.con.execute("DELETE FROM url_keys")
        inc.con.execute("DELETE FROM post_items WHERE starts_with(item_id, 'url:')")
        inc.con.execute(
            "UPDATE builds SET inputs = json_merge_patch(inputs, ?) WHERE build_id = ?",
            [f'{{"schema": {SCHEMA_VERSION - 1}}}', first.build_id],
        )
        second = next(batches)
        assert second.mode == "incremental"
        got = {t: table_rows(inc, t) for t in TABLES}
    assert got == _full(tmp_path, world, rows)

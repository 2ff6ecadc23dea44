"""The build's per-post work in bounded batches (issue 12, part 3): the narratives
stage's ranges of whole groups never split a group and bound a batch's rows, and a build
in tiny batches (a few narratives, cascades or items each; post_cascades written a few
rows at a time) equals a build in one batch on every derived table, full and
incremental."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.graph.batches import code_ranges
from spreadtrace.pipeline import cascades as cascades_stage
from spreadtrace.pipeline import narratives as narratives_stage
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.test_cascades_support import table_rows
from tests.test_incremental import DERIVED, _ingest_batches, _posts, _world


@settings(max_examples=200, deadline=None)
@given(
    codes=st.lists(st.integers(-1, 30), max_size=200),
    max_rows=st.integers(1, 40),
)
def test_ranges_cover_every_group_once_and_bound_each_batch(codes, max_rows):
    codes = np.array(codes, dtype=np.int64)
    ranges = code_ranges(codes, max_rows)
    grouped = codes[codes >= 0]
    if len(grouped) == 0:
        assert ranges == []
        return
    # contiguous, ascending, from 0 to past the largest code: every group in one range
    assert ranges[0][0] == 0 and ranges[-1][1] == grouped.max() + 1
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(lo < hi for lo, hi in ranges)
    counts = np.bincount(grouped)
    for lo, hi in ranges:
        rows = counts[lo:hi]
        # at most max_rows rows before the range's last group starts
        assert rows[:-1].sum() < max_rows or len(rows) == 1
        # a range starts a new batch only when the earlier ones are full
        if lo > 0:
            assert counts[:lo].sum() >= max_rows * (ranges.index((lo, hi)))


def test_a_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="max_rows"):
        code_ranges(np.array([0, 1]), 0)


@pytest.mark.parametrize("batch_rows", [7, 60])
def test_builds_in_tiny_batches_equal_builds_in_one_batch(tmp_path, monkeypatch, batch_rows):
    """A world of 1,500 posts built with batches of ``batch_rows`` posts (dozens of
    batches of narratives, cascades and items), full and then after a trickle (the
    incremental path's masks), equals the same builds in one batch, table by table."""
    world = _world(3, str(tmp_path))
    rows = _posts(world).height
    cut = np.zeros(rows, dtype=np.int64)
    cut[-40:] = 1  # a trickle after the first load: an incremental build
    with Store.open(":memory:") as one, Store.open(":memory:") as many:
        first = _ingest_batches(one, world, cut, tmp_path, "one")
        monkeypatch.setattr(narratives_stage, "BATCH_ROWS", batch_rows)
        monkeypatch.setattr(cascades_stage, "WRITE_ROWS", batch_rows)
        results = _ingest_batches(many, world, cut, tmp_path, "many")
        assert [r.mode for r in results] == [r.mode for r in first] == ["full", "incremental"]
        assert results[1].counts["narratives"]["incremental"] is True
        (in_narratives,) = many.con.execute("SELECT count(*) FROM post_narratives").fetchone()
        assert in_narratives > 10 * batch_rows  # many batches, not one
        for table in DERIVED:
            assert table_rows(many, table) == table_rows(one, table), table
        run_build(many, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(many, table) == table_rows(one, table), table

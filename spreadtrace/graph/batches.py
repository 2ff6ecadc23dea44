"""Bounded batches of whole groups: code ranges that hold at most about ``max_rows`` rows.

Why: the narratives stage ranks and scores millions of posts grouped by narrative,
cascade or item; one polars pass over all of them sorts and copies every row at once
(1-2 GB at 5M posts). Every figure is computed within its group, so the groups can be
processed a range of codes at a time, each range bounded, without changing a result.
"""

from __future__ import annotations

import numpy as np

__all__ = ["code_ranges"]


def code_ranges(codes: np.ndarray, max_rows: int) -> list[tuple[int, int]]:
    """Half-open ranges ``[lo, hi)`` of the non-negative group ``codes`` covering them all.

    Why ranges of codes: the rows of a batch are then one comparison away (``lo <= code
    < hi``), and a range never splits a group. Consecutive codes are taken while the
    rows before the group stay under a multiple of ``max_rows``: a batch holds at most
    ``max_rows`` rows plus its last group (a group larger than ``max_rows`` is a batch
    of its own). Codes absent from ``codes`` fall into some range; negative codes (no
    group) are ignored. One vectorised pass, no loop over groups.

    >>> code_ranges(np.array([0, 0, 1, 2, 2, 2, 3, 5]), 3)
    [(0, 2), (2, 3), (3, 6)]
    >>> code_ranges(np.array([], dtype=np.int64), 3)
    []
    """
    if max_rows < 1:
        raise ValueError("max_rows must be >= 1")
    codes = np.asarray(codes, dtype=np.int64)
    codes = codes[codes >= 0]
    if len(codes) == 0:
        return []
    counts = np.bincount(codes)
    before = np.cumsum(counts) - counts  # rows of the codes below each code
    batch = before // max_rows
    starts = np.flatnonzero(np.diff(batch, prepend=-1) != 0)
    ends = np.append(starts[1:], len(counts))
    return [(int(lo), int(hi)) for lo, hi in zip(starts, ends, strict=True)]

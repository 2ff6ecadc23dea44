"""Build stage "media": group copies of the same picture or video, then their provenance.

Why here, and in two steps: media groups are items that accounts co-share, so the
groups (:func:`run`) are built after cascades and before the accounts stage, which
counts co-sharing the same image as coordination; the groups' bot and coordinated
shares (:func:`finish`) need that stage's results, so they are filled after it.

Everything is recomputed globally on every build (set-wise SQL in
:mod:`spreadtrace.store.media`, components in :mod:`spreadtrace.graph.media`); the
caller (``run_build``) owns the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from spreadtrace.graph.media import components
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import media as media_sql

__all__ = ["MediaParams", "finish", "run"]


@dataclass(frozen=True)
class MediaParams:
    """Options of the media stage, with their defaults and why.

    - pdq_threshold 31: ThreatExchange's default PDQ match distance (of 256 bits).
      Copies that were resized, re-compressed, captioned or brightened stay well below
      it; unrelated pictures sit near 128 (docs/scores.md has the measured rates).
    - exact True: the index finds every pair within the threshold (chunk radius 1);
      False is the fast mode (chunk equality: exact to 15 bits, recall measured beyond).
    - min_quality 50: PDQ quality below 50 (flat or nearly blank images) makes matches
      unreliable; ThreatExchange's recommendation. Such hashes match only by sha256.
    - video_match 0.8: two videos match when 80% of each one's distinct frame hashes
      have a match in the other (vPDQ's query and compared match percentages).
    - reuse_gap_days 30: the same media back after more than 30 days is a reuse; with
      text or links unlike its first post, an "out of context" candidate.
    """

    pdq_threshold: int = 31
    exact: bool = True
    min_quality: int = 50
    video_match: float = 0.8
    reuse_gap_days: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.pdq_threshold <= 47:
            raise ValueError("pdq_threshold must be in 0..47")
        if not 0.0 < self.video_match <= 1.0:
            raise ValueError("video_match must be in (0, 1]")
        if self.reuse_gap_days < 0:
            raise ValueError("reuse_gap_days must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(
    store: Store,
    build_id: int,
    params: MediaParams | None = None,
    *,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Rebuild media_matches, post_media and media_groups; return counts."""
    params = params or MediaParams()
    con = store.con
    media_sql.drop_temp(con)
    emit(progress, "media", 0, 3)
    n = media_sql.media_items(con)
    pairs = media_sql.match_pairs(
        con,
        threshold=params.pdq_threshold,
        radius=media_sql.probe_radius(params.pdq_threshold, params.exact),
        min_quality=params.min_quality,
        video_match=params.video_match,
    )
    emit(progress, "media", 1, 3)
    membership = components(n, pairs["a"].to_numpy(), pairs["b"].to_numpy())
    emit(progress, "media", 2, 3)
    counts = media_sql.write_groups(con, membership, build_id, reuse_gap_days=params.reuse_gap_days)
    media_sql.drop_temp(con)
    emit(progress, "media", 3, 3)
    counts["media_items"] = n
    counts["media_matches"] = pairs.height
    return counts


def finish(store: Store) -> None:
    """Fill the groups' bot and coordinated shares (after the accounts stage)."""
    media_sql.update_scores(store.con)

"""Build stage "items": what every post carries — its URLs, hashtags, media and text group.

Why a stage of its own, between media and accounts: items are what accounts co-share
(coordination reads ``post_items``) and what narratives group, so both later stages
read the same items. URLs are keyed by the one normaliser (:mod:`spreadtrace.urls`),
media items come from the media stage, and text items are the near-duplicate groups
(MinHash LSH) of the cascades' content-bearing posts — computed once here, read back
by the narratives stage.

Recomputed globally on every build; the caller (``run_build``) owns the transaction.
"""

from __future__ import annotations

from spreadtrace.graph.narratives import text_items
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store
from spreadtrace.store import items as items_sql
from spreadtrace.store import narratives as narrative_sql

__all__ = ["finish", "run"]


def run(
    store: Store,
    build_id: int,
    params: NarrativeParams | None = None,
    *,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Replace items and post_items; return counts. Text settings are the narratives'."""
    params = params or NarrativeParams()
    con = store.con
    emit(progress, "items", 0, 2)
    items_sql.refresh_url_keys(con, build_id)
    texts = text_items(
        narrative_sql.content_roots(con),
        threshold=params.text_threshold,
        num_perm=params.num_perm,
        min_text_tokens=params.min_text_tokens,
    )
    emit(progress, "items", 1, 2)
    counts = items_sql.write_items(con, build_id, texts)
    emit(progress, "items", 2, 2)
    return counts


def finish(store: Store) -> None:
    """Fill the items' bot and coordinated shares, once the accounts stage flagged them."""
    items_sql.fill_item_shares(store.con)

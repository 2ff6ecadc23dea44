"""Build stages: glue from the store to the pure graph functions and back (one module per stage).

:data:`STAGES` is the one map of the build: each stage (in the order
:func:`spreadtrace.pipeline.build.run_build` runs them) with the stored tables it reads and the
tables it writes. ``tests/test_pipeline_map.py`` checks every name against the schema.
Work tables a stage creates and drops inside itself (``_st_*``, ``_co_*`` ...) are not
listed: no stage may read another's work tables.

What changed since the last build is computed once per build
(:class:`spreadtrace.pipeline.changes.Changes`) and handed to the stages. Incremental
today: cascades (the cascades new posts touch), the items stage's text items
(stored LSH state) and accounts (features of the accounts new posts change, co-shares
of the items they share; stored state in store/accounts_state.py). Still global,
written as set-wise differences (:mod:`spreadtrace.store.sync`): media,
URL/hashtag/media items, narratives, origin, amplification and corrections.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STAGES", "Stage"]


@dataclass(frozen=True)
class Stage:
    """One build stage: its module under ``spreadtrace.pipeline``, what it reads and writes."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage(
        "cascades",
        reads=("posts", "follows", "post_cascades", "cascades", "meta"),
        writes=("cascades", "post_cascades", "data_quality", "meta", "row_changes"),
    ),
    Stage(
        "media",
        reads=(
            "posts",
            "media",
            "post_media",
            "media_groups",
            "account_scores",
            "coordination_clusters",
        ),
        writes=("media_matches", "post_media", "media_groups"),
    ),
    Stage(
        "items",
        # account_scores and coordination_clusters: read by its finish step (item shares)
        reads=(
            "posts",
            "post_cascades",
            "post_media",
            "media_groups",
            "url_keys",
            "account_scores",
            "coordination_clusters",
            "text_norms",
            "text_pairs",
            "meta",
        ),
        # text_norms, text_pairs: the stored near-duplicate state (store/text_state.py)
        writes=(
            "url_keys",
            "items",
            "post_items",
            "text_norms",
            "text_pairs",
            "meta",
            "row_changes",
        ),
    ),
    Stage(
        "accounts",
        # builds: the last finished build's ingest run (what is new); the stored state
        # and its own tables: what an incremental build keeps
        reads=(
            "posts",
            "accounts",
            "post_items",
            "builds",
            "meta",
            "account_features",
            "coordination_shares",
            "coordination_hits",
            "coordination_pairs",
            "account_scores",
            "account_score_parts",
        ),
        # account_features, coordination_shares, coordination_hits, account_score_parts:
        # the stored state (store/accounts_state.py)
        writes=(
            "account_features",
            "coordination_shares",
            "coordination_hits",
            "account_score_parts",
            "account_scores",
            "coordination_pairs",
            "coordination_clusters",
            "meta",
            "row_changes",
        ),
    ),
    Stage(
        "narratives",
        reads=(
            "posts",
            "cascades",
            "post_cascades",
            "account_scores",
            "coordination_clusters",
            "items",
            "post_items",
            "url_keys",
            "community_notes",
            "community_note_status",
            "builds",
            "meta",
            "narrative_keys",
            "narrative_map",
            "item_origin_parts",
        ),
        # narrative_keys, narrative_map: the grouping's stored state
        # (store/narrative_state.py); item_origin_parts: the item origins' stored
        # state (store/origin_state.py)
        writes=(
            "narrative_keys",
            "narrative_map",
            "item_origin_parts",
            "meta",
            "narrative_origin_items",
            "item_origin_scores",
            "narratives",
            "post_narratives",
            "cascade_scores",
            "origin_scores",
            "account_origin",
            "row_changes",
        ),
    ),
)

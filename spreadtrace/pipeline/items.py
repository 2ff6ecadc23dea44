"""Build stage "items": what every post carries — its URLs, hashtags, media and text group.

Why a stage of its own, between media and accounts: items are what accounts co-share
(coordination reads ``post_items``) and what narratives group, so both later stages
read the same items. URLs are keyed by the one normaliser (:mod:`spreadtrace.urls`),
media items come from the media stage, and text items are the near-duplicate groups
(MinHash LSH) of the cascades' content-bearing posts — computed once here, read back
by the narratives stage.

Text items are incremental: the LSH state is stored (:mod:`spreadtrace.store.text_state`),
so a build looks only at the roots of the cascades it rebuilt, normalises and MinHashes
only those it has not seen, and recomputes the star pairs only of the LSH buckets those
texts (or roots that went) fall into; the groups (connected components of the stored
pairs) and their item ids are re-formed only where such a bucket reaches, whole, and
the result equals a full recomputation (``tests/test_incremental.py``,
``tests/test_text_state.py``). A full build empties the state first. URL, hashtag
and media items are still recomputed over every post, set-wise in SQL and written as
the difference (:mod:`spreadtrace.store.sync`); in an incremental build only the item
rows of the post_items rows written are recomputed, and the
shares only of the items whose posts or posters' flags changed. The caller (``run_build``) owns the
transaction.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow as pa

from spreadtrace.graph.narratives import (
    bucket_star_pairs,
    lsh_layout,
    norm_band_keys,
    norm_signatures,
    normalize_text_expr,
    shared_bucket_rows,
    text_items_from_pairs,
)
from spreadtrace.pipeline.changes import Changes
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import SCHEMA_VERSION, Store
from spreadtrace.store import builds as builds_sql
from spreadtrace.store import items as items_sql
from spreadtrace.store import text_state as text_sql

# Bump when the text items' rules change: a state from another version is recomputed.
TEXT_STATE_VERSION = 1

__all__ = ["finish", "run"]


def run(
    store: Store,
    build_id: int,
    params: NarrativeParams | None = None,
    *,
    changes: Changes | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Update items and post_items; return counts. Text settings are the narratives'.

    ``changes`` None or full: the text state is recomputed from scratch.
    """
    params = params or NarrativeParams()
    con = store.con
    emit(progress, "items", 0, 2)
    full = changes is None or changes.full
    cascades = None
    if not full and changes is not None and changes.cascades is not None:
        cascades = pa.table({"cascade_id": pa.array(changes.cascades, pa.string())})
    # item rows are scoped to the change only on top of a build of this schema: one
    # from before a migration may not have keyed every stored post's URLs
    last = builds_sql.last_build(con)
    same_schema = last is not None and last[1].get("schema") == SCHEMA_VERSION
    scoped = not full and same_schema
    try:
        texts, text_posts, text_counts = _text_items(
            store, params, full=full, cascades=cascades, whole=not scoped
        )
        emit(progress, "items", 1, 2)
        counts = items_sql.write_items(con, build_id, texts, scoped=scoped, text_posts=text_posts)
    finally:
        text_sql.drop_work_tables(con)
    emit(progress, "items", 2, 2)
    return counts | text_counts


def _text_items(
    store: Store,
    params: NarrativeParams,
    *,
    full: bool,
    cascades: pa.Table | None = None,
    whole: bool = False,
) -> tuple[pl.DataFrame, pa.Table | None, dict[str, int]]:
    """The text items (post_id, item_id) that can have changed, updating the stored state,
    and the posts whose text rows they replace (None: every root's, the state was emptied).

    ``cascades``: the cascades the build rebuilt (None: look at every root). In an
    incremental build only the roots of those cascades are hashed, and only the groups
    holding an affected text are re-formed (:func:`text_sql.regroup_region`).
    ``whole``: every root's text item is returned all the same (the rows are compared
    whole: on top of a build of another schema).
    """
    con = store.con
    state = json.dumps(
        {
            "version": TEXT_STATE_VERSION,
            "threshold": params.text_threshold,
            "num_perm": params.num_perm,
            "min_text_tokens": params.min_text_tokens,
        },
        sort_keys=True,
    )
    emptied = text_sql.prepare(con, state, reset=full)
    bands, rows = lsh_layout(params.text_threshold, params.num_perm)
    new = text_sql.changed_roots(con, None if emptied else cascades)
    # normalise each distinct new text once, MinHash each distinct long-enough norm once
    texts = new.select("text").drop_nulls().unique()
    texts = texts.with_columns(norm=normalize_text_expr(pl.col("text"))).filter(
        pl.col("norm").str.count_matches(" ") + 1 >= params.min_text_tokens
    )
    norms = texts.select("norm").unique().sort("norm")
    # keys only: the signatures are signed again below for the few rows sharing a bucket
    keys = norm_band_keys(norms["norm"], num_perm=params.num_perm, bands=bands, rows=rows)
    low = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    norms = norms.with_columns(keys=pl.Series(low).cast(pl.List(pl.UInt32)))
    added = new.join(texts, on="text", how="left").join(norms, on="norm", how="left")
    n_buckets = text_sql.add_norms(
        con, added.select("post_id", "text_hash", "norm", "keys"), mark=not emptied
    )
    del new, texts, added, low  # the raw texts: only the norms are needed from here
    # recompute the star pairs of every affected bucket, over all its members
    known = norms["norm"]
    others = pl.Series("norm", [], dtype=pl.String)
    affected_norms = pl.DataFrame(schema={"norm": pl.String})
    if n_buckets:  # (none marked from an empty state: every member is new)
        members = text_sql.affected_members(con)["norm"]
        affected_norms = members.to_frame("norm")
        others = members.filter(~members.is_in(known.implode())) if len(known) else members
    all_norms = pl.concat([known, others]) if len(others) else known
    if len(others):
        other_keys = norm_band_keys(others, num_perm=params.num_perm, bands=bands, rows=rows)
        keys = np.concatenate([keys, other_keys])
        del other_keys
        # rows in sorted order, so that a bucket's head is its smallest text (the new
        # norms alone are sorted already)
        order = all_norms.arg_sort().to_numpy()
        all_norms, keys = all_norms.gather(order), keys[order]
    held = shared_bucket_rows(keys)
    sig = norm_signatures(all_norms.gather(held), num_perm=params.num_perm)
    triples = bucket_star_pairs(sig, keys, threshold=params.text_threshold, held=held)
    del sig, held
    band, i, j = triples[:, 0], triples[:, 1], triples[:, 2]
    pairs = pl.DataFrame(
        {
            "band": band.astype(np.int32),
            "key": (keys[i, band] & np.uint64(0xFFFFFFFF)).astype(np.uint32),
            "norm_a": all_norms.gather(i),
            "norm_b": all_norms.gather(j),
        }
    )
    hashed = len(known)
    # the band keys and norms are not read again: freed before the pairs are written
    # and the items made from every stored norm (memory: the stage's peak at 5M posts)
    del keys, triples, band, i, j, norms, known, others, all_norms
    if not emptied:  # only the affected buckets hold all their members
        affected = text_sql.affected_buckets(con).cast({"band": pl.Int32, "key": pl.UInt32})
        pairs = pairs.join(affected, on=["band", "key"], how="semi")
    counts = text_sql.replace_pairs(con, pairs, scoped=not emptied)
    del pairs
    counts |= {"texts_hashed": hashed, "text_buckets": n_buckets}
    if emptied or whole:
        items = text_items_from_pairs(text_sql.root_norms(con), text_sql.stored_pairs(con))
        return items, None, counts
    # only the groups holding an affected text can change: re-form those, whole
    region_rows, region_pairs, text_posts = text_sql.regroup_region(con, affected_norms)
    counts["text_region_roots"] = region_rows.height
    return text_items_from_pairs(region_rows, region_pairs), text_posts, counts


def finish(store: Store, build_id: int, flags_before: pl.DataFrame | None = None) -> None:
    """Fill the items' bot and coordinated shares, once the accounts stage flagged them
    (the items changed take ``build_id``); ``flags_before`` (an incremental build: the
    flags before the accounts stage) limits it to the items whose shares can move."""
    items_sql.fill_item_shares(store.con, build_id, flags_before)

"""Build stage "narratives": narratives, then origin, then amplification.

Why one stage for three tables: all three read the same forest of posts (cascades with
their narrative and account flags), so it is loaded once. The order follows the
contract: narratives (which cascades carry the same claim) -> origin (who started each)
-> amplification (how much of the spread came from bot-like or coordinated accounts,
which needs the accounts stage's ``account_scores`` and ``coordination_clusters``).

The grouping follows the change too: only the closure of the changed roots under the
keys that link roots is regrouped, the rest of the stored grouping kept (``_grouping``,
:mod:`spreadtrace.store.narrative_state`); it is global when the caps move, in
``semantic`` mode, or without the last build's state. Everything after it follows the
change in an incremental build: the forest is
loaded only for the affected cascades and narratives (cascades rebuilt, holding a post
of an account whose flags changed, or whose narrative changed; their narratives:
``_mark_affected`` in :mod:`spreadtrace.store.narratives`) and the cascades whose item
origin parts may change, and only their rows are rewritten; the origin index is
recomputed from the stored candidates, and an item that grew is re-ranked from its
stored parts (:mod:`spreadtrace.store.origin_state`), not from the trees of all its
cascades (a topic hashtag is on tens of thousands). A full build recomputes everything,
and equals any sequence of incremental builds (tests/test_incremental.py). Only the
rows that changed are written (:mod:`spreadtrace.store.sync`). The caller
(``run_build``) owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from spreadtrace.corrections import factcheck_domains, is_factcheck_host
from spreadtrace.graph import batches
from spreadtrace.graph.amplification import (
    SCORE_COLUMNS,
    AmplificationWeights,
    amplification_scores,
    reach_bounds,
    reached_only_via,
)
from spreadtrace.graph.narratives import group_narratives, grouping_cap
from spreadtrace.graph.origin import (
    OriginWeights,
    item_post_pairs,
    origin_index,
    origin_parts,
    origin_scores,
    post_tree_features,
    rank_origin_parts,
)
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.store import Store, narrative_state, origin_state
from spreadtrace.store import builds as builds_sql
from spreadtrace.store import items as items_sql
from spreadtrace.store import narratives as narrative_sql

__all__ = ["NarrativeParams", "run"]


@dataclass(frozen=True)
class NarrativeParams:
    """Options of the narratives stage, with their defaults and why.

    - text_threshold 0.6: word-bigram Jaccard at which two texts count as copy-paste
      variants (a 13-word claim with two adjacent words swapped scores 0.6, with a
      6-word prefix 0.67; two claims from one template differing in 3 words ~0.4).
    - semantic False, semantic_threshold 0.6: paraphrase grouping with WordLlama
      embeddings (the ``semantic`` extra); off by default: on PHEME germanwings it
      did not raise B-cubed F1 enough to pay for its quadratic cost (docs/scores.md).
    - num_perm 128: MinHash permutations; the estimate's standard error is at most
      0.044, so template-mates at 0.4 pass 0.6 with probability < 1e-5.
    - min_text_tokens 4: shorter texts ("lol", "so true") are not evidence.
    - hashtag_max_share 0.001, hashtag_max_roots 50: a hashtag on more than 0.1% of
      the roots (at least 5, at most 50) is a topic, not a claim; the same cap for a
      media group (a stock image on many unrelated stories is no evidence).
    - min_posts 2: a lone post that nobody shared and nothing links is not a narrative.
    - early_fraction 0.10: "early" shares are the first 10% of a cascade's shares.
    - origin_top_k 10: candidates kept per narrative in origin_scores.
    - item_origin_top_k 3, item_min_accounts 2: candidates kept per item in
      item_origin_scores (items outnumber narratives ~10 to 1), for the items that at
      least 2 accounts posted (with one, that account is the only candidate).
    - seed_rank 3 / wide_posts 1000: an account seeds a narrative when it is a top-3
      candidate; a narrative of 1000+ posts counts as fully wide for origin_index.
    - origin / amplification: the score weights (see the graph modules).
    - factcheck_file None: a user file of more fact-check domains (one a line), added
      to the shipped list (:mod:`spreadtrace.corrections`).
    """

    text_threshold: float = 0.6
    semantic: bool = False
    semantic_threshold: float = 0.6
    num_perm: int = 128
    min_text_tokens: int = 4
    hashtag_max_share: float = 0.001
    hashtag_max_roots: int = 50
    min_posts: int = 2
    early_fraction: float = 0.10
    origin_top_k: int = 10
    item_origin_top_k: int = 3
    item_min_accounts: int = 2
    seed_rank: int = 3
    wide_posts: int = 1000
    origin: OriginWeights = field(default_factory=OriginWeights)
    amplification: AmplificationWeights = field(default_factory=AmplificationWeights)
    factcheck_file: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.text_threshold <= 1.0:
            raise ValueError("text_threshold must be in (0, 1]")
        if self.num_perm < 8:
            raise ValueError("num_perm must be >= 8")
        if not 0.0 < self.early_fraction <= 1.0:
            raise ValueError("early_fraction must be in (0, 1]")
        if min(self.min_posts, self.origin_top_k, self.seed_rank, self.item_origin_top_k) < 1:
            raise ValueError("min_posts, origin_top_k, item_origin_top_k, seed_rank must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run(
    store: Store,
    build_id: int,
    params: NarrativeParams | None = None,
    *,
    touched: list[str] | None = None,
    flags_before: pl.DataFrame | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, float]:
    """Recompute narratives, origin scores and amplification scores; return counts.

    ``touched`` (the cascades the cascades stage rebuilt) and ``flags_before`` (the
    flagged accounts before the accounts stage:
    :func:`spreadtrace.store.narratives.account_flags`) make it incremental, when the
    last build used the same parameters and no post left the store since.
    """
    params = params or NarrativeParams()
    con = store.con
    steps = 5
    scoped = (
        touched is not None
        and flags_before is not None
        and _same_state(store, params)
        and origin_state.usable(con)
    )
    try:
        emit(progress, "narratives", 0, steps)
        cascades, narratives_, counts = _grouping(
            store, build_id, params, touched if scoped else None
        )
        counts |= narrative_sql.write_narratives(
            con,
            build_id,
            cascades,
            narratives_,
            touched=touched if scoped else None,
            flags_before=flags_before,
            item_min_accounts=params.item_min_accounts,
            # a local regrouping: outside its scope every cascade kept its narrative
            regrouped=narrative_state.SCOPE_TABLE if "grouping_seeds" in counts else None,
        )
        counts["incremental"] = scoped
        del cascades, narratives_
        emit(progress, "narratives", 1, steps)

        posts = narrative_sql.tree_posts(con, scoped=scoped)  # ids as codes in id order
        ids = _Ids(*narrative_sql.tree_ids(con, scoped=scoped))
        parent = posts["parent_idx"].to_numpy()
        cascade = posts["cascade"].to_numpy()
        n_cascades = int(cascade.max()) + 1 if len(cascade) else 0
        unseen = np.zeros(n_cascades, dtype=bool)
        unseen[cascade[~posts["root_seen"].to_numpy()]] = True
        depth, reach, centrality = post_tree_features(parent, cascade, unseen)
        emit(progress, "narratives", 2, steps)

        # incremental: only the affected narratives, whole in the forest, are ranked
        narratives = _affected_codes(con, ids) if scoped else None
        origins, seeds = _origins(params, posts, ids, depth, reach, centrality, narratives)
        counts |= narrative_sql.write_origins(con, build_id, origins, seeds, scoped=scoped)
        del origins, seeds
        if scoped:  # the index of the accounts that seed an affected narrative, before or
            # after, from their stored candidates in every narrative
            ranked, sizes = narrative_sql.account_origin_seeds(con, params.seed_rank, scoped=True)
            narrative_sql.write_account_origin(
                con,
                build_id,
                origin_index(
                    ranked, sizes, seed_rank=params.seed_rank, wide_posts=params.wide_posts
                ),
                scoped=True,
            )
            del ranked, sizes
            counts |= narrative_sql.origin_counts(con)
        counts |= _item_origins(
            store, build_id, params, posts, ids, depth, reach, centrality, scoped=scoped
        )
        # from the items' origins
        items_sql.write_narrative_origin_items(con, build_id, scoped=scoped)
        emit(progress, "narratives", 3, steps)
        del unseen, depth, reach, centrality  # not read by the amplification

        per_cascade, per_narrative = _amplification(
            con, params, posts, ids, parent, cascade, narratives, scoped=scoped
        )
        # the forest is not needed by the writes below: free it before DuckDB's peak
        del posts, ids, parent, cascade
        counts |= narrative_sql.write_amplification(
            con, build_id, per_cascade, per_narrative, scoped=scoped
        )
        del per_cascade, per_narrative
        hosts = narrative_sql.url_hosts(con)["host"]
        factcheck = hosts.filter(
            is_factcheck_host(hosts, factcheck_domains(params.factcheck_file))
        ).to_list()
        counts |= narrative_sql.write_corrections(con, factcheck, scoped=scoped)
        narrative_sql.finish(con, build_id, scoped=scoped)
        emit(progress, "narratives", steps, steps)
        return counts
    finally:
        narrative_sql.drop_work_tables(con)
        narrative_state.drop_work_tables(con)
        origin_state.drop_work_tables(con)


def _grouping(
    store: Store, build_id: int, params: NarrativeParams, touched: list[str] | None
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """The (cascades, narratives) grouping, and its counts: the whole store's, or, when
    regrouped locally (``grouping_seeds`` in the counts), the regrouped scope's only
    (the stored map, ``narrative_map``, then holds the whole new grouping).

    ``touched`` (an incremental build, see :func:`run`): only the closure of the changed
    roots is regrouped (:mod:`spreadtrace.store.narrative_state`), the rest kept, when
    the stored state is the last build's, the caps did not move and the grouping is
    local (not ``semantic``: Leiden's communities depend on the whole graph; text
    groups stored, not computed here over every text). Equal to a full grouping.
    """
    con = store.con
    kw: dict[str, Any] = {
        "text_threshold": params.text_threshold,
        "num_perm": params.num_perm,
        "min_text_tokens": params.min_text_tokens,
        "hashtag_max_roots": params.hashtag_max_roots,
        "hashtag_max_share": params.hashtag_max_share,
        "min_posts": params.min_posts,
        "semantic": params.semantic,
        "semantic_threshold": params.semantic_threshold,
    }
    n_roots = narrative_sql.cascade_count(con)
    cap = grouping_cap(n_roots, params.hashtag_max_share, params.hashtag_max_roots)
    local = (
        touched is not None
        and not params.semantic
        and narrative_state.usable(con)
        and cap
        == grouping_cap(
            narrative_state.previous_roots(con),
            params.hashtag_max_share,
            params.hashtag_max_roots,
        )
    )
    if touched is None or not local:
        roots = narrative_sql.cascade_roots(con)
        grouping = group_narratives(
            roots,
            keys=items_sql.url_key_frame(con, roots_only=True),
            media=narrative_sql.root_media(con),
            **kw,
        )
        narrative_state.write_all(
            con, build_id, roots["cascade_id"], grouping.evidence, grouping.cascades
        )
        return grouping.cascades, grouping.narratives, {"regrouped_cascades": roots.height}
    seeds = narrative_state.mark_seeds(con, build_id, touched)
    seed_inputs = narrative_state.scoped_inputs(con, "_ng_seeds")
    evidence = group_narratives(
        *seed_inputs[:1], keys=seed_inputs[1], media=seed_inputs[2], stored_text_groups=True, **kw
    ).evidence
    narrative_state.replace_seed_keys(con, evidence)
    scope = narrative_state.close_scope(con, cap)
    rest = narrative_state.scoped_inputs(con, "_ng_rest")
    roots, keys, media = (
        pl.concat([a, b], how="vertical_relaxed") for a, b in zip(seed_inputs, rest, strict=True)
    )
    del seed_inputs, rest
    grouping = group_narratives(
        roots,
        keys=keys,
        media=media,
        n_roots=n_roots,
        topics=narrative_state.topics(con, cap),
        stored_text_groups=True,
        **kw,
    )
    # the whole grouping is the stored one with the scope's replaced (write_narratives
    # reads it from the stored map and narratives, not from a copy of every row)
    narrative_state.write_scope(con, build_id, roots["cascade_id"], grouping.cascades)
    return (
        grouping.cascades,
        grouping.narratives,
        {"grouping_seeds": seeds, "regrouped_cascades": scope},
    )


def _same_state(store: Store, params: NarrativeParams) -> bool:
    """Whether the stored results can be updated in place: the last finished build used
    these narrative parameters and no post left the store since (no erasure, no
    retention or replaced post: a removed post's narratives are not found from the
    remaining posts), i.e. the store holds that build's posts plus the new ones."""
    last = builds_sql.last_build(store.con)
    if last is None:
        return False
    stored_params, stored_inputs = last
    wanted = json.loads(json.dumps(params.to_dict()))
    if stored_params.get("narratives") != wanted:
        return False
    now = json.loads(builds_sql.inputs_fingerprint(store.con))
    new_posts, _ = builds_sql.new_since_last_build(store.con)
    return (
        stored_inputs.get("erasures") == now.get("erasures")
        and stored_inputs.get("posts") is not None
        and int(stored_inputs["posts"]) + new_posts == now.get("posts")
    )


def _affected_codes(con: Any, ids: _Ids) -> np.ndarray:
    """The forest's narrative codes of the affected narratives, as a boolean mask by code."""
    affected = narrative_sql.affected_narratives(con)
    return ids.narrative_id.is_in(affected.to_list()).to_numpy()


@dataclass(frozen=True)
class _Ids:
    """The ids behind the forest's codes: code i is ``cascade_id[i]`` (and so on)."""

    cascade_id: pl.Series
    narrative_id: pl.Series
    account_id: pl.Series

    def back(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """``frame`` with its code ``columns`` (named as the ids) replaced by the ids."""
        return frame.with_columns(
            getattr(self, c).gather(frame[c].cast(pl.Int64)).alias(c) for c in columns
        )


def _origins(
    params: NarrativeParams,
    posts: pl.DataFrame,
    ids: _Ids,
    depth: np.ndarray,
    reach: np.ndarray,
    centrality: np.ndarray,
    narratives: np.ndarray | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Origin candidates per narrative and the accounts' origin index, from the forest.

    ``narratives``: a mask by narrative code of the narratives to rank (incremental:
    the affected ones; the index is then left to the caller, None).

    Only the columns :func:`origin_scores` reads are kept for the narratives' posts,
    with narrative, cascade and account as integer codes in id order (they group, sort
    and break ties as the ids would); the ids come back on the ranked rows only.
    """
    forest = posts.select(
        narrative_id="narrative",
        cascade_id="cascade",
        account_id="account",
        created_at="created_at",
        root_seen="root_seen",
        depth=pl.Series(depth),
        reach=pl.Series(reach),
        centrality=pl.Series(centrality),
    )
    ranked: list[pl.DataFrame] = []
    sized: list[pl.DataFrame] = []
    # narratives a bounded range at a time (each is ranked within itself), in code order
    for in_narr in _batches(forest, "narrative_id", narratives):
        ranked.append(origin_scores(in_narr, weights=params.origin, top_k=params.origin_top_k))
        if narratives is None:
            sized.append(in_narr.group_by("narrative_id").agg(posts=pl.len()))
        del in_narr
    del forest
    origins = pl.concat(ranked)
    if narratives is not None:
        return ids.back(origins, "narrative_id", "account_id"), None
    sizes = pl.concat(sized)
    origins = ids.back(origins, "narrative_id", "account_id")
    sizes = ids.back(sizes, "narrative_id")
    seeds = origin_index(origins, sizes, seed_rank=params.seed_rank, wide_posts=params.wide_posts)
    return origins, seeds


# rows (posts, or item-post pairs) a batch of groups holds: a batch's frames, sorts and
# group-bys then take a bounded ~0.1-0.3 GB, whatever the store size
BATCH_ROWS = 500_000


def _ranges(codes: pl.Series, groups: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Bounded ranges of the group ``codes`` (nulls: no group), at least one (maybe empty).

    ``groups``: a mask by code of the groups wanted (the others' rows are not counted).
    """
    values = codes.fill_null(-1).to_numpy()
    if groups is not None:
        values = values[values >= 0]
        values = values[groups[values]]
    return batches.code_ranges(values, BATCH_ROWS) or [(0, 0)]


def _batches(
    frame: pl.DataFrame, column: str, groups: np.ndarray | None = None
) -> Iterator[pl.DataFrame]:
    """The rows of ``frame`` with a group in ``column``, one bounded range of groups at a
    time (:func:`_ranges`); with ``groups``, only the groups that mask keeps."""
    for lo, hi in _ranges(frame[column], groups):
        batch = frame.filter(pl.col(column).is_between(lo, hi, closed="left"))
        if groups is not None:
            batch = batch.filter(pl.Series(groups).gather(batch[column].cast(pl.Int64)))
        yield batch


def _amplification(
    con: Any,
    params: NarrativeParams,
    posts: pl.DataFrame,
    ids: _Ids,
    parent: np.ndarray,
    cascade: np.ndarray,
    narratives: np.ndarray | None = None,
    *,
    scoped: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amplification scores per cascade and per narrative (their SCORE_COLUMNS), grouped
    by the codes (in id order: the same sorts) and given their ids back per group.

    ``narratives``: a mask by code of the narratives to score (the others may lie only
    partly in an incremental build's forest); ``scoped``: that forest's candidates,
    and only its affected cascades scored (``_sn_aff_c``)."""
    flagged = (posts["bot"] | posts["coordinated"]).to_numpy() & ~posts["is_root"].to_numpy()
    cut, low, high = _reach_cuts(con, posts, parent, cascade, flagged, scoped=scoped)
    scored = posts.select(
        cascade_id="cascade",
        narrative_id="narrative",
        post_id="post_id",
        created_at="created_at",
        bot="bot",
        coordinated="coordinated",
        inferred="inferred",
        is_share=~pl.col("is_root") & ~pl.col("conversation"),  # replies are not spread
        cut=pl.Series(cut),
        cut_low=pl.Series(low),
        cut_high=pl.Series(high),
    )
    del flagged, cut, low, high

    # incremental: only the affected cascades are scored (the others in the forest keep
    # their stored scores: their posts, flags and narrative did not change)
    affected = (
        ids.cascade_id.is_in(narrative_sql.affected_cascades(con).implode()).to_numpy()
        if scoped
        else None
    )

    def scores(by: str, groups: np.ndarray | None = None) -> pl.DataFrame:
        # a bounded range of groups at a time (each is scored within itself)
        parts = [
            amplification_scores(
                batch,
                by=by,
                early_fraction=params.early_fraction,
                weights=params.amplification,
                unit=by.removesuffix("_id"),
            ).select(by, *SCORE_COLUMNS)
            for batch in _batches(scored, by, groups)
        ]
        return ids.back(pl.concat(parts), by)

    return scores("cascade_id", affected), scores("narrative_id", narratives)


def _item_origins(
    store: Store,
    build_id: int,
    params: NarrativeParams,
    posts: pl.DataFrame,
    ids: _Ids,
    depth: np.ndarray,
    reach: np.ndarray,
    centrality: np.ndarray,
    *,
    scoped: bool = False,
) -> dict[str, int]:
    """Rank candidate origins per item, by the narratives' rule, from the items' parts.

    An item's posts are the posts carrying it and the shares below them
    (:func:`spreadtrace.graph.origin.item_post_pairs`); their parts per (item, cascade,
    account) (:func:`spreadtrace.graph.origin.origin_parts`) are all the ranking reads,
    and are stored (:mod:`spreadtrace.store.origin_state`). A full build computes every
    ranked item's parts over the forest, stores them and ranks from them, a bounded
    range of items at a time. ``scoped`` (an incremental build): the forest holds the
    cascades whose parts may change; their parts are swapped into the stored ones, and
    the affected items (``_sn_aff_i``, with those whose parts changed) are re-ranked
    from the stored parts, so a topic item on thousands of cascades costs its parts'
    rows, not their trees.
    """
    con = store.con
    own_row, own_item, item_ids = items_sql.item_post_rows(
        con, min_accounts=params.item_min_accounts
    )
    parent = posts["parent_idx"].to_numpy()
    share = ~posts["conversation"].to_numpy()
    rows, item = item_post_pairs(parent, share, own_row, own_item, depth)
    del own_row, own_item
    cascade = posts["cascade"].to_numpy()
    seen = posts["root_seen"].to_numpy()
    # accounts as codes in id order, not strings, until the parts are made
    code = posts["account"].to_numpy()
    if not scoped:
        origin_state.begin_all(con)
    fresh: list[pl.DataFrame] = []
    ranked: list[pl.DataFrame] = []
    # a bounded range of items at a time (each item is ranked within itself)
    for lo, hi in _ranges(pl.Series(item)):
        take = np.flatnonzero((item >= lo) & (item < hi))
        at = rows[take]
        frame = pl.DataFrame(
            {
                "item": item[take],
                "cascade_id": cascade[at],
                "account_id": code[at],
                "created_at": posts["created_at"].gather(at),
                "root_seen": seen[at],
                "depth": depth[at],
                "reach": reach[at],
                "centrality": centrality[at],
            }
        )
        del take, at
        parts = ids.back(
            origin_parts(frame, by="item").join(item_ids, on="item").drop("item"),
            "cascade_id",
            "account_id",
        )
        del frame
        if scoped:
            fresh.append(parts)
            continue
        origin_state.insert(con, parts)
        ranked.append(rank_origin_parts(parts, **_item_rank(params)))
        del parts
    del rows, item
    counts: dict[str, int] = {}
    if scoped:
        counts["item_parts_changed"] = origin_state.replace_scope(
            con, build_id, pl.concat(fresh), min_accounts=params.item_min_accounts
        )
        del fresh
        stored = origin_state.affected_parts(con)
        counts["items_reranked"] = stored["item_id"].n_unique()
        ranked = [rank_origin_parts(stored, **_item_rank(params))]
        del stored
    else:
        origin_state.record(con, build_id)
    return counts | items_sql.write_item_origins(con, build_id, pl.concat(ranked), scoped=scoped)


def _item_rank(params: NarrativeParams) -> dict[str, Any]:
    """:func:`rank_origin_parts`' options for the items' ranking."""
    return {"weights": params.origin, "top_k": params.item_origin_top_k, "by": "item_id"}


def _reach_cuts(
    con: Any,
    posts: pl.DataFrame,
    parent: np.ndarray,
    cascade: np.ndarray,
    flagged: np.ndarray,
    *,
    scoped: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut-off posts over explicit parents, and the bounds over inferred parents.

    Explicit only: an inferred post hangs on its cascade's root, as the platform gave
    it (so only explicit links carry reach). Bounds: an inferred post may hang on any
    of its candidates (:func:`spreadtrace.store.narratives.inferred_candidates`);
    when none is found any more (follows changed since the cascades stage) the stored
    guess is its only candidate.
    """
    n = len(parent)
    inferred = posts["inferred"].to_numpy()
    is_root = posts["is_root"].to_numpy()
    root_of = np.full(int(cascade.max()) + 1 if n else 0, -1, dtype=np.int64)
    root_of[cascade[is_root]] = np.flatnonzero(is_root)
    explicit = parent.copy()
    # back on the root (-1 when the original is unseen: a root of its own, as good)
    explicit[inferred] = root_of[cascade[inferred]]
    cut = reached_only_via(explicit, flagged)
    if not inferred.any():
        return cut, cut, cut
    cand_child, cand = narrative_sql.inferred_candidates(con, scoped=scoped)
    missing = np.flatnonzero(inferred & (np.bincount(cand_child, minlength=n) == 0))
    fixed = np.flatnonzero((parent >= 0) & ~inferred)
    child = np.concatenate([fixed, cand_child, missing])
    par = np.concatenate([parent[fixed], cand, parent[missing]])
    low = reach_bounds(n, child, par, flagged, worst=False)
    high = reach_bounds(n, child, par, flagged, worst=True)
    return cut, low, high

"""Narratives: group cascades that carry the same claim, set-wise, at millions of posts.

Why: a claim rarely travels as one cascade. It is re-posted as fresh originals that share
a link (often with different tracking parameters), copy-paste text with small edits, or a
campaign hashtag. We group cascade *roots* (the content-bearing post of each cascade) by
their items, with a linkage that requires cohesion rather than single linkage (connected
components of all evidence let one near-duplicate bridge two stories, and chains grew
with the data):

* **url** — articles: the same normalised URL (the project's one normaliser,
  :mod:`spreadtrace.urls`; the build stores keys in ``url_keys``). Bare domains are not
  evidence; shortened links (never expanded) are not articles. Articles anchor
  narratives; two articles join only on a strong tie — ``min_cooccur`` roots carry both,
  or one normalised text (identical apart from the link) is posted with both and with at
  most three articles in all. A shared template line differing in one word is no tie.
* **media** — the same media group (an image or video and its near-duplicates: the
  build's ``media`` items, :mod:`spreadtrace.graph.media`) is evidence like an article:
  it anchors narratives and joins other keys by the same strong ties. Like a rare
  hashtag it counts only on 2 roots up to the cap: a picture on one root links nothing
  (and must not pull that root away from its text group), and one carried by more
  roots than the rare-hashtag cap (a stock photo, a meme template) is a topic, not a
  story, so it cannot chain stories. A root
  carrying both an article and an image goes with its article.
* **text** — near-duplicate normalised text: MinHash (Broder 1997) over word bigrams
  with LSH banding (Indyk & Motwani 1998; Leskovec, Rajaraman & Ullman, *Mining of
  Massive Datasets*, ch. 3), candidates verified by their estimated Jaccard similarity
  ``>= text_threshold`` (:func:`text_groups`; the build's ``text`` items). A root with
  no article joins the anchor holding at least half of the anchored roots with its
  exact text, else with its text group, else of the placed roots with its shortened
  link; a text group with no such majority is a narrative of its own. Identical
  normalised texts are deduplicated first, so MinHash runs over distinct texts only,
  fully vectorised in numpy (datasketch's object-per-text API costs ~300 us per text,
  see bench/RESULTS.md; we use datasketch to choose the band layout and as the
  reference in tests).
* **hashtag** — a rare hashtag (used by at least 2 roots and at most
  ``hashtag_max_share`` of all roots, clipped to [5, ``hashtag_max_roots``]) groups
  the roots left alone by the rules above.

A cascade belongs to the narrative of its root; every other post in the cascade joins via
``cascade``. A narrative's ``kind`` is the evidence most of its roots were linked by
(``cascade`` when it is a single unlinked cascade) and its ``label`` the most common URL,
text or hashtag. Groups with fewer than ``min_posts`` posts are not narratives.

Costs: everything is polars/numpy/igraph over whole columns; the only Python loops run
over MinHash permutations (``num_perm``) and LSH bands, never over posts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import igraph as ig
import numpy as np
import polars as pl

from spreadtrace.graph.seeded import igraph_seed
from spreadtrace.urls import SHORTENERS, TRACKING_PARAMS, normalize_urls, url_key_expr, url_keys

__all__ = [
    "TRACKING_PARAMS",
    "NarrativeGrouping",
    "band_keys",
    "bucket_star_pairs",
    "group_narratives",
    "lsh_layout",
    "minhash_signatures",
    "norm_signatures",
    "near_duplicate_pairs",
    "norm_band_keys",
    "normalize_text_expr",
    "normalize_urls",
    "semantic_pairs",
    "shared_bucket_rows",
    "text_groups",
    "text_items",
    "text_items_from_pairs",
    "url_key_expr",
]


def normalize_text_expr(text: pl.Expr) -> pl.Expr:
    """A polars expression normalising post text for duplicate detection.

    Lower-case; drop a leading ``RT @handle:``, URLs, @mentions and punctuation; keep
    hashtag words; collapse whitespace. Copy-paste variants then differ only in words.

    >>> s = pl.Series(["RT @bob: The  CLAIM is TRUE!! https://t.co/x #Wow", None])
    >>> pl.select(normalize_text_expr(pl.lit(s))).to_series().to_list()
    ['the claim is true wow', None]
    """
    return (
        text.str.to_lowercase()
        .str.replace(r"^rt @\w+:?\s*", "")
        .str.replace_all(r"(?:https?://|www\.)\S+", " ")
        .str.replace_all(r"@\w+", " ")
        .str.replace_all(r"[^\w\s]|_", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


# -- MinHash LSH ---------------------------------------------------------------------

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a cheap, well-mixed 64-bit hash of 64-bit keys."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


# lsh_layout's answers for the usual settings, as datasketch gives them (a test checks
# each against it): importing datasketch (scipy) and its search cost ~0.35 CPU s, paid
# by every build process, a cron run's too, for the same two numbers
KNOWN_LSH_LAYOUTS: dict[tuple[float, int], tuple[int, int]] = {
    (0.5, 64): (14, 4),
    (0.5, 128): (25, 5),
    (0.6, 64): (10, 6),
    (0.6, 128): (18, 7),
    (0.7, 128): (14, 9),
    (0.8, 128): (9, 13),
}


@lru_cache(maxsize=16)
def lsh_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows per band for an LSH at ``threshold``, as datasketch chooses them.

    Why datasketch: its parameter search minimises the weighted false-positive and
    false-negative probability mass around the threshold; we reuse it rather than guess.
    The usual settings are looked up (:data:`KNOWN_LSH_LAYOUTS`), not searched again.

    >>> lsh_layout(0.5, 64)
    (14, 4)
    """
    known = KNOWN_LSH_LAYOUTS.get((float(threshold), int(num_perm)))
    if known is not None:
        return known
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


def minhash_signatures(
    tokens: pl.Series, *, num_perm: int = 64, seed: int = 1, batch_shingles: int = 4_000_000
) -> np.ndarray:
    """MinHash signatures (``len(tokens) x num_perm``, uint32) of word-bigram sets.

    ``tokens`` is a list-of-strings series (one list per text). Shingles are word bigrams
    (a single word when the text has one); each permutation is a multiply-shift hash
    ``(a * x + b) >> 32`` of the 64-bit shingle hash (Dietzfelbinger et al. 1997), and
    the signature is its minimum per text (Broder 1997), computed with
    ``np.minimum.reduceat`` over the flattened shingles in batches. Empty texts get the
    all-max signature. ``P(sig_a[i] == sig_b[i]) ~= Jaccard(a, b)``. The array is in
    Fortran order (one permutation's values contiguous), not copied to C order.

    >>> s = pl.Series([["a", "b", "c"], ["a", "b", "c"], ["x", "y"]])
    >>> sig = minhash_signatures(s, num_perm=8)
    >>> sig.shape, bool((sig[0] == sig[1]).all()), bool((sig[0] == sig[2]).any())
    ((3, 8), True, False)
    """
    n = len(tokens)
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    if n == 0:
        return sig
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    lengths = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = tokens.explode().fill_null("").hash(seed=seed).to_numpy()
    word_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Bigram hashes: token i combined with token i+1 inside the same text.
    pair_ok = np.ones(max(len(flat) - 1, 0), dtype=bool)
    ends = np.cumsum(lengths) - 1
    pair_ok[ends[(lengths > 0) & (ends < len(flat) - 1)]] = False
    bigrams = _splitmix(flat[:-1] ^ _splitmix(flat[1:] + np.uint64(0x9E3779B97F4A7C15)))
    # Per text: its bigrams, or its single token when it has exactly one word.
    text_of_pair = np.repeat(np.arange(n), np.maximum(lengths - 1, 0))
    keys = bigrams[pair_ok] if len(flat) > 1 else np.empty(0, dtype=np.uint64)
    single = np.flatnonzero(lengths == 1)
    owner = np.concatenate([text_of_pair, single])
    keys = np.concatenate([keys, _splitmix(flat[word_starts[single]])])
    order = np.argsort(owner, kind="stable")
    owner, keys = owner[order], keys[order]
    # Batch over whole texts so reduceat segments never straddle a batch boundary.
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
    texts_with = owner[starts] if len(owner) else owner
    lo = 0
    while lo < len(starts):
        hi = int(np.searchsorted(starts, starts[lo] + batch_shingles, side="left"))
        hi = max(hi, lo + 1)
        s0 = starts[lo]
        s1 = starts[hi] if hi < len(starts) else len(keys)
        chunk = keys[s0:s1]
        seg = starts[lo:hi] - s0
        rows = texts_with[lo:hi]
        # permutation-major per batch (contiguous writes), copied into the batch's rows:
        # no second n x num_perm array (a transposed copy) at any time
        block = np.empty((num_perm, len(rows)), dtype=np.uint32)
        _permute_into(block, chunk, seg, a, b)
        sig[rows] = block.T
        lo = hi
    return sig


def norm_signatures(
    norms: pl.Series, *, num_perm: int = 64, seed: int = 1, chunk: int = 200_000
) -> np.ndarray:
    """MinHash signatures of space-separated normalised texts, ``chunk`` texts at a time.

    Why: a text's signature depends on its own words only, so signing in chunks gives
    the same bits as :func:`minhash_signatures` over all texts at once, while the
    per-word and per-shingle arrays (several 8-byte values per word: ~1.5 GB for 2.5M
    texts) exist for one chunk at a time; only the ``n x num_perm`` result is whole.

    >>> s = pl.Series(["a b c d", "a b c e", "x y"])
    >>> bool((norm_signatures(s, num_perm=8, chunk=2)
    ...       == minhash_signatures(s.str.split(" "), num_perm=8)).all())
    True
    """
    n = len(norms)
    if n <= chunk:
        return minhash_signatures(norms.str.split(" "), num_perm=num_perm, seed=seed)
    sig = np.empty((n, num_perm), dtype=np.uint32)
    for lo in range(0, n, chunk):
        part = norms.slice(lo, chunk).str.split(" ")
        sig[lo : lo + len(part)] = minhash_signatures(part, num_perm=num_perm, seed=seed)
    return sig


def _permute_into(
    block: np.ndarray, chunk: np.ndarray, seg: np.ndarray, a: np.ndarray, b: np.ndarray
) -> None:
    """Fill ``block[p]`` with each segment's minimum of ``(a[p] * x + b[p]) >> 32``.

    The shift is monotone, so it is applied to the segment minima rather than to every
    shingle (one pass less over the shingles per permutation). The permutations are
    split between two threads: numpy's ufuncs release the GIL on arrays this size.
    """

    def work(perms: range) -> None:
        tmp = np.empty_like(chunk)
        for p in perms:
            np.multiply(chunk, a[p], out=tmp)
            tmp += b[p]
            block[p] = np.minimum.reduceat(tmp, seg) >> np.uint64(32)

    num_perm = len(a)
    if len(chunk) < 100_000:  # not worth a thread
        work(range(num_perm))
        return
    half = num_perm // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(work, range(half)), pool.submit(work, range(half, num_perm))]:
            done.result()


def band_keys(sig: np.ndarray, *, bands: int, rows: int) -> np.ndarray:
    """LSH bucket keys (``len(sig) x bands``, uint64): one hash of each band's ``rows`` values.

    Why a function of its own: the full and the incremental near-duplicate search must
    put a text in the same buckets, so both take their keys from here.

    >>> sig = np.array([[1, 2, 3, 4], [1, 2, 3, 5]], dtype=np.uint32)
    >>> k = band_keys(sig, bands=2, rows=2)
    >>> k.shape, bool(k[0, 0] == k[1, 0]), bool(k[0, 1] == k[1, 1])
    ((2, 2), True, False)
    """
    mult = _splitmix(np.arange(1, rows + 1, dtype=np.uint64))
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        cols = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
        out[:, band] = _splitmix((cols * mult[: cols.shape[1]]).sum(axis=1, dtype=np.uint64))
    return out


def norm_band_keys(
    norms: pl.Series, *, num_perm: int, bands: int, rows: int, chunk: int = 200_000
) -> np.ndarray:
    """LSH band keys (``len(norms) x bands``, uint64) of normalised texts, without their
    signatures: each chunk of texts is signed, keyed, and its signatures dropped.

    Why: the keys are what puts texts in buckets; the signatures (``num_perm`` x 4 bytes a
    text, 1.1 GB for the 2.3M distinct texts of a 5M-post store) are needed only to verify
    the pairs inside buckets, and most texts share no bucket with any other
    (:func:`shared_bucket_rows`: ~1% of them in the synthetic stores), so only those are
    signed again. A text's signature depends on its own words only: the same keys as
    :func:`band_keys` over :func:`norm_signatures` of all texts at once.

    >>> s = pl.Series(["a b c d", "a b c e", "x y"])
    >>> keys = norm_band_keys(s, num_perm=8, bands=2, rows=4, chunk=2)
    >>> bool((keys == band_keys(norm_signatures(s, num_perm=8), bands=2, rows=4)).all())
    True
    """
    n = len(norms)
    out = np.empty((n, bands), dtype=np.uint64)
    for lo in range(0, n, chunk):
        part = norms.slice(lo, chunk)
        sig = norm_signatures(part, num_perm=num_perm, chunk=chunk)
        out[lo : lo + len(part)] = band_keys(sig, bands=bands, rows=rows)
    return out


def shared_bucket_rows(keys: np.ndarray) -> np.ndarray:
    """The rows (sorted row numbers) that share an LSH bucket with another row in some band.

    Why: :func:`bucket_star_pairs` compares only such rows, so only their signatures are
    needed.

    >>> keys = np.array([[1, 7], [2, 7], [3, 8]], dtype=np.uint64)
    >>> shared_bucket_rows(keys).tolist()
    [0, 1]
    """
    n, bands = keys.shape
    shared = np.zeros(n, dtype=bool)
    for band in range(bands):
        ks = np.sort(keys[:, band])
        dup = ks[1:] == ks[:-1]
        if dup.any():  # rows whose key occurs more than once in this band
            shared |= np.isin(keys[:, band], ks[1:][dup])
    return np.flatnonzero(shared)


def bucket_star_pairs(
    sig: np.ndarray,
    keys: np.ndarray,
    *,
    threshold: float,
    held: np.ndarray | None = None,
    block: int = 1_000_000,
) -> np.ndarray:
    """Verified star pairs per LSH bucket: rows ``(band, i, j)``, ``i`` the bucket's head.

    In each band, rows with equal keys (:func:`band_keys`) share a bucket; each member
    is paired with the bucket's first row (the smallest row number, so with rows in
    sorted order the smallest text) and the pair kept when the fraction of equal
    signature positions reaches ``threshold``. A bucket's pairs depend only on its own
    members, which is what lets the items stage recompute only the buckets new texts
    fall into (:mod:`spreadtrace.store.text_state`).

    ``held``: when given, ``sig`` holds the signatures of these rows only (sorted row
    numbers, at least :func:`shared_bucket_rows`), ``sig[k]`` being row ``held[k]``'s.
    Pairs are verified ``block`` at a time, so the compared signatures are never copied
    whole.

    >>> sig = np.array([[1, 2, 3, 4], [1, 2, 3, 5], [9, 9, 9, 9]], dtype=np.uint32)
    >>> keys = band_keys(sig, bands=2, rows=2)
    >>> bucket_star_pairs(sig, keys, threshold=0.7).tolist()
    [[0, 0, 1]]
    >>> bucket_star_pairs(sig[:2], keys, threshold=0.7, held=np.array([0, 1])).tolist()
    [[0, 0, 1]]
    """
    n, bands = keys.shape
    out: list[np.ndarray] = []
    for band in range(bands):
        key = keys[:, band]
        order = np.argsort(key, kind="stable")
        ks = key[order]
        first = np.r_[True, ks[1:] != ks[:-1]] if n else np.zeros(0, dtype=bool)
        head = order[np.maximum.accumulate(np.where(first, np.arange(n), 0))]
        member = ~first
        i, j = head[member], order[member]
        if len(i) == 0:
            continue
        si, sj = (i, j) if held is None else (np.searchsorted(held, i), np.searchsorted(held, j))
        keep = np.concatenate(
            [
                (sig[si[lo : lo + block]] == sig[sj[lo : lo + block]]).mean(axis=1) >= threshold
                for lo in range(0, len(i), block)
            ]
        )
        out.append(np.stack([np.full(int(keep.sum()), band), i[keep], j[keep]], axis=1))
    if not out:
        return np.empty((0, 3), dtype=np.int64)
    return np.concatenate(out).astype(np.int64)


def near_duplicate_pairs(sig: np.ndarray, *, threshold: float, bands: int, rows: int) -> np.ndarray:
    """Pairs ``(i, j)`` of signature rows whose estimated Jaccard is ``>= threshold``.

    LSH banding: rows with equal values on all ``rows`` positions of one band share a
    bucket; each bucket member is paired with the bucket's first member and the pair kept
    when the fraction of equal signature positions reaches the threshold
    (:func:`bucket_star_pairs`). Star pairs are
    enough for connected components; pairs missed this way are rare and usually
    recovered through another band or a third text.

    >>> sig = np.array([[1, 2, 3, 4], [1, 2, 3, 5], [9, 9, 9, 9]], dtype=np.uint32)
    >>> near_duplicate_pairs(sig, threshold=0.7, bands=2, rows=2).tolist()
    [[0, 1]]
    """
    n = sig.shape[0]
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    triples = bucket_star_pairs(sig, band_keys(sig, bands=bands, rows=rows), threshold=threshold)
    if len(triples) == 0:
        return np.empty((0, 2), dtype=np.int64)
    i, j = triples[:, 1], triples[:, 2]  # the head is the bucket's smallest row: i < j
    code = np.unique(np.minimum(i, j) * n + np.maximum(i, j))
    return np.stack([code // n, code % n], axis=1)


def text_items_from_pairs(rows: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """``text`` items from stored near-duplicate pairs: (post_id, item_id), as :func:`text_items`.

    ``rows``: post_id, created_at, norm (the normalised text, long enough); ``pairs``:
    norm_a, norm_b (the LSH pairs). Groups are the connected components of the pairs
    over the distinct norms; a group's item id is ``text:`` plus its earliest post.
    Given the pairs :func:`near_duplicate_pairs` finds over the same norms, the result
    equals :func:`text_items` (the incremental items stage relies on it).

    >>> from datetime import datetime
    >>> t = [datetime(2024, 1, d) for d in (1, 2, 3)]
    >>> rows = pl.DataFrame({"post_id": ["a", "b", "c"], "created_at": t,
    ...                      "norm": ["x y z w", "x y z v", "p q r s"]})
    >>> pairs = pl.DataFrame({"norm_a": ["x y z v"], "norm_b": ["x y z w"]})
    >>> text_items_from_pairs(rows, pairs).sort("post_id").rows()
    [('a', 'text:a'), ('b', 'text:a'), ('c', 'text:c')]
    """
    distinct = rows.select("norm").unique().sort("norm").with_row_index("i")
    n = distinct.height
    if n == 0:
        return pl.DataFrame(schema={"post_id": pl.String, "item_id": pl.String})
    idx = (
        pairs.join(distinct.rename({"norm": "norm_a", "i": "a"}), on="norm_a")
        .join(distinct.rename({"norm": "norm_b", "i": "b"}), on="norm_b")
        .select("a", "b")
    )
    edges = np.stack([idx["a"].to_numpy(), idx["b"].to_numpy()], axis=1).astype(np.int64)
    G = ig.Graph(n=n, edges=edges)
    membership = np.asarray(G.connected_components().membership, dtype=np.int64)
    group = distinct.with_columns(text_group=pl.Series(membership)).select("norm", "text_group")
    joined = rows.join(group, on="norm")
    first = joined.group_by("text_group").agg(
        item_id=pl.lit("text:") + pl.col("post_id").sort_by("created_at", "post_id").first()
    )
    return joined.join(first, on="text_group").select("post_id", "item_id")


# -- grouping --------------------------------------------------------------------------


@dataclass(frozen=True)
class NarrativeGrouping:
    """The result of :func:`group_narratives`.

    ``cascades``: cascade_id, narrative_id, via (how the cascade's root was linked).
    ``narratives``: narrative_id, label, kind.
    ``evidence``: cascade_id, key: every key a root carries (:data:`EVIDENCE_KINDS`),
    hashtags and media before their caps: what the incremental grouping keeps to find
    the roots a change can reach (:func:`spreadtrace.store.narratives.grouping_scope`).
    """

    cascades: pl.DataFrame
    narratives: pl.DataFrame
    evidence: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"cascade_id": pl.String, "key": pl.String})
    )


def text_groups(norms: pl.Series, *, threshold: float = 0.6, num_perm: int = 128) -> pl.DataFrame:
    """Near-duplicate groups of distinct normalised texts: one row per text (norm, text_group).

    Why a function of its own: the groups are the project's ``text`` items (the items
    stage stores them) and the narratives stage reads them back, so MinHash runs once
    per build. Groups are connected components of the LSH pairs with estimated word-
    bigram Jaccard ``>= threshold``; ``text_group`` is the group's smallest row number.

    >>> text_groups(pl.Series(["a b c d e f", "a b c d e g", "x y z w"])).rows()
    [('a b c d e f', 0), ('a b c d e g', 0), ('x y z w', 2)]
    """
    distinct = pl.DataFrame({"norm": norms.cast(pl.String)}).drop_nulls().unique().sort("norm")
    n = distinct.height
    if n == 0:
        return distinct.with_columns(text_group=pl.lit(0, dtype=pl.Int64)).head(0)
    pairs = np.empty((0, 2), dtype=np.int64)
    if n >= 2:
        bands, rows = lsh_layout(threshold, num_perm)
        sig = norm_signatures(distinct["norm"], num_perm=num_perm)
        pairs = near_duplicate_pairs(sig, threshold=threshold, bands=bands, rows=rows)
    G = ig.Graph(n=n, edges=pairs)
    membership = np.asarray(G.connected_components().membership, dtype=np.int64)
    first = np.full(membership.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, membership, np.arange(n, dtype=np.int64))
    return distinct.with_columns(text_group=pl.Series(first[membership]))


def text_items(
    posts: pl.DataFrame,
    *,
    threshold: float = 0.6,
    num_perm: int = 128,
    min_text_tokens: int = 4,
) -> pl.DataFrame:
    """The ``text`` items of posts: (post_id, item_id) for each post in a near-duplicate group.

    ``posts``: post_id, created_at, text. Texts shorter than ``min_text_tokens`` words
    after :func:`normalize_text_expr` carry no text item. The item id is ``text:`` plus
    the group's earliest post_id, so it names where the text first appeared.

    >>> from datetime import datetime
    >>> t = [datetime(2024, 1, d) for d in (1, 2, 3)]
    >>> posts = pl.DataFrame({"post_id": ["a", "b", "c"], "created_at": t,
    ...     "text": ["the mayor rigged the vote count", "The mayor rigged the vote count!", "ok"]})
    >>> text_items(posts).sort("post_id").rows()
    [('a', 'text:a'), ('b', 'text:a')]
    """
    # Normalise each distinct raw text once (copies are common), then MinHash distinct norms.
    rows = posts.select("post_id", "created_at", pl.col("text").cast(pl.String))
    texts = rows.select("text").drop_nulls().unique()
    texts = texts.with_columns(norm=normalize_text_expr(pl.col("text"))).filter(
        pl.col("norm").str.count_matches(" ") + 1 >= min_text_tokens
    )
    groups = text_groups(texts["norm"].unique(), threshold=threshold, num_perm=num_perm)
    rows = rows.join(texts.join(groups, on="norm").select("text", "text_group"), on="text")
    first = rows.group_by("text_group").agg(
        item_id=pl.lit("text:") + pl.col("post_id").sort_by("created_at", "post_id").first()
    )
    return rows.join(first, on="text_group").select("post_id", "item_id")


def semantic_pairs(
    norms: pl.Series, *, threshold: float = 0.6, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of texts whose WordLlama embeddings have cosine ``>= threshold``, with it.

    Why WordLlama (Miller 2024, token embeddings pooled from an LLM's embedding table):
    paraphrases ("148 people were on board" / "the plane carried 148") share few word
    bigrams, so MinHash misses them; WordLlama's weights ship inside its wheel and are
    loaded from there with downloads disabled, so nothing is fetched at run time. The
    all-pairs product runs in blocks of ``block`` rows (quadratic: an option for stores
    of up to ~10^5 distinct texts). Returns (pairs ``i < j``, cosine).

    >>> pairs, cos = semantic_pairs(pl.Series(["the plane crashed in the alps",
    ...     "the plane crashed in the alps today", "free pizza downtown tonight"]))
    >>> pairs.tolist()
    [[0, 1]]
    """
    from pathlib import Path

    import wordllama  # type: ignore[import-untyped]

    wl = wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    texts = norms.cast(pl.String).fill_null("").to_list()
    if len(texts) < 2:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    emb = np.asarray(wl.embed(texts, norm=True), dtype=np.float32)
    out_p, out_c = [], []
    for lo in range(0, len(texts), block):
        sim = emb[lo : lo + block] @ emb.T
        i, j = np.nonzero(sim >= threshold)
        i = i + lo
        keep = i < j
        out_p.append(np.stack([i[keep], j[keep]], axis=1))
        out_c.append(sim[i[keep] - lo, j[keep]])
    return np.concatenate(out_p).astype(np.int64), np.concatenate(out_c).astype(np.float64)


def _semantic_communities(text_rows: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Replace text_group by Leiden communities of text groups linked by paraphrase.

    Nodes are the near-duplicate text groups; an edge joins two groups holding texts
    with WordLlama cosine ``>= threshold`` (weight: the best cosine). Leiden with
    modularity (Traag, Waltman & van Eck 2019) keeps communities cohesive: a chain of
    pairwise paraphrases does not merge two dense groups.
    """
    norms = text_rows.select("norm", "text_group").unique("norm").sort("norm")
    pairs, cos = semantic_pairs(norms["norm"], threshold=threshold)
    codes = norms["text_group"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    edges = pl.DataFrame(
        {"a": codes[pairs[:, 0]], "b": codes[pairs[:, 1]], "w": cos},
        schema={"a": pl.Int64, "b": pl.Int64, "w": pl.Float64},
    )
    edges = (
        edges.filter(pl.col("a") != pl.col("b"))
        .select(pl.min_horizontal("a", "b").alias("a"), pl.max_horizontal("a", "b").alias("b"), "w")
        .group_by("a", "b")
        .agg(pl.col("w").max())
    )
    G = ig.Graph(n=n_groups, edges=edges.select("a", "b").to_numpy() if edges.height else [])
    with igraph_seed(0):
        community = G.community_leiden(
            objective_function="modularity", weights=edges["w"].to_list() or None, n_iterations=-1
        ).membership
    mapping = norms.with_columns(
        semantic=pl.lit("s") + pl.Series(np.asarray(community)[codes]).cast(pl.String)
    ).select("norm", "semantic")
    return (
        text_rows.join(mapping, on="norm", how="left")
        .with_columns(text_group=pl.coalesce("semantic", "text_group"))
        .drop("semantic")
    )


def _cohesive_groups(
    n: int,
    url_rows: pl.DataFrame,
    media_rows: pl.DataFrame,
    short_rows: pl.DataFrame,
    text_rows: pl.DataFrame,
    tag_rows: pl.DataFrame,
    min_cooccur: int,
    max_text_keys: int = 3,
    max_urls: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """Group roots so that stories do not chain; return (group per node, via per node).

    1. Articles (non-bare, non-shortener URL keys) and media groups (``media_rows``,
       already capped) anchor narratives. Two such keys join only on a strong tie:
       ``min_cooccur`` roots carry both, or one normalised text (identical apart from
       the link) is posted with both and with at most ``max_text_keys`` keys in all (a
       template line posted with every link is not a tie). Anchors are the components
       of these ties.
    2. A root with keys joins the anchor of its most-carried article, else of its
       most-carried media group.
    3. A root without an article joins the anchor that holds most of the anchored roots
       with its exact text, else of its near-duplicate text group, when that anchor
       holds at least half of them; then, for the roots still loose, the group holding
       at least half of the placed roots with the same shortened link; otherwise its text
       group is a narrative of its own. A near-duplicate never bridges two anchors.
    4. The rest link by rare hashtags (components among themselves), else stay alone.
    """
    key_rows = pl.concat(
        [
            url_rows.select("node", "key", media=pl.lit(False)),
            media_rows.select("node", "key", media=pl.lit(True)),
        ]
    )
    k_rows = key_rows.join(
        key_rows.select("key").unique().sort("key").with_row_index("k"), on="key"
    ).select("node", pl.col("k").cast(pl.Int64), "media")
    n_keys = int(k_rows.select(pl.col("k").max()).item()) + 1 if k_rows.height else 0
    few = k_rows.filter(pl.len().over("node") <= max_urls)
    co = (
        few.join(few, on="node", suffix="_b")
        .filter(pl.col("k") < pl.col("k_b"))
        .group_by("k", "k_b")
        .agg(pl.len())
        .filter(pl.col("len") >= min_cooccur)
        .select("k", "k_b")
    )
    same_text = (
        k_rows.join(text_rows.select("node", "norm"), on="node")
        .select("norm", "k")
        .unique()
        .filter(pl.len().over("norm").is_between(2, max_text_keys))
        .with_columns(k_b=pl.col("k").min().over("norm"))
        .filter(pl.col("k") != pl.col("k_b"))
        .select("k", "k_b")
    )
    ties = pl.concat([co, same_text])
    G = ig.Graph(n=n_keys, edges=ties.to_numpy() if ties.height else [])
    anchor = pl.Series("anchor", G.connected_components().membership, dtype=pl.Int64)
    per_key = k_rows.group_by("k").agg(roots=pl.len())
    anchored = (
        k_rows.join(per_key, on="k")
        .join(pl.DataFrame({"k": np.arange(n_keys, dtype=np.int64), "anchor": anchor}), on="k")
        .sort(["node", "media", "roots", "anchor"], descending=[False, False, True, False])
        .group_by("node", maintain_order=True)
        .first()
        .select(
            "node",
            # zero-padded: the labels compare (ties below) as the anchors' numbers do,
            # i.e. as their smallest keys, in any subset closed under the keys
            group=pl.lit("a") + pl.col("anchor").cast(pl.String).str.zfill(12),
            via=pl.when("media").then(pl.lit("media")).otherwise(pl.lit("url")),
        )
    )

    # Text: attach article-less roots to the anchor most of their text's roots are in.
    texts = text_rows.join(anchored.select("node", "group"), on="node", how="left")

    def plurality(by: str) -> pl.DataFrame:
        held = texts.filter(pl.col("group").is_not_null())
        return (
            held.group_by(by, "group")
            .agg(k=pl.len())
            .with_columns(share=pl.col("k") / pl.col("k").sum().over(by))
            .filter(pl.col("share") >= 0.5)
            .sort([by, "k", "group"], descending=[False, True, False])
            .group_by(by, maintain_order=True)
            .first()
            .select(by, pl.col("group").alias(f"g_{by}"))
        )

    loose = (
        texts.filter(pl.col("group").is_null())
        .join(plurality("norm"), on="norm", how="left")
        .join(plurality("text_group"), on="text_group", how="left")
        .select(
            "node",
            group=pl.coalesce("g_norm", "g_text_group"),
            fallback=pl.lit("t") + pl.col("text_group"),
            via=pl.lit("text"),
        )
    )
    # Shortened links (never expanded): a loose root follows the placed roots with its link.
    placed = pl.concat([anchored, loose.filter(pl.col("group").is_not_null()).drop("fallback")])
    by_short = (
        short_rows.join(placed.select("node", "group"), on="node")
        .group_by("key", "group")
        .agg(k=pl.len())
        .with_columns(share=pl.col("k") / pl.col("k").sum().over("key"))
        .filter(pl.col("share") >= 0.5)
        .sort(["key", "k", "group"], descending=[False, True, False])
        .group_by("key", maintain_order=True)
        .first()
        .select("key", g_short="group")
    )
    free = pl.DataFrame({"node": np.arange(n, dtype=np.uint32)}).filter(
        ~pl.col("node").is_in(placed["node"].implode())
    )
    follow = (
        short_rows.join(free, on="node")
        .join(by_short, on="key")
        .group_by("node")
        .agg(pl.col("g_short").min())
    )
    loose = loose.join(follow, on="node", how="left").select(
        "node", group=pl.coalesce("group", "g_short", "fallback"), via=pl.lit("text")
    )
    shorts_only = follow.filter(~pl.col("node").is_in(loose["node"].implode())).select(
        "node", group="g_short", via=pl.lit("url")
    )
    assigned = pl.concat([anchored, loose, shorts_only])

    # Rare hashtags among the roots that are still alone.
    alone = assigned.filter(pl.len().over("group") == 1)["node"]
    rest = pl.DataFrame({"node": np.arange(n, dtype=np.uint32)}).filter(
        ~pl.col("node").is_in(assigned["node"].implode()) | pl.col("node").is_in(alone.implode())
    )
    tags = tag_rows.filter(pl.col("node").is_in(rest["node"].implode()))
    tags = tags.filter(pl.len().over("tag") >= 2)
    tagged = pl.DataFrame(schema={"node": pl.UInt32, "group": pl.String, "via": pl.String})
    if tags.height:
        tag_nodes = tags.select("node").unique().sort("node").with_row_index("i")
        star = _star_edges(
            tags.join(tag_nodes, on="node").drop("node").rename({"i": "node"}), "tag"
        )
        H = ig.Graph(n=tag_nodes.height, edges=star.to_numpy() if star.height else [])
        tagged = tag_nodes.with_columns(
            group=pl.lit("h") + pl.Series(H.connected_components().membership).cast(pl.String),
            via=pl.lit("hashtag"),
        ).select("node", "group", "via")
    assigned = pl.concat(
        [
            assigned.with_columns(pl.col("node").cast(pl.UInt32)).filter(
                ~pl.col("node").is_in(tagged["node"].implode())
            ),
            tagged,
        ]
    )
    out = (
        pl.DataFrame({"node": np.arange(n, dtype=np.uint32)})
        .join(assigned, on="node", how="left")
        .with_columns(
            group=pl.coalesce("group", pl.lit("c") + pl.col("node").cast(pl.String)),
        )
        .with_columns(
            via=pl.when(pl.len().over("group") > 1).then("via").otherwise(pl.lit("cascade"))
        )
        .sort("node")
    )
    membership = out["group"].rank("dense").cast(pl.Int64).to_numpy() - 1
    return membership, out["via"].to_numpy()


def _star_edges(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Edges from every node carrying ``key`` to the first node with the same key."""
    return (
        frame.select("node", key)
        .drop_nulls()
        .unique()
        .with_columns(head=pl.col("node").min().over(key))
        .filter(pl.col("node") != pl.col("head"))
        .select("node", "head")
    )


def group_narratives(
    roots: pl.DataFrame,
    *,
    text_threshold: float = 0.6,
    num_perm: int = 128,
    min_text_tokens: int = 4,
    hashtag_max_roots: int = 50,
    hashtag_max_share: float = 0.001,
    min_posts: int = 2,
    label_chars: int = 200,
    keys: pl.DataFrame | None = None,
    min_cooccur: int = 2,
    semantic: bool = False,
    semantic_threshold: float = 0.6,
    media: pl.DataFrame | None = None,
    n_roots: int | None = None,
    topics: pl.Series | None = None,
    stored_text_groups: bool | None = None,
) -> NarrativeGrouping:
    """Group cascades into narratives from their roots' URLs, media, text and rare hashtags.

    ``roots`` has one row per cascade: cascade_id, created_at, text, urls (list),
    hashtags (list) and size (posts in the cascade); ``keys`` the build's normalised
    URLs (url, key: the ``url_keys`` table), computed here when not given;
    ``semantic`` groups paraphrases too (:func:`semantic_pairs`, the ``semantic`` extra);
    ``media`` the media items the roots carry (cascade_id, item_id, label: the build's
    ``media:`` items), capped like rare hashtags. Returns the cascade -> narrative
    map and one row per narrative (see the module docstring for the rules). The
    narrative id is ``n-`` plus the cascade_id of its earliest cascade, so it is stable
    while that cascade stays the earliest.

    A subset of the store's roots closed under the keys that link roots (every root
    sharing an article, a shortened link, a text group, or a hashtag or media group
    under its cap with one in the subset is in it) groups exactly as inside the whole
    store, given the store's facts this cannot see: ``n_roots`` (the roots in the
    store: the caps), ``topics`` (evidence keys, ``h:tag`` or ``m:item_id``, carried by
    more roots than the cap in the store) and ``stored_text_groups`` (whether any root
    in the store has a text group). The incremental build relies on it.

    >>> roots = pl.DataFrame({
    ...     "cascade_id": ["c1", "c2", "c3"],
    ...     "created_at": [1, 2, 3],
    ...     "text": ["vaccines contain tracking chips says a former lab insider",
    ...              "VACCINES contain tracking chips, says a former lab insider today!",
    ...              "lunch"],
    ...     "urls": [[], ["https://x.org/a?utm_source=t"], []],
    ...     "hashtags": [[], [], []],
    ...     "size": [3, 1, 1]})
    >>> g = group_narratives(roots)
    >>> g.cascades.sort("cascade_id").rows()
    [('c1', 'n-c1', 'text'), ('c2', 'n-c1', 'url')]
    >>> g.narratives.rows()
    [('n-c1', 'x.org/a', 'url')]
    """
    # Nodes: the roots in (created_at, cascade_id) order. Only the small columns are
    # put in that order; text, URLs and hashtags are read where ``roots`` holds them,
    # each row given its node, and dropped as soon as they are keyed.
    n = roots.height
    order = (
        roots.select("created_at", "cascade_id")
        .with_row_index("row")
        .sort("created_at", "cascade_id")["row"]
        .to_numpy()
    )
    node_of_row = np.empty(n, dtype=np.uint32)
    node_of_row[order] = np.arange(n, dtype=np.uint32)
    at = pl.Series("node", node_of_row)
    has_text_group = "text_group" in roots.columns
    small = ["cascade_id", "size", *(["text_group"] if has_text_group else [])]
    nodes = roots.select(small)[order].with_row_index("node")
    del order, node_of_row
    n_all = n if n_roots is None else n_roots
    empty = NarrativeGrouping(
        pl.DataFrame(schema={"cascade_id": pl.String, "narrative_id": pl.String, "via": pl.String}),
        pl.DataFrame(schema={"narrative_id": pl.String, "label": pl.String, "kind": pl.String}),
    )
    if n == 0:
        return empty

    # URLs: explode, key the distinct raw URLs once, drop bare domains and shorteners
    # (a shortener hides its target: its posts are linked by their text instead).
    url_rows = (
        roots.select(at, url=pl.col("urls").cast(pl.List(pl.String))).explode("url").drop_nulls()
    )
    distinct_urls = url_rows.select("url").unique()
    if keys is None:
        keys = url_keys(distinct_urls["url"])
    distinct_urls = distinct_urls.join(keys.select("url", "key"), on="url", how="left")
    unkeyed = distinct_urls.filter(pl.col("key").is_null())["url"]
    if len(unkeyed):  # not in the given keys (or no key at all): the same rule, here
        fresh = url_keys(unkeyed).select("url", fresh="key")
        distinct_urls = distinct_urls.join(fresh, on="url", how="left").select(
            "url", key=pl.coalesce("key", "fresh")
        )
    url_rows = (
        url_rows.join(distinct_urls, on="url", how="left")
        .filter(pl.col("key").str.contains(r"[/?]"))
        .select("node", "key")
        .unique()
        .with_columns(short=pl.col("key").str.extract(r"^([^/?]+)", 1).is_in(list(SHORTENERS)))
    )
    del distinct_urls
    short_rows = url_rows.filter("short").select("node", "key")
    url_rows = url_rows.filter(~pl.col("short")).select("node", "key")
    has_groups = has_text_group and nodes["text_group"].null_count() < n
    if stored_text_groups is not None:
        has_groups = stored_text_groups

    # Text: exact normalised text (``norm``) and near-duplicate group (``text_group``).
    # The roots' rows carry each norm as a code (dense rank: equal codes, equal norms):
    # the joins and group-bys below then key on 4 bytes, not on a long string that a
    # multi-column key copies per row (memory); paraphrase grouping reads the strings.
    texts = roots.select(at, text=pl.col("text").cast(pl.String))
    raw = texts.select("text").drop_nulls().unique()
    raw = raw.with_columns(norm=normalize_text_expr(pl.col("text")))
    raw = raw.filter(pl.col("norm").str.count_matches(" ") + 1 >= min_text_tokens)
    norm_code = pl.col("norm") if semantic else pl.col("norm").rank("dense").cast(pl.UInt32)
    if has_groups:
        text_rows = texts.join(raw.select("text", norm=norm_code), on="text", how="inner").join(
            nodes.select("node", "text_group").drop_nulls(), on="node", how="inner"
        )
    else:
        groups = text_groups(raw["norm"], threshold=text_threshold, num_perm=num_perm)
        coded = raw.join(groups, on="norm", how="inner").select(
            "text", "text_group", norm=norm_code
        )
        text_rows = texts.join(coded, on="text", how="inner")
        del groups, coded
    text_rows = text_rows.select("node", "norm", pl.col("text_group").cast(pl.String))
    if semantic and text_rows.height:
        text_rows = _semantic_communities(text_rows, semantic_threshold)

    # Rare hashtags: shared by 2..cap roots, cap relative to the number of roots.
    cap = grouping_cap(n_all, hashtag_max_share, hashtag_max_roots)
    tag_rows = (
        roots.select(at, tag=pl.col("hashtags").cast(pl.List(pl.String)))
        .explode("tag")
        .drop_nulls()
        .with_columns(pl.col("tag").str.to_lowercase().str.strip_chars_start("#"))
        .filter(pl.col("tag") != "")
        .unique()
    )
    all_tags = tag_rows
    common = pl.Series([], dtype=pl.String) if topics is None else topics.cast(pl.String)
    tag_rows = tag_rows.filter(
        pl.len().over("tag").is_between(2, cap)
        & ~(pl.lit("h:") + pl.col("tag")).is_in(common.implode())
    )

    # Media groups: evidence like an article, unless so common (more roots than the
    # rare-hashtag cap) that it is a stock image shared by unrelated stories.
    media_rows = pl.DataFrame(schema={"node": pl.UInt32, "key": pl.String})
    all_media = media_rows
    media_labels = pl.DataFrame(schema={"key": pl.String, "media_label": pl.String})
    if media is not None and media.height:
        media_rows = (
            nodes.select("node", "cascade_id")
            .join(media.select("cascade_id", key="item_id"), on="cascade_id")
            .select("node", "key")
            .unique()
        )
        all_media = media_rows
        # a picture on one root only links nothing (as a lone hashtag): it must not
        # anchor that root away from its text group
        media_rows = media_rows.filter(
            pl.len().over("key").is_between(2, cap)
            & ~(pl.lit("m:") + pl.col("key")).is_in(common.implode())
        )
        media_labels = media.select(key="item_id", media_label="label").unique("key")

    # computed text groups (none stored) depend on every text: no g: keys then
    groups = text_rows if has_groups else text_rows.head(0)
    evidence = _evidence(nodes, url_rows, short_rows, groups, all_tags, all_media)
    membership, via = _cohesive_groups(
        n, url_rows, media_rows, short_rows, text_rows, tag_rows, min_cooccur
    )
    comp = nodes.select("node", "cascade_id", "size").with_columns(
        comp=pl.Series(membership), via=pl.Series(via)
    )
    comp = comp.filter(pl.col("size").sum().over("comp") >= min_posts)
    if comp.height == 0:
        return NarrativeGrouping(empty.cascades, empty.narratives, evidence)
    comp = comp.with_columns(
        narrative_id=pl.lit("n-") + pl.col("cascade_id").sort_by("node").first().over("comp")
    )

    # Kind: the evidence most roots were linked by (url > text > hashtag on ties).
    priority = {"url": 0, "media": 1, "text": 2, "hashtag": 3, "cascade": 4}
    kinds = (
        comp.group_by("narrative_id", "via")
        .agg(k=pl.len())
        .with_columns(
            p=pl.col("via").replace_strict(priority, return_dtype=pl.Int8),
            linked=pl.col("via") != "cascade",
        )
        .sort(["narrative_id", "linked", "k", "p"], descending=[False, True, True, False])
        .group_by("narrative_id", maintain_order=True)
        .first()
        .select("narrative_id", kind="via")
    )
    labels = _labels(comp, texts, url_rows, tag_rows, raw, kinds, media_rows, media_labels)
    narratives = (
        kinds.join(labels, on="narrative_id", how="left")
        .with_columns(label=pl.col("label").fill_null("").str.slice(0, label_chars))
        .select("narrative_id", "label", "kind")
        .sort("narrative_id")
    )
    cascades = comp.select("cascade_id", "narrative_id", "via").sort("cascade_id")
    return NarrativeGrouping(cascades, narratives, evidence)


EVIDENCE_KINDS = {
    "u": "article",
    "s": "shortened link",
    "g": "text group",
    "h": "hashtag",
    "m": "media group",
}
"""The prefixes of the evidence keys (``u:`` plus a URL key, and so on)."""


def grouping_cap(n_roots: int, share: float, max_roots: int) -> int:
    """The most roots a hashtag or media group may carry and still link roots: ``share``
    of the roots, clipped to [5, ``max_roots``].

    >>> grouping_cap(1_000_000, 0.001, 50), grouping_cap(100, 0.001, 50)
    (50, 5)
    """
    return int(min(max(share * n_roots, 5), max_roots))


def _evidence(
    nodes: pl.DataFrame,
    url_rows: pl.DataFrame,
    short_rows: pl.DataFrame,
    text_rows: pl.DataFrame,
    tag_rows: pl.DataFrame,
    media_rows: pl.DataFrame,
) -> pl.DataFrame:
    """(cascade_id, key): the keys through which :func:`_cohesive_groups` can link roots
    (articles ``u:``, shortened links ``s:``, text groups ``g:`` (an exact text is
    always inside one), hashtags ``h:`` and media groups ``m:`` before their caps)."""
    parts = [
        url_rows.select("node", key=pl.lit("u:") + pl.col("key")),
        short_rows.select("node", key=pl.lit("s:") + pl.col("key")),
        text_rows.select("node", key=pl.lit("g:") + pl.col("text_group").cast(pl.String)),
        tag_rows.select("node", key=pl.lit("h:") + pl.col("tag")),
        media_rows.select("node", key=pl.lit("m:") + pl.col("key")),
    ]
    return (
        pl.concat([p.with_columns(pl.col("node").cast(pl.UInt32)) for p in parts])
        .join(nodes.select(pl.col("node").cast(pl.UInt32), "cascade_id"), on="node")
        .select("cascade_id", "key")
        .unique()
    )


def _most_common(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """Per narrative_id, the value occurring in the most rows (ties: the earliest root,
    then the smallest value: a root carrying two URLs must not label by row order)."""
    return (
        frame.group_by("narrative_id", value)
        .agg(k=pl.len(), first=pl.col("node").min())
        .sort(["narrative_id", "k", "first", value], descending=[False, True, False, False])
        .group_by("narrative_id", maintain_order=True)
        .first()
        .select("narrative_id", label=pl.col(value))
    )


def _labels(
    comp: pl.DataFrame,
    texts: pl.DataFrame,
    url_rows: pl.DataFrame,
    tag_rows: pl.DataFrame,
    raw: pl.DataFrame,
    kinds: pl.DataFrame,
    media_rows: pl.DataFrame,
    media_labels: pl.DataFrame,
) -> pl.DataFrame:
    """Readable labels: most common URL, media, text or #hashtag of the narrative's roots.

    A media narrative reads ``[media] `` plus its most common media group's label (the
    caption it first appeared with, else its id).
    """
    members = comp.select("node", "narrative_id").join(kinds, on="narrative_id")
    by_url = _most_common(members.filter(pl.col("kind") == "url").join(url_rows, on="node"), "key")
    by_media = (
        _most_common(members.filter(pl.col("kind") == "media").join(media_rows, on="node"), "key")
        .rename({"label": "key"})
        .join(media_labels, on="key", how="left")
        .select(
            "narrative_id",
            label=pl.lit("[media] ")
            + pl.coalesce(pl.col("media_label"), pl.col("key").str.strip_prefix("media:")),
        )
    )
    by_tag = _most_common(
        members.filter(pl.col("kind") == "hashtag")
        .join(tag_rows, on="node")
        .with_columns(tag=pl.lit("#") + pl.col("tag")),
        "tag",
    )
    # Text labels: the most common normalised text, shown as its earliest raw form. A
    # text too short to have a norm stands for itself, stripped (made for those only:
    # stripping every member's text copied all of them).
    text_members = (
        members.filter(pl.col("kind").is_in(["text", "cascade"]))
        .join(texts, on="node")
        .join(raw, on="text", how="left")
    )
    bare = (
        text_members.filter(pl.col("norm").is_null())
        .select("text")
        .unique()
        .with_columns(bare=pl.col("text").str.strip_chars())
    )
    text_members = text_members.join(bare, on="text", how="left").with_columns(
        norm=pl.coalesce("norm", "bare", pl.lit(""))
    )
    # norms as codes in their order (dense rank: ties still break on the smaller norm)
    # before the group-bys, which would copy every long key string
    text_members = text_members.with_columns(code=pl.col("norm").rank("dense"))
    norms = text_members.select("code", "norm").unique("code")
    text_members = text_members.drop("norm")
    del bare
    by_text = _most_common(text_members, "code")
    first_raw = (
        text_members.sort("node")
        .group_by("narrative_id", "code", maintain_order=True)
        .first()
        .select("narrative_id", label="code", raw="text")
    )
    by_text = (
        by_text.join(first_raw, on=["narrative_id", "label"], how="left")
        .join(norms.rename({"code": "label"}), on="label", how="left")
        .select("narrative_id", label=pl.coalesce("raw", "norm"))
        .with_columns(pl.col("label").str.replace_all(r"\s+", " ").str.strip_chars())
    )
    return pl.concat([by_url, by_media, by_tag, by_text])

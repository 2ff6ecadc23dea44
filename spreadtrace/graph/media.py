"""Media groups from match pairs: connected components, and the brute-force reference.

Why components: a copy of a copy is still the same picture (a re-crop of a re-post),
so near-duplicate matches are chained into one group. The price, documented in
docs/scores.md: a long chain of small edits could join two pictures that are far apart;
each link is within the PDQ threshold, and the group keeps every pair's distance in
``media_matches`` for review.

>>> import numpy as np
>>> components(4, np.array([0, 2]), np.array([1, 3])).tolist()
[0, 0, 1, 1]
>>> far = 2**64 - 1
>>> pairs_brute_force(np.array([[0, 0, 0, 0], [1, 0, 0, 0], [far] * 4], dtype=np.uint64), 31)
[(0, 1, 1)]
"""

from __future__ import annotations

import igraph as ig
import numpy as np

__all__ = ["components", "pairs_brute_force", "popcount64"]


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component number of each of ``n`` items, given undirected edges ``a[i]-b[i]``."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    G = ig.Graph(n=n, edges=np.column_stack([a, b]).astype(np.int64).tolist(), directed=False)
    return np.asarray(G.connected_components().membership, dtype=np.int64)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy >= 2 has bitwise_count)."""
    return np.bitwise_count(x.astype(np.uint64))


def pairs_brute_force(
    words: np.ndarray, threshold: int, *, block: int = 2048
) -> list[tuple[int, int, int]]:
    """Every pair (i < j) of hashes (rows of four uint64 words) within ``threshold``
    bits, with its distance: all pairs, in blocks (the reference the index is tested
    and benchmarked against)."""
    out: list[tuple[int, int, int]] = []
    n = len(words)
    for s in range(0, n, block):
        x = words[s : s + block]
        d = popcount64(x[:, None, :] ^ words[None, :, :]).sum(axis=2)
        i, j = np.nonzero(d <= threshold)
        keep = (i + s) < j
        out += list(
            zip((i[keep] + s).tolist(), j[keep].tolist(), d[i[keep], j[keep]].tolist(), strict=True)
        )
    return sorted(out)

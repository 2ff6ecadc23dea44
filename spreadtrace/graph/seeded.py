"""Seed igraph's random moves for one call, so that Leiden and force layouts repeat.

igraph's Python binding draws its random numbers from Python's global ``random``
module. Unseeded, a community partition (Leiden, Traag, Waltman & van Eck 2019) or a
layout depends on whatever ran before it in the process: a narrative or a cluster could
change between a full and an incremental build of the same store. The global state is
saved and restored around the call, under one lock, so that no other thread's draws are
disturbed (the dashboard serves pages from several threads).

>>> import igraph as ig
>>> G = ig.Graph.Famous("Zachary")
>>> def parts():
...     with igraph_seed(0):
...         return G.community_leiden(objective_function="modularity").membership
>>> parts() == parts()
True
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["igraph_seed"]

_LOCK = threading.Lock()


@contextmanager
def igraph_seed(seed: int) -> Iterator[None]:
    """Within the block, igraph's random draws start from ``seed``; the previous state
    of Python's ``random`` is restored after it."""
    with _LOCK:
        state = random.getstate()
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)

"""spreadtrace: track how misinformation spreads across a social graph.

Data flows one way: ingest (readers -> canonical rows) -> store (DuckDB) -> graph
(cascades, metrics, scores) -> store -> reports | dashboard (read-only).
"""

import os as _os

__version__ = "0.1.0"

# polars' allocator (its own jemalloc, configured only through this variable when polars
# loads, after polars' own defaults: set here, before any spreadtrace module imports
# polars) hands freed pages back to the system at once. With polars' defaults (decay
# over 0.5-1 s, which only advances when polars allocates again) a freed 30M-row frame
# left 0.7 GB resident, and between the build's polars steps the retained pages were a
# floor of ~0.1 GB at 1M posts under the next step's peak. A value the user set wins.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

"""spreadtrace: track how misinformation spreads across a social graph.

Data flows one way: ingest (readers -> canonical rows) -> store (DuckDB) -> graph
(cascades, metrics, scores) -> store -> reports | dashboard (read-only).
"""

import os as _os

__version__ = "0.1.0"

# polars' allocator (its own jemalloc, configured only through this variable, read when
# polars loads: set here, before any spreadtrace module imports polars) hands freed
# pages back to the system at once instead of keeping them dirty for 10 s: between
# the build's polars steps it otherwise held 0.1 GB at 1M posts, a floor under the next
# step's peak. A value the user set wins.
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

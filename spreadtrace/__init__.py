"""spreadtrace: track how misinformation spreads across a social graph.

Data flows one way: ingest (readers -> canonical rows) -> store (DuckDB) -> graph
(cascades, metrics, scores) -> store -> reports | dashboard (read-only).
"""

__version__ = "0.1.0"

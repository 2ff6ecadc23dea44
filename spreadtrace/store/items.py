"""Items in SQL: the build's normalised URLs, and the items every post carries.

Why here: only ``spreadtrace.store`` talks to DuckDB. URLs are normalised once per
build by the project's one normaliser (:mod:`spreadtrace.urls`) over the *distinct*
raw URLs not yet keyed (far fewer than posts), into ``url_keys``; coordination and
narratives both read that table, so a link is the same item for every stage.
"""

from __future__ import annotations

import duckdb
import polars as pl

from spreadtrace.urls import url_keys

__all__ = ["URL_KEYS_SQL", "refresh_url_keys", "url_key_frame"]

# The (url, key) pairs of the build, for joins: ``JOIN (URL_KEYS_SQL) k ON k.url = ...``.
URL_KEYS_SQL = "SELECT url, key, shortener FROM url_keys"


def refresh_url_keys(con: duckdb.DuckDBPyConnection, build_id: int) -> int:
    """Key every distinct posted URL not yet in ``url_keys``; return how many were added.

    Incremental on purpose: a raw URL's key never changes while the rule does not, so a
    build only normalises the URLs new since the last one.
    """
    con.complete()
    new = con.sql(
        """
        SELECT DISTINCT u AS url FROM (SELECT unnest(urls) AS u FROM posts WHERE len(urls) > 0)
        WHERE u IS NOT NULL AND u NOT IN (SELECT url FROM url_keys)
        """
    ).pl()
    if new.height == 0:
        return 0
    keyed = url_keys(new["url"]).with_columns(build_id=pl.lit(build_id, dtype=pl.Int64))
    con.register("_ik_arrow", keyed.to_arrow())
    try:
        con.execute(
            "INSERT INTO url_keys (url, key, host, shortener, build_id) "
            "SELECT url, key, host, shortener, build_id FROM _ik_arrow"
        )
    finally:
        con.unregister("_ik_arrow")
    return keyed.height


def url_key_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The stored (url, key) pairs, for the narratives stage."""
    con.complete()
    return con.sql("SELECT url, key FROM url_keys").pl()

"""The spreadtrace store schema: every table, in one place, with forward migrations.

Why one module: the schema is the contract between ingest, graph, reports and the
dashboard. Each migration is a list of SQL statements that takes the store from
version ``n - 1`` to ``n``; :data:`SCHEMA_VERSION` is the newest. A store written by a
newer spreadtrace (a higher version than this code knows) is refused with a clear
message rather than misread.

Conventions: one vocabulary (post_id, account_id, parent_id, root_id, cascade_id,
narrative_id, created_at); every timestamp is ``TIMESTAMPTZ`` in UTC; every derived
table carries the ``build_id`` that produced it, and ``builds`` keeps that build's
parameters, so results can always be traced back to the settings behind them.
"""

from __future__ import annotations

# --- version 1 ---------------------------------------------------------------------
# Raw, ingested facts. Uniqueness of post_id (and of follow pairs) is enforced by the
# ingest path, which is the only writer and runs under the store's job lock; we do not
# declare PRIMARY KEYs on the bulk tables because DuckDB's ART index makes bulk loads
# several times slower (see bench/RESULTS.md) and the anti-join in ingest is needed
# anyway to count duplicates.
_V1_CORE = [
    """
    CREATE TABLE meta (
        key   VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE SEQUENCE ingest_run_seq START 1
    """,
    """
    CREATE TABLE ingest_runs (
        ingest_run_id  BIGINT PRIMARY KEY,
        job_id         VARCHAR,            -- the `spreadtrace run` job that did it, if any
        path           VARCHAR NOT NULL,
        content_hash   VARCHAR NOT NULL,   -- sha256 of the file's bytes as read
        format         VARCHAR NOT NULL,   -- canonical-posts, twitter-v1, bluesky-jetstream, ...
        rows_read      BIGINT NOT NULL,
        rows_inserted  BIGINT NOT NULL,
        rows_duplicate BIGINT NOT NULL,
        rows_rejected  BIGINT NOT NULL,
        accounts_read  BIGINT NOT NULL DEFAULT 0,  -- account snapshots carried by the file
        started_at     TIMESTAMPTZ NOT NULL,
        finished_at    TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE posts (
        post_id       VARCHAR NOT NULL,
        account_id    VARCHAR NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL,
        parent_id     VARCHAR,
        kind          VARCHAR NOT NULL,    -- original | repost | quote | reply
        root_id       VARCHAR,             -- as given by the platform, never inferred here
        text          VARCHAR,
        urls          VARCHAR[],
        hashtags      VARCHAR[],
        lang          VARCHAR,
        platform      VARCHAR,
        ingest_run_id BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE account_snapshots (
        account_id            VARCHAR NOT NULL,
        observed_at           TIMESTAMPTZ NOT NULL,
        handle                VARCHAR,
        display_name          VARCHAR,
        created_at            TIMESTAMPTZ,
        followers_count       BIGINT,
        following_count       BIGINT,
        posts_count           BIGINT,
        likes_count           BIGINT,
        listed_count          BIGINT,
        verified              BOOLEAN,
        default_profile       BOOLEAN,
        default_profile_image BOOLEAN,
        description           VARCHAR,
        platform              VARCHAR,
        ingest_run_id         BIGINT NOT NULL
    )
    """,
    # The latest snapshot per account (by observed_at), maintained by ingest.
    """
    CREATE TABLE accounts (
        account_id            VARCHAR PRIMARY KEY,
        observed_at           TIMESTAMPTZ NOT NULL,
        handle                VARCHAR,
        display_name          VARCHAR,
        created_at            TIMESTAMPTZ,
        followers_count       BIGINT,
        following_count       BIGINT,
        posts_count           BIGINT,
        likes_count           BIGINT,
        listed_count          BIGINT,
        verified              BOOLEAN,
        default_profile       BOOLEAN,
        default_profile_image BOOLEAN,
        description           VARCHAR,
        platform              VARCHAR,
        ingest_run_id         BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE follows (
        follower_id   VARCHAR NOT NULL,
        followee_id   VARCHAR NOT NULL,
        created_at    TIMESTAMPTZ,
        ingest_run_id BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE rejects (
        ingest_run_id BIGINT NOT NULL,
        path          VARCHAR NOT NULL,
        record_no     BIGINT NOT NULL,     -- 1-based line (text formats) or record number
        raw           VARCHAR,             -- the raw text as read (decoded with replacement)
        reason        VARCHAR NOT NULL
    )
    """,
    # One row per `build` (and per later scoring stage run), with the parameters used.
    """
    CREATE SEQUENCE build_seq START 1
    """,
    """
    CREATE TABLE builds (
        build_id     BIGINT PRIMARY KEY,
        mode         VARCHAR NOT NULL,     -- full | incremental
        params       JSON NOT NULL,
        started_at   TIMESTAMPTZ NOT NULL,
        finished_at  TIMESTAMPTZ,
        posts        BIGINT,
        cascades_touched BIGINT
    )
    """,
]

# Derived tables, one section per stage so that each stage owns its DDL. Table names
# and key columns are the contract between stages, reports and the dashboard.
#
# cascades stage (graph/cascades): post_cascades (post_id, cascade_id, parent_id as used
#   in the tree, parent_source explicit|inferred|root, depth, descendants), cascades
#   (cascade_id, root_post_id, root_account_id, size, accounts, depth, max_breadth,
#   structural_virality, first_at, last_at, ...), data_quality.
_V1_CASCADES: list[str] = []

# account stage (graph/bots, graph/coordination): account_scores (account_id,
#   bot_score, bot_reasons, ...), coordination_pairs (account_a < account_b,
#   shared_items, strength, ...), coordination_clusters (cluster_id, account_id, ...).
_V1_ACCOUNT_SCORES: list[str] = []

# narrative stage (graph/narratives, graph/origin, graph/amplification): narratives,
#   post_narratives (post_id, narrative_id, via), origin_scores (narrative_id,
#   account_id, rank, origin_score, reasons), cascade_scores (cascade_id, narrative_id,
#   bot_share, early_bot_share, coordinated_share, reach_via_bots, amplification_score,
#   amplification_reasons).
_V1_NARRATIVE_SCORES: list[str] = []

# scheduled jobs (spreadtrace run): jobs.
_V1_JOBS: list[str] = []

# Migrations: MIGRATIONS[n] takes a store from version n-1 to n. Version 0 is "empty".
# Until the first release every table is part of version 1; from then on a change is
# a new version with ALTER/CREATE statements.
MIGRATIONS: dict[int, list[str]] = {
    1: _V1_CORE + _V1_CASCADES + _V1_ACCOUNT_SCORES + _V1_NARRATIVE_SCORES + _V1_JOBS,
}

SCHEMA_VERSION: int = max(MIGRATIONS)

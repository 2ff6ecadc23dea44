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

import re
from collections.abc import Callable

import duckdb

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
        format         VARCHAR NOT NULL,   -- posts, accounts, follows, twitter-v1, twitter-v2, bluesky
        rows_read      BIGINT NOT NULL,    -- inserted + merged (v2) + duplicate + rejected
        rows_inserted  BIGINT NOT NULL,
        rows_duplicate BIGINT NOT NULL,
        rows_rejected  BIGINT NOT NULL,
        accounts_read  BIGINT NOT NULL DEFAULT 0,  -- account snapshots carried by the file
        rows_skipped   BIGINT NOT NULL DEFAULT 0,  -- records of other kinds (likes, deletes, ...)
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
# and columns are the contract between stages, reports and the dashboard. Each row
# carries the build_id that wrote it; `builds.params` holds the parameters used.

# cascades stage (graph/cascades, store/cascades) -----------------------------------------
_V1_CASCADES: list[str] = [
    # One row per stored post: where it sits in its cascade tree.
    """
    CREATE TABLE post_cascades (
        post_id       VARCHAR NOT NULL,
        cascade_id    VARCHAR NOT NULL,   -- root post_id, or the unseen parent id it hangs from
        parent_id     VARCHAR,            -- the parent used in the tree (NULL for the root)
        parent_source VARCHAR,            -- explicit | inferred | root (NULL for the root)
        depth         INTEGER NOT NULL,   -- root = 0
        descendants   BIGINT NOT NULL,    -- posts below it in the tree (its reach)
        build_id      BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE cascades (
        cascade_id          VARCHAR PRIMARY KEY,
        root_post_id        VARCHAR NOT NULL,
        root_seen           BOOLEAN NOT NULL, -- false: the original is not in the store
        root_account_id     VARCHAR,          -- NULL when the root is unseen
        platform            VARCHAR,
        size                BIGINT NOT NULL,  -- posts in the store in this cascade
        accounts            BIGINT NOT NULL,  -- distinct accounts
        depth               INTEGER NOT NULL,
        max_breadth         BIGINT NOT NULL,
        structural_virality DOUBLE,           -- Goel et al. 2016; NULL for a single node
        first_at            TIMESTAMPTZ NOT NULL,
        last_at             TIMESTAMPTZ NOT NULL,
        time_to_50_s        DOUBLE,           -- seconds from first_at to 50% of final size
        time_to_90_s        DOUBLE,
        peak_per_hour       BIGINT NOT NULL,
        reconstruction      VARCHAR NOT NULL, -- explicit | inferred | flat | mixed | single
        build_id            BIGINT NOT NULL
    )
    """,
    # Anomalies found while building, counted rather than silently fixed.
    """
    CREATE TABLE data_quality (
        build_id   BIGINT NOT NULL,
        cascade_id VARCHAR,
        post_id    VARCHAR,
        issue      VARCHAR NOT NULL,  -- clock_skew | cycle_break | unseen_parent | ...
        detail     VARCHAR
    )
    """,
]

# account stage (graph/bots, graph/coordination) -----------------------------------------
_V1_ACCOUNT_SCORES: list[str] = [
    """
    CREATE TABLE account_scores (
        account_id        VARCHAR PRIMARY KEY,
        posts             BIGINT NOT NULL,   -- all posts by the account in the store
        reposts           BIGINT NOT NULL,   -- of which reposts/quotes
        profile_score     DOUBLE,            -- NULL when no profile snapshot
        behaviour_score   DOUBLE,            -- NULL when no posts
        bot_score         DOUBLE NOT NULL,   -- in [0, 1]
        is_bot_like       BOOLEAN NOT NULL,  -- bot_score >= the build's bot threshold
        bot_reasons       VARCHAR NOT NULL,  -- short plain-language reasons, '; '-separated
        features          JSON,
        model_version     VARCHAR NOT NULL,
        build_id          BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE coordination_pairs (
        account_a    VARCHAR NOT NULL,    -- account_a < account_b
        account_b    VARCHAR NOT NULL,
        shared_items BIGINT NOT NULL,     -- distinct items both shared within the window
        strength     DOUBLE NOT NULL,     -- in [0, 1], discounts prolific accounts
        cluster_id   VARCHAR,             -- the cluster both ends belong to, if any
        build_id     BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE coordination_clusters (
        cluster_id   VARCHAR NOT NULL,
        account_id   VARCHAR NOT NULL,
        cluster_size BIGINT NOT NULL,
        build_id     BIGINT NOT NULL
    )
    """,
]

# narrative stage (graph/narratives, graph/origin, graph/amplification) ------------------
_V1_NARRATIVE_SCORES: list[str] = [
    """
    CREATE TABLE post_narratives (
        post_id      VARCHAR NOT NULL,
        narrative_id VARCHAR NOT NULL,
        via          VARCHAR NOT NULL,   -- url | text | hashtag | cascade
        build_id     BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE narratives (
        narrative_id        VARCHAR PRIMARY KEY,
        label               VARCHAR NOT NULL,  -- the most common URL or text
        kind                VARCHAR NOT NULL,  -- url | text | hashtag | cascade
        cascades            BIGINT NOT NULL,
        posts               BIGINT NOT NULL,
        accounts            BIGINT NOT NULL,
        first_at            TIMESTAMPTZ NOT NULL,
        last_at             TIMESTAMPTZ NOT NULL,
        origin_account_id   VARCHAR,
        origin_score        DOUBLE,
        bot_share           DOUBLE,
        early_bot_share     DOUBLE,
        coordinated_share   DOUBLE,
        reach_via_bots      DOUBLE,
        amplification_score DOUBLE,
        amplification_reasons VARCHAR,
        build_id            BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE origin_scores (
        narrative_id VARCHAR NOT NULL,
        account_id   VARCHAR NOT NULL,
        rank         INTEGER NOT NULL,    -- 1 = most likely origin
        origin_score DOUBLE NOT NULL,     -- in [0, 1]
        first_at     TIMESTAMPTZ,
        reach_share  DOUBLE,              -- share of the narrative's later reach descending from its posts
        centrality   DOUBLE,              -- rumor/Jordan centre evidence, normalised to [0, 1]
        reasons      VARCHAR NOT NULL,
        build_id     BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE account_origin (
        account_id   VARCHAR PRIMARY KEY,
        origin_index DOUBLE NOT NULL,     -- in [0, 1], across narratives
        narratives_seeded BIGINT NOT NULL,
        build_id     BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE cascade_scores (
        cascade_id          VARCHAR PRIMARY KEY,
        narrative_id        VARCHAR,
        bot_share           DOUBLE NOT NULL,
        early_bot_share     DOUBLE NOT NULL,
        coordinated_share   DOUBLE NOT NULL,
        reach_via_bots      DOUBLE NOT NULL,
        amplification_score DOUBLE NOT NULL,
        amplification_reasons VARCHAR NOT NULL,
        build_id            BIGINT NOT NULL
    )
    """,
]

# scheduled jobs (spreadtrace run) ---------------------------------------------------------
_V1_JOBS: list[str] = [
    """
    CREATE TABLE jobs (
        job_id        VARCHAR PRIMARY KEY,
        command       VARCHAR NOT NULL,
        started_at    TIMESTAMPTZ NOT NULL,
        finished_at   TIMESTAMPTZ,
        status        VARCHAR NOT NULL,   -- running | ok | rejects | failed
        files_ingested BIGINT,
        files_skipped  BIGINT,
        rows_rejected  BIGINT,
        build_id      BIGINT,
        report_dir    VARCHAR,
        message       VARCHAR
    )
    """,
]

# --- version 2 ---------------------------------------------------------------------
# media (issue 13): the posts' media references, the media items themselves (hashed
# locally by `spreadtrace media hash`, or named by platform readers), and the build's
# near-duplicate groups with their provenance (spreadtrace.pipeline.media).
_V2_MEDIA: list[str] = [
    # Space-separated references of the input, as a list: a media_id, or a hash written
    # pdq:<64 hex>, phash:<hex>, sha256:<hex> (a reference that names no media row is a
    # media item of its own, matched by its hash or identity).
    """
    ALTER TABLE posts ADD COLUMN media VARCHAR[]
    """,
    """
    CREATE TABLE media (
        media_id      VARCHAR NOT NULL,
        kind          VARCHAR,            -- image | video | gif
        url           VARCHAR,            -- where the platform served it (never fetched)
        sha256        VARCHAR,            -- hex digest of the file's bytes
        pdq           VARCHAR,            -- PDQ hash, 64 hex (images; a video's first frame)
        pdq_quality   INTEGER,            -- PDQ quality in [0, 100]
        width         INTEGER,
        height        INTEGER,
        duration_s    DOUBLE,             -- video / gif
        local_path    VARCHAR,            -- the file hashed, for dashboard thumbnails
        frames        VARCHAR[],          -- video: PDQ hex of the frames sampled at 1/s
        ingest_run_id BIGINT NOT NULL
    )
    """,
    # Derived by the media stage: which media items match which (why), their groups,
    # and every post's media with its group.
    """
    CREATE TABLE media_matches (
        media_a   VARCHAR NOT NULL,       -- media_a < media_b
        media_b   VARCHAR NOT NULL,
        via       VARCHAR NOT NULL,       -- sha256 | pdq | video
        distance  DOUBLE,                 -- PDQ Hamming distance; video: share of frames matched
        build_id  BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE post_media (
        post_id        VARCHAR NOT NULL,
        media_id       VARCHAR NOT NULL,  -- the reference as given
        media_group_id VARCHAR NOT NULL,
        reuse_gap_days DOUBLE,            -- days since the group's previous post, when > the gap
        out_of_context BOOLEAN NOT NULL,  -- a reuse with text and links unlike the earlier posts
        build_id       BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE media_groups (
        media_group_id    VARCHAR PRIMARY KEY,  -- the group's smallest media_id
        kind              VARCHAR,
        media_ids         VARCHAR[] NOT NULL,
        label             VARCHAR NOT NULL,      -- the first post's text, else the media id
        first_post_id     VARCHAR,
        first_account_id  VARCHAR,
        first_at          TIMESTAMPTZ,
        first_platform    VARCHAR,
        last_at           TIMESTAMPTZ,
        posts             BIGINT NOT NULL,
        accounts          BIGINT NOT NULL,
        platforms         VARCHAR[] NOT NULL,
        reused_after_days DOUBLE,                -- the longest gap > the reuse gap, in days
        reuses            BIGINT NOT NULL,
        out_of_context    BIGINT NOT NULL,       -- reuses flagged "out of context" candidates
        bot_share         DOUBLE,
        coordinated_share DOUBLE,
        build_id          BIGINT NOT NULL
    )
    """,
]

# security: erasure requests (`spreadtrace forget`), recorded without the erased data
_V2_SECURITY: list[str] = [
    """
    CREATE TABLE erasures (
        erasure_id     BIGINT NOT NULL,
        erased_at      TIMESTAMPTZ NOT NULL,
        accounts       BIGINT NOT NULL,   -- how many account ids were asked for
        posts          BIGINT NOT NULL,   -- rows removed (never their ids)
        snapshots      BIGINT NOT NULL,
        follows        BIGINT NOT NULL,
        rejects        BIGINT NOT NULL,
        references_rewritten BIGINT NOT NULL,  -- others' posts whose parent/root was erased
        texts_masked   BIGINT NOT NULL,   -- others' texts naming an erased account or post
        build_id       BIGINT,            -- the full rebuild that followed
        completed_at   TIMESTAMPTZ        -- NULL until rebuilt, compacted, republished
    )
    """,
]

# Spread (issue 11, schema version 3). Honest reach-via-bots (part 5): reach_via_bots is over explicit parents; the
# bounds are over the candidate parents of time-inferred links; inferred_edges says how
# many of the group's links were guessed.
_V3_SPREAD: list[str] = [
    # kinds of spread (issue 11 part 4): reposts and quotes are shares, replies (and all
    # below a reply) conversation; cascades' shape metrics count shares only
    "ALTER TABLE post_cascades ADD COLUMN conversation BOOLEAN",
    "ALTER TABLE cascades ADD COLUMN replies BIGINT",
    "ALTER TABLE cascades ADD COLUMN conversation_depth INTEGER",
    "ALTER TABLE cascades ADD COLUMN repliers BIGINT",
    "ALTER TABLE cascade_scores ADD COLUMN reach_via_bots_low DOUBLE",
    "ALTER TABLE cascade_scores ADD COLUMN reach_via_bots_high DOUBLE",
    "ALTER TABLE cascade_scores ADD COLUMN inferred_edges BIGINT",
    "ALTER TABLE narratives ADD COLUMN reach_via_bots_low DOUBLE",
    "ALTER TABLE narratives ADD COLUMN reach_via_bots_high DOUBLE",
    "ALTER TABLE narratives ADD COLUMN inferred_edges BIGINT",
    # claim versus correction (part 6): posts carrying a fact-check URL are corrections
    "ALTER TABLE narratives ADD COLUMN claim_posts BIGINT",
    "ALTER TABLE narratives ADD COLUMN claim_accounts BIGINT",
    "ALTER TABLE narratives ADD COLUMN correction_posts BIGINT",
    "ALTER TABLE narratives ADD COLUMN correction_accounts BIGINT",
    "ALTER TABLE narratives ADD COLUMN first_correction_at TIMESTAMPTZ",
    "ALTER TABLE narratives ADD COLUMN correction_delay_s DOUBLE",
    "ALTER TABLE narratives ADD COLUMN claim_accounts_corrected DOUBLE",
    "ALTER TABLE narratives ADD COLUMN notes BIGINT",  # Community Notes on its posts
    "ALTER TABLE narratives ADD COLUMN first_note_shown_at TIMESTAMPTZ",
    "ALTER TABLE narratives ADD COLUMN is_correction BOOLEAN",  # mostly correction posts
    # Community Notes public download (spreadtrace.ingest.community_notes)
    """
    CREATE TABLE community_notes (
        note_id            VARCHAR PRIMARY KEY,  -- noteId
        post_id            VARCHAR NOT NULL,     -- tweetId: the post the note is about
        participant_id     VARCHAR,              -- noteAuthorParticipantId
        created_at         TIMESTAMPTZ NOT NULL, -- createdAtMillis: when it was written
        classification     VARCHAR,  -- MISINFORMED_OR_POTENTIALLY_MISLEADING | NOT_MISLEADING
        misleading_reasons VARCHAR[],            -- the misleading* checkboxes ticked
        misleading_manipulated_media BOOLEAN,
        trustworthy_sources BOOLEAN,
        is_media_note      BOOLEAN,
        summary            VARCHAR,              -- untrusted text
        ingest_run_id      BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE community_note_status (
        note_id           VARCHAR PRIMARY KEY,
        first_status      VARCHAR,       -- firstNonNMRStatus
        first_status_at   TIMESTAMPTZ,   -- timestampMillisOfFirstNonNMRStatus
        first_shown_at    TIMESTAMPTZ,   -- first time rated helpful: shown on the post
        current_status    VARCHAR,
        current_status_at TIMESTAMPTZ,
        ingest_run_id     BIGINT NOT NULL
    )
    """,
]

# items (issue 11, schema version 3): every raw URL's normalised key (the project's one normaliser,
# spreadtrace.urls), and the items posts carry (url, text group, hashtag, media) with
# each item's first post and counts.
_V3_ITEMS: list[str] = [
    """
    CREATE TABLE url_keys (
        url       VARCHAR NOT NULL,       -- as posted
        key       VARCHAR,                -- normalised; NULL when it has no host
        host      VARCHAR,
        shortener BOOLEAN NOT NULL,       -- a known link shortener (never fetched)
        build_id  BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE items (
        item_id           VARCHAR PRIMARY KEY,  -- kind ':' key, e.g. url:example.com/a
        kind              VARCHAR NOT NULL,     -- url | text | hashtag | media
        label             VARCHAR NOT NULL,
        first_post_id     VARCHAR,
        first_account_id  VARCHAR,
        first_at          TIMESTAMPTZ,
        posts             BIGINT NOT NULL,
        accounts          BIGINT NOT NULL,
        bot_share         DOUBLE,               -- share of its posts by bot-like accounts
        coordinated_share DOUBLE,               -- ... by accounts in coordination clusters
        build_id          BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE post_items (
        post_id   VARCHAR NOT NULL,
        item_id   VARCHAR NOT NULL,
        build_id  BIGINT NOT NULL
    )
    """,
    # A narrative's origin from its items: its earliest article/text/media item and that
    # item's first poster (a table of its own: narratives' columns are shared by areas).
    """
    CREATE TABLE narrative_origin_items (
        narrative_id  VARCHAR PRIMARY KEY,
        item_id       VARCHAR NOT NULL,
        account_id    VARCHAR,
        build_id      BIGINT NOT NULL
    )
    """,
]

# items, part 2 (issues 11 and 13, schema version 3): the candidate origin ranking per
# item (the narratives' ranking, applied to each item's posts and the shares below them).
# No column change for issue 13's media evidence: narratives.kind and post_narratives.via
# (version 1: url | text | hashtag | cascade) may now also read 'media'.
_V3_ITEMS2: list[str] = [
    """
    CREATE TABLE item_origin_scores (
        item_id       VARCHAR NOT NULL,
        account_id    VARCHAR NOT NULL,
        rank          INTEGER NOT NULL,   -- 1 = most likely origin
        origin_score  DOUBLE NOT NULL,    -- in [0, 1] (spreadtrace.graph.origin)
        first_at      TIMESTAMPTZ,
        reach_share   DOUBLE,
        centrality    DOUBLE,
        reasons       VARCHAR,
        build_id      BIGINT NOT NULL
    )
    """,
]

# ingest (issue 17): long-format files merge several rows into one post, and the run
# row counts them; the mapping that read a foreign file is kept with its run. Posts gain
# the platform's own fields that have no canonical column (a subreddit, a Telegram chat).
_V2_INGEST: list[str] = [
    "ALTER TABLE ingest_runs ADD COLUMN rows_merged BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE ingest_runs ADD COLUMN mapping JSON",
    "ALTER TABLE posts ADD COLUMN IF NOT EXISTS platform_meta JSON",
]

# accounts (issue 10): automation and coordination scored apart, an evidence state, and
# the amplification decomposition. Existing rows get NULLs until the next build.
_V2_ACCOUNTS: list[str] = [
    # in [0, 1]: strongest NPMI co-share strength with any partner (0 without a pair)
    "ALTER TABLE account_scores ADD COLUMN coordination_score DOUBLE",
    # sufficient | insufficient: whether the evidence allows a bot-like verdict at all
    "ALTER TABLE account_scores ADD COLUMN bot_evidence VARCHAR",
    # share of a cascade's / narrative's shares by accounts that are bot-like only,
    # coordinated only, both, neither (they sum to 1; each share counted once)
    *[
        f"ALTER TABLE {table} ADD COLUMN {col} DOUBLE"
        for table in ("cascade_scores", "narratives")
        for col in ("share_bot_only", "share_coordinated_only", "share_both", "share_neither")
    ],
]

# scale (issue 12): the input fingerprint a build started from, so that a build with
# nothing new returns at once (spreadtrace.store.builds). Builds from before are NULL:
# the first build after the migration runs.
_V2_SCALE: list[str] = [
    "ALTER TABLE builds ADD COLUMN inputs VARCHAR",
]

# incremental stages (issue 12): the items stage's near-duplicate (MinHash LSH) state, so
# that a build hashes only the new texts. text_norms: one row per content-bearing cascade
# root, its text's hash (a changed text is re-read), its normalised text (NULL when too
# short) and the low 32 bits of its LSH band keys; text_pairs: per (band, key) bucket the
# verified star pairs of its smallest text with each other member. Both are derived
# state (spreadtrace.store.text_state): a full build or an erasure empties them.
_V4_INCREMENTAL: list[str] = [
    """
    CREATE TABLE text_norms (
        post_id   VARCHAR NOT NULL,
        text_hash UBIGINT NOT NULL,
        norm      VARCHAR,
        keys      UINTEGER[]
    )
    """,
    """
    CREATE TABLE text_pairs (
        band    INTEGER NOT NULL,
        key     UINTEGER NOT NULL,
        norm_a  VARCHAR NOT NULL,
        norm_b  VARCHAR NOT NULL
    )
    """,
]

# incremental accounts stage (issue 12): the accounts stage's stored state, so that a build
# recomputes only what its new posts change. account_features: per account with posts,
# the behaviour aggregates over its whole history (posts_per_day is derived at scoring
# time: it divides by the store's span); coordination_shares: every share (a repost or
# quote of an item, a URL or media item in the account's own post) with its post and
# time; coordination_hits: the distinct (account_a < account_b, item) co-shares within
# the window. All three are derived state (spreadtrace.store.accounts_state): a full
# build, other parameters or an erasure empty them.
_V4_ACCOUNTS: list[str] = [
    """
    CREATE TABLE account_features (
        account_id        VARCHAR NOT NULL,
        posts             BIGINT NOT NULL,
        reposts           BIGINT NOT NULL,
        reposts_timed     BIGINT NOT NULL,
        fast_share        DOUBLE,
        median_delay_s    DOUBLE,
        hour_entropy      DOUBLE,
        burstiness        DOUBLE,
        texts             BIGINT NOT NULL,
        self_repeat_share DOUBLE
    )
    """,
    """
    CREATE TABLE coordination_shares (
        post_id    VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        item       VARCHAR NOT NULL,
        shared_at  DOUBLE NOT NULL  -- epoch seconds (not "t": the snapshot hashes rows as t)
    )
    """,
    """
    CREATE TABLE coordination_hits (
        account_a VARCHAR NOT NULL,
        account_b VARCHAR NOT NULL,
        item      VARCHAR NOT NULL
    )
    """,
]

# incremental narratives grouping (issue 12): per cascade, the keys its content root carries
# (articles, shortened links, text groups, hashtags and media groups, these two before
# their caps) and its narrative, so that a build regroups only the roots a change can
# reach. Derived state (spreadtrace.store.narrative_state): a full build, other
# parameters or an erasure start it afresh.
_V5_NARRATIVE_STATE: list[str] = [
    """
    CREATE TABLE narrative_keys (
        cascade_id VARCHAR NOT NULL,
        key        VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE narrative_map (
        cascade_id   VARCHAR NOT NULL,
        narrative_id VARCHAR,
        via          VARCHAR
    )
    """,
]

# derived tables without a PRIMARY KEY (issue 12, schema version 6), with the key each
# is unique on. Why: DuckDB keeps a PRIMARY KEY as an ART index and re-serialises the
# whole index at every checkpoint (duckdb/duckdb#24848), and a delete from an indexed
# table costs ~100x more at the commit (measured: 30k deletes from a 3M-row table,
# 3.6 s with the key, 0.01 s without). A build's commit checkpoints, so every 1% build
# paid for the indexes of the whole store (~40 s of a 1% build at 5M posts). These
# tables are only ever written by a stage, through spreadtrace.store.sync's
# difference on exactly this key, so the key stays unique without the index; the
# incremental-equals-full tests assert it (tests/test_incremental.py). Input and
# bookkeeping tables (accounts, builds, jobs, meta, ...) keep their keys: they are
# small, or upserted with INSERT OR REPLACE, which needs one.
UNINDEXED_KEYS: dict[str, str] = {
    "cascades": "cascade_id",
    "cascade_scores": "cascade_id",
    "items": "item_id",
    "narratives": "narrative_id",
    "narrative_origin_items": "narrative_id",
    "account_scores": "account_id",
    "account_origin": "account_id",
    "media_groups": "media_group_id",
}

_CREATE = re.compile(r'^CREATE TABLE ("?)(\w+)\1\(', re.IGNORECASE)


def _unindex_derived_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate each table of :data:`UNINDEXED_KEYS` with its key NOT NULL instead of
    PRIMARY KEY (DuckDB cannot drop a constraint), rows and every other constraint kept.
    """
    for table in UNINDEXED_KEYS:
        row = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main' "
            "AND database_name = current_database()",
            [table],
        ).fetchone()
        if row is None:
            raise RuntimeError(f"schema 6: table {table} is missing")
        ddl, n = re.subn(r"\bPRIMARY KEY\b", "NOT NULL", row[0], count=1, flags=re.IGNORECASE)
        ddl, m = _CREATE.subn(f"CREATE TABLE {table}__v6(", ddl, count=1)
        if n != 1 or m != 1:
            raise RuntimeError(f"schema 6: unexpected definition of {table}: {row[0]}")
        con.execute(ddl)  # the catalog's own DDL, table names from this module
        con.execute(f"INSERT INTO {table}__v6 SELECT * FROM {table}")  # noqa: S608
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}__v6 RENAME TO {table}")


# changes sets of the reports (issue 12, schema version 7): what an incremental build deleted or inserted
# in the tables whose rows the report files are keyed by, so a changes set can say
# "removed" (a deleted row carries no build id) and tell an added row from an updated
# one. One row per (build, table, key) a write touched: existed = the key had a row
# before the write, present = it has one after. Written only by incremental builds
# (spreadtrace.store.sync, the cascades stage) in their transaction; a full build
# empties it (a report range that spans a full build is written as a full set).
# meta 'row_changes_from': the first build that logs (stores migrated with builds).
_V7_ROW_CHANGES: list[str] = [
    """
    CREATE TABLE row_changes (
        build_id   BIGINT NOT NULL,
        table_name VARCHAR NOT NULL,
        key1       VARCHAR NOT NULL,
        key2       VARCHAR,
        existed    BOOLEAN NOT NULL,
        present    BOOLEAN NOT NULL
    )
    """,
    """
    INSERT OR REPLACE INTO meta
    SELECT 'row_changes_from', CAST(coalesce(max(build_id), 0) + 1 AS VARCHAR) FROM builds
    """,
]

# incremental item origins (issue 12, schema version 8): per ranked item (posted by
# item_min_accounts accounts or more), per cascade holding a post that spreads it and
# per account posting it there, what the item's origin ranking reads of those posts
# (spreadtrace.graph.origin.origin_parts): the account's first post there, its posts,
# the reach of its shallowest one, its best rumor centrality, and whether the
# cascade's original is stored. A cascade's rows change only when the cascade is
# rebuilt or its posts' items change, so a build re-ranks a grown item from the rows
# of its other cascades without loading their trees. Derived state
# (spreadtrace.store.origin_state): a full build, other parameters, a Spark build or
# an erasure start it afresh (meta 'item_origin_parts': the build it belongs to).
_V8_ITEM_ORIGIN_PARTS: list[str] = [
    """
    CREATE TABLE item_origin_parts (
        item_id    VARCHAR NOT NULL,
        cascade_id VARCHAR NOT NULL,
        account_id VARCHAR NOT NULL,
        first_at   TIMESTAMPTZ NOT NULL,
        posts      BIGINT NOT NULL,
        reach      BIGINT NOT NULL,
        centrality DOUBLE NOT NULL,
        root_seen  BOOLEAN NOT NULL
    )
    """,
]

# the accounts stage's scoring parts (issue 12): per account with posts, what its score
# needs besides its features and the store's span: the profile model's logit (a tree
# walk), whether it has a profile and a complete one, and the strengths of the other
# reasons nearest to its posting rate's (below and above). When the span crosses a day
# boundary, only posts_per_day moves: the bot and behaviour scores are recomputed from
# these without walking the profile trees, and only the accounts whose verdict,
# reasons or rounded features can move are rescored whole (spreadtrace.graph.bots.
# rate_shift). Derived state (spreadtrace.store.accounts_state): a full build, an
# erasure or a Spark build start it afresh. (IF NOT EXISTS: a store set back to an
# older version by hand, as tests do, may still hold it.)
_V9_ACCOUNT_SCORE_PARTS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS account_score_parts (
        account_id       VARCHAR NOT NULL,
        profile_logit    DOUBLE NOT NULL,
        has_profile      BOOLEAN NOT NULL,
        profile_complete BOOLEAN NOT NULL,
        rate_below       DOUBLE NOT NULL,  -- -inf: no other reason's strength below
        rate_above       DOUBLE NOT NULL   -- inf: none above
    )
    """,
]

# Migrations: MIGRATIONS[n] takes a store from version n-1 to n. Version 0 is "empty".
# Until the first release every table is part of version 1; from then on a change is
# a new version with ALTER/CREATE statements.
# A step is a SQL statement, or a function of the connection for what SQL alone cannot
# say (recreating a table to drop its key).
Migration = str | Callable[[duckdb.DuckDBPyConnection], None]

MIGRATIONS: dict[int, list[Migration]] = {
    1: [*_V1_CORE, *_V1_CASCADES, *_V1_ACCOUNT_SCORES, *_V1_NARRATIVE_SCORES, *_V1_JOBS],
    2: [*_V2_MEDIA, *_V2_INGEST, *_V2_SECURITY, *_V2_ACCOUNTS, *_V2_SCALE],
    3: [*_V3_ITEMS, *_V3_SPREAD, *_V3_ITEMS2],
    4: [*_V4_INCREMENTAL, *_V4_ACCOUNTS],
    5: [*_V5_NARRATIVE_STATE],
    6: [_unindex_derived_keys],
    7: [*_V7_ROW_CHANGES],
    8: [*_V8_ITEM_ORIGIN_PARTS],
    9: [*_V9_ACCOUNT_SCORE_PARTS],
}

SCHEMA_VERSION: int = max(MIGRATIONS)

# ruff: noqa: S608 -- only fixed fragments and table names of this module are spliced; values are bound
"""Media matching and provenance in SQL: near-duplicate PDQ pairs, exact matches, groups.

Why SQL: matching a million hashes is set-wise work. Every pair is never formed; a
*multi-index hashing* join (Norouzi, Punjani and Fleet 2012) finds the candidates: the
256-bit PDQ hash is cut into 16 chunks of 16 bits, and two hashes are candidates when
some chunk of one lies within ``r`` bits of the same chunk of the other. The exact
Hamming distance ``bit_count(xor(a, b))`` over four 64-bit words then keeps the pairs
within the threshold. By the pigeonhole principle, if every one of the 16 chunks
differed in more than ``r`` bits the distance would be at least ``16 (r + 1)``; so
``r = floor(threshold / 16)`` (r = 1 for ThreatExchange's threshold 31) finds *every*
pair within the threshold (exact recall, tested against brute force). ``r = 0`` (the
``fast`` mode: chunk equality only) is exact up to distance 15 and misses some pairs
between 16 and 31; its recall is measured in docs/scores.md. Radius 1 is done as an
equi-join too: the probe side tries the chunk and its 16 one-bit neighbours.

Video: the same join over every sampled frame hash (vPDQ); two videos match when at
least ``video_match`` of each one's distinct frames have a matching frame in the other.

The temp tables ``_mx_*`` live for the build's transaction and are dropped by
:func:`drop_temp`.

>>> import duckdb
>>> a, b = words_sql("$x"), words_sql("$y")
>>> sql = f"SELECT {hamming_sql('a', 'b')} FROM (SELECT {a} AS a, {b} AS b)"
>>> duckdb.connect().execute(sql, {"x": "f" * 64, "y": "0" * 63 + "7"}).fetchone()[0]
253
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl

__all__ = [
    "CHUNKS",
    "hamming_sql",
    "near_pairs",
    "words_sql",
    "probe_radius",
    "media_items",
    "match_pairs",
    "write_groups",
    "update_scores",
    "drop_temp",
    "ITEMS_SQL",
    "ITEM_POSTS_SQL",
    "MEDIA_ITEMS_SQL",
    "SHA256_PAIRS_SQL",
    "PDQ_HASHES_SQL",
    "VIDEO_FRAMES_SQL",
    "VIDEO_PAIRS_SQL",
    "GROUP_SQL",
    "MATCHES_SQL",
    "POST_GROUPS_SQL",
    "POST_MEDIA_SQL",
    "MEDIA_GROUPS_SQL",
]

CHUNKS = 16  # 16 chunks of 16 bits
_TEMP = ("_mx_items", "_mx_hash", "_mx_chunks", "_mx_pairs", "_mx_frames", "_mx_group", "_mx_pm")

# The stage's set-wise rules, written once in portable DuckDB SQL over named tables
# (``posts``, ``media`` and this module's ``_mx_*`` tables) and run by both engines: here
# as they are, and on Spark transpiled by sqlglot (spreadtrace.spark.media). Parameters
# are bound ($q, $v, $gap, $b). Only the hash decoding of the near-pair join is written
# per engine (hex to words differs), with the same chunks, probes and distance.

# Every media item: the media table, plus each post reference that names no media row
# (a pdq:/sha256: reference carries its hash; phash: and platform ids match by identity).
MEDIA_ITEMS_SQL = """
SELECT media_id, kind, sha256, pdq, pdq_quality, frames FROM media
UNION ALL
SELECT ref AS media_id,
       CASE WHEN ref LIKE 'pdq:%' THEN 'image' END AS kind,
       CASE WHEN ref LIKE 'sha256:%' THEN substr(ref, 8) END AS sha256,
       CASE WHEN ref LIKE 'pdq:%' THEN substr(ref, 5) END AS pdq,
       CAST(NULL AS INTEGER) AS pdq_quality, CAST(NULL AS VARCHAR[]) AS frames
FROM (SELECT DISTINCT unnest(media) AS ref FROM posts WHERE media IS NOT NULL) AS r
WHERE NOT EXISTS (SELECT 1 FROM media AS m WHERE m.media_id = r.ref)
"""
# Identical bytes: each item linked to the first item (by idx) with its digest.
SHA256_PAIRS_SQL = """
SELECT a, b, via, distance FROM (
  SELECT min(idx) OVER (PARTITION BY sha256) AS a, idx AS b, 'sha256' AS via,
         CAST(0.0 AS DOUBLE) AS distance
  FROM _mx_items WHERE sha256 IS NOT NULL
) AS s WHERE a < b
"""
# The PDQ hashes matched: images and gifs of good (or unknown) quality.
PDQ_HASHES_SQL = """
SELECT idx, pdq AS hex FROM _mx_items
WHERE pdq IS NOT NULL AND coalesce(kind, 'image') IN ('image', 'gif')
  AND coalesce(pdq_quality, 100) >= $q
"""
# One row per distinct frame hash of each video (numbered by the engine).
VIDEO_FRAMES_SQL = """
SELECT DISTINCT owner, f FROM (
  SELECT idx AS owner, unnest(frames) AS f FROM _mx_items
  WHERE kind = 'video' AND frames IS NOT NULL
) AS x
"""
# vPDQ: two videos match when >= $v of each one's distinct frames match the other's
# (frame pairs in _mx_fnear(a, b) by _mx_frames.idx).
VIDEO_PAIRS_SQL = """
WITH fp AS (
  SELECT fa.owner AS oa, fb.owner AS ob, n.a AS fa, n.b AS fb
  FROM _mx_fnear AS n
  JOIN _mx_frames AS fa ON fa.idx = n.a JOIN _mx_frames AS fb ON fb.idx = n.b
  WHERE fa.owner <> fb.owner),
-- each matching frame pair, oriented so that lo < hi
o AS (
  SELECT least(oa, ob) AS lo, greatest(oa, ob) AS hi,
         CASE WHEN oa < ob THEN fa ELSE fb END AS f_lo,
         CASE WHEN oa < ob THEN fb ELSE fa END AS f_hi
  FROM fp),
n AS (SELECT owner, count(*) AS frames FROM _mx_frames GROUP BY owner),
m AS (SELECT lo, hi, count(DISTINCT f_lo) AS m_lo, count(DISTINCT f_hi) AS m_hi
      FROM o GROUP BY lo, hi)
SELECT lo AS a, hi AS b, 'video' AS via,
       least(m_lo / nl.frames, m_hi / nh.frames) AS distance
FROM m JOIN n AS nl ON nl.owner = m.lo JOIN n AS nh ON nh.owner = m.hi
WHERE m_lo / nl.frames >= $v AND m_hi / nh.frames >= $v
"""
# Each item's group (component g of _mx_member): the group's smallest media_id.
GROUP_SQL = """
SELECT i.idx, i.media_id, i.kind, min(i.media_id) OVER (PARTITION BY m.g) AS media_group_id
FROM _mx_items AS i JOIN _mx_member AS m ON m.idx = i.idx
"""
MATCHES_SQL = """
SELECT least(x.media_id, y.media_id) AS media_a, greatest(x.media_id, y.media_id) AS media_b,
       p.via, p.distance, $b AS build_id
FROM _mx_pairs AS p JOIN _mx_items AS x ON x.idx = p.a JOIN _mx_items AS y ON y.idx = p.b
"""
# One row per (post, group), with the gap in days since the group's previous post.
POST_GROUPS_SQL = """
SELECT *, CAST(t_us - lag(t_us) OVER w AS DOUBLE) / 86400e6 AS gap_days,
       row_number() OVER w AS nth
FROM (
  SELECT r.post_id, min(r.ref) AS media_id, g.media_group_id,
         any_value(p.account_id) AS account_id, any_value(p.created_at) AS created_at,
         any_value(epoch_us(p.created_at)) AS t_us,
         any_value(p.platform) AS platform,
         any_value(coalesce(lower(trim(p.text)), '')) AS text_norm,
         any_value(list_sort(coalesce(p.urls, []))) AS urls_norm
  FROM (SELECT post_id, unnest(media) AS ref FROM posts WHERE media IS NOT NULL) AS r
  JOIN posts AS p ON p.post_id = r.post_id
  JOIN _mx_group AS g ON g.media_id = r.ref
  GROUP BY r.post_id, g.media_group_id
) AS x
WINDOW w AS (PARTITION BY media_group_id ORDER BY created_at, post_id)
"""
POST_MEDIA_SQL = """
SELECT pm.post_id, pm.media_id, pm.media_group_id,
       CASE WHEN pm.gap_days > $gap THEN pm.gap_days END AS reuse_gap_days,
       coalesce(pm.gap_days > $gap AND (pm.text_norm <> f.text_norm
                                        OR pm.urls_norm <> f.urls_norm), false)
         AS out_of_context,
       $b AS build_id
FROM _mx_pm AS pm JOIN _mx_pm AS f ON f.media_group_id = pm.media_group_id AND f.nth = 1
"""
# A group's kind is its most common kind, a tie to the smallest (mode() picks any).
MEDIA_GROUPS_SQL = """
SELECT g.media_group_id, k.kind, g.media_ids,
       coalesce(nullif(left(f.text, 200), ''), g.media_group_id) AS label,
       f.post_id AS first_post_id, f.account_id AS first_account_id,
       f.created_at AS first_at, f.platform AS first_platform, s.last_at,
       s.posts, s.accounts, s.platforms, s.reused_after_days, s.reuses,
       s.out_of_context, CAST(NULL AS DOUBLE) AS bot_share,
       CAST(NULL AS DOUBLE) AS coordinated_share, $b AS build_id
FROM (SELECT media_group_id, list_sort(list(media_id)) AS media_ids
      FROM _mx_group GROUP BY media_group_id) AS g
LEFT JOIN (SELECT media_group_id, kind FROM (
             SELECT media_group_id, kind, row_number() OVER (
                      PARTITION BY media_group_id ORDER BY count(*) DESC, kind) AS r
             FROM _mx_group WHERE kind IS NOT NULL GROUP BY media_group_id, kind) AS c
           WHERE r = 1) AS k ON k.media_group_id = g.media_group_id
JOIN (SELECT pm.media_group_id, max(pm.created_at) AS last_at, count(*) AS posts,
             count(DISTINCT pm.account_id) AS accounts,
             coalesce(list_sort(list(DISTINCT pm.platform)
               FILTER (WHERE pm.platform IS NOT NULL)), []) AS platforms,
             max(x.reuse_gap_days) AS reused_after_days,
             count(x.reuse_gap_days) AS reuses,
             count(*) FILTER (WHERE x.out_of_context) AS out_of_context
      FROM _mx_pm AS pm JOIN post_media AS x
        ON x.post_id = pm.post_id AND x.media_group_id = pm.media_group_id
      GROUP BY pm.media_group_id) AS s ON s.media_group_id = g.media_group_id
JOIN (SELECT pm.media_group_id, pm.post_id, pm.account_id, pm.created_at, pm.platform,
             p.text
      FROM _mx_pm AS pm JOIN posts AS p ON p.post_id = pm.post_id WHERE pm.nth = 1) AS f
  ON f.media_group_id = g.media_group_id
"""


def words_sql(hex_expr: str) -> str:
    """SQL: a 64-hex PDQ string -> a STRUCT of four UBIGINT words (w0 = the first 16 hex)."""
    parts = ", ".join(
        f"w{i} := ('0x' || substr({hex_expr}, {16 * i + 1}, 16))::UBIGINT" for i in range(4)
    )
    return f"struct_pack({parts})"


def hamming_sql(a: str, b: str) -> str:
    """SQL: the Hamming distance of two word structs."""
    return " + ".join(f"bit_count(xor({a}.w{i}, {b}.w{i}))" for i in range(4))


def probe_radius(threshold: int, exact: bool = True) -> int:
    """The chunk radius that finds every pair within ``threshold`` (pigeonhole), or 0.

    >>> probe_radius(31), probe_radius(15), probe_radius(31, exact=False)
    (1, 0, 0)
    """
    if not exact:
        return 0
    r = threshold // CHUNKS
    if r > 1:
        raise ValueError("thresholds above 47 need chunk radius 2+, which is not implemented")
    return r


def near_pairs(
    con: duckdb.DuckDBPyConnection, source: str, *, threshold: int, radius: int, out: str
) -> int:
    """Pairs of rows of ``source`` (columns ``idx BIGINT``, ``h`` word struct) within
    ``threshold`` bits, into temp table ``out(a, b, distance)`` with a < b. Returns rows.

    ``source`` is a temp table name of this module (never input).
    """
    con.execute(f"DROP TABLE IF EXISTS {out}")
    con.execute("DROP TABLE IF EXISTS _mx_chunks")
    word = "CASE j // 4 WHEN 0 THEN h.w0 WHEN 1 THEN h.w1 WHEN 2 THEN h.w2 ELSE h.w3 END"
    con.execute(
        f"""
        CREATE TEMP TABLE _mx_chunks AS
        SELECT idx, j::UTINYINT AS j, (({word} >> (16 * (3 - j % 4))::UBIGINT) & 65535)::USMALLINT AS v, h
        FROM {source}, range({CHUNKS}) AS t(j)
        """  # noqa: S608 -- fixed table names from this module
    )
    flips = "SELECT 0::USMALLINT AS f" + (
        " UNION ALL SELECT (1 << k)::USMALLINT FROM range(16) AS t(k)" if radius >= 1 else ""
    )
    con.execute(
        f"""
        CREATE TEMP TABLE {out} AS
        SELECT DISTINCT a, b, distance FROM (
          SELECT p.idx AS a, q.idx AS b, {hamming_sql("p.h", "q.h")} AS distance
          FROM (SELECT c.idx, c.j, xor(c.v, f.f) AS v, c.h FROM _mx_chunks AS c, ({flips}) AS f) AS p
          JOIN _mx_chunks AS q ON q.j = p.j AND q.v = p.v AND p.idx < q.idx
        ) WHERE distance <= $t
        """,  # noqa: S608 -- fixed fragments from this module
        {"t": int(threshold)},
    )
    con.execute("DROP TABLE _mx_chunks")
    return int(con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0])  # noqa: S608


def media_items(con: duckdb.DuckDBPyConnection) -> int:
    """Every media item into ``_mx_items(idx, media_id, kind, sha256, pdq, pdq_quality,
    frames)``: the media table, plus each post reference that names no media row (a
    ``pdq:``/``sha256:`` reference carries its hash; ``phash:`` and platform ids match by
    identity only). Returns the number of items."""
    con.execute(
        f"CREATE TEMP TABLE _mx_items AS "
        f"SELECT row_number() OVER (ORDER BY media_id) - 1 AS idx, * FROM ({MEDIA_ITEMS_SQL})"
    )
    return int(con.execute("SELECT count(*) FROM _mx_items").fetchall()[0][0])


def match_pairs(
    con: duckdb.DuckDBPyConnection,
    *,
    threshold: int,
    radius: int,
    min_quality: int,
    video_match: float,
) -> pl.DataFrame:
    """Matching item pairs (a < b by idx) with ``via`` and ``distance``, as a frame.

    - sha256: identical bytes (each item linked to the first item with its digest);
    - pdq: images and gifs with PDQ quality >= ``min_quality`` (unknown quality, e.g. a
      ``pdq:`` reference, counts as good) within ``threshold`` bits;
    - video: videos whose distinct good frames match each other's at >= ``video_match``
      (the vPDQ rule, both directions), frames compared within ``threshold``.
    """
    con.execute(f"CREATE TEMP TABLE _mx_pairs AS {SHA256_PAIRS_SQL}")
    con.execute(
        f"CREATE TEMP TABLE _mx_hash AS SELECT idx, {words_sql('hex')} AS h "
        f"FROM ({PDQ_HASHES_SQL}) AS x",
        {"q": int(min_quality)},
    )
    near_pairs(con, "_mx_hash", threshold=threshold, radius=radius, out="_mx_near")
    con.execute(
        "INSERT INTO _mx_pairs SELECT a, b, 'pdq', distance::DOUBLE FROM _mx_near; "
        "DROP TABLE _mx_near; DROP TABLE _mx_hash"
    )
    # Video: one row per distinct frame hash of each video.
    con.execute(
        f"CREATE TEMP TABLE _mx_frames AS SELECT row_number() OVER () - 1 AS idx, owner, "
        f"{words_sql('f')} AS h FROM ({VIDEO_FRAMES_SQL}) AS x"
    )
    near_pairs(con, "_mx_frames", threshold=threshold, radius=radius, out="_mx_fnear")
    con.execute(f"INSERT INTO _mx_pairs {VIDEO_PAIRS_SQL}", {"v": float(video_match)})
    con.execute("DROP TABLE _mx_fnear")
    return con.sql("SELECT a, b, via, distance FROM _mx_pairs ORDER BY a, b, via").pl()


def write_groups(
    con: duckdb.DuckDBPyConnection,
    membership: np.ndarray,
    build_id: int,
    *,
    reuse_gap_days: float,
) -> dict[str, int]:
    """Replace media_matches, post_media and media_groups from the item ``membership``
    (component number per idx); provenance columns except bot/coordinated share.

    The group id is the group's smallest media_id; a post that carries two items of
    one group names the smaller one, and a group's kind is its most common kind (ties
    to the smaller), so that another engine's rows can equal these exactly. A post's reuse: a gap of more than
    ``reuse_gap_days`` since the group's previous post; it is an "out of context"
    candidate when its text or its links differ from the group's first post.
    """
    for table in ("media_matches", "post_media", "media_groups"):
        con.execute(f"DELETE FROM {table}")  # noqa: S608 -- fixed names
    con.register("_mx_member", pl.DataFrame({"idx": np.arange(len(membership)), "g": membership}))
    try:
        con.execute(f"CREATE TEMP TABLE _mx_group AS {GROUP_SQL}")
    finally:
        con.unregister("_mx_member")
    con.execute(f"INSERT INTO media_matches {MATCHES_SQL}", {"b": int(build_id)})
    con.execute(f"CREATE TEMP TABLE _mx_pm AS {POST_GROUPS_SQL}")
    con.execute(
        f"INSERT INTO post_media {POST_MEDIA_SQL}",
        {"gap": float(reuse_gap_days), "b": int(build_id)},
    )
    con.execute(f"INSERT INTO media_groups {MEDIA_GROUPS_SQL}", {"b": int(build_id)})
    groups, posts, multi = con.execute(
        "SELECT count(*), coalesce(sum(posts), 0), count(*) FILTER (WHERE len(media_ids) > 1) "
        "FROM media_groups"
    ).fetchall()[0]
    return {"media_groups": int(groups), "media_posts": int(posts), "groups_of_copies": int(multi)}


def update_scores(con: duckdb.DuckDBPyConnection) -> None:
    """Fill media_groups.bot_share and coordinated_share from the accounts stage:
    the share of the group's posts by bot-like accounts, and by accounts in a
    coordination cluster."""
    con.execute(
        """
        UPDATE media_groups AS g SET bot_share = s.bot_share, coordinated_share = s.coord
        FROM (
          SELECT pm.media_group_id,
                 avg(coalesce(a.is_bot_like, false)::INTEGER) AS bot_share,
                 avg((c.account_id IS NOT NULL)::INTEGER) AS coord
          FROM post_media AS pm JOIN posts AS p USING (post_id)
          LEFT JOIN account_scores AS a ON a.account_id = p.account_id
          LEFT JOIN (SELECT DISTINCT account_id FROM coordination_clusters) AS c
            ON c.account_id = p.account_id
          GROUP BY pm.media_group_id
        ) AS s
        WHERE g.media_group_id = s.media_group_id
        """
    )


# Media groups as generic items (kind ``media``), in the shape other item kinds use
# (item_id, kind, label, first_post_id, first_account_id, first_at, posts, accounts), and
# which posts carry each: for a generic ``items`` table to take in as it is.
ITEMS_SQL = """
SELECT 'media:' || media_group_id AS item_id, 'media' AS kind, label, first_post_id,
       first_account_id, first_at, posts, accounts
FROM media_groups
"""
ITEM_POSTS_SQL = """
SELECT post_id, 'media:' || media_group_id AS item_id FROM post_media
"""


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this module's temp tables (safe when they do not exist)."""
    for name in _TEMP:
        con.execute(f"DROP TABLE IF EXISTS {name}")

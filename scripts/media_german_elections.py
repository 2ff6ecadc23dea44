"""Cross-platform image co-sharing on the 2021 German federal election data.

Usage (from the repository root):

    .venv/bin/python scripts/media_german_elections.py [--data PATH] [--window 60]

Reads ``german_elections.csv.gz`` (Righetti et al. 2022, CooRTweet's example data:
Facebook ``fb_`` and Twitter ``tw_`` accounts, anonymised ids) at run time. The file has
one row per item of a post (account_id, post_id, url_id, hashtag_id, domain_id,
phash_id, timestamp), so rows are grouped by post_id into one canonical post whose
``media`` are its image hashes written ``phash:<id>`` (precomputed hashes: they match
by identity). The posts go through the real path: ingest -> build (the media stage
groups them; co-sharing the same image within ``--window`` seconds counts as
coordination) -> the media groups. Prints the figures quoted in docs/scores.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.ingest import ingest_file  # noqa: E402
from spreadtrace.pipeline.accounts import AccountParams  # noqa: E402
from spreadtrace.pipeline.build import BuildParams, run_build  # noqa: E402
from spreadtrace.store import Store  # noqa: E402

CANDIDATES = (
    REPO.parent / "shared" / "data" / "coordination" / "german_elections.csv.gz",
    Path("/work/shared/data/coordination/german_elections.csv.gz"),
)


def write_posts(con, src: Path, out: Path) -> None:
    """One canonical post per post_id, its image hashes as media references."""
    con.execute(
        f"""
        COPY (
          SELECT post_id, any_value(account_id) AS account_id,
                 strftime(to_timestamp(min(timestamp)), '%Y-%m-%dT%H:%M:%SZ') AS created_at,
                 CASE WHEN any_value(account_id) LIKE 'fb_%' THEN 'facebook' ELSE 'twitter' END
                   AS platform,
                 nullif(string_agg(DISTINCT 'phash:' || phash_id::VARCHAR, ' '), '') AS media
          FROM read_csv(?)
          WHERE post_id IS NOT NULL
          GROUP BY post_id
        ) TO '{out}' (HEADER)
        """,  # noqa: S608 -- a temp file path of this script
        [str(src)],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    src = args.data or next((p for p in CANDIDATES if p.exists()), None)
    if src is None or not src.exists():
        sys.exit("german_elections.csv.gz not found; pass --data")
    tmp = Path(tempfile.mkdtemp())
    with Store.open(":memory:") as store:
        con = store.con
        write_posts(con, src, tmp / "posts.csv")
        t = time.perf_counter()
        r = ingest_file(store, tmp / "posts.csv")
        params = BuildParams(accounts=AccountParams(window_s=args.window))
        b = run_build(store, params=params, publish=False)
        print(
            f"posts {r.rows_inserted:,} (rejected {r.rows_rejected}); build {time.perf_counter() - t:.1f} s"
        )
        print(f"media stage: {b.counts['media']}")
        q = con.execute
        total, cross, posts_cross = q(
            "SELECT count(*), count(*) FILTER (WHERE len(platforms) = 2), "
            "sum(posts) FILTER (WHERE len(platforms) = 2) FROM media_groups"
        ).fetchone()
        multi = q("SELECT count(*) FROM media_groups WHERE accounts > 1").fetchone()[0]
        print(f"image groups: {total:,}; shared by 2+ accounts: {multi:,}; "
              f"on both Facebook and Twitter: {cross:,} ({posts_cross:,} posts)")  # fmt: skip
        # How fast an image crosses: from its first post on one platform to the first on the other.
        lag = q(
            """
            WITH f AS (
              SELECT pm.media_group_id, p.platform, min(p.created_at) AS first_at
              FROM post_media pm JOIN posts p USING (post_id) GROUP BY 1, 2)
            SELECT count(*),
                   quantile_cont(abs(epoch(a.first_at - b.first_at)) / 3600, [0.1, 0.5, 0.9]),
                   count(*) FILTER (WHERE a.first_at <= b.first_at),
                   count(*) FILTER (WHERE abs(epoch(a.first_at - b.first_at)) <= 60),
                   count(*) FILTER (WHERE abs(epoch(a.first_at - b.first_at)) <= 3600)
            FROM f a JOIN f b ON a.media_group_id = b.media_group_id
            WHERE a.platform = 'facebook' AND b.platform = 'twitter'
            """
        ).fetchone()
        print(f"cross-platform images: {lag[0]:,}; hours from first on one platform to first "
              f"on the other (10/50/90th pct): {[round(x, 2) for x in lag[1]]}; Facebook first: "
              f"{lag[2]:,}; within a minute: {lag[3]:,}; within an hour: {lag[4]:,}")  # fmt: skip
        rows = q(
            """
            WITH ap AS (
              SELECT pm.media_group_id, p.account_id, p.platform, min(p.created_at) AS t
              FROM post_media pm JOIN posts p USING (post_id) GROUP BY 1, 2, 3)
            SELECT a.account_id AS fb, b.account_id AS tw, count(*) AS images,
                   median(abs(epoch(a.t - b.t))) AS median_gap_s
            FROM ap a JOIN ap b ON a.media_group_id = b.media_group_id
            WHERE a.platform = 'facebook' AND b.platform = 'twitter'
            GROUP BY 1, 2 HAVING count(*) >= 2
            ORDER BY images DESC, median_gap_s LIMIT 10
            """
        ).fetchall()
        print("Facebook and Twitter accounts posting the same images (2+), most first:")
        for fb, tw, n, gap in rows:
            print(f"  {fb} & {tw}: {n} images, median gap {gap / 3600:.1f} h")
        n_pairs = q("SELECT count(*) FROM media_groups WHERE len(platforms) = 2").fetchone()[0]
        top = q(
            "SELECT media_group_id, posts, accounts, first_account_id, first_platform, "
            "round(coordinated_share, 2) FROM media_groups ORDER BY posts DESC LIMIT 5"
        ).fetchall()
        print(f"most posted images: {top}")
        coord = q(
            """
            SELECT count(*) FILTER (WHERE account_a LIKE 'fb_%' AND account_b LIKE 'tw_%'),
                   count(*) FROM coordination_pairs
            """
        ).fetchone()
        print(f"coordination pairs at {args.window:g} s (URLs, reposts and images): {coord[1]:,}; "
              f"fb-tw: {coord[0]:,}; cross-platform image groups: {n_pairs:,}")  # fmt: skip


if __name__ == "__main__":
    main()

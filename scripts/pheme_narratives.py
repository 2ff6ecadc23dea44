"""How well narratives match PHEME's annotated claims (germanwings): B-cubed over posts.

Usage (from the repository root):

    .venv/bin/python scripts/pheme_narratives.py [--semantic [--threshold 0.6]] [--code DIR]

Reads ``../shared/data/pheme-germanwings`` at run time: ``tweets.jsonl.gz`` (source
tweets and replies, Twitter v1.1) is ingested into a temporary store and built like a
user would; ``threads.csv`` gives each thread's annotated claim (``category``; 238 of
469 threads carry one). Every post of an annotated thread has the thread's claim as its
gold cluster and its narrative (or its own cascade, when the cascade is in no narrative)
as its found cluster. B-cubed precision and recall (Bagga & Baldwin 1998) average, over
those posts, the share of the found cluster that has the post's claim and the share of
the claim's posts found with it. ``--code DIR`` imports spreadtrace from another
checkout (to compare with an earlier commit in the same run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "pheme-germanwings"
if not DATA.exists():
    DATA = Path("/work/shared/data/pheme-germanwings")


def bcubed(gold: pl.Series, found: pl.Series) -> tuple[float, float]:
    """B-cubed precision and recall of ``found`` clusters against ``gold`` ones.

    >>> [round(x, 3) for x in bcubed(pl.Series(["a", "a", "b"]), pl.Series([1, 1, 1]))]
    [0.556, 1.0]
    """
    f = pl.DataFrame({"g": gold, "f": found})
    f = f.with_columns(
        both=pl.len().over("g", "f"), in_f=pl.len().over("f"), in_g=pl.len().over("g")
    )
    return float((f["both"] / f["in_f"]).mean()), float((f["both"] / f["in_g"]).mean())


def evaluate(data: Path, *, semantic: bool = False, threshold: float = 0.6) -> dict[str, float]:
    """Ingest and build PHEME germanwings; B-cubed of narratives against annotated claims."""
    from spreadtrace.ingest import ingest_file
    from spreadtrace.pipeline.build import BuildParams, run_build
    from spreadtrace.pipeline.narratives import NarrativeParams
    from spreadtrace.store import Store

    threads = pl.read_csv(data / "threads.csv", schema_overrides={"thread_id": pl.String})
    narr = NarrativeParams(semantic=semantic, semantic_threshold=threshold)
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "s.duckdb") as store:
        ingest_file(store, data / "tweets.jsonl.gz")
        run_build(store, full=True, params=BuildParams(narratives=narr), publish=False)
        posts = store.con.sql(
            """
            SELECT pc.post_id, c.root_post_id AS thread_id,
                   coalesce(pn.narrative_id, 'cascade:' || pc.cascade_id) AS found
            FROM post_cascades pc JOIN cascades c USING (cascade_id)
            LEFT JOIN post_narratives pn USING (post_id)
            """
        ).pl()
        largest = store.con.execute(
            "SELECT max(posts) * 100.0 / (SELECT count(*) FROM posts) FROM narratives"
        ).fetchall()[0][0]
    gold = posts.join(threads.filter(pl.col("category").is_not_null()), on="thread_id", how="inner")
    p, r = bcubed(gold["category"], gold["found"])
    return {
        "posts": gold.height,
        "threads": gold["thread_id"].n_unique(),
        "claims": gold["category"].n_unique(),
        "clusters": gold["found"].n_unique(),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "largest_pct": float(largest or 0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--semantic", action="store_true", help="turn on the semantic option")
    ap.add_argument("--threshold", type=float, default=0.6, help="semantic cosine threshold")
    ap.add_argument("--code", type=Path, default=REPO, help="checkout to import from")
    args = ap.parse_args()
    sys.path.insert(0, str(args.code))
    if args.code == REPO:
        m = evaluate(DATA, semantic=args.semantic, threshold=args.threshold)
    else:  # an earlier checkout has no semantic option
        m = evaluate(DATA)
    print(
        f"annotated posts {m['posts']} in {m['threads']} threads, {m['claims']} claims; "
        f"found clusters {m['clusters']}"
    )
    print(
        f"B-cubed precision {m['precision']:.3f} recall {m['recall']:.3f} F1 {m['f1']:.3f}; "
        f"largest narrative {m['largest_pct']:.1f}%"
    )


if __name__ == "__main__":
    main()

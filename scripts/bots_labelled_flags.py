"""Who the shipped bot score flags among the labelled profiles: false positives per human
collection, flags per bot family, and every flagged human with its reasons.

Usage (from the repository root; about a minute, under 1 GB):

    .venv/bin/python scripts/bots_labelled_flags.py [--data PATH]

Reads ``../shared/data/bots-train/accounts.jsonl.gz`` (the collections
``scripts/train_bot_model.py`` trains on; labels per account) and scores every account
from its profile snapshot alone, with the shipped models and the build's defaults
(:func:`spreadtrace.graph.bots.score_accounts`, no posts: the pool then needs a
calibrated profile probability of 0.85 to flag). The humans are split into the same
seeded halves as the training script's evaluation: the held-out half never trained the
shipped forest, the other half did, so the held-out column is the honest one. Every
bot family trained the shipped forest (in-sample). Prints the tables quoted in
docs/scores.md ("The worst mistake").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from train_bot_model import SEED, _half, load  # noqa: E402

from spreadtrace.graph.bots import score_accounts  # noqa: E402
from spreadtrace.store.accounts_scores import PROFILE_COLUMNS  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "bots-train" / "accounts.jsonl.gz"


def labelled_flags(path: Path = DATA) -> pl.DataFrame:
    """Every labelled account with dataset, label, held_out (humans: the evaluation's
    held-out half) and the shipped score's bot_score, is_bot_like and bot_reasons."""
    frame = load(path)
    # one row per account id (a few ids are in two collections: keep the first)
    frame = frame.with_row_index("_row")
    y = frame["label"].to_numpy()
    fam = frame["dataset"].to_numpy()
    rng = np.random.default_rng(SEED)  # the first draw of train_bot_model.evaluate
    held_out = _half(y == 0, fam, rng)
    frame = frame.with_columns(held_out=pl.Series(held_out))
    profiles = frame.unique("account_id", keep="first", maintain_order=True).select(PROFILE_COLUMNS)
    scores = score_accounts(None, profiles)
    return frame.join(
        scores.select("account_id", "bot_score", "is_bot_like", "bot_reasons"),
        on="account_id",
        how="left",
    ).sort("_row")


def tables(flags: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(humans flagged per collection, bots flagged per family, the flagged humans)."""
    humans = (
        flags.filter(pl.col("label") == 0)
        .group_by("dataset")
        .agg(
            pl.len().alias("humans"),
            pl.col("is_bot_like").sum().alias("flagged"),
            pl.col("held_out").sum().alias("held_out"),
            (pl.col("is_bot_like") & pl.col("held_out")).sum().alias("flagged_held_out"),
        )
        .sort("dataset")
    )
    bots = (
        flags.filter(pl.col("label") == 1)
        .group_by("dataset")
        .agg(pl.len().alias("bots"), pl.col("is_bot_like").sum().alias("flagged"))
        .with_columns(share=(pl.col("flagged") / pl.col("bots")).round(4))
        .sort("dataset")
    )
    flagged = (
        flags.filter((pl.col("label") == 0) & pl.col("is_bot_like"))
        .sort("bot_score", descending=True)
        .select("dataset", "handle", "held_out", pl.col("bot_score").round(3), "bot_reasons")
    )
    return humans, bots, flagged


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    humans, bots, flagged = tables(labelled_flags(args.data))
    with pl.Config(fmt_str_lengths=300, tbl_rows=60, tbl_width_chars=250):
        print("humans flagged bot-like, per collection:")
        print(humans)
        print("bots flagged bot-like, per family (every family trained the forest):")
        print(bots)
        print("flagged humans:")
        print(flagged)


if __name__ == "__main__":
    main()

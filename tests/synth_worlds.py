"""Synthetic worlds shared by the tests that ingest one in batches (not a test module).

One definition, so two modules never write different worlds into one folder: the
folder names the seed and the size (two modules once both wrote ``world-3`` under the
session's base folder, 1,500 and 900 posts).
"""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl

from spreadtrace.synth import generate


@functools.cache
def synth_world(seed: int, root: str, posts: int) -> Path:
    """The folder of a generated world (posts, accounts, follows), made once per session."""
    out = Path(root) / f"world-{seed}-{posts}"
    generate(out, seed=seed, posts=posts)
    return out


def world_posts(world: Path) -> pl.DataFrame:
    """The world's post lines as text (its deliberately malformed lines kept, lossily)."""
    return pl.read_csv(
        world / "posts.csv.gz",
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )

"""Synthetic worlds shared by the tests that ingest one in batches (not a test module).

One definition, so two modules never write different worlds into one folder: the
folder names the seed and the size (two modules once both wrote ``world-3`` under the
session's base folder, 1,500 and 900 posts).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline.build import BuildResult, run_build
from spreadtrace.store import Store
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


def build_in_batches(
    store: Store,
    world: Path,
    cut: np.ndarray,
    tmp: Path,
    tag: str = "",
    *,
    follows: bool = True,
    batches: int | None = None,
) -> Iterator[BuildResult]:
    """Ingest the world's accounts (and follows), then the posts of batch 0, 1, ...
    (``cut`` gives each post line its batch) as files of their own, through the real
    ingest path, yielding the result of the build after each; ``batches`` defaults to
    the highest batch in ``cut`` plus one."""
    ingest_file(store, world / "accounts.csv.gz", format="accounts")
    if follows:
        ingest_file(store, world / "follows.csv.gz", format="follows")
    posts = world_posts(world)
    for b in range(int(cut.max()) + 1 if batches is None else batches):
        part = tmp / f"{tag}posts-{b}.csv"
        posts.filter(pl.Series(cut == b)).write_csv(part)
        ingest_file(store, part, format="posts")
        yield run_build(store, publish=False)

"""A synthetic social world with planted ground truth: bots, rings, narratives, mess.

Why: scores can only be trusted if they find what was planted. :func:`generate`
writes canonical ``posts.csv.gz``, ``accounts.csv.gz`` and ``follows.csv.gz`` (the
input format of ``spreadtrace ingest``) plus ``truth/`` (which accounts are bots,
which belong to a coordinated group, which posts make each planted narrative and who
started it, and every parameter and count in ``params.json``). The same seed gives
the same bytes. See docs/synthetic-world.md for what is planted and why.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     r = generate(d, seed=1, posts=3_000)
...     posts = read_posts(f"{d}/posts.csv.gz")
>>> r.posts, posts.height, posts.columns[:3]
(3000, 3000, ['post_id', 'account_id', 'created_at'])
"""

from __future__ import annotations

from pathlib import Path

from spreadtrace.progress import ProgressFn
from spreadtrace.synth.params import SynthParams
from spreadtrace.synth.world import POST_COLUMNS, SynthResult, generate_world, read_posts

__all__ = [
    "SAMPLE_POSTS",
    "SAMPLE_SEED",
    "POST_COLUMNS",
    "SynthParams",
    "SynthResult",
    "generate",
    "generate_sample",
    "read_posts",
]

# The bundled sample in data/sample: `spreadtrace synth --sample --out data/sample`.
SAMPLE_SEED = 20240304
SAMPLE_POSTS = 30_000


def generate(
    out_dir: str | Path,
    *,
    seed: int = 0,
    posts: int = 30_000,
    progress: ProgressFn | None = None,
    params: SynthParams | None = None,
) -> SynthResult:
    """Write a synthetic world of ``posts`` distinct posts into ``out_dir``.

    ``params`` overrides the defaults that :meth:`SynthParams.for_posts` derives from
    ``posts`` and ``seed`` (its own ``posts`` and ``seed`` then win).
    """
    p = params if params is not None else SynthParams.for_posts(posts, seed=seed)
    return generate_world(out_dir, p, progress)


def generate_sample(out_dir: str | Path, progress: ProgressFn | None = None) -> SynthResult:
    """Regenerate the bundled sample (fixed seed and size) into ``out_dir``."""
    return generate(out_dir, seed=SAMPLE_SEED, posts=SAMPLE_POSTS, progress=progress)

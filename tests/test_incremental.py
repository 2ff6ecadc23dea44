"""Incremental builds equal a full build on EVERY derived table (issue 12, part 1).

A small synthetic world (posts, accounts, follows: bots, rings, narratives, viral
cascades) is cut into random batches by post; each batch is ingested through the real
ingest path as its own file, and a build runs after each. The tables written by every
stage of :data:`spreadtrace.pipeline.STAGES` must then equal, row for row (build_id
columns aside), those of one full build over the whole world.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spreadtrace.ingest.files import ingest_file
from spreadtrace.pipeline import STAGES
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.synth import generate
from tests.test_cascades_support import table_rows

# every table a stage writes, but the stages' bookkeeping (meta: the cascades' state)
DERIVED = sorted({t for s in STAGES for t in s.writes} - {"meta"})


@functools.cache
def _world(seed: int, root: str) -> Path:
    out = Path(root) / f"world-{seed}"
    generate(out, seed=seed, posts=1500)
    return out


def _posts(world: Path) -> pl.DataFrame:
    """The world's post lines as text (its deliberately malformed lines kept, lossily)."""
    return pl.read_csv(
        world / "posts.csv.gz",
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )


def _ingest_batches(store: Store, world: Path, cut: np.ndarray, tmp: Path, tag: str) -> list[str]:
    """Ingest accounts and follows, then the posts of batch 0, 1, ... (a build after each).

    Returns the modes of the builds."""
    ingest_file(store, world / "accounts.csv.gz", format="accounts")
    ingest_file(store, world / "follows.csv.gz", format="follows")
    posts = _posts(world)
    modes = []
    for b in range(int(cut.max()) + 1):
        part = tmp / f"{tag}-posts-{b}.csv"
        posts.filter(pl.Series(cut == b)).write_csv(part)
        ingest_file(store, part, format="posts")
        modes.append(run_build(store, publish=False).mode)
    return modes


@pytest.mark.slow
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.sampled_from([3, 11]), split=st.integers(0, 2**32 - 1), n=st.integers(2, 4))
def test_incremental_builds_equal_one_full_build_on_every_derived_table(
    tmp_path_factory, seed, split, n
):
    tmp = tmp_path_factory.mktemp("inc")
    world = _world(seed, str(tmp_path_factory.getbasetemp()))
    rows = _posts(world).height
    rng = np.random.default_rng(split)
    # batches of very different sizes: a big first load, then trickles (cron's shape)
    cut = np.minimum(rng.geometric(0.5, rows) - 1, n - 1)
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        modes = _ingest_batches(inc, world, cut, tmp, "inc")
        assert modes[0] == "full" and all(m == "incremental" for m in modes[1:])
        _ingest_batches(full, world, np.zeros(rows, dtype=np.int64), tmp, "full")
        run_build(full, full=True, publish=False)
        assert inc.con.execute("SELECT count(*) FROM posts").fetchone()[0] > 1000
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table

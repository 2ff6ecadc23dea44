"""``run_build``: every derived table from the stored posts, in one transaction.

Why one orchestrator: stages depend on each other (scores read cascades), and readers
must never see half a build. :func:`run_build` runs the stages in order, cascades ->
account scores (bots, coordination) -> narratives -> origin -> amplification, inside
ONE transaction, records a ``builds`` row with the parameters used (so every result
can be traced to its settings), and after the commit publishes a read-only snapshot
for the dashboard (:func:`spreadtrace.store.snapshot.publish`).

Cascades are incremental: only the cascades new posts touch are rebuilt. The build's
change set (:class:`spreadtrace.pipeline.changes.Changes`: the rebuilt cascades, the
posts and accounts ingested since the last build) is computed once after that stage
and handed to the later stages; the items stage's text items, the accounts stage and
the narratives stage (all but its grouping) follow it, the other stages still
recompute globally (and write only the rows that differ).

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     result = run_build(store)
>>> result.build_id, result.mode, result.posts
(1, 'full', 0)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from spreadtrace.errors import StorageError
from spreadtrace.pipeline import accounts as accounts_stage
from spreadtrace.pipeline import cascades as cascades_stage
from spreadtrace.pipeline import items as items_stage
from spreadtrace.pipeline import media as media_stage
from spreadtrace.pipeline import narratives as narratives_stage
from spreadtrace.pipeline.accounts import AccountParams
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.pipeline.changes import Changes
from spreadtrace.pipeline.media import MediaParams
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.progress import ProgressFn
from spreadtrace.store import Store
from spreadtrace.store import builds as builds_sql
from spreadtrace.store import narratives as narrative_sql

__all__ = ["BuildParams", "BuildResult", "bound_free_heap", "release_free_memory", "run_build"]


@dataclass(frozen=True)
class BuildParams:
    """All build options, one frozen dataclass per stage (defaults documented there).

    - cascades: :class:`spreadtrace.pipeline.cascades.CascadeParams`
    - accounts: :class:`spreadtrace.pipeline.accounts.AccountParams` (bots, coordination)
    - narratives: :class:`spreadtrace.pipeline.narratives.NarrativeParams` (narratives,
      origin, amplification)
    - media: :class:`spreadtrace.pipeline.media.MediaParams` (media groups, provenance)
    """

    cascades: CascadeParams = field(default_factory=CascadeParams)
    accounts: AccountParams = field(default_factory=AccountParams)
    narratives: NarrativeParams = field(default_factory=NarrativeParams)
    media: MediaParams = field(default_factory=MediaParams)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in self.__dataclass_fields__}

    def to_json(self) -> str:
        """The parameters as stored in ``builds.params``."""
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class BuildResult:
    """What a build did.

    ``mode`` is "full" or "incremental" (an incremental request becomes full when the
    stored cascades came from other parameters or follows changed), or "nothing-new"
    when no input changed since build ``build_id`` with the same parameters (nothing
    was rebuilt, no builds row added); ``posts`` is the
    number of stored posts; ``cascades_touched`` the cascades rebuilt; ``timings``
    seconds per stage; ``counts`` each stage's counts; ``touched`` the rebuilt cascade
    ids (None when full); ``snapshot`` the published snapshot, if any.
    """

    build_id: int
    mode: str
    posts: int
    cascades: int
    cascades_touched: int
    timings: dict[str, float]
    counts: dict[str, Mapping[str, float]]
    touched: list[str] | None = None
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (without the touched ids, which can be many)."""
        return {
            "build_id": self.build_id,
            "mode": self.mode,
            "posts": self.posts,
            "cascades": self.cascades,
            "cascades_touched": self.cascades_touched,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "counts": self.counts,
            "snapshot": self.snapshot,
        }


def _load_libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _load_libc()

# glibc's mallopt parameters (malloc.h) and the size from which an allocation gets
# its own mapping during a build
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
HEAP_MMAP_BYTES = 1 << 20


def bound_free_heap() -> None:
    """Serve glibc allocations of 1 MB and more from their own mappings, which go back
    to the system when freed, and trim the heap's top past 2 MB free.

    Why: glibc raises its mmap threshold (up to 32 MB) each time a mapped block is
    freed, so after the first big free the build's mid-size buffers (numpy arrays,
    DuckDB's and igraph's working memory) come from the heap, whose freed pages stay
    in the process: up to 1.1 GB of free heap at 5M posts, a floor under every later
    stage's peak (``malloc_trim`` at the stage ends returns only what is free then).
    Fixing the thresholds (mallopt) stops that growth. Process-wide and idempotent;
    a no-op without glibc.
    """
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(_M_MMAP_THRESHOLD, HEAP_MMAP_BYTES)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 2 * HEAP_MMAP_BYTES)


def release_free_memory() -> None:
    """Hand the memory freed by a stage back to the system (glibc heap, Arrow's pool).

    Why: each stage frees its frames and arrays when it returns, but glibc keeps freed
    heap pages (1 GB of them at the end of a 5M-post build) and Arrow's allocator keeps
    its own, so the process carried them into the next stage and the build's peak RSS
    rose stage by stage. ``malloc_trim`` is glibc's (a no-op elsewhere); it takes
    milliseconds.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    pa.default_memory_pool().release_unused()


def _publish_snapshot(store: Store) -> str | None:
    """Publish a snapshot for the dashboard when the snapshot module is installed."""
    if importlib.util.find_spec("spreadtrace.store.snapshot") is None:
        return None  # the dashboard's snapshot module is not part of this install
    from spreadtrace.store import snapshot

    path = snapshot.publish(store)
    return str(path) if path is not None else None


def _nothing_new(
    store: Store, last: tuple[int, int, int], publish: bool, seconds: float
) -> BuildResult:
    """The result of a build with nothing to do; publishes the snapshot a fault left out."""
    build_id, posts, n_cascades = last
    snapshot = None
    if publish and store.path != ":memory:":
        if importlib.util.find_spec("spreadtrace.store.snapshot") is not None:
            from spreadtrace.store import snapshot as snap

            if snap.latest_build_id(store.path) != build_id:
                snapshot = _publish_snapshot(store)
            else:
                snapshot = str(snap.latest(store.path))
    return BuildResult(
        build_id=build_id,
        mode="nothing-new",
        posts=posts,
        cascades=n_cascades,
        cascades_touched=0,
        timings={"check": seconds},
        counts={},
        touched=[],
        snapshot=snapshot,
    )


def run_build(
    store: Store,
    *,
    full: bool = False,
    params: BuildParams | None = None,
    progress: ProgressFn | None = None,
    publish: bool = True,
) -> BuildResult:
    """Build (or update) every derived table in one transaction; return a summary.

    ``full`` recomputes every cascade (the result equals the incremental path's);
    ``publish`` False skips the dashboard snapshot (benchmarks, tests). Without
    ``full``, a build whose inputs and parameters are those of the last finished build
    returns at once (mode "nothing-new"), whatever the store size.
    """
    params = params or BuildParams()
    bound_free_heap()
    if not full:
        t0 = time.perf_counter()
        last = builds_sql.unchanged_since(store.con, params.to_json())
        if last is not None:
            return _nothing_new(store, last, publish, time.perf_counter() - t0)
    timings: dict[str, float] = {}
    counts: dict[str, Mapping[str, float]] = {}
    # DuckDB's default limit is lowered to the build's share for the stages (and
    # restored for the reports after): the build's peak must not follow the store's size
    try:
        with store.build_memory(), store.transaction() as con:
            staged = _stages(store, con, full, params, progress, timings, counts)
            t0 = time.perf_counter()
    except Exception as exc:
        if not store.out_of_build_memory(exc):
            raise
        # what DuckDB cannot spill outgrew the build's share on this store: the build
        # rolled back; it runs again at the job's limit, and says so in its counts
        release_free_memory()
        timings, counts = {}, {"memory": {"retried_at_job_limit": 1}}
        with store.transaction() as con:
            staged = _stages(store, con, full, params, progress, timings, counts)
            t0 = time.perf_counter()
    build_id, mode, posts, n_cascades, touched = staged
    n_touched = n_cascades if touched is None else len(touched)
    # the commit writes the build's rows to the WAL, and checkpoints it past DuckDB's
    # threshold: a cost of its own beside the stages', timed apart
    timings["commit"] = time.perf_counter() - t0
    snapshot = None
    if publish:
        t0 = time.perf_counter()
        try:
            snapshot = _publish_snapshot(store)
        except StorageError as exc:
            raise type(exc)(
                f"build {build_id} committed, but the dashboard still shows the previous "
                f"build: {exc}; the next build or run publishes it"
            ) from exc
        timings["snapshot"] = time.perf_counter() - t0
    return BuildResult(
        build_id=build_id,
        mode=mode,
        posts=int(posts),
        cascades=int(n_cascades),
        cascades_touched=int(n_touched),
        timings=timings,
        counts=counts,
        touched=touched,
        snapshot=snapshot,
    )


def _stages(
    store: Store,
    con: Any,
    full: bool,
    params: BuildParams,
    progress: ProgressFn | None,
    timings: dict[str, float],
    counts: dict[str, Mapping[str, float]],
) -> tuple[int, str, int, int, list[str] | None]:
    """Run every stage inside the caller's transaction, filling ``timings`` and
    ``counts``; return (build_id, mode, posts, cascades, touched cascades or None)."""
    build_id = builds_sql.start_build(con, "full" if full else "incremental", params.to_json())
    builds_sql.record_inputs(con, build_id, builds_sql.inputs_fingerprint(con))

    t0 = time.perf_counter()
    casc = cascades_stage.run(store, build_id, params.cascades, full=full, progress=progress)
    timings["cascades"] = time.perf_counter() - t0
    release_free_memory()
    counts["cascades"] = casc.counts
    touched = casc.touched  # None: full; later stages recompute what they need
    changes = Changes.since_last_build(store, touched=touched, full=full or casc.full)
    counts["changes"] = changes.to_dict()

    t0 = time.perf_counter()
    counts["media"] = media_stage.run(store, build_id, params.media, progress=progress)
    timings["media"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    counts["items"] = items_stage.run(
        store, build_id, params.narratives, changes=changes, progress=progress
    )
    timings["items"] = time.perf_counter() - t0
    release_free_memory()

    # the flagged accounts before the accounts stage rewrites them: the narratives
    # stage recomputes the cascades of accounts whose flags change
    flags_before = None if changes.full else narrative_sql.account_flags(con)
    t0 = time.perf_counter()
    counts["accounts"] = accounts_stage.run(
        store, build_id, params.accounts, changes=changes, progress=progress
    )
    timings["accounts"] = time.perf_counter() - t0
    release_free_memory()

    t0 = time.perf_counter()  # media's shares from the accounts' flags
    media_stage.finish(store)
    timings["finish"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    counts["narratives"] = narratives_stage.run(
        store,
        build_id,
        params.narratives,
        touched=touched,
        flags_before=flags_before,
        progress=progress,
    )
    timings["narratives"] = time.perf_counter() - t0
    release_free_memory()

    # the items' shares from the accounts' flags, after the narratives stage: the
    # items this build changed take its build id, and that stage recomputes the
    # origins of those it wrote (posts or counts), which no share moves
    t0 = time.perf_counter()
    items_stage.finish(store, build_id, flags_before)
    timings["finish"] += time.perf_counter() - t0

    mode = "full" if casc.full else "incremental"
    posts, n_cascades = builds_sql.finish_build(
        con,
        build_id,
        cascades_touched=None if touched is None else len(touched),
        mode=mode,
    )
    return build_id, mode, int(posts), int(n_cascades), touched

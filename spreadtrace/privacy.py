"""Erasure (``spreadtrace forget``): an account's data out of every table, report and view.

Why one orchestrator: a data-protection request is honoured only when nothing is
left anywhere. :func:`forget` runs, under the store's job lock:

1. :func:`spreadtrace.store.erasure.erase_accounts`: the account's posts, profile
   snapshots, follows and rejected lines go, and its traces in other rows are
   rewritten (one transaction);
2. a full build: every derived table (cascades, scores, narratives, coordination)
   is recomputed from what is left, so the other accounts' results equal those of a
   store that never had the account;
3. the store file is compacted (deleted rows leave DuckDB's file only then);
4. a new dashboard snapshot (with its read model) is published and every older
   snapshot is deleted; with ``reports``, fresh reports are written and every older
   report run in that folder is deleted.

The erasure is recorded in ``erasures`` (counts only, never the ids) by step 1 and
marked complete after step 4; a job that finds an incomplete one (the process was
killed) finishes it first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spreadtrace.errors import InputError
from spreadtrace.store import Store
from spreadtrace.store.erasure import (
    ErasureCounts,
    complete_erasure,
    erase_accounts,
    pending_erasures,
)

__all__ = ["ForgetResult", "forget", "finish_erasures"]


@dataclass
class ForgetResult:
    """What one :func:`forget` did (counts only)."""

    erasure_id: int
    counts: ErasureCounts
    build_id: int
    snapshot: str | None = None
    report_dir: str | None = None
    removed: dict[str, int] = field(default_factory=dict)  # old snapshots / report runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            **self.counts.to_dict(),
            "build_id": self.build_id,
            "snapshot": self.snapshot,
            "report_dir": self.report_dir,
            "removed": self.removed,
        }


def forget(
    db: str | os.PathLike[str],
    account_ids: list[str],
    *,
    reports: str | os.PathLike[str] | None = None,
    pseudonymize: str | None = None,
    wait: float = 0.0,
    token: Callable[[str], str] | None = None,
) -> ForgetResult:
    """Erase ``account_ids`` from the store at ``db`` and everything derived from it.

    Killed at any point, the store is consistent: the erasure itself is one
    transaction, and an erasure whose rebuild, compaction or republication did not
    finish is finished by the next ``forget`` or ``run`` (:func:`finish_erasures`).
    """
    from spreadtrace.reports import write_reports

    ids = sorted({a.strip() for a in account_ids if a and a.strip()})
    if not ids:
        raise InputError("give at least one account id to forget")
    with Store.open(db, create=False, wait=wait) as store:
        erasure_id, counts = erase_accounts(store, ids, token=token)
        _pause_hook("forget")
        build_id, path, removed = finish_erasures(store)
        result = ForgetResult(erasure_id, counts, build_id)
        result.snapshot = str(path) if path is not None else None
        result.removed["snapshots"] = removed
        if reports is not None:
            # older runs still hold the account: only this one stays
            r = write_reports(store, reports, pseudonymize=pseudonymize, keep=1)
            result.report_dir = str(r.run_dir)
            result.removed["report_runs"] = r.removed_runs
    return result


def finish_erasures(store: Store) -> tuple[int, Path | None, int]:
    """Rebuild in full, compact the file, republish the snapshot and delete the older
    ones, then mark every pending erasure done; return (build id, snapshot, number of
    snapshots deleted). Idempotent: a crash in between is finished by the next call.
    """
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import snapshot

    pending = pending_erasures(store)
    built = run_build(store, full=True, publish=False)
    store.compact()
    stats = snapshot.PublishStats()
    # Older versions still hold the account: removed even while a reader is on them.
    path = snapshot.publish(store, keep=1, force_prune=True, stats=stats)
    removed = stats.removed + _remove_other_snapshots(store.path, path)
    if pending:
        complete_erasure(store, pending, built.build_id)
    return built.build_id, path, removed


def _pause_hook(step: str) -> None:
    """Crash-test hook (as in :mod:`spreadtrace.jobs`): log and sleep at ``step``."""
    if os.environ.get("SPREADTRACE_TEST_PAUSE_AT") != step:
        return
    import logging
    import time

    logging.getLogger("spreadtrace.jobs").warning("pause at %s (test hook)", step)
    time.sleep(float(os.environ.get("SPREADTRACE_TEST_PAUSE_SECONDS", "60")))


def _remove_other_snapshots(db: str, keep: Path | None) -> int:
    from spreadtrace.store.snapshot import remove_other_versions

    return remove_other_versions(db, keep)

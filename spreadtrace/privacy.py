"""Erasure (``spreadtrace forget``): an account's data out of every table, report and view.

Why one orchestrator: a data-protection request is honoured only when nothing is
left anywhere. :func:`forget` runs, under the store's job lock:

1. :func:`spreadtrace.store.erasure.erase_accounts`: the account's posts, profile
   snapshots, follows and rejected lines go, and its traces in other rows are
   rewritten (one transaction);
2. a full build: every derived table (cascades, scores, narratives, coordination)
   is recomputed from what is left, so the other accounts' results equal those of a
   store that never had the account;
3. the erasure is recorded in ``erasures`` (counts only, never the ids);
4. the store file is compacted (deleted rows leave DuckDB's file only then);
5. a new dashboard snapshot (with its read model) is published and every older
   snapshot is deleted; with ``reports``, fresh reports are written and every older
   report run in that folder is deleted.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spreadtrace.errors import InputError
from spreadtrace.store import Store
from spreadtrace.store.erasure import ErasureCounts, erase_accounts, record_erasure

__all__ = ["ForgetResult", "forget"]

_RUN_DIR = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


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
    """Erase ``account_ids`` from the store at ``db`` and everything derived from it."""
    from spreadtrace.build import run_build
    from spreadtrace.reports import write_reports
    from spreadtrace.store import snapshot

    ids = sorted({a.strip() for a in account_ids if a and a.strip()})
    if not ids:
        raise InputError("give at least one account id to forget")
    with Store.open(db, create=False, wait=wait) as store:
        counts = erase_accounts(store, ids, token=token)
        built = run_build(store, full=True, publish=False)
        erasure_id = record_erasure(store, counts, built.build_id)
        store.compact()
        result = ForgetResult(erasure_id, counts, built.build_id)
        path = snapshot.publish(store, keep=1)  # older snapshots still hold the account
        result.snapshot = str(path) if path is not None else None
        result.removed["snapshots"] = _remove_other_snapshots(store.path, path)
        if reports is not None:
            r = write_reports(store, reports, pseudonymize=pseudonymize)
            result.report_dir = str(r.run_dir)
            result.removed["report_runs"] = _remove_other_runs(Path(reports), r.run_dir)
    return result


def _remove_other_snapshots(db: str, keep: Path | None) -> int:
    from spreadtrace.store.snapshot import snapshot_dir

    folder = snapshot_dir(db)
    if keep is None or not folder.is_dir():
        return 0
    removed = 0
    for p in folder.iterdir():
        if p.suffix == ".duckdb" and p.name != keep.name:
            p.unlink(missing_ok=True)
            removed += 1
    return removed


def _remove_other_runs(out: Path, keep: Path) -> int:
    removed = 0
    for p in out.iterdir():
        if p.is_dir() and _RUN_DIR.match(p.name) and p.name != keep.name:
            shutil.rmtree(p)
            removed += 1
    return removed

"""Changes sets of the reports (issue 12): a full set plus the changes sets after it
equal the full set written at the end.

A synthetic world is cut into random batches by post, each ingested through the real
ingest path and built incrementally, as cron does; after each build a changes set is
written. Applying them in order to the first full set (upsert by key, drop what is
removed) must give, row for row, the full set written after the last build: a changed
row the changes sets miss, or a removed one they do not name, fails it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spreadtrace.pipeline.build import run_build
from spreadtrace.reports import CHANGES_FILES, prune_runs, write_reports
from spreadtrace.store import Store
from spreadtrace.store.report_queries import REPORTS
from tests.synth_worlds import build_in_batches, synth_world, world_posts

BIG = {q.name: q.key for q in REPORTS if q.key}
SECRET = "changes-secret-of-the-desk"


def _world(seed: int, root: str) -> Path:
    return synth_world(seed, root, 900)


def _posts(world: Path) -> pl.DataFrame:
    return world_posts(world)


def _keyed(path: Path, key: str) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    keyed = {row[key]: row for row in rows}
    assert len(keyed) == len(rows), f"{path.name}: key {key} not unique"
    return keyed


def _apply(state: dict[str, dict[str, str]], path: Path, key: str) -> None:
    """Apply one changes file: upsert added and updated rows by key, drop removed keys."""
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            change = row.pop("change")
            if change == "removed":
                assert row[key] in state, f"{path}: removes {row[key]}, which is not there"
                del state[row[key]]
            else:
                assert change in ("added", "updated"), change
                assert (row[key] in state) == (change == "updated"), (path, change, row[key])
                state[row[key]] = row


def published_rows(reports: Path) -> tuple[dict[str, dict[str, dict[str, str]]], Path]:
    """The big files' rows as a reader of ``reports`` gets them: ``latest/`` (the newest
    full set) with every changes set based on it applied in order (each must follow
    the one before); and the newest set's folder (whose small files are current)."""
    latest = reports / "latest"
    base = json.loads((latest / "manifest.json").read_text())
    assert base["kind"] == "full"
    chain = []
    for folder in sorted(reports.iterdir(), key=lambda p: p.name.removesuffix(".changes")):
        if folder.name.endswith(".changes"):
            manifest = json.loads((folder / "manifest.json").read_text())
            if manifest["base"] == base["report"]:
                chain.append((folder, manifest))
    state = {name: _keyed(latest / f"{name}.csv", key) for name, key in BIG.items()}
    since, newest = base["report"], latest
    for folder, manifest in chain:
        assert manifest["since"]["report"] == since, "a changes set is missing"
        for name, key in BIG.items():
            _apply(state[name], folder / f"{name}.changes.csv", key)
        since, newest = folder.name, folder
    return state, newest


def same_published_reports(reports: Path, reference: Path) -> None:
    """What ``reports`` publishes (full set plus changes) equals the full set
    ``reference`` row for row; its small files byte for byte."""
    state, newest = published_rows(reports)
    for name, key in BIG.items():
        assert state[name] == _keyed(reference / f"{name}.csv", key), name
    for name in CHANGES_FILES:
        if not name.endswith(".changes.csv"):
            assert (newest / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("seed", "split", "pseudonymize"), [(3, 1, None), (11, 7, None), (5, 23, SECRET)]
)
def test_full_set_plus_changes_sets_equals_the_full_set_at_the_end(
    tmp_path_factory, seed, split, pseudonymize
):
    tmp = tmp_path_factory.mktemp("chg")
    world = _world(seed, str(tmp_path_factory.getbasetemp()))
    posts = _posts(world)
    rng = np.random.default_rng(split)
    n = 5
    # a big first load, then trickles of very different sizes (cron's shape)
    cut = np.minimum(rng.geometric(0.45, posts.height) - 1, n - 1)
    out = tmp / "reports"
    with Store.open(str(tmp / "store.duckdb")) as store:
        sets = []
        for b, result in enumerate(build_in_batches(store, world, cut, tmp, batches=n)):
            assert result.mode == ("full" if b == 0 else "incremental")
            r = write_reports(store, out, kind="changes", pseudonymize=pseudonymize)
            assert r.kind == ("full" if b == 0 else "changes"), r.reason
            sets.append(r)
        final = write_reports(store, tmp / "final", kind="full", pseudonymize=pseudonymize)
        # the log keeps inserted and deleted keys only (updates are found by build id),
        # so it grows with the keys that come and go, not with every rescored row
        logged = store.con.execute(
            "SELECT count(*) FILTER (existed AND present), count(*) FROM row_changes"
        ).fetchone()
        assert logged[0] == 0 and logged[1] > 0, logged
    base = sets[0].run_dir
    changed = 0
    for name, key in BIG.items():
        state = _keyed(base / f"{name}.csv", key)
        for r in sets[1:]:
            assert r.manifest["kind"] == "changes" and r.manifest["base"] == base.name
            assert not (r.run_dir / f"{name}.csv").exists()
            _apply(state, r.run_dir / f"{name}.changes.csv", key)
            changed += r.manifest["files"][f"{name}.changes.csv"]["rows"]
        assert state == _keyed(final.run_dir / f"{name}.csv", key), name
    assert changed > 0
    # the small files are whole in every set, and equal the final full set's
    for name in CHANGES_FILES:
        if not name.endswith(".changes.csv"):
            assert (sets[-1].run_dir / name).read_bytes() == (final.run_dir / name).read_bytes()
    # some rows really were removed or updated along the way (merged cascades, regrouped
    # narratives), or the test would not test the hard part
    kinds = {
        c
        for r in sets[1:]
        for f in r.manifest["files"].values()
        for c, k in (f.get("changes") or {}).items()
        if k
    }
    assert {"added", "updated"} <= kinds, kinds


def _tiny_world(store: Store, tmp: Path, batches: int) -> list:
    """A small world built in ``batches`` ingests, one build after each."""
    world = _world(3, str(tmp.parent))
    posts = _posts(world)
    cut = np.arange(posts.height) * batches // posts.height
    return list(build_in_batches(store, world, cut, tmp, follows=False, batches=batches))


def test_changes_set_names_manifest_and_latest_folders(tmp_path):
    out = tmp_path / "reports"
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        _tiny_world(store, tmp_path, 1)
        full = write_reports(store, out, kind="auto")
        assert full.kind == "full" and "no earlier" in full.reason
        part = tmp_path / "more.csv"
        _posts(_world(3, str(tmp_path.parent))).head(0).write_csv(part)
        run_build(store, publish=False, full=False)
        changes = write_reports(store, out, kind="auto")
    assert changes.kind == "changes"
    assert changes.run_dir.name.endswith(".changes")
    m = changes.manifest
    assert m["kind"] == "changes" and m["base"] == full.run_dir.name
    assert m["since"]["report"] == full.run_dir.name
    assert m["builds"]["after"] == full.manifest["watermarks"]["build_id"]
    assert sorted(p.name for p in changes.run_dir.iterdir()) == sorted(
        [*CHANGES_FILES, "manifest.json"]
    )
    with open(changes.run_dir / "cascades.changes.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh))[:2] == ["change", "cascade_id"]
    # latest/ stays the full set; latest-changes/ is the newest changes set
    assert json.loads((out / "latest" / "manifest.json").read_text())["kind"] == "full"
    latest_changes = json.loads((out / "latest-changes" / "manifest.json").read_text())
    assert latest_changes["report"] == changes.run_dir.name


def test_auto_writes_a_full_set_when_the_window_passed_or_the_keying_changed(tmp_path):
    out = tmp_path / "reports"
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        _tiny_world(store, tmp_path, 1)
        write_reports(store, out, kind="auto")
        assert write_reports(store, out, kind="auto", full_every=3600).kind == "changes"
        late = write_reports(store, out, kind="auto", full_every=0.0)
        assert late.kind == "full" and "older than" in late.reason
        keyed = write_reports(store, out, kind="auto", pseudonymize=SECRET)
        assert keyed.kind == "full" and "keying" in keyed.reason
        assert write_reports(store, out, kind="changes", pseudonymize=SECRET).kind == "changes"
        # a full build since the last set: its changes are every row, so a full set
        run_build(store, publish=False, full=True)
        after = write_reports(store, out, kind="changes", pseudonymize=SECRET)
        assert after.kind == "full" and "full build" in after.reason
        # a new full set retires latest-changes/ (it was of the older base)
        assert not (out / "latest-changes").exists()


def test_keep_runs_never_deletes_the_base_of_a_kept_changes_set(tmp_path):
    out = tmp_path / "reports"
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        _tiny_world(store, tmp_path, 1)
        base = write_reports(store, out, kind="auto")
        kept = [write_reports(store, out, kind="auto", keep=2) for _ in range(3)]
    assert all(r.kind == "changes" for r in kept)
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    # the newest two sets, and the full set they are based on
    assert names == sorted([base.run_dir.name, kept[1].run_dir.name, kept[2].run_dir.name,
                            "latest", "latest-changes"])  # fmt: skip
    # once no kept changes set needs it, the base goes like any other
    prune_runs(out, 1, kept[2].run_dir)
    assert base.run_dir.exists()
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        newer = write_reports(store, out, kind="full", keep=1)
    assert not base.run_dir.exists() and newer.run_dir.exists()


def test_a_full_set_left_unpublished_by_a_kill_is_not_a_base(tmp_path, monkeypatch):
    """Killed between renaming a full set into place and publishing latest/: the next
    set is full again, so a changes set is always of the full set in latest/."""
    from spreadtrace import reports

    out = tmp_path / "reports"
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        _tiny_world(store, tmp_path, 1)
        write_reports(store, out, kind="auto")

        def killed(*args, **kwargs):
            raise KeyboardInterrupt  # stands for the SIGKILL

        with monkeypatch.context() as m:
            m.setattr(reports, "_publish_latest", killed)
            with pytest.raises(KeyboardInterrupt):
                write_reports(store, out, kind="full")
        after = write_reports(store, out, kind="auto")
    assert after.kind == "full" and "does not hold" in after.reason
    latest = json.loads((out / "latest" / "manifest.json").read_text())
    assert latest["report"] == after.run_dir.name


def test_the_change_log_is_pruned_to_what_the_folder_can_need(tmp_path):
    """``prune_change_log`` drops the logged keys of the builds up to the full set in
    ``latest/``: the folder's changes sets stay exact, the log stops growing at each
    new full set, and a folder whose newest set is older gets a full set, not a
    changes set with removed rows missing."""
    from spreadtrace.reports import prune_change_log

    world = _world(3, str(tmp_path))
    posts = _posts(world)
    cut = np.minimum(np.random.default_rng(7).geometric(0.45, posts.height) - 1, 5)
    out, other = tmp_path / "reports", tmp_path / "other"
    logged = []
    with Store.open(str(tmp_path / "s.duckdb")) as store:
        for b, result in enumerate(build_in_batches(store, world, cut, tmp_path, batches=6)):
            kind = "full" if b in (0, 3) else "changes"
            r = write_reports(store, out, kind=kind)
            assert r.kind == kind, r.reason
            if b == 0:
                assert write_reports(store, other, kind="full").kind == "full"
            dropped = prune_change_log(store, out)
            n, oldest = store.con.execute(
                "SELECT count(*), min(build_id) FROM row_changes"
            ).fetchone()
            logged.append((result.build_id, dropped, n))
            base = json.loads((out / "latest" / "manifest.json").read_text())
            # nothing left that no changes set of this folder can read
            assert oldest is None or oldest > base["watermarks"]["build_id"]
        # builds 2 and 3 logged keys, kept until the full set after build 4 spent them
        # (with build 4's own)
        assert logged[2][2] > 0 and logged[2][1] == 0
        assert logged[3][1] > logged[2][2] and logged[3][2] == 0
        assert logged[5][2] > 0
        # the other folder's newest set is of build 1: its changes would need the
        # pruned rows, so it gets a full set
        late = write_reports(store, other, kind="changes")
        assert late.kind == "full" and "log of removed rows" in late.reason
        final = write_reports(store, tmp_path / "final", kind="full")
    same_published_reports(out, final.run_dir)
    same_published_reports(other, final.run_dir)

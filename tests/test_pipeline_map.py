"""The build's stage map (spreadtrace.pipeline.STAGES) against the schema and the build."""

from __future__ import annotations

import importlib

from spreadtrace.pipeline import STAGES
from spreadtrace.store import Store

# Tables the build itself writes, not a stage (one row per build).
BUILD_ONLY = {"builds"}


def _tables() -> set[str]:
    with Store.open(":memory:") as store:
        rows = store.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    return {r[0] for r in rows}


def test_every_table_the_map_names_exists_in_the_schema():
    tables = _tables()
    named = {t for s in STAGES for t in (*s.reads, *s.writes)}
    assert named - tables == set()


def test_every_stage_is_a_pipeline_module_with_a_run():
    names = [s.name for s in STAGES]
    assert len(set(names)) == len(names)
    for s in STAGES:
        assert callable(importlib.import_module(f"spreadtrace.pipeline.{s.name}").run)


def test_every_derived_table_has_one_writer_and_later_stages_read_earlier_writes():
    # A table written by two stages would have two definitions; a stage reading a
    # derived table must run after the stage that writes it (or write it itself).
    writer: dict[str, str] = {}
    for s in STAGES:
        for t in s.writes:
            # meta: key-value table, each stage owns its keys; row_changes: a log each
            # stage appends its own tables' deleted and inserted keys to
            if t in ("meta", "row_changes"):
                continue
            assert t not in writer, f"{t} written by {writer.get(t)} and {s.name}"
            writer[t] = s.name
    order = {s.name: i for i, s in enumerate(STAGES)}
    late = {
        (s.name, t)
        for s in STAGES
        for t in s.reads
        if t in writer and order[writer[t]] > order[s.name]
    }
    # media and items read account scores and clusters in their finish steps, after
    # accounts ran
    assert late == {
        (stage, t)
        for stage in ("media", "items")
        for t in ("account_scores", "coordination_clusters")
    }


def test_the_map_covers_every_derived_table():
    derived = {t for s in STAGES for t in s.writes} | BUILD_ONLY
    inputs = {
        "posts",
        "accounts",
        "account_snapshots",
        "follows",
        "media",
        "rejects",
        "community_notes",
        "community_note_status",
    }
    bookkeeping = {"ingest_runs", "jobs", "meta", "erasures"}
    assert _tables() - derived - inputs - bookkeeping == set()

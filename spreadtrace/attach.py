"""``attach``: load another engine's derived tables into a store, as one build.

Why: a team that builds on Spark still reads results with ``report``, ``export-graph``
and ``serve``, which read the store. :func:`attach_output` replaces the store's rows of
every table the engine wrote (``spreadtrace.store.parquet.load_derived``), runs the
stages the engine did not produce whole on DuckDB, from the attached tables, in the
same transaction (the Spark engine writes every derived table, so none; an older
output without narrative_origin_items, whose narratives also lack the correction
columns, gets the whole narratives stage, and older still media, items, accounts),
adopts the engine's
accounts state (so the next build continues from it incrementally), records one
``builds`` row (mode ``attach``, with the engine's manifest) and publishes the
dashboard snapshot, as :func:`spreadtrace.pipeline.build.run_build` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from spreadtrace.pipeline import accounts as accounts_stage
from spreadtrace.pipeline import items as items_stage
from spreadtrace.pipeline import media as media_stage
from spreadtrace.pipeline import narratives as narratives_stage
from spreadtrace.pipeline.build import BuildParams, _publish_snapshot
from spreadtrace.progress import ProgressFn
from spreadtrace.store import Store
from spreadtrace.store import builds as builds_sql
from spreadtrace.store import parquet as parquet_sql
from spreadtrace.store import text_state as text_sql

__all__ = ["AttachResult", "attach_output"]


@dataclass(frozen=True)
class AttachResult:
    """The build the attach recorded: rows loaded per table, stages run here, timings."""

    build_id: int
    rows: dict[str, int]
    engine_tables: list[str]
    duckdb_stages: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None


def attach_output(
    store: Store,
    in_dir: str | Path,
    *,
    params: BuildParams | None = None,
    progress: ProgressFn | None = None,
    publish: bool = True,
) -> AttachResult:
    """Load ``in_dir`` (a ``spark build`` output of this store's export) as one build.

    ``params`` are the DuckDB stages' parameters (media, items, accounts, narratives),
    run for the derived tables the engine did not write.
    """
    params = params or BuildParams()
    timings: dict[str, float] = {}
    with store.transaction() as con:
        build_id = builds_sql.next_build_id(con)  # load_derived inserts its row
        engine = set(parquet_sql.read_manifest(con, in_dir)["tables"])
        media_here = not set(parquet_sql.MEDIA_TABLES) <= engine
        items_here = not set(parquet_sql.ITEM_TABLES) <= engine
        accounts_here = not set(parquet_sql.ACCOUNT_TABLES) <= engine
        stages = (["media"] if media_here else []) + (["items"] if items_here else [])
        # the narratives stage is skipped only when the engine wrote all of its tables
        narratives_here = not set(parquet_sql.NARRATIVE_TABLES) <= engine
        stages += (["accounts"] if accounts_here else []) + (
            ["narratives"] if narratives_here else []
        )
        t0 = time.perf_counter()
        skip = {"cascades"} | (set() if media_here else {"media"})
        skip |= set() if accounts_here else {"accounts"}
        skip |= set() if narratives_here else {"narratives"}
        own = {k: v for k, v in params.to_dict().items() if k not in skip}
        loaded = parquet_sql.load_derived(con, in_dir, build_id, own)
        timings["load"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if media_here:  # an older engine output without the media tables
            media_stage.run(store, build_id, params.media, progress=progress)
        if items_here:
            items_stage.run(store, build_id, params.narratives, progress=progress)
        else:  # the stored text state does not describe the attached items
            text_sql.invalidate(con)
        if accounts_here:
            accounts_stage.run(store, build_id, params.accounts, touched=None, progress=progress)
        else:  # the engine's state tables, made with the engine's parameters
            engine_params = loaded.manifest["params"].get("accounts")
            accounts_stage.adopt(
                store,
                accounts_stage.params_from_dict(engine_params)
                if engine_params
                else params.accounts,
            )
        media_stage.finish(store)
        if narratives_here:
            narratives_stage.run(
                store, build_id, params.narratives, touched=None, progress=progress
            )
        items_stage.finish(store, build_id)  # after the narratives, as a build does
        timings["duckdb_stages"] = time.perf_counter() - t0

        builds_sql.finish_build(con, build_id)
    snapshot = _publish_snapshot(store) if publish else None
    return AttachResult(
        build_id=build_id,
        rows=loaded.rows,
        engine_tables=list(loaded.manifest["tables"]),
        duckdb_stages=stages,
        timings=timings,
        snapshot=snapshot,
    )

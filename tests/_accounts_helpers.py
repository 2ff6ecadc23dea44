"""Hand-made posts for the bots and coordination tests: insert rows straight into a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from spreadtrace.store import Store
from spreadtrace.store import items as items_sql

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def insert_posts(store: Store, rows: list[tuple]) -> None:
    """rows: (post_id, account_id, seconds after T0, parent_id, kind[, urls])."""
    frame = pl.DataFrame(
        {
            "post_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "created_at": [T0 + timedelta(seconds=r[2]) for r in rows],
            "parent_id": [r[3] for r in rows],
            "kind": [r[4] for r in rows],
            "urls": [list(r[5]) if len(r) > 5 and r[5] else None for r in rows],
        },
        schema_overrides={"urls": pl.List(pl.String), "parent_id": pl.String},
    )
    store.con.register("_test_posts", frame.to_arrow())
    store.con.execute(
        """
        INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, root_id, urls,
                           ingest_run_id)
        SELECT post_id, account_id, created_at, parent_id, kind, parent_id, urls, 1
        FROM _test_posts
        """
    )
    store.con.unregister("_test_posts")
    items_sql.write_items(store.con, 0)  # the build's items stage: URL and hashtag items


# -- synthetic worlds for the acceptance tests --------------------------------------------

SYNTH_SEEDS = (101, 202, 303)  # not the bundled sample's seed (0)
_WORLDS: dict[tuple[int, int], dict] = {}


def synth_world(seed: int, posts: int, root, human_groups: int = 0) -> dict:
    """Generate, ingest and run the accounts stage on one world; cached per session.

    The cascades and items stages run first, as in a build: coordination co-shares the
    items stage's URL and media items (without them only reposts would count).

    Returns {"scores", "clusters", "pairs" (polars frames from the store), "truth"
    (truth/accounts.csv), "counts" (the stage's counts)}.
    """
    key = (seed, posts, human_groups)
    if key in _WORLDS:
        return _WORLDS[key]
    from spreadtrace.ingest import ingest_file
    from spreadtrace.pipeline import cascades as cascades_stage
    from spreadtrace.pipeline import items as items_stage
    from spreadtrace.pipeline.accounts import AccountParams, run
    from spreadtrace.synth import SynthParams, generate

    out = root / f"world-{seed}-{posts}-{human_groups}"
    params = SynthParams.for_posts(posts, seed=seed, human_groups=human_groups)
    generate(out, seed=seed, posts=posts, params=params)
    with Store.open(out / "store.duckdb") as store:
        for name in ("accounts.csv.gz", "posts.csv.gz"):
            ingest_file(store, out / name)
        with store.transaction():
            cascades_stage.run(store, 1, full=True)
            items_stage.run(store, 1)
            counts = run(store, 1, AccountParams())
        store.con.complete()
        frames = {
            name: store.con.sql(f"SELECT * FROM {table}").pl()
            for name, table in (
                ("scores", "account_scores"),
                ("clusters", "coordination_clusters"),
                ("pairs", "coordination_pairs"),
            )
        }
    truth = pl.read_csv(
        out / "truth" / "accounts.csv",
        schema_overrides={"account_id": pl.String, "coordination_group": pl.String},
    )
    _WORLDS[key] = {**frames, "truth": truth, "counts": counts, "params": params}
    return _WORLDS[key]

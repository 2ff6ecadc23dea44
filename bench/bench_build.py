"""Benchmark the cascades build against the obvious networkx baseline.

Run: ``flock /work/notes/bench.lock .venv/bin/python -m bench build [--posts=5000000]
[--baseline-posts=30000] [--seed=7] [--dir=PATH] [--repeat=3] [--big=auto|0|N]
[--no-end-to-end]``

1. A synthetic world of ``--posts`` posts (``spreadtrace.synth.generate``: heavy-tailed
   cascade sizes with viral events; at 5M posts, seed 7, its largest cascades hold
   ~10^5 posts), ingested into a store; both cached under ``--dir`` (default
   ``bench/out/build-world-5m``). Only when the generated largest cascade is below
   100,000 posts (``--big=auto``) is one flattened cascade planted on top as a fallback
   (see :func:`_plant_big_cascade`), and the bench says so. Posts and follows are loaded
   with DuckDB's CSV reader, not timed (see :func:`_load_world`).
2. The cascades stage (``spreadtrace.pipeline.cascades.run``, full, time-inferred
   parents on) runs in a fresh child process per repeat, inside a transaction that is
   rolled back after the rows are written, so every run sees the same input. Printed:
   median wall time, posts/s, the child's peak RSS, seconds per step, largest cascades.
3. The whole ``spreadtrace build`` (``run_build(full=True)``: every stage and the
   snapshot) once, on a copy of the store, with the seconds per stage.
4. Incremental: 1% new reposts of random stored posts on a committed build; the
   incremental stage's time (rolled back, so it repeats).
5. Speed-up over the obvious baseline (one ``networkx.DiGraph`` per cascade, depth and
   breadth from BFS, ``nx.average_shortest_path_length`` for structural virality),
   see :func:`_stratified_baseline`: its cost per cascade measured on a uniformly
   random sample of cascades of each size class, extrapolated to the whole store and
   compared with the measured full stage. Also the raw subsample rows (the baseline and
   the stage on ~``--baseline-posts`` posts of random cascades, and of the largest
   cascades of at most 1,500 posts).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEED = 7


def _arg(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _load_world(store, world: Path) -> None:
    """Load the world's posts and follows with DuckDB's CSV reader.

    The build is what is measured here (ingest has its own benchmark, and takes far
    longer on this shared machine): malformed lines, duplicate post ids and
    self-parents are dropped as ingest would reject or merge them.
    """
    store.con.execute(
        """
        INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, root_id, text,
                           urls, hashtags, lang, platform, ingest_run_id)
        SELECT DISTINCT ON (post_id) post_id, account_id, TRY_CAST(created_at AS TIMESTAMPTZ),
               NULLIF(parent_id, ''), kind, NULLIF(root_id, ''), text,
               string_split(NULLIF(urls, ''), ' '), string_split(NULLIF(hashtags, ''), ' '),
               lang, platform, 0
        FROM read_csv(?, all_varchar = true, ignore_errors = true, header = true)
        WHERE post_id IS NOT NULL AND account_id IS NOT NULL AND kind IS NOT NULL
          AND TRY_CAST(created_at AS TIMESTAMPTZ) IS NOT NULL
          AND (parent_id IS NULL OR parent_id <> post_id)
        """,
        [str(world / "posts.csv.gz")],
    )
    store.con.execute(
        """
        INSERT INTO follows (follower_id, followee_id, ingest_run_id)
        SELECT DISTINCT follower_id, followee_id, 0
        FROM read_csv(?, all_varchar = true, header = true)
        """,
        [str(world / "follows.csv.gz")],
    )
    # one ingest run (id 0) for the load, as a real ingest records: incremental stages
    # tell new posts by their run, and a store without runs looks all new to them
    store.con.execute(
        """
        INSERT INTO ingest_runs (ingest_run_id, path, content_hash, format, rows_read,
                                 rows_inserted, rows_duplicate, rows_rejected, started_at,
                                 finished_at)
        SELECT 0, ?, '', 'posts', count(*), count(*), 0, 0, now(), now() FROM posts
        """,
        [str(world / "posts.csv.gz")],
    )


def _plant_big_cascade(store, size: int, seed: int) -> None:
    """Add one flattened (Twitter-style) cascade of ``size`` posts by existing accounts.

    The generator's cascades stay subcritical (its largest at 5M posts is ~2,000), so
    the heavy tail the issue asks for (largest >= 100,000) is planted: an original and
    ``size - 1`` reposts two seconds apart, all pointing at the original, by accounts
    drawn from the world's (so their follows feed the time-inferred reconstruction,
    the join that must not blow up on a 10^5-node cascade).
    """
    store.con.execute(
        """
        INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, platform, ingest_run_id)
        WITH acc AS (
            SELECT account_id, row_number() OVER (ORDER BY hash(account_id)) - 1 AS k
            FROM (SELECT DISTINCT account_id FROM posts)
        ),
        g AS (SELECT range AS i FROM range($size))
        SELECT 'big-' || i, a.account_id,
               TIMESTAMPTZ '2024-03-05 00:00:00+00' + to_seconds(i * 2),
               CASE WHEN i = 0 THEN NULL ELSE 'big-0' END,
               CASE WHEN i = 0 THEN 'original' ELSE 'repost' END, 'twitter', 0
        FROM g JOIN acc a ON a.k = hash(i, $seed) % (SELECT count(*) FROM acc)
        """,
        {"size": size, "seed": seed},
    )


def _world_store(posts: int, seed: int, root: Path, big: int) -> tuple[Path, Path]:
    """(world dir, store path) for ``posts`` synthetic posts, generated and ingested once."""
    from spreadtrace.store import Store
    from spreadtrace.synth import generate

    world = root / f"world-{posts}-{seed}"
    db = root / f"store-{posts}-{seed}-big{big}.duckdb"
    if db.exists():
        return world, db
    if not (world / "posts.csv.gz").exists():
        t = time.perf_counter()
        generate(world, seed=seed, posts=posts)
        print(f"generated {posts:,} posts in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    tmp = db.with_suffix(".tmp")
    with Store.open(tmp) as store:
        _load_world(store, world)
        if big:
            _plant_big_cascade(store, big, seed)
        store.checkpoint()
    tmp.rename(db)
    print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    return world, db


def _child(db: str) -> None:
    """One timed cascades stage on ``db`` (rolled back); prints JSON on stdout."""
    from spreadtrace.pipeline import cascades
    from spreadtrace.store import Store

    with Store.open(db) as store:
        t = time.perf_counter()
        cpu = time.process_time()
        store.con.execute("BEGIN TRANSACTION")
        try:
            run = cascades.run(store, 0, full=True)
            seconds = time.perf_counter() - t
            cpu = time.process_time() - cpu
            top = store.con.execute(
                "SELECT size FROM cascades ORDER BY size DESC LIMIT 8"
            ).fetchall()
        finally:
            store.con.execute("ROLLBACK")
    counts = {**run.counts, "largest": [r[0] for r in top]}
    timings = {k: round(v, 2) for k, v in run.timings.items()}
    print(json.dumps({"seconds": seconds, "cpu": cpu, "counts": counts, "timings": timings}))


def _child_incremental(db: str, new: int) -> None:
    """Add ``new`` reposts of random stored posts, time the incremental stage (rolled back).

    Needs a committed build in ``db`` (see :func:`_commit_build`).
    """
    from spreadtrace.pipeline import cascades
    from spreadtrace.store import Store

    with Store.open(db) as store:
        con = store.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                """
                INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, platform,
                                   ingest_run_id)
                WITH p AS (SELECT post_id, account_id, row_number() OVER () - 1 AS k FROM posts),
                     n AS (SELECT count(*) AS c FROM posts),
                     g AS (
                         SELECT range AS i, hash(range, 1) % (SELECT c FROM n) AS k1,
                                hash(range, 2) % (SELECT c FROM n) AS k2
                         FROM range(?)
                     )
                SELECT 'new-' || g.i, q.account_id,
                       TIMESTAMPTZ '2024-04-01 00:00:00+00' + to_seconds(g.i),
                       p.post_id, 'repost', 'twitter', 0
                FROM g JOIN p ON p.k = g.k1 JOIN p q ON q.k = g.k2
                """,
                [new],
            )
            t = time.perf_counter()
            cpu = time.process_time()
            run = cascades.run(store, 0, full=False)
            seconds = time.perf_counter() - t
            cpu = time.process_time() - cpu
        finally:
            con.execute("ROLLBACK")
    print(json.dumps({"seconds": seconds, "cpu": cpu, "counts": run.counts}))


def _commit_build(db: Path) -> None:
    """Commit one full cascades build, so incremental runs have something to extend."""
    from spreadtrace.pipeline import cascades
    from spreadtrace.store import Store

    with Store.open(db) as store:
        with store.transaction():
            cascades.run(store, 0, full=True)
        store.checkpoint()


def _timed_child(db: Path, new: int = 0) -> tuple[float, dict, float, float]:
    """Run :func:`_child` in a fresh process: (seconds, counts, peak RSS MB, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bench.bench_build import _child, _child_incremental; "
            + (f"_child_incremental({str(db)!r}, {new})" if new else f"_child({str(db)!r})"),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    data = json.loads(out.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the max over all waited-for children: only exact when
    # this child is the largest so far, which it is for the big store (runs first).
    if "timings" in data:
        data["counts"]["timings"] = data["timings"]
    return data["seconds"], data["counts"], max(after, before) / 1024, data["cpu"]


def _child_end_to_end(db: str) -> None:
    """``run_build(full=True)`` (every stage, then the snapshot) on ``db``; JSON on stdout."""
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    with Store.open(db) as store:
        t = time.perf_counter()
        cpu = time.process_time()
        result = run_build(store, full=True)
        seconds = time.perf_counter() - t
        cpu = time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "result": result.to_dict()}))


def _end_to_end(db: Path) -> tuple[float, float, dict, float]:
    """The whole build once, on a throw-away copy of ``db``: (s, CPU s, BuildResult, RSS MB)."""
    import shutil

    copy = db.with_name(db.stem + "-e2e.duckdb")
    shutil.copyfile(db, copy)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from bench.bench_build import _child_end_to_end; _child_end_to_end({str(copy)!r})",
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        copy.unlink(missing_ok=True)
        shutil.rmtree(copy.with_name(copy.name + ".snapshots"), ignore_errors=True)
        for extra in (".wal", ".lock"):
            Path(str(copy) + extra).unlink(missing_ok=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["seconds"], data["cpu"], data["result"], rss


# size classes of the stratified baseline: (label, low, high, cascades sampled)
CLASSES = [
    ("1", 1, 1, 3000),
    ("2-10", 2, 10, 2000),
    ("11-100", 11, 100, 300),
    ("101-1000", 101, 1000, 30),
    ("1001-10^4", 1001, 10_000, 3),
    (">10^4", 10_001, 10**12, 2),
]
# above this many nodes, nx.average_shortest_path_length is timed on SOURCES sources
EXACT_UP_TO = 2000
SOURCES = 40


def _baseline_one(edges: list[tuple[str, str | None]], rng) -> tuple[float, bool]:
    """Seconds the obvious networkx version takes on one cascade: (seconds, extrapolated).

    DiGraph from the stored parent links, BFS from the root for depth and breadth, and
    ``nx.average_shortest_path_length`` on the undirected tree. That function runs one
    single-source BFS per node, so for a tree of n > EXACT_UP_TO nodes it is timed on
    SOURCES random sources and scaled by n / SOURCES (the rest is timed in full).
    """
    import networkx as nx

    t = time.perf_counter()
    G = nx.DiGraph()
    for post_id, parent_id in edges:
        G.add_node(post_id)
        if parent_id is not None:
            G.add_edge(parent_id, post_id)
    (root,) = [v for v in G if G.in_degree(v) == 0] or [min(G)]
    depth = nx.single_source_shortest_path_length(G, root)
    per_level: dict[int, int] = {}
    for d in depth.values():
        per_level[d] = per_level.get(d, 0) + 1
    _ = (max(depth.values()), max(per_level.values()))
    U = G.to_undirected()
    n = len(U)
    if n <= EXACT_UP_TO:
        if n > 1:
            nx.average_shortest_path_length(U)
        return time.perf_counter() - t, False
    fixed = time.perf_counter() - t
    nodes = list(U)
    picks = [nodes[i] for i in rng.choice(n, SOURCES, replace=False)]
    t = time.perf_counter()
    total = 0
    for s in picks:
        total += sum(nx.single_source_shortest_path_length(U, s).values())
    per_source = (time.perf_counter() - t) / SOURCES
    return fixed + per_source * n, True


def _stratified_baseline(db: Path, seed: int) -> list[dict]:
    """The baseline's cost per size class, extrapolated to the whole store.

    Needs a committed build in ``db`` (the cascades and their sizes). Per class, a
    uniformly random sample of its cascades (``hash(cascade_id, seed)`` order) is run
    through :func:`_baseline_one` one cascade at a time (data fetched beforehand, not
    timed); the class's cost is the sample's mean seconds per cascade times the number
    of cascades in the class (an unbiased estimate of the class total).
    """
    import duckdb
    import numpy as np

    rng = np.random.default_rng(seed)
    con = duckdb.connect(str(db), read_only=True)
    rows = []
    try:
        for label, low, high, want in CLASSES:
            n_casc, n_posts = con.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM cascades WHERE size BETWEEN ? AND ?",
                [low, high],
            ).fetchall()[0]
            if n_casc == 0:
                continue
            picked = [
                r[0]
                for r in con.execute(
                    "SELECT cascade_id FROM cascades WHERE size BETWEEN ? AND ? "
                    "ORDER BY hash(cascade_id, ?) LIMIT ?",
                    [low, high, seed, want],
                ).fetchall()
            ]
            edges = con.execute(
                "SELECT pc.cascade_id, p.post_id, p.parent_id FROM post_cascades pc "
                "JOIN posts p USING (post_id) WHERE list_contains(?, pc.cascade_id)",
                [picked],
            ).fetchall()
            by_cascade: dict[str, list] = {c: [] for c in picked}
            for cascade_id, post_id, parent_id in edges:
                by_cascade[cascade_id].append((post_id, parent_id))
            times, sampled_posts, extrapolated = [], 0, 0
            for cascade_id in picked:
                seconds, extra = _baseline_one(by_cascade[cascade_id], rng)
                times.append(seconds)
                sampled_posts += len(by_cascade[cascade_id])
                extrapolated += extra
            mean = statistics.fmean(times)
            rows.append(
                {
                    "class": label,
                    "cascades": int(n_casc),
                    "posts": int(n_posts),
                    "sampled": len(picked),
                    "sampled_posts": sampled_posts,
                    "extrapolated_cascades": extrapolated,
                    "mean_s": mean,
                    "total_s": mean * n_casc,
                }
            )
    finally:
        con.close()
    return rows


def _subsample(db: Path, target_posts: int, seed: int, root: Path, how: str) -> Path:
    """A store with whole cascades (up to ``target_posts`` posts): a random sample of
    them (``how="random"``), or the largest ones below the planted cascade
    (``how="largest"``: the largest of at most 1,500 posts, where the baseline's
    all-pairs distances cost the most while it still finishes in seconds)."""
    from spreadtrace.pipeline import cascades
    from spreadtrace.store import Store

    sub = root / f"sub-{db.stem}-{how}-{target_posts}-{seed}.duckdb"
    order = "hash(cascade_id || $seed)" if how == "random" else "size DESC, cascade_id"
    if sub.exists():
        return sub
    with Store.open(db) as store:
        con = store.con
        con.execute("BEGIN TRANSACTION")
        cascades.run(store, 0, full=True)
        pick = con.sql(
            f"""
            WITH c AS (
                SELECT cascade_id, sum(size) OVER (ORDER BY {order}) AS upto
                FROM cascades WHERE cascade_id NOT LIKE 'big-%' AND size <= 1500
            )
            SELECT post_id FROM post_cascades
            WHERE cascade_id IN (SELECT cascade_id FROM c WHERE upto <= $target)
            """,
            params={"target": target_posts, **({"seed": str(seed)} if how == "random" else {})},
        ).to_arrow_table()
        con.execute("ROLLBACK")
        con.register("bench_pick", pick)
        con.execute("ATTACH ? AS sub", [str(sub)])
        con.execute(
            "CREATE TABLE sub.posts AS SELECT * FROM posts SEMI JOIN bench_pick USING (post_id)"
        )
        con.execute("CREATE TABLE sub.follows AS SELECT * FROM follows")
        con.execute("DETACH sub")
        con.unregister("bench_pick")
    # give it the full schema
    tmp = sub.with_suffix(".tmp")
    with Store.open(tmp) as store:
        store.con.execute("ATTACH ? AS raw (READ_ONLY)", [str(sub)])
        store.con.execute("INSERT INTO posts SELECT * FROM raw.posts")
        store.con.execute("INSERT INTO follows SELECT * FROM raw.follows")
        store.con.execute("DETACH raw")
        store.checkpoint()
    sub.unlink()
    tmp.rename(sub)
    return sub


def _compute_only(db: Path) -> float:
    """CPU-side work alone on ``db``'s posts (arrays already loaded): forest + metrics."""
    import numpy as np

    from spreadtrace.graph.cascades import resolve_forest
    from spreadtrace.graph.metrics import cascade_metrics
    from spreadtrace.store import Store
    from spreadtrace.store import cascades as sql

    with Store.open(db) as store:
        store.con.execute("BEGIN TRANSACTION")
        sql.prepare_scope(store.con, full=True)
        nodes = sql.load_nodes(store.con)
        store.con.execute("ROLLBACK")
    n = len(nodes.t_us)
    t = time.perf_counter()
    f = resolve_forest(np.concatenate([nodes.parent, np.full(len(nodes.unseen_id), -1)]))
    source = np.where(f.parent[:n] >= 0, 1, 0)
    cascade_metrics(f.parent, f.root, f.depth, n, nodes.account, nodes.t_us, source)
    return time.perf_counter() - t


def _baseline(db: Path) -> tuple[float, int, int]:
    """The obvious networkx version on ``db``'s posts: (seconds, cascades, posts)."""
    import duckdb
    import networkx as nx

    con = duckdb.connect(str(db), read_only=True)
    t = time.perf_counter()
    rows = con.execute("SELECT post_id, parent_id, account_id FROM posts").fetchall()
    whole = nx.DiGraph()
    for post_id, parent_id, _ in rows:
        whole.add_node(post_id)
        if parent_id is not None:
            whole.add_edge(parent_id, post_id)
    metrics = []
    for component in nx.weakly_connected_components(whole):
        G = whole.subgraph(component).copy()
        (root,) = [v for v in G if G.in_degree(v) == 0] or [min(G)]
        depth = nx.single_source_shortest_path_length(G, root)
        per_level: dict[int, int] = {}
        for d in depth.values():
            per_level[d] = per_level.get(d, 0) + 1
        sv = nx.average_shortest_path_length(G.to_undirected()) if len(G) > 1 else None
        metrics.append((root, len(G), max(depth.values()), max(per_level.values()), sv))
    seconds = time.perf_counter() - t
    con.close()
    return seconds, len(metrics), len(rows)


def main(argv: list[str]) -> None:
    posts = int(_arg(argv, "posts", "5000000"))
    baseline_posts = int(_arg(argv, "baseline-posts", "30000"))
    seed = int(_arg(argv, "seed", str(SEED)))
    repeat = int(_arg(argv, "repeat", "3"))
    big_arg = _arg(argv, "big", "auto")
    default_dir = Path(__file__).resolve().parent / "out" / "build-world-5m"
    root = Path(_arg(argv, "dir", str(default_dir)))
    root.mkdir(parents=True, exist_ok=True)
    load = (
        "/".join(open("/proc/loadavg").read().split()[:3])
        if os.path.exists("/proc/loadavg")
        else "?"
    )
    print(
        f"machine: {os.cpu_count()} cores, shared with other engineers' jobs; load {load}",
        flush=True,
    )

    world, db = _world_store(posts, seed, root, 0 if big_arg == "auto" else int(big_arg))
    runs = [_timed_child(db)]
    largest = runs[0][1]["largest"]
    if big_arg == "auto" and largest[0] < 100_000:
        print(
            f"generated largest cascade {largest[0]:,} < 100,000: planting a flattened "
            "100,000-post cascade as a fallback",
            flush=True,
        )
        world, db = _world_store(posts, seed, root, 100_000)
        runs = [_timed_child(db)]
    runs += [_timed_child(db) for _ in range(repeat - 1)]
    seconds = statistics.median(r[0] for r in runs)
    counts = runs[0][1]
    rss = max(r[2] for r in runs)
    cpu = statistics.median(r[3] for r in runs)
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    n_posts = con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
    n_follows = con.execute("SELECT count(*) FROM follows").fetchall()[0][0]
    con.close()
    print(
        f"cascades stage, {n_posts:,} posts, {n_follows:,} follows: median {seconds:.1f} s "
        f"of {[round(r[0], 1) for r in runs]} -> {n_posts / seconds:,.0f} posts/s "
        f"(CPU {cpu:.1f} s over all threads); peak RSS {rss:,.0f} MB",
        flush=True,
    )
    steps = {k: statistics.median(r[1]["timings"][k] for r in runs) for k in counts["timings"]}
    print(f"  seconds per step (median): {steps}", flush=True)
    print(f"  largest cascades (posts): {[f'{n:,}' for n in counts.pop('largest')]}", flush=True)
    counts.pop("timings")
    print(f"  counts: {counts}", flush=True)

    if "--no-end-to-end" not in argv:
        e2e_s, e2e_cpu, result, e2e_rss = _end_to_end(db)
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in result["timings"].items())
        print(
            f"whole `spreadtrace build --full` (run_build, every stage + snapshot): "
            f"{e2e_s:.1f} s wall, {e2e_cpu:.1f} s CPU, peak RSS {e2e_rss:,.0f} MB; {stages}",
            flush=True,
        )

    new = max(1, n_posts // 100)
    _commit_build(db)
    inc = [_timed_child(db, new) for _ in range(repeat)]
    print(
        f"incremental: {new:,} new reposts (1%) on the built store: median "
        f"{statistics.median(r[0] for r in inc):.1f} s (CPU {statistics.median(r[3] for r in inc):.1f} s), "
        f"rebuilt {inc[0][1]['posts_in_scope']:,} posts in the touched cascades",
        flush=True,
    )

    # the baseline, stratified by size class, extrapolated to the whole store
    rows = _stratified_baseline(db, seed)
    total = sum(r["total_s"] for r in rows)
    print(
        "networkx baseline by size class (uniform random cascades per class; mean s per "
        "cascade x cascades in the class; our cost attributed per post at the full stage's "
        f"{seconds / n_posts * 1e6:.2f} us/post):",
        flush=True,
    )
    for r in rows:
        ours = seconds * r["posts"] / n_posts
        note = (
            f" ({r['extrapolated_cascades']} timed on {SOURCES} BFS sources, scaled by n/{SOURCES})"
            if r["extrapolated_cascades"]
            else ""
        )
        print(
            f"  size {r['class']:>9}: {r['cascades']:>9,} cascades, {r['posts']:>9,} posts; "
            f"sampled {r['sampled']:,} ({r['sampled_posts']:,} posts){note}: "
            f"{r['mean_s'] * 1e3:,.3f} ms/cascade -> {r['total_s']:,.1f} s for the class "
            f"vs ~{ours:.2f} s ours -> {r['total_s'] / ours:,.1f}x",
            flush=True,
        )
    print(
        f"  whole store by the baseline: ~{total:,.0f} s (~{total / 3600:.1f} h) vs the "
        f"measured full stage {seconds:.1f} s -> {total / seconds:,.0f}x",
        flush=True,
    )

    for how in ("random", "largest"):
        sub = _subsample(db, baseline_posts, seed, root, how)
        sub_runs = [_timed_child(sub) for _ in range(repeat)]
        ours = statistics.median(r[0] for r in sub_runs)
        base_s, base_cascades, base_posts = _baseline(sub)
        compute = statistics.median(_compute_only(sub) for _ in range(repeat))
        print(
            f"{how} cascades, {base_posts:,} posts in {base_cascades:,} cascades: networkx "
            f"baseline {base_s:.2f} s; spreadtrace stage (load, infer, write) {ours:.2f} s "
            f"-> {base_s / ours:.1f}x; tree + metrics arithmetic alone {compute:.3f} s "
            f"-> {base_s / compute:.0f}x",
            flush=True,
        )

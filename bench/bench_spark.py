"""Benchmark the Spark engine (local mode) against the DuckDB engine: cascades, media, items,
accounts, narratives (every stage, every derived table, on both engines).

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench spark [--posts=1000000]
[--seed=7] [--dir=/work/bench-cache/i15] [--master=local[2]] [--big=N] [--giant=G]
[--media=M] [--driver-memory=8g] [--local-dir=DIR]``

``--driver-memory`` (default 8g) and ``--local-dir`` (default ``DIR/<world>/spark-local``:
Spark's shuffle and spill files, next to the cache rather than in /tmp) go to the JVM
through ``PYSPARK_SUBMIT_ARGS`` when that is not already set: in local mode the driver
is the only executor, so its heap (Spark's default: 1 GiB) holds every task's memory.

``--media=M`` (default posts / 5) plants M media items into the world (70% random PDQ
hashes, 30% copies with 0..40 bits flipped, bench_media's generator; identical hashes
share a sha256) and gives them to 1.5 M original posts, so the media stage has
near-duplicate groups to find; both engines' media and items stages are timed.

``--big=N`` plants one giant cascade of N posts into the world (the N earliest posts:
post k hangs from post k - N/200, so the cascade is ~200 levels deep) and runs the Spark
engine with ``giant_nodes=G`` (default min(200,000, N/2)), so the giant takes the
set-wise path; the two engines' giant rows are printed side by side.

1. A synthetic world of ``--posts`` posts, loaded into a store as ``bench build`` does
   (cached under ``--dir``), and exported with ``export_canonical`` (the input layout).
2. Baseline: the DuckDB engine's cascades stage (full, inferred parents on), then its
   media, items, accounts and narratives stages (full), timed.
3. The Spark engine's ``run_spark_build`` on the export (same stage, Parquet out), in
   local mode on the machine's cores, timed; with the bytes every shuffle wrote and
   read (Spark's status store) and the Spark stages, per stage, and Spark's time per step.
4. Printed: posts/s of each, the Spark/DuckDB time ratio per stage, the shuffle sizes
   and Spark stage counts per stage, and a check that the two engines' tables have the
   same row counts (every table both write, narratives' origin tables included).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def _arg(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _shuffle_bytes(spark) -> tuple[int, int, int]:
    """(shuffle bytes written, read, stages) over the session so far (the status store)."""
    store = spark.sparkContext._jsc.sc().statusStore()
    gateway = spark.sparkContext._gateway
    no_quantiles = gateway.new_array(gateway.jvm.double, 0)
    # stageList(statuses, details, withSummaries, unsortedQuantiles, taskStatus): Scala
    # default arguments do not exist through py4j, so all five are given
    stages = store.stageList(None, False, False, no_quantiles, None)
    written = read = 0
    it = stages.iterator()
    n = 0
    while it.hasNext():
        s = it.next()
        written += s.shuffleWriteBytes()
        read += s.shuffleReadBytes()
        n += 1
    return written, read, n


def _tree_cpu_s() -> float:
    """CPU seconds used so far by this process and every descendant (the Spark JVM, its
    Python workers), from /proc: user + system, plus the reaped children's of each.

    Why: on a shared machine wall time over-counts a stage's work (the load steals
    cores); the cost model wants core-seconds. NaN where /proc is not readable.
    """
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        procs: dict[int, tuple[int, int]] = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            rest = stat.rsplit(")", 1)[1].split()  # state, ppid, ..., utime at 11 .. cstime 14
            procs[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += procs.get(pid, (0, 0))[1]
            todo.extend(children.get(pid, []))
        return total / ticks
    except (OSError, ValueError, IndexError):
        return float("nan")


def _plant_giant(store, n: int) -> int:
    """Re-parent the ``n`` earliest posts into one cascade of depth ~200; its stride.

    One hash join (position k ⨝ position k - stride) builds the new links, and one
    UPDATE ... FROM applies them: never a nested loop over posts.
    """
    stride = max(1, n // 200)
    store.con.execute(
        """
        CREATE TEMP TABLE _giant AS
        SELECT post_id, row_number() OVER (ORDER BY created_at, post_id) - 1 AS pos
        FROM posts QUALIFY pos < ?
        """,
        [n],
    )
    store.con.execute(
        """
        UPDATE posts SET parent_id = l.parent_id,
                         kind = CASE WHEN l.parent_id IS NULL THEN 'original' ELSE 'repost' END
        FROM (SELECT c.post_id, CASE WHEN c.pos > 0 THEN p.post_id END AS parent_id
              FROM _giant AS c JOIN _giant AS p
                ON p.pos = CASE WHEN c.pos >= ? THEN c.pos - ? ELSE 0 END) AS l
        WHERE posts.post_id = l.post_id
        """,
        [stride, stride],
    )
    store.con.execute("DROP TABLE _giant")
    return stride


def _plant_media(store, n: int, seed: int) -> None:
    """``n`` media rows (bench_media's hashes: 70% originals, 30% copies at 0..40 bits)
    carried by 1.5 n original posts, each post one item (round robin over a hash order).

    Vectorised: hex by one buffer conversion, the post assignment by one join.
    """
    import numpy as np
    import pyarrow as pa

    from bench.bench_media import _hashes

    words, _ = _hashes(n, seed=seed)
    hexes = np.frombuffer(words.astype(">u8").tobytes().hex().encode(), dtype="S64")
    ids = np.char.add(b"bm", np.char.zfill(np.arange(n).astype("S9"), 9))
    table = pa.table({"media_id": ids.astype(str), "pdq": hexes.astype(str)})
    store.con.register("_bench_media", table)
    store.con.execute(
        """
        INSERT INTO media (media_id, kind, sha256, pdq, pdq_quality, ingest_run_id)
        SELECT media_id, 'image', sha256(pdq), pdq, 90, 0 FROM _bench_media
        """
    )
    store.con.unregister("_bench_media")
    store.con.execute(
        """
        UPDATE posts SET media = [x.media_id] FROM (
          SELECT p.post_id, m.media_id
          FROM (SELECT post_id, row_number() OVER (ORDER BY hash(post_id), post_id) - 1 AS k
                FROM posts WHERE kind <> 'repost') AS p
          JOIN (SELECT media_id, row_number() OVER (ORDER BY media_id) - 1 AS k FROM media) AS m
            ON p.k % $n = m.k
          WHERE p.k < $n * 3 // 2
        ) AS x WHERE posts.post_id = x.post_id
        """,
        {"n": n},
    )


def _giant_row(rows) -> str:
    return ", ".join(f"{k} {v}" for k, v in rows.items())


def main(argv: list[str]) -> None:
    from bench.bench_build import _load_world
    from spreadtrace.pipeline import accounts as accounts_stage
    from spreadtrace.pipeline import cascades as cascades_stage
    from spreadtrace.pipeline import items as items_stage
    from spreadtrace.pipeline import media as media_stage
    from spreadtrace.pipeline import narratives as narratives_stage
    from spreadtrace.store import Store
    from spreadtrace.store.parquet import export_canonical
    from spreadtrace.synth import generate

    posts = int(_arg(argv, "posts", "1000000"))
    seed = int(_arg(argv, "seed", "7"))
    master = _arg(argv, "master", "local[2]")
    big = int(_arg(argv, "big", "0"))
    giant = int(_arg(argv, "giant", str(min(200_000, max(1, big // 2)))))
    n_media = int(_arg(argv, "media", str(posts // 5)))
    name = f"spark-{posts}-{seed}" + (f"-big{big}" if big else "") + f"-m{n_media}"
    base = Path(_arg(argv, "dir", "/work/bench-cache/i15")) / name
    base.mkdir(parents=True, exist_ok=True)
    driver_memory = _arg(argv, "driver-memory", "8g")
    local_dir = Path(_arg(argv, "local-dir", str(base / "spark-local")))
    local_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(
        "PYSPARK_SUBMIT_ARGS",
        f"--driver-memory {driver_memory} --conf spark.local.dir={local_dir} pyspark-shell",
    )
    world, db, canonical = base / "world", base / "store.duckdb", base / "canonical"
    if not (world / "posts.csv.gz").exists():
        generate(world, seed=seed, posts=posts)
    if not db.exists():
        with Store.open(db) as store:
            _load_world(store, world)
            if big:
                _plant_giant(store, big)
            if n_media:
                _plant_media(store, n_media, seed)
    print(f"== bench spark: {posts:,} posts (seed {seed}), load {os.getloadavg()[0]:.1f}")
    if big:
        print(f"   planted: one cascade of {big:,} posts; Spark giant_nodes={giant:,}")

    with Store.open(db) as store:
        n_posts = store.con.execute("SELECT count(*) FROM posts").fetchall()[0][0]
        duck_cpu = [_tree_cpu_s()]  # at each DuckDB stage's end, below
        t0 = time.perf_counter()
        with store.transaction():
            run = cascades_stage.run(store, 1, full=True)
        duck_s = time.perf_counter() - t0
        duck_cpu.append(_tree_cpu_s())
        n_casc = store.con.execute("SELECT count(*) FROM cascades").fetchall()[0][0]
        t0 = time.perf_counter()
        with store.transaction():
            media_counts = media_stage.run(store, 1)
        duck_media_s = time.perf_counter() - t0
        duck_cpu.append(_tree_cpu_s())
        t0 = time.perf_counter()
        with store.transaction():
            item_counts = items_stage.run(store, 1)
        duck_items_s = time.perf_counter() - t0
        duck_cpu.append(_tree_cpu_s())
        t0 = time.perf_counter()
        with store.transaction():
            account_counts = accounts_stage.run(store, 1)
        duck_accounts_s = time.perf_counter() - t0
        duck_cpu.append(_tree_cpu_s())
        duck_marks: dict[int, float] = {}

        def duck_mark(task: str, done: int, total: int | None) -> None:
            duck_marks[done] = time.perf_counter()

        t0 = time.perf_counter()
        with store.transaction():
            narrative_counts = narratives_stage.run(store, 1, progress=duck_mark)
        duck_narr_s = time.perf_counter() - t0
        duck_cpu.append(_tree_cpu_s())
        duck_grouping_s = duck_marks[1] - duck_marks[0]
        duck_origin_rows = {
            t: store.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]  # noqa: S608
            for t in ("origin_scores", "account_origin", "item_origin_scores")
        }
        shutil.rmtree(canonical, ignore_errors=True)
        export_canonical(store.con.cursor(), canonical)
    print(f"duckdb engine, cascades stage: {duck_s:8.1f} s  {n_posts / duck_s:10,.0f} posts/s")
    print("  steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items()))
    print(
        f"duckdb engine, media stage:    {duck_media_s:8.1f} s  ({media_counts['media_items']:,} "
        f"items, {media_counts['media_matches']:,} matches, {media_counts['media_groups']:,} "
        f"groups, {media_counts['media_posts']:,} post rows)"
    )
    print(
        f"duckdb engine, items stage:    {duck_items_s:8.1f} s  ({item_counts['items']:,} items, "
        f"{item_counts['post_items']:,} post rows)"
    )
    print(
        f"duckdb engine, accounts stage: {duck_accounts_s:8.1f} s  "
        f"({account_counts['accounts_scored']:,} accounts, "
        f"{account_counts['coordination_pairs']:,} pairs, "
        f"{account_counts['co_share_hits_recomputed']:,} co-share hits)"
    )
    print(
        f"duckdb engine, narratives stage: {duck_narr_s:8.1f} s whole (grouping "
        f"{duck_grouping_s:.1f} s; origins, item origins, amplification, corrections the rest)"
        f" ({narrative_counts['narratives']:,} narratives, "
        f"{narrative_counts['cascade_scores']:,} cascade scores)"
    )

    from spreadtrace.spark.build import run_spark_build
    from spreadtrace.spark.session import session

    print(f"spark JVM: {os.environ['PYSPARK_SUBMIT_ARGS']}")
    spark = session(master)
    out = base / "derived"
    t0 = time.perf_counter()
    marks: dict[tuple[str, int], tuple[float, int, int, int]] = {}
    cpu_marks: dict[tuple[str, int], float] = {}
    cpu0 = _tree_cpu_s()

    def mark(task: str, done: int, total: int | None) -> None:
        if task in (
            "cascades",
            "media",
            "items",
            "accounts",
            "narratives",
        ):  # the clock and shuffle counters at a stage's ends
            marks[task, done] = (time.perf_counter(), *_shuffle_bytes(spark))
            cpu_marks[task, done] = _tree_cpu_s()

    def between(task: str) -> tuple[float, int, int, int]:
        a, b = marks[task, 0], marks[task, 1]
        return b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3]

    res = run_spark_build(
        spark, str(canonical), str(out), giant_nodes=giant if big else 200_000, progress=mark
    )
    spark_s = time.perf_counter() - t0
    spark_cpu_s = _tree_cpu_s() - cpu0
    written, read, stages = _shuffle_bytes(spark)
    spark_media_s, mw, mr, ms = between("media")  # each stage with its Parquet write
    spark_items_s, iw, ir, is_ = between("items")
    spark_acc_s, aw, ar, as_ = between("accounts")
    spark_narr_s, nw, nr, ns = between("narratives")
    _, cw, cr, cs = between("cascades")  # its pointer jumping, inferred parents and write
    # reads, cascades, write, manifest
    spark_casc_s = spark_s - spark_media_s - spark_items_s - spark_acc_s - spark_narr_s
    print(
        f"spark {master}, whole build: {spark_s:8.1f} s; cascades (with its write) "
        f"{spark_casc_s:.1f} s  {n_posts / spark_casc_s:10,.0f} posts/s"
    )
    print("  steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items()))
    print(
        f"spark {master}, cascades stage: shuffle {cw / 2**20:,.1f} MiB written, "
        f"{cr / 2**20:,.1f} MiB read over {cs} stages (its write included)"
    )
    print(
        f"  shuffle: {written / 2**20:,.1f} MiB written, {read / 2**20:,.1f} MiB read "
        f"over {stages} stages; output rows {res.rows}"
    )
    print(
        f"spark {master}, media stage:  {spark_media_s:8.1f} s  shuffle {mw / 2**20:,.1f} MiB "
        f"written, {mr / 2**20:,.1f} MiB read over {ms} stages (its write included)"
    )
    print(
        f"spark {master}, items stage:  {spark_items_s:8.1f} s  shuffle {iw / 2**20:,.1f} MiB "
        f"written, {ir / 2**20:,.1f} MiB read over {is_} stages (its write included)"
    )
    print(
        f"spark {master}, accounts stage: {spark_acc_s:8.1f} s  shuffle {aw / 2**20:,.1f} MiB "
        f"written, {ar / 2**20:,.1f} MiB read over {as_} stages (its write included)"
    )
    print(
        f"spark {master}, narratives stage: {spark_narr_s:8.1f} s  shuffle "
        f"{nw / 2**20:,.1f} MiB written, {nr / 2**20:,.1f} MiB read over {ns} stages "
        "(its write included)"
    )
    print(
        f"ratio spark/duckdb time: cascades {spark_casc_s / duck_s:.1f}x, media "
        f"{spark_media_s / duck_media_s:.1f}x, items {spark_items_s / duck_items_s:.1f}x, "
        f"accounts {spark_acc_s / duck_accounts_s:.1f}x, narratives "
        f"{spark_narr_s / duck_narr_s:.1f}x  (load {os.getloadavg()[0]:.1f})"
    )
    stage_names = ("cascades", "media", "items", "accounts", "narratives")
    duck_cpu_s = [b - a for a, b in zip(duck_cpu, duck_cpu[1:], strict=False)]
    spark_stage_cpu = [cpu_marks[t, 1] - cpu_marks[t, 0] for t in stage_names]
    print(
        "cpu seconds (this process and its children: driver, JVM, Python workers): duckdb "
        + ", ".join(f"{t} {c:.1f}" for t, c in zip(stage_names, duck_cpu_s, strict=True))
        + f"; spark whole build {spark_cpu_s:.1f}, "
        + ", ".join(f"{t} {c:.1f}" for t, c in zip(stage_names, spark_stage_cpu, strict=True))
        + " (spark cascades: from its start mark to its end, write included)"
    )
    same = res.rows["cascades"] == n_casc and res.rows["post_cascades"] == n_posts
    same_media = (
        res.rows["media_groups"] == media_counts["media_groups"]
        and res.rows["media_matches"] == media_counts["media_matches"]
        and res.counts["media"]["media_posts"] == media_counts["media_posts"]
    )
    same_items = (
        res.rows["items"] == item_counts["items"]
        and res.rows["post_items"] == item_counts["post_items"]
    )
    same_accounts = (
        res.rows["account_scores"] == account_counts["accounts_scored"]
        and res.rows["coordination_pairs"] == account_counts["coordination_pairs"]
        and res.rows["coordination_hits"] == account_counts["co_share_hits_recomputed"]
    )
    same_narr = (
        res.rows["narratives"] == narrative_counts["narratives"]
        and res.rows["post_narratives"] == narrative_counts["narrative_posts"]
        and res.rows["cascade_scores"] == narrative_counts["cascade_scores"]
        and all(res.rows[t] == n for t, n in duck_origin_rows.items())
    )
    print(
        f"same row counts as the DuckDB engine: cascades {same}, media {same_media}, "
        f"items {same_items}, accounts {same_accounts}, narratives {same_narr}"
    )
    if big:
        cols = "size, depth, max_breadth, structural_virality, time_to_90_s, reconstruction"
        with Store.open(db, read_only=True) as store:
            duck = store.con.execute(
                f"SELECT {cols} FROM cascades ORDER BY size DESC LIMIT 1"  # noqa: S608
            ).fetchall()[0]
        import duckdb

        sp = duckdb.sql(
            f"SELECT {cols} FROM read_parquet(?) ORDER BY size DESC LIMIT 1",  # noqa: S608
            params=[str(out / "cascades" / "*.parquet")],
        ).fetchall()[0]
        names = [c.strip() for c in cols.split(",")]
        print("  giant, duckdb: " + _giant_row(dict(zip(names, duck, strict=True))))
        print("  giant, spark:  " + _giant_row(dict(zip(names, sp, strict=True))))
        same_giant = all(
            abs(a - b) <= 1e-9 if isinstance(a, float) else a == b
            for a, b in zip(duck, sp, strict=True)
        )
        print(f"giant metrics equal: {same_giant}")
    spark.stop()

"""Growth table of the full build, and a cron run with 1% new posts (issue 12, part 4).

Run: ``flock /tmp/spreadtrace-heavy.lock .venv/bin/python -m bench scale
[--sizes=1000000,5000000] [--seed=7] [--dir=/work/bench-cache/i12c] [--new=0.01]
[--memory-limit=LIMIT] [--no-run] [--real=FILE [--mapping=NAME] [--tile=N]]``

For each size, the synthetic store of ``bench build`` (``spreadtrace.synth.generate``,
posts and follows loaded once and cached under ``--dir``) is copied, and fresh child
processes measure on the copy:

1. **full**: ``run_build(full=True)`` without snapshot, with the default DuckDB memory
   limit (``Store.limit_memory``: half the available memory, spilling next to the
   store). Wall time, CPU time (user + system), peak RSS (the child's own ``VmHWM``: :func:`bench.peak_rss_mb`) and the store's
   size on disk after the build (file + WAL).
2. **nothing new**: ``run_build()`` right after: the inputs fingerprint is unchanged.
3. **build 1%**: ``--new`` x posts new reposts (of random stored posts, by random stored
   accounts, one minute after their parent) written as a canonical posts CSV into an
   inbox; on a copy, the file's ingest and then ``run_build()`` (incremental, no
   snapshot), each timed, with the seconds per stage.
4. **run 1%**: ``spreadtrace run`` (``run_job``: ingest, incremental build, dashboard
   snapshot, reports) on the same file, in one child, with its step times (ingest,
   stages, the build's commit, snapshot publish, reports). It follows an untimed run with nothing new
   on the fully built store, as in cron, where the previous run has published the
   dashboard snapshot and written the reports: the timed run's publish and reports
   are those of a 1% change, not a first publish.

``--real=FILE`` measures a store of real posts instead of a synthetic world: FILE is
ingested (through ``--mapping``, e.g. ``german-elections``) into a scratch store, its
posts are split by time at the (1 - ``--new``) quantile of ``created_at``, the older
part is the store that is built in full, and the newest ``--new`` share is the new
file of steps 3 and 4: the cron shape, where what lands is the newest data. Sizes are
the real file's (``--sizes`` is ignored). Its accounts and media rows go into the store
with the older posts.

``--tile=N`` makes the real store N disjoint copies of FILE before the split (see
:func:`tile`): ids, accounts, links, hashtags, words and media hashes tagged per copy,
copy i shifted in time by i x the file's span. PHEME germanwings x 285 is a 1.28M-post
store of real reply threads, text, links and account profiles (issue 12's real-world
shape); the newest 1% is then the last 2.85 copies' newest posts.

The baseline is the full build of the same size, measured in the same run: the table
prints run-1% / full and nothing-new / full. Also printed: the machine's load
average before and after each size (2 cores shared; wall times swing with it, CPU
time less so).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import peak_rss_mb
from bench.bench_build import SEED, _arg, _world_store


def _usage() -> dict[str, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": r.ru_utime + r.ru_stime, "rss_mb": peak_rss_mb()}


def _size_on_disk(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}.wal")) if p.exists())


def _child_full(db: str, limit: str) -> None:
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    with Store.open(db) as store:
        applied = store.limit_memory(limit or None)
        t = time.perf_counter()
        result = run_build(store, full=True, publish=False)
        wall = time.perf_counter() - t
        store.checkpoint()
    out = {"limit": applied, "wall": wall, "posts": result.posts, "cascades": result.cascades}
    out |= {"timings": result.timings} | _usage() | {"bytes": _size_on_disk(Path(db))}
    print(json.dumps(out))


def _child_nothing(db: str) -> None:
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    with Store.open(db) as store:
        t = time.perf_counter()
        result = run_build(store, publish=False)
        wall = time.perf_counter() - t
    print(json.dumps({"wall": wall, "mode": result.mode} | _usage()))


def _new_posts_csv(db: str, share: float, path: Path) -> int:
    """``share`` x posts new reposts as a canonical posts CSV (not timed)."""
    from spreadtrace.store import Store

    with Store.open(db) as store:
        n = int(store.con.execute("SELECT count(*) FROM posts").fetchone()[0] * share)
        store.con.execute(
            f"""
            COPY (
                SELECT 'new-' || row_number() OVER () AS post_id, a.account_id,
                       strftime(p.created_at + INTERVAL 1 MINUTE, '%Y-%m-%dT%H:%M:%SZ')
                           AS created_at,
                       p.post_id AS parent_id, 'repost' AS kind, NULL AS root_id,
                       p.text, NULL AS urls, NULL AS hashtags, p.lang, p.platform
                FROM (SELECT *, row_number() OVER () AS i
                      FROM posts USING SAMPLE {n} ROWS (reservoir, 7)) p
                JOIN (SELECT account_id, row_number() OVER () AS i
                      FROM (SELECT DISTINCT account_id FROM posts)
                      USING SAMPLE {n} ROWS (reservoir, 8)) a
                  ON a.i = p.i
            ) TO '{path}' (HEADER, DELIMITER ',')
            """  # sizes are ints and the path ours: nothing untrusted in the text
        )
    return n


# Per copy: a tag of letters (text normalisation keeps word characters), ids suffixed,
# times shifted. Hex hashes (pdq:, phash:, sha256:) are XORed with a per-copy mask in
# chunks of 16 digits: Hamming distances inside a copy are kept (a ^ m vs b ^ m), while
# a hash and its twin in another copy differ in about half their bits.
TILE_MACROS = (
    "CREATE OR REPLACE TEMP MACRO _tile_tag(i) AS "
    "'qz' || chr(CAST(97 + i // 26 AS INTEGER)) || chr(CAST(97 + i % 26 AS INTEGER))",
    "CREATE OR REPLACE TEMP MACRO _tile_id(x, i) AS "
    "CASE WHEN x IS NOT NULL THEN x || '-t' || i END",
    """
    CREATE OR REPLACE TEMP MACRO _tile_hex(h, i) AS CASE WHEN h IS NOT NULL THEN
        array_to_string(list_transform(range(0, length(h), 16), lambda k: lpad(lower(hex(xor(
            CAST('0x' || substr(h, k + 1, 16) AS UBIGINT),
            hash(i, k) >> (64 - 4 * length(substr(h, k + 1, 16)))))),
            CAST(length(substr(h, k + 1, 16)) AS INTEGER), '0')), '')
    END
    """,
    # A link gets a query parameter that no normaliser strips (its key keeps host and
    # path); an opaque id (url-23678) a suffix.
    """
    CREATE OR REPLACE TEMP MACRO _tile_url(u, i) AS CASE
        WHEN u IS NULL THEN NULL
        WHEN NOT contains(u, '://') AND NOT starts_with(lower(u), 'www.') THEN u || '-t' || i
        ELSE split_part(u, '#', 1)
             || CASE WHEN contains(split_part(u, '#', 1), '?') THEN '&' ELSE '?' END
             || 'stcopy=' || i
             || CASE WHEN contains(u, '#') THEN '#' || split_part(u, '#', 2) ELSE '' END
    END
    """,
    """
    CREATE OR REPLACE TEMP MACRO _tile_media(m, i) AS CASE
        WHEN regexp_matches(m, '^(pdq|phash|sha256):')
            THEN split_part(m, ':', 1) || ':' || _tile_hex(split_part(m, ':', 2), i)
        ELSE _tile_id(m, i)
    END
    """,
    # Every word (letters and digits) gets the copy's tag: near-duplicate texts stay
    # near-duplicates inside a copy and never match a text of another copy; links keep
    # their shape (normalisation drops them, and a leading "RT @handle:"); mentions name
    # the copy's handles.
    r"""
    CREATE OR REPLACE TEMP MACRO _tile_text(t, i) AS CASE WHEN t IS NOT NULL THEN
        array_to_string(list_transform(regexp_split_to_array(t, '\s+'), lambda w: CASE
            WHEN lower(w) = 'rt' THEN w  -- the retweet marker that normalisation drops
            WHEN regexp_matches(lower(w), '^(https?://|www\.)') THEN _tile_url(w, i)
            WHEN starts_with(w, '@') THEN regexp_replace(w, '^@(\w+)', '@\1' || _tile_tag(i))
            ELSE regexp_replace(w, '([\p{L}\p{N}]+)', '\1' || _tile_tag(i), 'g')
        END), ' ')
    END
    """,
)

# The canonical columns of each file the split writes, as read from the scratch store:
# untouched (one copy) or tiled ($copies copies, copy i shifted by i x $span seconds).
_COPIES = "(SELECT range AS i FROM range($copies)) c"
SPLIT_SOURCES = {
    "posts": (
        "post_id, account_id, created_at, parent_id, kind, root_id, text, urls, hashtags, "
        "lang, platform, media, CAST(platform_meta AS VARCHAR) AS platform_meta FROM posts",
        "_tile_id(post_id, i) AS post_id, _tile_id(account_id, i) AS account_id, "
        "created_at + to_seconds(i * $span) AS created_at, "
        "_tile_id(parent_id, i) AS parent_id, kind, _tile_id(root_id, i) AS root_id, "
        "_tile_text(text, i) AS text, list_transform(urls, lambda u: _tile_url(u, i)) AS urls, "
        "list_transform(hashtags, lambda h: h || _tile_tag(i)) AS hashtags, lang, platform, "
        "list_transform(media, lambda m: _tile_media(m, i)) AS media, "
        f"CAST(platform_meta AS VARCHAR) AS platform_meta FROM posts, {_COPIES}",
    ),
    "accounts": (
        "account_id, handle, display_name, created_at, followers_count, following_count, "
        "posts_count, likes_count, listed_count, verified, default_profile, "
        "default_profile_image, description, platform, observed_at FROM accounts",
        "_tile_id(account_id, i) AS account_id, handle || _tile_tag(i) AS handle, "
        "display_name, created_at + to_seconds(i * $span) AS created_at, followers_count, "
        "following_count, posts_count, likes_count, listed_count, verified, default_profile, "
        "default_profile_image, description, platform, "
        f"observed_at + to_seconds(i * $span) AS observed_at FROM accounts, {_COPIES}",
    ),
    "media": (
        "media_id, kind, url, sha256, pdq, pdq_quality, width, height, duration_s, "
        "local_path, frames FROM media",
        "_tile_id(media_id, i) AS media_id, kind, _tile_url(url, i) AS url, "
        "_tile_hex(sha256, i) AS sha256, _tile_hex(pdq, i) AS pdq, pdq_quality, width, "
        "height, duration_s, local_path, list_transform(frames, lambda f: _tile_hex(f, i)) "
        f"AS frames FROM media, {_COPIES}",
    ),
}


def tile(con, copies: int) -> int:
    """Temp tables ``_split_posts|accounts|media``: ``copies`` disjoint copies; the shift s.

    Why: the real files are small (PHEME: 4,489 posts) and issue 12's store holds 1.28M
    real-shaped posts. Copy i has every id (post, parent, root, account, media) suffixed
    ``-t<i>``, its URLs, hashtags, handles, words and media hashes tagged, and its times
    (posts, account creation and observation) shifted by i x (the real span + 1 s): copy
    i follows copy i - 1, so the newest posts of the tiled store are the newest real
    posts' shape. No cascade, item, text group, media group or account crosses copies.
    One copy is the rows unchanged (shift 0).
    """
    lo, hi = con.execute("SELECT min(created_at), max(created_at) FROM posts").fetchone()
    span = int((hi - lo).total_seconds()) + 1 if copies > 1 and lo is not None else 0
    for macro in TILE_MACROS:
        con.execute(macro)
    for table, (plain, tiled) in SPLIT_SOURCES.items():
        if copies == 1:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _split_{table} AS SELECT {plain}")
        else:  # only fixed SQL text above: the counts are bound
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _split_{table} AS SELECT {tiled}",
                {"copies": copies} | ({"span": span} if "$span" in tiled else {}),
            )
    return span


def _real_split(
    src: str, mapping: str, share: float, root: Path, copies: int = 1
) -> tuple[Path, Path, int]:
    """(store of the older posts, Parquet file of the newest ``share``, posts in all).

    The real file is ingested once into a scratch store (``copies`` > 1: tiled, see
    :func:`tile`); its posts are cut at a ``created_at`` quantile and the older part
    ingested into the work store as canonical Parquet with the accounts and media
    rows, so both parts pass through the same reader as a user's files.
    """
    from spreadtrace.ingest.files import ingest_file
    from spreadtrace.ingest.mapping import load_mapping
    from spreadtrace.store import Store

    scratch, base_db = root / "real-scratch.duckdb", root / "real-base.duckdb"
    base, new = root / "real-base.parquet", root / "real-new.parquet"
    extra = {t: root / f"real-{t}.parquet" for t in ("accounts", "media")}
    for p in (scratch, base_db, base, new, *extra.values()):
        p.unlink(missing_ok=True)
    with Store.open(scratch) as store:
        ingest_file(store, src, mapping=load_mapping(mapping) if mapping else None)
        con = store.con
        tile(con, copies)
        total = con.execute("SELECT count(*) FROM _split_posts").fetchone()[0]
        cut = con.execute(
            "SELECT quantile_disc(created_at, ?) FROM _split_posts", [1.0 - share]
        ).fetchone()[0]
        for path, op in ((base, "<"), (new, ">=")):
            # the path is ours and op one of two fixed strings; the cut is bound
            con.execute(
                f"COPY (SELECT * FROM _split_posts WHERE created_at {op} ? ORDER BY post_id) "
                f"TO '{path}' (FORMAT parquet)",
                [cut],
            )
        for table, path in extra.items():
            if con.execute(f"SELECT count(*) FROM _split_{table}").fetchone()[0]:
                con.execute(f"COPY _split_{table} TO '{path}' (FORMAT parquet)")
    scratch.unlink()
    with Store.open(base_db) as store:
        for table, path in extra.items():  # profiles and media first, as an export lands
            if path.exists():
                ingest_file(store, path, format=table)
        ingest_file(store, base, format="posts")
        store.checkpoint()
    return base_db, new, total


def _child_inc(db: str, csv: str, limit: str) -> None:
    from spreadtrace.ingest.files import ingest_file
    from spreadtrace.pipeline.build import run_build
    from spreadtrace.store import Store

    with Store.open(db) as store:
        store.limit_memory(limit or None)
        t = time.perf_counter()
        ingest_file(store, csv, format="posts")
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        result = run_build(store, publish=False)
        wall = time.perf_counter() - t
    out = {"ingest": ingest_s, "wall": wall, "mode": result.mode, "timings": result.timings}
    print(json.dumps(out | {"touched": result.cascades_touched} | _usage()))


def _child_run(db: str, inbox: str, reports: str, limit: str) -> None:
    import logging

    from spreadtrace.jobs import run_job

    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)d ms %(message)s")
    t = time.perf_counter()
    result = run_job(db, inbox, reports, settle=0, memory_limit=limit or None)
    wall = time.perf_counter() - t
    out = {"wall": wall, "status": result.status, "rows": result.rows_inserted}
    timings = getattr(result, "timings", {})  # older code: see the log lines
    print(json.dumps(out | {"timings": timings}) + "\n" + json.dumps(_usage()))


def _count(db: str) -> int:
    from spreadtrace.store import Store

    with Store.open(db) as store:
        return int(store.con.execute("SELECT count(*) FROM posts").fetchone()[0])


def _spawn(*args: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.bench_scale import main; main(sys.argv[1:])",
            "--child",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    merged: dict = {}
    for x in lines:
        merged |= x
    merged["stderr_tail"] = out.stderr.strip().splitlines()[-12:]
    return merged


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return
    if argv and argv[0] == "--child":
        kind, *rest = argv[1:]
        {
            "full": _child_full,
            "nothing": _child_nothing,
            "inc": _child_inc,
            "run": _child_run,
        }[kind](*rest)
        return
    sizes = [int(s) for s in _arg(argv, "sizes", "1000000,5000000").split(",")]
    seed = int(_arg(argv, "seed", str(SEED)))
    root = Path(_arg(argv, "dir", "/work/bench-cache/i12c"))
    share = float(_arg(argv, "new", "0.01"))
    limit = _arg(argv, "memory-limit", "")
    real = _arg(argv, "real", "")
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    new_file: Path | None = None
    if real:
        copies = int(_arg(argv, "tile", "1"))
        real_db, new_file, total = _real_split(real, _arg(argv, "mapping", ""), share, root, copies)
        print(
            f"real file {real} x {copies} disjoint copies: {total:,} posts, "
            f"newest {share:.0%} held out",
            flush=True,
        )
        sizes = [total]
    for posts in sizes:
        load0 = os.getloadavg()[0]
        src = real_db if real else _world_store(posts, seed, root, 0)[1]
        work = root / f"scale-{posts}.duckdb"
        shutil.copyfile(src, work)
        try:
            full = _spawn("full", str(work), limit)
            print(f"{posts:,} full: {json.dumps(full)}", flush=True)
            nothing = _spawn("nothing", str(work))
            print(f"{posts:,} nothing new: {json.dumps(nothing)}", flush=True)
            run = inc = None
            if "--no-run" not in argv:
                inbox = root / f"scale-inbox-{posts}"
                shutil.rmtree(inbox, ignore_errors=True)
                inbox.mkdir()
                # the cron run before: publishes the snapshot, writes the reports
                prev = _spawn("run", str(work), str(inbox), str(root / "scale-reports"), limit)
                print(f"{posts:,} run before (nothing new): {json.dumps(prev)}", flush=True)
                if new_file is None:
                    n_new = _new_posts_csv(str(work), share, inbox / "new.csv")
                    new = inbox / "new.csv"
                else:
                    new = inbox / "new.parquet"
                    shutil.copyfile(new_file, new)
                    n_new = posts - _count(str(work))
                work2 = root / f"scale-{posts}.duckdb.inc"
                shutil.copyfile(work, work2)
                inc = _spawn("inc", str(work2), str(new), limit)
                print(f"{posts:,} ingest + build {share:.0%}: {json.dumps(inc)}", flush=True)
                work2.unlink()
                run = _spawn("run", str(work), str(inbox), str(root / "scale-reports"), limit)
                run["new_posts"] = n_new
                print(f"{posts:,} run {share:.0%}: {json.dumps(run)}", flush=True)
        finally:
            for p in root.glob(f"scale-{posts}.duckdb*"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            shutil.rmtree(root / "scale-reports", ignore_errors=True)
        rows.append((posts, full, nothing, inc, run, load0, os.getloadavg()[0]))
    print()
    print(
        "| posts | full wall s | full CPU s | peak RSS GB | store GB | nothing new s "
        "| ingest + build 1% wall s (/ full) | CPU s (/ full) "
        "| run 1% wall s (/ full) | CPU s (/ full) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def vs(x: dict | None, base: float, key: str = "wall") -> str:
        if x is None:
            return "-"
        value = x[key] + (x.get("ingest", 0.0) if key == "wall" else 0.0)
        return f"{value:.1f} ({value / base:.2f})"

    for posts, full, nothing, inc, run, l0, l1 in rows:
        print(
            f"| {posts:,} | {full['wall']:.1f} | {full['cpu']:.1f} | {full['rss_mb'] / 1024:.2f} "
            f"| {full['bytes'] / 1e9:.2f} | {nothing['wall']:.3f} | {vs(inc, full['wall'])} "
            f"| {vs(inc, full['cpu'], 'cpu')} | {vs(run, full['wall'])} "
            f"| {vs(run, full['cpu'], 'cpu')} | {l0:.1f} -> {l1:.1f} |"
        )
    print()
    print("| posts | run 1% wall s | ingest | stages | commit | snapshot | reports | other |")
    print("|---|---|---|---|---|---|---|---|")
    apart = ("build.snapshot", "build.commit")
    for posts, _full, _nothing, _inc, run, _l0, _l1 in rows:
        if run is None:
            continue
        t = run.get("timings", {})
        stages = sum(v for k, v in t.items() if k.startswith("build.") and k not in apart)
        split = [t.get("ingest", 0.0), stages, t.get("build.commit", 0.0)]
        split += [t.get("build.snapshot", 0.0), t.get("report", 0.0)]
        other = run["wall"] - sum(split)
        cells = " | ".join(f"{x:.2f} ({x / run['wall']:.0%})" for x in [*split, other])
        print(f"| {posts:,} | {run['wall']:.2f} | {cells} |")

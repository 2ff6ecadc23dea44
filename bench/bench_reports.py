"""Benchmark: writing the reports of a large store, pseudonymised and formula-safe.

``python -m bench reports [--cascades N]`` fills a temp store with N cascades (one
root post each, plus accounts and their scores) straight in SQL, then times:

- ours: ``report_queries.export_csv`` for cascades.csv with pseudonymisation on (HMAC,
  formula rule and ISO times all inside DuckDB's COPY), and the whole
  ``write_reports`` (all six files, fsync, copy to latest/);
- baseline: the obvious Python writer for the same cascades.csv — fetch rows,
  ``hmac.new`` per account id, handle, post and narrative id, ``mask_accounts`` and
  ``safe_cell`` per text cell, ``isoformat`` per time, ``csv.writer`` — measured in
  the same run.

Prints medians of 3, the speed-up, and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import resource
import statistics
import tempfile
import time
from pathlib import Path

from spreadtrace.reports import safe_cell, write_reports
from spreadtrace.store import Store
from spreadtrace.store.report_queries import (
    REPORTS,
    PseudonymKey,
    export_csv,
    mask_accounts,
    stretch,
)

SECRET = "bench-secret-0123456789"


def fill(store: Store, n: int) -> None:
    con = store.con
    accounts = max(n // 5, 10)
    con.execute(
        "INSERT INTO accounts (account_id, observed_at, handle, platform, ingest_run_id) "
        "SELECT 'acct' || i, TIMESTAMPTZ '2024-01-01', CASE WHEN i % 50 = 0 THEN '=h' || i "
        "ELSE 'user_' || i END, 'bench', 1 FROM range(?) t(i)",
        [accounts],
    )
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, ingest_run_id)"
        " SELECT 'p' || i, 'acct' || (i % ?), TIMESTAMPTZ '2024-01-01' + to_seconds(i),"
        " 'original', CASE WHEN i % 100 = 0 THEN '=HYPERLINK(\"x\")' ELSE"
        " 'some post text about item ' || i END, 'bench', 1 FROM range(?) t(i)",
        [accounts, n],
    )
    con.execute(
        "INSERT INTO cascades SELECT post_id, post_id, true, account_id, 'bench', 1 + (i % 17),"
        " 1 + (i % 5), i % 4, 1 + (i % 3), 1.5, created_at, created_at + to_seconds(60),"
        " 10.0, 30.0, 3, 'flat', 1 FROM (SELECT *, row_number() OVER () AS i FROM posts)"
    )
    con.execute("INSERT INTO post_cascades SELECT post_id, post_id, NULL, NULL, 0, 0, 1 FROM posts")
    con.execute(
        "INSERT INTO cascade_scores SELECT cascade_id, NULL, 0.1, 0.2, 0.3, 0.1, 0.25,"
        " 'no bot-like amplification found', 1 FROM cascades"
    )
    con.execute(
        "INSERT INTO account_scores SELECT account_id, 5, 2, 0.3, 0.4, 0.35, false,"
        " 'posts at human hours', NULL, 'bench', 1 FROM accounts"
    )
    con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (1, 'full', '{}', now(), now(), ?, ?)",
        [n, n],
    )


def baseline(store: Store, path: Path) -> int:
    """The obvious writer: Python per row (what we avoid)."""
    query = REPORTS[0]
    raw = f"SELECT {', '.join(c.expr for c in query.columns)} {query.from_sql} ORDER BY c.size DESC, c.cascade_id"
    kinds = [c.kind for c in query.columns]
    key = stretch(SECRET)  # the same scrypt-stretched HMAC key as ours

    def pseudo(domain: str, prefix: str, v: object) -> str:
        return prefix + hmac.new(key, f"{domain}{v}".encode(), hashlib.sha256).hexdigest()[:16]

    def cell(kind: str, v: object) -> object:
        if v is None:
            return ""
        if kind == "account":
            return pseudo("account:", "acct_", v)
        if kind == "handle":
            return pseudo("handle:", "h_", str(v).lstrip("@").lower())
        if kind == "post":
            return pseudo("post:", "p_", v)
        if kind == "narrative":
            return pseudo("narrative:", "n_", v)
        if kind == "time":
            return v.isoformat()
        if kind == "real":
            return round(v, 6)
        if kind == "text":
            return safe_cell(mask_accounts(str(v)))
        return safe_cell(v)

    cur = store.con.execute(
        raw.replace("c.first_at", "epoch_ms(c.first_at)").replace(
            "c.last_at", "epoch_ms(c.last_at)"
        )
    )
    kinds = ["int" if k == "time" else k for k in kinds]
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(query.header)
        while rows := cur.fetchmany(50_000):
            for row in rows:
                writer.writerow([cell(k, v) for k, v in zip(kinds, row, strict=True)])
                n += 1
    return n


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench reports")
    parser.add_argument("--cascades", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        with Store.open(tmp_path / "bench.duckdb") as store:
            store.con.execute("SET enable_progress_bar = false")
            t0 = time.perf_counter()
            fill(store, args.cascades)
            print(f"filled {args.cascades:,} cascades in {time.perf_counter() - t0:.1f} s")
            key = PseudonymKey.from_secret(SECRET)
            ours, base, whole = [], [], []
            for i in range(3):
                t0 = time.perf_counter()
                n = export_csv(store, REPORTS[0], tmp_path / f"ours{i}.csv", key=key, params={})
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                m = baseline(store, tmp_path / f"base{i}.csv")
                base.append(time.perf_counter() - t0)
                assert n == m == args.cascades
                t0 = time.perf_counter()
                write_reports(store, tmp_path / "out", pseudonymize=SECRET)
                whole.append(time.perf_counter() - t0)
    o, b, w = statistics.median(ours), statistics.median(base), statistics.median(whole)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"cascades.csv, pseudonymised: ours {o:.2f} s ({args.cascades / o:,.0f} rows/s)")
    print(f"cascades.csv, Python baseline: {b:.2f} s ({args.cascades / b:,.0f} rows/s)")
    print(f"speed-up: {b / o:.1f}x")
    print(f"all six files + manifest + latest/ (pseudonymised): {w:.2f} s")
    print(f"peak RSS: {rss:,.0f} MB")

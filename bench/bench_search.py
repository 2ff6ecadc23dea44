"""Benchmark: the dashboard's search (BM25 over the read model's term index) at scale.

Target (issue 14): at most 300 ms per query at 5,000,000 posts. Runs
:func:`spreadtrace.store.dashboard_queries.search` (what ``/search?q=`` runs: posts,
cascades, narratives and accounts) on the newest published snapshot of ``--db``
(publishing one first if there is none, which builds the term index), for a fixed set of
queries: frequent and rare words, a two-word phrase, a hashtag, a URL fragment, a
handle, a post id, and a word that matches nothing. Baseline in the same run: the
naive search, ``text ILIKE '%word%'`` over every post (a full scan), on the same
snapshot, for the same queries.

Run: ``python -m bench search --db=STORE.duckdb [--repeat=5]`` (a 5M store: under the
heavy lock; publishing its snapshot takes minutes and several GB).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.bench_dashboard import _arg
from bench.bench_dashboard import _time as _median_ms

REPO = Path(__file__).resolve().parents[1]


def _queries(con) -> list[str]:
    """Queries drawn from the data: a frequent and a rare term, a phrase, a hashtag, a
    URL host, a handle, a post id, and a word that is in no post."""
    frequent = con.execute(
        "SELECT term FROM dash_search_terms WHERE length(term) > 3 GROUP BY 1 "
        "ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    rare = con.execute(
        "SELECT term FROM dash_search_terms WHERE length(term) > 5 GROUP BY 1 "
        "HAVING count(*) BETWEEN 3 AND 50 ORDER BY 1 LIMIT 1"
    ).fetchone()
    text = con.execute(
        "SELECT text FROM posts WHERE text IS NOT NULL AND length(text) > 20 "
        "ORDER BY post_id LIMIT 1"
    ).fetchone()
    tag = con.execute("SELECT hashtags[1] FROM posts WHERE len(hashtags) > 0 LIMIT 1").fetchone()
    url = con.execute("SELECT urls[1] FROM posts WHERE len(urls) > 0 LIMIT 1").fetchone()
    handle = con.execute("SELECT handle FROM accounts WHERE handle IS NOT NULL LIMIT 1").fetchone()
    post = con.execute("SELECT post_id FROM posts ORDER BY post_id DESC LIMIT 1").fetchone()
    out = []
    if frequent:
        out.append(frequent[0])
    if rare:
        out.append(rare[0])
    if text:
        out.append(" ".join(str(text[0]).split()[:2]))
    if tag and tag[0]:
        out.append("#" + str(tag[0]).lstrip("#"))
    if url and url[0]:
        out.append(str(url[0]).split("//")[-1].split("/")[0])
    if handle:
        out.append("@" + str(handle[0]))
    if post:
        out.append(str(post[0]))
    out.append("zzqxnotaword")
    return out


def _accounts(con, dq, repeat: int) -> None:
    """The account search alone: the gram index (``dash_account_grams``) against the scan
    of every handle and name it replaced (the baseline, same snapshot, same run)."""
    n = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
    grams = con.execute("SELECT count(*) FROM dash_account_grams").fetchone()[0]
    print(f"  account search: {n:,} accounts, {grams:,} (gram, account) rows")
    handle = con.execute(
        "SELECT handle FROM accounts WHERE length(handle) > 6 ORDER BY account_id LIMIT 1"
    ).fetchone()
    name = con.execute(
        "SELECT display_name FROM accounts WHERE length(display_name) > 6 "
        "ORDER BY account_id DESC LIMIT 1"
    ).fetchone()
    queries = ["zzqxnotaword", "ab"]
    if handle:
        queries += ["@" + handle[0], handle[0][1:4]]
    if name:
        queries.append(name[0][2:7])
    scan_sql = dq._ACCOUNT_MATCH
    for q in queries:
        who = q.strip()
        h = who.removeprefix("@").lower()
        params = [h, who, h, h, who, h, dq.SEARCH_LIMIT]
        _f, med = _median_ms(lambda q=q: dq._search_accounts(con, q, dq.SEARCH_LIMIT), repeat)
        _f, base = _median_ms(lambda p=params: con.execute(scan_sql, p).fetchall(), repeat)
        hits = len(dq._search_accounts(con, q, dq.SEARCH_LIMIT))
        print(
            f"  accounts {q[:30]!r:<34} index median {med:6.1f} ms; scan median {base:6.1f} ms "
            f"(ratio {base / med:5.1f}x); {hits} shown"
        )


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    from spreadtrace.store import Store
    from spreadtrace.store import dashboard_queries as dq
    from spreadtrace.store.snapshot import SnapshotReader, publish

    db = _arg(argv, "db", "")
    if not db:
        raise SystemExit("usage: python -m bench search --db=STORE.duckdb [--repeat=5]")
    repeat = int(_arg(argv, "repeat", "5"))
    print(json.dumps({"db": db, "repeat": repeat}))
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    reader = SnapshotReader(db)
    if reader.refresh() is None:
        t = time.perf_counter()
        with Store.open(db) as store:
            publish(store)
        print(
            f"  published a snapshot (read model incl. term index) in {time.perf_counter() - t:.0f} s"
        )
        reader = SnapshotReader(db)
    with reader.lease() as (con, sid):
        posts = con.execute("SELECT count(*) FROM posts").fetchone()[0]
        terms = con.execute("SELECT count(*) FROM dash_search_terms").fetchone()[0]
        print(f"  snapshot {sid}: {posts:,} posts, {terms:,} (term, post) rows")
        rows = []
        for q in _queries(con):
            first, med = _median_ms(lambda q=q: dq.search(con, q, search=q), repeat)
            word = q.lstrip("#@").split()[0]
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

            def naive(like=like):
                con.execute(
                    "SELECT post_id, text FROM posts WHERE text ILIKE ? ESCAPE '\\' LIMIT 20",
                    [like],
                ).fetchall()
                con.execute(
                    "SELECT count(*) FROM posts WHERE text ILIKE ? ESCAPE '\\'", [like]
                ).fetchall()

            _nfirst, nmed = _median_ms(naive, repeat)
            total = dq.search(con, q, search=q)["post_total"]
            rows.append((q, first, med, nmed, total))
            print(
                f"  {q[:40]!r:<44} search first {first:7.0f} ms, median {med:7.0f} ms; "
                f"naive ILIKE scan median {nmed:7.0f} ms (ratio {nmed / med:5.1f}x); "
                f"{total:,} matching posts"
            )
        worst = max(r[2] for r in rows)
        print(
            f"  worst median {worst:.0f} ms: target <= 300 ms {'met' if worst <= 300 else 'NOT met'}"
        )
        if hasattr(dq, "_search_accounts"):
            _accounts(con, dq, repeat)
    reader.close()
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main(sys.argv[1:])

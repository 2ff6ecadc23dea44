"""The alerts rule in SQL (candidates first) against a brute-force reading of the rule.

Why: the SQL looks at the full history of an item only when it has at least ``floor``
shares inside the window. This checks, on random worlds, that no alert is lost or
changed by that shortcut: the same items, counts, rates and first shares as the rule
computed item by item in Python over every share.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.store import Store
from spreadtrace.store.report_queries import _ALERT_ITEMS

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def brute_force(posts, cascades, narratives, runs, window_s, floor, ratio, at):
    """The rule item by item (module comment of report_queries, "Alerts")."""
    late = [
        t
        for _pid, t, run in posts
        if runs.get(run) is None or t <= runs[run] + timedelta(minutes=5)
    ]
    t_end = at if at is not None else (max(late) if late else None)
    if t_end is None:
        return set()
    t_start = t_end - timedelta(seconds=window_s)
    times: dict[str, list[datetime]] = {}
    for pid, t, _run in posts:  # posts may repeat an id: every row is a share
        times.setdefault(pid, []).append(t)
    out = set()
    for kind, pairs in (("cascade", cascades), ("narrative", narratives)):
        items: dict[str, list[datetime]] = {}
        for pid, item in pairs:
            items.setdefault(item, []).extend(t for t in times.get(pid, []) if t <= t_end)
        for item, ts in items.items():
            if not ts:
                continue
            recent = sum(t > t_start for t in ts)
            earlier = len(ts) - recent
            first = min(ts)
            rate = earlier / max((t_start - first).total_seconds() / window_s, 1.0)
            if recent >= floor and recent >= ratio * rate:
                out.add((kind, item, recent, earlier, first, round(rate, 9)))
    return out


share_times = st.integers(min_value=0, max_value=48 * 60)  # minutes over two days


@given(
    posts=st.lists(
        st.tuples(st.integers(0, 25), share_times, st.sampled_from([1, 2, 3])),
        max_size=60,
    ),
    cascades=st.lists(st.tuples(st.integers(0, 25), st.integers(0, 5)), max_size=40),
    narratives=st.lists(st.tuples(st.integers(0, 25), st.integers(0, 3)), max_size=40),
    window_m=st.sampled_from([30, 60, 600, 3000]),
    floor=st.integers(1, 4),
    ratio=st.sampled_from([0.5, 1.0, 3.0]),
    at_m=st.none() | share_times,
)
@settings(max_examples=60, deadline=None)
def test_sql_alerts_equal_the_rule_item_by_item(
    posts, cascades, narratives, window_m, floor, ratio, at_m
):
    posts = [(f"p{i}", T0 + timedelta(minutes=m), run) for i, m, run in posts]
    cascades = sorted({(f"p{i}", f"c{k}") for i, k in cascades})
    narratives = sorted({(f"p{i}", f"n{k}") for i, k in narratives})
    # run 1 finished early (its later posts are dated after their ingest: skewed clocks);
    # run 3 has no ingest_runs row (its posts count as on time)
    runs = {1: T0 + timedelta(hours=40), 2: T0 + timedelta(days=100)}
    at = None if at_m is None else T0 + timedelta(minutes=at_m)
    with Store.open(":memory:") as store:
        con = store.con
        con.executemany(
            "INSERT INTO ingest_runs (ingest_run_id, path, content_hash, format, rows_read,"
            " rows_inserted, rows_duplicate, rows_rejected, started_at, finished_at)"
            " VALUES (?, 'f', ?, 'posts', 0, 0, 0, 0, ?, ?)",
            [[run, str(run), T0, end] for run, end in runs.items()],
        )
        if posts:
            con.executemany(
                "INSERT INTO posts (post_id, account_id, created_at, kind, platform,"
                " ingest_run_id) VALUES (?, 'a', ?, 'original', 't', ?)",
                [list(p) for p in posts],
            )
        if cascades:
            con.executemany(
                "INSERT INTO post_cascades (post_id, cascade_id, depth, descendants, build_id)"
                " VALUES (?, ?, 0, 0, 1)",
                [list(c) for c in cascades],
            )
        if narratives:
            con.executemany(
                "INSERT INTO post_narratives VALUES (?, ?, 'text', 1)",
                [list(n) for n in narratives],
            )
        rows = con.execute(
            f"SELECT kind, item_id, recent, earlier, first_at, earlier_rate FROM ({_ALERT_ITEMS})",
            {"window_s": window_m * 60.0, "floor": floor, "ratio": ratio, "at": at},
        ).fetchall()
    got = {(k, i, r, e, f, round(rate, 9)) for k, i, r, e, f, rate in rows}
    assert len(got) == len(rows)
    expected = brute_force(posts, cascades, narratives, runs, window_m * 60.0, floor, ratio, at)
    assert got == expected


def test_the_brute_force_rule_can_alert():
    """A quiet cascade that takes off alerts; a steady one does not (the rule is live)."""
    posts = [(f"p{i}", T0 + timedelta(minutes=10 * i), 3) for i in range(30)]
    burst = [(f"b{i}", T0 + timedelta(minutes=290, seconds=i), 3) for i in range(5)]
    cascades = [(p, "steady") for p, _t, _r in posts] + [(p, "burst") for p, _t, _r in burst]
    got = brute_force(posts + burst, cascades, [], {}, 3600.0, 3, 2.0, None)
    assert {item for _k, item, *_ in got} == {"burst"}
    assert pytest.approx(0.0) == next(iter(got))[5]

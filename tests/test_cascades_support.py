"""Helpers for the cascade/build/export tests: put posts and follows straight into a store.

The ingest path is another module's job; these tests write the canonical tables
directly (bound parameters, one executemany) so they exercise the build alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from spreadtrace.store import Store

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def insert_posts(store: Store, rows: list[tuple], *, run_id: int = 1) -> None:
    """rows: (post_id, account_id, minutes after T0, parent_id | None, kind)."""
    new_posts = pa.table(  # noqa: F841 (read by DuckDB by name below)
        {
            "post_id": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "created_at": pa.array([at(r[2]) for r in rows], pa.timestamp("us", tz="UTC")),
            "parent_id": pa.array([r[3] for r in rows], pa.string()),
            "kind": [r[4] for r in rows],
            "platform": ["test"] * len(rows),
            "ingest_run_id": [run_id] * len(rows),
        }
    )
    store.con.execute("INSERT INTO posts BY NAME SELECT * FROM new_posts")  # a local arrow table


def insert_follows(store: Store, pairs: list[tuple], *, run_id: int = 1) -> None:
    """pairs: (follower_id, followee_id) or (follower_id, followee_id, minutes after T0)."""
    if not pairs:
        return
    store.con.executemany(
        "INSERT INTO follows (follower_id, followee_id, created_at, ingest_run_id) "
        "VALUES (?, ?, ?, ?)",
        [(p[0], p[1], at(p[2]) if len(p) > 2 else None, run_id) for p in pairs],
    )


def table_rows(store: Store, table: str) -> list[tuple]:
    """A derived table's rows without build_id, sorted: for equality across builds."""
    cols = [
        r[0]
        for r in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND column_name <> 'build_id' ORDER BY ordinal_position",
            [table],
        ).fetchall()
    ]
    quoted = ", ".join(f'"{c}"' for c in cols)
    return sorted(
        store.con.execute(f"SELECT {quoted} FROM {table}").fetchall(),
        key=lambda r: tuple("" if v is None else str(v) for v in r),
    )


def parents(store: Store) -> dict[str, tuple]:
    """post_id -> (parent_id, parent_source, depth, cascade_id, descendants)."""
    return {
        r[0]: r[1:]
        for r in store.con.execute(
            "SELECT post_id, parent_id, parent_source, depth, cascade_id, descendants "
            "FROM post_cascades"
        ).fetchall()
    }

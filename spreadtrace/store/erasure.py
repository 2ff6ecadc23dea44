# ruff: noqa: S608 -- only fixed table names are spliced; values are bound
"""The SQL of erasure (``spreadtrace forget``) and retention (``run --retain``).

Why here: only ``spreadtrace/store`` talks to DuckDB. Both are set-wise: one
statement per table, whatever the number of accounts or posts.

Erasure removes an account's posts, profile snapshots and follows, the reject rows
whose raw line names it, and every trace of it left in *other* rows: a repost of an
erased post keeps its place (its parent becomes an opaque token, as for an original
never ingested, so the other accounts' cascades keep their shape), and the account's
handle, id and post ids are masked in others' texts, URLs and profile texts. The
derived tables are then rebuilt by the caller (a full build), and the store file is
compacted (:meth:`spreadtrace.store.Store.compact`), since DuckDB leaves deleted rows
in free blocks of the file.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from spreadtrace.store import Store

__all__ = [
    "ErasureCounts",
    "erase_accounts",
    "pending_erasures",
    "complete_erasure",
    "drop_posts_before",
]

MASK = "[erased]"
_CHUNK = 400  # alternatives per regular expression


@dataclass
class ErasureCounts:
    """How many rows an erasure removed or rewrote (never which ones)."""

    accounts: int = 0
    posts: int = 0
    snapshots: int = 0
    follows: int = 0
    rejects: int = 0
    references_rewritten: int = 0
    texts_masked: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def random_token() -> Callable[[str], str]:
    """A token function with a fresh random key: one erased post id -> one opaque id.

    Stable within one erasure (reposts of one erased post stay together), and not
    recomputable afterwards (the key is never stored), so no one can test a guessed
    post id against it.
    """
    key = secrets.token_bytes(32)
    return lambda post_id: "erased-" + hashlib.sha256(key + post_id.encode()).hexdigest()[:16]


def _alternations(values: list[str]) -> list[str]:
    """Case-insensitive RE2 patterns matching any of ``values`` as a whole word (not
    inside a longer name or number), in chunks: group 1 and 3 are the boundaries,
    kept by the replacement ``\\1[erased]\\3``."""
    ordered = sorted({v for v in values if v}, key=len, reverse=True)
    return [
        "(?i)(^|[^\\pL\\pN_])("
        + "|".join(re.escape(v) for v in ordered[i : i + _CHUNK])
        + ")($|[^\\pL\\pN_])"
        for i in range(0, len(ordered), _CHUNK)
    ]


def erase_accounts(
    store: Store, account_ids: list[str], *, token: Callable[[str], str] | None = None
) -> tuple[int, ErasureCounts]:
    """Remove the accounts' data and their traces in other rows; return the erasure id
    and its counts.

    One transaction, which also records the erasure in ``erasures`` (counts only,
    ``completed_at`` NULL): derived tables are not touched, and until
    :func:`complete_erasure` marks it done after the full rebuild, compaction and
    republication, :func:`pending_erasures` tells the next job to finish the work.
    """
    token = token or random_token()
    counts = ErasureCounts(accounts=len(set(account_ids)))
    with store.transaction() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE _er_accounts AS SELECT unnest(?) AS account_id",
                    [sorted(set(account_ids))])  # fmt: skip
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _er_posts AS SELECT DISTINCT post_id FROM posts "
            "WHERE account_id IN (SELECT account_id FROM _er_accounts)"
        )
        handles = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT handle FROM account_snapshots WHERE handle IS NOT NULL AND "
                "account_id IN (SELECT account_id FROM _er_accounts) UNION "
                "SELECT handle FROM accounts WHERE handle IS NOT NULL AND "
                "account_id IN (SELECT account_id FROM _er_accounts)"
            ).fetchall()
        ]
        post_ids = [r[0] for r in con.execute("SELECT post_id FROM _er_posts").fetchall()]
        names = sorted(set(account_ids)) + [h.lstrip("@") for h in handles if h.lstrip("@")]
        # the raw lines of rejected rows that name the account or its posts
        for pattern in _alternations(names + post_ids):
            counts.rejects += _count(
                con, "DELETE FROM rejects WHERE regexp_matches(raw, $p)", {"p": pattern}
            )
        counts.posts = _count(
            con, "DELETE FROM posts WHERE post_id IN (SELECT post_id FROM _er_posts)"
        )
        counts.snapshots = _count(
            con,
            "DELETE FROM account_snapshots WHERE account_id IN (SELECT account_id FROM _er_accounts)",
        )
        con.execute(
            "DELETE FROM accounts WHERE account_id IN (SELECT account_id FROM _er_accounts)"
        )
        counts.follows = _count(
            con,
            "DELETE FROM follows WHERE follower_id IN (SELECT account_id FROM _er_accounts) "
            "OR followee_id IN (SELECT account_id FROM _er_accounts)",
        )
        # others' posts that point at an erased post: an opaque token instead
        mapping = [(p, token(p)) for p in post_ids]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _er_tokens AS "
            "SELECT unnest(?) AS post_id, unnest(?) AS token",
            [[m[0] for m in mapping], [m[1] for m in mapping]],
        )
        counts.references_rewritten = _count(
            con,
            "UPDATE posts SET parent_id = t.token FROM _er_tokens t WHERE posts.parent_id = t.post_id",
        )
        counts.references_rewritten += _count(
            con,
            "UPDATE posts SET root_id = t.token FROM _er_tokens t WHERE posts.root_id = t.post_id",
        )
        # derived rows naming erased posts go now; the full rebuild recomputes the rest
        con.execute(
            "DELETE FROM data_quality WHERE post_id IN (SELECT post_id FROM _er_posts) "
            "OR cascade_id IN (SELECT post_id FROM _er_posts)"
        )
        # URL keys persist across builds (only new URLs are keyed): drop them all, so no
        # raw URL naming the account outlives the erasure; the rebuild keys them again
        con.execute("DELETE FROM url_keys")
        # the items stage's text state holds normalised root texts (the erased posts'
        # and others' naming the account, masked below): all of it goes, the rebuild
        # (a full build, which starts the state afresh) hashes the texts again
        con.execute("DELETE FROM text_norms")
        con.execute("DELETE FROM text_pairs")
        # imported here, not at the top: every scheduled run imports this module (to
        # look for an erasure to finish), and these two import polars and numpy
        from spreadtrace.store import accounts_state, narrative_state, origin_state

        # the accounts stage's state names accounts and posts (shares, co-shares, features):
        # all of it goes, the rebuild starts it afresh
        accounts_state.forget_all(con)
        # the narratives grouping's state holds the roots' URL keys and hashtags
        narrative_state.forget_all(con)
        # the item origins' state names accounts and cascades (erased posts' among them)
        origin_state.forget_all(con)
        # Community Notes about an erased post carry its id: they go with it
        con.execute(
            "DELETE FROM community_note_status WHERE note_id IN (SELECT note_id FROM "
            "community_notes WHERE post_id IN (SELECT post_id FROM _er_posts))"
        )
        con.execute("DELETE FROM community_notes WHERE post_id IN (SELECT post_id FROM _er_posts)")
        # names and post ids written in others' texts, URLs and profiles
        for pattern in _alternations(names + post_ids):
            args = {"p": pattern, "m": f"\\1{MASK}\\3"}
            counts.texts_masked += _count(
                con,
                "UPDATE posts SET text = regexp_replace(text, $p, $m, 'g'), "
                "urls = list_transform(urls, lambda u: regexp_replace(u, $p, $m, 'g')) "
                "WHERE regexp_matches(text, $p) OR "
                "list_bool_or(list_transform(urls, lambda u: regexp_matches(u, $p)))",
                args,
            )
            con.execute(
                "UPDATE community_notes SET summary = regexp_replace(summary, $p, $m, 'g') "
                "WHERE regexp_matches(summary, $p)",
                args,
            )
            for table in ("account_snapshots", "accounts"):
                con.execute(
                    f"UPDATE {table} SET description = regexp_replace(description, $p, $m, 'g'),"
                    " display_name = regexp_replace(display_name, $p, $m, 'g') "
                    "WHERE regexp_matches(description, $p) OR regexp_matches(display_name, $p)",
                    args,
                )
        for name in ("_er_accounts", "_er_posts", "_er_tokens"):
            con.execute(f"DROP TABLE {name}")
        erasure_id = con.execute(
            "SELECT coalesce(max(erasure_id), 0) + 1 FROM erasures"
        ).fetchall()[0][0]
        con.execute(
            "INSERT INTO erasures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
            [
                erasure_id,
                datetime.now(UTC),
                counts.accounts,
                counts.posts,
                counts.snapshots,
                counts.follows,
                counts.rejects,
                counts.references_rewritten,
                counts.texts_masked,
            ],
        )
    return int(erasure_id), counts


def pending_erasures(store: Store) -> list[int]:
    """Erasures whose rebuild, compaction or republication has not finished (a crash)."""
    rows = store.con.execute(
        "SELECT erasure_id FROM erasures WHERE completed_at IS NULL ORDER BY 1"
    ).fetchall()
    return [int(r[0]) for r in rows]


def complete_erasure(store: Store, erasure_ids: list[int], build_id: int) -> None:
    """Mark erasures done: rebuilt by ``build_id``, compacted and republished."""
    with store.transaction() as con:
        con.execute(
            "UPDATE erasures SET build_id = ?, completed_at = ? WHERE list_contains(?, erasure_id)",
            [build_id, datetime.now(UTC), erasure_ids],
        )


def drop_posts_before(store: Store, cutoff: datetime) -> int:
    """Delete every post created before ``cutoff`` (one statement); return how many."""
    with store.transaction() as con:
        return _count(con, "DELETE FROM posts WHERE created_at < ?", [cutoff])


def _count(con, sql: str, params: object = None) -> int:  # type: ignore[no-untyped-def]
    row = con.execute(sql, params).fetchone() if params is not None else con.execute(sql).fetchone()
    return int(row[0]) if row else 0

"""Pseudonymised reports leak no identity: ids, handles, DIDs, post ids, paths.

Each fixture (canonical CSV, Twitter v1.1 and v2, Bluesky) is ingested and built for
real, a few posts that carry identities inside text are added (a status URL with the
handle, a full-width mention, a Bluesky profile URL, a bare DID), and every value that
could identify an account is collected from the store itself; none may appear in any
pseudonymised report or its manifest. (A bare word in free text that happens to equal
an id or handle, with no @ and no URL around it, is text and is kept.)
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.reports import REPORT_FILES, write_reports
from spreadtrace.store import Store
from spreadtrace.store.report_queries import mask_accounts, mask_accounts_sql
from tests.test_reports import _starts_formula

DATA = Path(__file__).parent / "data" / "ingest"
SECRET = "privacy-test-secret-0123"
FIXTURES = {
    "canonical": ["accounts.csv", "follows.csv", "posts.csv"],
    "twitter-v1": ["twitter_v1.jsonl"],
    "twitter-v2": ["twitter_v2.jsonl"],
    "bluesky": ["bluesky.jsonl"],
}


def _store_with(tmp_path: Path, files: list[str]) -> Store:
    store = Store.open(tmp_path / "store.duckdb")
    for name in files:
        ingest_file(store, DATA / name)
    con = store.con
    # identities hidden in text, by the accounts of the store
    rows = con.execute(
        "SELECT a.account_id, coalesce(h.handle, a.account_id) FROM "
        "(SELECT DISTINCT account_id FROM posts) a LEFT JOIN accounts h USING (account_id) "
        "ORDER BY 1 LIMIT 2"
    ).fetchall()
    (a_id, a_handle), (b_id, b_handle) = rows[0], rows[-1]
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform,"
        " ingest_run_id) VALUES "
        "('leak-1', ?, '2024-09-09 20:00:00+00', 'original', ?, 'test', 1),"
        "('leak-2', ?, '2024-09-09 20:00:01+00', 'repost', ?, 'test', 1)",
        [
            a_id,
            f"see x.com/{a_handle}/status/1 and twitter.com/@{b_handle} and "
            f"bsky.app/profile/{b_handle}/post/3k ＠{b_handle} ＠\u200b{a_handle} @{b_id}"
            "; =cmd|' /C calc'!A0 ; \u00a0＝1",
            b_id,
            f"{b_handle}.bsky.social says did:plc:zzzz1 via https://mobile.x.com/{a_handle}",
        ],
    )
    con.execute("UPDATE posts SET parent_id = 'leak-1' WHERE post_id = 'leak-2'")
    run_build(store, publish=False)
    return store


def _identities(store: Store) -> set[str]:
    """Every value of the store that names an account or a platform post."""
    con = store.con
    values: set[str] = set()
    for sql in (
        "SELECT account_id FROM posts",
        "SELECT account_id FROM account_snapshots",
        "SELECT handle FROM account_snapshots WHERE handle IS NOT NULL",
        "SELECT follower_id FROM follows UNION SELECT followee_id FROM follows",
        "SELECT post_id FROM posts",
        "SELECT parent_id FROM posts WHERE parent_id IS NOT NULL",
        "SELECT cascade_id FROM cascades",
        "SELECT narrative_id FROM narratives",
    ):
        values |= {str(r[0]) for r in con.execute(sql).fetchall()}
    # DIDs inside at:// post ids, and handles without the leading @
    for v in list(values):
        values |= set(re.findall(r"did:[a-z]+:[A-Za-z0-9._:%-]+", v))
        values.add(v.lstrip("@"))
    values.add("did:plc:zzzz1")
    return {v for v in values if v}


def _leaks(text: str, identities: set[str]) -> list[str]:
    """Identities found in ``text``: as a substring when long enough to be unambiguous,
    else as a whole token (short all-digit ids are skipped: they equal counts)."""
    tokens = set(re.findall(r"[^\s,;\"'/@＠]+", text.lower()))
    found = []
    for value in identities:
        v = value.lower()
        if (len(v) >= 6 and v in text.lower()) or (v in tokens and not v.isdigit()):
            found.append(value)
    return sorted(found)


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_pseudonymised_reports_name_no_account_post_did_or_path(tmp_path, fixture):
    store = _store_with(tmp_path, FIXTURES[fixture])
    try:
        identities = _identities(store)
        result = write_reports(store, tmp_path / "reports", pseudonymize=SECRET)
    finally:
        store.close()
    assert result.rows["cascades.csv"] > 0
    for name in [*REPORT_FILES, "manifest.json"]:
        text = (result.run_dir / name).read_text(encoding="utf-8")
        assert _leaks(text, identities) == [], name
        assert str(tmp_path) not in text and SECRET not in text, name
    cascades = (result.run_dir / "cascades.csv").read_text(encoding="utf-8")
    assert "x.com/[account]/status/1" in cascades and "@[account]" in cascades
    assert ";' =cmd|" in cascades  # the planted formula is there, neutralised
    # and no cell starts a formula, whichever separator the spreadsheet splits on
    for name in REPORT_FILES:
        for delimiter in (",", ";"):
            with open(result.run_dir / name, newline="", encoding="utf-8") as fh:
                for row in csv.reader(fh, delimiter=delimiter):
                    assert not [c for c in row if _starts_formula(c)], (name, delimiter, row)
    assert "p_" in cascades and "acct_" in cascades


def test_without_pseudonymisation_the_same_check_finds_the_identities(tmp_path):
    """The leak check can fail: unpseudonymised reports do show the ids."""
    store = _store_with(tmp_path, FIXTURES["bluesky"])
    try:
        identities = _identities(store)
        result = write_reports(store, tmp_path / "reports")
    finally:
        store.close()
    text = (result.run_dir / "cascades.csv").read_text(encoding="utf-8")
    assert any(v.startswith("did:plc:") for v in _leaks(text, identities))


def test_cli_refuses_a_short_secret_in_one_line(tmp_path, runner):
    from spreadtrace.cli import main

    db = tmp_path / "s.duckdb"
    Store.open(db).close()
    for command in (["report", "--out", str(tmp_path / "r")],):
        result = runner.invoke(
            main, ["--db", str(db), *command], env={"SPREADTRACE_PSEUDONYMIZE": "s3cret"}
        )
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "at least 16 characters" in lines[0], result.output
    assert not (tmp_path / "r").exists()


_MASK_CON = None


@given(
    st.lists(
        st.sampled_from(
            ["@", "＠", "﹫", "\u200b", "bob_y", "ａｌｉｃｅ", "x.com/", "twitter.com/",
             "bsky.app/profile/", ".bsky.social", "did:plc:", "abc123", "/status/1", " ",
             "é", "-", ".", "mail@example.org", "www.", "ß", "²"]
        ),
        max_size=8,
    ).map("".join)
)  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_account_masking_sql_equals_python(text):
    """The reports mask in DuckDB (RE2), the dashboard's viewer role in Python (re):
    both must mask the same traces."""
    global _MASK_CON
    if _MASK_CON is None:
        _MASK_CON = duckdb.connect()
    sql = mask_accounts_sql("$t")
    assert _MASK_CON.execute(f"SELECT {sql}", {"t": text}).fetchone()[0] == mask_accounts(text)

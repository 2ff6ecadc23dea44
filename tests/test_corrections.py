"""Claim versus correction: fact-check domains, correction posts, per-narrative figures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from spreadtrace.corrections import factcheck_domains, is_factcheck_host
from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline.build import run_build
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.store import Store
from tests._accounts_helpers import T0, insert_posts

CLAIM = "https://news.example/memo"


def test_hosts_match_domains_and_subdomains_only() -> None:
    hosts = [
        "snopes.com",
        "www.snopes.com",
        "notsnopes.com",
        "snopes.com.evil.example",
        "FullFact.org",
        None,
        "factcheck.afp.com",
        "afp.com",
    ]
    assert is_factcheck_host(hosts).to_list() == [
        True,
        True,
        False,
        False,
        True,
        False,
        True,
        False,
    ]


def test_users_extend_the_list_with_a_file(tmp_path) -> None:
    extra = tmp_path / "mine.txt"
    extra.write_text("# our own desk\nwww.checkers.example\n", encoding="utf-8")
    assert "checkers.example" not in factcheck_domains()
    domains = factcheck_domains(extra)
    assert "checkers.example" in domains and "snopes.com" in domains
    assert is_factcheck_host(["desk.checkers.example"], domains).to_list() == [True]


def _world(store: Store) -> None:
    # seconds after T0: a claim cascade c0 <- {c1, c2}; d replies with a fact-check (f0)
    # at 100 s; b (a claim sharer) reposts the fact-check at 200 s, c replies to it at
    # 150 s, a never meets it. A second narrative (other.example) gets no correction.
    insert_posts(
        store,
        [
            ("c0", "a", 0, None, "original", [CLAIM]),
            ("c1", "b", 10, "c0", "repost", [CLAIM]),
            ("c2", "c", 20, "c0", "repost", [CLAIM]),
            ("f0", "d", 100, "c0", "reply", ["https://www.snopes.com/fact-check/memo/"]),
            ("r1", "c", 150, "f0", "reply"),
            ("s1", "b", 200, "f0", "repost"),
            ("o0", "x", 0, None, "original", ["https://other.example/a"]),
            ("o1", "y", 5, "o0", "repost", ["https://other.example/a"]),
        ],
    )


def test_per_narrative_claim_against_correction(mem_store: Store) -> None:
    _world(mem_store)
    run_build(mem_store)
    rows = mem_store.con.execute(
        "SELECT n.narrative_id, claim_posts, claim_accounts, correction_posts, correction_accounts, "
        "first_correction_at, correction_delay_s, claim_accounts_corrected FROM narratives n "
        "ORDER BY 1"
    ).fetchall()
    # one narrative per cascade here (n-<root>)
    memo, other = rows
    # claim: c0, c1, c2 by a, b, c; corrections: f0 (the link) and s1 (its repost) by d, b;
    # r1 (a reply to the correction) is neither
    assert memo[1:5] == (3, 3, 2, 2)
    assert memo[5] == T0 + timedelta(seconds=100)
    assert memo[6] == pytest.approx(100.0)  # first claim post at 0 s, first correction 100 s
    # b reposted the correction (200 s > 10 s) and c replied to it (150 s > 20 s); a did not
    assert memo[7] == pytest.approx(2 / 3)
    assert other[1:] == (2, 2, 0, 0, None, None, 0.0)


def test_a_user_domain_file_turns_posts_into_corrections(mem_store: Store, tmp_path) -> None:
    from spreadtrace.pipeline.build import BuildParams

    _world(mem_store)
    extra = tmp_path / "desk.txt"
    extra.write_text("other.example\n", encoding="utf-8")
    run_build(mem_store, params=BuildParams(narratives=NarrativeParams(factcheck_file=str(extra))))
    row = mem_store.con.execute(
        "SELECT claim_posts, correction_posts, is_correction FROM narratives ORDER BY 1"
    ).fetchall()
    # n-c0 stays a claim (3 claim posts against 2); n-o0 is now all correction
    assert row == [(0, 2, True), (3, 2, False)]


def test_cli_build_takes_a_factcheck_domain_file(tmp_path) -> None:
    from click.testing import CliRunner

    from spreadtrace.cli import main

    db = tmp_path / "s.duckdb"
    with Store.open(db) as store:
        _world(store)
    extra = tmp_path / "desk.txt"
    extra.write_text("other.example\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--db", str(db), "build", "--quiet", "--factcheck-domains", str(extra)]
    )
    assert result.exit_code == 0, result.output
    with Store.open(db) as store:
        row = store.con.execute(
            "SELECT claim_posts, correction_posts FROM narratives WHERE narrative_id = 'n-o0'"
        ).fetchall()
    assert row == [(0, 2)]


NOTES_DIR = Path(__file__).parent / "data" / "community_notes"


def test_community_notes_download_is_read_with_its_documented_columns(mem_store: Store) -> None:
    notes = ingest_file(mem_store, NOTES_DIR / "notes-00000.tsv")
    status = ingest_file(mem_store, NOTES_DIR / "noteStatusHistory-00000.tsv")
    assert notes.format == "community-notes" and status.format == "community-notes-status"
    # 3 rows: 2 notes, 1 rejected (noteId "x9"); counts reconcile
    assert (notes.rows_read, notes.rows_inserted, notes.rows_rejected) == (3, 2, 1)
    assert notes.reject_reasons == {"noteId is not a number": 1}
    rows = mem_store.con.execute(
        "SELECT note_id, post_id, created_at, classification, misleading_reasons, "
        "misleading_manipulated_media, s.first_shown_at, s.current_status "
        "FROM community_notes LEFT JOIN community_note_status s USING (note_id) ORDER BY 1"
    ).fetchall()
    assert rows == [
        (
            "1001",
            "9001",
            T0 + timedelta(seconds=300),
            "MISINFORMED_OR_POTENTIALLY_MISLEADING",
            ["misleadingFactualError", "misleadingManipulatedMedia"],
            True,
            T0 + timedelta(seconds=3600),  # first rated helpful: shown
            "CURRENTLY_RATED_HELPFUL",
        ),
        (
            "1002",
            "9002",
            T0 + timedelta(seconds=400),
            "NOT_MISLEADING",
            [],
            False,
            None,
            "NEEDS_MORE_RATINGS",
        ),
    ]
    # the status download is a snapshot: loading it again replaces, never doubles
    again = ingest_file(mem_store, NOTES_DIR / "noteStatusHistory-00000.tsv")
    assert (again.rows_inserted, again.rows_duplicate) == (0, 2)
    assert mem_store.con.execute("SELECT count(*) FROM community_note_status").fetchall() == [(2,)]


def test_a_note_is_a_correction_of_its_narrative(mem_store: Store) -> None:
    insert_posts(
        mem_store,
        [("9001", "a", 0, None, "original", [CLAIM]), ("9002", "b", 10, "9001", "repost")],
    )
    ingest_file(mem_store, NOTES_DIR / "notes-00000.tsv")
    ingest_file(mem_store, NOTES_DIR / "noteStatusHistory-00000.tsv")
    run_build(mem_store)
    row = mem_store.con.execute(
        "SELECT claim_posts, correction_posts, notes, first_correction_at, correction_delay_s, "
        "first_note_shown_at FROM narratives WHERE narrative_id = 'n-9001'"
    ).fetchall()[0]
    # the NOT_MISLEADING note 1002 is no correction; note 1001 was written at 300 s
    assert row == (2, 0, 1, T0 + timedelta(seconds=300), 300.0, T0 + timedelta(seconds=3600))


def test_a_bad_line_in_a_notes_download_is_a_reject_not_a_refusal(
    mem_store: Store, tmp_path
) -> None:
    # The real download with one line of invalid UTF-8 spliced in after the header and
    # the x9 row moved after it: the file is read, the bad line is a reject at its own
    # line, and the rows after it keep their physical line numbers.
    lines = (NOTES_DIR / "notes-00000.tsv").read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    bad = b"1003\t\xff\xfeA9\t1709510800000\t9003\tNOT_MISLEADING\n"
    path = tmp_path / "notes-00000.tsv"
    path.write_bytes(header + rows[0] + bad + b"".join(rows[1:]))
    r = ingest_file(mem_store, path)
    assert r.format == "community-notes"
    assert r.rows_read == r.rows_inserted + r.rows_duplicate + r.rows_rejected == 4
    assert (r.rows_inserted, r.rows_rejected) == (2, 2)
    got = mem_store.con.execute(
        "SELECT record_no, reason FROM rejects WHERE ingest_run_id = ? ORDER BY 1",
        [r.ingest_run_id],
    ).fetchall()
    x9_line = 3 + next(i for i, row in enumerate(rows[1:], 1) if row.startswith(b"x9"))
    assert got == sorted(
        [(3, "malformed line: invalid encoding"), (x9_line, "noteId is not a number")]
    )

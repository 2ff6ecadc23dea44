"""Report files: layout, atomic publication, formula injection, pseudonymisation, alerts.

The store tables are filled directly here (no ingest or build needed), so these tests pin
the report writer alone; tests/test_jobs.py drives it through real ingests and builds.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import hmac
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadtrace import reports
from spreadtrace.reports import AlertParams, parse_window, safe_cell, write_reports
from spreadtrace.store.report_queries import REPORTS, SAFE_CELL_MACRO, PseudonymKey

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "s3cret-of-the-desk"  # 18 characters: long enough

# Untrusted strings planted in texts and handles: each must come out neutralised.
EVIL = ['=HYPERLINK("http://x.example","x")', "+1", "-1", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def _post(con, post_id, account_id, at, parent=None, kind="original", text=None):
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, platform,"
        " ingest_run_id) VALUES (?, ?, ?, ?, ?, ?, 'test', 1)",
        [post_id, account_id, at, parent, kind, text],
    )


def fill_world(con, *, scores: bool = True) -> dict[str, list[str]]:
    """A tiny world: 2 cascades, 4 accounts with hostile handles, all score tables.

    c1: root p1 by acct-1 at T0, then 3 reposts by acct-2..4 within a minute.
    c2: root p5 by acct-4 ("=cmd"), single post.
    """
    accounts = {"acct-1": "=cmd", "acct-2": "@evil", "acct-3": "-minus", "acct-4": "plainhandle"}
    for i, (account_id, handle) in enumerate(accounts.items()):
        con.execute(
            "INSERT INTO accounts (account_id, observed_at, handle, platform, ingest_run_id)"
            " VALUES (?, ?, ?, 'test', 1)",
            [account_id, T0 + timedelta(days=i), handle],
        )
    _post(con, "p1", "acct-1", T0, text=EVIL[0] + " see @evil and @plainhandle")
    for i in range(2, 5):
        _post(
            con, f"p{i}", f"acct-{i}", T0 + timedelta(seconds=10 * i), "p1", "repost", EVIL[i - 1]
        )
    _post(con, "p5", "acct-4", T0 + timedelta(hours=2), text="\rCR at start")
    con.execute(
        "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (1, 'full', ?, ?, ?, 5, 2)",
        [json.dumps({"cascades": {"infer": True}}), T0, T0 + timedelta(seconds=3)],
    )
    con.execute(
        "INSERT INTO cascades (cascade_id, root_post_id, root_seen, root_account_id, platform,"
        " size, accounts, depth, max_breadth, structural_virality, first_at, last_at,"
        " time_to_50_s, time_to_90_s, peak_per_hour, reconstruction, build_id) VALUES "
        "('p1','p1',true,'acct-1','test',4,4,1,3,1.5,?,?,10.0,30.0,4,'flat',1),"
        "('p5','p5',true,'acct-4','test',1,1,0,1,NULL,?,?,NULL,NULL,1,'single',1)",
        [T0, T0 + timedelta(seconds=40), T0 + timedelta(hours=2), T0 + timedelta(hours=2)],
    )
    con.execute(
        "INSERT INTO post_cascades (post_id, cascade_id, parent_id, parent_source, depth,"
        " descendants, build_id) VALUES ('p1','p1',NULL,NULL,0,3,1),"
        "('p2','p1','p1','explicit',1,0,1),('p3','p1','p1','explicit',1,0,1),"
        "('p4','p1','p1','explicit',1,0,1),('p5','p5',NULL,NULL,0,0,1)"
    )
    if scores:
        con.execute(
            "INSERT INTO cascade_scores (cascade_id, narrative_id, bot_share, early_bot_share,"
            " coordinated_share, reach_via_bots, amplification_score, amplification_reasons,"
            " build_id, share_bot_only, share_coordinated_only, share_both, share_neither)"
            " VALUES ('p1','n1',0.25,0.5,0.75,0.25,0.6,"
            "'=2+3 shares by bots',1,0.25,0.5,0.0,0.25), ('p5',NULL,0,0,0,0,0,'',1,0,0,0,1)"
        )
        for i, account_id in enumerate(accounts, start=1):
            con.execute(
                "INSERT INTO account_scores VALUES (?, 1, ?, NULL, 0.5, ?, ?, ?, NULL, 'bots-v1', 1,"
                " 0.0, 'sufficient')",
                [account_id, int(i > 1), i / 10, i >= 3, "-reacts in 2 s"],
            )
        con.execute(
            "INSERT INTO narratives (narrative_id, label, kind, cascades, posts, accounts,"
            " first_at, last_at, origin_account_id, origin_score, bot_share, early_bot_share,"
            " coordinated_share, reach_via_bots, amplification_score, amplification_reasons,"
            " build_id, share_bot_only, share_coordinated_only, share_both, share_neither)"
            " VALUES ('n1', '+label from @evil', 'text', 1, 4, 4, ?, ?,"
            " 'acct-1', 0.9, 0.25, 0.5, 0.75, 0.25, 0.6, '@reasons', 1, 0.25, 0.5, 0.0, 0.25)",
            [T0, T0 + timedelta(seconds=40)],
        )
        con.execute(
            "INSERT INTO post_narratives SELECT post_id, 'n1', 'text', 1 FROM posts "
            "WHERE post_id <> 'p5'"
        )
        con.execute("INSERT INTO account_origin VALUES ('acct-1', 0.8, 1, 1)")
        con.execute("INSERT INTO coordination_pairs VALUES ('acct-2','acct-3',2,0.9,'k1',1)")
        con.execute(
            "INSERT INTO coordination_clusters VALUES ('k1','acct-2',2,1),('k1','acct-3',2,1)"
        )
    return {"ids": list(accounts), "handles": list(accounts.values())}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def all_cells(folder: Path) -> list[str]:
    cells = []
    for name in reports.REPORT_FILES:
        with open(folder / name, newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                cells.extend(row)
    return cells


# --- layout --------------------------------------------------------------------------


def test_writes_every_file_with_header_in_declared_order(file_store, tmp_path):
    fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out")
    assert result.run_dir.parent == tmp_path / "out"
    assert result.latest_dir == tmp_path / "out" / "latest"
    for query in REPORTS:
        path = result.run_dir / f"{query.name}.csv"
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == query.header
        # the latest copy is byte-identical
        assert path.read_bytes() == (result.latest_dir / path.name).read_bytes()
    # leading columns named by issues 4/5, in their order
    assert REPORTS[0].header[:9] == [
        "cascade_id", "root_account_id", "size", "accounts", "depth", "max_breadth",
        "structural_virality", "first_at", "last_at",
    ]  # fmt: skip
    assert REPORTS[1].header[:8] == [
        "account_id", "handle", "posts", "reposts", "bot_score", "bot_reasons",
        "origin_index", "coordination_cluster",
    ]  # fmt: skip
    # no temp names or staging folders left behind
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")) == [
        ".lock"
    ]


def test_accounts_evidence_and_amplification_decomposition_columns(file_store, tmp_path):
    # issue 10: accounts.csv gains coordination_score and bot_evidence; cascades.csv and
    # narratives.csv the decomposition of where the spread came from
    fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out")
    accounts = read_csv(result.run_dir / "accounts.csv")
    assert {r["bot_evidence"] for r in accounts if r["bot_evidence"]} == {"sufficient"}
    assert {r["coordination_score"] for r in accounts if r["coordination_score"]} == {"0.0"}
    parts = ("share_bot_only", "share_coordinated_only", "share_both", "share_neither")
    cascade = read_csv(result.run_dir / "cascades.csv")[0]
    assert [cascade[c] for c in parts] == ["0.25", "0.5", "0.0", "0.25"]
    narrative = read_csv(result.run_dir / "narratives.csv")[0]
    assert [narrative[c] for c in parts] == ["0.25", "0.5", "0.0", "0.25"]


def test_rows_times_and_manifest(file_store, tmp_path):
    fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out")
    cascades = read_csv(result.run_dir / "cascades.csv")
    # ordered by size desc: the 4-post cascade first
    assert [r["cascade_id"] for r in cascades] == ["p1", "p5"]
    assert cascades[0]["first_at"] == "2024-05-01T12:00:00.000Z"
    assert cascades[0]["last_at"] == "2024-05-01T12:00:40.000Z"
    assert cascades[0]["amplification_score"] == "0.6"
    assert cascades[1]["structural_virality"] == ""  # NULL -> empty cell
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest == json.loads((result.latest_dir / "manifest.json").read_text())
    assert manifest["build"]["build_id"] == 1
    assert manifest["build"]["params"] == {"cascades": {"infer": True}}
    assert manifest["model_versions"] == ["bots-v1"]
    assert manifest["pseudonymized"] is False
    assert manifest["created_at"].endswith("Z")
    assert manifest["files"]["cascades.csv"]["rows"] == 2
    assert manifest["files"]["accounts.csv"]["rows"] == 4
    for name, info in manifest["files"].items():
        data = (result.run_dir / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert len(read_csv(result.run_dir / name)) == info["rows"] == result.rows[name]


def test_cascades_report_works_before_scores_exist(file_store, tmp_path):
    fill_world(file_store.con, scores=False)
    result = write_reports(file_store, tmp_path / "out")
    rows = read_csv(result.run_dir / "cascades.csv")
    assert [r["size"] for r in rows] == ["4", "1"]
    assert rows[0]["amplification_score"] == "" and rows[0]["narrative_id"] == ""
    accounts = read_csv(result.run_dir / "accounts.csv")
    # posts/reposts come from the posts table when account scores are missing
    by_id = {r["account_id"]: r for r in accounts}
    assert by_id["acct-2"]["posts"] == "1" and by_id["acct-2"]["reposts"] == "1"
    assert by_id["acct-4"]["posts"] == "2" and by_id["acct-4"]["reposts"] == "1"  # p4, p5
    assert by_id["acct-1"]["posts"] == "1" and by_id["acct-1"]["reposts"] == "0"
    assert result.rows["narratives.csv"] == 0


def test_empty_store_writes_header_only_files(file_store, tmp_path):
    result = write_reports(file_store, tmp_path / "out")
    assert set(result.rows.values()) == {0}
    assert json.loads((result.run_dir / "manifest.json").read_text())["build"] is None


def test_runs_get_distinct_folders_and_latest_follows(file_store, tmp_path):
    fill_world(file_store.con)
    first = write_reports(file_store, tmp_path / "out")
    file_store.con.execute("DELETE FROM cascades WHERE cascade_id = 'p5'")
    second = write_reports(file_store, tmp_path / "out")
    assert first.run_dir != second.run_dir and first.run_dir.exists()
    assert len(read_csv(first.run_dir / "cascades.csv")) == 2
    assert len(read_csv(second.latest_dir / "cascades.csv")) == 1
    assert json.loads((second.latest_dir / "manifest.json").read_text())["report"] == (
        second.run_dir.name
    )


def test_latest_links_the_run_files_and_outlives_the_run_folder(file_store, tmp_path):
    """latest/ holds the run's files without a second copy; deleting old runs keeps it."""
    fill_world(file_store.con)
    first = write_reports(file_store, tmp_path / "out")
    second = write_reports(file_store, tmp_path / "out")
    for name in [*reports.REPORT_FILES, "manifest.json"]:
        run_file, latest_file = second.run_dir / name, second.latest_dir / name
        assert run_file.stat().st_ino == latest_file.stat().st_ino  # one copy on disk
        assert run_file.stat().st_nlink == 2
        # the previous latest was removed: the first run's files have one name again
        assert (first.run_dir / name).stat().st_nlink == 1
    expected = {n: (second.run_dir / n).read_bytes() for n in reports.REPORT_FILES}
    shutil.rmtree(second.run_dir)  # a user pruning run folders
    assert {n: (second.latest_dir / n).read_bytes() for n in expected} == expected


def test_keep_prunes_the_oldest_runs_and_never_latest_or_other_folders(file_store, tmp_path):
    """keep=N leaves this run and the N-1 newest others; latest/ and a user's folder stay."""
    fill_world(file_store.con)
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    runs = [write_reports(file_store, out) for _ in range(3)]
    assert all(r.removed_runs == 0 for r in runs)  # no keep: every run stays
    fourth = write_reports(file_store, out, keep=2)
    assert fourth.removed_runs == 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [runs[2].run_dir.name, fourth.run_dir.name, "latest", "notes"]
    )
    expected = {n: (fourth.run_dir / n).read_bytes() for n in reports.REPORT_FILES}
    assert {n: (fourth.latest_dir / n).read_bytes() for n in expected} == expected
    # a run folder stamped later than this one (a clock set back) does not push it out
    later = out / "29991231T235959Z"
    later.mkdir()
    fifth = write_reports(file_store, out, keep=1)
    assert fifth.run_dir.exists() and not later.exists()
    assert fifth.removed_runs == 3
    with pytest.raises(ValueError, match="at least 1"):
        write_reports(file_store, out, keep=0)


def test_latest_is_copied_where_hard_links_fail(file_store, tmp_path, monkeypatch):
    fill_world(file_store.con)

    def no_links(src, dst):
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(reports.os, "link", no_links)
    result = write_reports(file_store, tmp_path / "out")
    for name in [*reports.REPORT_FILES, "manifest.json"]:
        run_file, latest_file = result.run_dir / name, result.latest_dir / name
        assert run_file.stat().st_ino != latest_file.stat().st_ino
        assert run_file.read_bytes() == latest_file.read_bytes()


def test_interrupted_write_leaves_no_visible_partial_files(file_store, tmp_path, monkeypatch):
    fill_world(file_store.con)
    out = tmp_path / "out"
    good = write_reports(file_store, out)
    real = reports.export_csv
    calls = {"n": 0}

    def dying(store, query, path, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            path.write_text("cascade_id,root_acc")  # a half-written temp file
            raise KeyboardInterrupt  # as if the process were stopped mid-report
        return real(store, query, path, **kw)

    monkeypatch.setattr(reports, "export_csv", dying)
    with pytest.raises(KeyboardInterrupt):
        write_reports(file_store, out)
    monkeypatch.setattr(reports, "export_csv", real)
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == sorted([good.run_dir.name, "latest"])  # no new run folder
    assert (out / "latest" / "cascades.csv").read_bytes() == (
        good.run_dir / "cascades.csv"
    ).read_bytes()
    # the next write cleans up the staging folder the interrupted one left
    write_reports(file_store, out)
    assert [p.name for p in out.iterdir() if p.name.startswith(".partial")] == []


def test_fallback_latest_swap_is_recovered(file_store, tmp_path, monkeypatch):
    """Without renameat2 the swap is two renames; a crash between them is repaired."""
    fill_world(file_store.con)
    out = tmp_path / "out"
    monkeypatch.setattr(reports, "_exchange", lambda a, b: False)
    write_reports(file_store, out)
    second = write_reports(file_store, out)
    assert (out / "latest" / "manifest.json").exists()
    # simulate the crash window: latest renamed away, new one not yet in place
    (out / "latest").rename(out / ".latest-old")
    write_reports(file_store, out)
    assert (out / "latest").is_dir() and not (out / ".latest-old").exists()
    assert second.run_dir.exists()


# --- formula injection ------------------------------------------------------------------


def test_no_cell_in_any_file_can_start_a_formula(file_store, tmp_path):
    fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out")
    cells = all_cells(result.run_dir)
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
    accounts = {r["account_id"]: r for r in read_csv(result.run_dir / "accounts.csv")}
    assert accounts["acct-1"]["handle"] == "'=cmd"
    assert accounts["acct-2"]["handle"] == "'@evil"
    assert accounts["acct-3"]["handle"] == "'-minus"
    assert accounts["acct-4"]["handle"] == "plainhandle"  # untouched
    assert accounts["acct-3"]["bot_reasons"] == "'-reacts in 2 s"
    cascades = read_csv(result.run_dir / "cascades.csv")
    assert cascades[0]["root_text"].startswith("'=HYPERLINK(")
    assert cascades[1]["root_text"] == "'\rCR at start"  # CR kept, quoted, neutralised
    assert cascades[0]["amplification_reasons"] == "'=2+3 shares by bots"
    narratives = read_csv(result.run_dir / "narratives.csv")
    assert narratives[0]["label"] == "'+label from @evil"


_CON = duckdb.connect()
_CON.execute(SAFE_CELL_MACRO)


@given(st.text(max_size=12) | st.sampled_from(EVIL))
@settings(max_examples=200, deadline=None)
def test_sql_rule_equals_python_safe_cell(text):
    assert _CON.execute("SELECT safe_cell_sql(?)", [text]).fetchone()[0] == safe_cell(text)


@pytest.mark.parametrize("value", EVIL + ["=1", "+SUM(1)", "-2+3", "@A1"])
def test_safe_cell_neutralises_every_formula_prefix(value):
    out = safe_cell(value)
    assert out == "'" + value
    # a spreadsheet reading the CSV sees text starting with a quote, never a formula
    row = next(csv.reader(io.StringIO(_csv_line([out]))))
    assert row == [out]


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(cells)
    return buf.getvalue()


def test_safe_cell_leaves_numbers_and_harmless_text_alone():
    assert safe_cell(-3) == "-3"
    assert safe_cell(0.25) == "0.25"
    assert safe_cell("a-b") == "a-b"
    assert safe_cell("x = 1 + 2") == "x = 1 + 2"  # signs inside text, after no separator
    assert safe_cell(None) == ""


# Each case hides a formula from the old "first character" rule: behind a separator of
# some locale, behind whitespace or NBSP or a zero-width space, or in a full-width form.
HIDDEN = [
    "x;=cmd|' /C calc'!A0",
    "a,+1",
    "a\t@SUM(A1)",
    "a|-2+3",
    " =1",
    "\xa0=1",
    "\u200b=1",
    "\u3000＝1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    'x; "=1"',
    "\u2212 1",
]


def _starts_formula(cell: str) -> bool:
    """What a spreadsheet would run: a formula sign after skippable characters."""
    stripped = cell.lstrip(' \xa0\u200b\u3000\ufeff"\t\r\n')
    if not stripped or stripped[0] not in "=+-@＝＋－＠﹢﹣﹦﹫−":
        return False
    try:
        float(stripped)
        return False  # a number, not a formula
    except ValueError:
        return True


@pytest.mark.parametrize("value", HIDDEN)
def test_formula_hidden_behind_separator_space_or_fullwidth_is_neutralised(value):
    out = safe_cell(value)
    for sep in (",", ";", "\t", "|"):
        assert not any(_starts_formula(part) for part in out.split(sep)), (value, sep, out)
    assert _CON.execute("SELECT safe_cell_sql(?)", [value]).fetchone()[0] == out


@given(st.text(alphabet=',;\t| \xa0\u200b"=+-@＝＋－＠ab1', max_size=12))
@settings(max_examples=300, deadline=None)
def test_no_split_of_a_neutralised_cell_starts_a_formula(text):
    out = safe_cell(text)
    assert _CON.execute("SELECT safe_cell_sql(?)", [text]).fetchone()[0] == out
    for sep in (",", ";", "\t", "|"):
        assert not any(_starts_formula(part) for part in out.split(sep)), (text, sep, out)


def test_every_text_cell_holding_a_separator_is_quoted(file_store, tmp_path):
    fill_world(file_store.con)
    file_store.con.execute(
        "UPDATE posts SET text = ? WHERE post_id = 'p1'", ["x;=cmd|' /C calc'!A0"]
    )
    result = write_reports(file_store, tmp_path / "out")
    raw = (result.run_dir / "cascades.csv").read_text()
    assert "\"x;'=cmd|' /C calc'!A0\"" in raw
    # parsed with ',' and with ';' as the separator (English and German Excel):
    # no cell starts a formula
    for name in reports.REPORT_FILES:
        for delimiter in (",", ";"):
            with open(result.run_dir / name, newline="", encoding="utf-8") as fh:
                for row in csv.reader(fh, delimiter=delimiter):
                    bad = [c for c in row if _starts_formula(c)]
                    assert bad == [], (name, delimiter, bad)


# --- pseudonymisation -------------------------------------------------------------------


def test_pseudonymize_hides_every_id_and_handle_and_keeps_joins(file_store, tmp_path):
    world = fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out", pseudonymize=SECRET)
    text = "\n".join((result.run_dir / name).read_text() for name in reports.REPORT_FILES)
    text += (result.run_dir / "manifest.json").read_text()
    for raw in world["ids"] + [h.lstrip("=@-") for h in world["handles"]]:
        assert raw not in text, raw
    assert SECRET not in text
    key = PseudonymKey.from_secret(SECRET)
    accounts = {r["account_id"]: r for r in read_csv(result.run_dir / "accounts.csv")}
    # SQL HMAC == Python's hmac module
    for account_id in world["ids"]:
        stretched = hashlib.scrypt(
            SECRET.encode(), salt=b"spreadtrace-pseudonym-key-v2", n=2**15, r=8, p=1,
            maxmem=1 << 26, dklen=32,
        )  # fmt: skip
        expected = (
            "acct_"
            + hmac.new(stretched, f"account:{account_id}".encode(), hashlib.sha256).hexdigest()[:16]
        )
        assert expected in accounts
    assert accounts[key.account("acct-1")]["handle"] == key.handle("=cmd")
    # the same pseudonym in every file: joins across files still work
    cascades = read_csv(result.run_dir / "cascades.csv")
    assert cascades[0]["root_account_id"] == key.account("acct-1")
    pairs = read_csv(result.run_dir / "coordination_pairs.csv")
    assert {pairs[0]["account_a"], pairs[0]["account_b"]} == {
        key.account("acct-2"),
        key.account("acct-3"),
    }
    members = read_csv(result.run_dir / "coordination_clusters.csv")
    assert {m["account_id"] for m in members} == {key.account("acct-2"), key.account("acct-3")}
    assert {m["cluster_id"] for m in members} == {key.cluster("k1")} == {pairs[0]["cluster_id"]}
    assert accounts[key.account("acct-2")]["coordination_cluster"] == key.cluster("k1")
    assert read_csv(result.run_dir / "narratives.csv")[0]["origin_account_id"] == key.account(
        "acct-1"
    )
    # @mentions in free text are masked
    assert "@[account]" in cascades[0]["root_text"]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["pseudonymized"] is True and manifest["pseudonym_key_id"] == key.key_id


def test_pseudonyms_stable_per_secret_and_differ_across_secrets(file_store, tmp_path):
    fill_world(file_store.con)
    a1 = write_reports(file_store, tmp_path / "a", pseudonymize="one" * 6)
    a2 = write_reports(file_store, tmp_path / "a", pseudonymize="one" * 6)
    b = write_reports(file_store, tmp_path / "b", pseudonymize="two" * 6)
    for name in reports.REPORT_FILES:
        assert (a1.run_dir / name).read_bytes() == (a2.run_dir / name).read_bytes()
    ids_a = {r["account_id"] for r in read_csv(a1.run_dir / "accounts.csv")}
    ids_b = {r["account_id"] for r in read_csv(b.run_dir / "accounts.csv")}
    assert len(ids_a) == len(ids_b) == 4 and not ids_a & ids_b


def test_empty_or_short_secret_is_refused(file_store, tmp_path):
    with pytest.raises(ValueError, match="secret"):
        write_reports(file_store, tmp_path / "out", pseudonymize="")
    with pytest.raises(ValueError, match="at least 16 characters"):
        write_reports(file_store, tmp_path / "out", pseudonymize="s3cret")


def test_key_fingerprint_is_stretched_and_manifest_has_no_absolute_path(file_store, tmp_path):
    """The manifest's key id is not HMAC(secret) (a guess per hash) but derived from
    scrypt(secret): checking one guess costs a 32 MiB scrypt; and the store is named
    by its file name only."""
    fill_world(file_store.con)
    result = write_reports(file_store, tmp_path / "out", pseudonymize=SECRET)
    manifest_text = (result.run_dir / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    fast = hmac.new(SECRET.encode(), b"spreadtrace-key-id", hashlib.sha256).hexdigest()
    assert fast[:12] not in manifest_text
    assert manifest["pseudonym_key_id"].startswith("scrypt:")
    assert manifest["store"] == Path(file_store.path).name
    assert str(tmp_path) not in manifest_text and "/" not in manifest["store"]


# --- alerts --------------------------------------------------------------------------


def _cascade_posts(con, cascade_id, times, *, start):
    """A cascade whose posts are at ``times`` (offsets) after ``start``; root first."""
    ids = [f"{cascade_id}-{i}" for i in range(len(times))]
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, platform,"
        " ingest_run_id) SELECT id, 'u' || (i % 7), ts, CASE WHEN i > 0 THEN ? END,"
        " CASE WHEN i > 0 THEN 'repost' ELSE 'original' END, ?, 't', 1"
        " FROM (SELECT unnest(?) AS id, unnest(?) AS ts, unnest(range(?)) AS i)",
        [ids[0], f"text of {cascade_id}", ids, [start + dt for dt in times], len(ids)],
    )
    con.execute(
        "INSERT INTO post_cascades (post_id, cascade_id, parent_id, parent_source, depth,"
        " descendants, build_id) SELECT post_id, ?, parent_id, NULL, (parent_id IS NOT NULL)::INT,"
        " 0, 1 FROM posts WHERE post_id LIKE ?",
        [ids[0], f"{cascade_id}-%"],
    )
    con.execute(
        "INSERT INTO cascades (cascade_id, root_post_id, root_seen, root_account_id, platform,"
        " size, accounts, depth, max_breadth, structural_virality, first_at, last_at,"
        " time_to_50_s, time_to_90_s, peak_per_hour, reconstruction, build_id)"
        " VALUES (?, ?, true, 'u0', 't', ?, 1, 1, 1, NULL, ?, ?, NULL,"
        " NULL, 1, 'flat', 1)",
        [ids[0], ids[0], len(ids), start + min(times), start + max(times)],
    )
    return ids[0]


def test_alerts_flag_surges_against_their_own_baseline(file_store, tmp_path):
    con = file_store.con
    h = timedelta(hours=1)
    # Data "now" = T0 + 10h (the newest post); last window = (T0+9h, T0+10h].
    # steady: 30 posts per hour for 10 hours -> recent 30, earlier 270 over 9 windows
    #   = 30/window, ratio 1 -> no alert although it is the busiest cascade.
    steady = _cascade_posts(con, "steady", [i * h / 30 + h / 60 for i in range(300)], start=T0)
    # surge: 2 posts per hour from T0 for 9 hours (18), then 40 in the last hour:
    #   earlier lifetime T0..T0+9h = 9 windows, earlier_rate = 18 / 9 = 2 per window; 40 >= 20 (floor) and 40 >= 5 * 2 -> alert, 20x.
    surge_times = [i * h / 2 for i in range(18)] + [9 * h + (i + 1) * h / 41 for i in range(40)]
    surge = _cascade_posts(con, "surge", surge_times, start=T0)
    # fresh: no earlier posts, 25 in the last hour -> above the floor: alert, "new".
    fresh = _cascade_posts(con, "fresh", [9 * h + (i + 1) * h / 26 for i in range(25)], start=T0)
    # small: new but only 5 posts: below the floor -> no alert.
    _cascade_posts(con, "small", [9 * h + (i + 1) * h / 6 for i in range(5)], start=T0)
    _post(con, "clock", "u0", T0 + 10 * h)  # the newest post sets the reference time

    result = write_reports(file_store, tmp_path / "out")
    alerts = read_csv(result.run_dir / "alerts.csv")
    assert [(a["kind"], a["item_id"]) for a in alerts] == [("cascade", fresh), ("cascade", surge)]
    fresh_row, surge_row = alerts
    assert fresh_row["ratio"] == "" and fresh_row["earlier_shares"] == "0"
    assert fresh_row["reason"] == "new: 25 shares in the last 1h, no earlier activity (floor 20)"
    assert surge_row["recent_shares"] == "40" and surge_row["earlier_shares"] == "18"
    assert float(surge_row["ratio"]) == pytest.approx(20.0)
    assert surge_row["reason"] == (
        "40 shares in the last 1h, 20.0x its earlier rate of 2.0 per 1h (floor 20)"
    )
    assert surge_row["window_end"] == "2024-05-01T22:00:00.000Z"
    assert surge_row["label"] == "text of surge"
    assert steady not in {a["item_id"] for a in alerts}

    # a post dated far after its own ingest (a bogus clock) does not move "now"
    con.execute(
        "INSERT INTO ingest_runs (ingest_run_id, path, content_hash, format, rows_read,"
        " rows_inserted, rows_duplicate, rows_rejected, started_at, finished_at)"
        " VALUES (2, 'x.csv', 'h', 'posts', 1, 1, 0, 0, ?, ?)",
        [T0 + 10 * h, T0 + 10 * h + timedelta(minutes=1)],
    )
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, ingest_run_id)"
        " VALUES ('future', 'u0', ?, 'original', 2)",
        [T0 + 100 * h],
    )
    again = write_reports(file_store, tmp_path / "o1")
    assert (again.run_dir / "alerts.csv").read_bytes() == (
        result.run_dir / "alerts.csv"
    ).read_bytes()

    # as of T0+9.5h: window (8.5h, 9.5h]. surge: 20 of its 40 late posts (i/41 h <= 0.5 h
    # for i <= 20), earlier 18 over 8.5 windows = 2.12/window, ratio 9.4 -> alert.
    # fresh: 13 posts by then (i/26 h <= 0.5 h) < floor 20 -> no alert.
    past = write_reports(file_store, tmp_path / "o4", alerts=AlertParams(at=T0 + 9.5 * h))
    rows = read_csv(past.run_dir / "alerts.csv")
    assert [(a["item_id"], a["recent_shares"]) for a in rows] == [(surge, "20")]
    assert float(rows[0]["ratio"]) == pytest.approx(20 / (18 / 8.5), abs=1e-4)
    assert rows[0]["window_end"] == "2024-05-01T21:30:00.000Z"
    manifest = json.loads((past.run_dir / "manifest.json").read_text())
    assert manifest["alerts"]["at"] == "2024-05-01T21:30:00.000Z"

    # a stricter rule drops the surge (20x < 25x), a lower floor admits the small one
    strict = write_reports(file_store, tmp_path / "o2", alerts=AlertParams(ratio=25))
    assert [a["item_id"] for a in read_csv(strict.run_dir / "alerts.csv")] == [fresh]
    loose = write_reports(file_store, tmp_path / "o3", alerts=AlertParams(floor=5))
    assert "small-0" in {a["item_id"] for a in read_csv(loose.run_dir / "alerts.csv")}


def test_alerts_cover_narratives(file_store, tmp_path):
    fill_world(file_store.con)
    # the world's narrative n1 has 4 posts within 40 s and nothing earlier; the newest
    # post (p5) is 2 h later, so with a 3 h window all 4 are recent: alert at floor 4.
    result = write_reports(
        file_store, tmp_path / "out", alerts=AlertParams(window_s=3 * 3600, floor=4)
    )
    alerts = read_csv(result.run_dir / "alerts.csv")
    assert ("narrative", "n1") in {(a["kind"], a["item_id"]) for a in alerts}
    row = next(a for a in alerts if a["kind"] == "narrative")
    assert row["label"] == "'+label from @evil" and row["reason"].startswith(
        "new: 4 shares in the last 3h"
    )


def test_parse_window():
    assert parse_window("90s") == 90 and parse_window("2d") == 172800
    with pytest.raises(ValueError, match="time window"):
        parse_window("soon")

"""The accounts stage's incremental path (issue 12, part 1) on the cases random batches
rarely reach: shares that change or go on old posts (media groups that merge), reposters
whose parent arrives late, profiles re-observed, and a store span that grows. Each
sequence of builds must equal one full build on every derived table, and the stage's
counts must show it took the incremental path."""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadtrace.ingest import ingest_file
from spreadtrace.pipeline import accounts as accounts_stage
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.test_cascades_support import table_rows
from tests.test_incremental import DERIVED

PDQ_X = "f" * 64
PDQ_Y = "0" * 10 + "f" * 54  # 40 bits from X: another picture
PDQ_Z = "0" * 5 + "f" * 59  # 20 bits from both: bridges X and Y into one group
HEADER = "post_id,account_id,created_at,kind,parent_id,media\n"


def _file(tmp: Path, name: str, lines: list[str]) -> Path:
    path = tmp / name
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    return path


def _batches() -> list[list[str]]:
    first = []
    for day in range(1, 4):
        d = f"2024-03-0{day}T10:00"
        # a and b post the same picture seconds apart (X on day 1, Y on day 2), and
        # repost o{day} together
        pdq = {1: PDQ_X, 2: PDQ_Y}.get(day)
        if pdq:
            first += [f"ma{day},a,{d}:00Z,original,,pdq:{pdq}"]
            first += [f"mb{day},b,{d}:20Z,original,,pdq:{pdq}"]
        first += [
            f"o{day},o,{d}:00Z,original,,",
            f"ra{day},a,{d}:30Z,repost,o{day},",
            f"rb{day},b,{d}:40Z,repost,o{day},",
            # c reposts a post that only arrives in the second batch
            f"rc{day},c,{d}:50Z,repost,late{day},",
        ]
    second = [f"z1,d,2024-03-01T11:00:00Z,original,,pdq:{PDQ_Z}"]
    second += [f"late{day},o,2024-03-0{day}T10:00:45Z,original,," for day in range(1, 4)]
    # the span grows: every account's posts_per_day changes
    second += ["n1,e,2024-03-20T10:00:00Z,original,,"]
    return [first, second]


def _build_in_batches(store: Store, tmp: Path, tag: str, batches: list[list[str]]) -> list:
    results = []
    for i, lines in enumerate(batches):
        ingest_file(store, _file(tmp, f"{tag}-{i}.csv", lines), format="posts")
        results.append(run_build(store, publish=False))
    return results


def test_merged_media_groups_late_parents_and_a_longer_span_equal_a_full_build(tmp_path):
    batches = _batches()
    pair = "SELECT shared_items FROM coordination_pairs WHERE account_a = 'a' AND account_b = 'b'"
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        (first,) = _build_in_batches(inc, tmp_path, "i0", batches[:1])
        assert inc.con.execute(pair).fetchone() == (5,)  # 3 reposts, pictures X and Y
        (second,) = _build_in_batches(inc, tmp_path, "i1", batches[1:])
        first, second = first.counts["accounts"], second.counts["accounts"]
        assert first["full"] is True and second["full"] is False
        # the merged group took the old posts' X and Y shares away (and gave new ones)
        assert second["co_shares_removed"] > 0
        # c's reaction time is now known: c was recomputed though it posted nothing new
        assert second["features_recomputed"] == len({"d", "o", "e", "c"})
        # the span grew: every account was rescored from its stored features
        assert second["accounts_rescored"] == second["accounts_scored"]
        _build_in_batches(full, tmp_path, "f", [batches[0] + batches[1]])
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table
        # X and Y are one picture now: a and b co-shared 3 reposts and 1 picture, not 2
        assert inc.con.execute(pair).fetchone() == (4,)


def test_a_new_profile_snapshot_rescores_only_that_account(tmp_path):
    batches = _batches()
    with Store.open(":memory:") as store:
        _build_in_batches(store, tmp_path, "p", batches[:1])
        profile = tmp_path / "accounts.csv"
        profile.write_text(
            "account_id,observed_at,handle,created_at,followers_count,following_count,"
            "posts_count\nc,2024-03-05T00:00:00Z,c_1234567,2024-03-01T00:00:00Z,0,4000,90000\n"
        )
        ingest_file(store, profile, format="accounts")
        result = run_build(store, publish=False)
        accounts = result.counts["accounts"]
        assert accounts["full"] is False
        assert (accounts["features_recomputed"], accounts["accounts_rescored"]) == (0, 1)
        (score,) = store.con.execute(
            "SELECT profile_score FROM account_scores WHERE account_id = 'c'"
        ).fetchone()
        assert score is not None
        incremental = {t: table_rows(store, t) for t in DERIVED}
        run_build(store, full=True, publish=False)
        for table in DERIVED:
            assert incremental[table] == table_rows(store, table), table


def _ppd(store: Store, account: str) -> float:
    (value,) = store.con.execute(
        "SELECT json_extract(features, '$.posts_per_day')::DOUBLE FROM account_scores "
        "WHERE account_id = ?",
        [account],
    ).fetchone()
    return float(value)


def test_a_batch_extending_the_span_within_the_same_whole_day_rescores_only_its_accounts(
    tmp_path,
):
    # the first batch spans 2024-03-01T10:00 .. 2024-03-03T10:00:50: 2.0006 days -> 3
    first = _batches()[0]
    # e posts later the same day: the span is 2.42 days, still 3 whole days, so no
    # account's posts_per_day moved and only e is scored (a fractional span rescored all)
    later = ["n1,e,2024-03-03T20:00:00Z,original,,"]
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        _build_in_batches(inc, tmp_path, "i", [first])
        scored = inc.con.execute("SELECT count(*) FROM account_scores").fetchone()[0]
        (second,) = _build_in_batches(inc, tmp_path, "j", [later])
        accounts = second.counts["accounts"]
        assert accounts["full"] is False
        assert (accounts["features_recomputed"], accounts["accounts_rescored"]) == (1, 1)
        assert accounts["accounts_scored"] == scored + 1
        # a: 2 pictures + 3 reposts over 3 whole days (4 decimals stored)
        assert _ppd(inc, "a") == pytest.approx(5 / 3, abs=1e-4)
        _build_in_batches(full, tmp_path, "f", [first + later])
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_a_batch_crossing_a_day_boundary_rescores_every_account(tmp_path):
    first = _batches()[0]
    # e posts on 2024-03-04T12:00: the span is 3.08 days -> 4 whole days, one more
    later = ["n1,e,2024-03-04T12:00:00Z,original,,"]
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        _build_in_batches(inc, tmp_path, "i", [first])
        (second,) = _build_in_batches(inc, tmp_path, "j", [later])
        accounts = second.counts["accounts"]
        assert accounts["full"] is False and accounts["features_recomputed"] == 1
        assert accounts["accounts_rescored"] == accounts["accounts_scored"]
        # posts over whole days: a made 2 pictures + 3 reposts over 4 days
        assert _ppd(inc, "a") == pytest.approx(5 / 4, abs=1e-4)  # (4 decimals stored)
        _build_in_batches(full, tmp_path, "f", [first + later])
        run_build(full, full=True, publish=False)
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table


def test_a_day_crossing_rescored_in_batches_equals_a_full_build(tmp_path, monkeypatch):
    # every account is rescored a batch of accounts at a time (100k on a real store): in
    # batches of 2 here: a b | c o, then a b | c e | f o, each writing only its rows
    first = _batches()[0]
    # f is new (inserted by its batch); e's post crosses a day boundary: 3 -> 4 whole days
    later = ["n1,e,2024-03-04T12:00:00Z,original,,", "n2,f,2024-03-04T12:00:05Z,repost,o1,"]
    with Store.open(":memory:") as inc, Store.open(":memory:") as full:
        monkeypatch.setattr(accounts_stage, "RESCORE_BATCH", 2)
        (one,) = _build_in_batches(inc, tmp_path, "i", [first])
        before = dict(
            inc.con.execute("SELECT account_id, bot_score FROM account_scores").fetchall()
        )
        (two,) = _build_in_batches(inc, tmp_path, "j", [later])
        one, two = one.counts["accounts"], two.counts["accounts"]
        assert one["full"] is True and one["rescore_batches"] == 2  # a b | c o
        assert two["full"] is False and two["accounts_scored"] == 6
        # e and f are scored for their posts; the others follow the span a batch of
        # accounts at a time (a b | c | o) and are scored again, as the rounded
        # posts_per_day of each moves (tests/test_accounts_days.py: when it does not)
        assert two["rescore_batches"] == 0 and two["shift_batches"] == 3
        assert two["accounts_rescored"] == 6 and two["shift_rescored"] == 4
        after = dict(inc.con.execute("SELECT account_id, bot_score FROM account_scores").fetchall())
        assert set(after) == set(before) | {"e", "f"}
        # posts_per_day moved for every account with posts: so did every bot score
        assert all(after[a] != before[a] for a in before)
        monkeypatch.undo()  # the full build scores in one batch
        _build_in_batches(full, tmp_path, "f", [first + later])
        result = run_build(full, full=True, publish=False)
        assert result.counts["accounts"]["rescore_batches"] == 1
        for table in DERIVED:
            assert table_rows(inc, table) == table_rows(full, table), table

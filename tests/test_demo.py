"""`spreadtrace demo`: the whole pipeline on the bundled sample, end to end."""

from __future__ import annotations

import csv

import pytest

from spreadtrace.cli import main
from spreadtrace.store import Store


@pytest.mark.slow
def test_demo_runs_every_stage_on_the_bundled_sample(runner, tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(main, ["demo", "--no-serve", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # read = inserted + duplicate + rejected, with the planted mess of the sample
    assert "read 30,065 = inserted 30,000 + duplicate 60 + rejected 5" in result.output
    with Store.open(out / "demo.duckdb", read_only=True) as store:
        posts, in_cascades, scored, builds, conversation = store.con.execute(
            "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM post_cascades),"
            " (SELECT count(*) FROM account_scores), (SELECT count(*) FROM builds),"
            " (SELECT count(*) FROM post_cascades WHERE conversation)"
        ).fetchone()
    assert posts == in_cascades == 30_000  # every post in exactly one cascade
    assert scored > 0 and builds == 1
    latest = out / "reports" / "latest"
    with open(latest / "cascades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # sizes count the shares; replies and what hangs below them are conversation
    assert conversation > 0
    assert sum(int(r["size"]) for r in rows) + conversation == 30_000
    assert sum(int(r["replies"]) for r in rows) <= conversation
    assert (latest / "manifest.json").exists()

    # a second demo replaces the first one's store
    again = runner.invoke(main, ["demo", "--no-serve", "--quiet", "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_demo_never_replaces_a_store_it_did_not_make(runner, tmp_path):
    out = tmp_path / "work"
    out.mkdir()
    with Store.open(out / "demo.duckdb") as store:
        store.con.execute("INSERT INTO meta VALUES ('precious', 'yes')")
    result = runner.invoke(main, ["demo", "--no-serve", "--out", str(out)])
    assert result.exit_code != 0
    assert "not made by `spreadtrace demo`" in result.output
    with Store.open(out / "demo.duckdb", read_only=True) as store:
        assert store.con.execute("SELECT value FROM meta WHERE key='precious'").fetchone() == (
            "yes",
        )

"""`spreadtrace demo`: the whole pipeline on the bundled sample, end to end."""

from __future__ import annotations

import csv
import socket

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


def test_demo_on_a_port_in_use_stops_before_the_work_and_announces_no_dashboard(runner, tmp_path):
    # Before: the demo built everything, printed "spreadtrace dashboard: http://...:PORT/"
    # and only then found the port taken (another program answers at that address).
    out = tmp_path / "demo"
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = runner.invoke(main, ["demo", "--port", str(port), "--out", str(out)])
    assert result.exit_code == 69, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert f":{port}/" not in result.output  # no address announced for a dashboard not served
    assert "ingested" not in result.output
    assert not (out / "demo.duckdb").exists()

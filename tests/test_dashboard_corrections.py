# ruff: noqa: F811 -- the world fixture imported from tests.test_dashboard is a parameter here
"""Claim against correction on the overview's narrative rows (issue 14, section 3).

End to end: the corrections world of :mod:`tests.test_corrections` (a memo URL shared
by three accounts, a fact-check of it 100 s later, and a second story nobody
corrects) is built with the real pipeline and published; the overview's lead list is
then drawn from that snapshot, as the running app draws it.
"""

from __future__ import annotations

from dash import html

from spreadtrace.dashboard import queries
from spreadtrace.dashboard.components import correction_line
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.snapshot import publish
from tests.test_corrections import _world
from tests.test_dashboard import _texts, page, world  # noqa: F401 -- registers the pages


def test_overview_rows_show_claim_against_correction(tmp_path, world):
    db = tmp_path / "corrections.duckdb"
    with Store.open(db) as store:
        _world(store)
        run_build(store)
        publish(store)
    queries.use(str(db))
    try:
        flt = dq.CascadeFilter()
        rows = queries.records(
            queries.run(dq.spreading_narratives, flt, min_posts=2, min_accounts=2), "UTC"
        )
        by_id = {r["narrative_id"]: r for r in rows}  # one narrative per cascade here
        memo, other = by_id["n-c0"], by_id["n-o0"]
        # the memo: 3 claim posts by 3 accounts; 2 corrections by 2 accounts, 100 s later
        assert correction_line(memo) == (
            "corrected: 2 posts by 2 accounts against 3 by 3, first 1 min 40 s after the claim"
        )
        assert (
            correction_line(other) == "no correction seen (no fact-check link, no Community Note)"
        )
        # and the drawn rows carry those lines (the callback the overview runs)
        drawn = " ".join(_texts(html.Div(page("overview").spreading_rows(rows))))
        assert "corrected: 2 posts by 2 accounts against 3 by 3" in drawn
        assert "no correction seen" in drawn
    finally:
        queries.reader().close()


def test_a_row_built_before_corrections_says_so():
    assert correction_line({"claim_posts": None}) == (
        "claim vs correction: not computed in this build"
    )

# ruff: noqa: F811 -- the world fixture imported from tests.test_dashboard is a parameter here
"""One time zone for every page: the link's ``?tz=``, kept for the next pages, else UTC.

Pages are drawn as functions (the callbacks and layouts Dash would call), in the
hand-made world of :mod:`tests.test_dashboard_world`: cascade ``c000`` starts at
2024-03-01 00:00 UTC, which is 2024-02-29 19:00 in New York and 09:00 in Tokyo.
"""

from __future__ import annotations

import pytest

from spreadtrace.dashboard import ids
from spreadtrace.dashboard.components import current_tz, reset_tz, url_state, use_tz, when
from tests.test_dashboard import _texts, page, world  # noqa: F401 -- fixture


@pytest.fixture
def new_york():
    token = use_tz("America/New_York")
    yield "America/New_York"
    reset_tz(token)


def test_when_shows_a_stored_utc_time_in_the_zone_and_names_it():
    assert when("2024-03-01T00:00:00Z", "America/New_York") == "2024-02-29 19:00 America/New_York"
    assert when("2024-03-01T00:00:00Z", "Asia/Tokyo", seconds=True) == (
        "2024-03-01 09:00:00 Asia/Tokyo"
    )
    assert when(None, "UTC") == "unknown"
    assert current_tz() == "UTC"  # outside a request and a page: UTC


def test_cascade_page_shows_its_times_in_the_chosen_zone(world, new_york):
    text = " ".join(_texts(page("cascade").layout(id="c000")))
    assert "2024-02-29 19:00 America/New_York" in text
    assert "UTC" not in text.replace("UTC)", "")  # no time is labelled UTC


def test_narrative_page_and_its_tables_use_the_chosen_zone(world, new_york):
    na = page("narrative")
    text = " ".join(_texts(na.layout(id="n1")))
    assert "2024-02-29 19:00 America/New_York" in text
    rows, _ = na.narrative_cascades("n1", 0, [])
    assert rows
    c000 = next(r for r in rows if r["cascade_id"] == "c000")
    assert c000["first_at"] == "2024-02-29 19:00:00"


def test_the_brief_names_its_zone_and_converts_its_times(world):
    from spreadtrace.dashboard.brief import narrative_brief

    _, utc = narrative_brief("n1", "UTC")
    _, tokyo = narrative_brief("n1", "Asia/Tokyo")
    assert "times in UTC" in utc and "2024-03-01 00:00 UTC" in utc
    assert "times in Asia/Tokyo" in tokyo and "2024-03-01 09:00 Asia/Tokyo" in tokyo


def test_figures_put_the_zone_on_their_time_axis(world, new_york):
    from spreadtrace.dashboard import figures, queries
    from spreadtrace.store import dashboard_queries as dq

    fig = figures.narrative_timeline(queries.run(dq.narrative_timeline, "n1"))
    assert fig["layout"]["xaxis"]["title"]["text"] == "time (America/New_York)"
    first = min(str(x) for x in fig["data"][0]["x"])
    # the first post (2024-03-01 00:00 UTC) falls in a bin of New York's 29 February
    assert first.startswith("2024-02-29T"), first


def test_the_page_guard_takes_the_links_zone_and_refuses_a_bad_one(world):
    from spreadtrace.dashboard.app import guard_layout

    seen = {}

    def layout(**params):
        seen["tz"] = current_tz()
        return "drawn"

    out = guard_layout(layout)(tz="Asia/Tokyo")
    assert seen["tz"] == "Asia/Tokyo"
    assert "drawn" in _texts(out)
    # the page carries the zone it was drawn in, for the address bar's ?tz=
    assert [c.data for c in out.children if getattr(c, "id", None) == ids.PAGE_TZ] == ["Asia/Tokyo"]
    out = guard_layout(layout)(tz="Mars/Base")
    assert seen["tz"] == "UTC"
    assert "Unknown time zone 'Mars/Base'" in " ".join(_texts(out))
    assert current_tz() == "UTC"  # reset after the page


def test_a_page_rewriting_its_url_keeps_the_zone():
    """url_state (how the cascade, accounts and coordination pages write their view into
    the address bar) carries the page's zone, else a page's own URL update drops ?tz=."""
    token = use_tz("Europe/Berlin")
    try:
        assert url_state("/cascade", {"id": "c000", "layout": ""}) == {
            "path": "/cascade",
            "search": "?id=c000&tz=Europe%2FBerlin",
        }
        # the overview says its zone itself (its zone picker), UTC left out
        assert url_state("/", {"tz": ""})["search"] == ""
    finally:
        reset_tz(token)
    assert url_state("/cascade", {"id": "c000"})["search"] == "?id=c000"  # UTC: no tz

# ruff: noqa: F811 -- the fixtures imported from tests.test_browser are parameters here
"""The time zone in a real Chromium: a link's ``?tz=`` moves every shown time, the
next pages keep it, and a bad zone gives a note, not an error.

The world of :mod:`tests.test_browser`: cascade ``c000`` starts 2024-03-01 00:00 UTC,
2024-02-29 19:00 in New York. CI=true makes these tests mandatory.
"""

from __future__ import annotations

import pytest

from tests.test_browser import (  # noqa: F401 -- fixtures
    app_url,
    browser,
    console_errors,
    downloads,
    text_of,
    wait,
    world_db,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NY = "2024-02-29 19:00 America/New_York"


def test_a_links_zone_moves_the_times_and_the_next_pages_keep_it(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/cascade?id=c000&tz=America/New_York")
    wait(browser, lambda d: NY in text_of(d, "main"), what="the cascade's first post in NY")
    # the replay's clock and the timeline's axis speak the same zone
    browser.find_element(By.CSS_SELECTOR, "#ca-play").click()
    wait(browser, lambda d: "America/New_York · " in text_of(d, "#ca-clock"), what="clock")
    browser.find_element(By.CSS_SELECTOR, "#ca-play").click()
    assert text_of(browser, "#ca-clock").startswith("2024-02-29 ")
    # the next page, opened without ?tz=, keeps the analyst's zone
    browser.get(app_url + "/narrative?id=n1")
    wait(browser, lambda d: NY in text_of(d, "main"), what="the narrative's first post in NY")
    wait(
        browser,
        lambda d: (
            d.execute_script(
                "const g = document.querySelector('#na-timeline .js-plotly-plot');"
                "return g && g.layout && g.layout.xaxis.title.text;"
            )
            == "time (America/New_York)"
        ),
        what="the timeline's axis in NY",
    )
    errors = console_errors(browser)
    assert not errors, errors


def test_a_bad_zone_gives_a_note_and_keeps_the_last_good_one(browser, app_url):
    browser.get(app_url + "/cascade?id=c000&tz=America/New_York")
    wait(browser, lambda d: NY in text_of(d, "main"), what="NY")
    browser.get(app_url + "/cascade?id=c000&tz=%3Cb%3EMars%3C%2Fb%3E")
    wait(browser, lambda d: "Unknown time zone" in text_of(d, "main"), what="the note")
    # drawn in the analyst's own zone, as the page's later callbacks (clock, hover) are
    assert "times are in America/New_York" in text_of(browser, "main")
    assert NY in text_of(browser, "main")
    assert "<b>Mars</b>" in text_of(browser, "main")  # shown as text, not markup
    browser.get(app_url + "/cascade?id=c000")
    wait(browser, lambda d: NY in text_of(d, "main"), what="the last good zone")
    browser.get(app_url + "/cascade?id=c000&tz=UTC")  # back to UTC for the next tests
    wait(browser, lambda d: "2024-03-01 00:00 UTC" in text_of(d, "main"), what="UTC again")
    errors = console_errors(browser)
    assert not errors, errors


BERLIN = "2024-03-01 01:00 Europe/Berlin"


def _tz_in_url(d) -> str | None:
    return d.execute_script("return new URLSearchParams(window.location.search).get('tz');")


def test_the_zone_stays_in_the_url_from_page_to_page(browser, app_url):
    """The address bar says the zone on every page: the cascade page's own URL update
    keeps it, and a page reached by a link gets it added, so a copied link shows the
    same times."""
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/cascade?id=c000&tz=Europe/Berlin")
    wait(browser, lambda d: BERLIN in text_of(d, "main"), what="the cascade's first post in Berlin")
    # the cascade page rewrites its URL once drawn (layout, edges): ?tz= survives it
    wait(browser, lambda d: "id=c000" in d.current_url, what="the cascade's URL state")
    assert _tz_in_url(browser) == "Europe/Berlin"
    # follow the page's own link to the narrative: same zone, and the URL says so
    browser.find_element(By.LINK_TEXT, "open narrative").click()
    wait(browser, lambda d: "/narrative" in d.current_url, what="the narrative page")
    wait(browser, lambda d: BERLIN in text_of(d, "main"), what="the narrative's first post")
    wait(browser, lambda d: _tz_in_url(d) == "Europe/Berlin", what="?tz= on the narrative")
    assert "id=n1" in browser.current_url
    # and on to the account network, the search and the coordination pages
    for path in ("/network?narrative=n1", "/search?q=acc0001", "/coordination"):
        browser.get(app_url + path)
        wait(browser, lambda d, p=path: _tz_in_url(d) == "Europe/Berlin", what=f"?tz= on {path}")
    browser.get(app_url + "/cascade?id=c000&tz=UTC")  # back to UTC for the next tests
    wait(browser, lambda d: "2024-03-01 00:00 UTC" in text_of(d, "main"), what="UTC again")
    errors = console_errors(browser)
    assert not errors, errors

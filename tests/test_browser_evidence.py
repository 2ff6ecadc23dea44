# ruff: noqa: F811 -- the fixtures imported from tests.test_browser are parameters here
"""Every number leads to its evidence, in a real Chromium: the narrative's accounts and
items, origin rows to accounts, the brief downloads and opens offline, the overview's
lead list, alerts, time zone and bounded date picker; hostile strings never run.

Uses the world and browser of :mod:`tests.test_browser`; CI=true makes them mandatory.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

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
from tests.test_browser_workbench import _no_alert
from tests.test_dashboard_world import HOSTILE_HANDLE, HOSTILE_URL

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _hrefs(browser, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, css)]


def test_narrative_lists_accounts_and_items_and_hostile_strings_stay_text(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/narrative?id=n1")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#na-items td"), what="items")
    # the hostile link is shown as its text, and no anchor anywhere is javascript:
    assert HOSTILE_URL in text_of(browser, "#na-items")
    every = _hrefs(browser, "a")
    assert every and not [h for h in every if h.lower().startswith("javascript")]
    # the hostile handle is text in the accounts list: no <b> or <script> made from it
    assert HOSTILE_HANDLE in text_of(browser, "#na-flagged")
    assert not browser.find_elements(By.CSS_SELECTOR, "#na-flagged b, #na-flagged script")
    assert _no_alert(browser)
    # an account in the list opens its page; its cluster opens the coordination page
    assert app_url + "/coordination?cluster=k1" in _hrefs(browser, "#na-clusters a")
    browser.find_element(By.CSS_SELECTOR, "#na-flagged a.account-link").click()
    wait(browser, lambda d: urlparse(d.current_url).path == "/accounts", what="account page")
    assert parse_qs(urlparse(browser.current_url).query)["account"][0].startswith("acc")
    errors = console_errors(browser)
    assert not errors, errors


def test_an_origin_row_opens_its_account(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/narrative?id=n1")
    cell = "#na-origins tbody tr:nth-child(2) td"
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, cell), what="origin rows")
    browser.find_elements(By.CSS_SELECTOR, cell)[1].click()
    wait(browser, lambda d: urlparse(d.current_url).path == "/accounts", what="account page")
    assert parse_qs(urlparse(browser.current_url).query) == {"account": ["acc0010"]}
    errors = console_errors(browser)
    assert not errors, errors


def test_the_cascade_page_lists_its_flagged_accounts(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/cascade?id=c000")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ca-flagged tr"), what="list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#ca-flagged tbody tr")
    assert rows and all("bot-like" in r.text for r in rows)
    assert app_url + "/coordination?cluster=k1" in _hrefs(browser, "#ca-flagged a")
    errors = console_errors(browser)
    assert not errors, errors


def test_the_brief_downloads_and_opens_offline(browser, app_url, downloads):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/narrative?id=n1")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#na-brief-btn"), what="button")
    browser.find_element(By.CSS_SELECTOR, "#na-brief-btn").click()
    target = downloads / "narrative_n1_brief.html"
    wait(browser, lambda d: target.exists() and target.stat().st_size > 100_000, what="brief")
    wait(browser, lambda d: not list(downloads.glob("*.crdownload")), what="download end")
    console_errors(browser)  # clear the app's log
    browser.get(target.as_uri())
    wait(browser, lambda d: "Narrative brief" in text_of(d, "#brief-title"), what="brief title")
    # the figure draws from the inlined plotly.js (the CSP forbids any network load)
    wait(
        browser,
        lambda d: d.execute_script(
            "const g = document.querySelector('.js-plotly-plot');"
            "return !!(g && g._fullData && g._fullData.length === 2);"
        ),
        what="the brief's figure",
    )
    body = text_of(browser, "body")
    assert HOSTILE_HANDLE in body and HOSTILE_URL in body
    assert not browser.find_elements(By.CSS_SELECTOR, "a, body b")
    assert _no_alert(browser)
    errors = console_errors(browser)
    assert not errors, errors


def test_overview_leads_with_narratives_alerts_and_keeps_the_time_zone(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ov-spreading a"), what="lead")
    first = browser.find_element(By.CSS_SELECTOR, "#ov-spreading a.narr-link")
    assert first.get_attribute("href") == app_url + "/narrative?id=n1"
    assert "No alerts" in text_of(browser, "#ov-alerts")
    # the first lead narrative sits above the cascades table on the page
    lead_y = first.location["y"]
    table_y = browser.find_element(By.CSS_SELECTOR, "#ov-cascades").location["y"]
    assert lead_y < table_y
    # choose a time zone: the URL keeps it and the table's times move
    wait(browser, lambda d: "2024-03-01 00:00:00" in text_of(d, "#ov-cascades"), what="UTC")
    browser.find_element(By.CSS_SELECTOR, "#ov-tz").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"), what="options")
    option = next(
        o for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == "Asia/Tokyo"
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", option)
    option.click()
    wait(browser, lambda d: "tz=Asia%2FTokyo" in d.current_url, what="tz in the URL")
    wait(browser, lambda d: "2024-03-01 09:00:00" in text_of(d, "#ov-cascades"), what="Tokyo")
    assert "first post (Asia/Tokyo)" in text_of(browser, "#ov-cascades")
    browser.refresh()  # a copied link opens the same view
    wait(browser, lambda d: "2024-03-01 09:00:00" in text_of(d, "#ov-cascades"), what="reload")
    # the date picker opens on the data's month, not today's
    browser.find_element(By.CSS_SELECTOR, "#ov-dates").click()
    month = ".dash-datepicker-calendar-month-header"
    wait(browser, lambda d: text_of(d, month) == "March 2024", what="calendar month")
    # and it stops at the data's first month: no going back to months without data
    back = browser.find_element(By.CSS_SELECTOR, "button[aria-label='Previous month']")
    assert back.get_attribute("disabled") is not None
    errors = console_errors(browser)
    assert not errors, errors


def test_the_account_network_draws_in_webgl_and_opens_accounts(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/network?narrative=n1")
    wait(
        browser,
        lambda d: d.execute_script(
            "const g = document.querySelector('#nw-graph .js-plotly-plot');"
            "return !!(g && g._fullData && g._fullData.some(t => t.type === 'scattergl'"
            " && t.name.startsWith('bot-like')));"
        ),
        what="the WebGL account network",
    )
    names = browser.execute_script(
        "return document.querySelector('#nw-graph .js-plotly-plot')._fullData.map(t => t.name);"
    )
    assert any(n.startswith("repost (") for n in names) and "bot-like (8)" in names
    browser.find_element(By.CSS_SELECTOR, "#nw-gexf-btn")  # the export is offered
    errors = console_errors(browser)
    assert not errors, errors


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/cascade?id=c000",
        "/narrative?id=n1",
        "/narrative",
        "/network?narrative=n1",
        "/accounts?account=acc0003",
        "/accounts",
        "/coordination?cluster=k1",
        "/search?q=claim",
    ],
)
def test_no_planted_payload_runs_on_any_page(browser, app_url, path):
    """The world plants a script and HTML in a handle and display name, HTML in post
    text and labels, and a javascript: link: on every page none becomes an element,
    no dialog opens and no anchor is a javascript: link."""
    from selenium.webdriver.common.by import By

    browser.get(app_url + path)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "main h2"), what="the page")
    import time

    time.sleep(1.5)  # let the callbacks fill the tables and lists
    assert _no_alert(browser)
    main = "main "
    assert not browser.find_elements(By.CSS_SELECTOR, main + "script")
    assert not browser.find_elements(By.CSS_SELECTOR, main + "b:not(.alert b)")
    assert not browser.find_elements(By.CSS_SELECTOR, main + "i, " + main + "img")
    every = _hrefs(browser, "a")
    assert not [h for h in every if h.lower().startswith("javascript")]
    errors = console_errors(browser)
    assert not errors, errors

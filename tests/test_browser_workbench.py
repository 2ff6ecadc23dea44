# ruff: noqa: F811 -- the fixtures imported from tests.test_browser are parameters here
"""The analyst's workbench in a real Chromium: search from the navbar, read the root post.

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
from tests.test_dashboard_world import HOSTILE_HANDLE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _no_alert(browser) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        browser.switch_to.alert  # noqa: B018 -- raises when no dialog is open
    except NoAlertPresentException:
        return True
    return False


def test_navbar_search_finds_a_planted_phrase_and_links_to_its_cascade(browser, app_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(app_url + "/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#nav-search"), what="search box")
    box = browser.find_element(By.CSS_SELECTOR, "#nav-search")
    box.send_keys("claim 3", Keys.ENTER)
    wait(browser, lambda d: urlparse(d.current_url).path == "/search", what="search page")
    assert parse_qs(urlparse(browser.current_url).query) == {"q": ["claim 3"]}
    wait(browser, lambda d: "Cascades (" in text_of(d, "#search-results"), what="results")
    groups = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#search-results h3")]
    assert [g.split(" ")[0] for g in groups] == ["Narratives", "Cascades", "Accounts", "Posts"]
    marks = {m.text.lower() for m in browser.find_elements(By.CSS_SELECTOR, "#search-results mark")}
    assert {"claim", "3"} <= marks
    # the post text "claim 3 <i>0</i>" is shown as text: no <i> element is made
    assert "claim 3 <i>0</i>" in text_of(browser, "#search-results")
    assert not browser.find_elements(By.CSS_SELECTOR, "#search-results i")
    # the best cascade (all its posts match) links to its page, which shows the root text
    browser.find_element(By.LINK_TEXT, "c003").click()
    wait(browser, lambda d: urlparse(d.current_url).path == "/cascade", what="cascade page")
    wait(browser, lambda d: text_of(d, "#ca-root-text") == "claim 3 <i>0</i>", what="root text")
    assert not browser.find_elements(By.CSS_SELECTOR, "#ca-root-text i")
    errors = console_errors(browser)
    assert not errors, errors


def test_script_in_a_handle_never_runs_on_the_search_page(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/search?q=alert")
    wait(browser, lambda d: "Accounts (" in text_of(d, "#search-results"), what="results")
    assert HOSTILE_HANDLE in text_of(browser, "#search-results")  # literal characters
    assert not browser.find_elements(By.CSS_SELECTOR, "#search-results script")
    assert not browser.find_elements(By.CSS_SELECTOR, "#search-results b")
    assert _no_alert(browser)
    # a script in the query itself is shown as text too
    browser.get(app_url + "/search?q=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    wait(browser, lambda d: "Search:" in text_of(d, "h2"), what="search page")
    assert "<script>alert(1)</script>" in text_of(browser, "h2")
    assert _no_alert(browser)
    errors = console_errors(browser)
    assert not errors, errors


def test_replay_plays_with_a_clock_and_pauses(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/cascade?id=c000")
    wait(
        browser,
        lambda d: d.execute_script(
            "const g = document.querySelector('#ca-graph .js-plotly-plot');"
            "return g && g._fullData && g._fullData.some(t => t.name === 'posts');"
        ),
        what="cascade network",
    )
    assert "replay growth: time" in browser.page_source
    assert "posts up to" not in browser.page_source
    assert text_of(browser, "#ca-clock") == "showing every post"
    browser.find_element(By.CSS_SELECTOR, "#ca-play").click()  # at the end: restarts at 0
    # the clock tells the time of the slider (the world's cascade c000 starts 2024-03-01)
    wait(browser, lambda d: text_of(d, "#ca-clock").startswith("2024-03-01 "), what="clock")
    first = text_of(browser, "#ca-clock")
    wait(browser, lambda d: text_of(d, "#ca-clock") != first, what="the replay to move on")
    assert text_of(browser, "#ca-play") == "❚❚ pause"
    browser.find_element(By.CSS_SELECTOR, "#ca-play").click()
    wait(browser, lambda d: text_of(d, "#ca-play") == "▶ play", what="pause")
    paused = text_of(browser, "#ca-clock")
    import time

    time.sleep(1.0)  # not a timing assert: a paused replay must not move at all
    assert text_of(browser, "#ca-clock") == paused
    assert paused.endswith(("post", "posts")) and " UTC · " in paused
    errors = console_errors(browser)
    assert not errors, errors


def test_an_accounts_cluster_links_to_the_coordination_page(browser, app_url):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/accounts?account=acc0001")  # planted in cluster k1
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ac-cluster-link"), what="link")
    browser.find_element(By.CSS_SELECTOR, "#ac-cluster-link").click()
    wait(browser, lambda d: urlparse(d.current_url).path == "/coordination", what="coordination")
    assert parse_qs(urlparse(browser.current_url).query) == {"cluster": ["k1"]}
    errors = console_errors(browser)
    assert not errors, errors


def test_a_clusters_evidence_lists_the_co_shared_items_and_downloads(browser, app_url, downloads):
    import csv

    from selenium.webdriver.common.by import By

    browser.get(app_url + "/coordination?cluster=k1")
    wait(
        browser,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#co-evidence tbody tr")) > 2,
        what="evidence rows",
    )
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#co-evidence th")]
    assert "gap (s)" in headers and "A shared at (UTC)" in headers
    first = [
        c.text
        for c in browser.find_elements(By.CSS_SELECTOR, "#co-evidence tbody tr:nth-child(2) td")
    ]
    assert first[2].startswith("c000-p")  # the item: a reposted post
    browser.find_element(By.CSS_SELECTOR, "#co-evidence-btn").click()
    target = downloads / "coordination_k1_evidence.csv"
    wait(browser, lambda d: target.exists() and target.stat().st_size > 0, what="CSV download")
    rows = list(csv.DictReader(target.open()))
    assert rows and {
        "account_a",
        "account_b",
        "root_id",
        "shared_at_a",
        "shared_at_b",
        "gap_s",
    } <= set(rows[0])
    assert all(r["account_a"] < r["account_b"] for r in rows)
    errors = console_errors(browser)
    assert not errors, errors

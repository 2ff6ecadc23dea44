"""A real headless Chromium drives the running dashboard through an analyst's flow.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make test`` installs them).
Without them the tests skip, except in CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from spreadtrace.store import Store
from spreadtrace.store.snapshot import publish
from tests.test_dashboard_serve import serving
from tests.test_dashboard_world import FORMULA_HANDLE, HOSTILE_HANDLE, make_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-unsafe-swiftshader",  # software WebGL for the Scattergl traces, headless
    "--window-size=1400,1000",
]


def chromium_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or skip — or fail in CI, where browser tests must run."""
    chrome = os.environ.get("CHROME_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
    driver = (
        os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    missing = [p for p in (chrome, driver) if not Path(p).exists()]
    if missing:
        message = f"chromium/chromedriver not installed ({', '.join(missing)}); run `make browser`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return chrome, driver


def make_driver(download_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='spreadtrace-chrome-')}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(download_dir), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def world_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser") / "world.duckdb"
    with Store.open(db) as store:
        make_world(store, big=300)
        publish(store)
    return db


@pytest.fixture(scope="module")
def app_url(world_db):
    chromium_paths()
    with serving(str(world_db)) as base:
        yield base


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(app_url, downloads):
    d = make_driver(downloads)
    yield d
    d.quit()


def wait(browser, predicate, timeout=20.0, what="condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(
        lambda d: predicate(d), message=f"timed out waiting for {what}"
    )


def text_of(browser, css):
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def console_errors(browser) -> list[dict]:
    """SEVERE browser-log entries (JS errors, failed requests) since the last call."""
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def click_point(browser, graph_css: str, trace_name: str, point: int) -> None:
    """Click where plotly drew ``point`` of the named trace (a real mouse click)."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = _point_xy(browser, graph_css, trace_name, point)
    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.w3c_actions.pointer_action.click()
    actions.perform()


def _point_xy(browser, graph_css: str, trace_name: str, point: int) -> tuple[float, float]:
    """Page coordinates of ``point`` of the named trace."""
    return browser.execute_script(
        """
        const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');
        const t = gd._fullData.find(t => t.name === arguments[1]);
        const fl = gd._fullLayout, box = gd.getBoundingClientRect();
        return [box.left + fl._size.l + fl.xaxis.l2p(t.x[arguments[2]]),
                box.top + fl._size.t + fl.yaxis.l2p(t.y[arguments[2]])];
        """,
        graph_css,
        trace_name,
        point,
    )


TRACE_LENGTHS = """
const gd = document.querySelector('#ca-graph .js-plotly-plot');
const out = {};
gd._fullData.filter(t => t.name !== 'posts').forEach(t => { out[t.name] = t.x.length; });
return out;
"""
SELECTED_POSTS = """
const gd = document.querySelector('#ca-graph .js-plotly-plot');
const t = gd.data.find(t => t.name === 'posts');
return t.selectedpoints ? Array.from(t.selectedpoints) : null;
"""


def hover_point(browser, graph_css: str, trace_name: str, point: int) -> None:
    """Move the mouse over where plotly drew ``point`` of the named trace."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = _point_xy(browser, graph_css, trace_name, point)
    actions = ActionChains(browser)
    actions.w3c_actions.pointer_action.move_to_location(int(x) + 3, int(y) + 3)
    actions.w3c_actions.pointer_action.move_to_location(int(x), int(y))
    actions.perform()


def test_analyst_flow(browser, app_url, downloads):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # Open the overview: every cascade listed, largest first.
    browser.get(app_url + "/")
    wait(browser, lambda d: text_of(d, "#ov-count") == "(12 match)", what="overview table")
    assert text_of(browser, "#ov-cascades tbody tr:nth-child(2) td") == "c000"

    # Filter: minimum size 100 leaves the big cascade; the URL carries the filter.
    box = browser.find_element(By.CSS_SELECTOR, "#ov-min-size")
    box.send_keys("100", Keys.ENTER)
    wait(browser, lambda d: text_of(d, "#ov-count") == "(1 match)", what="filtered table")
    wait(browser, lambda d: "min_size=100" in d.current_url, what="URL state")

    # Download the filtered table: exactly the matching rows.
    browser.find_element(By.CSS_SELECTOR, "#ov-download-btn").click()
    target = downloads / "cascades.csv"
    wait(browser, lambda d: target.exists() and target.stat().st_size > 0, what="CSV download")
    rows = list(csv.DictReader(target.open()))
    assert [r["cascade_id"] for r in rows] == ["c000"]

    # Open the cascade by clicking its row.
    browser.find_element(By.CSS_SELECTOR, "#ov-cascades tbody tr:nth-child(2) td").click()
    wait(browser, lambda d: urlparse(d.current_url).path == "/cascade", what="cascade page")
    assert parse_qs(urlparse(browser.current_url).query)["id"] == ["c000"]
    wait(
        browser,
        lambda d: d.execute_script(
            "const g = document.querySelector('#ca-graph .js-plotly-plot');"
            "return g && g._fullData && g._fullData.some(t => t.name === 'posts');"
        ),
        what="cascade network",
    )

    # Hover the root node: the line under the network names its account.
    hover_point(browser, "#ca-graph", "posts", 0)
    wait(browser, lambda d: "acc0010" in text_of(d, "#ca-hover"), what="hover line")

    # Replay the growth back to the first moment: later posts fade, and their edges
    # and coordination rings are hidden too (in the browser, without a request).
    full = browser.execute_script(TRACE_LENGTHS)
    browser.execute_script("window.dash_clientside.set_props('ca-slider', {value: 0})")
    wait(
        browser,
        lambda d: sum(d.execute_script(TRACE_LENGTHS).values()) == 0,
        what="edges hidden at the first moment",
    )
    assert browser.execute_script(SELECTED_POSTS) == [0]  # only the root at t = 0
    browser.execute_script("window.dash_clientside.set_props('ca-slider', {value: 50})")
    wait(browser, lambda d: d.execute_script(TRACE_LENGTHS) == full, what="replay at the end")
    assert browser.execute_script(SELECTED_POSTS) is None

    # Click the root node: the account panel shows its account (acc0010, user_10).
    click_point(browser, "#ca-graph", "posts", 0)
    wait(browser, lambda d: "acc0010" in text_of(d, "#ca-account"), what="account panel")
    assert "user_10" in text_of(browser, "#ca-account")

    # Follow to the account page: its shares and the cascades it amplified.
    browser.find_element(By.CSS_SELECTOR, "#ca-account-link").click()
    wait(browser, lambda d: "Cascades it amplified" in d.page_source, what="account page")
    assert parse_qs(urlparse(browser.current_url).query) == {"account": ["acc0010"]}

    errors = console_errors(browser)
    assert not errors, errors


def test_untrusted_text_is_shown_as_text_and_downloads_are_neutralised(browser, app_url, downloads):
    from selenium.webdriver.common.by import By

    browser.get(app_url + "/accounts?account=acc0003")
    wait(browser, lambda d: "Its shares" in d.page_source, what="account page")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert HOSTILE_HANDLE in body  # the literal characters, not markup
    assert (
        browser.execute_script(
            "return [...document.querySelectorAll('b, script')].filter("
            "e => e.textContent === 'bold' || e.textContent.includes('alert(')).length"
        )
        == 0
    )

    browser.get(app_url + "/accounts")
    wait(browser, lambda d: "match)" in text_of(d, "#ac-count"), what="accounts table")
    browser.find_element(By.CSS_SELECTOR, "#ac-download-btn").click()
    target = downloads / "accounts.csv"
    wait(browser, lambda d: target.exists() and target.stat().st_size > 0, what="download")
    handles = {r["handle"] for r in csv.DictReader(target.open())}
    assert "'" + FORMULA_HANDLE in handles and FORMULA_HANDLE not in handles

    errors = console_errors(browser)
    assert not errors, errors


def test_shared_link_restores_the_view_and_new_builds_appear(browser, app_url, world_db):
    # A copied link opens the same filtered view.
    browser.get(app_url + "/?min_size=100&platform=x")
    wait(browser, lambda d: text_of(d, "#ov-count") == "(1 match)", what="shared view")
    # the dropdown draws its value after the table's callback: wait for it, not race it
    wait(browser, lambda d: "x" in text_of(d, "#ov-platform"), what="platform kept")

    # A new build is written to the live store while the app serves, and published:
    # the next page load shows it (the server never held the live file).
    with Store.open(world_db) as store:
        with store.transaction() as con:
            con.execute("UPDATE cascades SET size = size + 1000, build_id = 2")
            con.execute(
                "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, cascades_touched) VALUES (2, 'full', '{}', now(), now(), 0, 0)"
            )
        publish(store)
    time.sleep(0.05)
    browser.get(app_url + "/")
    wait(browser, lambda d: "snapshot 000002-" in text_of(d, "#snapshot-badge"), what="new build")
    wait(browser, lambda d: text_of(d, "#ov-count") == "(12 match)", what="table")
    # columns: cascade, root post, size
    assert text_of(browser, "#ov-cascades tbody tr:nth-child(2) td:nth-child(3)") == "1300"

    errors = console_errors(browser)
    assert not errors, errors


@pytest.fixture(scope="module")
def large_url(tmp_path_factory):
    """A store whose largest cascade (6,000 posts) is above the edge-reduction threshold."""
    chromium_paths()
    db = tmp_path_factory.mktemp("browser-large") / "world.duckdb"
    with Store.open(db) as store:
        make_world(store, big=6000, cascades=2)
        publish(store)
    with serving(str(db)) as base:
        yield base


EDGE_SEGMENTS = """
const gd = document.querySelector('#ca-graph .js-plotly-plot');
if (!gd || !gd._fullData) { return -1; }
return gd._fullData.filter(t => t.name.startsWith('parent '))
    .reduce((a, t) => a + t.x.length / 3, 0);
"""


def test_large_cascade_backbone_then_all_edges(browser, large_url):
    from selenium.webdriver.common.by import By

    from spreadtrace.dashboard import figures

    browser.get(large_url + "/cascade?id=c000")
    wait(browser, lambda d: d.execute_script(EDGE_SEGMENTS) > 0, what="backbone drawn")
    shown = browser.execute_script(EDGE_SEGMENTS)
    assert 0 < shown <= figures.EDGE_BUDGET
    note = text_of(browser, "#ca-note")
    assert f"Showing {shown:,} of 5,999 share edges" in note, note
    button = browser.find_element(By.CSS_SELECTOR, "#ca-edges-btn")
    assert button.text == "show all 5,999 edges"
    # The replay hides the backbone's later edges too (a few posts share the first second).
    browser.execute_script("window.dash_clientside.set_props('ca-slider', {value: 0})")
    wait(browser, lambda d: d.execute_script(EDGE_SEGMENTS) < shown / 10, what="replay at t = 0")
    browser.execute_script("window.dash_clientside.set_props('ca-slider', {value: 50})")
    wait(browser, lambda d: d.execute_script(EDGE_SEGMENTS) == shown, what="replay at the end")

    button.click()
    wait(browser, lambda d: d.execute_script(EDGE_SEGMENTS) == 5999, what="all edges drawn")
    wait(browser, lambda d: "edges=all" in d.current_url, what="URL state")
    assert "Showing all 5,999 share edges." in text_of(browser, "#ca-note")
    # A shared link opens with every edge.
    browser.get(browser.current_url)
    wait(browser, lambda d: d.execute_script(EDGE_SEGMENTS) == 5999, what="link with all edges")

    errors = console_errors(browser)
    assert not errors, errors

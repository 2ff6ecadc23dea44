"""A real headless Chromium opens the media page: the list, a group, its thumbnails
(served from the local files, never the network) and its links to cascades."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from spreadtrace.media import hash_media
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.store.snapshot import publish
from tests import _media_helpers as draw
from tests.test_browser import chromium_paths, console_errors, make_driver, text_of, wait
from tests.test_dashboard_serve import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES = """
return Array.from(document.querySelectorAll('.thumbs img'))
  .map(i => [i.getAttribute('src'), i.complete && i.naturalWidth]);
"""


@pytest.fixture(scope="module")
def media_url(tmp_path_factory):
    chromium_paths()
    d = tmp_path_factory.mktemp("browser_media")
    pics = d / "pics"
    pics.mkdir()
    im = draw.scene(11)
    im.save(pics / "orig.png")
    draw.captioned(draw.resized(im, 0.5)).save(pics / "copy.png")
    db = d / "media.duckdb"
    with Store.open(db) as store:
        hash_media(store, [pics])
        store.con.executemany(
            "INSERT INTO posts (post_id, account_id, created_at, kind, text, platform, media, "
            "ingest_run_id) VALUES (?, ?, ?::TIMESTAMPTZ, 'original', ?, ?, ?, 1)",
            [
                ("p1", "alice", "2024-01-01T10:00:00Z", "first", "twitter", ["orig"]),
                ("p2", "bob", "2024-01-01T11:00:00Z", "again", "facebook", ["copy"]),
                ("p3", "http://evil.example/x.png", "2024-01-02T11:00:00Z", "x", "twitter", ["https://evil.example/x.png"]),
            ],
        )  # fmt: skip
        run_build(store, publish=False)
        publish(store)
    with serving(str(db)) as base:
        yield base


def test_media_page_flow(media_url, tmp_path):
    from selenium.webdriver.common.by import By

    browser = make_driver(tmp_path)
    try:
        browser.get(media_url + "/media")
        wait(browser, lambda d: text_of(d, "#me-table tbody tr:nth-child(2) td") == "copy",
             what="media list")  # fmt: skip
        browser.find_element(By.CSS_SELECTOR, "#me-table tbody tr:nth-child(2) td").click()
        wait(
            browser,
            lambda d: parse_qs(urlparse(d.current_url).query).get("id") == ["copy"],
            what="the clicked group's page",
        )
        assert urlparse(browser.current_url).path == "/media"
        wait(browser, lambda d: "alice" in text_of(d, ".panel dl"), what="first poster")
        images = wait(
            browser,
            lambda d: (imgs := d.execute_script(IMAGES)) and all(w for _, w in imgs) and imgs,
            what="thumbnails loaded",
        )
        assert len(images) == 2
        assert all(src.startswith("/_spreadtrace/media/thumb?id=") for src, _ in images)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#me-links a"), what="links")
        links = [
            a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#me-links a")
        ]
        # the two posts of the picture are unrelated cascades joined by it into one
        # media narrative (issue 13): the page links both the cascades and the narrative
        assert {urlparse(h).path for h in links} == {"/cascade", "/narrative"}
        # A reference that looks like a URL is only text: no image element, nothing fetched.
        browser.get(media_url + "/media?id=https://evil.example/x.png")
        wait(browser, lambda d: "no local file" in d.page_source, what="remote reference page")
        assert browser.execute_script(IMAGES) == []
        assert not [e for e in console_errors(browser) if "evil.example" in e["message"]]
    finally:
        browser.quit()

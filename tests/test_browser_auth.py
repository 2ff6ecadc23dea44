"""Roles, sign-in and the audit log, driven through a real headless Chromium.

The planted world (tests/test_dashboard_world.py) is served with a users file: an
analyst, a viewer, an admin. The viewer goes through every page and download and
never sees a raw account id, handle or post id; the analyst does; a wrong password
is refused and the limit kicks in; every view and export is in the audit log.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from spreadtrace.auth import MAX_FAILURES, add_user
from spreadtrace.store import Store
from spreadtrace.store.report_queries import PseudonymKey
from spreadtrace.store.snapshot import publish
from tests.test_browser import chromium_paths, make_driver, text_of, wait
from tests.test_dashboard_serve import serving
from tests.test_dashboard_world import HOSTILE_HANDLE, make_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "browser-viewer-secret-42"
PASSWORDS = {"ana": "ana-long-password", "vic": "vic-long-password", "root": "root-long-password"}
ROLES = {"ana": "analyst", "vic": "viewer", "root": "admin"}
RAW = re.compile(r"acc\d{4}|user_\d+|c\d{3}-p\d{5}|\bc\d{3}\b|alert\(.x.\)|HYPERLINK")
KEY = PseudonymKey.from_secret(SECRET)


@pytest.fixture(scope="module")
def team_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("browser-auth") / "world.duckdb"
    with Store.open(db) as store:
        make_world(store, big=120)
        publish(store)
    for name, password in PASSWORDS.items():
        add_user(f"{db}.users.json", name, password, ROLES[name])
    return db


@pytest.fixture(scope="module")
def base(team_db):
    chromium_paths()
    with serving(str(team_db), env={"SPREADTRACE_PSEUDONYMIZE": SECRET}) as url:
        yield url


def _driver(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    return make_driver(downloads), downloads


def _sign_in(d, base, name, password):
    from selenium.webdriver.common.by import By

    d.get(base + "/login")
    d.find_element(By.ID, "login-user").send_keys(name)
    d.find_element(By.ID, "login-password").send_keys(password)
    d.find_element(By.ID, "login-submit").click()


def _download(d, downloads, button, name):
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, button).click()
    target = downloads / name
    wait(d, lambda _d: target.exists() and target.stat().st_size > 0, what=f"download {name}")
    time.sleep(0.3)
    return target.read_text(encoding="utf-8")


def _tour(d, base, downloads, acc, casc, narr, cluster) -> list[str]:
    """Every page (and one download on each) as the signed-in user sees it."""
    seen = []
    d.get(base + "/")
    wait(d, lambda _d: "match)" in text_of(_d, "#ov-count"), what="overview")
    seen.append(d.page_source)
    seen.append(_download(d, downloads, "#ov-download-btn", "cascades.csv"))
    d.get(base + f"/cascade?id={casc}")
    wait(d, lambda _d: _d.find_elements("css selector", "#ca-graph .js-plotly-plot"),
         what="cascade graph")  # fmt: skip
    time.sleep(0.5)
    seen.append(d.page_source)
    seen.append(_download(d, downloads, "#ca-download-btn", f"cascade_{casc}.csv"))
    d.get(base + "/accounts")
    wait(d, lambda _d: "match)" in text_of(_d, "#ac-count"), what="accounts")
    seen.append(d.page_source)
    seen.append(_download(d, downloads, "#ac-download-btn", "accounts.csv"))
    d.get(base + f"/accounts?account={acc}")
    wait(d, lambda _d: "Account" in text_of(_d, "h2"), what="account page")
    time.sleep(0.5)
    seen.append(d.page_source)
    d.get(base + f"/narrative?id={narr}")
    wait(d, lambda _d: "Narrative" in text_of(_d, "h2"), what="narrative page")
    time.sleep(0.8)
    seen.append(d.page_source)
    d.get(base + f"/coordination?cluster={cluster}")
    wait(d, lambda _d: _d.find_elements("css selector", "#co-clusters tbody tr"), what="clusters")
    time.sleep(0.8)
    seen.append(d.page_source)
    seen.append(_download(d, downloads, "#co-download-btn", f"coordination_{cluster}_pairs.csv"))
    return seen


def test_viewer_never_sees_a_raw_id_or_handle(base, tmp_path):
    d, downloads = _driver(tmp_path)
    try:
        _sign_in(d, base, "vic", "not-the-password")
        wait(d, lambda _d: "Wrong user name" in text_of(_d, "#login-error"), what="refusal")
        _sign_in(d, base, "vic", PASSWORDS["vic"])
        wait(d, lambda _d: "/login" not in _d.current_url, what="signed in")
        seen = _tour(d, base, downloads, KEY.account("acc0003"), KEY.post("c000"),
                     KEY.narrative("n1"), KEY.cluster("k1"))  # fmt: skip
    finally:
        d.quit()
    text = "\n".join(seen)
    leaks = [(i, text_part[max(m.start() - 80, 0) : m.end() + 40])
             for i, text_part in enumerate(seen) for m in RAW.finditer(text_part)]  # fmt: skip
    assert leaks == []
    assert KEY.account("acc0003") in text and KEY.post("c000") in text
    assert KEY.handle(HOSTILE_HANDLE) in text  # the account page shows its pseudonym
    assert "No account" not in text and "No cascade" not in text


def test_analyst_sees_the_real_ids(base, tmp_path):
    d, downloads = _driver(tmp_path)
    try:
        _sign_in(d, base, "ana", PASSWORDS["ana"])
        wait(d, lambda _d: "/login" not in _d.current_url, what="signed in")
        seen = _tour(d, base, downloads, "acc0003", "c000", "n1", "k1")
    finally:
        d.quit()
    text = "\n".join(seen)
    assert "acc0003" in text and "c000-p00000" in text and "user_1" in text
    assert "acct_" not in text


def test_wrong_password_refused_then_rate_limited(base, tmp_path):
    d, _ = _driver(tmp_path)
    try:
        for _ in range(MAX_FAILURES):
            _sign_in(d, base, "root", "wrong-password-x")
            wait(d, lambda _d: "Wrong user name" in text_of(_d, "#login-error"), what="refusal")
        _sign_in(d, base, "root", PASSWORDS["root"])
        wait(d, lambda _d: "Too many failed attempts" in text_of(_d, "#login-error"),
             what="rate limit")  # fmt: skip
        d.get(base + "/")
        assert "/login" in d.current_url  # still not signed in
    finally:
        d.quit()


def test_every_view_and_export_is_in_the_audit_log(base, team_db):
    # runs after the tours above (file order): each page view and download is there
    events = [json.loads(line) for line in open(f"{team_db}.audit.jsonl", encoding="utf-8")]
    for user in ("vic", "ana"):
        mine = [e for e in events if e["user"] == user]
        views = {e["page"] for e in mine if e["action"] == "view"}
        assert {"overview", "cascade", "accounts", "narrative", "coordination"} <= views, user
        exports = {e["file"] for e in mine if e["action"] == "export"}
        assert {"cascades.csv", "accounts.csv"} <= exports, (user, exports)
        assert any(e["action"] == "open account" for e in mine)
    assert sum(e["action"] == "login_failed" for e in events) >= MAX_FAILURES + 1
    assert any(e["action"] == "login_refused" and e["user"] == "root" for e in events)

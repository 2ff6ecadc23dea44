"""Sign-in, sessions, rate limiting, TLS and the audit log, over real HTTP.

Each test runs the real ``spreadtrace serve`` in a subprocess (tests/test_dashboard_serve.py)
and talks to it with ``requests``; the TLS test makes a self-signed certificate with
the openssl command line.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess

import pytest
import requests

from spreadtrace.auth import MAX_FAILURES, list_users, verify
from spreadtrace.cli import main
from spreadtrace.store import Store
from spreadtrace.store.snapshot import publish
from tests.test_dashboard_serve import serving
from tests.test_dashboard_world import make_world

PASSWORDS = {"ana": "ana-long-password", "vic": "vic-long-password", "root": "root-long-password"}
ROLES = {"ana": "analyst", "vic": "viewer", "root": "admin"}


@pytest.fixture
def team(tmp_path, runner):
    """A built store and a users file with an analyst, a viewer and an admin."""
    db = tmp_path / "world.duckdb"
    with Store.open(db) as store:
        make_world(store, big=30)
        publish(store)
    for name, password in PASSWORDS.items():
        result = runner.invoke(
            main,
            ["--db", str(db), "users", "add", name, "--role", ROLES[name], "--password-stdin"],
            input=password + "\n",
        )
        assert result.exit_code == 0, result.output
    return db


def test_users_cli_add_list_remove(team, runner):
    users_file = f"{team}.users.json"
    assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    assert [(n, r) for n, r, _ in list_users(users_file)] == sorted(ROLES.items())
    text = open(users_file).read()
    assert "argon2id" in text and not any(p in text for p in PASSWORDS.values())
    assert verify(users_file, "vic", PASSWORDS["vic"]) == "viewer"
    listed = runner.invoke(main, ["--db", str(team), "users", "list"])
    assert "vic\tviewer" in listed.output and "argon2" not in listed.output
    short = runner.invoke(
        main, ["--db", str(team), "users", "add", "bo", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 2
    assert short.output.strip().splitlines() == ["error: a password must be at least 12 characters"]
    gone = runner.invoke(main, ["--db", str(team), "users", "remove", "vic"])
    assert gone.exit_code == 0 and verify(users_file, "vic", PASSWORDS["vic"]) is None
    again = runner.invoke(main, ["--db", str(team), "users", "remove", "vic"])
    assert again.exit_code == 2 and "no user 'vic'" in again.output


def _login(session: requests.Session, base: str, name: str, password: str, **kw):
    return session.post(
        base + "/login",
        data={"user": name, "password": password, "next": "/accounts"},
        allow_redirects=False,
        timeout=20,
        **kw,
    )


@pytest.mark.slow
def test_login_session_cookie_rate_limit_and_audit(team, runner):
    with serving(str(team)) as base:
        anon = requests.Session()
        # not signed in: a browser is sent to the login page, anything else gets 401
        r = anon.get(base + "/cascade?id=c000", headers={"Accept": "text/html"},
                     allow_redirects=False, timeout=20)  # fmt: skip
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
        for path in ("/_dash-layout", "/_dash-dependencies", "/assets/style.css",
                     "/_spreadtrace/status"):  # fmt: skip
            assert anon.get(base + path, timeout=20).status_code == 401, path
        assert "Sign in" in anon.get(base + "/login", timeout=20).text
        # a wrong password is refused; after MAX_FAILURES the right one is refused too
        for _ in range(MAX_FAILURES):
            r = _login(anon, base, "ana", "not-the-password")
            assert r.status_code == 401 and "Wrong user name or password" in r.text
        r = _login(anon, base, "ana", PASSWORDS["ana"])
        assert r.status_code == 429 and "Too many failed attempts" in r.text
        # another user signs in: a session cookie, HttpOnly, SameSite, not Secure on HTTP
        vic = requests.Session()
        r = _login(vic, base, "vic", PASSWORDS["vic"])
        assert r.status_code == 302 and r.headers["Location"] == "/accounts"
        cookie = r.headers["Set-Cookie"]
        assert "spreadtrace_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Secure" not in cookie
        assert vic.get(base + "/_dash-layout", timeout=20).status_code == 200
        # a cross-site POST with the cookie is refused
        r = vic.post(base + "/_dash-update-component", json={}, timeout=20,
                     headers={"Origin": "https://evil.example"})  # fmt: skip
        assert r.status_code == 403
        # an open redirect through ?next= is not possible
        r = _login(requests.Session(), base, "root", PASSWORDS["root"])
        assert r.headers["Location"] == "/accounts"
        r = requests.Session().post(base + "/login", allow_redirects=False, timeout=20, data={
            "user": "root", "password": PASSWORDS["root"], "next": "//evil.example/x"})  # fmt: skip
        assert r.headers["Location"] == "/"
        vic.get(base + "/logout", timeout=20)
        assert vic.get(base + "/_dash-layout", timeout=20).status_code == 401
    log = runner.invoke(main, ["--db", str(team), "audit"]).output
    assert log.count("login_failed") == MAX_FAILURES and "login_refused" in log
    assert "vic  viewer  login" in log and "vic  viewer  logout" in log
    events = [json.loads(line) for line in open(f"{team}.audit.jsonl")]
    assert all(e["at"].endswith("Z") and e["address"] == "127.0.0.1" for e in events)


@pytest.mark.slow
def test_basic_auth_fallback_scheme_is_case_insensitive(team):
    os.unlink(f"{team}.users.json")  # the single-user fallback needs no users file
    with serving(str(team), env={"SPREADTRACE_AUTH": "ana:s3cret-pass"}) as base:
        token = base64.b64encode(b"ana:s3cret-pass").decode()
        for scheme in ("Basic", "basic", "BASIC", "bAsIc"):
            r = requests.get(base + "/_dash-layout", timeout=20,
                             headers={"Authorization": f"{scheme} {token}"})  # fmt: skip
            assert r.status_code == 200, scheme
        r = requests.get(base + "/", timeout=20, headers={"Authorization": "Bearer " + token})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")


def test_plain_http_beyond_loopback_needs_the_flag(team, runner):
    args = ["--db", str(team), "serve", "--host", "0.0.0.0"]
    result = runner.invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: refusing to serve on 0.0.0.0 over plain HTTP: pass --certfile and "
        "--keyfile, or --insecure-http when a TLS reverse proxy is in front"
    ]
    result = runner.invoke(main, [*args, "--certfile", "/nonexistent.pem"])
    assert result.exit_code == 2


@pytest.mark.slow
def test_insecure_http_flag_serves_beyond_loopback(team):
    with serving(str(team), "--host", "0.0.0.0", "--insecure-http") as base:
        r = requests.get(base + "/_dash-layout", timeout=20)
        assert r.status_code == 401  # still behind the login


@pytest.mark.slow
def test_tls_with_a_self_signed_certificate(team, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with serving(str(team), "--certfile", str(cert), "--keyfile", str(key)) as base:
        https = base.replace("http://", "https://")
        s = requests.Session()
        s.trust_env = False  # verify against our certificate, not a bundle from the env
        r = _login(s, https, "ana", PASSWORDS["ana"], verify=str(cert))
        assert r.status_code == 302
        cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie
        page = s.get(https + "/accounts", timeout=20, verify=str(cert))
        assert page.status_code == 200 and "_dash-config" in page.text
        assert s.get(https + "/_dash-layout", timeout=20, verify=str(cert)).status_code == 200
        # plain HTTP on the same port gets no page
        try:
            plain = requests.get(base + "/_dash-layout", timeout=5)
        except requests.RequestException:
            plain = None
        assert plain is None or plain.status_code >= 400


def test_limiter_per_name_and_per_address():
    from spreadtrace.auth import LoginLimiter

    lim = LoginLimiter(max_failures=3, window_s=100)
    for i in range(3):
        lim.failed("ana", "10.0.0.1", now=i)
    assert not lim.allowed("ana", "10.9.9.9", now=5)  # the name is locked everywhere
    assert lim.allowed("bo", "10.0.0.1", now=5)  # colleagues on the same address are not
    for i in range(9):
        lim.failed(f"spray{i}", "10.0.0.1", now=10 + i)
    assert not lim.allowed("carol", "10.0.0.1", now=20)  # a spray from one address stops
    assert lim.allowed("carol", "10.0.0.2", now=20)
    assert lim.allowed("ana", "10.9.9.9", now=103)  # the window passes


@pytest.mark.slow
def test_only_an_admin_manages_users_from_the_dashboard(team):
    with serving(str(team)) as base:
        ana, root = requests.Session(), requests.Session()
        assert _login(ana, base, "ana", PASSWORDS["ana"]).status_code == 302
        assert _login(root, base, "root", PASSWORDS["root"]).status_code == 302
        assert ana.get(base + "/_spreadtrace/users", timeout=20).status_code == 403
        page = root.get(base + "/_spreadtrace/users", timeout=20)
        assert page.status_code == 200 and "vic" in page.text and "argon2" not in page.text
        r = root.post(base + "/_spreadtrace/users", timeout=20, data={
            "action": "add", "user": "new", "role": "viewer", "password": "new-long-password"})  # fmt: skip
        assert "saved new (viewer)" in r.text
        r = root.post(base + "/_spreadtrace/users", timeout=20,
                      data={"action": "remove", "user": "vic"})  # fmt: skip
        assert "removed vic" in r.text
        r = root.post(base + "/_spreadtrace/users", timeout=20,
                      data={"action": "add", "user": "weak", "role": "viewer", "password": "x"})  # fmt: skip
        assert "at least 12 characters" in r.text
    users_file = f"{team}.users.json"
    assert verify(users_file, "new", "new-long-password") == "viewer"
    assert verify(users_file, "vic", PASSWORDS["vic"]) is None
    events = [json.loads(line) for line in open(f"{team}.audit.jsonl")]
    assert {(e["user"], e["action"], e.get("target")) for e in events} >= {
        ("root", "user saved", "new"),
        ("root", "user removed", "vic"),
    }

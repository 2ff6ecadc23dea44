"""Who is asking, what they may see, and the record of what they saw.

Why one module: every page and download reads through :mod:`spreadtrace.dashboard.queries`,
which calls :func:`redact` on what it returns and :func:`resolve` on the ids it is
given, so a new page inherits the viewer role's pseudonyms without doing anything.
The login (users file, rate limit, session cookie), the single-user basic-auth
fallback and the audit log are wired into the Flask server by :func:`install`.

Roles (see :mod:`spreadtrace.auth`): a *viewer* sees, everywhere and in every
download, the reports' HMAC pseudonyms (same secret, same pseudonyms as
``report --pseudonymize``) instead of account ids, handles, post, cascade and
narrative ids, and free text with account traces masked; an *analyst* sees
everything; an *admin* also manages users.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import dataclasses
import hmac
import html as html_lib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import flask
import polars as pl
import werkzeug

from spreadtrace.auth import (
    ROLES,
    AuditLog,
    LoginLimiter,
    UserError,
    add_user,
    list_users,
    remove_user,
    user_role,
    verify,
)
from spreadtrace.store.report_queries import PseudonymKey, mask_accounts

__all__ = [
    "Security",
    "install",
    "role",
    "user",
    "is_viewer",
    "redact",
    "pseudonym_kind",
    "audit",
    "as_role",
    "check_basic_auth",
]

# Column names -> pseudonym kind (None: masked text; "drop": hidden outright).
ACCOUNT = (
    "account_id",
    "root_account_id",
    "origin_account_id",
    "first_account_id",
    "account_a",
    "account_b",
)
HANDLE = ("handle", "root_handle", "origin_handle", "first_handle", "handle_a", "handle_b")
POST = ("post_id", "parent_id", "cascade_id", "root_post_id", "root_id", "first_post_id",
        "post_a", "post_b")  # fmt: skip
NARRATIVE = ("narrative_id",)
CLUSTER = ("cluster_id", "coordination_cluster")
TEXT = ("text", "label", "root_text", "bot_reasons", "reasons", "amplification_reasons",
        "item_url")  # fmt: skip
DROP = ("display_name", "description")
_KIND = {
    **{c: "account" for c in ACCOUNT},
    **{c: "handle" for c in HANDLE},
    **{c: "post" for c in POST},
    **{c: "narrative" for c in NARRATIVE},
    **{c: "cluster" for c in CLUSTER},
    **{c: "text" for c in TEXT},
    **{c: "drop" for c in DROP},
}
_PSEUDONYM = re.compile(r"^(acct|p|n|c|h)_[0-9a-f]{16}$")
_PREFIX_KIND = {"acct": "account", "p": "post", "n": "narrative", "c": "cluster", "h": "handle"}
SESSION_HOURS = 12

_role_var: contextvars.ContextVar[tuple[str | None, str]] = contextvars.ContextVar(
    "spreadtrace_role", default=(None, "analyst")
)


@dataclass
class Security:
    """How the app authenticates and what it records; one per app."""

    users_file: Path | None = None
    basic: tuple[str, str] | None = None  # single-user fallback
    tls: bool = False
    audit_log: AuditLog | None = None
    key: PseudonymKey | None = None  # the viewer's pseudonyms
    limiter: LoginLimiter = dataclasses.field(default_factory=LoginLimiter)

    @property
    def required(self) -> bool:
        return self.users_file is not None or self.basic is not None


_security = Security()


def current() -> Security:
    return _security


def user() -> str | None:
    """The signed-in user of this request (None when no login is configured)."""
    if flask.has_request_context() and "st_user" in flask.g:
        return flask.g.st_user
    return _role_var.get()[0]


def role() -> str:
    """The role of this request: viewer, analyst or admin."""
    if flask.has_request_context() and "st_role" in flask.g:
        return flask.g.st_role
    return _role_var.get()[1]


def is_viewer() -> bool:
    return role() == "viewer"


class as_role:  # noqa: N801 -- used like a function: ``with as_role("viewer"):``
    """Run a block as ``role`` outside a request (tests, scripts)."""

    def __init__(self, role: str, user: str | None = "test") -> None:
        self._value = (user, role)

    def __enter__(self) -> None:
        self._token = _role_var.set(self._value)

    def __exit__(self, *exc: object) -> None:
        _role_var.reset(self._token)


def _key() -> PseudonymKey:
    if _security.key is None:  # a per-process key: pseudonyms then match no report
        _security.key = PseudonymKey.from_secret(secrets.token_hex(16))
    return _security.key


def pseudonym_kind(value: object) -> str | None:
    """The kind of pseudonym ``value`` is (account, post, ...), or None.

    >>> pseudonym_kind("acct_0123456789abcdef"), pseudonym_kind("alice")
    ('account', None)
    """
    if isinstance(value, str):
        m = _PSEUDONYM.match(value)
        if m:
            return _PREFIX_KIND[m.group(1)]
    return None


def _pseudo(kind: str, value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value):
        return value
    if kind == "text":
        return mask_accounts(str(value))
    if kind == "drop":
        return "[hidden]"
    text = str(value)
    if pseudonym_kind(text) is not None:
        return text  # already a pseudonym
    key = _key()
    return getattr(key, kind)(text)


def redact(value: Any) -> Any:
    """``value`` as a viewer may see it (unchanged for other roles).

    Frames and dicts are redacted by column name (account ids, handles, post /
    cascade / narrative / cluster ids become the reports' pseudonyms; free text has
    account traces masked; display names are hidden); tuples, lists and dataclasses
    are walked.
    """
    if not is_viewer():
        return value
    return _redact(value)


def _redact(value: Any) -> Any:
    if isinstance(value, pl.DataFrame):
        cols = []
        for name in value.columns:
            kind = _KIND.get(name)
            if kind is None or value.schema[name] not in (pl.Utf8, pl.String):
                continue
            uniq = value[name].unique().drop_nulls().to_list()
            mapping = {v: _pseudo(kind, v) for v in uniq}
            cols.append(pl.col(name).replace_strict(mapping, default=None))
        return value.with_columns(cols) if cols else value
    if isinstance(value, dict):
        return {
            k: (_pseudo(_KIND[k], v) if k in _KIND and isinstance(v, str) else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, tuple):
        return tuple(_redact(v) for v in value)
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _redact(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if isinstance(getattr(value, f.name), pl.DataFrame | dict | list | tuple)
        }
        return dataclasses.replace(value, **changes) if changes else value
    return value


def key_for_lookup() -> PseudonymKey:
    """The key whose pseudonyms the viewer sees (to map a clicked pseudonym back)."""
    return _key()


def audit(action: str, **detail: Any) -> None:
    """Record one event of this request's user in the audit log (if one is kept)."""
    log = _security.audit_log
    if log is None:
        return
    address = flask.request.remote_addr if flask.has_request_context() else None
    log.write(user(), role(), action, address=address, **detail)


# --- HTTP: login, session, basic-auth fallback ----------------------------------------


def check_basic_auth(header: str | None, name: str, password: str) -> bool:
    """True when an ``Authorization: Basic ...`` header carries ``name:password``.

    The scheme is matched case-insensitively (RFC 7235 section 2.1); the
    credentials are compared in constant time.

    >>> ok = "basic " + base64.b64encode(b"ana:s3cret").decode()
    >>> check_basic_auth(ok, "ana", "s3cret"), check_basic_auth(None, "ana", "s3cret")
    (True, False)
    """
    creds = _basic_credentials(header)
    if creds is None:
        return False
    expected = f"{name}:{password}".encode()
    return hmac.compare_digest(f"{creds[0]}:{creds[1]}".encode(), expected)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = raw.partition(":")
    return (name, password) if sep else None


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spreadtrace · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #fafafa; display: grid;
  place-items: center; min-height: 90vh; margin: 0; color: #222; }}
form {{ background: #fff; border: 1px solid #e3e7eb; border-radius: 6px; padding: 1.5em 2em;
  display: grid; gap: 0.6em; min-width: 18em; }}
input {{ font: inherit; padding: 0.3em; }} .error {{ color: #b00020; }}
</style></head><body>
<form method="post" action="/login">
<h2>spreadtrace</h2>
{message}
<label>user <input name="user" id="login-user" autocomplete="username" required></label>
<label>password <input name="password" id="login-password" type="password"
  autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit" id="login-submit">Sign in</button>
</form></body></html>
"""


def _safe_next(target: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(message: str = "", next_url: str = "/", status: int = 200) -> flask.Response:
    body = LOGIN_PAGE.format(
        message=f'<p class="error" id="login-error">{html_lib.escape(message)}</p>'
        if message
        else "",
        next=html_lib.escape(_safe_next(next_url), quote=True),
    )
    resp = flask.Response(body, status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def install(server: flask.Flask, security: Security) -> None:
    """Put every route of ``server`` behind the login (when one is configured)."""
    global _security
    _security = security
    server.secret_key = secrets.token_bytes(32)  # sessions end when the server restarts
    server.config.update(
        SESSION_COOKIE_NAME="spreadtrace_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=security.tls,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )

    @server.route("/login", methods=["GET", "POST"])
    def _login() -> werkzeug.Response:
        if security.users_file is None:
            return flask.redirect("/")
        if flask.request.method == "GET":
            return _login_page(next_url=flask.request.args.get("next", "/"))
        name = flask.request.form.get("user", "")[:64]
        password = flask.request.form.get("password", "")[:1024]
        next_url = _safe_next(flask.request.form.get("next"))
        address = flask.request.remote_addr or "?"
        if not security.limiter.allowed(name, address):
            _log(security, name, None, "login_refused", address=address, reason="rate limit")
            return _login_page("Too many failed attempts: wait 15 minutes.", next_url, 429)
        found = verify(security.users_file, name, password)
        if found is None:
            security.limiter.failed(name, address)
            _log(security, name, None, "login_failed", address=address)
            return _login_page("Wrong user name or password.", next_url, 401)
        flask.session.clear()
        flask.session.permanent = True
        flask.session["user"] = name
        flask.session["role"] = found
        _log(security, name, found, "login", address=address)
        return flask.redirect(next_url)

    @server.route("/logout")
    def _logout() -> werkzeug.Response:
        if "user" in flask.session:
            audit("logout")
        flask.session.clear()
        return flask.redirect("/login" if security.users_file else "/")

    @server.route("/_spreadtrace/users", methods=["GET", "POST"])
    def _users() -> flask.Response:
        """Admins manage users here (as ``spreadtrace users`` does on the server)."""
        if role() != "admin" or security.users_file is None:
            return flask.Response("admins only (and only with a users file)\n", 403)
        message = ""
        if flask.request.method == "POST":
            form = flask.request.form
            try:
                if form.get("action") == "remove":
                    if form.get("user") == user():
                        raise UserError("you cannot remove yourself")
                    remove_user(security.users_file, form.get("user", ""))
                    audit("user removed", target=form.get("user"))
                    message = f"removed {form.get('user')}"
                else:
                    add_user(
                        security.users_file,
                        form.get("user", ""),
                        form.get("password", ""),
                        form.get("role", ""),
                    )
                    audit("user saved", target=form.get("user"), new_role=form.get("role"))
                    message = f"saved {form.get('user')} ({form.get('role')})"
            except UserError as exc:
                message = str(exc)
        return _users_page(list_users(security.users_file), message)

    @server.before_request
    def _authenticate() -> werkzeug.Response | None:
        if not security.required:
            flask.g.st_user, flask.g.st_role = None, "analyst"  # loopback, single user
            return None
        if flask.request.path == "/login":
            return None
        if flask.request.method == "POST" and not _same_origin():
            return flask.Response("cross-site request refused\n", 403)
        who = _session_user(security) or _basic_user(security)
        if who is None:
            return _challenge(security)
        flask.g.st_user, flask.g.st_role = who
        return None


def _users_page(users: list[tuple[str, str, str]], message: str) -> flask.Response:
    esc = html_lib.escape
    rows = "".join(
        f"<tr><td>{esc(n)}</td><td>{esc(r)}</td><td>{esc(t)}</td><td>"
        f'<form method="post"><input type="hidden" name="action" value="remove">'
        f'<input type="hidden" name="user" value="{esc(n, quote=True)}">'
        f'<button type="submit">remove</button></form></td></tr>'
        for n, r, t in users
    )
    options = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>spreadtrace · users</title></head><body><h2>Users</h2>"
        + (f'<p id="users-message">{esc(message)}</p>' if message else "")
        + "<table><tr><th>user</th><th>role</th><th>updated</th><th></th></tr>"
        + rows
        + '</table><h3>Add or change a user</h3><form method="post">'
        '<input type="hidden" name="action" value="add">'
        '<label>user <input name="user" required></label> '
        f'<label>role <select name="role">{options}</select></label> '
        '<label>password <input name="password" type="password" required></label> '
        '<button type="submit">save</button></form><p><a href="/">back</a></p></body></html>'
    )
    resp = flask.Response(body, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _log(security: Security, name: str | None, role: str | None, action: str, **kw: Any) -> None:
    """An audit event about a login attempt (before any user is signed in)."""
    if security.audit_log is not None:
        security.audit_log.write(name, role, action, **kw)


def _same_origin() -> bool:
    """A POST from a page of another site (CSRF) carries a foreign Origin header."""
    origin = flask.request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == flask.request.host


def _session_user(security: Security) -> tuple[str, str] | None:
    name = flask.session.get("user")
    if not name or security.users_file is None:
        return None
    current_role = user_role(security.users_file, name)  # as of now: a removed user is out
    if current_role is None:
        flask.session.clear()
        return None
    return name, current_role


def _basic_user(security: Security) -> tuple[str, str] | None:
    header = flask.request.headers.get("Authorization")
    creds = _basic_credentials(header)
    if creds is None:
        return None
    name, password = creds
    address = flask.request.remote_addr or "?"
    if not security.limiter.allowed(name, address):
        return None
    if security.basic is not None:
        if check_basic_auth(header, *security.basic):
            return security.basic[0], "analyst"
    if security.users_file is not None:
        found = verify(security.users_file, name, password)
        if found is not None:
            return name, found
    security.limiter.failed(name, address)
    return None


def _challenge(security: Security) -> werkzeug.Response:
    accepts_html = "text/html" in flask.request.headers.get("Accept", "")
    if security.users_file is not None and flask.request.method == "GET" and accepts_html:
        return flask.redirect("/login?" + urlencode({"next": flask.request.full_path.rstrip("?")}))
    headers = {}
    if security.basic is not None:
        headers["WWW-Authenticate"] = 'Basic realm="spreadtrace", charset="UTF-8"'
    return flask.Response("authentication required\n", 401, headers)

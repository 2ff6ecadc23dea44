"""Dashboard accounts, roles, login rate limiting and the audit log.

Why: trust-and-safety data is about real people, so a team sharing one dashboard
needs to know who saw what, and not everyone should see who is who. This module is
the library behind ``spreadtrace users``, ``spreadtrace audit`` and the dashboard's
login; it never prints and imports nothing from Dash.

- **Users file** (JSON, written atomically with mode 0600): per analyst a role and an
  argon2id password hash (argon2-cffi's defaults, RFC 9106). The password is never
  stored; verification is constant-time inside argon2.
- **Roles**: ``viewer`` sees the reports' HMAC pseudonyms instead of account ids,
  handles and platform post ids, everywhere, downloads included; ``analyst`` sees
  everything; ``admin`` also manages users.
- **Rate limit**: after :data:`MAX_FAILURES` failed logins within :data:`WINDOW_S` for
  one user name (or four times as many from one client address: colleagues behind
  one NAT should not lock each other out, a password spray over many names still
  stops), further attempts are refused until the window has passed, whatever the
  password.
- **Audit log**: one JSON object per line, appended with ``O_APPEND`` (one ``write``
  per event, so concurrent writers never interleave), never rewritten by spreadtrace.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "users.json")
>>> add_user(path, "ana", "a long passphrase", "analyst")
>>> verify(path, "ana", "a long passphrase"), verify(path, "ana", "wrong")
('analyst', None)
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from spreadtrace.durable import write_text_atomic
from spreadtrace.errors import SpreadtraceError

__all__ = [
    "ROLES",
    "MIN_PASSWORD",
    "UserError",
    "add_user",
    "remove_user",
    "list_users",
    "verify",
    "user_role",
    "LoginLimiter",
    "AuditLog",
    "read_audit",
]

ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD = 12
MAX_FAILURES = 5
WINDOW_S = 900.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_hasher = PasswordHasher()
# Verifying an unknown user costs as much as a known one: no timing oracle for names.
_DUMMY = _hasher.hash("spreadtrace-dummy-password")


class UserError(SpreadtraceError):
    """A users-file request that cannot be done (bad name, role, weak password...)."""

    exit_code = 2


def _load(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        users = data["users"]
        assert isinstance(users, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise UserError(f"{path} is not a spreadtrace users file") from None
    return users


def _save(path: str | os.PathLike[str], users: dict[str, dict[str, Any]]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": 1, "users": users}, indent=2, sort_keys=True) + "\n"
    write_text_atomic(path, text, mode=0o600)  # password hashes: owner only


def add_user(path: str | os.PathLike[str], name: str, password: str, role: str) -> None:
    """Add ``name`` (or replace its password and role) in the users file at ``path``."""
    if not _NAME.match(name or ""):
        raise UserError("a user name is 1-64 characters: letters, digits and _ . @ - (not first)")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"a password must be at least {MIN_PASSWORD} characters")
    users = _load(path)
    users[name] = {
        "role": role,
        "hash": _hasher.hash(password),
        "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _save(path, users)


def remove_user(path: str | os.PathLike[str], name: str) -> None:
    """Remove ``name`` from the users file; UserError if it is not there."""
    users = _load(path)
    if name not in users:
        raise UserError(f"no user {name!r} in {path}")
    del users[name]
    _save(path, users)


def list_users(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """(name, role, updated_at) for every user, by name. Hashes are not returned."""
    users = _load(path)
    return [(n, u.get("role", "?"), u.get("updated_at", "")) for n, u in sorted(users.items())]


def user_role(path: str | os.PathLike[str], name: str) -> str | None:
    """The current role of ``name``, or None if the user is not (or no longer) there."""
    role = _load(path).get(name, {}).get("role")
    return role if role in ROLES else None


def verify(path: str | os.PathLike[str], name: str, password: str) -> str | None:
    """The role of ``name`` if ``password`` is right, else None (same cost either way)."""
    users = _load(path)
    user = users.get(name)
    try:
        _hasher.verify(user["hash"] if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.get("role") not in ROLES:
        return None
    return str(user["role"])


class LoginLimiter:
    """Failed logins per user name and per client address, in a sliding window.

    >>> lim = LoginLimiter(max_failures=2, window_s=60)
    >>> lim.allowed("ana", "10.0.0.1", now=0)
    True
    >>> lim.failed("ana", "10.0.0.1", now=1); lim.failed("ana", "10.0.0.2", now=2)
    >>> lim.allowed("ana", "10.0.0.3", now=3), lim.allowed("bo", "10.0.0.1", now=3)
    (False, True)
    >>> lim.allowed("ana", "10.0.0.3", now=62)
    True
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.max_address_failures = 4 * max_failures
        self.window_s = window_s
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        q = self._fails.get(key)
        if not q:
            return 0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return len(q)

    def allowed(self, name: str, address: str, *, now: float | None = None) -> bool:
        """False while either the name or the address is over the limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return (
                self._recent(f"user:{name.lower()}", now) < self.max_failures
                and self._recent(f"addr:{address}", now) < self.max_address_failures
            )

    def failed(self, name: str, address: str, *, now: float | None = None) -> None:
        """Count one failed attempt against the name and the address."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in (f"user:{name.lower()}", f"addr:{address}"):
                self._fails.setdefault(k, deque()).append(now)
            if len(self._fails) > 100_000:  # bounded memory under a spray of names
                self._fails.clear()


@dataclass
class AuditLog:
    """Append-only JSON-lines audit log: who did what, when, from where."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def write(self, user: str | None, role: str | None, action: str, **detail: Any) -> None:
        """Append one event (``action``: login, login_failed, logout, view, open,
        search, export, forget, ...), with UTC time, as one line."""
        event = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "user": user,
            "role": role,
            "action": action,
            **{k: v for k, v in detail.items() if v is not None},
        }
        line = json.dumps(event, ensure_ascii=False, sort_keys=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def read_audit(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The events of an audit log, oldest first (a damaged line is yielded as such)."""
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                yield {"at": None, "action": "unreadable-line", "line": n}

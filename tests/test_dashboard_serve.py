"""Start ``spreadtrace serve`` in a subprocess on a free localhost port (test helper)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(
    db: str, *extra: str, env: dict[str, str] | None = None, root: os.PathLike | None = None
) -> Iterator[str]:
    """Run the real CLI (waitress) until the block ends; yield the base URL.

    ``root``: run the spreadtrace found there (the benchmark's older version) instead.
    """
    root = REPO if root is None else root
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from spreadtrace.cli import main; main()",
            "--db",
            db,
            "serve",
            "--port",
            str(port),
            *extra,
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root), **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    tls = "--certfile" in extra
    probe = base.replace("http://", "https://") if tls else base
    context = ssl._create_unverified_context() if tls else None  # noqa: S323 -- a probe
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited {proc.returncode}: {proc.stdout.read()}")
            try:
                urllib.request.urlopen(probe + "/_dash-layout", timeout=2, context=context)  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # up, but behind auth
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- serve: refusal without auth, basic auth -------------------------------------------
import base64  # noqa: E402

import pytest  # noqa: E402

from spreadtrace.cli import main  # noqa: E402
from spreadtrace.cli.serve import is_loopback, parse_auth  # noqa: E402
from spreadtrace.store import Store  # noqa: E402
from spreadtrace.store.snapshot import latest  # noqa: E402


def test_refuses_public_host_without_auth(runner, db_path):
    Store.open(db_path).close()
    result = runner.invoke(main, ["--db", str(db_path), "serve", "--host", "0.0.0.0"], env={})
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without authentication" in result.output
    result = runner.invoke(
        main, ["--db", str(db_path), "serve", "--host", "0.0.0.0", "--auth", "ana:"]
    )
    assert result.exit_code == 2 and "USER:PASSWORD" in result.output


def test_loopback_and_auth_parsing():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("example.org")
    assert parse_auth("ana:pa:ss") == ("ana", "pa:ss")
    assert parse_auth(None) is None


def _get(url: str, auth: str | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


@pytest.mark.slow
def test_basic_auth_guards_every_request(db_path):
    Store.open(db_path).close()
    with serving(str(db_path), env={"SPREADTRACE_AUTH": "ana:s3cret"}) as base:
        # serve published a first snapshot of a store that had none.
        assert latest(db_path) is not None
        for path in ("/", "/_dash-layout", "/_dash-dependencies", "/cascade?id=x"):
            status, headers = _get(base + path)
            assert status == 401, path
            assert headers.get("WWW-Authenticate", "").startswith("Basic")
        assert _get(base + "/", "ana:wrong")[0] == 401
        assert _get(base + "/", "ana:s3cret")[0] == 200
        assert _get(base + "/_dash-layout", "ana:s3cret")[0] == 200

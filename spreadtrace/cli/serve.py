"""``spreadtrace serve``: the analysts' dashboard over the store's published snapshots."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import Settings, err_console, handle_errors, pass_settings
from spreadtrace.errors import PortInUse, SpreadtraceError, StoreBusy, StoreError


class AuthRequired(SpreadtraceError):
    """Serving beyond localhost without credentials."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``USER:PASSWORD`` -> (user, password); both parts must be non-empty."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise AuthRequired("--auth must be USER:PASSWORD (both non-empty)")
    return user, password


def ensure_snapshot(db: str) -> None:
    """Publish a first snapshot if the store has none and no job is writing it."""
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import latest, publish

    if latest(db) is not None:
        return
    if not os.path.exists(db):
        raise StoreError(f"no store at {db}; create one with `spreadtrace init`")
    try:
        with Store.open(db, create=False) as store:
            publish(store)
    except StoreBusy:
        pass  # a job is writing; its build will publish, and the app shows a notice until then


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--auth",
    envvar="SPREADTRACE_AUTH",
    metavar="USER:PASSWORD",
    help="HTTP basic auth for every request; required when --host is not a loopback "
    "address. Also the SPREADTRACE_AUTH environment variable.",
)
@click.option("--threads", default=8, show_default=True, help="Worker threads (waitress).")
@pass_settings
@handle_errors
def serve(settings: Settings, host: str, port: int, auth: str | None, threads: int) -> None:
    """Serve the dashboard (read-only) at http://HOST:PORT.

    The app reads the snapshot that each `spreadtrace build` publishes, so it keeps
    serving while ingest and build write the store, and switches to a new build's
    results on the next page load. Binds 127.0.0.1 unless told otherwise; any other
    address requires --auth (or SPREADTRACE_AUTH). Served by waitress.

    \b
    Example:
        spreadtrace --db work.duckdb serve
        SPREADTRACE_AUTH=ana:s3cret spreadtrace --db work.duckdb serve --host 0.0.0.0
    """
    credentials = parse_auth(auth)
    if credentials is None and not is_loopback(host):
        raise AuthRequired(
            f"refusing to serve on {host} without authentication: pass --auth USER:PASSWORD "
            "or set SPREADTRACE_AUTH (or bind 127.0.0.1)"
        )
    check_port(host, port)
    ensure_snapshot(settings.db)
    from waitress import serve as waitress_serve

    from spreadtrace.dashboard.app import create_app

    app = create_app(settings.db, auth=credentials)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(
        f"serving {settings.db} at http://{shown}:{port}/"
        + (" (basic auth)" if credentials else "")
        + " — Ctrl+C to stop",
        markup=False,
        highlight=False,
    )
    try:
        waitress_serve(app.server, host=host, port=port, threads=threads, ident="spreadtrace")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(_in_use(host, port)) from None
        raise


def _in_use(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is already in use (another `spreadtrace serve`?); "
        f"stop it or pass --port {port + 1}"
    )


def check_port(host: str, port: int) -> None:
    """Fail early, in one line, when ``host:port`` cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortInUse(
            f"cannot listen on {host}: {exc.strerror}; pass --host an address"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(_in_use(host, port)) from None
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None

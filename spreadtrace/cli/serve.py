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
    "--users",
    "users_file",
    envvar="SPREADTRACE_USERS",
    type=click.Path(dir_okay=False),
    help="Per-analyst accounts with roles (`spreadtrace users`); default "
    "<db>.users.json when it exists. Also SPREADTRACE_USERS.",
)
@click.option(
    "--auth",
    envvar="SPREADTRACE_AUTH",
    metavar="USER:PASSWORD",
    help="Single-user fallback when there is no users file: HTTP basic auth for every "
    "request. Also the SPREADTRACE_AUTH environment variable.",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, exists=True),
    help="TLS certificate (PEM): serve HTTPS.",
)
@click.option(
    "--keyfile", type=click.Path(dir_okay=False, exists=True), help="TLS private key (PEM)."
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow plain HTTP on a non-loopback address (only behind a TLS reverse proxy).",
)
@click.option(
    "--audit-log",
    envvar="SPREADTRACE_AUDIT_LOG",
    type=click.Path(dir_okay=False),
    help="Append-only audit log (default: <db>.audit.jsonl).",
)
@click.option(
    "--pseudonymize",
    metavar="SECRET",
    envvar="SPREADTRACE_PSEUDONYMIZE",
    help="The reports' pseudonymisation secret: viewers then see the same pseudonyms "
    "as the reports. Without it viewers get pseudonyms of a per-process key.",
)
@click.option("--threads", default=8, show_default=True, help="Worker threads.")
@pass_settings
@handle_errors
def serve(
    settings: Settings,
    host: str,
    port: int,
    users_file: str | None,
    auth: str | None,
    certfile: str | None,
    keyfile: str | None,
    insecure_http: bool,
    audit_log: str | None,
    pseudonymize: str | None,
    threads: int,
) -> None:
    """Serve the dashboard (read-only) at http://HOST:PORT, or https:// with --certfile.

    The app reads the snapshot that each `spreadtrace build` publishes, so it keeps
    serving while ingest and build write the store, and switches to a new build's
    results on the next page load. Binds 127.0.0.1 unless told otherwise. Any other
    address requires sign-in (a users file, or --auth for a single user) and TLS
    (--certfile/--keyfile), or --insecure-http when a TLS proxy sits in front.
    Every view, search and export is written to the audit log.

    \b
    Example:
        spreadtrace --db work.duckdb serve
        spreadtrace --db work.duckdb users add ana --role analyst
        spreadtrace --db work.duckdb serve --host 0.0.0.0 --certfile c.pem --keyfile k.pem
    """
    from pathlib import Path

    from spreadtrace.auth import AuditLog
    from spreadtrace.cli.report import checked_secret

    if users_file is None and os.path.exists(f"{settings.db}.users.json"):
        users_file = f"{settings.db}.users.json"
    if users_file is not None and not os.path.exists(users_file):
        raise AuthRequired(f"no users file at {users_file}; add one with `spreadtrace users add`")
    credentials = parse_auth(auth)
    if users_file is not None and credentials is not None:
        raise AuthRequired(
            "--auth is the single-user fallback; with a users file, add the user there "
            "(`spreadtrace users add`)"
        )
    if (certfile is None) != (keyfile is None):
        raise AuthRequired("--certfile and --keyfile go together")
    tls = certfile is not None
    if not is_loopback(host):
        if users_file is None and credentials is None:
            raise AuthRequired(
                f"refusing to serve on {host} without authentication: add users "
                "(`spreadtrace users add`) or pass --auth USER:PASSWORD or set "
                "SPREADTRACE_AUTH (or bind 127.0.0.1)"
            )
        if not tls and not insecure_http:
            raise AuthRequired(
                f"refusing to serve on {host} over plain HTTP: pass --certfile and "
                "--keyfile, or --insecure-http when a TLS reverse proxy is in front"
            )
    check_port(host, port)
    ensure_snapshot(settings.db)
    from spreadtrace.dashboard.app import create_app
    from spreadtrace.dashboard.security import Security
    from spreadtrace.store.report_queries import PseudonymKey

    secret = checked_secret(pseudonymize)
    sec = Security(
        users_file=Path(users_file) if users_file else None,
        basic=credentials,
        tls=tls,
        audit_log=AuditLog(Path(audit_log or f"{settings.db}.audit.jsonl")),
        key=PseudonymKey.from_secret(secret) if secret else None,
    )
    app = create_app(settings.db, sec=sec)
    shown = f"[{host}]" if ":" in host else host
    how = " (sign-in: users file)" if users_file else (" (basic auth)" if credentials else "")
    err_console.print(
        f"serving {settings.db} at {'https' if tls else 'http'}://{shown}:{port}/{how}"
        " — Ctrl+C to stop",
        markup=False,
        highlight=False,
    )
    if certfile is not None and keyfile is not None:  # tls (both or neither, checked above)
        _serve_tls(app.server, host, port, threads, certfile, keyfile)
        return
    from waitress import serve as waitress_serve

    try:
        waitress_serve(app.server, host=host, port=port, threads=threads, ident="spreadtrace")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(_in_use(host, port)) from None
        raise


def _serve_tls(
    wsgi: object, host: str, port: int, threads: int, certfile: str, keyfile: str
) -> None:
    """Serve HTTPS with cheroot (waitress has no TLS)."""
    from cheroot import wsgi as cheroot_wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    try:
        adapter = BuiltinSSLAdapter(certfile, keyfile)
    except (OSError, ValueError) as exc:
        raise AuthRequired(f"cannot use the TLS certificate or key: {exc}") from None
    server = cheroot_wsgi.Server((host, port), wsgi, numthreads=threads, server_name="spreadtrace")
    server.ssl_adapter = adapter
    try:
        server.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


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

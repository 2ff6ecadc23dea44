"""The Dash app shell: navbar, snapshot badge, page container, URL state, basic auth.

Why a shell: each page (``spreadtrace/dashboard/pages/*.py``) registers itself and owns
its layout and callbacks; the shell only draws the navbar from ``dash.page_registry``,
hosts ``dash.page_container``, and provides two shared mechanisms:

- navigation: callbacks set ``href`` of the ``ids.NAV`` location (client-side routing);
- shareable state: a page writes ``{"path", "search"}`` to ``ids.URL_STATE`` and a
  clientside callback mirrors it into the address bar with ``history.replaceState``
  (no reload, no re-render). Each page's layout reads its state back from the query
  string, so a copied link opens the same view.

The app reads only published snapshots (see :mod:`spreadtrace.store.snapshot`).
"""

from __future__ import annotations

import base64
import hmac
from pathlib import Path

import dash
import flask
from dash import Input, Output, dcc, html

from spreadtrace import __version__
from spreadtrace.dashboard import ids, media_files, queries
from spreadtrace.errors import StoreError

__all__ = ["create_app", "check_basic_auth"]

PAGES = Path(__file__).parent / "pages"


def check_basic_auth(header: str | None, user: str, password: str) -> bool:
    """True when an ``Authorization: Basic ...`` header carries ``user:password``.

    Compared in constant time (``hmac.compare_digest``) so timing does not leak it.

    >>> import base64
    >>> ok = "Basic " + base64.b64encode(b"ana:s3cret").decode()
    >>> check_basic_auth(ok, "ana", "s3cret"), check_basic_auth(None, "ana", "s3cret")
    (True, False)
    """
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True)
    except ValueError:
        return False
    expected = f"{user}:{password}".encode()
    return hmac.compare_digest(given, expected)


def _navbar() -> html.Nav:
    links = [
        dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in dash.page_registry.values()
        if page.get("nav", True)
    ]
    return html.Nav(
        [
            html.Span("spreadtrace", className="brand"),
            *links,
            html.Span(id=ids.SNAPSHOT_BADGE, className="snapshot"),
        ],
        className="navbar",
    )


def create_app(db_path: str, *, auth: tuple[str, str] | None = None) -> dash.Dash:
    """Build the Dash app over the snapshots of the store at ``db_path``.

    ``auth`` = (user, password) puts every request behind HTTP basic auth.
    One app per process: Dash pages register their callbacks globally.
    """
    queries.use(db_path)
    app = dash.Dash(
        "spreadtrace.dashboard",
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(Path(__file__).parent / "assets"),
        title="spreadtrace",
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.layout = html.Div(
        [
            dcc.Location(id=ids.NAV, refresh="callback-nav"),
            dcc.Store(id=ids.URL_STATE),
            html.Div(id=ids.URL_SYNC, hidden=True),
            dcc.Interval(id=ids.SNAPSHOT_POLL, interval=15_000),
            _navbar(),
            html.Main(dash.page_container, className="page"),
            html.Footer(f"spreadtrace {__version__} · read-only view of published snapshots"),
        ]
    )
    app.clientside_callback(
        """
        function(state) {
            if (state && state.path === window.location.pathname &&
                    state.search !== window.location.search) {
                window.history.replaceState(window.history.state, "",
                                            state.path + state.search);
            }
            return "";
        }
        """,
        Output(ids.URL_SYNC, "children"),
        Input(ids.URL_STATE, "data"),
    )

    @app.callback(Output(ids.SNAPSHOT_BADGE, "children"), Input(ids.SNAPSHOT_POLL, "n_intervals"))
    def snapshot_badge(_n: int | None) -> str:
        sid = queries.snapshot_id()
        return "no snapshot yet: run `spreadtrace build`" if sid is None else f"snapshot {sid}"

    server: flask.Flask = app.server
    if auth is not None:
        user, password = auth

        @server.before_request
        def _require_auth() -> flask.Response | None:
            if check_basic_auth(flask.request.headers.get("Authorization"), user, password):
                return None
            return flask.Response(
                "authentication required\n",
                401,
                {"WWW-Authenticate": 'Basic realm="spreadtrace", charset="UTF-8"'},
            )

    media_files.register(server)  # thumbnails of hashed media (local files only)

    @server.route("/_spreadtrace/status")
    def _status() -> flask.Response:
        """The snapshot served and its counts, as JSON (for monitoring and tests)."""
        try:
            return flask.jsonify(queries.status())
        except StoreError as exc:
            return flask.jsonify({"snapshot": None, "error": str(exc)}), 503

    @server.after_request
    def _headers(resp: flask.Response) -> flask.Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp

    return app

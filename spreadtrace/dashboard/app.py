"""The Dash app shell: navbar, snapshot badge, page container, URL state, basic auth.

Why a shell: each page (``spreadtrace/dashboard/pages/*.py``) registers itself and owns
its layout and callbacks; the shell only draws the navbar from ``dash.page_registry``,
hosts ``dash.page_container``, and provides two shared mechanisms:

- navigation: callbacks set ``href`` of the ``ids.NAV`` location (client-side routing);
- shareable state: a page writes ``{"path", "search"}`` to ``ids.URL_STATE`` and a
  clientside callback mirrors it into the address bar with ``history.replaceState``
  (no reload, no re-render). Each page's layout reads its state back from the query
  string, so a copied link opens the same view.

The app reads only published snapshots (see :mod:`spreadtrace.store.snapshot`). Who may
see what, the login and the audit log are :mod:`spreadtrace.dashboard.security`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
import flask
from dash import Input, Output, State, dcc, html

from spreadtrace import __version__
from spreadtrace.dashboard import ids, media_files, queries, security
from spreadtrace.dashboard.components import (
    current_tz,
    remember_tz,
    reset_tz,
    shown,
    time_zone,
    use_tz,
)
from spreadtrace.dashboard.security import check_basic_auth
from spreadtrace.errors import StoreError

__all__ = ["create_app", "check_basic_auth", "guard_layout"]

PAGES = Path(__file__).parent / "pages"
MAX_PARAM = 2000
"""Longer query-string values are refused with a message (no id is this long)."""

log = logging.getLogger("spreadtrace.dashboard")


def _message(text: str) -> html.Div:
    return html.Div([html.H2("Cannot show this view"), html.P(text, className="note")])


def guard_layout(layout: Callable[..., Any]) -> Callable[..., Any]:
    """A page layout that never fails: odd query strings and errors give a message.

    Why: the query string is untrusted (a shared link, a hand-edited URL). A repeated
    parameter (``/cascade?id=a&id=b`` arrives as a list), an absurdly long value, or a
    layout that fails on data a newer build replaced must show a message, not a blank
    page or a server error.
    """

    @functools.wraps(layout)
    def guarded(**params: Any) -> Any:
        repeated = sorted(k for k, v in params.items() if isinstance(v, list | tuple))
        if repeated:
            return _message(
                f"The link gives {', '.join(repeated)} more than once; open it with one value each."
            )
        long = sorted(k for k, v in params.items() if isinstance(v, str) and len(v) > MAX_PARAM)
        if long:
            return _message(f"The link's {', '.join(long)} is too long to be an id.")
        security.audit("view", page=getattr(layout, "__module__", "?").rsplit(".", 1)[-1],
                       params=params or None)  # fmt: skip
        # The time zone: the link's ?tz= (kept for the next pages), else the last choice.
        notes: list[Any] = []
        if "tz" in params and params["tz"]:
            tz = time_zone(params["tz"])
            if tz != params["tz"]:
                # a bad link draws in the analyst's own zone (what the page's later
                # callbacks use too), and does not change that choice
                tz = current_tz()
                notes.append(
                    html.P(
                        f"Unknown time zone {shown(str(params['tz']), 60)!r}: times are in "
                        f"{tz}. Use an IANA name such as Europe/Berlin.",
                        className="note",
                    )
                )
            else:
                remember_tz(tz)
        else:
            tz = current_tz()
        token = use_tz(tz)
        try:
            drawn = layout(**params)
            # the zone drawn in, for the address bar (a link followed from here keeps it)
            return html.Div([*notes, drawn, dcc.Store(id=ids.PAGE_TZ, data=tz)])
        except Exception:  # noqa: BLE001 -- logged; the analyst gets a message, not a 500
            log.exception("layout of %s failed", getattr(layout, "__module__", "?"))
            return _message(
                "This view could not be drawn from the current snapshot (a newer build may "
                "have replaced what it shows). Reload the page, or go back to the overview."
            )
        finally:
            reset_tz(token)

    return guarded


def _callback_error(exc: Exception) -> None:
    """Any callback that raises: log it, show a message, leave the outputs as they are."""
    log.error("callback failed: %s: %s", type(exc).__name__, exc)
    dash.set_props(
        ids.ERROR_NOTE,
        {
            "children": "This view could not be updated (a newer build may have replaced "
            "what it shows, or an input was not valid): reload the page.",
            "hidden": False,
        },
    )


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
            dcc.Input(
                id=ids.NAV_SEARCH,
                type="search",
                placeholder="search text, URL, #tag, @handle, id",
                debounce=True,
                maxLength=MAX_PARAM,
                className="nav-search",
            ),
            html.Span(id=ids.SNAPSHOT_BADGE, className="snapshot"),
        ],
        className="navbar",
    )


def create_app(
    db_path: str,
    *,
    auth: tuple[str, str] | None = None,
    sec: security.Security | None = None,
) -> dash.Dash:
    """Build the Dash app over the snapshots of the store at ``db_path``.

    ``sec`` configures the login (users file, roles, TLS cookies, audit log; see
    :mod:`spreadtrace.dashboard.security`); ``auth`` = (user, password) alone is the
    single-user fallback, HTTP basic auth on every request. One app per process:
    Dash pages register their callbacks globally.
    """
    queries.use(db_path)
    app = dash.Dash(
        "spreadtrace.dashboard",
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(Path(__file__).parent / "assets"),
        title="spreadtrace",
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # Dash documents None: no "Updating..."
        on_error=_callback_error,
    )
    for page in dash.page_registry.values():
        if callable(page.get("layout")) and not hasattr(page["layout"], "__wrapped__"):
            page["layout"] = guard_layout(page["layout"])
    app.layout = html.Div(
        [
            dcc.Location(id=ids.NAV, refresh="callback-nav"),
            dcc.Store(id=ids.URL_STATE),
            html.Div(id=ids.URL_SYNC, hidden=True),
            html.Div(id=ids.TZ_SYNC, hidden=True),
            dcc.Interval(id=ids.SNAPSHOT_POLL, interval=15_000),
            _navbar(),
            html.Div(id=ids.ERROR_NOTE, className="note", hidden=True),
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

    # Every page's URL says its time zone: a page reached through a link (drawn in the
    # zone the analyst chose, kept by a cookie) gets ``tz=`` added to its address, so the
    # copied link shows the same times to a colleague. A ``tz`` already there is left.
    app.clientside_callback(
        """
        function(tz) {
            if (!tz || tz === "UTC") { return ""; }
            const params = new URLSearchParams(window.location.search);
            if (!params.has("tz")) {
                params.set("tz", tz);
                window.history.replaceState(window.history.state, "",
                                            window.location.pathname + "?" + params.toString());
            }
            return "";
        }
        """,
        Output(ids.TZ_SYNC, "children"),
        Input(ids.PAGE_TZ, "data"),
    )

    @app.callback(
        Output(ids.NAV, "href", allow_duplicate=True),
        Input(ids.NAV_SEARCH, "n_submit"),
        State(ids.NAV_SEARCH, "value"),
        prevent_initial_call=True,
    )
    def nav_search(_n: int | None, value: str | None) -> Any:
        """The navbar's search box: Enter opens ``/search?q=...``."""
        q = (value or "").strip()
        return "/search?" + urlencode({"q": q}) if q else dash.no_update

    @app.callback(Output(ids.SNAPSHOT_BADGE, "children"), Input(ids.SNAPSHOT_POLL, "n_intervals"))
    def snapshot_badge(_n: int | None) -> str:
        sid = queries.snapshot_id()
        return "no snapshot yet: run `spreadtrace build`" if sid is None else f"snapshot {sid}"

    server: flask.Flask = app.server
    security.install(server, sec or security.Security(basic=auth))

    media_files.register(server)  # thumbnails of hashed media (local files only)

    @server.route("/_spreadtrace/status")
    def _status() -> flask.Response | tuple[flask.Response, int]:
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

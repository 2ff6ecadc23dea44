"""A narrative brief: one self-contained HTML file for colleagues without the tool.

Why: an analyst hands a finding on. The brief holds what the narrative page shows:
the facts and the decomposition of its spread, the timeline figure, the origin
ranking with reasons, the bot-like and coordinated accounts with reasons and evidence
state, its clusters, items and the co-share evidence of its clusters. Every value is
untrusted text and is escaped (``html.escape``); nothing in it links anywhere (an item
URL is text), and a Content-Security-Policy forbids any network load, so the file
opens offline and a hostile string cannot run or call home. plotly.js is inlined
(about 4 MB) so the figure draws without the network.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

import plotly.io as pio
import polars as pl

from spreadtrace import __version__
from spreadtrace.dashboard import figures, queries
from spreadtrace.dashboard.components import (
    DECOMPOSITION,
    TIME_COLUMNS,
    current_tz,
    header,
    percent,
    time_zone,
    when,
)
from spreadtrace.store import dashboard_queries as dq

__all__ = ["narrative_brief"]

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:"
)
MAX_ROWS = 200
"""Rows per evidence table in the brief (the CSV downloads hold every row)."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #1f2933; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th { text-align: left; background: #f1f4f7; padding: 0.3em 0.5em; }
td { border-top: 1px solid #e3e7eb; padding: 0.25em 0.5em; vertical-align: top;
     overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: 16em 1fr; gap: 0.2em 1em; }
dt { color: #52606d; } dd { margin: 0; }
.bar { display: flex; height: 0.9em; border-radius: 3px; overflow: hidden; }
.bar span { display: block; height: 100%; }
.muted { color: #7b8794; font-size: 0.9em; }
"""


def _e(value: object) -> str:
    return "unknown" if value is None else html.escape(str(value), quote=True)


def _table(df: pl.DataFrame, empty: str) -> str:
    if df.height == 0:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(header(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for row in df.head(MAX_ROWS).iter_rows()
    )
    more = (
        f'<p class="muted">First {MAX_ROWS:,} of {df.height:,} rows.</p>'
        if df.height > MAX_ROWS
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


def _zoned(df: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The frame's times as wall-clock text in ``tz`` (stored times are UTC)."""
    exprs = []
    for name, dtype in df.schema.items():
        if name in TIME_COLUMNS and dtype == pl.String:
            at = pl.col(name).str.to_datetime(time_zone="UTC", strict=False)
        elif isinstance(dtype, pl.Datetime):
            at = pl.col(name)
            if dtype.time_zone is None:
                at = at.dt.replace_time_zone("UTC")
        else:
            continue
        exprs.append(at.dt.convert_time_zone(tz).dt.strftime("%Y-%m-%d %H:%M:%S").alias(name))
    return df.with_columns(exprs) if exprs else df


def _facts(info: dict[str, Any], tz: str) -> str:
    pairs = [
        ("narrative", info["narrative_id"]),
        ("label", info["label"]),
        ("kind", info["kind"]),
        ("cascades / posts / accounts",
         f"{info['cascades']:,} / {info['posts']:,} / {info['accounts']:,}"),
        ("first / last", f"{when(info['first_at'], tz)} → {when(info['last_at'], tz)}"),
        ("most likely origin", info["origin_account_id"]),
        ("bot-like share (early)",
         f"{percent(info['bot_share'])} ({percent(info['early_bot_share'])})"),
        ("coordinated share", percent(info["coordinated_share"])),
        ("amplification", f"{info['amplification_score'] or 0:.2f}: "
                          f"{info['amplification_reasons'] or ''}"),
    ]  # fmt: skip
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs) + "</dl>"


def _decomposition(info: dict[str, Any]) -> str:
    if any(info.get(col) is None for col, _, _ in DECOMPOSITION):
        return '<p class="muted">Decomposition unknown (built before it existed).</p>'
    spans = "".join(
        f'<span style="width:{float(info[col]) * 100:.1f}%;background:{color}"></span>'
        for col, _, color in DECOMPOSITION
    )
    words = " · ".join(f"{label} {percent(info[col])}" for col, label, _ in DECOMPOSITION)
    return f'<div class="bar">{spans}</div><p>{_e(words)}</p>'


def _figure(fig: dict) -> str:
    """The figure as a div with plotly.js inlined (no network)."""
    return pio.to_html(
        json.loads(json.dumps(fig, default=str)),
        include_plotlyjs=True,
        full_html=False,
        default_height="360px",
        config={"displaylogo": False},
        validate=False,
    )


def narrative_brief(narrative_id: str, tz: str | None = None) -> tuple[str, str] | None:
    """(file name, HTML text) of a narrative's brief, or None if there is no such narrative.

    Times are in ``tz`` (default: the analyst's, :func:`components.current_tz`), named
    at the top of the brief and beside each time.
    """
    tz = time_zone(tz) if tz else current_tz()
    info = queries.run(dq.narrative_info, narrative_id)
    if info is None:
        return None
    nid = info["narrative_id"]
    timeline = figures.narrative_timeline(queries.run(dq.narrative_timeline, nid), tz)
    clusters = queries.run(dq.narrative_clusters, nid)
    evidence = [
        queries.run(dq.cluster_evidence, c, MAX_ROWS).with_columns(cluster_id=pl.lit(c))
        for c in clusters["cluster_id"].to_list()[:5]
    ]
    sections = [
        ("What it is", _facts(info, tz)),
        ("Where its spread came from", _decomposition(info)),
        ("Timeline", _figure(timeline)),
        ("Who started it: origin ranking",
         _table(_zoned(queries.run(dq.narrative_origins, nid), tz), "No origin ranking.")),
        ("Bot-like and coordinated accounts, with reasons",
         _table(_zoned(queries.run(dq.narrative_flagged_accounts, nid), tz),
                "None: no account that posted in it is bot-like or coordinated.")),
        ("Coordination clusters",
         _table(_zoned(clusters, tz), "None: no account that posted in it is in a cluster.")),
        ("Evidence: items the pairs of its clusters both shared",
         _table(_zoned(pl.concat(evidence, how="diagonal_relaxed"), tz) if evidence else pl.DataFrame(),
                "No co-share evidence (no cluster).")),
        ("Its items", _table(_zoned(queries.run(dq.narrative_items, nid), tz), "No items.")),
    ]  # fmt: skip
    now = datetime.now(UTC)
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    text = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<title>Narrative brief: {_e(nid)}</title><style>{_STYLE}</style></head><body>"
        f"<h1 id='brief-title'>Narrative brief: {_e(info['label'])}</h1>"
        f"<p class='muted'>spreadtrace {_e(__version__)} · snapshot {_e(queries.snapshot_id())}"
        f" · written {_e(when(now, tz))} · times in {_e(tz)}</p>"
        f"{body}</body></html>"
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in nid)[:80]
    return f"narrative_{safe}_brief.html", text

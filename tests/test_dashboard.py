"""The dashboard's callbacks, called as plain functions on a planted world."""

from __future__ import annotations

import csv
import importlib
import io
import json
from urllib.parse import parse_qs, urlparse

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from dash import html

from spreadtrace.dashboard import figures, queries
from spreadtrace.dashboard.components import search_string
from spreadtrace.store import Store
from spreadtrace.store import dashboard_queries as dq
from spreadtrace.store.snapshot import publish
from tests.test_dashboard_world import FORMULA_HANDLE, HOSTILE_HANDLE, N_BOTS, make_world

_APP = {}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = tmp_path_factory.mktemp("dash") / "world.duckdb"
    with Store.open(db) as store:
        summary = make_world(store, big=300)
        publish(store)
    if "app" not in _APP:
        from spreadtrace.dashboard.app import create_app

        _APP["app"] = create_app(str(db))  # registers the pages (one app per process)
    queries.use(str(db))
    return summary


def page(name):
    return importlib.import_module(f"spreadtrace.dashboard.pages.{name}")


def _texts(component) -> list[str]:
    """Every string inside a Dash component tree."""
    out = []
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    if children is None:
        return out
    for child in children if isinstance(children, list | tuple) else [children]:
        out += _texts(child)
    return out


def test_overview_filters_table_and_url_state(world):
    ov = page("overview")
    data, pages, count, state = ov.update_table(None, None, None, None, None, 0, 0, 0, [])
    assert count == f"({world['cascades']} match)"
    assert data[0]["cascade_id"] == "c000"  # default order: largest first
    assert state == {"path": "/", "search": ""}
    # Minimum size 100: only the big cascade; the state is mirrored into the URL.
    data, pages, count, state = ov.update_table(None, None, None, None, 100, 0, 0, 0, [])
    assert [r["cascade_id"] for r in data] == ["c000"] and count == "(1 match)"
    assert parse_qs(state["search"][1:]) == {"min_size": ["100"]}
    # Platform + narrative: odd cascades are bluesky and narrative n2.
    data, *_ = ov.update_table(None, None, "bluesky", "n2", None, 0, 0, 0, [])
    assert {r["cascade_id"] for r in data} == {f"c{c:03d}" for c in range(1, 12, 2)}
    # Date range: cascade c starts on 2024-03-(1 + c).
    data, *_ = ov.update_table("2024-03-03", "2024-03-04", None, None, None, 0, 0, 0, [])
    assert {r["cascade_id"] for r in data} == {"c002", "c003"}


def test_overview_sorts_server_side_over_all_rows(world):
    ov = page("overview")
    data, *_ = ov.update_table(
        None, None, None, None, None, 0, 0, 0, [{"column_id": "size", "direction": "asc"}]
    )
    sizes = [r["size"] for r in data]
    assert sizes == sorted(sizes) and sizes[0] == 3
    # A column not in the allow-list is ignored, not spliced into SQL.
    data, *_ = ov.update_table(
        None,
        None,
        None,
        None,
        None,
        0,
        0,
        0,
        [{"column_id": "size; DROP TABLE x", "direction": "asc"}],
    )
    assert data[0]["cascade_id"] == "c000"


def test_overview_figures_follow_filters(world):
    ov = page("overview")
    ccdf, bots = map(go.Figure, ov.update_figures(None, None, None, None, None, 0, 0))
    y = np.asarray(ccdf.data[0].y)
    assert y[0] == pytest.approx(1.0) and y[-1] == pytest.approx(1 / world["cascades"])
    assert ccdf.layout.xaxis.type == "log" and ccdf.layout.yaxis.type == "log"
    assert np.sum(np.asarray(bots.data[0].customdata, dtype=float)) == world["cascades"]
    ccdf = go.Figure(ov.update_figures(None, None, None, None, 100, 0, 0)[0])
    assert list(ccdf.data[0].x) == [300]


def test_row_click_navigates_with_encoded_id(world):
    ov = page("overview")
    href = ov.open_cascade({"row": 0, "column": 0}, [{"cascade_id": "a b&c"}])
    assert urlparse(href).path == "/cascade"
    assert parse_qs(urlparse(href).query) == {"id": ["a b&c"]}


def test_cascade_figure_colours_sizes_outlines_and_escapes(world):
    ca = page("cascade")
    fig, note, timeline, state = ca.render("c000", "auto")
    fig, timeline = go.Figure(fig), go.Figure(timeline)  # also validates the dicts
    assert note is None and state == {"path": "/cascade", "search": "?id=c000"}
    nodes_trace = fig.data[figures.node_trace_index(queries.cascade_graph("c000").nodes)]
    assert nodes_trace.type == "scattergl" and len(nodes_trace.x) == world["big"]
    assert min(nodes_trace.marker.color) >= 0 and max(nodes_trace.marker.color) <= 1
    # The root has the largest reach, so the largest marker.
    assert nodes_trace.marker.size[0] == max(nodes_trace.marker.size)
    # Edge traces by parent source; coordinated accounts ringed.
    names = {t.name for t in fig.data}
    assert {"parent explicit", "parent inferred", "coordinated account"} <= names
    # Hostile handles reach plotly escaped: no raw tag survives in any label.
    labels = " ".join(" ".join(map(str, row)) for row in nodes_trace.customdata)
    assert "<script>" not in labels and "&lt;script&gt;" in labels
    # Timeline: bots + others add up to every post.
    assert sum(t.y[-1] for t in timeline.data if len(t.y)) == world["big"]


def test_replay_fades_later_posts(world):
    ca = page("cascade")
    patch, _timeline = ca.replay(0, "c000", "auto")
    index = figures.node_trace_index(queries.cascade_graph("c000").nodes)
    ops = json.loads(json.dumps(patch.to_plotly_json()))["operations"]
    selected = [op for op in ops if op["location"] == ["data", index, "selectedpoints"]]
    assert selected and selected[0]["params"]["value"] == [0]  # only the root at t = 0


def test_click_node_shows_account_as_text(world):
    ca = page("cascade")
    panel = ca.click_node({"points": [{"customdata": ["acc0003", "x", "", "", "0"]}]})
    texts = _texts(panel)
    assert HOSTILE_HANDLE in texts  # shown verbatim, as a text node
    assert not any(isinstance(c, html.Iframe) for c in [panel])
    assert "no bot-like signals" in texts or any("30 s" in t for t in texts)


def test_large_cascade_is_aggregated_with_a_label(world):
    graph = queries.cascade_graph("c000", limit=100)
    assert graph.posts == world["big"]
    assert graph.nodes.height <= 100 + 5
    assert graph.drawn_posts == world["big"]  # every post is accounted for
    assert graph.note and "aggregate" in graph.note
    agg = graph.nodes.filter(pl.col("aggregate"))
    assert agg["count"].sum() + graph.nodes.filter(~pl.col("aggregate")).height == world["big"]
    fig = go.Figure(figures.cascade(graph.nodes))
    rows = fig.data[figures.node_trace_index(graph.nodes)].customdata
    assert any(row[1].endswith("posts, aggregated") and row[0] == "" for row in rows)


def test_downloads_are_complete_and_neutralise_formulas(world):
    ac = page("accounts")
    out = ac.download_accounts(1, "", 0, [])
    rows = list(csv.reader(io.StringIO(out["content"])))
    assert rows[0][:2] == ["account_id", "handle"] and len(rows) == world["accounts"] + 1
    handles = {r[1] for r in rows[1:]}
    assert "'" + FORMULA_HANDLE in handles and FORMULA_HANDLE not in handles
    ov = page("overview")
    out = ov.download_cascades(1, None, None, None, None, None, 0, 0, [])
    assert out["filename"] == "cascades.csv"
    assert len(out["content"].strip().splitlines()) == world["cascades"] + 1
    ca = page("cascade")
    out = ca.download_posts(1, "c001")
    texts = [r["text"] for r in csv.DictReader(io.StringIO(out["content"]))]
    assert "'=1+1 claim" in texts  # a post text starting with '=' is neutralised


def test_accounts_search_binds_parameters(world):
    ac = page("accounts")
    data, _, count, state = ac.update_accounts("acc000", 0, 0, [])
    assert count == "(10 match)" and state["search"] == "?q=acc000"
    data, _, count, _ = ac.update_accounts("' OR 1=1 --", 0, 0, [])
    assert count == "(0 match)"
    data, _, count, _ = ac.update_accounts("", 0.5, 0, [])
    assert count == f"({N_BOTS} match)"
    # LIKE wildcards in the search are literal characters.
    data, _, count, _ = ac.update_accounts("%", 0, 0, [])
    assert count == "(0 match)"


def test_account_page_lists_shares_and_amplified_cascades(world, tmp_path):
    ac = page("accounts")
    view = ac.layout(account="acc0001")
    texts = " ".join(_texts(view))
    assert "Cascades it amplified" in texts and "Its shares" in texts
    posts = queries.run(dq.account_posts, "acc0001")
    amplified = queries.run(dq.account_cascades, "acc0001")
    assert posts.height > 0
    # Amplified = cascades it shared into below the root.
    assert set(amplified["cascade_id"]) <= set(posts.filter(pl.col("depth") > 0)["cascade_id"])


def test_narrative_page_origins_and_timeline(world):
    na = page("narrative")
    origins, timeline = na.narrative_detail("n1")
    timeline = go.Figure(timeline)
    assert [o["rank"] for o in origins] == [1, 2] and origins[0]["account_id"] == "acc0010"
    total = sum(sum(t.y) for t in timeline.data)
    n1_posts = queries.run(dq.narrative_info, "n1")["posts"]
    assert total == n1_posts
    data, _ = na.narrative_cascades("n1", 0, [])
    assert {r["narrative_id"] for r in data} == {"n1"}


def test_coordination_cluster_network(world):
    co = page("coordination")
    fig, pairs, state = co.draw_cluster("k1")
    fig = go.Figure(fig)
    assert len(pairs) == 10 and state["search"] == "?cluster=k1"  # 5 accounts, all pairs
    accounts = fig.data[1]
    assert len(accounts.x) == 5 and max(accounts.marker.color) == pytest.approx(0.9)
    stats = queries.run(dq.cluster_table)
    assert stats.row(0, named=True)["density"] == 1.0


def test_layouts_read_state_from_the_query_string(world):
    ov = page("overview")
    view = ov.layout(min_size="100", platform="x")
    found = {}

    def walk(c):
        if hasattr(c, "id") and getattr(c, "id", None) in ("ov-min-size", "ov-platform"):
            found[c.id] = c.value
        for child in (
            getattr(c, "children", None) or []
            if not isinstance(getattr(c, "children", None), str)
            else []
        ):
            walk(child)

    walk(view)
    assert found == {"ov-min-size": 100, "ov-platform": "x"}
    assert search_string({"b": 1, "a": "x", "c": 0}) == "?a=x&b=1"


def test_figures_serialise(world):
    # Every figure must be JSON for the browser.
    ca = page("cascade")
    fig, *_ = ca.render("c003", "tree")
    pio.to_json(go.Figure(fig), validate=True)

"""The dashboard's callbacks, called as plain functions on a planted world."""

from __future__ import annotations

import base64
import csv
import importlib
import io
import json
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse

import dash
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from dash import html

from spreadtrace.dashboard import figures, ids, queries
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


@contextmanager
def dash_context(triggered: str):
    """Run a callback as if ``triggered`` fired it (dash reads the context var)."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    token = context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{triggered}.value"}]))
    try:
        yield
    finally:
        context_value.reset(token)


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


def arr(value) -> np.ndarray:
    """A figure array as numpy: plotly's binary ``{"dtype", "bdata"}`` form or a list."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return a.reshape([int(k) for k in value["shape"].split(",")]) if "shape" in value else a
    return np.asarray(value)


def test_cascade_figure_colours_sizes_outlines_and_is_binary(world):
    ca = page("cascade")
    fig, note, timeline, drawn, replay, reset, state, _button, hidden = ca.render("c000", "auto")
    assert (
        note is None and hidden
    )  # 300 posts: every edge drawn, no edges button and state == {"path": "/cascade", "search": "?id=c000"}
    assert reset is dash.no_update  # on load the slider already stands at the end
    graph = queries.cascade_graph("c000", radial=drawn["radial"])
    assert drawn["snapshot"] == queries.snapshot_id() and drawn["cascade_id"] == "c000"
    nodes = fig["data"][drawn["node_trace"]]
    assert nodes["type"] == "scattergl" and nodes["name"] == "posts"
    x = arr(nodes["x"])
    assert x.dtype == np.float32 and len(x) == world["big"]
    assert np.allclose(x, graph.nodes["x"].to_numpy(), atol=1e-6)
    color = arr(nodes["marker"]["color"])
    assert color.min() >= 0 and color.max() <= 1
    # Rows are in time order, root first; the root has the largest reach and marker.
    t = graph.nodes["t"].to_numpy()
    assert np.all(np.diff(t) >= 0) and graph.nodes["parent"][0] == -1
    size = arr(nodes["marker"]["size"])
    assert size[0] == size.max()
    # customdata: (reach, hours after the first post, posts) per node, numbers only.
    custom = arr(nodes["customdata"])
    assert custom.shape == (world["big"], 3)
    assert custom[:, 0].tolist() == graph.nodes["descendants"].to_list()
    assert np.allclose(custom[:, 1], t / 3600, atol=0.006)
    # Edges: one polyline per parent source, parent -> child, NaN between edges.
    names = {tr["name"] for tr in fig["data"]}
    assert {"parent explicit", "parent inferred", "coordinated account"} <= names
    parent = graph.nodes["parent"].to_numpy()
    edge_x = np.concatenate(
        [arr(tr["x"]) for tr in fig["data"] if tr["name"].startswith(("parent ", "reply "))]
    ).reshape(-1, 3)
    assert len(edge_x) == (parent >= 0).sum() and np.isnan(edge_x[:, 2]).all()
    # No per-node text travels: no handle, escaped or not, is in the figure.
    payload = json.dumps(fig)
    assert "acc0003" not in payload and "script" not in payload
    # Compact: binary arrays, about 70 bytes a node (was ~150 as JSON lists and labels).
    assert len(payload) < 70 * world["big"] + len(json.dumps(figures._template())) + 4000
    # Still a valid plotly figure; timeline: bots + others add up to every post.
    go.Figure(fig)
    timeline = go.Figure(timeline)
    assert sum(tr.y[-1] for tr in timeline.data if len(tr.y)) == world["big"]


def test_replay_steps_are_prefixes_matching_a_brute_force_count(world):
    graph = queries.cascade_graph("c000")
    nodes = graph.nodes
    fig = figures.cascade(nodes)
    replay = figures.replay_steps(nodes, 10)
    t = nodes["t"].to_numpy()
    parent = nodes["parent"].to_numpy()
    source = nodes["parent_source"].to_list()
    ring = nodes["cluster_id"].is_not_null().to_numpy()
    talk = nodes["conversation"].to_numpy()
    assert replay["nodes"][0] == (t == 0).sum() and replay["nodes"][-1] == nodes.height
    for step in range(11):
        until = t.max() * step / 10
        shared = t <= until
        assert replay["nodes"][step] == shared.sum()
        for trace, counts, per in replay["prefix"]:
            name = fig["data"][trace]["name"]
            if name == "coordinated account":
                expected = (ring & shared).sum()
            elif name.startswith("reply "):  # conversation, whatever its parent source
                expected = (talk & shared & (parent >= 0)).sum()
            else:
                kind = name.removeprefix("parent ")
                expected = sum(
                    1
                    for i in range(nodes.height)
                    if parent[i] >= 0 and shared[i] and source[i] == kind and not talk[i]
                )
            assert counts[step] == per * expected, (name, step)
    # At the end every value of every trace is shown.
    for trace, counts, _per in replay["prefix"]:
        assert counts[-1] == len(arr(fig["data"][trace]["x"]))
    assert replay["times"][0] == f"{nodes['created_at'].min():%Y-%m-%dT%H:%M:%S}"


def test_layout_change_resets_the_replay_slider(world):
    ca = page("cascade")
    with dash_context(ids.CA_LAYOUT):
        *_, reset, state, _button, _hidden = ca.render("c000", "tree")
    assert reset == ca.STEPS and state["search"] == "?id=c000&layout=tree"


def test_hover_and_click_find_the_node_by_row_and_show_text(world):
    ca = page("cascade")
    _fig, _n, _tl, drawn, *_ = ca.render("c000", "auto")
    graph = queries.cascade_graph("c000", radial=drawn["radial"])
    i = graph.nodes["account_id"].to_list().index("acc0003")
    event = {"points": [{"curveNumber": drawn["node_trace"], "pointNumber": i}]}
    panel = ca.click_node(event, drawn)
    texts = _texts(panel)
    assert HOSTILE_HANDLE in texts  # shown verbatim, as a text node
    assert "no bot-like signals" in texts or any("30 s" in t for t in texts)
    line = _texts(html.Div(ca.hover_node(event, drawn)))
    assert HOSTILE_HANDLE in line and "acc0003" in line
    # Another trace (edges, rings) is not a post; a stale drawing says so.
    other = {"points": [{"curveNumber": drawn["node_trace"] + 1, "pointNumber": 0}]}
    assert ca.click_node(other, drawn) is dash.no_update
    stale = {**drawn, "snapshot": "000000-old"}
    assert "newer build" in ca.click_node(event, stale)
    assert "newer build" in ca.hover_node(event, stale)
    assert ca.hover_node({"points": []}, drawn) is dash.no_update


def test_large_cascade_is_aggregated_with_a_label(world):
    graph = queries.cascade_graph("c000", limit=100)
    assert graph.posts == world["big"]
    assert graph.nodes.height <= 100 + 5
    assert graph.drawn_posts == world["big"]  # every post is accounted for
    assert graph.note and "aggregate" in graph.note
    agg = graph.nodes.filter(pl.col("aggregate"))
    assert agg["count"].sum() + graph.nodes.filter(~pl.col("aggregate")).height == world["big"]
    fig = figures.cascade(graph.nodes)
    nodes = fig["data"][figures.node_trace_index(graph.nodes)]
    is_agg = graph.nodes["aggregate"].to_numpy()
    assert np.array(nodes["marker"]["symbol"])[is_agg].tolist() == [1] * is_agg.sum()
    custom = arr(nodes["customdata"])
    assert custom[is_agg, 2].sum() == agg["count"].sum()  # posts per node in the tooltip
    row = graph.nodes.row(int(np.flatnonzero(is_agg)[0]), named=True)
    assert "posts drawn as one node" in " ".join(_texts(html.Div(page("cascade").hover_line(row))))


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


def test_accounts_show_three_bot_states_and_coordination(world):
    ac = page("accounts")
    data, _, _, _ = ac.update_accounts("", 0, 0, [])
    states = {r["bot_state"] for r in queries.run(dq.accounts_table, limit=None)[0].to_dicts()}
    assert states == {"bot-like", "not bot-like", "insufficient evidence"}
    assert {"bot_state", "coordination_score"} <= set(data[0])
    thin = queries.run(dq.accounts_table, limit=None)[0].filter(
        pl.col("bot_state") == "insufficient evidence"
    )["account_id"][0]
    assert "insufficient evidence" in " ".join(_texts(ac.layout(account=thin)))
    texts = " ".join(_texts(ac.layout(account="acc0001")))
    assert "coordination score" in texts and "0.900" in texts


def test_cascade_and_narrative_panels_show_where_the_spread_came_from(world):
    texts = " ".join(_texts(page("cascade").layout(id="c001")))
    assert "spread from accounts that are" in texts and "bot-like only" in texts
    narrative = " ".join(_texts(page("narrative").layout(id="n1")))
    assert "bot-like only 25% · coordinated only 5% · both 5% · neither 65%" in narrative


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


def _brute_reach(parent: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Posts below each node, walking every node's ancestors (reference for reach)."""
    reach = np.zeros(len(parent), dtype=np.int64)
    for i in range(len(parent)):
        reach[i] += count[i] - 1
        j = parent[i]
        while j >= 0:
            reach[j] += count[i]
            j = parent[j]
    return reach


@pytest.fixture
def small_thresholds(monkeypatch):
    """Edge reduction from 100 nodes with a 40-edge budget (the world's cascade is 300)."""
    monkeypatch.setattr(figures, "EDGES_ALL_UP_TO", 100)
    monkeypatch.setattr(figures, "EDGE_BUDGET", 40)


@pytest.mark.parametrize("limit", [queries.MAX_NODES, 120])
def test_large_cascade_draws_backbone_edges_with_a_true_count(world, small_thresholds, limit):
    graph = queries.cascade_graph("c000", limit=limit)
    nodes = graph.nodes
    parent = nodes["parent"].to_numpy()
    reach = _brute_reach(parent, nodes["count"].to_numpy())
    edges = np.flatnonzero(parent >= 0)
    # Brute force: the smallest k keeping at most 40 edges into posts with reach >= k.
    k = next(k for k in range(1, reach.max() + 2) if (reach[edges] >= k).sum() <= 40)
    expected = [i for i in edges if reach[i] >= k]
    fig = figures.cascade(nodes, title="t")
    drawn = [tr for tr in fig["data"] if tr["name"].startswith(("parent ", "reply "))]
    seg_x = np.concatenate([arr(tr["x"]) for tr in drawn]).reshape(-1, 3)
    seg_y = np.concatenate([arr(tr["y"]) for tr in drawn]).reshape(-1, 3)
    x, y = nodes["x"].to_numpy(), nodes["y"].to_numpy()
    got = sorted(
        (round(float(a), 4), round(float(b), 4))
        for a, b in zip(seg_x[:, 1], seg_y[:, 1], strict=True)
    )
    assert got == sorted((round(float(x[i]), 4), round(float(y[i]), 4)) for i in expected)
    assert np.allclose(
        seg_x[:, 0],
        x[
            parent[
                np.array(
                    sorted(
                        expected,
                        key=lambda i: (
                            list(figures.EDGE_STYLE).index(figures._edge_kinds(nodes)[i]),
                            i,
                        ),
                    )
                )
            ]
        ],
        atol=1e-5,
    )
    assert 0 < len(expected) <= 40 < len(edges)
    # The kept edges form one tree from the root: every kept child's parent is kept or root.
    kept = set(expected)
    assert all(parent[i] in kept or parent[parent[i]] < 0 for i in expected)
    label = f"showing {len(expected):,} of {len(edges):,} share edges"
    assert (
        label in fig["layout"]["title"]["text"] and f"reach ≥ {k}" in fig["layout"]["title"]["text"]
    )
    # Every node is still drawn, and the node trace is where node_trace_index says.
    node_trace = fig["data"][figures.node_trace_index(nodes)]
    assert node_trace["name"] == "posts" and len(arr(node_trace["x"])) == nodes.height
    # The replay's prefixes count the drawn edges only.
    replay = figures.replay_steps(nodes, 10)
    t = nodes["t"].to_numpy()
    for trace, counts, per in replay["prefix"]:
        if fig["data"][trace]["name"].startswith("parent "):
            kind = fig["data"][trace]["name"].removeprefix("parent ")
            mine = [i for i in expected if figures._edge_kinds(nodes)[i] == kind]
            for step in range(11):
                assert counts[step] == per * sum(t[i] <= t.max() * step / 10 for i in mine)
    # "All edges" draws every one, with no label.
    everything = figures.cascade(nodes, title="t", all_edges=True)
    n_all = sum(
        len(arr(tr["x"])) // 3 for tr in everything["data"] if tr["name"].startswith("parent ")
    )
    assert n_all == len(edges) and "showing" not in everything["layout"]["title"]["text"]


def test_cascade_page_says_which_edges_are_drawn_and_offers_all(world, small_thresholds):
    ca = page("cascade")
    fig, note, _tl, drawn, replay, _reset, state, button, hidden = ca.render("c000", "auto")
    texts = " ".join(_texts(html.Div(note)))
    sel = figures.edge_selection(queries.cascade_graph("c000", radial=drawn["radial"]).nodes)
    assert sel.reduced and f"Showing {sel.shown:,} of {sel.total:,} share edges" in texts
    assert not hidden and button == f"show all {sel.total:,} edges"
    assert fig["data"][drawn["node_trace"]]["name"] == "posts"
    assert replay["node_trace"] == drawn["node_trace"]
    assert ca.toggle_edges(1, "") == "all" and ca.toggle_edges(2, "all") == ""
    with dash_context(ids.CA_EDGES):
        fig, note, _tl, drawn, _r, reset, state, button, hidden = ca.render("c000", "auto", "all")
    assert state["search"] == "?edges=all&id=c000" and reset == ca.STEPS
    assert f"Showing all {sel.total:,} share edges." in _texts(html.Div(note))
    assert (
        sum(
            len(arr(tr["x"])) // 3
            for tr in fig["data"]
            if tr["name"].startswith(("parent ", "reply "))
        )
        == sel.total
    )
    assert button.startswith(f"show only the {sel.shown:,}") and not hidden
    # Hover and click still resolve by row on the node trace of this drawing.
    i = queries.cascade_graph("c000", radial=drawn["radial"]).nodes["account_id"].to_list()
    event = {"points": [{"curveNumber": drawn["node_trace"], "pointNumber": i.index("acc0003")}]}
    assert HOSTILE_HANDLE in _texts(ca.click_node(event, drawn))
    # The state survives a shared link.
    store = [
        c
        for c in _walk(ca.layout(id="c000", edges="all"))
        if getattr(c, "id", None) == ids.CA_EDGES
    ]
    assert store[0].data == "all"


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str):
            yield from _walk(child)


# --- hostile URLs, stale views, bidi and long ids -------------------------------------


def _registry_layout(name):
    return dash.page_registry[f"spreadtrace.dashboard.pages.{name}"]["layout"]


@pytest.mark.parametrize(
    ("name", "params", "says"),
    [
        ("cascade", {"id": ["a", "b"]}, "more than once"),
        ("narrative", {"id": ["x", "y"]}, "more than once"),
        ("accounts", {"account": ["u1", "u2"], "q": "x"}, "more than once"),
        ("coordination", {"cluster": ["k", "k"]}, "more than once"),
        ("cascade", {"id": "c" * 5000}, "too long"),
        ("overview", {"min_size": "-5", "from": "not-a-date", "min_bot": "nan"}, None),
    ],
)
def test_odd_query_strings_give_a_message_not_an_error(world, name, params, says):
    out = _registry_layout(name)(**params)
    texts = " ".join(_texts(out))
    if says:
        assert says in texts
    else:
        assert "Cannot show" not in texts


def test_a_layout_that_fails_gives_a_message(world, monkeypatch):
    from spreadtrace.dashboard.app import guard_layout

    def broken(**_):
        raise RuntimeError("snapshot replaced under the request")

    assert "could not be drawn" in " ".join(_texts(guard_layout(broken)(id="c000")))


def test_negative_and_odd_pages_and_sorts_are_served(world):
    ov, ac, na = page("overview"), page("accounts"), page("narrative")
    data, *_ = ov.update_table(None, None, None, None, None, 0, 0, -3, ["junk", {"x": 1}])
    assert data[0]["cascade_id"] == "c000"  # page -3 is page 0
    data, *_ = ov.update_table(None, None, None, None, None, 0, 0, "nan", None)
    assert data
    assert ac.update_accounts(None, None, -1, [{"column_id": "bot_score"}])[0]
    assert na.list_narratives(-2, "junk")[0] is not None


def test_a_cascade_merged_away_under_an_open_page_is_drawn_empty(world):
    ca = page("cascade")
    fig, notes, *_ = ca.render("merged-away-since", "auto")
    assert fig == {} and "newer build merged it" in " ".join(_texts(notes))
    assert "No cascade" in " ".join(_texts(ca.layout(id="merged-away-since")))


def test_callback_errors_reach_the_browser_as_a_message_not_a_500(world):
    """Through the real HTTP endpoint: a callback fed a value it cannot use (an
    object where an id belongs) answers without a server error, and the shell's
    message is set."""
    server = _APP["app"].server
    payload = {
        "output": f"{ids.CA_DOWNLOAD}.data",
        "outputs": {"id": ids.CA_DOWNLOAD, "property": "data"},
        "inputs": [{"id": ids.CA_DOWNLOAD_BTN, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{ids.CA_DOWNLOAD_BTN}.n_clicks"],
        "state": [{"id": ids.CA_ID, "property": "data", "value": {"x": [1, 2]}}],
    }
    resp = server.test_client().post("/_dash-update-component", json=payload)
    assert resp.status_code < 500, resp.data[:300]
    assert ids.ERROR_NOTE in resp.get_data(as_text=True)


def test_bidi_handles_are_isolated_and_long_ids_cut(world):
    from spreadtrace.dashboard.components import shown

    ca = page("cascade")
    row = {
        "aggregate": False,
        "created_at": None,
        "handle": "\u202eevil",
        "account_id": "u" * 5000,
        "bot_score": 0.5,
        "bot_reasons": "",
        "descendants": 1,
    }
    line = ca.hover_line(row)
    bdis = [c for c in _walk(html.Div(line)) if isinstance(c, html.Bdi)]
    assert {b.children for b in bdis} == {"\u2068\u202eevil\u2069", "u" * 63 + "…"}
    assert shown("abc\u05d0") == "\u2068abc\u05d0\u2069"  # a right-to-left letter


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for c in children:
            yield from _walk(c)
    elif children is not None and not isinstance(children, str):
        yield from _walk(children)


def test_hover_line_says_a_reply_is_conversation(world):
    ca = page("cascade")
    row = {
        "created_at": None,
        "aggregate": False,
        "bot_reasons": "",
        "handle": "h",
        "account_id": "a",
        "bot_score": 0.3,
        "descendants": 1,
    }
    assert ca.hover_line({**row, "conversation": True})[0] == "reply (conversation, not a share) · "
    assert ca.hover_line({**row, "conversation": False})[0] == ""


def test_narrative_page_shows_claim_against_correction(world):
    from datetime import UTC, datetime

    na = page("narrative")
    info = {
        "claim_posts": 3,
        "claim_accounts": 3,
        "correction_posts": 2,
        "correction_accounts": 2,
        "first_correction_at": datetime(2024, 3, 4, 6, 0, tzinfo=UTC),
        "correction_delay_s": 5400.0,
        "claim_accounts_corrected": 2 / 3,
    }
    facts = dict(na.correction_facts(info))
    assert facts["claim vs correction: posts / accounts"] == "3 / 3 against 2 / 2"
    assert facts["first correction"] == ("2024-03-04 06:00 UTC, 1.5 h after the claim's first post")
    assert facts["claim accounts that later met a correction"] == "67%"
    noted = dict(na.correction_facts({**info, "notes": 2, "first_note_shown_at": None}))
    assert noted["Community Notes (misleading)"] == "2; first shown never (not rated helpful)"
    none = dict(na.correction_facts({**info, "first_correction_at": None}))
    assert none["first correction"].startswith("none")
    # the real snapshot row carries the columns (NULL-safe when not computed)
    row = queries.run(dq.narrative_info, "n1")
    assert "claim_accounts_corrected" in row

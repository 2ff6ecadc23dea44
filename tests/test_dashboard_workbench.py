# ruff: noqa: F811 -- the fixtures imported from tests.test_dashboard are parameters here
"""The analyst's workbench, called as plain functions: every number leads to the
accounts and items behind it, and hostile strings never become markup or live links."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs, urlparse

from dash import dcc, html

from tests.test_dashboard import _texts, page, world  # noqa: F401 -- fixture
from tests.test_dashboard_world import HOSTILE_HANDLE, HOSTILE_URL, N_BOTS


def _walk(component):
    """Every component in a Dash tree (depth first)."""
    yield component
    children = getattr(component, "children", None)
    if children is None or isinstance(children, str):
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        if not isinstance(child, str | int | float):
            yield from _walk(child)


def _find(component, id_):
    return next(c for c in _walk(component) if getattr(c, "id", None) == id_)


def _links(component) -> list[dcc.Link]:
    return [c for c in _walk(component) if isinstance(c, dcc.Link | html.A)]


def _rows(table_div) -> list[list[str]]:
    """The body rows of an account/item list as the text of each cell."""
    return [
        ["".join(_texts(td)) for td in tr.children]
        for tr in _walk(table_div)
        if isinstance(tr, html.Tr) and not isinstance(tr.children[0], html.Th)
    ]


def test_cascade_page_lists_its_bot_like_and_coordinated_accounts(world):
    ca = page("cascade")
    out = ca.layout(id="c000")
    flagged = _find(out, "ca-flagged")
    rows = _rows(flagged)
    # the world's bot-like accounts are acc0000..acc0007 and k1 is acc0000..acc0004:
    # every listed account is one of them, with its reasons and evidence state
    listed = {r[0].split("(")[-1].rstrip(")") for r in rows}
    assert listed and listed <= {f"acc{i:04d}" for i in range(N_BOTS)}
    by_id = {r[0].split("(")[-1].rstrip(")"): r for r in rows}
    assert by_id["acc0001"][1] == "bot-like and coordinated"
    assert by_id["acc0005"][1] == "bot-like" and by_id["acc0005"][6] == "none"
    assert all(r[3] == "bot-like" and "posts every 30 s" in r[5] for r in rows)
    # shares are the account's posts in the cascade, most first
    shares = [int(r[2].replace(",", "")) for r in rows]
    assert shares == sorted(shares, reverse=True)
    # each account links to its page, each cluster to the coordination page
    hrefs = [link.href for link in _links(flagged)]
    assert "/accounts?account=acc0001" in hrefs and "/coordination?cluster=k1" in hrefs
    # the root account links to its page
    root = _find(out, "ca-root-link")
    assert parse_qs(urlparse(root.href).query)["account"][0].startswith("acc")


def test_cascade_without_flagged_accounts_says_why(world):
    from spreadtrace.dashboard import queries
    from spreadtrace.store import dashboard_queries as dq

    # find a cascade with no bot-like or clustered sharer, if the world has one
    for c in range(1, 12):
        cid = f"c{c:03d}"
        if queries.run(dq.cascade_flagged_accounts, cid).height == 0:
            out = page("cascade").flagged_section(cid)
            assert "no account that shared into this cascade is bot-like" in " ".join(_texts(out))
            break
    else:  # every cascade has one: the query must then list as many as the world says
        assert queries.run(dq.cascade_flagged_accounts, "c001").height > 0


def test_narrative_page_leads_to_its_clusters_accounts_and_items(world):
    na = page("narrative")
    out = na.layout(id="n1")
    clusters = _find(out, "na-clusters")
    assert [link.href for link in _links(clusters)] == ["/coordination?cluster=k1"]
    flagged = _rows(_find(out, "na-flagged"))
    assert {r[0].split("(")[-1].rstrip(")") for r in flagged} <= {
        f"acc{i:04d}" for i in range(N_BOTS)
    }
    assert any(HOSTILE_HANDLE in r[0] for r in flagged)  # shown as its literal characters
    items = _find(out, "na-items")
    rows = _rows(items)
    labels = [r[0] for r in rows]
    # n1 holds the even cascades: links claim0..2 and the hostile link of c002
    assert set(labels) == {f"https://example.org/claim{i}" for i in range(3)} | {HOSTILE_URL}
    posts_here = [int(r[2].replace(",", "")) for r in rows]
    assert posts_here == sorted(posts_here, reverse=True)
    # the first posters link to their accounts; the item labels link nowhere
    hrefs = [link.href for link in _links(items)]
    assert len(hrefs) == len(rows) and all(h.startswith("/accounts?account=acc") for h in hrefs)
    assert not any("javascript" in (getattr(c, "href", "") or "") for c in _walk(out))
    assert _find(out, "na-origin-link").href == "/accounts?account=acc0010"  # c000 root


def test_origin_rows_open_their_accounts(world):
    na = page("narrative")
    data = [{"rank": 1, "account_id": "acc0010"}, {"rank": 2, "account_id": "a&b"}]
    assert na.open_origin_account({"row": 0}, data) == "/accounts?account=acc0010"
    assert na.open_origin_account({"row": 1}, data) == "/accounts?account=a%26b"


def test_no_hostile_url_or_display_name_becomes_markup_or_a_live_link(world):
    """Every page the workbench adds, on the planted hostile strings: a ``javascript:``
    URL is never an href, HTML in a handle or display name is a text node, not a tag."""
    pages = [page("cascade").layout(id=cid) for cid in ("c000", "c002")] + [
        page("narrative").layout(id="n1"),
        page("overview").layout(),
    ]
    for out in pages:
        for c in _walk(out):
            href = getattr(c, "href", None)
            if href is not None:
                assert href.startswith("/"), href  # only in-app paths
                assert ":" not in urlparse(href).path
            # no component was made from the hostile strings' tags
            assert type(c).__name__ not in ("Script", "Iframe", "Object", "Embed")
            for prop in ("dangerously_allow_html",):
                assert not getattr(c, prop, False)
    texts = " ".join(_texts(pages[2]))
    assert HOSTILE_URL in texts and HOSTILE_HANDLE in texts


def test_flagged_accounts_download_neutralises_cells(world):
    from tests.test_dashboard_world import FORMULA_HANDLE

    ca = page("cascade")
    payload = ca.download_flagged(1, "c000")
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert payload["filename"] == "cascade_c000_flagged_accounts.csv"
    handles = {r["handle"] for r in rows}
    assert "'" + FORMULA_HANDLE in handles and FORMULA_HANDLE not in handles
    na = page("narrative")
    rows = list(csv.DictReader(io.StringIO(na.download_flagged(1, "n1")["content"])))
    assert {"account_id", "bot_state", "bot_reasons", "cluster_id"} <= set(rows[0])


def test_overview_leads_with_narratives_that_have_enough_evidence(world):
    from spreadtrace.dashboard import queries
    from spreadtrace.store import dashboard_queries as dq

    ov = page("overview")
    out = ov.update_spreading(None, None, None, None, None, 0, 0)
    links = [link for link in _links(html.Div(out)) if link.href.startswith("/narrative")]
    # n1 (amplification 0.5) before n2 (0.2); the labels are the full hostile-ish URLs
    assert [link.href for link in links] == ["/narrative?id=n1", "/narrative?id=n2"]
    texts = " ".join(_texts(html.Div(out)))
    assert "http://example.org/n1?<b>" in texts
    assert "origin: user_10" in "".join(_texts(html.Div(out[0])))
    assert "bot-like only 25% · coordinated only 5% · both 5% · organic (neither) 65%" in texts
    # the sparkline counts every post of the narrative over its lifetime
    rows = queries.run(dq.spreading_narratives, dq.CascadeFilter())
    assert all(sum(r["spark"]) == r["posts"] for r in rows.to_dicts())
    # the overview's filters reach narratives: bluesky cascades are n2's only
    out = ov.update_spreading(None, None, "bluesky", None, None, 0, 0)
    hrefs = [link.href for link in _links(html.Div(out)) if link.href.startswith("/narrative")]
    assert hrefs == ["/narrative?id=n2"]
    # too little evidence is left out, and the empty list says why
    few = queries.run(dq.spreading_narratives, dq.CascadeFilter(), min_posts=100)
    assert few["narrative_id"].to_list() == ["n1"]
    out = ov.update_spreading(None, None, None, None, 10_000, 0, 0)
    assert "No narrative has 10 posts by 5 accounts" in " ".join(_texts(html.Div(out)))


def test_alerts_inbox_shows_surges_with_their_evidence_or_why_there_are_none(world):
    from spreadtrace.reports import AlertParams

    ov = page("overview")
    empty = " ".join(_texts(html.Div(ov.alerts_inbox())))
    # the world's last hour (ending 2024-03-12 09:14, its newest post) has 5 posts
    assert "No alerts" in empty and "20 or more posts" in empty and "2024-03-12 09:14" in empty
    found = ov.alerts_inbox("UTC", AlertParams(floor=2))
    hrefs = [link.href for link in _links(html.Div(found))]
    assert hrefs == ["/narrative?id=n2", "/cascade?id=c011"] or set(hrefs) == {
        "/narrative?id=n2",
        "/cascade?id=c011",
    }
    texts = " ".join(_texts(html.Div(found)))
    assert "5 shares in the 1h to 2024-03-12 09:14:00" in texts
    # a time zone moves the shown times
    tokyo = " ".join(_texts(html.Div(ov.alerts_inbox("Asia/Tokyo", AlertParams(floor=2)))))
    assert "to 2024-03-12 18:14:00" in tokyo and "(Asia/Tokyo)" in tokyo


def test_a_viewer_sees_the_alerts_inbox_pseudonymised(world):
    """The inbox's ids are cascade and narrative ids by name, so the viewer's redaction
    turns them into pseudonyms: no raw id in a link or a text."""
    from spreadtrace.dashboard import security
    from spreadtrace.reports import AlertParams

    ov = page("overview")
    with security.as_role("viewer"):
        found = ov.alerts_inbox("UTC", AlertParams(floor=2))
    hrefs = [link.href for link in _links(html.Div(found))]
    texts = " ".join(_texts(html.Div(found)))
    assert len(hrefs) == 2
    assert all(h.startswith(("/narrative?id=n_", "/cascade?id=p_")) for h in hrefs), hrefs
    assert "c011" not in texts and "n2" not in " ".join(hrefs)


def test_time_zone_is_kept_in_the_url_and_moves_the_shown_times(world):
    ov = page("overview")
    utc, *_ = ov.update_table(None, None, None, None, None, 0, 0, 0, [])
    tokyo, _, _, state = ov.update_table(None, None, None, None, None, 0, 0, 0, [], "Asia/Tokyo")
    assert utc[0]["first_at"] == "2024-03-01 00:00:00"  # c000 starts at T0, UTC
    assert tokyo[0]["first_at"] == "2024-03-01 09:00:00"
    assert parse_qs(state["search"][1:]) == {"tz": ["Asia/Tokyo"]}
    # an unknown zone falls back to UTC rather than failing
    *_, state = ov.update_table(None, None, None, None, None, 0, 0, 0, [], "Mars/Base")
    assert state["search"] == ""
    out = ov.layout(tz="Asia/Tokyo")
    assert _find(out, "ov-tz").value == "Asia/Tokyo"
    headers = [c["name"] for c in _find(out, "ov-cascades").columns]
    assert "first post (Asia/Tokyo)" in headers


def test_date_picker_is_bounded_to_the_datas_range(world):
    out = page("overview").layout()
    picker = _find(out, "ov-dates")
    # the world's cascades start 2024-03-01 .. 2024-03-12 (one a day)
    assert picker.min_date_allowed == "2024-03-01"
    assert picker.max_date_allowed == "2024-03-12"
    assert picker.initial_visible_month == "2024-03-01"


def test_narrative_brief_is_one_escaped_self_contained_file(world):
    from html.parser import HTMLParser

    na = page("narrative")
    payload = na.download_brief(1, "n1")
    assert payload["filename"] == "narrative_n1_brief.html" and payload["type"] == "text/html"
    text = payload["content"]

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.attrs, self.data = [], [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.attrs += attrs

        def handle_data(self, data):
            self.data.append(data)

    p = Collect()
    p.feed(text)
    body = "".join(p.data)
    # the planted hostile strings are text, never tags or links
    assert HOSTILE_HANDLE in body and HOSTILE_URL in body
    assert "b" not in p.tags and "a" not in p.tags
    assert not [v for k, v in p.attrs if k in ("href", "src")]
    # every script is inline (plotly.js and the figure): nothing is loaded from anywhere
    assert p.tags.count("script") >= 2
    assert "default-src 'none'" in text
    # what the narrative page shows is in it: origin, decomposition, accounts, evidence
    for heading in (
        "Who started it: origin ranking",
        "Where its spread came from",
        "Bot-like and coordinated accounts, with reasons",
        "Evidence: items the pairs of its clusters both shared",
        "Its items",
    ):
        assert heading in body
    assert "bot-like only 25%" in body and "acc0010" in body and "gap (s)" in body
    assert "posts every 30 s around the clock" in body
    from spreadtrace.dashboard.brief import narrative_brief

    assert narrative_brief("no-such-narrative") is None


def test_figures_show_probabilities_as_percent_and_bins_adapt(world):
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from spreadtrace.dashboard import figures

    ov = page("overview")
    ccdf, bots = ov.update_figures(None, None, None, None, None, 0, 0)
    assert ccdf["layout"]["yaxis"]["tickformat"].endswith("%")
    assert bots["layout"]["yaxis"]["tickformat"] == ".0%"
    # three weeks of hourly counts: 6-hour bins, not 500 hair-thin bars
    t0 = datetime(2015, 1, 1, tzinfo=UTC)
    hours = [t0 + timedelta(hours=h) for h in range(21 * 24)]
    df = pl.DataFrame({"hour": hours, "bots": [1] * len(hours), "others": [2] * len(hours)})
    fig = figures.narrative_timeline(df)
    assert fig["layout"]["title"]["text"] == "Posts per 6 hours"
    assert len(fig["data"][0]["x"]) == 21 * 4
    assert int(sum(fig["data"][0]["y"])) == 2 * len(hours)  # nothing lost in the binning
    assert fig["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    # the legend sits below the plot, away from the toolbar (top right)
    assert fig["layout"]["legend"]["y"] < 0
    short = figures.narrative_timeline(df.head(10))
    assert short["layout"]["title"]["text"] == "Posts per hour" and len(short["data"][0]["x"]) == 10


def test_empty_coordination_page_says_why(world, tmp_path):
    """A store whose build found no pair: the page names the window and what to try."""
    import json

    from spreadtrace.dashboard import queries
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import publish

    db = tmp_path / "empty.duckdb"
    with Store.open(db) as store:
        store.con.execute(
            "INSERT INTO builds (build_id, mode, params, started_at, finished_at, posts, "
            "cascades_touched) VALUES (1, 'full', ?, now(), now(), 0, 0)",
            [json.dumps({"accounts": {"window_s": 60.0, "min_shared": 2, "min_strength": 0.3}})],
        )
        publish(store)
    old = queries.reader().db_path
    queries.use(str(db))
    try:
        out = page("coordination").layout()
        text = " ".join(_texts(out))
        assert "no two accounts shared 2 or more of the same items within 1 min" in text
        assert "spreadtrace build --window 600" in text
    finally:
        queries.use(old)


def test_shares_on_the_cascade_and_narrative_pages_are_percentages(world):
    ca = " ".join(_texts(page("cascade").layout(id="c000")))
    na = " ".join(_texts(page("narrative").layout(id="n1")))
    # the world: every cascade's coordinated share is 0.1, n1's bot share 0.3 (early 0.4)
    assert "coordinated share" in ca and "10.0%" in ca
    assert "30.0% (40.0%)" in na and "0.300" not in na


def test_account_network_page_draws_prunes_and_exports(world):
    import networkx as nx

    from spreadtrace.dashboard import queries

    nw = page("network")
    out = nw.layout(narrative="n1")
    fig = _find(out, "nw-graph").figure
    names = [t["name"] for t in fig["data"]]
    assert any(n.startswith("repost (") for n in names)
    # accounts coloured by bot state: the world's 8 bot-like accounts all post in n1
    assert "bot-like (8)" in names
    bots = next(t for t in fig["data"] if t["name"] == "bot-like (8)")
    assert bots["type"] == "scattergl"  # WebGL
    assert set(bots["customdata"]) == {f"acc{i:04d}" for i in range(8)}
    assert _find(out, "nw-note").children is None  # 40 accounts: nothing pruned
    # above the limit: the k-core, and a note saying how much is shown
    small = nw.layout(narrative="n1", limit="10")
    note = " ".join(_texts(_find(small, "nw-note")))
    assert "40 accounts is more than the 10 drawn" in note and "core" in note
    net = queries.account_network("n1", 10)
    assert net.nodes.height == 10 and net.accounts == 40
    # exports: GEXF of the drawn part, the camera button as SVG
    payload = nw.download_gexf(1, {"narrative": "n1", "limit": 10})
    G = nx.read_gexf(io.StringIO(payload["content"]))
    assert G.number_of_nodes() == 10 and payload["filename"] == "network_n1.gexf"
    assert nw.image_format("svg", {"narrative": "n1"})["toImageButtonOptions"]["format"] == "svg"
    assert nw.open_account({"points": [{"customdata": "acc0003"}]}) == "/accounts?account=acc0003"
    # the narrative page links to it
    assert _find(page("narrative").layout(id="n1"), "na-network-link").href == (
        "/network?narrative=n1"
    )


def test_a_viewer_sees_the_account_network_and_lists_pseudonymised(world):
    """The viewer role: ids and handles in the network, its GEXF and the flagged list
    are the reports' pseudonyms; no raw account id travels."""
    from spreadtrace.dashboard import security

    with security.as_role("viewer"):
        out = page("network").layout(narrative="n1")
        fig = _find(out, "nw-graph").figure
        ids = [i for t in fig["data"] for i in (t.get("customdata") or [])]
        assert ids and not [i for i in ids if i.startswith("acc0")]
        gexf = page("network").download_gexf(1, {"narrative": "n1", "limit": 100})["content"]
        assert "acc00" not in gexf and "user_" not in gexf
        flagged = page("cascade").flagged_section("c000")
        assert "acc00" not in " ".join(_texts(flagged))

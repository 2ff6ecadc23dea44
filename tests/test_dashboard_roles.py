"""Roles in the dashboard: a viewer sees the reports' pseudonyms on every page and in
every download, can still navigate by them, and cannot search by real names; an
analyst sees everything. Callbacks are called as plain functions on the planted world
(tests/test_dashboard_world.py); tests/test_browser_auth.py drives the same through
a real browser and the login."""

from __future__ import annotations

import json
import re

import plotly.io as pio
import pytest

from spreadtrace.dashboard import queries, security
from spreadtrace.dashboard.security import as_role
from spreadtrace.store.report_queries import PseudonymKey
from tests.test_dashboard import _texts, page, world  # noqa: F401 -- the fixture
from tests.test_dashboard_world import FORMULA_HANDLE, HOSTILE_HANDLE, N_ACCOUNTS

SECRET = "dashboard-viewer-secret"
# Everything that names an account or a post in the planted world.
RAW = re.compile(r"acc\d{4}|user_\d+|c\d{3}-p\d{5}|\bc\d{3}\b|<script>|HYPERLINK")


@pytest.fixture
def key():
    old = security.current().key
    security.current().key = PseudonymKey.from_secret(SECRET)
    yield security.current().key
    security.current().key = old


def _everything(acc: str, casc: str, narr: str, cluster: str) -> str:
    """Every page, table, figure and download a user can reach, as one text."""
    ov, ca, ac, na, co = (
        page(n) for n in ("overview", "cascade", "accounts", "narrative", "coordination")
    )
    out = []
    out += _texts(ov.layout())
    out.append(json.dumps(ov.update_table(None, None, None, None, None, 0, 0, 0, []), default=str))
    out.append(json.dumps(ov.update_narratives(0, []), default=str))
    out.append(ov.download_cascades(1, None, None, None, None, 0, 0, 0, [])["content"])
    out.append(ov.download_narratives(1, [])["content"])
    out += _texts(ca.layout(id=casc))
    fig, _notes, timeline, drawn, *_ = ca.render(casc, "auto")
    out.append(pio.to_json(fig) + pio.to_json(timeline))
    graph = queries.cascade_graph(casc, radial=drawn["radial"])
    out.append(graph.nodes.write_csv())
    event = {"points": [{"curveNumber": drawn["node_trace"], "pointNumber": 3}]}
    out += _texts(ca.click_node(event, drawn))
    out += [str(t) for t in ca.hover_node(event, drawn)]
    out.append(ca.download_posts(1, casc)["content"])
    out += _texts(ac.layout())
    out.append(json.dumps(ac.update_accounts(None, None, 0, []), default=str))
    out.append(ac.download_accounts(1, None, None, [])["content"])
    out += _texts(ac.layout(account=acc))
    out.append(ac.download_posts(1, acc)["content"])
    out += _texts(na.layout(id=narr))
    out.append(json.dumps(na.narrative_detail(narr)[0], default=str))
    out.append(json.dumps(na.narrative_cascades(narr, 0, [])[0], default=str))
    out += _texts(co.layout(cluster=cluster))
    fig, pairs, _state = co.draw_cluster(cluster)[:3]
    out.append(pio.to_json(fig) + json.dumps(pairs, default=str))
    out.append(co.download_pairs(1, cluster)["content"])
    return "\n".join(str(x) for x in out)


@pytest.mark.usefixtures("world")
def test_viewer_sees_pseudonyms_only_and_navigates_by_them(key):
    with as_role("viewer"):
        acc, casc = key.account("acc0003"), key.post("c000")
        text = _everything(acc, casc, key.narrative("n1"), key.cluster("k1"))
    assert RAW.findall(text) == []
    assert HOSTILE_HANDLE not in text and FORMULA_HANDLE not in text
    # the pseudonyms are the reports' (same secret, same values), and links work
    assert key.account("acc0003") in text and key.handle(HOSTILE_HANDLE) in text
    assert key.post("c000") in text and key.narrative("n1") in text
    assert "No account" not in text and "No cascade" not in text


@pytest.mark.usefixtures("world")
def test_analyst_sees_everything(key):
    with as_role("analyst"):
        text = _everything("acc0003", "c000", "n1", "k1")
    assert "acc0003" in text and HOSTILE_HANDLE in text and "c000-p00000" in text
    assert "acct_" not in text


@pytest.mark.usefixtures("world")
def test_viewer_search_by_name_finds_nothing_by_pseudonym_finds_one(key):
    ac = page("accounts")
    with as_role("viewer"):
        rows, _pages, count, _state = ac.update_accounts("user_1", None, 0, [])
        assert rows == [] and count.startswith("(0 ")
        rows, *_ = ac.update_accounts(key.account("acc0001"), None, 0, [])
        assert [r["account_id"] for r in rows] == [key.account("acc0001")]
    with as_role("analyst"):
        rows, *_ = ac.update_accounts("user_1", None, 0, [])
        assert len(rows) == 1 + sum(
            1 for i in range(N_ACCOUNTS) if str(i).startswith("1") and i > 1
        )


@pytest.mark.usefixtures("world")
def test_viewer_narrative_filter_options_are_pseudonyms(key):
    from spreadtrace.store import dashboard_queries as dq

    with as_role("viewer"):
        options = queries.run(dq.narrative_options)
        flt = dq.CascadeFilter(narrative_id=key.narrative("n1"))
        rows, total = queries.run(dq.cascade_table, flt, limit=50)
    assert {o[0] for o in options} == {key.narrative("n1"), key.narrative("n2")}
    assert total > 0 and set(rows["narrative_id"]) == {key.narrative("n1")}

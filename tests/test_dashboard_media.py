"""The media page: list, detail (facts, thumbnails, timeline, posts, accounts, links)
and the thumbnail route, which serves local files the store recorded and nothing else."""

from __future__ import annotations

import io

import plotly.graph_objects as go
import pytest
from PIL import Image

from spreadtrace.dashboard import queries
from spreadtrace.media import hash_media
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from spreadtrace.store.snapshot import publish
from tests import _media_helpers as draw
from tests.test_dashboard import _APP, _texts, page


@pytest.fixture(scope="module")
def media_world(tmp_path_factory):
    d = tmp_path_factory.mktemp("media_dash")
    pics = d / "pics"
    pics.mkdir()
    im = draw.scene(7)
    im.save(pics / "orig.png")
    draw.jpeg(im, pics / "copy.jpg", 20)
    (d / "secret.txt").write_text("top secret")
    db = d / "world.duckdb"
    with Store.open(db) as store:
        hash_media(store, [pics])
        # a media row pointing at a file that is not a picture must never be served
        store.con.execute(
            "INSERT INTO media (media_id, kind, local_path, ingest_run_id) VALUES (?, 'image', ?, 1)",
            ["sneaky", str(d / "secret.txt")],
        )
        store.con.executemany(
            "INSERT INTO posts (post_id, account_id, created_at, parent_id, kind, text, platform, "
            "media, ingest_run_id) VALUES (?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, 1)",
            [
                ("p1", "alice", "2024-01-01T10:00:00Z", None, "original", "<b>look</b>", "twitter", ["orig"]),
                ("p2", "bob", "2024-01-01T10:05:00Z", "p1", "repost", None, "twitter", ["orig"]),
                ("p3", "carol", "2024-03-01T09:00:00Z", None, "original", "new claim", "facebook", ["copy"]),
                ("p4", "dave", "2024-03-02T09:00:00Z", None, "original", "x", "twitter", ["sneaky"]),
            ],
        )  # fmt: skip
        run_build(store, publish=False)
        publish(store)
    if "app" not in _APP:
        from spreadtrace.dashboard.app import create_app

        _APP["app"] = create_app(str(db))
    queries.use(str(db))
    return _APP["app"]


def test_media_list_and_detail(media_world):
    me = page("media")
    data, pages = me.list_media(0, [])
    assert [r["media_group_id"] for r in data] == ["copy", "sneaky"] and pages == 1
    assert data[0]["posts"] == 3 and data[0]["copies"] == 2 and data[0]["out_of_context"] == 1
    layout = me.layout(id="copy")
    texts = " ".join(_texts(layout))
    assert "alice" in texts and "facebook, twitter" in texts and "p1 / twitter" in texts
    timeline, posts, accounts = me.media_detail("copy")
    assert [p["post_id"] for p in posts] == ["p1", "p2", "p3"]
    assert posts[2]["out_of_context"] is True and posts[0]["cascade_id"] == "p1"
    assert [a["account_id"] for a in accounts] == ["alice", "bob", "carol"]
    fig = go.Figure(timeline)
    assert {t.name for t in fig.data} == {"facebook", "twitter"}
    assert "No media group" in " ".join(_texts(me.layout(id="nope")))


def test_thumbnails_are_local_files_only(media_world):
    client = media_world.server.test_client()
    ok = client.get("/_spreadtrace/media/thumb?id=orig")
    assert ok.status_code == 200 and ok.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(ok.data)).size) <= 320
    for bad in ("sneaky", "nope", "../../secret.txt", "/etc/passwd", ""):
        resp = client.get("/_spreadtrace/media/thumb", query_string={"id": bad})
        assert resp.status_code == 404, bad
        assert b"top secret" not in resp.data

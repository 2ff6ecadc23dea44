"""Thumbnails of hashed media, served from local files only.

Why a route of its own: the media page shows the pictures an analyst downloaded and
hashed (``spreadtrace media hash``), never anything from the network. The request names
a media id; the file is the ``local_path`` the store recorded for it, so no path from
the request ever reaches the file system (no traversal). The file must still be a
regular file that decodes as an image (or, for video, a frame ffmpeg can read); it is
re-encoded as a small JPEG, so whatever else the bytes hold is never sent.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import flask

from spreadtrace.dashboard import queries
from spreadtrace.store import media_queries as mq

__all__ = ["register", "thumbnail_url", "THUMB_SIDE"]

THUMB_SIDE = 320
ROUTE = "/_spreadtrace/media/thumb"


def thumbnail_url(media_id: str) -> str:
    """The URL of a media item's thumbnail (the id is passed as a query parameter)."""
    from urllib.parse import urlencode

    return f"{ROUTE}?{urlencode({'id': media_id})}"


def _video_frame(path: Path) -> bytes | None:
    if shutil.which("ffmpeg") is None:
        return None
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-frames:v", "1",
         "-f", "image2", "-c:v", "png", "pipe:1"],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    return out.stdout if out.returncode == 0 and out.stdout else None


def thumbnail(path: Path, kind: str | None) -> bytes | None:
    """A JPEG thumbnail of a local image or video file, or None if it cannot be made."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return None
    source: Path | io.BytesIO = path
    if kind == "video":
        frame = _video_frame(path)
        if frame is None:
            return None
        source = io.BytesIO(frame)
    try:
        with Image.open(source) as img:
            rgb = img.convert("RGB")
            rgb.thumbnail((THUMB_SIDE, THUMB_SIDE))
            out = io.BytesIO()
            rgb.save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return out.getvalue()


def register(server: flask.Flask) -> None:
    """Add the thumbnail route to the app's server (behind the app's auth, if any)."""

    @server.route(ROUTE)
    def _media_thumbnail() -> flask.Response:
        media_id = flask.request.args.get("id", "")
        found = queries.run(mq.local_file, media_id) if media_id else None
        data = thumbnail(Path(found[0]), found[1]) if found else None
        if data is None:
            return flask.Response("no local file for this media\n", 404, mimetype="text/plain")
        resp = flask.Response(data, 200, mimetype="image/jpeg")
        resp.headers["Cache-Control"] = "private, max-age=300"
        return resp

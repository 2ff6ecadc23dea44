"""Small helpers shared by the platform readers: canonical row values as text.

Why text: the store validates and types every value in one SQL pass, for every
format alike; readers only pick fields out of the platform's JSON.

>>> s(580317556516483072), s(None), flag(True), flag(None)
('580317556516483072', None, 'true', None)
>>> twitter_time("Tue Mar 24 10:37:41 +0000 2015")
'2015-03-24T10:37:41+00:00'
>>> twitter_time("not a date")
'not a date'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

# (kind, canonical row, raw text or None = the whole line)
Row = tuple[str, dict[str, str | None], str | None]


class RecordError(ValueError):
    """A JSON record that is not usable as this format (its message is the reason)."""


def s(value: object) -> str | None:
    """A scalar as text (ids may arrive as numbers); None and '' stay missing."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flag(value: object) -> str | None:
    """A boolean as 'true'/'false' text, or None."""
    if value is None:
        return None
    return "true" if bool(value) else "false"


def twitter_time(value: object) -> str | None:
    """Twitter v1.1 time ('Tue Mar 24 10:37:41 +0000 2015') -> ISO 8601.

    Anything that does not parse is passed through unchanged: the store then rejects
    the row as 'unparseable created_at' with its raw text, rather than guessing.
    """
    if value is None:
        return None
    text = str(value)
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").isoformat()
    except ValueError:
        return text


def joined(values: Sequence[object] | None) -> str | None:
    """Space-joined non-empty values (urls, hashtags), or None."""
    out = [str(v) for v in values or () if v not in (None, "")]
    return " ".join(out) if out else None


# Platform media types -> the media kinds of the store.
MEDIA_KIND = {
    "photo": "image",
    "image": "image",
    "video": "video",
    "animated_gif": "gif",
    "gif": "gif",
}


def media_row(
    media_id: object,
    kind: object,
    url: object = None,
    width: object = None,
    height: object = None,
    duration_s: object = None,
) -> Row:
    """One ``media`` row (what a platform says about an image or video; never fetched).

    >>> media_row("3_1", "photo", "https://x/1.jpg")[1]["kind"]
    'image'
    """
    return (
        "media",
        {
            "media_id": s(media_id),
            "kind": MEDIA_KIND.get(str(kind), s(kind)),
            "url": s(url),
            "width": s(width),
            "height": s(height),
            "duration_s": s(duration_s),
        },
        None,
    )

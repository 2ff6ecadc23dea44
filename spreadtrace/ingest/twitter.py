"""Twitter/X readers: API v1.1 tweet objects (twarc 1) and API v2 pages (twarc2).

Why both: analysts hold years of v1.1 archives (research datasets such as PHEME) and
newer v2 collections; both describe the same things with different field names.

Mapping (v1.1): ``retweeted_status`` -> ``repost`` of it; ``in_reply_to_status_id``
-> ``reply``; ``quoted_status``/``quoted_status_id_str`` -> ``quote``. A tweet that is
both a reply and a quote is a reply (keeps reply threads intact). Embedded
retweeted/quoted tweets are posts too. Embedded ``user`` objects are account
snapshots observed at the line's (outermost) tweet time, which is when Twitter
rendered them for streamed collections.

Mapping (v2): ``referenced_tweets`` of type retweeted / replied_to / quoted (same
precedence: retweeted, then replied_to, then quoted); ``includes.tweets`` are posts
too; ``conversation_id`` is the ``root_id`` of a reply. Users in ``includes.users``
are snapshots observed at ``__twarc.retrieved_at`` (else ingestion time). Each version
of an edited tweet is its own post (its own id and time); their shared
``edit_history_tweet_ids`` go in ``platform_meta``. An API error object (``errors``
without ``data``) is a reject whose reason is the API's text.

>>> rows = read_v1({"id_str": "2", "created_at": "Tue Mar 24 10:37:41 +0000 2015",
...     "text": "RT @a: hi", "user": {"id_str": "u2", "screen_name": "b"},
...     "retweeted_status": {"id_str": "1", "created_at": "Tue Mar 24 10:30:00 +0000 2015",
...                          "text": "hi", "user": {"id_str": "u1", "screen_name": "a"}}})
>>> [(k, r.get("post_id") or r.get("account_id"), r.get("kind")) for k, r, _ in rows]
[('posts', '2', 'repost'), ('accounts', 'u2', None), ('posts', '1', 'original'), ('accounts', 'u1', None)]
"""

from __future__ import annotations

import json

from spreadtrace.ingest.records import (
    RecordError,
    Row,
    flag,
    joined,
    media_row,
    s,
    twitter_time,
)

# Stream control messages of the v1.1 streaming API: not tweets, skipped on purpose.
_V1_CONTROL = ("delete", "limit", "scrub_geo", "status_withheld", "user_withheld", "warning")


def _id(obj: dict, key: str = "id") -> str | None:
    return s(obj.get(f"{key}_str")) or s(obj.get(key))


# --- v1.1 ---------------------------------------------------------------------------------


def read_v1(obj: dict) -> list[Row]:
    """Canonical rows from one v1.1 tweet object (one twarc 1 line)."""
    if "id" not in obj and "id_str" not in obj:
        if any(k in obj for k in _V1_CONTROL):
            return []
        raise RecordError("not a Twitter v1.1 tweet (no id)")
    if not isinstance(obj.get("user"), dict):
        raise RecordError("not a Twitter v1.1 tweet (no user object)")
    observed = twitter_time(obj.get("created_at"))
    rows: list[Row] = []
    _v1_tweet(obj, observed, rows, depth=0)
    return rows


def _v1_tweet(t: dict, observed: str | None, rows: list[Row], depth: int) -> None:
    user = _v if isinstance(_v := t.get("user"), dict) else {}
    rt = t.get("retweeted_status") if isinstance(t.get("retweeted_status"), dict) else None
    qt = t.get("quoted_status") if isinstance(t.get("quoted_status"), dict) else None
    reply_to = _id(t, "in_reply_to_status_id")
    quoted = s(t.get("quoted_status_id_str")) or (qt and _id(qt))
    if rt is not None:
        kind, parent = "repost", _id(rt)
    elif reply_to:
        kind, parent = "reply", reply_to
    elif quoted:
        kind, parent = "quote", quoted
    else:
        kind, parent = "original", None
    extended = _v if isinstance(_v := t.get("extended_tweet"), dict) else {}
    text = extended.get("full_text") or t.get("full_text") or t.get("text")
    entities = extended.get("entities") or t.get("entities") or {}
    urls = [u.get("expanded_url") or u.get("url") for u in entities.get("urls") or []]
    tags = [h.get("text") for h in entities.get("hashtags") or []]
    media = _v1_media(extended.get("extended_entities") or t.get("extended_entities") or entities)
    rows.append(
        (
            "posts",
            {
                "post_id": _id(t),
                "account_id": _id(user),
                "created_at": twitter_time(t.get("created_at")),
                "parent_id": parent,
                "kind": kind,
                "root_id": None,
                "text": s(text),
                "urls": joined(urls),
                "hashtags": joined(tags),
                "lang": s(t.get("lang")),
                "platform": "twitter",
                "media": joined([m[1]["media_id"] for m in media]),
            },
            None,
        )
    )
    rows += media
    if user:
        rows.append(("accounts", _v1_user(user, observed), None))
    if depth < 3:  # a retweet of a quote of a quote ... is at most a few levels deep
        if rt is not None:
            _v1_tweet(rt, observed, rows, depth + 1)
        if qt is not None:
            _v1_tweet(qt, observed, rows, depth + 1)


def _v1_media(entities: dict) -> list[Row]:
    """Media rows of v1.1 ``extended_entities.media`` (else ``entities.media``).

    The media id is ``id_str``; a video's url is its best mp4 variant (else the poster
    image ``media_url_https``).
    """
    rows = []
    for m in entities.get("media") or []:
        if not isinstance(m, dict) or not _id(m):
            continue
        info = _v if isinstance(_v := m.get("video_info"), dict) else {}
        mp4 = [
            v
            for v in info.get("variants") or []
            if isinstance(v, dict) and v.get("content_type") == "video/mp4" and v.get("url")
        ]
        best = max(mp4, key=lambda v: v.get("bitrate") or 0)["url"] if mp4 else None
        ms = info.get("duration_millis")
        rows.append(
            media_row(
                _id(m),
                m.get("type"),
                best or m.get("media_url_https") or m.get("media_url"),
                duration_s=ms / 1000 if isinstance(ms, int | float) else None,
            )
        )
    return rows


def _v1_user(u: dict, observed: str | None) -> dict[str, str | None]:
    return {
        "account_id": _id(u),
        "handle": s(u.get("screen_name")),
        "display_name": s(u.get("name")),
        "created_at": twitter_time(u.get("created_at")),
        "followers_count": s(u.get("followers_count")),
        "following_count": s(u.get("friends_count")),
        "posts_count": s(u.get("statuses_count")),
        "likes_count": s(u.get("favourites_count")),
        "listed_count": s(u.get("listed_count")),
        "verified": flag(u.get("verified")),
        "default_profile": flag(u.get("default_profile")),
        "default_profile_image": flag(u.get("default_profile_image")),
        "description": s(u.get("description")),
        "platform": "twitter",
        "observed_at": observed,
    }


# --- v2 -------------------------------------------------------------------------------------


def read_v2(obj: dict) -> list[Row]:
    """Canonical rows from one twarc2 line: a response page, or one flattened tweet."""
    observed = s((obj.get("__twarc") or {}).get("retrieved_at"))
    if "data" in obj or "includes" in obj:
        data = obj.get("data") or []
        tweets = [data] if isinstance(data, dict) else list(data)
        includes = obj.get("includes") or {}
        extra = list(includes.get("tweets") or [])
        users = list(includes.get("users") or [])
        media = list(includes.get("media") or [])
    elif "author_id" in obj and "id" in obj:
        # twarc2 flatten: one tweet per line, author and referenced tweets expanded.
        tweets = [obj]
        users = [obj["author"]] if isinstance(obj.get("author"), dict) else []
        extra = [
            r
            for r in obj.get("referenced_tweets") or []
            if isinstance(r, dict) and "author_id" in r
        ]
        users += [r["author"] for r in extra if isinstance(r.get("author"), dict)]
        media = [
            m
            for t in tweets + extra
            for m in (t.get("attachments") or {}).get("media") or []
            if isinstance(m, dict)
        ]
    else:
        if obj.get("errors"):
            # An error object in a capture (rate limit, stream disconnect): a reject whose
            # reason is the API's own text, so the analyst sees what the API said.
            raise RecordError(f"Twitter API error: {_api_error_text(obj['errors'])}")
        if "meta" in obj:
            return []  # a page with no tweets (the end of the results)
        raise RecordError("not a Twitter v2 page or tweet")
    rows: list[Row] = []
    # includes.tweets often repeat tweets of `data`: they count as duplicates, like
    # the embedded tweets of v1.1.
    for t in tweets + extra:
        if not isinstance(t, dict):
            raise RecordError("a v2 tweet is not an object")
        row = _v2_tweet(t)
        row["platform_meta"] = _edit_history(t)
        rows.append(("posts", row, json.dumps(t, ensure_ascii=False)))
    for u in users:
        if isinstance(u, dict):
            rows.append(("accounts", _v2_user(u, observed), None))
    for m in media:
        if isinstance(m, dict) and m.get("media_key"):
            rows.append(_v2_media(m))
    return rows


def _v2_media(m: dict) -> Row:
    """A media row from a v2 ``includes.media`` object: media_key, type, url (photos)
    or the best mp4 variant (videos, gifs), else preview_image_url."""
    mp4 = [
        v
        for v in m.get("variants") or []
        if isinstance(v, dict) and v.get("content_type") == "video/mp4" and v.get("url")
    ]
    best = max(mp4, key=lambda v: v.get("bit_rate") or 0)["url"] if mp4 else None
    ms = m.get("duration_ms")
    return media_row(
        m.get("media_key"),
        m.get("type"),
        m.get("url") or best or m.get("preview_image_url"),
        m.get("width"),
        m.get("height"),
        ms / 1000 if isinstance(ms, int | float) else None,
    )


def _edit_history(t: dict) -> str | None:
    """An edited tweet's versions, oldest first, as ``platform_meta`` (else None).

    Why keep them apart: each version has its own id, time and text, and replies or
    quotes point at one particular version (a quote of the first, a reply to the
    edit); the shared history tells an analyst they are one tweet.

    >>> _edit_history({"id": "2", "edit_history_tweet_ids": ["1", "2"]})
    '{"edit_history_tweet_ids": ["1", "2"]}'
    """
    ids = t.get("edit_history_tweet_ids")
    if not isinstance(ids, list) or len(ids) < 2:
        return None
    return json.dumps({"edit_history_tweet_ids": [str(i) for i in ids]})


def _api_error_text(errors: object) -> str:
    """The API's error messages, joined: ``title: detail`` (or ``message``) of each.

    >>> _api_error_text([{"title": "operational-disconnect", "detail": "This stream has been disconnected"}])
    'operational-disconnect: This stream has been disconnected'
    """
    parts = []
    for e in errors if isinstance(errors, list) else [errors]:
        if isinstance(e, dict):
            title = e.get("title") or e.get("type")
            detail = e.get("detail") or e.get("message")
            parts.append(": ".join(str(x) for x in (title, detail) if x) or json.dumps(e))
        else:
            parts.append(str(e))
    return "; ".join(parts)


def _v2_tweet(t: dict) -> dict[str, str | None]:
    refs: dict[str, str | None] = {}
    for r in t.get("referenced_tweets") or []:
        if isinstance(r, dict) and r.get("type"):
            refs.setdefault(str(r["type"]), s(r.get("id")))
    if "retweeted" in refs:
        kind, parent = "repost", refs["retweeted"]
    elif "replied_to" in refs:
        kind, parent = "reply", refs["replied_to"]
    elif "quoted" in refs:
        kind, parent = "quote", refs["quoted"]
    else:
        kind, parent = "original", None
    conversation = s(t.get("conversation_id"))
    entities = t.get("entities") or {}
    return {
        "post_id": s(t.get("id")),
        "account_id": s(t.get("author_id")),
        "created_at": s(t.get("created_at")),
        "parent_id": parent,
        "kind": kind,
        "root_id": conversation if kind == "reply" and conversation != s(t.get("id")) else None,
        "text": s(t.get("text")),
        "urls": joined([u.get("expanded_url") or u.get("url") for u in entities.get("urls") or []]),
        "hashtags": joined([h.get("tag") for h in entities.get("hashtags") or []]),
        "lang": s(t.get("lang")),
        "platform": "twitter",
        "media": joined(_v2_media_keys(t)),
    }


def _v2_media_keys(t: dict) -> list[object]:
    """A v2 tweet's ``attachments.media_keys`` (twarc2 flatten: ``attachments.media``)."""
    attachments = _v if isinstance(_v := t.get("attachments"), dict) else {}
    keys = list(attachments.get("media_keys") or [])
    keys += [m.get("media_key") for m in attachments.get("media") or [] if isinstance(m, dict)]
    return list(dict.fromkeys(k for k in keys if isinstance(k, str)))


def _v2_user(u: dict, observed: str | None) -> dict[str, str | None]:
    metrics = u.get("public_metrics") or {}
    image = u.get("profile_image_url")
    return {
        "account_id": s(u.get("id")),
        "handle": s(u.get("username")),
        "display_name": s(u.get("name")),
        "created_at": s(u.get("created_at")),
        "followers_count": s(metrics.get("followers_count")),
        "following_count": s(metrics.get("following_count")),
        "posts_count": s(metrics.get("tweet_count")),
        "likes_count": s(metrics.get("like_count")),
        "listed_count": s(metrics.get("listed_count")),
        "verified": flag(u.get("verified")),
        "default_profile": None,  # v2 does not say
        "default_profile_image": (
            flag("default_profile_images" in image) if isinstance(image, str) else None
        ),
        "description": s(u.get("description")),
        "platform": "twitter",
        "observed_at": observed,
    }

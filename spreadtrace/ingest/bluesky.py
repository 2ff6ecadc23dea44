"""Bluesky reader: Jetstream events, one JSON object per line.

Why Jetstream: it is how analysts capture Bluesky at scale (the firehose as plain JSON).
``post_id`` is the record's ``at://did/collection/rkey`` URI, ``account_id`` the DID.

- ``app.bsky.feed.post`` create: a reply (``reply.parent.uri``; ``reply.root.uri`` is
  the root) or, with an embedded ``app.bsky.embed.record`` / ``recordWithMedia`` that
  points at a post, a quote; otherwise an original. Reply wins over quote.
- ``app.bsky.feed.repost`` create: a repost of ``subject.uri``.
- ``app.bsky.graph.follow`` create: a follow of ``subject`` (a DID).
- ``app.bsky.actor.profile`` create/update and ``identity`` events: account snapshots
  (display name / description, or handle) observed at the event time.
- Everything else (likes, deletes, account status, ...): skipped, and counted.

>>> rows = read_jetstream({"did": "did:plc:b", "time_us": 1725911162329308, "kind": "commit",
...     "commit": {"operation": "create", "collection": "app.bsky.feed.repost", "rkey": "r1",
...         "record": {"createdAt": "2024-09-09T19:46:02Z",
...                    "subject": {"uri": "at://did:plc:a/app.bsky.feed.post/p1"}}}})
>>> rows[0][1]["post_id"], rows[0][1]["kind"], rows[0][1]["parent_id"]
('at://did:plc:b/app.bsky.feed.repost/r1', 'repost', 'at://did:plc:a/app.bsky.feed.post/p1')
"""

from __future__ import annotations

from datetime import UTC, datetime

from spreadtrace.ingest.records import RecordError, Row, joined, media_row, s

_POST = "app.bsky.feed.post"
_REPOST = "app.bsky.feed.repost"
_FOLLOW = "app.bsky.graph.follow"
_PROFILE = "app.bsky.actor.profile"


def _event_time(obj: dict) -> str | None:
    t = obj.get("time_us")
    if isinstance(t, int | float):
        return datetime.fromtimestamp(t / 1_000_000, UTC).isoformat()
    return None


def _quoted_uri(embed: object) -> str | None:
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record":
        uri = (embed.get("record") or {}).get("uri")
    elif kind == "app.bsky.embed.recordWithMedia":
        uri = ((embed.get("record") or {}).get("record") or {}).get("uri")
    else:
        return None
    # Only an embedded *post* makes a quote (not an embedded list or feed generator).
    return uri if isinstance(uri, str) and f"/{_POST}/" in uri else None


def _links_and_tags(record: dict) -> tuple[list[str], list[str]]:
    urls: list[str] = []
    tags: list[str] = []
    for facet in record.get("facets") or []:
        for feature in (facet or {}).get("features") or []:
            kind = (feature or {}).get("$type", "")
            if kind.endswith("#link") and feature.get("uri"):
                urls.append(feature["uri"])
            elif kind.endswith("#tag") and feature.get("tag"):
                tags.append(feature["tag"])
    embed = record.get("embed") or {}
    external = embed.get("external") or (embed.get("media") or {}).get("external") or {}
    if external.get("uri") and external["uri"] not in urls:
        urls.append(external["uri"])
    tags += [t for t in record.get("tags") or [] if t not in tags]
    return urls, tags


def _blob_cid(blob: object) -> str | None:
    """The CID of a blob (``ref.$link``; legacy blobs carry ``cid``): a content hash,
    so identical bytes give an identical CID."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else None
    return s(cid or blob.get("cid"))


def _embedded_media(embed: object) -> list[Row]:
    """Media rows of ``app.bsky.embed.images`` / ``.video`` (also inside
    ``recordWithMedia``); the media id is the blob CID."""
    if not isinstance(embed, dict):
        return []
    kind = embed.get("$type")
    if kind == "app.bsky.embed.recordWithMedia":
        return _embedded_media(embed.get("media"))
    blobs: list[tuple[object, dict]] = []
    if kind == "app.bsky.embed.images":
        blobs = [
            (i.get("image"), i.get("aspectRatio") or {})
            for i in embed.get("images") or []
            if isinstance(i, dict)
        ]
    elif kind == "app.bsky.embed.video":
        blobs = [(embed.get("video"), embed.get("aspectRatio") or {})]
    rows = []
    for blob, ratio in blobs:
        cid = _blob_cid(blob)
        if cid is None:
            continue
        mime = str(blob.get("mimeType") or "") if isinstance(blob, dict) else ""
        fallback = "video" if kind == "app.bsky.embed.video" else "image"
        media_kind = "gif" if mime == "image/gif" else mime.split("/")[0] or fallback
        rows.append(media_row(cid, media_kind, None, ratio.get("width"), ratio.get("height")))
    return rows


def read_jetstream(obj: dict) -> list[Row]:
    """Canonical rows from one Jetstream event."""
    did = s(obj.get("did"))
    kind = obj.get("kind")
    if kind == "identity":
        ident = obj.get("identity") or {}
        return [
            (
                "accounts",
                {
                    "account_id": s(ident.get("did")) or did,
                    "handle": s(ident.get("handle")),
                    "platform": "bluesky",
                    "observed_at": s(ident.get("time")) or _event_time(obj),
                },
                None,
            )
        ]
    if kind != "commit":
        if kind is None:
            raise RecordError("not a Jetstream event (no kind)")
        return []  # account status and other event kinds
    commit = obj.get("commit")
    if not isinstance(commit, dict):
        raise RecordError("Jetstream commit event without a commit")
    collection = commit.get("collection")
    operation = commit.get("operation")
    record = _v if isinstance(_v := commit.get("record"), dict) else {}
    uri = f"at://{did}/{collection}/{commit.get('rkey')}"
    if collection == _PROFILE and operation in ("create", "update"):
        return [
            (
                "accounts",
                {
                    "account_id": did,
                    "display_name": s(record.get("displayName")),
                    "description": s(record.get("description")),
                    "platform": "bluesky",
                    "observed_at": _event_time(obj),
                },
                None,
            )
        ]
    if operation != "create":
        return []  # deletes and edits: the store keeps what it saw
    if collection == _POST:
        reply = _v if isinstance(_v := record.get("reply"), dict) else {}
        parent = s((reply.get("parent") or {}).get("uri"))
        root = s((reply.get("root") or {}).get("uri"))
        quoted = _quoted_uri(record.get("embed"))
        if parent:
            post_kind, parent_id = "reply", parent
        elif quoted:
            post_kind, parent_id = "quote", quoted
        else:
            post_kind, parent_id, root = "original", None, None
        urls, tags = _links_and_tags(record)
        langs = record.get("langs") or []
        media = _embedded_media(record.get("embed"))
        return [
            (
                "posts",
                {
                    "post_id": uri,
                    "account_id": did,
                    "created_at": s(record.get("createdAt")),
                    "parent_id": parent_id,
                    "kind": post_kind,
                    "root_id": root if root != uri else None,
                    "text": s(record.get("text")),
                    "urls": joined(urls),
                    "hashtags": joined(tags),
                    "lang": s(langs[0]) if langs else None,
                    "platform": "bluesky",
                    "media": joined([m[1]["media_id"] for m in media]),
                },
                None,
            ),
            *media,
        ]
    if collection == _REPOST:
        subject = record.get("subject") or {}
        return [
            (
                "posts",
                {
                    "post_id": uri,
                    "account_id": did,
                    "created_at": s(record.get("createdAt")),
                    "parent_id": s(subject.get("uri")),
                    "kind": "repost",
                    "platform": "bluesky",
                },
                None,
            )
        ]
    if collection == _FOLLOW:
        return [
            (
                "follows",
                {
                    "follower_id": did,
                    "followee_id": s(record.get("subject")),
                    "created_at": s(record.get("createdAt")),
                },
                None,
            )
        ]
    return []  # likes, blocks, lists, ...

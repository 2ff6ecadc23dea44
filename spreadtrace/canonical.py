"""The canonical input format: the exact column names of posts, accounts and follows files.

Why a module of its own: the format is a contract shared by the ingest SQL (which
validates files against it) and the synthetic generator (which writes files in it),
and neither should depend on the other. No imports: it is plain data.

>>> POSTS_COLUMNS[:3] == POSTS_REQUIRED
True
"""

from __future__ import annotations

POSTS_COLUMNS: tuple[str, ...] = (
    "post_id",
    "account_id",
    "created_at",
    "parent_id",
    "kind",
    "root_id",
    "text",
    "urls",
    "hashtags",
    "lang",
    "platform",
    "media",  # space-separated media references: a media_id, pdq:<hex>, phash:<hex>, sha256:<hex>
)
POSTS_REQUIRED: tuple[str, ...] = ("post_id", "account_id", "created_at")
# Optional post input beyond the canonical columns: ``platform_meta`` (a JSON object of
# platform fields with no canonical column: a subreddit, a Telegram chat, a Mastodon
# visibility).
POSTS_EXTRA_COLUMNS: tuple[str, ...] = ("platform_meta",)
POSTS_INPUT_COLUMNS: tuple[str, ...] = (*POSTS_COLUMNS, *POSTS_EXTRA_COLUMNS)
# Columns holding space-separated lists (united when a post comes in several rows).
POSTS_LIST_COLUMNS: tuple[str, ...] = ("urls", "hashtags", "media")
KINDS: tuple[str, ...] = ("original", "repost", "quote", "reply")

ACCOUNT_COUNTS = (
    "followers_count",
    "following_count",
    "posts_count",
    "likes_count",
    "listed_count",
)
ACCOUNT_FLAGS = ("verified", "default_profile", "default_profile_image")
ACCOUNTS_COLUMNS: tuple[str, ...] = (
    "account_id",
    "handle",
    "display_name",
    "created_at",
    *ACCOUNT_COUNTS,
    *ACCOUNT_FLAGS,
    "description",
    "platform",
    "observed_at",
)
ACCOUNTS_REQUIRED: tuple[str, ...] = ("account_id",)

# The ``media`` file kind: one row per image / video / gif (``spreadtrace media hash``
# writes these rows; platform readers fill the first three). ``frames`` (video only) is
# the space-separated PDQ hex of the sampled frames (see spreadtrace.media).
MEDIA_COLUMNS: tuple[str, ...] = (
    "media_id",
    "kind",
    "url",
    "sha256",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "duration_s",
    "local_path",
    "frames",
)
MEDIA_REQUIRED: tuple[str, ...] = ("media_id",)
MEDIA_KINDS: tuple[str, ...] = ("image", "video", "gif")

FOLLOWS_COLUMNS: tuple[str, ...] = ("follower_id", "followee_id", "created_at")
FOLLOWS_REQUIRED: tuple[str, ...] = ("follower_id", "followee_id")

# The reject reason for a JSON record holding an escape like "\ud800" that is not half
# of a surrogate pair: valid JSON syntax, but no character (no UTF-8 encoder takes it).
# One wording for the canonical JSON Lines (DuckDB's parser) and the platform readers.
LONE_SURROGATE = "lone UTF-16 surrogate in a JSON string (not a character)"

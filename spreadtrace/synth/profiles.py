"""Account profile snapshots (the canonical accounts file) for the synthetic world.

Why these ranges: bot datasets (Cresci et al. 2017/2018; Yang et al. 2019, the
BotometerLite features) separate bots from humans mostly by account age, posting
rate per day of age, follower/following ratio, default profile settings and digits in
the handle. Planted bots lean that way on every feature but none is decisive: some
bots are old (bought accounts), have a custom profile or a plain handle, and some
humans are young or keep the default profile.

>>> import numpy as np
>>> from spreadtrace.synth.accounts import build_world
>>> from spreadtrace.synth.params import SynthParams
>>> p = SynthParams.for_posts(30_000)
>>> w = build_world(np.random.default_rng(0), p)
>>> df = profiles(np.random.default_rng(1), w, p, end_s=1_710_000_000)
>>> df.height == p.accounts and df["handle"].n_unique() == df.height
True
"""

from __future__ import annotations

import numpy as np
import polars as pl

from spreadtrace.canonical import ACCOUNTS_COLUMNS
from spreadtrace.synth.accounts import World
from spreadtrace.synth.params import PLATFORMS, SynthParams
from spreadtrace.synth.text import (
    DESC_WORDS,
    FIRST_NAMES,
    LAST_NAMES,
    SPAM_WORDS,
    join_words,
    random_tokens,
)

# Earliest possible account creation per platform (public launch dates).
_LAUNCH = {"twitter": 1_152_921_600, "bluesky": 1_676_592_000, "mastodon": 1_475_280_000}

ACCOUNT_COLUMNS = list(ACCOUNTS_COLUMNS)  # the canonical accounts file, in order


def profiles(rng: np.random.Generator, w: World, p: SynthParams, *, end_s: int) -> pl.DataFrame:
    """One profile snapshot per account, observed just after the world's last day."""
    n = w.n
    bot = w.is_bot
    observed = end_s + rng.integers(0, 86_400, size=n)
    launch = np.array([_LAUNCH[name] for name in PLATFORMS], dtype=np.int64)[w.platform]
    max_age = np.maximum((observed - launch) / 86_400.0, 3.0)

    human_age = rng.lognormal(np.log(5 * 365), 0.8, size=n)
    bot_age = rng.lognormal(np.log(60), 1.0, size=n)
    aged_bot = rng.random(n) < 0.15  # bought / repurposed accounts look old
    age = np.where(bot & ~aged_bot, bot_age, human_age)
    age = np.clip(age, np.where(bot, 2.0, 20.0), max_age)
    created = (observed - age * 86_400).astype(np.int64)

    followers = w.in_deg + np.floor(w.in_deg * rng.lognormal(np.log(1.5), 0.6, size=n))
    followers = np.where(bot, w.in_deg + rng.poisson(3, size=n), followers).astype(np.int64)
    following = (w.out_deg + np.floor(w.out_deg * rng.lognormal(np.log(1.5), 0.6, size=n))).astype(
        np.int64
    )
    rate = np.where(
        bot, rng.lognormal(np.log(60), 0.8, size=n), rng.lognormal(np.log(2), 1.2, size=n)
    )
    posts_count = np.maximum(1, rate * age).astype(np.int64)
    likes = posts_count * rng.lognormal(np.log(1.5), 1.0, size=n)
    bot_likes = np.where(
        rng.random(n) < 0.4,
        rng.integers(0, 20, size=n),
        posts_count * rng.lognormal(np.log(0.3), 1.0, size=n),
    )
    likes = np.where(bot, bot_likes, likes).astype(np.int64)
    listed = np.where(
        bot,
        rng.poisson(0.3, size=n),
        np.floor(followers / 40.0 * rng.lognormal(0.0, 0.8, size=n)),
    ).astype(np.int64)
    top = followers >= np.quantile(followers, 0.99)
    verified = ~bot & (rng.random(n) < np.where(top, 0.4, 0.003))
    default_profile = rng.random(n) < np.where(bot, 0.55, 0.12)
    default_image = rng.random(n) < np.where(bot, 0.30, 0.02)

    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), size=n)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), size=n)]
    style = rng.integers(0, 4, size=n)
    digits2 = rng.integers(1, 100, size=n).astype(str)
    digits8 = rng.integers(10_000_000, 99_999_999, size=n).astype(str)
    tokens = random_tokens(rng, n, 12)
    sep = np.where(style == 1, "_", "")
    human_handle = np.char.add(np.char.add(first, sep), np.where(style == 3, digits2, last))
    human_handle = np.where(style == 2, first, human_handle)
    bot_handle = np.where(rng.random(n) < 0.6, np.char.add(first, digits8), tokens)
    plain = rng.random(n) < 0.2  # some bots have plain, human-looking handles
    bot_handle = np.where(plain, np.char.add(np.char.add(first, "_"), last), bot_handle)
    handle = pl.Series("handle", np.where(bot, bot_handle, human_handle))
    dup = handle.is_duplicated().to_numpy()
    # Make handles unique the way platforms do: append a number.
    handle = pl.Series(
        "handle",
        np.where(
            dup,
            np.char.add(handle.to_numpy().astype(str), np.char.add("_", np.arange(n).astype(str))),
            handle.to_numpy().astype(str),
        ),
    )
    display = np.char.add(np.char.add(np.char.capitalize(first), " "), np.char.capitalize(last))
    display = np.where(bot & (rng.random(n) < 0.5), handle.to_numpy().astype(str), display)

    desc_len = rng.integers(3, 11, size=n)
    desc_h = join_words(
        rng.integers(0, len(DESC_WORDS), size=(n, 10)), desc_len, np.array(DESC_WORDS)
    )
    desc_b = join_words(
        rng.integers(0, len(SPAM_WORDS), size=(n, 10)), desc_len, np.array(SPAM_WORDS)
    )
    has_desc = rng.random(n) < np.where(bot, 0.45, 0.8)
    bot_s = pl.Series(bot)
    description = pl.select(
        pl.when(~pl.lit(pl.Series(has_desc)))
        .then(pl.lit(None, dtype=pl.String))
        .when(pl.lit(bot_s))
        .then(pl.lit(desc_b))
        .otherwise(pl.lit(desc_h))
        .alias("d")
    )["d"]

    return pl.DataFrame(
        {
            "account_id": w.account_id.astype(str),
            "handle": handle,
            "display_name": display,
            "created_at": pl.from_epoch(pl.Series(created), time_unit="s"),
            "followers_count": followers,
            "following_count": following,
            "posts_count": posts_count,
            "likes_count": likes,
            "listed_count": listed,
            "verified": verified,
            "default_profile": default_profile,
            "default_profile_image": default_image,
            "description": description,
            "platform": np.array(PLATFORMS)[w.platform],
            "observed_at": pl.from_epoch(pl.Series(observed), time_unit="s"),
        }
    )

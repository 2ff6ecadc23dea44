"""Every knob of the synthetic world, with its default and where the default comes from.

Why one frozen dataclass: ``truth/params.json`` must record exactly what produced a
world, and tests and benchmarks derive worlds of other sizes from the same defaults
(:meth:`SynthParams.for_posts`). Sizes that must grow with the world (accounts,
planted groups, narratives, messy lines) are derived from ``posts`` here, in one place.

>>> p = SynthParams.for_posts(30_000, seed=1)
>>> p.accounts, p.groups, p.misinfo_narratives
(2500, 3, 6)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

PLATFORMS = ("twitter", "bluesky", "mastodon")
# twitter: flattened parents (every repost's parent is the original, root_id given);
# bluesky: explicit intermediate parents and root_id; mastodon: explicit parents only.
FLAT_PLATFORMS = ("twitter",)
ROOT_ID_PLATFORMS = ("twitter", "bluesky")


@dataclass(frozen=True)
class SynthParams:
    """Parameters of one synthetic world (see docs/synthetic-world.md)."""

    seed: int = 0
    posts: int = 30_000  # distinct valid posts written (duplicates/malformed come on top)
    start: str = "2024-03-04T00:00:00Z"
    days: int = 14
    accounts: int = 2500
    platform_shares: tuple[float, ...] = (0.5, 0.3, 0.2)  # twitter, bluesky, mastodon
    bot_share: float = 0.06  # Varol et al. 2017 estimate 9-15% of active Twitter accounts
    amplifier_share: float = 0.5  # of bots (outside groups): react early to misinformation
    # follower graph
    median_following: float = 20.0
    bot_following_factor: float = 3.0
    in_weight_alpha: float = 1.5  # Pareto tail of popularity -> heavy-tailed follower counts
    bot_in_weight: float = 0.15
    # organic spread (independent cascade, Kempe et al. 2003)
    p_edge: float = 0.012
    virality_sigma: float = 0.9
    max_branching: float = 0.9  # cap on p_edge * mean followers: cascades stay subcritical
    max_depth: int = 40
    quote_share: float = 0.05
    reply_share: float = 0.05
    # viral events: a few originals of big accounts that go supercritical (see spread.py)
    viral_events: int = 1
    viral_branching: float = 3.5  # expected reshares per resharer (> 1: supercritical)
    viral_root_reach: float = 0.2  # share of the root's followers who reshare it
    viral_max_share: float = 0.15  # of a batch's posts; a longer burst is cut in time
    # reaction delays (overlapping on purpose: no single timing feature separates bots)
    human_delay_median_s: float = 1500.0
    human_delay_sigma: float = 1.6
    fast_human_share: float = 0.12  # notification-driven humans: often within seconds
    fast_human_delay_median_s: float = 30.0
    fast_human_delay_sigma: float = 1.3
    human_instant_share: float = 0.03  # any human, now and then: online when it appeared
    min_human_delay_s: float = 2.0
    night_owl_share: float = 0.12  # humans active at any hour (shift work, several zones)
    bot_delay_median_s: float = 6.0
    bot_delay_sigma: float = 0.7
    scheduled_bot_share: float = 0.3  # bots on a schedule: minutes, not seconds
    scheduled_bot_delay_median_s: float = 600.0
    scheduled_bot_delay_sigma: float = 1.1
    scheduled_bot_rate: float = 2.5  # ...but they post more (a timer never sleeps)
    diurnal_bot_share: float = 0.2  # operator-run bots that keep office hours
    bot_follow_react: float = 0.15  # share of follow-graph exposures a bot reacts to
    early_bot_delay_median_s: float = 12.0
    early_bot_delay_sigma: float = 1.2
    bot_slow_share: float = 0.15  # bot reposts that wait minutes (not trivially separable)
    # share of all posts
    bot_repost_share: float = 0.07
    bot_original_share: float = 0.04
    url_share: float = 0.15
    hashtag_share: float = 0.2
    # planted structures
    groups: int = 3
    group_size: tuple[int, int] = (6, 12)
    group_items: tuple[int, int] = (10, 16)
    group_participation: float = 0.85
    group_spread_s: float = 8.0  # members of a ring post within this many seconds
    # extra rings of human accounts only (human profiles and timing, lock-step co-sharing):
    # coordinated, not automated. 0 keeps the bundled sample as it was.
    human_groups: int = 0
    misinfo_narratives: int = 6
    benign_narratives: int = 6
    narrative_seeds: tuple[int, int] = (3, 7)
    benign_origins: tuple[int, int] = (8, 25)
    early_bots_per_seed: float = 2.0
    misinfo_virality: float = 3.0
    # messy realities
    duplicate_rate: float = 0.002
    unseen_root_rate: float = 0.005  # of cascades with reposts: the original is missing
    clock_skew_rate: float = 0.001
    malformed_per_kind: int = 1
    batch_posts: int = 1_000_000
    gzip_level: int = 6
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_posts(cls, posts: int, seed: int = 0, **overrides: Any) -> SynthParams:
        """Defaults for a world of ``posts`` posts: sizes scale, rates stay."""
        scale = max(posts, 1) / 30_000
        # planted structures grow like sqrt(size) above the sample, linearly below it
        grow = math.sqrt(scale) if scale >= 1 else scale
        derived: dict[str, Any] = {
            "seed": seed,
            "posts": posts,
            "accounts": int(min(800_000, max(1500, posts // 12))),
            "days": 14 if posts <= 100_000 else 30,
            "groups": max(1, round(3 * grow)),
            "misinfo_narratives": max(1, round(6 * grow)),
            "benign_narratives": max(1, round(6 * grow)) if posts >= 1000 else 0,
            "malformed_per_kind": max(1, posts // 1_000_000),
            # one viral burst from 10k posts on, one more per 2.5M posts
            "viral_events": 0 if posts < 10_000 else max(1, round(posts / 2_500_000)),
            # the committed sample favours size; big benchmark worlds favour speed
            "gzip_level": 6 if posts <= 100_000 else 1,
        }
        derived.update(overrides)
        return cls(**derived)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["platforms"] = list(PLATFORMS)
        d["flat_platforms"] = list(FLAT_PLATFORMS)
        d["root_id_platforms"] = list(ROOT_ID_PLATFORMS)
        return d

"""Accounts, roles and the follower graph of the synthetic world.

Why: every planted property lives on accounts (bot, coordinated group, amplifier,
time zone) and every organic share travels along a follow edge, so the graph must
have the heavy-tailed follower counts of real platforms. Followees are drawn with
probability proportional to a Pareto "popularity" weight (a static stand-in for
preferential attachment, Barabási & Albert 1999), which gives a power-law tail of
in-degrees: most accounts have tens of followers, a few have a large share of the
platform. Everything is drawn with numpy in whole arrays.

>>> import numpy as np
>>> from spreadtrace.synth.params import SynthParams
>>> w = build_world(np.random.default_rng(0), SynthParams.for_posts(30_000))
>>> int(w.in_deg.max()) > 20 * int(np.median(w.in_deg))  # heavy tail
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadtrace.synth.params import PLATFORMS, SynthParams


def mix_ids(x: np.ndarray, bits: int, key: int) -> np.ndarray:
    """A keyed bijection on ``[0, 2**bits)``: unique ids that look random.

    Rounds of xor-shift and odd multiplication modulo ``2**bits`` are each invertible,
    so distinct inputs give distinct outputs (no collision check needed).

    >>> ids = mix_ids(np.arange(1000), 30, key=7)
    >>> len(np.unique(ids)), int(ids.max()) < 2**30
    (1000, True)
    """
    mask = np.uint64((1 << bits) - 1)
    half = np.uint64(bits // 2)
    v = np.asarray(x, dtype=np.uint64) & mask
    for mult in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB):
        v = (v ^ np.uint64(key)) & mask
        v = (v * np.uint64(mult | 1)) & mask
        v = v ^ (v >> half)
    return v.astype(np.int64)


@dataclass
class World:
    """Accounts (arrays indexed by internal account number) and the follower CSR."""

    n: int
    platform: np.ndarray  # int8 index into PLATFORMS; contiguous blocks
    blocks: list[tuple[int, int]]  # [lo, hi) per platform
    is_bot: np.ndarray
    group: np.ndarray  # int32, -1 = no coordinated group
    amplifier: np.ndarray  # bots that react early to misinformation
    tz: np.ndarray  # int8 UTC offset in hours
    lang_de: np.ndarray
    fast: np.ndarray  # notification-driven humans who often reshare within seconds
    night_owl: np.ndarray  # humans active at any hour (no night-time pause)
    scheduled: np.ndarray  # bots that act on a schedule: minute-scale delays
    diurnal_bot: np.ndarray  # operator-run bots that post in office hours
    activity: np.ndarray  # relative posting rate (humans), 0 for bots
    bot_rate: np.ndarray  # relative posting rate (bots), 0 for humans
    account_id: np.ndarray  # int64 public ids (random-looking, unique)
    fol_ptr: np.ndarray  # followers of account a: fol_idx[fol_ptr[a]:fol_ptr[a+1]]
    fol_idx: np.ndarray
    follower: np.ndarray  # the edge list (follower -> followee), sorted by follower
    followee: np.ndarray
    in_deg: np.ndarray
    out_deg: np.ndarray
    groups: list[np.ndarray]  # members of each planted group
    group_platform: list[int]
    group_mixed: list[bool]

    @property
    def mean_in_deg(self) -> float:
        return float(self.in_deg.mean()) if self.n else 0.0

    def followers_of(self, a: int) -> np.ndarray:
        return self.fol_idx[self.fol_ptr[a] : self.fol_ptr[a + 1]]


def _split(n: int, shares: tuple[float, ...]) -> list[int]:
    counts = [int(n * s) for s in shares]
    counts[0] += n - sum(counts)
    return counts


def build_world(rng: np.random.Generator, p: SynthParams) -> World:
    """Draw accounts, their roles, planted groups and the follower graph."""
    n = p.accounts
    counts = _split(n, p.platform_shares)
    platform = np.repeat(np.arange(len(PLATFORMS), dtype=np.int8), counts)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    blocks = [(int(bounds[k]), int(bounds[k + 1])) for k in range(len(counts))]

    is_bot = rng.random(n) < p.bot_share
    group = np.full(n, -1, dtype=np.int32)
    groups: list[np.ndarray] = []
    group_platform: list[int] = []
    group_mixed: list[bool] = []
    # a handful of groups: the loop is over groups, not posts; groups from p.groups on
    # are human rings (p.human_groups)
    for g in range(p.groups + p.human_groups):
        k = g % len(PLATFORMS)
        lo, hi = blocks[k]
        size = int(rng.integers(p.group_size[0], p.group_size[1] + 1))
        free = np.arange(lo, hi)[group[lo:hi] < 0]
        mixed = g == 1 < p.groups  # exactly one group mixes bots and human-looking accounts
        bots = free[is_bot[free]]
        humans = free[~is_bot[free]]
        n_bots = 0 if g >= p.groups else size // 2 if mixed else size
        members = rng.choice(bots, size=min(n_bots, len(bots)), replace=False)
        if mixed or g >= p.groups:
            members = np.concatenate(
                [members, rng.choice(humans, size=size - len(members), replace=False)]
            )
        members = np.sort(members)
        group[members] = g
        groups.append(members)
        group_platform.append(k)
        group_mixed.append(mixed)

    amplifier = is_bot & (group < 0) & (rng.random(n) < p.amplifier_share)
    # Time zones: most twitter/bluesky users in the Americas and Europe, mastodon European.
    tz_choices = np.array([-8, -7, -6, -5, -4, 0, 1, 2, 3, 5, 8, 9], dtype=np.int8)
    tz_p = {
        0: [0.12, 0.04, 0.08, 0.16, 0.04, 0.12, 0.18, 0.08, 0.04, 0.06, 0.03, 0.05],
        1: [0.14, 0.04, 0.08, 0.18, 0.04, 0.10, 0.16, 0.06, 0.03, 0.04, 0.03, 0.10],
        2: [0.04, 0.02, 0.03, 0.06, 0.02, 0.15, 0.40, 0.14, 0.04, 0.03, 0.02, 0.05],
    }
    tz = np.empty(n, dtype=np.int8)
    for k, (lo, hi) in enumerate(blocks):
        pk = np.asarray(tz_p[k], dtype=np.float64)
        tz[lo:hi] = rng.choice(tz_choices, size=hi - lo, p=pk / pk.sum())
    lang_de = np.isin(tz, [1, 2]) & (rng.random(n) < 0.4)
    fast = ~is_bot & (group < 0) & (rng.random(n) < p.fast_human_share)
    # Overlap on purpose (no single timing feature may separate bots from humans): some
    # humans are night owls, some bots are slow schedulers or keep office hours.
    night_owl = ~is_bot & (group < 0) & (rng.random(n) < p.night_owl_share)
    scheduled = is_bot & (group < 0) & (rng.random(n) < p.scheduled_bot_share)
    diurnal_bot = is_bot & (group < 0) & ~scheduled & (rng.random(n) < p.diurnal_bot_share)
    activity = np.where(is_bot, 0.0, rng.lognormal(0.0, 1.2, size=n))
    bot_rate = np.where(is_bot, rng.lognormal(0.0, 0.6, size=n), 0.0)
    bot_rate = np.where(scheduled, bot_rate * p.scheduled_bot_rate, bot_rate)  # on a timer

    account_id = 100_000_000 + mix_ids(np.arange(n), 29, int(rng.integers(1, 2**29)))

    # Follower graph, per platform block (nobody follows across platforms).
    out_k = rng.lognormal(np.log(p.median_following), 1.0, size=n)
    out_k = np.where(is_bot, out_k * p.bot_following_factor, out_k)
    in_w = (1.0 / rng.random(n)) ** (1.0 / p.in_weight_alpha)
    in_w = np.where(is_bot, in_w * p.bot_in_weight, in_w)
    src_parts, dst_parts = [], []
    for lo, hi in blocks:
        m = hi - lo
        if m < 2:
            continue
        k_out = np.clip(out_k[lo:hi], 1, max(1, int(0.3 * m))).astype(np.int64)
        cdf = np.cumsum(in_w[lo:hi])
        src = np.repeat(np.arange(lo, hi, dtype=np.int64), k_out)
        dst = lo + np.searchsorted(cdf, rng.random(len(src)) * cdf[-1], side="right")
        src_parts.append(src)
        dst_parts.append(np.minimum(dst, hi - 1))
    for members in groups:  # ring members follow each other
        a, b = np.meshgrid(members, members)
        src_parts.append(a.ravel().astype(np.int64))
        dst_parts.append(b.ravel().astype(np.int64))
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts)
    keep = src != dst
    key = np.sort(src[keep] * n + dst[keep])  # sorted by follower, then followee
    dedup = np.ones(len(key), dtype=bool)
    dedup[1:] = key[1:] != key[:-1]
    key = key[dedup]
    follower = (key // n).astype(np.int32)
    followee = (key % n).astype(np.int32)
    in_deg = np.bincount(followee, minlength=n)
    out_deg = np.bincount(follower, minlength=n)
    order = np.argsort(followee, kind="stable")
    fol_idx = follower[order]
    fol_ptr = np.concatenate([[0], np.cumsum(in_deg)]).astype(np.int64)

    return World(
        n=n,
        platform=platform,
        blocks=blocks,
        is_bot=is_bot,
        group=group,
        amplifier=amplifier,
        tz=tz,
        lang_de=lang_de,
        fast=fast,
        night_owl=night_owl,
        scheduled=scheduled,
        diurnal_bot=diurnal_bot,
        activity=activity,
        bot_rate=bot_rate,
        account_id=account_id,
        fol_ptr=fol_ptr,
        fol_idx=fol_idx,
        follower=follower,
        followee=followee,
        in_deg=in_deg,
        out_deg=out_deg,
        groups=groups,
        group_platform=group_platform,
        group_mixed=group_mixed,
    )

"""Vectorised independent-cascade spreading over the follower graph, and time models.

Why: organic cascades in the synthetic world follow the independent cascade model
(Kempe, Kleinberg & Tardos 2003): each new sharer gives each of its followers one
chance, with probability ``p``, to reshare. Instead of flipping one coin per edge,
each generation draws the number of resharers per post as ``Binomial(followers, p)``
and picks them among the followers, so the cost is proportional to the posts made,
not to the edges looked at, and every cascade of a batch advances together, one
generation per step. ``p`` varies per cascade (a heavy-tailed "virality") and is
capped so cascades stay subcritical; heavy-tailed cascade sizes then come from the
heavy-tailed follower counts of the root and of the hubs that happen to reshare.

Repost delays are log-normal (minutes to hours for humans, with night-time pushed to
the morning, which gives the days-long tail; seconds for bots), the shape measured for
retweet delays by e.g. Doerr et al. 2013 ("Lognormal distributions of user
post-interaction times").

>>> import numpy as np
>>> from spreadtrace.synth.accounts import build_world
>>> from spreadtrace.synth.params import SynthParams
>>> p = SynthParams.for_posts(30_000)
>>> w = build_world(np.random.default_rng(0), p)
>>> nodes = Nodes()
>>> roots = nodes.add(acct=np.arange(100, dtype=np.int32), t=np.zeros(100, dtype=np.int64),
...                   p=np.full(100, 0.05, dtype=np.float32), kind=np.zeros(100, dtype=np.int8))
>>> active = spread(np.random.default_rng(1), w, p, nodes, roots, np.empty(0, dtype=np.int64))
>>> nodes.n > 100 and bool((nodes.col("t")[100:] > 0).all())
True
"""

from __future__ import annotations

import numpy as np

from spreadtrace.synth.accounts import World
from spreadtrace.synth.params import SynthParams
from spreadtrace.synth.text import DIURNAL

ORIGINAL, REPOST, QUOTE, REPLY = 0, 1, 2, 3
KINDS = np.array(["original", "repost", "quote", "reply"])

_COLS = {
    "acct": np.int32,
    "t": np.int64,
    "parent": np.int64,
    "root": np.int64,
    "depth": np.int16,
    "kind": np.int8,
    "p": np.float32,
    "planted": np.int8,  # 0 organic, 1 bot reaction, 2 group, 3 narrative seed
}


def first_unique(key: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct value, in input order.

    Sort-based (numpy's hash-based ``unique`` is far slower on large int64 arrays).

    >>> first_unique(np.array([5, 3, 5, 1, 3])).tolist()
    [0, 1, 3]
    """
    order = np.argsort(key, kind="stable")
    s = key[order]
    starts = np.ones(len(s), dtype=bool)
    starts[1:] = s[1:] != s[:-1]
    return np.sort(order[starts])


def in_sorted(key: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Whether each ``key`` is in the sorted array ``table``.

    >>> in_sorted(np.array([1, 4, 9]), np.array([1, 2, 9])).tolist()
    [True, False, True]
    """
    if not len(table):
        return np.zeros(len(key), dtype=bool)
    pos = np.minimum(np.searchsorted(table, key), len(table) - 1)
    return table[pos] == key


def merge_sorted(table: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``table`` (sorted) with the distinct values of ``new`` that it lacks, sorted."""
    new = np.sort(new[first_unique(new)])
    new = new[~in_sorted(new, table)]
    return np.insert(table, np.searchsorted(table, new), new)


class Nodes:
    """The posts of one batch as growing column arrays; a node's index is its id."""

    def __init__(self) -> None:
        self._parts: dict[str, list[np.ndarray]] = {c: [] for c in _COLS}
        self._cache: dict[str, np.ndarray] = {}
        self.n = 0

    def add(self, **cols: np.ndarray) -> np.ndarray:
        """Append posts; missing columns default (parent -1, root = self, depth 0)."""
        m = len(cols["acct"])
        idx = np.arange(self.n, self.n + m, dtype=np.int64)
        defaults = {
            "parent": np.full(m, -1, dtype=np.int64),
            "root": idx,
            "depth": np.zeros(m, dtype=np.int16),
            "kind": np.zeros(m, dtype=np.int8),
            "p": np.zeros(m, dtype=np.float32),
            "planted": np.zeros(m, dtype=np.int8),
        }
        for c, dtype in _COLS.items():
            v = cols.get(c, defaults.get(c))
            self._parts[c].append(np.asarray(v, dtype=dtype))
        self.n += m
        self._cache.clear()
        return idx

    def col(self, name: str) -> np.ndarray:
        if name not in self._cache:
            parts = self._parts[name]
            arr = np.concatenate(parts) if parts else np.empty(0, dtype=_COLS[name])
            self._parts[name] = [arr]
            self._cache[name] = arr
        return self._cache[name]

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the nodes in ``mask``, renumbered in order.

        Every kept node's parent and root must be kept too (a set closed under
        ancestors, e.g. a cut in time: children always come after their parent);
        nodes before the first dropped one keep their ids.
        """
        new_id = np.cumsum(mask, dtype=np.int64) - 1
        cols = {c: self.col(c)[mask] for c in _COLS}
        cols["parent"] = np.where(cols["parent"] >= 0, new_id[np.maximum(cols["parent"], 0)], -1)
        cols["root"] = new_id[cols["root"]]
        self._parts = {c: [cols[c]] for c in _COLS}
        self._cache = dict(cols)
        self.n = int(mask.sum())

    def set(self, name: str, idx: np.ndarray, values: np.ndarray) -> None:
        arr = self.col(name).copy()
        arr[idx] = values
        self._parts[name] = [arr]
        self._cache[name] = arr


def human_times(
    rng: np.random.Generator, w: World, acct: np.ndarray, start_s: int, days: int
) -> np.ndarray:
    """Posting times of humans: a uniform day, an hour from the diurnal curve (local).

    Night owls take a uniform hour 60% of the time, so their hour-of-day entropy
    overlaps with that of round-the-clock bots.
    """
    n = len(acct)
    day = rng.integers(0, days, size=n)
    hour = rng.choice(24, size=n, p=DIURNAL)
    owl = w.night_owl[acct] & (rng.random(n) < 0.6)
    hour = np.where(owl, rng.integers(0, 24, size=n), hour)
    local = start_s + day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size=n)
    return (local - w.tz[acct].astype(np.int64) * 3_600).astype(np.int64)


def wake(rng: np.random.Generator, w: World, acct: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Push human activity that falls at night (01:00-07:00 local) to the morning.

    Night owls are exempt: they react whenever they see something.
    """
    human = ~w.is_bot[acct] & ~w.night_owl[acct]
    local = t + w.tz[acct].astype(np.int64) * 3_600
    hour = (local // 3_600) % 24
    asleep = human & (hour >= 1) & (hour < 7)
    push = (7 - hour) * 3_600 - local % 3_600 + rng.exponential(2_400, size=len(t)).astype(np.int64)
    return np.where(asleep, t + push, t)


def bot_delays(rng: np.random.Generator, w: World, p: SynthParams, acct: np.ndarray) -> np.ndarray:
    """Bot reaction delays in seconds for bots ``acct``.

    Most bots react in seconds (log-normal, median ``bot_delay_median_s``; 15% of
    their reactions wait minutes). Scheduled bots run on a timer and react minutes
    later (median ``scheduled_bot_delay_median_s``), like slow humans: reaction speed
    alone then cannot separate bots from humans.
    """
    n = len(acct)
    d = np.exp(np.log(p.bot_delay_median_s) + p.bot_delay_sigma * rng.standard_normal(n))
    slow = rng.random(n) < p.bot_slow_share
    d = np.where(slow, d * rng.uniform(10, 60, size=n), d)
    sched = np.exp(
        np.log(p.scheduled_bot_delay_median_s)
        + p.scheduled_bot_delay_sigma * rng.standard_normal(n)
    )
    d = np.where(w.scheduled[acct], sched, d)
    return np.maximum(1, np.ceil(d)).astype(np.int64)


def delays(
    rng: np.random.Generator, w: World, p: SynthParams, acct: np.ndarray, t_parent: np.ndarray
) -> np.ndarray:
    """Repost times for accounts ``acct`` reacting to posts made at ``t_parent``.

    Humans: log-normal around 25 minutes; notification-driven "fast" humans around
    30 s, often under 10 s; and any human now and then within seconds (online when
    the post appeared). Bots: :func:`bot_delays`.
    """
    n = len(acct)
    fast = w.fast[acct]
    med = np.where(fast, p.fast_human_delay_median_s, p.human_delay_median_s)
    sigma = np.where(fast, p.fast_human_delay_sigma, p.human_delay_sigma)
    d = np.exp(np.log(med) + sigma * rng.standard_normal(n))
    instant = rng.random(n) < p.human_instant_share
    d = np.where(instant, rng.uniform(p.min_human_delay_s, 15.0, size=n), d)
    d = np.maximum(d, p.min_human_delay_s).astype(np.int64)
    d = np.where(w.is_bot[acct], bot_delays(rng, w, p, acct), d)
    return wake(rng, w, acct, t_parent + d)


def spread(
    rng: np.random.Generator,
    w: World,
    p: SynthParams,
    nodes: Nodes,
    seeds: np.ndarray,
    active: np.ndarray,
    child_p: float | None = None,
) -> np.ndarray:
    """Grow cascades from ``seeds`` (node ids) generation by generation.

    ``active`` holds sorted keys ``root * n_accounts + account`` of accounts that
    already shared each cascade (an account shares a cascade at most once); the
    updated keys are returned. Reshares inherit their parent's ``p``, or get
    ``child_p`` when given (a root that reaches further than its reshares).
    """
    n_acc = np.int64(w.n)
    acct = nodes.col("acct")[seeds]
    keys = nodes.col("root")[seeds] * n_acc + acct
    active = merge_sorted(active, keys)
    front = seeds[nodes.col("kind")[seeds] <= REPOST]
    while len(front):
        f_acct = nodes.col("acct")[front]
        f_root = nodes.col("root")[front]
        f_p = nodes.col("p")[front].astype(np.float64)
        f_depth = nodes.col("depth")[front]
        f_t = nodes.col("t")[front]
        deg = w.fol_ptr[f_acct + 1] - w.fol_ptr[f_acct]
        k = rng.binomial(deg, np.where(f_depth < p.max_depth, f_p, 0.0))
        if k.sum() == 0:
            break
        par = np.repeat(np.arange(len(front)), k)
        pick = (rng.random(len(par)) * deg[par]).astype(np.int64)
        child = w.fol_idx[w.fol_ptr[f_acct[par]] + pick]
        key = f_root[par] * n_acc + child
        first = first_unique(key)
        par, child, key = par[first], child[first], key[first]
        fresh = ~in_sorted(key, active)
        # Scripted bots rarely act on what their timeline shows them: they react to
        # targets they are given (see world.py), so most bot activations are dropped.
        # Bots in coordinated groups only act on what their group pushes.
        react = (rng.random(len(child)) < p.bot_follow_react) & (w.group[child] < 0)
        fresh &= ~w.is_bot[child] | react
        par, child, key = par[fresh], child[fresh], key[fresh]
        if not len(par):
            break
        active = merge_sorted(active, key)
        u = rng.random(len(par))
        kind = np.where(
            u < p.quote_share, QUOTE, np.where(u < p.quote_share + p.reply_share, REPLY, REPOST)
        )
        new = nodes.add(
            acct=child,
            t=delays(rng, w, p, child, f_t[par]),
            parent=front[par],
            root=f_root[par],
            depth=f_depth[par] + 1,
            kind=kind,
            p=f_p[par] if child_p is None else np.full(len(par), child_p),
        )
        front = new[kind == REPOST]  # quotes and replies start no further spread here
    return active

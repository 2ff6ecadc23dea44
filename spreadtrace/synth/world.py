"""Generate one synthetic world batch by batch and stream it to canonical files.

Why batches: a 10M-post world does not fit comfortably in memory as Python objects,
and the demo sample must regenerate in seconds. Each batch is a random slice of the
whole time window: its originals, their cascades over the shared follower graph, the
bot reactions to them, and (first batch only) the planted narratives and coordinated
rings. Batches are trimmed to whole cascades so the file holds exactly ``posts``
distinct valid posts, then appended to ``posts.csv.gz``.
"""

from __future__ import annotations

import gzip
import io
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl

from spreadtrace.canonical import POSTS_COLUMNS
from spreadtrace.progress import ProgressFn, emit
from spreadtrace.synth import narratives as narr
from spreadtrace.synth.accounts import World, build_world, mix_ids
from spreadtrace.synth.params import FLAT_PLATFORMS, PLATFORMS, ROOT_ID_PLATFORMS, SynthParams
from spreadtrace.synth.profiles import profiles
from spreadtrace.synth.spread import (
    KINDS,
    ORIGINAL,
    QUOTE,
    REPLY,
    REPOST,
    Nodes,
    bot_delays,
    first_unique,
    human_times,
    in_sorted,
    spread,
)
from spreadtrace.synth.text import (
    COMMENTS,
    FRINGE_DOMAINS,
    HASHTAGS,
    NEWS_DOMAINS,
    SHORTENERS,
    SPAM_WORDS,
    join_words,
    random_tokens,
    sentences,
    zipf_weights,
)

POST_COLUMNS = [c for c in POSTS_COLUMNS if c != "media"]  # the posts file (draws no media)
_TS = "%Y-%m-%dT%H:%M:%SZ"

# planted codes on nodes
ORGANIC, BOT_REACTION, GROUP, SEED, VIRAL = 0, 1, 2, 3, 4


@dataclass
class _Narrative:
    kind: str  # misinfo | benign
    origin: int  # account index
    seeds: list[int] = field(default_factory=list)  # node ids (origin's post first)
    group: int = -1


@dataclass
class _Counts:
    values: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int) -> None:
        self.values[key] = self.values.get(key, 0) + int(n)


class _GzCsv:
    """A gzip'd CSV written in chunks, byte-identical for identical input.

    The gzip header carries no file name and mtime 0, so the same rows give the same
    bytes whenever and wherever they are written (for the same zlib).
    """

    def __init__(self, path: Path, level: int) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=level
        )
        self._header = True
        # zlib releases the GIL: compress the previous chunk while the next is generated.
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Future[int] | None = None

    def write(self, df: pl.DataFrame) -> None:
        buf = io.BytesIO()
        df.write_csv(buf, include_header=self._header, datetime_format=_TS, null_value="")
        self._header = False
        self.write_raw(buf.getvalue())

    def write_raw(self, data: bytes) -> None:
        if self._pending is not None:
            self._pending.result()  # at most one chunk in flight: bounded memory
        self._pending = self._pool.submit(self._gz.write, data)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pool.shutdown()
        self._gz.close()
        self._raw.close()


def _epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp())


class _Generator:
    def __init__(self, p: SynthParams, progress: ProgressFn | None) -> None:
        self.p = p
        self.rng = np.random.default_rng(p.seed)
        self.progress = progress
        self.start = _epoch(p.start)
        self.end = self.start + p.days * 86_400
        self.w: World = build_world(self.rng, p)
        self.p_cap = p.max_branching / max(self.w.mean_in_deg, 1.0)
        self.counts = _Counts()
        self.next_g = 0
        self.post_key = int(self.rng.integers(1, 2**31))
        self.sizes: list[np.ndarray] = []
        self.viral_sizes: list[int] = []
        self.parents_out: BinaryIO | None = None  # truth/parents.csv
        self.truth_narr: list[pl.DataFrame] = []
        self.est = 2.0

    # --- ids -----------------------------------------------------------------------
    def _post_ids(self, g: np.ndarray) -> np.ndarray:
        # Unique (a bijection on 40 bits) but carrying no hint of time order.
        return 1_000_000_000_000 + mix_ids(g, 40, self.post_key)

    def _new_g(self, n: int) -> np.ndarray:
        g = np.arange(self.next_g, self.next_g + n, dtype=np.int64)
        self.next_g += n
        return g

    # --- texts ---------------------------------------------------------------------
    def _organic_texts(self, nodes_idx: np.ndarray, acct: np.ndarray) -> pl.DataFrame:
        rng, n = self.rng, len(acct)
        text = sentences(rng, self.w.lang_de[acct], 8, 20)  # long enough not to collide
        has_url = rng.random(n) < self.p.url_share
        dom = np.array(NEWS_DOMAINS)[rng.integers(0, len(NEWS_DOMAINS), size=n)]
        section = np.array(["news", "local", "sport", "culture", "opinion"])[
            rng.integers(0, 5, size=n)
        ]
        art = pl.Series(rng.integers(100_000, 9_999_999, size=n))
        urls = pl.select(
            pl.concat_str([pl.lit("https://"), dom, pl.lit("/"), section, pl.lit("/"), art])
        ).to_series()
        urls = urls.set(pl.Series(~has_url), None)
        n_tags = np.where(rng.random(n) < self.p.hashtag_share, rng.integers(1, 3, size=n), 0)
        tags = join_words(
            rng.choice(len(HASHTAGS), size=(n, 2), p=zipf_weights(len(HASHTAGS))),
            n_tags,
            np.array(HASHTAGS),
        )
        tags = tags.set(pl.Series(n_tags == 0), None)
        return pl.DataFrame({"node": nodes_idx, "text": text, "urls": urls, "hashtags": tags})

    def _spam_texts(self, nodes_idx: np.ndarray) -> pl.DataFrame:
        rng, n = self.rng, len(nodes_idx)
        words = join_words(
            rng.integers(0, len(SPAM_WORDS), size=(n, 8)),
            rng.integers(3, 9, size=n),
            np.array(SPAM_WORDS),
        )
        code = random_tokens(rng, n, 7)
        short = np.array(SHORTENERS)[rng.integers(0, len(SHORTENERS), size=n)]
        urls = pl.select(
            pl.concat_str([pl.lit("https://"), pl.Series(short), pl.lit("/"), pl.Series(code)])
        ).to_series()
        urls = urls.set(pl.Series(rng.random(n) < 0.3), None)
        tags = pl.Series(
            np.array(["crypto", "giveaway", "nft", "deal"])[rng.integers(0, 4, size=n)]
        )
        tags = tags.set(pl.Series(rng.random(n) < 0.5), None)
        return pl.DataFrame({"node": nodes_idx, "text": words, "urls": urls, "hashtags": tags})

    def _comment_texts(self, nodes_idx: np.ndarray, acct: np.ndarray) -> pl.DataFrame:
        rng, n = self.rng, len(nodes_idx)
        lead = pl.Series(np.array(COMMENTS)[rng.integers(0, len(COMMENTS), size=n)])
        tail = sentences(rng, self.w.lang_de[acct], 0, 6)
        text = pl.select(pl.concat_str([lead, tail], separator=" ").str.strip_chars())
        return pl.DataFrame(
            {
                "node": nodes_idx,
                "text": text.to_series(),
                "urls": pl.Series([None] * n, dtype=pl.String),
                "hashtags": pl.Series([None] * n, dtype=pl.String),
            }
        )

    # --- originals -----------------------------------------------------------------
    def _virality(self, n: int, scale: float = 1.0) -> np.ndarray:
        v = self.rng.lognormal(0.0, self.p.virality_sigma, size=n)
        return np.minimum(self.p.p_edge * v * scale, self.p_cap).astype(np.float32)

    def _organic_originals(
        self, nodes: Nodes, n: int, texts: list[pl.DataFrame], singletons: bool = False
    ) -> np.ndarray:
        w, rng = self.w, self.rng
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        weights = w.activity / w.activity.sum()
        acct = rng.choice(w.n, size=n, p=weights).astype(np.int32)
        t = human_times(rng, w, acct, self.start, self.p.days)
        pe = np.zeros(n, dtype=np.float32) if singletons else self._virality(n)
        idx = nodes.add(acct=acct, t=t, p=pe)
        texts.append(self._organic_texts(idx, acct))
        return idx

    def _bot_originals(self, nodes: Nodes, n: int, texts: list[pl.DataFrame]) -> np.ndarray:
        w, rng = self.w, self.rng
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        acct = rng.choice(w.n, size=n, p=w.bot_rate / w.bot_rate.sum()).astype(np.int32)
        t = self.start + rng.integers(0, self.p.days * 86_400, size=n)  # round the clock
        # operator-run bots keep office hours (08:00-19:00 local) instead
        day = rng.integers(0, self.p.days, size=n)
        local = self.start + day * 86_400 + rng.integers(8 * 3_600, 19 * 3_600, size=n)
        t = np.where(w.diurnal_bot[acct], local - w.tz[acct].astype(np.int64) * 3_600, t)
        idx = nodes.add(acct=acct, t=t, p=self._virality(n, 0.5), planted=np.full(n, BOT_REACTION))
        texts.append(self._spam_texts(idx))
        return idx

    # --- planted narratives and rings (first batch) --------------------------------
    def _pick(
        self, lo: int, hi: int, exclude: np.ndarray, weights: np.ndarray, k: int
    ) -> np.ndarray:
        cand = np.arange(lo, hi)
        ok = ~exclude[lo:hi] & (weights[lo:hi] > 0)
        cand, wts = cand[ok], weights[lo:hi][ok]
        k = min(k, len(cand))
        return self.rng.choice(cand, size=k, replace=False, p=wts / wts.sum())

    def _narratives(self, nodes: Nodes, texts: list[pl.DataFrame]) -> list[_Narrative]:
        w, rng, p = self.w, self.rng, self.p
        out: list[_Narrative] = []
        rows: list[tuple[int, int, str, str, str | None, int]] = []  # acct, t, text, url, tag, narr
        in_group = w.group >= 0
        for i in range(p.misinfo_narratives):
            g = i if i < len(w.groups) else -1
            k = w.group_platform[g] if g >= 0 else int(rng.choice(3, p=np.array(p.platform_shares)))
            lo, hi = w.blocks[k]
            human_w = np.where(w.is_bot, 0.0, w.in_deg + 5.0)
            origin = int(self._pick(lo, hi, in_group, human_w, 1)[0])
            t0 = int(
                human_times(rng, w, np.array([origin]), self.start, max(1, int(p.days * 0.6)))[0]
            )
            text = narr.claim(rng)
            dom = FRINGE_DOMAINS[rng.integers(len(FRINGE_DOMAINS))]
            url = f"https://{dom}/2024/{int(rng.integers(10_000, 99_999))}/{narr.slug(text)}"
            short = (
                f"https://{SHORTENERS[rng.integers(len(SHORTENERS))]}/{random_tokens(rng, 1, 7)[0]}"
            )
            tag = narr.hashtag(rng)
            n_idx = len(out)
            out.append(_Narrative("misinfo", origin, group=g))
            rows.append((origin, t0, text, url, tag, n_idx))
            excl = in_group.copy()
            excl[origin] = True
            seed_w = np.where(w.is_bot, 0.4 * w.bot_rate.mean(), w.activity)
            n_seeds = int(rng.integers(p.narrative_seeds[0], p.narrative_seeds[1] + 1))
            for a in self._pick(lo, hi, excl, seed_w, n_seeds):
                dt = 1800 + int(rng.lognormal(np.log(3 * 3600), 1.0))
                rows.append(
                    (
                        int(a),
                        t0 + dt,
                        narr.edit(rng, text),
                        narr.url_variant(rng, url, int(rng.integers(0, 6)), short),
                        tag if rng.random() < 0.5 else None,
                        n_idx,
                    )
                )
            if g >= 0:  # the ring posts one copy-paste variant within seconds
                t_r = t0 + int(rng.integers(3600, 86_400))
                v_text = narr.edit(rng, text)
                v_url = narr.url_variant(rng, url, int(rng.integers(1, 6)), short)
                offs = np.sort(rng.uniform(0, p.group_spread_s, size=len(w.groups[g])))
                for a, o in zip(w.groups[g], offs, strict=True):
                    rows.append((int(a), t_r + int(o), v_text, v_url, tag, n_idx))
        for _ in range(p.benign_narratives):
            k = int(rng.choice(3, p=np.array(p.platform_shares)))
            lo, hi = w.blocks[k]
            n_o = int(rng.integers(p.benign_origins[0], p.benign_origins[1] + 1))
            accts = self._pick(lo, hi, in_group | w.is_bot, w.activity, n_o)
            t0 = int(human_times(rng, w, accts[:1], self.start, max(1, int(p.days * 0.8)))[0])
            offs = np.concatenate([[0], 60 + rng.exponential(6 * 3600, size=len(accts) - 1)])
            dom = NEWS_DOMAINS[rng.integers(len(NEWS_DOMAINS))]
            words = sentences(rng, np.zeros(1, dtype=np.int8), 4, 7)[0]
            url = f"https://{dom}/news/{int(rng.integers(10_000, 99_999))}-{narr.slug(words)}"
            comments = sentences(rng, w.lang_de[accts], 5, 14)
            n_idx = len(out)
            out.append(_Narrative("benign", int(accts[0])))
            for j, a in enumerate(accts):
                v = int(rng.choice([0, 0, 0, 1, 3]))
                rows.append(
                    (
                        int(a),
                        t0 + int(offs[j]),
                        comments[j],
                        narr.url_variant(rng, url, v),
                        None,
                        n_idx,
                    )
                )

        acct = np.array([r[0] for r in rows], dtype=np.int32)
        t = np.array([r[1] for r in rows], dtype=np.int64)
        kinds = np.array([out[r[5]].kind == "misinfo" for r in rows])
        pe = np.where(
            kinds, np.minimum(p.p_edge * p.misinfo_virality, self.p_cap), self._virality(len(rows))
        )
        is_origin = np.array([i == 0 or rows[i - 1][5] != rows[i][5] for i in range(len(rows))])
        pe = np.where(is_origin & kinds, self.p_cap, pe).astype(np.float32)
        idx = nodes.add(acct=acct, t=t, p=pe, planted=np.full(len(rows), SEED))
        for node, r in zip(idx, rows, strict=True):
            out[r[5]].seeds.append(int(node))
        texts.append(
            pl.DataFrame(
                {
                    "node": idx,
                    "text": [r[2] for r in rows],
                    "urls": [r[3] for r in rows],
                    "hashtags": [r[4] for r in rows],
                },
                schema={
                    "node": pl.Int64,
                    "text": pl.String,
                    "urls": pl.String,
                    "hashtags": pl.String,
                },
            )
        )
        return out

    # --- reactions -----------------------------------------------------------------
    def _bot_reposts(
        self, nodes: Nodes, n: int, targets: np.ndarray, active: np.ndarray
    ) -> np.ndarray:
        """Bots repost random originals within seconds, at any hour of the day."""
        w, rng = self.w, self.rng
        if n <= 0 or not len(targets):
            return np.empty(0, dtype=np.int64)
        # Uniform over many targets: bots that each react to the same few posts would
        # look coordinated (co-reposts within seconds), which independent bots are not.
        tgt = rng.choice(targets, size=n)
        plat = w.platform[nodes.col("acct")[tgt]]
        acct = np.empty(n, dtype=np.int32)
        for k, (lo, hi) in enumerate(w.blocks):  # three platforms
            sel = plat == k
            # Group members repost what their group pushes, not random items: chance
            # co-reposts with outsiders would blur the planted groups' boundaries.
            rate = np.where(w.group[lo:hi] >= 0, 0.0, w.bot_rate[lo:hi])
            if sel.any() and rate.sum() > 0:
                acct[sel] = lo + rng.choice(hi - lo, size=int(sel.sum()), p=rate / rate.sum())
            else:
                acct[sel] = -1
        delay = bot_delays(rng, w, self.p, np.maximum(acct, 0))
        return self._reactions(nodes, tgt, acct, delay, BOT_REACTION, active)

    def _reactions(
        self,
        nodes: Nodes,
        tgt: np.ndarray,
        acct: np.ndarray,
        delay: np.ndarray,
        planted: int,
        active: np.ndarray,
    ) -> np.ndarray:
        """Add reposts of ``tgt`` by ``acct`` after ``delay`` s, once per cascade and account."""
        ok = acct >= 0
        tgt, acct, delay = tgt[ok], acct[ok], delay[ok]
        root = nodes.col("root")[tgt]
        key = root * np.int64(self.w.n) + acct
        first = first_unique(key)
        first = first[~in_sorted(key[first], active)]
        tgt, acct, delay = tgt[first], acct[first], delay[first]
        return nodes.add(
            acct=acct,
            t=nodes.col("t")[tgt] + delay,
            parent=tgt,
            root=nodes.col("root")[tgt],
            depth=nodes.col("depth")[tgt] + 1,
            kind=np.full(len(tgt), REPOST),
            p=nodes.col("p")[tgt] * 0.5,
            planted=np.full(len(tgt), planted),
        )

    def _early_bots(
        self, nodes: Nodes, stories: list[_Narrative], active: np.ndarray
    ) -> np.ndarray:
        """Amplifier bots repost misinformation seeds within seconds (Shao et al. 2018)."""
        w, rng, p = self.w, self.rng, self.p
        seeds = np.array(
            [s for n in stories if n.kind == "misinfo" for s in n.seeds], dtype=np.int64
        )
        k = rng.poisson(p.early_bots_per_seed, size=len(seeds))
        tgt = np.repeat(seeds, k)
        plat = w.platform[nodes.col("acct")[tgt]]
        acct = np.full(len(tgt), -1, dtype=np.int32)
        for j, (lo, hi) in enumerate(w.blocks):
            sel = plat == j
            amp = np.flatnonzero(w.amplifier[lo:hi]) + lo
            if sel.any() and len(amp):
                acct[sel] = rng.choice(amp, size=int(sel.sum()))
        d = np.exp(
            np.log(p.early_bot_delay_median_s)
            + p.early_bot_delay_sigma * rng.standard_normal(len(tgt))
        )
        delay = np.maximum(1, np.ceil(d)).astype(np.int64)
        return self._reactions(nodes, tgt, acct, delay, BOT_REACTION, active)

    def _rings(
        self, nodes: Nodes, stories: list[_Narrative], active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each coordinated group reposts its items, members within seconds of each other."""
        w, rng, p = self.w, self.rng, self.p
        root = nodes.col("root")
        is_root = root == np.arange(nodes.n)
        sizes = np.bincount(root, minlength=nodes.n)
        plat = w.platform[nodes.col("acct")]
        tgt_parts, acct_parts, delay_parts, items = [], [], [], []
        for g, members in enumerate(w.groups):
            own = [s for n in stories if n.group == g for s in n.seeds]
            own = [s for s in own if w.group[nodes.col("acct")[s]] != g]
            cand = np.flatnonzero(
                is_root
                & (plat == w.group_platform[g])
                & (sizes >= 2)
                & (nodes.col("planted") == ORGANIC)
            )
            m = int(rng.integers(p.group_items[0], p.group_items[1] + 1))
            m = min(max(m - len(own), 2), len(cand))
            picked: np.ndarray | list = (
                rng.choice(cand, size=m, replace=False, p=sizes[cand] / sizes[cand].sum())
                if m
                else []
            )
            for item in [*own, *picked]:
                part = members[rng.random(len(members)) < p.group_participation]
                d0 = int(rng.integers(120, 3 * 3600))
                offs = np.sort(rng.uniform(0, p.group_spread_s, size=len(part))).astype(np.int64)
                tgt_parts.append(np.full(len(part), item, dtype=np.int64))
                acct_parts.append(part.astype(np.int32))
                delay_parts.append(d0 + offs)
                items.append(int(item))
        if not tgt_parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        new = self._reactions(
            nodes,
            np.concatenate(tgt_parts),
            np.concatenate(acct_parts),
            np.concatenate(delay_parts),
            GROUP,
            active,
        )
        return new, np.array(items, dtype=np.int64)

    # --- viral events --------------------------------------------------------------
    def _viral(
        self, nodes: Nodes, events: list[int], budget: int, texts: list[pl.DataFrame]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Originals of big accounts that go supercritical; returns (roots, active keys).

        Each event's root is one of the most-followed humans outside groups (the top
        0.05% of a platform, at least 3; the first event on the largest platform); a share
        ``viral_root_reach`` of its followers reshare it (broadcast: it trends), and
        from there it spreads with ``p = viral_branching / mean followers`` per
        follow edge, so each resharer
        brings about ``viral_branching`` more and the burst grows until it runs out of
        accounts that have not shared it yet (an account shares a cascade once). A
        burst longer than ``viral_max_share`` of the batch (split over its events) is
        cut in time, as if the export were taken while it was still spreading: the
        earliest posts of each cascade are kept, which keeps every kept post's parent.
        """
        w, rng, p = self.w, self.rng, self.p
        active = np.empty(0, dtype=np.int64)
        if not events:
            return np.empty(0, dtype=np.int64), active
        accts = []
        for i in events:  # a few per world
            k = 0 if i == 0 else int(rng.choice(3, p=np.array(p.platform_shares)))
            lo, hi = w.blocks[k]
            human = np.flatnonzero(~w.is_bot[lo:hi] & (w.group[lo:hi] < 0)) + lo
            top = human[np.argsort(-w.in_deg[human], kind="stable")][: max(3, len(human) // 2000)]
            accts.append(int(rng.choice(top)))
        acct = np.array(accts, dtype=np.int32)
        v0 = nodes.n
        pv = min(1.0, p.viral_branching / max(w.mean_in_deg, 1.0))
        roots = nodes.add(
            acct=acct,
            t=human_times(rng, w, acct, self.start, max(1, int(p.days * 0.7))),
            p=np.full(len(acct), p.viral_root_reach, dtype=np.float32),
            planted=np.full(len(acct), VIRAL),
        )
        texts.append(self._organic_texts(roots, acct))
        active = spread(rng, w, p, nodes, roots, active, child_p=pv)
        cap = max(1, int(p.viral_max_share * budget / len(roots)))
        block = np.arange(v0, nodes.n)
        root, t = nodes.col("root")[v0:], nodes.col("t")[v0:]
        order = np.lexsort((block, t, root))  # per cascade, in time order
        rs = root[order]
        start = np.flatnonzero(np.concatenate([[True], rs[1:] != rs[:-1]]))
        rank = np.arange(len(rs)) - np.repeat(start, np.diff(np.append(start, len(rs))))
        cut = np.zeros(len(block), dtype=bool)
        cut[order[rank >= cap]] = True
        self.counts.add("viral_posts_cut", int(cut.sum()))
        if cut.any():  # roots come first in the block: their ids (and active keys) stay
            nodes.keep(np.concatenate([np.ones(v0, dtype=bool), ~cut]))
        return roots, active

    # --- one batch -----------------------------------------------------------------
    def batch(
        self, remaining: int, planted: bool, posts_out: _GzCsv, b: int, viral: list[int]
    ) -> int:
        p, rng, w = self.p, self.rng, self.w
        target = min(remaining, p.batch_posts)
        nodes = Nodes()
        texts: list[pl.DataFrame] = []
        stories: list[_Narrative] = []
        if planted:
            stories = self._narratives(nodes, texts)
        n_seed = nodes.n
        viral_roots, active = self._viral(nodes, viral, target, texts)
        n_viral = nodes.n - n_seed
        n_bot_orig = int(round(p.bot_original_share * target))
        n_bot_rep = int(round(p.bot_repost_share * target))
        n_org = int((target - n_bot_orig - n_bot_rep - n_seed * 6 - n_viral) / self.est * 1.03)
        org = self._organic_originals(nodes, max(n_org, 1), texts)
        bot_org = self._bot_originals(nodes, n_bot_orig, texts)
        originals = np.concatenate([np.arange(n_seed), org, bot_org])
        active = spread(rng, w, p, nodes, originals, active)
        organic_nodes = int(in_sorted(nodes.col("root"), org).sum())
        self.est = max(1.0, organic_nodes / max(len(org), 1))

        targets = np.concatenate([org, bot_org])  # bots also amplify bots, at any hour
        reactions = [self._bot_reposts(nodes, n_bot_rep, targets, active)]
        items = np.empty(0, dtype=np.int64)
        if planted:
            reactions.append(self._early_bots(nodes, stories, active))
            ring_new, items = self._rings(nodes, stories, active)
            reactions.append(ring_new)
        react = np.concatenate(reactions)
        spread(rng, w, p, nodes, react, active)

        # quotes and replies get their own short texts
        kind = nodes.col("kind")
        com = np.flatnonzero((kind == QUOTE) | (kind == REPLY))
        if len(com):
            texts.append(self._comment_texts(com, nodes.col("acct")[com]))

        # --- choose whole cascades within budget; plant missing originals ----------
        root = nodes.col("root")
        is_root = root == np.arange(nodes.n)
        protected = np.zeros(nodes.n, dtype=bool)
        for s in stories:
            protected[s.seeds] = True
        protected[items] = True
        protected[viral_roots] = True
        protected = protected[root] & is_root  # per root
        sizes = np.bincount(root, minlength=nodes.n)
        deleted = (
            is_root
            & ~protected
            & (sizes >= 2)
            & (nodes.col("planted") == ORGANIC)
            & (rng.random(nodes.n) < p.unseen_root_rate)
        )
        written_per_root = sizes - deleted
        roots = np.flatnonzero(is_root)
        order = np.concatenate([roots[protected[roots]], roots[~protected[roots]]])
        cum = np.cumsum(written_per_root[order])
        keep_roots = order[cum <= remaining]
        kept_root = np.zeros(nodes.n, dtype=bool)
        kept_root[keep_roots] = True
        written = int(written_per_root[keep_roots].sum())
        gap = remaining - written
        if gap < max(50, 0.05 * target):  # close enough: fill exactly with single posts
            fill = self._organic_originals(nodes, gap, texts, singletons=True)
            kept_root = np.concatenate([kept_root, np.ones(len(fill), dtype=bool)])
            deleted = np.concatenate([deleted, np.zeros(len(fill), dtype=bool)])
            written += len(fill)
            root = nodes.col("root")
        keep = kept_root[root]
        sizes = np.bincount(root[keep], minlength=nodes.n)
        self.viral_sizes += sizes[viral_roots].tolist()
        self._emit_batch(nodes, keep, deleted, texts, stories, posts_out, b)
        return written

    def _emit_batch(
        self,
        nodes: Nodes,
        keep: np.ndarray,
        deleted: np.ndarray,
        texts: list[pl.DataFrame],
        stories: list[_Narrative],
        out: _GzCsv,
        b: int,
    ) -> None:
        p, rng, w = self.p, self.rng, self.w
        c = self.counts
        idx = np.flatnonzero(keep)
        t = nodes.col("t").copy()
        parent = nodes.col("parent")
        root = nodes.col("root")
        kind = nodes.col("kind")
        acct = nodes.col("acct")
        planted = nodes.col("planted")
        # clock skew: a few organic reposts stamped seconds before their parent
        cand = idx[
            (kind[idx] == REPOST)
            & (planted[idx] == ORGANIC)
            & (parent[idx] >= 0)
            & ~w.is_bot[acct[idx]]
        ]
        flat_c = np.isin(w.platform[acct[cand]], [PLATFORMS.index(x) for x in FLAT_PLATFORMS])
        shown = np.where(flat_c, root[cand], parent[cand])  # the parent as written
        sel = ~deleted[shown] & (rng.random(len(cand)) < p.clock_skew_rate)
        skew, shown = cand[sel], shown[sel]
        t[skew] = t[shown] - rng.integers(1, 6, size=len(skew))
        c.add("clock_skew_posts", len(skew))

        order = idx[np.lexsort((idx, t[idx]))]
        pid = np.full(nodes.n, -1, dtype=np.int64)
        pid[order] = self._post_ids(self._new_g(len(order)))
        rows = order[~deleted[order]]
        c.add("unseen_root_posts", int(deleted[keep].sum()))
        plat = w.platform[acct[rows]]
        flat = np.isin(plat, [PLATFORMS.index(x) for x in FLAT_PLATFORMS])
        written_parent = np.where(flat & (parent[rows] >= 0), root[rows], parent[rows])
        c.add(
            "posts_with_unseen_parent",
            int(np.isin(written_parent, np.flatnonzero(deleted & keep)).sum()),
        )
        has_root_id = np.isin(plat, [PLATFORMS.index(x) for x in ROOT_ID_PLATFORMS])
        child = parent[rows] >= 0
        par_pid = np.where(flat, pid[root[rows]], pid[np.maximum(parent[rows], 0)])
        text = pl.concat(texts) if texts else pl.DataFrame(schema={"node": pl.Int64})
        frame = (
            pl.DataFrame(
                {
                    "node": rows,
                    "post_id": pid[rows],
                    "account_id": w.account_id[acct[rows]],
                    "created_at": pl.from_epoch(pl.Series(t[rows]), time_unit="s"),
                    "parent_id": pl.Series(par_pid).set(pl.Series(~child), None),
                    "kind": pl.Series(KINDS.tolist()).gather(kind[rows]),
                    "root_id": pl.Series(pid[root[rows]]).set(
                        pl.Series(~(child & has_root_id)), None
                    ),
                    "lang": pl.Series(["en", "de"]).gather(w.lang_de[acct[rows]].astype(np.int8)),
                    "platform": pl.Series(list(PLATFORMS)).gather(plat),
                }
            )
            .join(text, on="node", how="left", maintain_order="left")
            .select(POST_COLUMNS)
        )
        n_dup = int(round(p.duplicate_rate * frame.height))
        if n_dup:
            frame = pl.concat(
                [frame, frame[np.sort(rng.choice(frame.height, size=n_dup, replace=False))]]
            )
        c.add("duplicate_lines", n_dup)
        out.write(frame)
        # truth/parents.csv: the true (possibly intermediate) parent of every post whose
        # written parent was flattened to the original
        tp = rows[flat & child]
        c.add("flattened_posts", len(tp))
        c.add("flattened_posts_deeper", int((parent[tp] != root[tp]).sum()))
        if self.parents_out is not None:
            pl.DataFrame({"post_id": pid[tp], "true_parent_id": pid[parent[tp]]}).write_csv(
                self.parents_out, include_header=b == 0
            )
        if b == 0:
            self._malformed(out, frame)

        # bookkeeping for truth/params
        c.add("posts", len(rows))
        for k_i, name in enumerate(KINDS):
            c.add({"reply": "replies"}.get(name, f"{name}s"), int((kind[rows] == k_i).sum()))
        c.add(
            "bot_reaction_reposts",
            int(
                (planted[rows] == BOT_REACTION).sum()
                - (kind[rows] == ORIGINAL)[planted[rows] == BOT_REACTION].sum()
            ),
        )
        c.add("group_reposts", int((planted[rows] == GROUP).sum()))
        sizes = np.bincount(root[idx], minlength=nodes.n)
        self.sizes.append(sizes[sizes > 0])
        if stories:
            recs = []
            for i, s in enumerate(stories):
                nid = f"{s.kind}-{i + 1:03d}"
                for node in s.seeds:
                    if pid[node] < 0:  # a world too small to hold every planted post
                        continue
                    recs.append((nid, str(w.account_id[s.origin]), str(pid[node]), s.kind))
            self.truth_narr.append(
                pl.DataFrame(
                    recs,
                    schema=["narrative_id", "origin_account_id", "post_id", "kind"],
                    orient="row",
                )
            )

    def _malformed(self, out: _GzCsv, frame: pl.DataFrame) -> None:
        """A few lines ingest must reject, one per line, each for a known reason."""
        c = self.counts
        base = frame.row(0, named=True)
        a, ts = base["account_id"], base["created_at"].strftime(_TS)
        lines: list[bytes] = []
        for _ in range(self.p.malformed_per_kind):
            pid = [str(x) for x in self._post_ids(self._new_g(4))]
            lines += [
                f",{a},{ts},,original,,no post id here,,,en,twitter\n".encode(),
                f"{pid[0]},{a},yesterday around noon,,original,,bad timestamp,,,en,twitter\n".encode(),
                f"{pid[1]},{a},{ts},{pid[1]},repost,{pid[1]},,,,en,twitter\n".encode(),
                f"{pid[2]},{a},{ts}\n".encode(),
                f"{pid[3]},{a},{ts},,original,,caf\xe9 latin-1 text \xff\xfe,,,en,twitter\n".encode(
                    "latin-1"
                ),
            ]
        for reason in (
            "missing_post_id",
            "bad_created_at",
            "parent_is_self",
            "wrong_column_count",
            "invalid_utf8",
        ):
            c.add(f"malformed_{reason}", self.p.malformed_per_kind)
        c.add("malformed_lines", len(lines))
        out.write_raw(b"".join(lines))


@dataclass
class SynthResult:
    """What :func:`generate` wrote and the counts of everything planted."""

    out_dir: Path
    posts: int
    accounts: int
    follows: int
    files: list[Path]
    counts: dict[str, Any]


def generate_world(
    out_dir: str | Path, p: SynthParams, progress: ProgressFn | None = None
) -> SynthResult:
    """Write one world for parameters ``p`` into ``out_dir`` (see :func:`generate`)."""
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    gen = _Generator(p, progress)
    w = gen.w
    emit(progress, "synth accounts", 0, 3)

    acc = profiles(gen.rng, w, p, end_s=gen.end)
    f = _GzCsv(out / "accounts.csv.gz", p.gzip_level)
    f.write(acc)
    f.close()
    emit(progress, "synth accounts", 1, 3)
    follows = pl.DataFrame(
        {
            "follower_id": w.account_id[w.follower],
            "followee_id": w.account_id[w.followee],
        }
    )
    f = _GzCsv(out / "follows.csv.gz", p.gzip_level)
    for lo in range(0, follows.height, 2_000_000):
        f.write(follows.slice(lo, 2_000_000))
    f.close()
    emit(progress, "synth accounts", 2, 3)
    truth_acc = pl.DataFrame(
        {
            "account_id": w.account_id,
            "is_bot": w.is_bot,
            "coordination_group": pl.select(pl.concat_str([pl.lit("g"), pl.Series(w.group + 1)]))
            .to_series()
            .set(pl.Series(w.group < 0), None),
        }
    )
    truth_acc.write_csv(out / "truth" / "accounts.csv", null_value="")
    emit(progress, "synth accounts", 3, 3)

    posts_out = _GzCsv(out / "posts.csv.gz", p.gzip_level)
    n_est = max(1, -(-p.posts // p.batch_posts))  # batches expected: viral events spread over them
    remaining, b = p.posts, 0
    with open(out / "truth" / "parents.csv", "wb") as parents:
        gen.parents_out = parents
        while remaining > 0:
            viral = [i for i in range(p.viral_events) if i % n_est == b]
            remaining -= gen.batch(remaining, b == 0, posts_out, b, viral)
            b += 1
            emit(progress, "synth posts", p.posts - remaining, p.posts)
        gen.parents_out = None
    posts_out.close()

    pl.concat(gen.truth_narr).write_csv(out / "truth" / "narratives.csv")
    sizes = np.concatenate(gen.sizes) if gen.sizes else np.zeros(1, dtype=np.int64)
    counts: dict[str, Any] = dict(gen.counts.values)
    counts.update(
        {
            "batches": b,
            "accounts": w.n,
            "bots": int(w.is_bot.sum()),
            "amplifier_bots": int(w.amplifier.sum()),
            "follows": int(follows.height),
            "max_followers_in_graph": int(w.in_deg.max()),
            "median_followers_in_graph": float(np.median(w.in_deg)),
            "cascades": int(len(sizes)),
            "cascade_size_max": int(sizes.max()),
            "cascade_size_median": float(np.median(sizes)),
            "cascades_size_1": int((sizes == 1).sum()),
            "cascades_size_2_10": int(((sizes >= 2) & (sizes <= 10)).sum()),
            "cascades_size_11_100": int(((sizes > 10) & (sizes <= 100)).sum()),
            "cascades_size_101_1000": int(((sizes > 100) & (sizes <= 1000)).sum()),
            "cascades_size_over_1000": int((sizes > 1000).sum()),
            "cascades_size_1001_10000": int(((sizes > 1000) & (sizes <= 10_000)).sum()),
            "cascades_size_over_10000": int((sizes > 10_000).sum()),
            "viral_events": len(gen.viral_sizes),
            "viral_cascade_sizes": [int(x) for x in gen.viral_sizes],
            "groups": [
                {
                    "coordination_group": f"g{g + 1}",
                    "members": len(m),
                    "bots": int(w.is_bot[m].sum()),
                    "platform": PLATFORMS[w.group_platform[g]],
                    "mixed": w.group_mixed[g],
                }
                for g, m in enumerate(w.groups)
            ],
            "post_lines": counts.get("posts", 0)
            + counts.get("duplicate_lines", 0)
            + counts.get("malformed_lines", 0),
        }
    )
    narr_df = pl.concat(gen.truth_narr)
    counts["narratives_misinfo"] = int(
        narr_df.filter(pl.col("kind") == "misinfo")["narrative_id"].n_unique()
    )
    counts["narratives_benign"] = int(
        narr_df.filter(pl.col("kind") == "benign")["narrative_id"].n_unique()
    )
    counts["narrative_posts"] = int(narr_df.height)
    doc = {"params": p.to_dict(), "counts": counts, "generator": "spreadtrace.synth"}
    (out / "truth" / "params.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    files = [
        out / "posts.csv.gz",
        out / "accounts.csv.gz",
        out / "follows.csv.gz",
        out / "truth" / "accounts.csv",
        out / "truth" / "narratives.csv",
        out / "truth" / "parents.csv",
        out / "truth" / "params.json",
    ]
    return SynthResult(out, counts["posts"], w.n, int(follows.height), files, counts)


def read_posts(path: str | Path) -> pl.DataFrame:
    """The valid, distinct posts of a generated ``posts.csv.gz``, for tests and checks.

    Why: tests of scores against planted truth should not depend on ingest. This
    drops exactly what the generator planted as mess (malformed lines, exact
    duplicates) and parses ``created_at``; it is not a general reader of canonical
    files (that is ``spreadtrace.ingest``).
    """
    raw = pl.read_csv(
        path,
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )
    return (
        raw.with_columns(
            pl.col("created_at").str.strptime(pl.Datetime("us", "UTC"), _TS, strict=False)
        )
        .filter(
            pl.col("post_id").is_not_null()
            & pl.col("created_at").is_not_null()
            & pl.col("kind").is_not_null()
            & (pl.col("parent_id").is_null() | (pl.col("parent_id") != pl.col("post_id")))
            & ~pl.col("text").fill_null("").str.contains("\ufffd", literal=True)
        )
        .unique(maintain_order=True)
    )

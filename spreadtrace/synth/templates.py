"""A small world built differently from ours: template campaigns next to copy-paste claims.

Why: narratives must not chain. A *template campaign* pushes many distinct articles
(one URL each, across several domains) with one template text that differs only in
its subject word; each article is a story of its own, started by its own origin
account. A *copy-paste claim* is one story posted again with small edits and link
variants (tracking parameters, ``www.``, a fragment, a shortener). The grouping
must keep every campaign article apart and every claim together. The loops run once
per planted post (hundreds).

>>> posts, truth = template_world(seed=1, campaigns=3, claims=1)
>>> sorted(truth["kind"].unique().to_list())
['claim', 'template']
>>> truth["group_id"].n_unique(), posts["post_id"].is_unique().all()
(4, True)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from spreadtrace.synth import narratives as narr

__all__ = ["template_world"]

_TEMPLATE = (
    "BREAKING: official {subject} caught hiding the audit on missing relief funds, full story here"
)
_SUBJECTS = (
    "senator hale mayor ortiz judge kemp governor lyle minister sato councillor bray "
    "sheriff dunn director vance chief okafor president lind speaker rowe treasurer "
    "mbeki auditor quist commissioner farrow secretary yates regent amato dean holt "
    "marshal pike warden cole trustee ivers envoy bauer consul reyes provost nagy"
).split()
_DOMAINS = ("dailytruth.news", "patriot-wire.com", "realfacts.org", "the-signal.net", "owl.press")
_T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def template_world(
    *, seed: int, campaigns: int = 24, claims: int = 4, promoters: int = 12, accounts: int = 400
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Posts (the ``posts`` input format) and truth (group_id, kind, origin_account_id, post_id).

    Every campaign article is posted first by its own origin account, then by 3-6
    promoters from one shared pool (the same template text and the article's URL with
    tracking variants); each claim by its origin, then 4-8 edited copies by other
    accounts, a third of them with a shortened or no link. Every original gets 0-4
    reposts by random accounts.
    """
    rng = np.random.default_rng(seed)
    subjects = _SUBJECTS
    if campaigns > len(subjects):
        raise ValueError(f"at most {len(subjects)} campaigns")
    rows: list[dict] = []
    truth: list[tuple[str, str, str, str]] = []
    acct = [f"u{i:04d}" for i in range(accounts)]
    pool = acct[:promoters]

    def post(pid: str, who: str, t: float, text: str | None, url: str | None, parent=None):
        rows.append(
            {
                "post_id": pid,
                "account_id": who,
                "created_at": _T0 + timedelta(seconds=float(t)),
                "parent_id": parent,
                "kind": "repost" if parent else "original",
                "root_id": parent,
                "text": text,
                "urls": url,
            }
        )

    def reposts(pid: str, t: float) -> None:
        for r in range(int(rng.integers(0, 5))):
            who = acct[int(rng.integers(promoters, accounts))]
            post(f"{pid}-r{r}", who, t + float(rng.uniform(60, 7200)), None, None, parent=pid)

    origins = rng.choice(np.arange(promoters, accounts), size=campaigns + claims, replace=False)
    for k in range(campaigns):
        gid, origin = f"camp{k}", acct[int(origins[k])]
        text = _TEMPLATE.format(subject=subjects[k])
        dom = _DOMAINS[k % len(_DOMAINS)]
        url = f"https://{dom}/{2024}/{10_000 + 37 * k}/{narr.slug(subjects[k])}-audit"
        t0 = float(rng.uniform(0, 5 * 86_400))
        post(f"{gid}-0", origin, t0, text, url)
        truth.append((gid, "template", origin, f"{gid}-0"))
        reposts(f"{gid}-0", t0)
        n = int(rng.integers(3, 7))
        for j, who in enumerate(rng.choice(pool, size=n, replace=False), start=1):
            t = t0 + float(rng.uniform(600, 6 * 3600))
            variant = narr.url_variant(rng, url, int(rng.integers(0, 5)))
            post(f"{gid}-{j}", str(who), t, text, variant)
            truth.append((gid, "template", origin, f"{gid}-{j}"))
            reposts(f"{gid}-{j}", t)
    for c in range(claims):
        gid, origin = f"claim{c}", acct[int(origins[campaigns + c])]
        text = narr.claim(rng)
        dom = _DOMAINS[int(rng.integers(len(_DOMAINS)))]
        url = f"https://{dom}/2024/{int(rng.integers(50_000, 99_999))}/{narr.slug(text)}"
        short = f"https://bit.ly/{seed}x{c}q"
        t0 = float(rng.uniform(0, 5 * 86_400))
        post(f"{gid}-0", origin, t0, text, url)
        truth.append((gid, "claim", origin, f"{gid}-0"))
        reposts(f"{gid}-0", t0)
        others = rng.choice(
            np.setdiff1d(np.arange(promoters, accounts), origins), size=8, replace=False
        )
        for j, who in enumerate(others[: int(rng.integers(4, 9))], start=1):
            t = t0 + float(rng.uniform(1800, 12 * 3600))
            roll = rng.random()
            link = (
                None if roll < 0.15 else narr.url_variant(rng, url, int(rng.integers(0, 6)), short)
            )
            post(f"{gid}-{j}", acct[int(who)], t, narr.edit(rng, text), link)
            truth.append((gid, "claim", origin, f"{gid}-{j}"))
            reposts(f"{gid}-{j}", t)
    posts = pl.DataFrame(rows).with_columns(
        pl.col("created_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        hashtags=pl.lit(None, dtype=pl.String),
        lang=pl.lit("en"),
        platform=pl.lit("twitter"),
    )
    truth_frame = pl.DataFrame(
        truth, schema=["group_id", "kind", "origin_account_id", "post_id"], orient="row"
    )
    return posts.sort("created_at", "post_id"), truth_frame

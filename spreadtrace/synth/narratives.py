"""Planted narratives: a claim, its origin, its copy-paste variants and their links.

Why: the origin score must find the account that seeded a claim even when the claim
travels as edited copies with rewritten links. A misinformation narrative is one
origin post, then variants posted later by other seed accounts: small text edits
(a prefix, a dropped or swapped word, a call to share), and the link with tracking
parameters (``utm_*``, ``fbclid``), a ``www.`` host, a fragment, or a shortened form.
Benign narratives are a news link posted independently by many accounts with their
own words. The loops here run once per planted variant (hundreds even at 10M posts).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> c = claim(rng)
>>> v = edit(rng, c)
>>> v != c and len(set(v.split()) & set(c.split())) >= len(c.split()) - 3
True
>>> url_variant(rng, "https://a.example/x", 1)
'https://a.example/x?utm_source=twitter&utm_medium=social&utm_campaign=share'
"""

from __future__ import annotations

import numpy as np

from spreadtrace.synth.text import random_tokens

_SUBJECTS = [
    "the health ministry",
    "the city council",
    "the election board",
    "a leaked memo",
    "the water company",
    "the mayor's office",
    "a pharma insider",
    "the weather service",
    "the school district",
    "the central bank",
    "the police union",
    "a whistleblower",
]
_VERBS = [
    "is hiding",
    "secretly approved",
    "admits it faked",
    "quietly deleted",
    "is covering up",
    "confirmed in private",
    "was paid to bury",
]
_OBJECTS = [
    "the real numbers on {n} contaminated wells",
    "a plan to cancel the {n} ballots from district {d}",
    "{n} deaths after the new vaccine batch",
    "the report on {n} missing shipments",
    "a ban on cash payments starting in {n} days",
    "chemicals sprayed over {n} towns",
    "the truth about the {n} blackout",
    "{n} fake voter registrations in district {d}",
]
_PREFIXES = ["BREAKING: ", "Must read: ", "WOW. ", "They don't want you to know: ", "URGENT "]
_SUFFIXES = [" Share before they delete it!", " !!", " #wakeup", " Spread the word.", " RT!"]


_PLACES = (
    "springfield riverton lakeside northgate eastwood millbrook oakdale fairview hillcrest "
    "westport bayside greenville kingston ashford brookfield cedarville elmwood harborview "
    "maplewood pinecrest redhill stonebridge sunnyvale woodland"
).split()
_DETAILS = (
    "documents photos recordings emails invoices contracts witnesses nurses drivers "
    "engineers lawyers auditors pensioners farmers students parents veterans tenants "
    "insiders officials volunteers"
).split()


def claim(rng: np.random.Generator) -> str:
    """A fresh misinformation claim: subject, verb, specific object, place and source.

    The place and the cited source make two planted claims differ by many words, so
    near-duplicate detection does not merge distinct narratives.
    """
    obj = _OBJECTS[rng.integers(len(_OBJECTS))].format(
        n=int(rng.integers(3, 5000)), d=int(rng.integers(1, 40))
    )
    place = _PLACES[rng.integers(len(_PLACES))]
    a, b = rng.choice(len(_DETAILS), size=2, replace=False)
    return (
        f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {_VERBS[rng.integers(len(_VERBS))]} {obj} "
        f"in {place.capitalize()}, say {_DETAILS[a]} and {_DETAILS[b]} who saw it"
    ).capitalize()


def edit(rng: np.random.Generator, text: str) -> str:
    """A copy-paste variant: one or two small edits that keep most of the words."""
    words = text.split()
    for _ in range(int(rng.integers(1, 3))):
        op = int(rng.integers(0, 5))
        if op == 0 and len(words) > 6:
            del words[int(rng.integers(1, len(words)))]
        elif op == 1 and len(words) > 3:
            i = int(rng.integers(0, len(words) - 1))
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op == 2:
            i = int(rng.integers(0, len(words)))
            words[i] = words[i].upper()
        elif op == 3:
            words.insert(0, _PREFIXES[rng.integers(len(_PREFIXES))].strip())
        else:
            words.append(_SUFFIXES[rng.integers(len(_SUFFIXES))].strip())
    out = " ".join(words)
    return out if out != text else out + " !!"


def hashtag(rng: np.random.Generator) -> str:
    """A narrative's own rare hashtag (a place and a number), without the ``#``."""
    return f"{_PLACES[rng.integers(len(_PLACES))]}{int(rng.integers(100, 1000))}"


def slug(text: str) -> str:
    """A URL slug from the first words of a claim."""
    keep = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in keep.split("-") if part)[:60]


def url_variant(rng: np.random.Generator, url: str, kind: int, short: str = "") -> str:
    """The same link as it circulates: tracking parameters, www., fragment, shortener."""
    if kind == 1:
        return url + "?utm_source=twitter&utm_medium=social&utm_campaign=share"
    if kind == 2:
        return url + "?fbclid=IwAR" + random_tokens(rng, 1, 20)[0]
    if kind == 3:
        return url.replace("https://", "https://www.", 1)
    if kind == 4:
        return url + "#comments"
    if kind == 5 and short:
        return short
    return url

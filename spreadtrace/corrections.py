"""Corrections: which posts carry a fact-check, by the host name of their URLs.

Why a module of its own: "misinformation travels farther than any subsequent
correction" is only shown if corrections are found the same way everywhere. A post is
a correction post when one of its URLs is on a fact-checking domain (or a subdomain of
one): the shipped list (``spreadtrace/data/factcheck_domains.txt``, a documented subset
of the IFCN signatories) plus any user file. The helper takes host names that were
already extracted from URLs, so it can sit on top of the project's URL normaliser.

>>> is_factcheck_host(["www.snopes.com", "news.example", "factcheck.afp.com"]).to_list()
[True, False, True]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources

import polars as pl

__all__ = ["factcheck_domains", "is_factcheck_host"]


def _read(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        domain = line.split("#", 1)[0].strip().lower().rstrip(".")
        if domain:
            out.add(domain.removeprefix("www."))
    return out


def factcheck_domains(extra: str | os.PathLike[str] | None = None) -> frozenset[str]:
    """The shipped fact-check domains, plus those in the user file ``extra`` (one a line).

    >>> "fullfact.org" in factcheck_domains()
    True
    """
    text = resources.files("spreadtrace").joinpath("data", "factcheck_domains.txt")
    domains = _read(text.read_text("utf-8"))
    if extra is not None:
        with open(extra, encoding="utf-8") as f:
            domains |= _read(f.read())
    return frozenset(domains)


def is_factcheck_host(
    hosts: Iterable[str | None] | pl.Series, domains: frozenset[str] | None = None
) -> pl.Series:
    """For each host name, whether it is a fact-check domain or a subdomain of one.

    Vectorised: every host is tested against its own suffixes of 2 to 5 labels (a
    subdomain of ``snopes.com`` such as ``www.snopes.com`` matches; ``notsnopes.com``
    does not), with polars string ops, never a Python loop per host.
    """
    domains = factcheck_domains() if domains is None else domains
    s = pl.Series("host", list(hosts) if not isinstance(hosts, pl.Series) else hosts, pl.String)
    labels = s.str.to_lowercase().str.strip_chars_end(".").str.split(".")
    wanted = pl.Series(sorted(domains), dtype=pl.String)
    frame = pl.DataFrame({"labels": labels})
    hit = pl.lit(False)
    for k in range(2, 6):
        suffix = pl.col("labels").list.slice(-k, k).list.join(".")
        enough = pl.col("labels").list.len() >= k
        hit = hit | (enough & suffix.is_in(wanted.implode()))
    return frame.select(hit.fill_null(False).alias("factcheck")).to_series()

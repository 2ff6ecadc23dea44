"""The one URL normaliser of spreadtrace: raw links -> item keys, shorteners labelled.

Why one module: a link is an *item* (two accounts sharing it may be coordinated, posts
carrying it may be one narrative), so every stage must turn the same raw URL into the
same key. The build normalises the distinct URLs of the store once into the
``url_keys`` table (:mod:`spreadtrace.store.items`); coordination and narratives both
read that table.

The rule, in two steps:

1. RFC 3986 syntax normalisation by the ``url-normalize`` library (percent-encoding
   case and unreserved characters, IDNA hosts, dot segments, default ports) — applied
   only to the URLs that need it (a ``%``, a non-ASCII character or a dot segment), so
   the common case stays a vectorised polars expression.
2. Vectorised key building (:func:`url_key_expr`): lower-case host without ``www.``,
   port 80/443, user info or trailing dot; no scheme (so ``http`` and ``https`` meet),
   fragment or trailing slash; the parameters in :data:`TRACKING_PARAMS` dropped and the
   rest sorted.

Known link shorteners (:data:`SHORTENERS`) are recognised and labelled
(``shortener = true``) but never fetched: spreadtrace makes no network calls, so a
``bit.ly`` link stays its own item.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "SHORTENERS",
    "TRACKING_PARAMS",
    "normalize_urls",
    "url_key_expr",
    "url_keys",
]

# Query parameters that identify the click, not the content. Conservative on purpose:
# ``s``/``t``/``ref`` are content on some sites, so they stay.
TRACKING_PARAMS: tuple[str, ...] = (
    "utm_[a-z0-9_]*",
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "ttclid",
    "igshid",
    "igsh",
    "si",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "ref_src",
    "ref_url",
    "feature",
    "spm",
    "share_source",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
)
_TRACKING_RE = "^(?:" + "|".join(TRACKING_PARAMS) + ")$"
_URL_RE = r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?(?://)?([^/?#]*)([^?#]*)(?:\?([^#]*))?"

# Link shorteners: their keys hide the target, which is never fetched. Hosts as keys
# (lower-case, no www.).
SHORTENERS: frozenset[str] = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "j.mp",
        "t.co",
        "tinyurl.com",
        "goo.gl",
        "ow.ly",
        "buff.ly",
        "is.gd",
        "v.gd",
        "dlvr.it",
        "ift.tt",
        "trib.al",
        "fb.me",
        "lnkd.in",
        "shorturl.at",
        "rebrand.ly",
        "cutt.ly",
        "t.ly",
        "tiny.cc",
        "bit.do",
        "amzn.to",
        "wp.me",
        "su.pr",
        "qr.ae",
        "po.st",
        "soo.gd",
        "s.id",
        "rb.gy",
        "tr.im",
        "snip.ly",
        "shor.by",
        "linktr.ee",
    }
)
# URLs whose key needs RFC 3986 normalisation first (url-normalize).
_NEEDS_RFC3986 = r"%|[^\x00-\x7f]|/\.\.?(?:/|$|\?|#)"


def url_key_expr(url: pl.Expr) -> pl.Expr:
    """A polars expression turning (RFC-3986-normal) URLs into keys (null when not a link).

    Why an expression, not a per-URL function: it runs vectorised over millions of URLs.
    The key is ``host + path [+ '?' + sorted non-tracking params]`` without the scheme.
    Research datasets often ship links anonymised as opaque ids (``url-23678``): such a
    value (a word of letters, digits, ``-``, ``_``, ``.``, ``:``, with no host) is its own
    key, so the same id is one item; anything else without a host has no key.

    >>> s = pl.Series(["https://WWW.Example.com/a/?utm_source=x&b=2&a=1#top",
    ...                "http://example.com:443/a?fbclid=abc&a=1&b=2", "not a url/", "url-23678"])
    >>> pl.select(url_key_expr(pl.lit(s))).to_series().to_list()
    ['example.com/a?a=1&b=2', 'example.com/a?a=1&b=2', None, 'url-23678']
    """
    parts = url.str.strip_chars().str.extract_groups(_URL_RE)
    host = (
        parts.struct.field("1")
        .str.to_lowercase()
        .str.replace(r"^.*@", "")
        .str.replace(r":(?:80|443)$", "")
        .str.replace(r"^www\d*\.", "")
        .str.strip_chars_end(".")
    )
    path = parts.struct.field("2").str.strip_chars_end("/")
    query = (
        parts.struct.field("3")
        .fill_null("")
        .str.split("&")
        .list.eval(
            pl.element().filter(
                (pl.element() != "")
                & ~pl.element()
                .str.replace(r"=.*$", "")
                .str.to_lowercase()
                .str.contains(_TRACKING_RE)
            )
        )
        .list.sort()
        .list.join("&")
    )
    key = pl.concat_str(
        host,
        path.fill_null(""),
        pl.when(query != "").then(pl.lit("?") + query).otherwise(pl.lit("")),
    )
    valid = host.str.contains(r"^[\w\-]+(?:\.[\w\-]+)+$").fill_null(False)
    raw = url.str.strip_chars()
    opaque = raw.str.contains(r"^\w[\w\-.:]{0,199}$").fill_null(False)
    return pl.when(valid).then(key).when(opaque).then(raw).otherwise(pl.lit(None, dtype=pl.String))


def _rfc3986(url: str) -> str:
    """url-normalize one URL; a URL it cannot parse is kept as given."""
    from url_normalize import url_normalize

    try:
        return url_normalize(url.strip()) or url
    except Exception:  # noqa: BLE001 -- malformed input keeps its raw form
        return url


def url_keys(urls: pl.Series) -> pl.DataFrame:
    """Normalise distinct raw URLs: one row per URL with its key, host and shortener flag.

    Columns: url (as given), key (null when there is no host), host, shortener.
    Callers pass distinct URLs (far fewer than posts); the library step runs only on
    the URLs that need it.

    >>> url_keys(pl.Series(["https://Bit.ly/Ab1?utm_source=x", "https://ex.org/%7efoo/"])).rows()
    [('https://Bit.ly/Ab1?utm_source=x', 'bit.ly/Ab1', 'bit.ly', True), ('https://ex.org/%7efoo/', 'ex.org/~foo', 'ex.org', False)]
    """
    frame = pl.DataFrame({"url": urls.cast(pl.String)}).drop_nulls()
    needs = frame["url"].str.contains(_NEEDS_RFC3986)
    fixed = frame.filter(needs).with_columns(
        clean=pl.col("url").map_elements(_rfc3986, return_dtype=pl.String)
    )
    frame = frame.join(fixed, on="url", how="left").with_columns(clean=pl.coalesce("clean", "url"))
    frame = frame.with_columns(key=url_key_expr(pl.col("clean")))
    frame = frame.with_columns(host=pl.col("key").str.extract(r"^([^/?]+)", 1))
    return frame.select(
        "url",
        "key",
        "host",
        shortener=pl.col("host").is_in(list(SHORTENERS)).fill_null(False),
    )


def normalize_urls(urls: list[str | None]) -> list[str | None]:
    """Keys of a list of URLs, in order (a convenience for callers and tests).

    >>> normalize_urls(["https://www.bbc.co.uk/news/1?si=abc", "https://bbc.co.uk/news/1/", None])
    ['bbc.co.uk/news/1', 'bbc.co.uk/news/1', None]
    """
    series = pl.Series("url", urls, dtype=pl.String)
    keys = url_keys(series.drop_nulls().unique())
    out = pl.DataFrame({"url": series}).join(keys, on="url", how="left", maintain_order="left")
    return out["key"].to_list()

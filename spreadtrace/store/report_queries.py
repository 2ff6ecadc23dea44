"""The SQL behind every report file, and the one place that runs it.

Why here: only ``spreadtrace/store`` talks to DuckDB. Each report file is declared once
as a :class:`ReportQuery` — its columns in their stable order, each tagged with a
*kind* — and :func:`render` turns that declaration into one SELECT. The kind decides
what happens to a column on its way out, so the rules cannot be forgotten for one file:

- ``time``: ISO 8601 UTC with milliseconds (``2024-05-01T12:00:00.000Z``);
- ``real``: rounded to 6 decimals, so reports are stable to the last printed digit;
- ``text``, ``account``, ``handle``: untrusted strings, neutralised against spreadsheet
  formula injection by the same rule as :func:`spreadtrace.reports.safe_cell`
  (a leading ``= + - @``, tab or carriage return gets a ``'`` prefix);
- with pseudonymisation on, ``account``, ``handle`` and ``cluster`` columns (cluster ids
  are made from member account ids) and ``post``, ``narrative`` and ``item`` columns
  (post, cascade and narrative ids are platform ids: a tweet id resolves publicly to its
  author, a Bluesky URI carries the author's DID) become keyed HMAC-SHA256 pseudonyms
  computed inside DuckDB (vectorised, no Python loop per row), and ``text`` columns have
  every trace of an account masked: mentions in any Unicode form (``@bob``,
  full-width ``＠bob``), handles inside profile and status URLs (``x.com/alice/status/1``,
  ``bsky.app/profile/alice.bsky.social``), Bluesky handles and DIDs.

The HMAC key is stretched from the secret by scrypt (:class:`PseudonymKey`), so one
known (id, pseudonym) pair or the manifest's key fingerprint does not let anyone test
guesses of the secret at hashing speed; secrets shorter than
:data:`MIN_SECRET_LENGTH` characters are refused.

Derived score tables are LEFT JOINed, so ``cascades.csv`` works right after the
cascade stage, before any score exists (the score columns are then empty).

Every value is a bound parameter; the only things formatted into SQL are the fixed
fragments declared in this module.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spreadtrace.store import Store

__all__ = [
    "Column",
    "ReportQuery",
    "REPORTS",
    "PseudonymKey",
    "render",
    "export_csv",
    "export_changes_csv",
    "render_changes",
    "watermarks",
    "changes_possible",
    "prune_row_changes",
    "latest_build",
    "model_versions",
    "FORMULA_PREFIXES",
    "FORMULA_SIGNS",
    "CSV_SEPARATORS",
    "MIN_SECRET_LENGTH",
    "mask_accounts",
    "mask_accounts_sql",
    "pseudonym_sql",
    "check_secret",
]

# The characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ... and the look-alikes spreadsheets fold into them: full-width and small forms, and
# the minus sign.
FORMULA_SIGNS = "=+-@\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66\ufe6b\u2212"
# Separators a spreadsheet may split a CSV line on (the locale decides: ',' in English,
# ';' in German or French, tab, '|'): a formula must not start after any of them.
CSV_SEPARATORS = ",;\t|"
# What may stand between a separator and a formula sign and still be skipped by a
# spreadsheet: spaces of every kind (NBSP, thin, ideographic, ...), invisible format
# characters (zero-width, bidi controls, BOM) and quote marks.
_SKIPPABLE = (
    " \n\x0b\x0c\x85\xa0\xad\u1680\u180e"
    + "".join(map(chr, range(0x2000, 0x2010)))
    + "".join(map(chr, range(0x2028, 0x2030)))
    + "".join(map(chr, range(0x205F, 0x2065)))
    + "".join(map(chr, range(0x2066, 0x2070)))
    + '\u3000\ufeff"'
)


def _char_class(chars: str) -> str:
    """A regex character class matching ``chars``, valid for both RE2 and Python ``re``.

    Characters are written literally (both engines read UTF-8/str literals), ASCII
    controls as ``\\xNN`` (both engines' syntax), and ``\\ ] ^ -`` escaped.
    """
    out = []
    for ch in chars:
        if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\x85\xa0\xad":
            out.append(f"\\x{ord(ch):02x}")
        elif ch in "\\]^-[":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "[" + "".join(out) + "]"


# One rule, shared by safe_cell (Python) and safe_cell_sql (DuckDB): at the start of the
# cell or right after a separator, skippable characters then a formula sign -> a quote
# is inserted there, so no spreadsheet, whatever separator it splits on, sees a formula.
FORMULA_RE = (
    f"(^|{_char_class(CSV_SEPARATORS)})({_char_class(_SKIPPABLE)}*{_char_class(FORMULA_SIGNS)})"
)
# A cell starting with a tab or carriage return is neutralised too (OWASP).
LEADING_CONTROL_RE = "^([\\t\\r])"

ISO_UTC = "%Y-%m-%dT%H:%M:%S.%gZ"
MIN_SECRET_LENGTH = 16
"""Shorter pseudonymisation secrets are refused: they would fall to an offline guess."""

# Every trace of an account in free text, masked when pseudonymising: (RE2 pattern for
# DuckDB, Python ``re`` pattern, replacement). The two patterns say the same thing in
# each engine's syntax (RE2 ``\pL\pN`` = Python ``\w`` minus ``_``).
_HOSTS = (
    "(?:www\\.|mobile\\.|m\\.)?"
    "(?:x|twitter|instagram|facebook|fb|tiktok|threads|youtube|linkedin|t|vk|gab|truthsocial)"
    "\\.(?:com|net|me|ai)/"
)
_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_ATS = "@\uff20\ufe6b"
ACCOUNT_MASKS: tuple[tuple[str, str, str], ...] = (
    # Bluesky DIDs (also inside at:// URIs)
    (
        "did:(?:plc|web|key):[A-Za-z0-9._:%\\-]+",
        "did:(?:plc|web|key):[A-Za-z0-9._:%\\-]+",
        "did:[account]",
    ),
    # profile and status URLs: the first path segment is the handle
    ("(?i)(bsky\\.app/profile/)[^/\\s?#]+", "(?i)(bsky\\.app/profile/)[^/\\s?#]+", "\\1[account]"),
    (
        f"(?i)(^|[^\\pL\\pN_.\\-])({_HOSTS})@?[^/\\s?#]+",
        f"(?i)(^|[^\\w.\\-])({_HOSTS})@?[^/\\s?#]+",
        "\\1\\2[account]",
    ),
    # Bluesky handles written bare
    (
        "(?i)[\\pL\\pN_\\-]+(?:\\.[\\pL\\pN_\\-]+)*\\.bsky\\.social",
        "(?i)[\\w\\-]+(?:\\.[\\w\\-]+)*\\.bsky\\.social",
        "[account]",
    ),
    # mentions in any Unicode form (@bob, full-width ＠bob, small ﹫bob), also with
    # invisible characters between the sign and the name
    (
        f"[{_ATS}][{_INVISIBLE}]*[\\pL\\pN_][\\pL\\pN_.\\-]*",
        f"[{_ATS}][{_INVISIBLE}]*\\w[\\w.\\-]*",
        "@[account]",
    ),
)
MENTION_MASK = "@[account]"
_PY_MASKS = [(re.compile(py), rep) for _sql, py, rep in ACCOUNT_MASKS]


def mask_accounts(text: str | None) -> str | None:
    """``text`` with every account trace masked (the Python twin of the reports' SQL).

    >>> mask_accounts("via ＠bob_y: x.com/alice_x/status/1 and did:plc:abc123")
    'via @[account]: x.com/[account]/status/1 and did:[account]'
    """
    if text is None:
        return None
    for pattern, rep in _PY_MASKS:
        text = pattern.sub(rep, text)
    return text


@dataclass(frozen=True)
class Column:
    """One output column: its name, its SQL over the query's FROM clause, and its kind."""

    name: str
    expr: str
    kind: str  # text | account | handle | cluster | post | narrative | item | time | real | int | bool
    hidden: bool = False  # only for ordering; not written to the file


@dataclass(frozen=True)
class ReportQuery:
    """A report file: stable column order, FROM clause, and a total ORDER BY."""

    name: str
    columns: tuple[Column, ...]
    from_sql: str
    order_by: tuple[str, ...]  # column names (raw values), must end with a unique key
    params: tuple[str, ...] = ()  # named parameters the FROM clause needs
    # changes sets (issue 12): a file whose size follows the store declares its key
    # column, the SQL of the raw keys whose row may have changed since a build and an
    # ingest run ($since_build, $since_run), and how to tell whether a key had a row
    # then: the row_changes log of its primary table, or ``existed_sql`` (over ``c.key``)
    key: str | None = None
    keys_sql: str = ""  # every key the file has a row for (its driving table)
    changed_sql: str = ""
    logged: str | None = None
    existed_sql: str | None = None

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns if not c.hidden]

    @property
    def key_expr(self) -> str:
        """The SQL of the key column over the FROM clause."""
        return next(c.expr for c in self.columns if c.name == self.key)

    @property
    def account_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.kind in PSEUDONYM_KINDS]


@dataclass(frozen=True)
class PseudonymKey:
    """HMAC-SHA256 key material prepared for SQL: the padded inner and outer keys.

    The HMAC key is not the secret itself but scrypt(secret) (RFC 7914; n=2^15, r=8,
    p=1, a fixed application salt so the same secret always gives the same
    pseudonyms): whoever knows one account's pseudonym, or the public fingerprint
    ``key_id``, must pay a 32 MiB, ~0.1 s scrypt per guess of the secret, and secrets
    shorter than :data:`MIN_SECRET_LENGTH` are refused, so guessing is infeasible.

    HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)) (RFC 2104), with K' the key
    zero-padded to the 64-byte block. DuckDB has ``sha256`` but no ``hmac``, so the
    two pads are computed here once and bound as BLOBs.

    >>> key = PseudonymKey.from_secret("correct horse battery")
    >>> key.account("42") == PseudonymKey.python_account("correct horse battery", "42")
    True
    """

    ipad: bytes
    opad: bytes
    key_id: str  # a public fingerprint of the key: equal ids = comparable pseudonyms

    @classmethod
    def from_secret(cls, secret: str) -> PseudonymKey:
        """The key for ``secret``; ValueError when it is empty or too short."""
        check_secret(secret)
        key = stretch(secret)
        key_id = hmac.new(key, b"spreadtrace-key-id", hashlib.sha256).hexdigest()
        padded = key.ljust(64, b"\0")
        return cls(
            ipad=bytes(b ^ 0x36 for b in padded),
            opad=bytes(b ^ 0x5C for b in padded),
            key_id="scrypt:" + key_id[:16],
        )

    def account(self, account_id: str) -> str:
        """The pseudonym of one account id, computed in Python (for checks and tests)."""
        return _py_pseudo(self, "account:", account_id, "acct_")

    def cluster(self, cluster_id: str) -> str:
        """The pseudonym of one coordination cluster id."""
        return _py_pseudo(self, "cluster:", cluster_id, "c_")

    def handle(self, handle: str) -> str:
        """The pseudonym of one handle (case-insensitive, leading @ ignored)."""
        return _py_pseudo(self, "handle:", handle.lstrip("@").lower(), "h_")

    def post(self, post_id: str) -> str:
        """The pseudonym of one post or cascade id (a cascade id is its root's post id)."""
        return _py_pseudo(self, "post:", post_id, "p_")

    def narrative(self, narrative_id: str) -> str:
        """The pseudonym of one narrative id."""
        return _py_pseudo(self, "narrative:", narrative_id, "n_")

    @staticmethod
    def python_account(secret: str, account_id: str) -> str:
        """Reference implementation with :mod:`hmac`, to check the SQL against."""
        digest = hmac.new(stretch(secret), f"account:{account_id}".encode(), hashlib.sha256)
        return "acct_" + digest.hexdigest()[:16]


def check_secret(secret: str | None) -> None:
    """ValueError unless ``secret`` is at least :data:`MIN_SECRET_LENGTH` characters."""
    if not secret:
        raise ValueError("the pseudonymisation secret must not be empty")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"the pseudonymisation secret must be at least {MIN_SECRET_LENGTH} characters "
            f"(it has {len(secret)}): a short secret falls to an offline guess"
        )


@functools.lru_cache(maxsize=8)
def stretch(secret: str) -> bytes:
    """scrypt(secret): the 32-byte HMAC key (slow on purpose; cached per process)."""
    return hashlib.scrypt(
        secret.encode(),
        salt=b"spreadtrace-pseudonym-key-v2",
        n=2**15,
        r=8,
        p=1,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )


def _py_pseudo(key: PseudonymKey, domain: str, value: str, prefix: str) -> str:
    inner = hashlib.sha256(key.ipad + f"{domain}{value}".encode()).digest()
    return prefix + hashlib.sha256(key.opad + inner).hexdigest()[:16]


def _hmac_sql(value_sql: str) -> str:
    return f"left(sha256($opad || unhex(sha256($ipad || encode({value_sql})))), 16)"


_PSEUDONYMS = {  # kind -> (prefix, HMAC domain, how the raw value is normalised)
    "account": ("acct_", "account:", "{}"),
    "handle": ("h_", "handle:", "lower(ltrim({}, '@'))"),
    # cluster ids are built from member account ids (e.g. "c:<smallest id>")
    "cluster": ("c_", "cluster:", "{}"),
    "post": ("p_", "post:", "{}"),
    "narrative": ("n_", "narrative:", "{}"),
}
PSEUDONYM_KINDS = (*_PSEUDONYMS, "item", "item_ref")


def pseudonym_sql(kind: str, ref: str) -> str:
    """SQL for the keyed pseudonym of ``ref`` (needs ``$ipad`` / ``$opad`` bound)."""
    prefix, domain, norm = _PSEUDONYMS[kind]
    return f"'{prefix}' || " + _hmac_sql(f"'{domain}' || " + norm.format(ref))


def mask_accounts_sql(ref: str) -> str:
    """SQL masking every account trace in the text ``ref`` (see ``ACCOUNT_MASKS``)."""
    for pattern, _py, rep in ACCOUNT_MASKS:
        pat = pattern.replace("'", "''")
        ref = f"regexp_replace({ref}, '{pat}', '{rep}', 'g')"
    return ref


def _wrap(col: Column, pseudonymize: bool) -> str:
    """The output expression for one column of the inner query ``q``."""
    ref = f'q."{col.name}"'
    if col.kind == "time":
        return f"strftime({ref}, '{ISO_UTC}')"
    if col.kind == "real":
        return f"round({ref}, 6)"
    if col.kind in ("int", "bool"):
        return ref
    if col.kind in _PSEUDONYMS and pseudonymize:
        value = pseudonym_sql(col.kind, ref)
    elif col.kind == "item" and pseudonymize:
        # alerts: a cascade id or a narrative id, as the row's kind says
        value = (
            f"CASE WHEN q.\"kind\" = 'narrative' THEN {pseudonym_sql('narrative', ref)} "
            f"ELSE {pseudonym_sql('post', ref)} END"
        )
    elif col.kind == "item_ref" and pseudonymize:
        # items.csv: a text item's id is "text:" + its first post's id; a URL's key can
        # name an account (x.com/<handle>/status/...), masked as in any text
        value = (
            f"CASE WHEN starts_with({ref}, 'text:') THEN 'text:' || "
            f"{pseudonym_sql('post', f'substr({ref}, 6)')} ELSE {mask_accounts_sql(ref)} END"
        )
    elif col.kind == "text" and pseudonymize:
        value = mask_accounts_sql(ref)
    elif col.kind in ("text", *PSEUDONYM_KINDS):
        value = ref
    else:  # pragma: no cover - a declaration error
        raise ValueError(f"unknown column kind {col.kind!r} for {col.name}")
    return f"safe_cell_sql({value})"


def _order_term(term: str) -> str:
    name, _, direction = term.partition(" ")
    return f'q."{name}" {direction}'.rstrip()


# The SQL twin of spreadtrace.reports.safe_cell (tests check both agree). Each
# regexp_replace names ``v`` once: a CASE naming it three times made DuckDB compute an
# HMAC pseudonym three times per cell.
SAFE_CELL_MACRO = f"""
CREATE OR REPLACE TEMP MACRO safe_cell_sql(v) AS
    regexp_replace(
        regexp_replace(v, '{FORMULA_RE.replace("'", "''")}', '\\1''\\2', 'g'),
        '{LEADING_CONTROL_RE}', '''\\1')
"""


def render(query: ReportQuery, *, pseudonymize: bool = False) -> str:
    """The complete SELECT for ``query``: inner raw columns, outer output rules, order."""
    inner = ",\n    ".join(f'{c.expr} AS "{c.name}"' for c in query.columns)
    outer = ",\n    ".join(
        f'{_wrap(c, pseudonymize)} AS "{c.name}"' for c in query.columns if not c.hidden
    )
    order = ", ".join(_order_term(term) for term in query.order_by)
    return (
        f"SELECT\n    {outer}\nFROM (\n  SELECT\n    {inner}\n  {query.from_sql}\n) AS q\n"
        f"ORDER BY {order}"
    )


_CHANGED = re.compile(r"/\*changed:(\w+)\*/")


def render_changes(query: ReportQuery, *, pseudonymize: bool = False) -> str:
    """The SELECT of ``query``'s changes file: a ``change`` column, then the full file's
    columns, for the keys of ``_rep_keys`` (see :func:`export_changes_csv`).

    Added and updated keys get their whole row, through the same output rules as the
    full file (so the same neutralised, pseudonymised cells); a removed key gets its key
    cell alone. Ordered by the raw key: a changes file has no score order to keep.
    """
    assert query.key is not None
    inner = ",\n    ".join(f'{c.expr} AS "{c.name}"' for c in query.columns)
    # the subqueries that read whole tables (marked /*changed:<column>*/) read the
    # changed keys' rows only
    from_sql = _CHANGED.sub(r"WHERE \1 IN (SELECT key FROM _rep_keys)", query.from_sql)
    outer = ",\n    ".join(
        f'{_wrap(c, pseudonymize)} AS "{c.name}"' for c in query.columns if not c.hidden
    )
    return (
        f'SELECT q."_change" AS "change",\n    {outer}\nFROM (\n'  # noqa: S608
        f'  SELECT\n    {inner},\n    k.key AS "_rk", k.change AS "_change"\n'
        f"  {from_sql}\n"
        f"  JOIN _rep_keys AS k ON k.key = {query.key_expr} AND k.change <> 'removed'\n"
        f'  UNION ALL BY NAME\n  SELECT key AS "{query.key}", key AS "_rk", change AS "_change"'
        f"\n  FROM _rep_keys WHERE change = 'removed'\n"
        f') AS q\nORDER BY q."_rk"'
    )


# --- the report files ------------------------------------------------------------------
# One line per column: name, SQL, kind. The leading columns of each file are the ones
# issues 4 and 5 name, in their order; extra columns follow.

_CASCADES = ReportQuery(
    name="cascades",
    columns=(
        Column("cascade_id", "c.cascade_id", "post"),
        Column("root_account_id", "c.root_account_id", "account"),
        Column("size", "c.size", "int"),
        Column("accounts", "c.accounts", "int"),
        Column("depth", "c.depth", "int"),
        Column("max_breadth", "c.max_breadth", "int"),
        Column("structural_virality", "c.structural_virality", "real"),
        Column("first_at", "c.first_at", "time"),
        Column("last_at", "c.last_at", "time"),
        Column("narrative_id", "s.narrative_id", "narrative"),
        Column("bot_share", "s.bot_share", "real"),
        Column("early_bot_share", "s.early_bot_share", "real"),
        Column("coordinated_share", "s.coordinated_share", "real"),
        Column("reach_via_bots", "s.reach_via_bots", "real"),
        Column("amplification_score", "s.amplification_score", "real"),
        Column("amplification_reasons", "s.amplification_reasons", "text"),
        Column("root_handle", "a.handle", "handle"),
        Column("root_post_id", "c.root_post_id", "post"),
        Column("root_seen", "c.root_seen", "bool"),
        Column("platform", "c.platform", "text"),
        Column("time_to_50_s", "c.time_to_50_s", "real"),
        Column("time_to_90_s", "c.time_to_90_s", "real"),
        Column("peak_per_hour", "c.peak_per_hour", "int"),
        Column("reconstruction", "c.reconstruction", "text"),
        Column("root_text", "left(r.text, 280)", "text"),
        # where the spread came from (issue 10): each share counted once, sums to 1
        Column("share_bot_only", "s.share_bot_only", "real"),
        Column("share_coordinated_only", "s.share_coordinated_only", "real"),
        Column("share_both", "s.share_both", "real"),
        Column("share_neither", "s.share_neither", "real"),
        Column("reach_via_bots_low", "s.reach_via_bots_low", "real"),
        Column("reach_via_bots_high", "s.reach_via_bots_high", "real"),
        Column("inferred_edges", "s.inferred_edges", "int"),
        Column("replies", "c.replies", "int"),
        Column("conversation_depth", "c.conversation_depth", "int"),
        Column("repliers", "c.repliers", "int"),
    ),
    from_sql="""
  FROM cascades AS c
  LEFT JOIN cascade_scores AS s ON s.cascade_id = c.cascade_id
  LEFT JOIN accounts AS a ON a.account_id = c.root_account_id
  LEFT JOIN (
      SELECT post_id, any_value(text) AS text FROM posts
      WHERE post_id IN (SELECT root_post_id FROM cascades /*changed:cascade_id*/)
      GROUP BY post_id
  ) AS r ON r.post_id = c.root_post_id""",
    order_by=("size DESC", "cascade_id"),
    key="cascade_id",
    keys_sql="SELECT cascade_id FROM cascades",
    changed_sql="""
  SELECT cascade_id AS key FROM cascades WHERE build_id > $since_build
  UNION ALL SELECT cascade_id FROM cascade_scores WHERE build_id > $since_build
  UNION ALL SELECT key1 FROM row_changes
  WHERE build_id > $since_build AND table_name IN ('cascades', 'cascade_scores')
  UNION ALL SELECT c.cascade_id FROM cascades AS c
  JOIN accounts AS a ON a.account_id = c.root_account_id WHERE a.ingest_run_id > $since_run""",
    logged="cascades",
)

_ACCOUNTS = ReportQuery(
    name="accounts",
    columns=(
        Column("account_id", "ids.account_id", "account"),
        Column("handle", "a.handle", "handle"),
        Column("posts", "coalesce(sc.posts, pa.posts, 0)", "int"),
        Column("reposts", "coalesce(sc.reposts, pa.reposts, 0)", "int"),
        Column("bot_score", "sc.bot_score", "real"),
        Column("bot_reasons", "sc.bot_reasons", "text"),
        Column("origin_index", "o.origin_index", "real"),
        Column("coordination_cluster", "cl.cluster_id", "cluster"),
        Column("is_bot_like", "sc.is_bot_like", "bool"),
        Column("profile_score", "sc.profile_score", "real"),
        Column("behaviour_score", "sc.behaviour_score", "real"),
        Column("narratives_seeded", "o.narratives_seeded", "int"),
        Column("platform", "coalesce(a.platform, pa.platform)", "text"),
        Column("coordination_score", "sc.coordination_score", "real"),
        Column("bot_evidence", "sc.bot_evidence", "text"),
    ),
    from_sql="""
  FROM (
      SELECT account_id FROM account_scores /*changed:account_id*/
      UNION SELECT account_id FROM accounts /*changed:account_id*/
      UNION SELECT account_id FROM posts /*changed:account_id*/
  ) AS ids
  LEFT JOIN account_scores AS sc ON sc.account_id = ids.account_id
  LEFT JOIN accounts AS a ON a.account_id = ids.account_id
  LEFT JOIN account_origin AS o ON o.account_id = ids.account_id
  LEFT JOIN (
      SELECT account_id, min(cluster_id) AS cluster_id
      FROM coordination_clusters GROUP BY account_id
  ) AS cl ON cl.account_id = ids.account_id
  LEFT JOIN (
      SELECT account_id, count(*) AS posts,
             count(*) FILTER (WHERE kind IN ('repost', 'quote')) AS reposts,
             any_value(platform) AS platform
      FROM posts /*changed:account_id*/ GROUP BY account_id
  ) AS pa ON pa.account_id = ids.account_id""",
    order_by=("bot_score DESC NULLS LAST", "posts DESC", "account_id"),
    key="account_id",
    keys_sql="SELECT account_id FROM account_scores UNION ALL SELECT account_id FROM accounts"
    " UNION ALL SELECT account_id FROM posts",
    changed_sql="""
  SELECT account_id AS key FROM account_scores WHERE build_id > $since_build
  UNION ALL SELECT account_id FROM account_origin WHERE build_id > $since_build
  UNION ALL SELECT account_id FROM coordination_clusters WHERE build_id > $since_build
  UNION ALL SELECT key1 FROM row_changes
  WHERE build_id > $since_build AND table_name IN ('account_scores', 'account_origin')
  UNION ALL SELECT key2 FROM row_changes
  WHERE build_id > $since_build AND table_name = 'coordination_clusters'
  UNION ALL SELECT account_id FROM accounts WHERE ingest_run_id > $since_run
  UNION ALL SELECT account_id FROM posts WHERE ingest_run_id > $since_run""",
    # an account is in the file once it has a post, a profile or a score, and only an
    # erasure or the retention window (full builds) takes one out
    existed_sql="""(
      c.key IN (SELECT account_id FROM posts WHERE ingest_run_id <= $since_run)
      OR c.key IN (SELECT account_id FROM account_snapshots WHERE ingest_run_id <= $since_run)
  )""",
)

_NARRATIVES = ReportQuery(
    name="narratives",
    columns=(
        Column("narrative_id", "n.narrative_id", "narrative"),
        Column("label", "n.label", "text"),
        Column("cascades", "n.cascades", "int"),
        Column("posts", "n.posts", "int"),
        Column("accounts", "n.accounts", "int"),
        Column("first_at", "n.first_at", "time"),
        Column("origin_account_id", "n.origin_account_id", "account"),
        Column("origin_score", "n.origin_score", "real"),
        Column("bot_share", "n.bot_share", "real"),
        Column("coordinated_share", "n.coordinated_share", "real"),
        Column("amplification_score", "n.amplification_score", "real"),
        Column("kind", "n.kind", "text"),
        Column("last_at", "n.last_at", "time"),
        Column("origin_handle", "a.handle", "handle"),
        Column("early_bot_share", "n.early_bot_share", "real"),
        Column("reach_via_bots", "n.reach_via_bots", "real"),
        Column("amplification_reasons", "n.amplification_reasons", "text"),
        Column("share_bot_only", "n.share_bot_only", "real"),
        Column("share_coordinated_only", "n.share_coordinated_only", "real"),
        Column("share_both", "n.share_both", "real"),
        Column("share_neither", "n.share_neither", "real"),
        Column("reach_via_bots_low", "n.reach_via_bots_low", "real"),
        Column("reach_via_bots_high", "n.reach_via_bots_high", "real"),
        Column("inferred_edges", "n.inferred_edges", "int"),
        Column("claim_posts", "n.claim_posts", "int"),
        Column("claim_accounts", "n.claim_accounts", "int"),
        Column("correction_posts", "n.correction_posts", "int"),
        Column("correction_accounts", "n.correction_accounts", "int"),
        Column("first_correction_at", "n.first_correction_at", "time"),
        Column("correction_delay_s", "n.correction_delay_s", "real"),
        Column("claim_accounts_corrected", "n.claim_accounts_corrected", "real"),
        Column("notes", "n.notes", "int"),
        Column("first_note_shown_at", "n.first_note_shown_at", "time"),
        Column("is_correction", "n.is_correction", "bool"),
    ),
    from_sql="""
  FROM narratives AS n
  LEFT JOIN accounts AS a ON a.account_id = n.origin_account_id""",
    order_by=("amplification_score DESC NULLS LAST", "posts DESC", "narrative_id"),
    key="narrative_id",
    keys_sql="SELECT narrative_id FROM narratives",
    changed_sql="""
  SELECT narrative_id AS key FROM narratives WHERE build_id > $since_build
  UNION ALL SELECT key1 FROM row_changes
  WHERE build_id > $since_build AND table_name = 'narratives'
  UNION ALL SELECT n.narrative_id FROM narratives AS n
  JOIN accounts AS a ON a.account_id = n.origin_account_id WHERE a.ingest_run_id > $since_run""",
    logged="narratives",
)

_PAIRS = ReportQuery(
    name="coordination_pairs",
    columns=(
        Column("account_a", "p.account_a", "account"),
        Column("account_b", "p.account_b", "account"),
        Column("shared_items", "p.shared_items", "int"),
        Column("strength", "p.strength", "real"),
        Column("cluster_id", "p.cluster_id", "cluster"),
        Column("handle_a", "aa.handle", "handle"),
        Column("handle_b", "ab.handle", "handle"),
    ),
    from_sql="""
  FROM coordination_pairs AS p
  LEFT JOIN accounts AS aa ON aa.account_id = p.account_a
  LEFT JOIN accounts AS ab ON ab.account_id = p.account_b""",
    order_by=("strength DESC", "shared_items DESC", "account_a", "account_b"),
)

_CLUSTERS = ReportQuery(
    name="coordination_clusters",
    columns=(
        Column("cluster_id", "k.cluster_id", "cluster"),
        Column("account_id", "k.account_id", "account"),
        Column("cluster_size", "k.cluster_size", "int"),
        Column("handle", "a.handle", "handle"),
        Column("bot_score", "sc.bot_score", "real"),
        Column("posts", "sc.posts", "int"),
    ),
    from_sql="""
  FROM coordination_clusters AS k
  LEFT JOIN accounts AS a ON a.account_id = k.account_id
  LEFT JOIN account_scores AS sc ON sc.account_id = k.account_id""",
    order_by=("cluster_size DESC", "cluster_id", "account_id"),
)

# Alerts: items spreading far faster now than they used to. The reference "now" is the
# newest post in the store (not the wall clock; posts dated after their own ingest are
# ignored for it), or a time the analyst gives, so the same data gives the same alerts
# whenever and however often the report is written. For each cascade and narrative:
#   recent  = its posts in the last window (t_end - window, t_end]
#   earlier = its posts before that; earlier_rate = earlier / (its earlier lifetime in
#             windows, at least one window)
# It alerts when recent >= floor AND recent >= ratio * earlier_rate; an item with no
# earlier posts alerts on the floor alone (new and already fast). Why this rule: it is
# each item's own baseline (a big, steady cascade does not alert; a quiet one that
# suddenly takes off does), the floor keeps 3-vs-0 noise out, and it is cheap set-wise.
# Candidates first: only an item with at least `floor` shares inside the window can
# alert (floor >= 1), so the full history (earlier shares, first share) and the labels
# are read for those items alone, not for every cascade and narrative in the store.
# Each share is a (post_cascades or post_narratives row, posts row) pair, as counted in
# both steps, so `recent` is the same number in the candidate filter and in `agg`.
_ALERT_ITEMS = """
  WITH newest AS (
      -- "now": the newest post that is not dated after its own ingest (plus 5 minutes
      -- of clock skew), so one bogus future timestamp cannot silence every alert;
      -- or the analyst's --alert-at time
      SELECT coalesce(CAST($at AS TIMESTAMPTZ), max(p.created_at)) AS t_end
      FROM posts AS p LEFT JOIN ingest_runs AS r ON r.ingest_run_id = p.ingest_run_id
      WHERE r.finished_at IS NULL OR p.created_at <= r.finished_at + INTERVAL 5 MINUTE
  ),
  ref AS (
      SELECT t_end, t_end - to_microseconds(CAST($window_s * 1e6 AS BIGINT)) AS t_start
      FROM newest
  ),
  in_window AS (
      SELECT p.post_id FROM posts AS p, ref
      WHERE p.created_at > ref.t_start AND p.created_at <= ref.t_end
  ),
  candidates AS (
      SELECT 'cascade' AS kind, pc.cascade_id AS item_id
      FROM post_cascades AS pc JOIN in_window AS w ON w.post_id = pc.post_id
      GROUP BY pc.cascade_id HAVING count(*) >= $floor
      UNION ALL
      SELECT 'narrative', pn.narrative_id
      FROM post_narratives AS pn JOIN in_window AS w ON w.post_id = pn.post_id
      GROUP BY pn.narrative_id HAVING count(*) >= $floor
  ),
  shares AS (
      SELECT 'cascade' AS kind, pc.cascade_id AS item_id, p.created_at
      FROM post_cascades AS pc JOIN posts AS p ON p.post_id = pc.post_id
      WHERE pc.cascade_id IN (SELECT item_id FROM candidates WHERE kind = 'cascade')
      UNION ALL
      SELECT 'narrative', pn.narrative_id, p.created_at
      FROM post_narratives AS pn JOIN posts AS p ON p.post_id = pn.post_id
      WHERE pn.narrative_id IN (SELECT item_id FROM candidates WHERE kind = 'narrative')
  ),
  agg AS (
      SELECT s.kind, s.item_id, min(s.created_at) AS first_at,
             count(*) FILTER (WHERE s.created_at > ref.t_start) AS recent,
             count(*) FILTER (WHERE s.created_at <= ref.t_start) AS earlier,
             any_value(ref.t_start) AS t_start, any_value(ref.t_end) AS t_end
      FROM shares AS s, ref
      WHERE s.created_at <= ref.t_end
      GROUP BY s.kind, s.item_id
  ),
  rated AS (
      SELECT *,
             earlier / greatest(epoch(t_start - first_at) / $window_s, 1.0) AS earlier_rate
      FROM agg
  ),
  hits AS (
      SELECT * FROM rated WHERE recent >= $floor AND recent >= $ratio * earlier_rate
  )
  SELECT r.*,
         CASE WHEN r.earlier_rate > 0 THEN r.recent / r.earlier_rate END AS ratio,
         CASE WHEN r.kind = 'cascade' THEN left(rp.text, 280) ELSE n.label END AS label,
         CASE WHEN r.kind = 'cascade' THEN cs.amplification_score
              ELSE n.amplification_score END AS amplification_score
  FROM hits AS r
  LEFT JOIN cascades AS c ON r.kind = 'cascade' AND c.cascade_id = r.item_id
  LEFT JOIN (
      SELECT post_id, any_value(text) AS text FROM posts
      WHERE post_id IN (
          SELECT c.root_post_id FROM cascades AS c
          WHERE c.cascade_id IN (SELECT item_id FROM hits WHERE kind = 'cascade')
      )
      GROUP BY post_id
  ) AS rp ON rp.post_id = c.root_post_id
  LEFT JOIN cascade_scores AS cs ON r.kind = 'cascade' AND cs.cascade_id = r.item_id
  LEFT JOIN narratives AS n ON r.kind = 'narrative' AND n.narrative_id = r.item_id
"""

_ALERTS = ReportQuery(
    name="alerts",
    columns=(
        Column("kind", "x.kind", "text"),
        Column("item_id", "x.item_id", "item"),
        Column("label", "x.label", "text"),
        Column("recent_shares", "x.recent", "int"),
        Column("earlier_shares", "x.earlier", "int"),
        Column("earlier_rate", "x.earlier_rate", "real"),
        Column("ratio", "x.ratio", "real"),
        Column("window_start", "x.t_start", "time"),
        Column("window_end", "x.t_end", "time"),
        Column("first_at", "x.first_at", "time"),
        Column("amplification_score", "x.amplification_score", "real"),
        Column(
            "reason",
            """CASE WHEN x.earlier = 0 THEN
                   format('new: {} shares in the last {}, no earlier activity (floor {})',
                          x.recent, $window_label, $floor)
               ELSE
                   format('{} shares in the last {}, {}x its earlier rate of {} per {} (floor {})',
                          x.recent, $window_label, round(x.ratio, 1),
                          round(x.earlier_rate, 1), $window_label, $floor)
               END""",
            "text",
        ),
        Column("sort_ratio", "coalesce(x.ratio, 'inf'::DOUBLE)", "real", hidden=True),
    ),
    from_sql=f"FROM ({_ALERT_ITEMS}) AS x",
    order_by=("sort_ratio DESC", "recent_shares DESC", "kind", "item_id"),
    params=("window_s", "floor", "ratio", "window_label", "at"),
)
# media.csv (issue 13): one row per media group -- every copy of a picture or video
# with its first appearance and its reuse. Lists are space-separated.
_MEDIA = ReportQuery(
    name="media",
    columns=(
        Column("media_group_id", "g.media_group_id", "text"),
        Column("media_ids", "array_to_string(g.media_ids, ' ')", "text"),
        Column("first_post_id", "g.first_post_id", "text"),
        Column("first_account_id", "g.first_account_id", "account"),
        Column("first_at", "g.first_at", "time"),
        Column("posts", "g.posts", "int"),
        Column("accounts", "g.accounts", "int"),
        Column("platforms", "array_to_string(g.platforms, ' ')", "text"),
        Column("reused_after_days", "g.reused_after_days", "real"),
        Column("kind", "g.kind", "text"),
        Column("first_platform", "g.first_platform", "text"),
        Column("first_handle", "a.handle", "handle"),
        Column("last_at", "g.last_at", "time"),
        Column("reuses", "g.reuses", "int"),
        Column("out_of_context", "g.out_of_context", "int"),
        Column("bot_share", "g.bot_share", "real"),
        Column("coordinated_share", "g.coordinated_share", "real"),
        Column("label", "g.label", "text"),
    ),
    from_sql="""
  FROM media_groups AS g
  LEFT JOIN accounts AS a ON a.account_id = g.first_account_id""",
    order_by=("posts DESC", "media_group_id"),
)

# items.csv (issue 11): one row per item (url, text group, hashtag, media) with its
# origin -- the earliest poster -- and how much of it bot-like or coordinated accounts posted.
_ITEMS = ReportQuery(
    name="items",
    columns=(
        Column("item_id", "i.item_id", "item_ref"),
        Column("kind", "i.kind", "text"),
        Column("label", "i.label", "text"),
        Column("origin_account_id", "i.first_account_id", "account"),
        Column("origin_handle", "a.handle", "handle"),
        Column("first_at", "i.first_at", "time"),
        Column("posts", "i.posts", "int"),
        Column("accounts", "i.accounts", "int"),
        Column("bot_share", "i.bot_share", "real"),
        Column("coordinated_share", "i.coordinated_share", "real"),
        Column("first_post_id", "i.first_post_id", "post"),
        # the top candidate of the origin ranking (item_origin_scores; NULL when one
        # account posted it: then that account is the only candidate)
        Column("top_candidate_account_id", "o.account_id", "account"),
        Column("top_candidate_score", "o.origin_score", "real"),
        Column("top_candidate_reasons", "o.reasons", "text"),
    ),
    from_sql="""
  FROM items AS i
  LEFT JOIN accounts AS a ON a.account_id = i.first_account_id
  LEFT JOIN item_origin_scores AS o ON o.item_id = i.item_id AND o.rank = 1""",
    order_by=("posts DESC", "item_id"),
    key="item_id",
    keys_sql="SELECT item_id FROM items",
    changed_sql="""
  SELECT item_id AS key FROM items WHERE build_id > $since_build
  UNION ALL SELECT item_id FROM item_origin_scores WHERE build_id > $since_build
  UNION ALL SELECT key1 FROM row_changes
  WHERE build_id > $since_build AND table_name IN ('items', 'item_origin_scores')
  UNION ALL SELECT i.item_id FROM items AS i
  JOIN accounts AS a ON a.account_id = i.first_account_id WHERE a.ingest_run_id > $since_run""",
    logged="items",
)

REPORTS: tuple[ReportQuery, ...] = (
    _CASCADES,
    _ACCOUNTS,
    _NARRATIVES,
    _PAIRS,
    _CLUSTERS,
    _ALERTS,
    _MEDIA,
    _ITEMS,
)


def export_csv(
    store: Store,
    query: ReportQuery,
    path: Path,
    *,
    key: PseudonymKey | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    """Write ``query`` as UTF-8 CSV with a header to ``path``; return the row count.

    DuckDB's COPY writes the file; every text cell is quoted (so a separator inside
    it, ``,`` ``;`` tab or ``|``, never splits it, whatever separator the spreadsheet's
    locale uses); the caller owns temp names and renames.
    """
    con = store.con
    con.execute(SAFE_CELL_MACRO)
    sql = render(query, pseudonymize=key is not None)
    bound: dict[str, Any] = {name: (params or {})[name] for name in query.params}
    if key is not None and query.account_columns:
        bound |= {"ipad": key.ipad, "opad": key.opad}
    bound["out_path"] = str(path)
    quoted = ", ".join(
        f'"{c.name}"'
        for c in query.columns
        if not c.hidden and (c.kind == "text" or c.kind in PSEUDONYM_KINDS)
    )
    force = f", FORCE_QUOTE ({quoted})" if quoted else ""
    rows = con.execute(
        f"COPY ({sql}) TO $out_path (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"'{force})",
        bound,
    ).fetchone()
    return int(rows[0]) if rows else 0


def export_changes_csv(
    store: Store,
    query: ReportQuery,
    path: Path,
    *,
    since_build: int,
    since_run: int,
    key: PseudonymKey | None = None,
) -> dict[str, int]:
    """Write the rows of ``query`` added, updated or removed since build ``since_build``
    and ingest run ``since_run`` to ``path`` (:func:`render_changes`); return the count
    of each change.

    The candidate keys come from the build ids and ingest run ids of every table the
    file reads (and from ``row_changes`` for deleted rows); a key is *added* when it
    had no row at ``since_build`` (its primary table's first logged change after it
    says so), *removed* when it has none now, *updated* otherwise.
    """
    if query.key is None:
        raise ValueError(f"{query.name}: no changes file (written in full in every set)")
    con = store.con
    con.execute(SAFE_CELL_MACRO)
    if query.existed_sql is not None:
        existed = query.existed_sql
    else:
        existed = "coalesce(ev.existed, p.key IS NOT NULL)"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _rep_keys AS
        WITH cand AS (
            SELECT DISTINCT CAST(key AS VARCHAR) AS key FROM ({query.changed_sql}) AS x
            WHERE key IS NOT NULL
        ),
        p AS (SELECT key FROM cand WHERE key IN ({query.keys_sql})),
        first AS (
            SELECT key1, min(build_id) AS build_id FROM row_changes
            WHERE table_name = $logged AND build_id > $since_build
            GROUP BY key1
        ),
        ev AS (
            SELECT r.key1 AS key, bool_or(r.existed) AS existed
            FROM row_changes AS r JOIN first AS f USING (key1, build_id)
            WHERE r.table_name = $logged GROUP BY r.key1
        ),
        k AS (
            SELECT c.key, p.key IS NOT NULL AS present, {existed} AS existed
            FROM cand AS c LEFT JOIN p USING (key) LEFT JOIN ev USING (key)
        )
        SELECT key, CASE WHEN present AND existed THEN 'updated'
                         WHEN present THEN 'added' ELSE 'removed' END AS change
        FROM k WHERE present OR existed
        """,  # noqa: S608 -- fixed fragments of this module
        {
            "since_build": int(since_build),
            "since_run": int(since_run),
            "logged": query.logged or "",
        },
    )
    bound: dict[str, Any] = {"out_path": str(path)}
    if key is not None and query.account_columns:
        bound |= {"ipad": key.ipad, "opad": key.opad}
    quoted = ", ".join(
        f'"{c.name}"'
        for c in query.columns
        if not c.hidden and (c.kind == "text" or c.kind in PSEUDONYM_KINDS)
    )
    sql = render_changes(query, pseudonymize=key is not None)
    con.execute(
        f"COPY ({sql}) TO $out_path (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', "
        f'FORCE_QUOTE ("change", {quoted}))',
        bound,
    )
    counts = dict(con.execute("SELECT change, count(*) FROM _rep_keys GROUP BY 1").fetchall())
    con.execute("DROP TABLE _rep_keys")
    return {c: int(counts.get(c, 0)) for c in ("added", "updated", "removed")}


def watermarks(store: Store) -> tuple[int, int]:
    """The newest finished build id and ingest run id (0 when none): what a report
    reflects, and what the next changes set is computed since."""
    row = store.con.execute(
        "SELECT (SELECT coalesce(max(build_id), 0) FROM builds WHERE finished_at IS NOT NULL),"
        " (SELECT coalesce(max(ingest_run_id), 0) FROM ingest_runs)"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def changes_possible(store: Store, since_build: int) -> str | None:
    """None when the builds after ``since_build`` can be written as a changes set, else
    why not: a full build among them (it rewrites every row and empties the log), or
    builds from before the store logged its deleted rows."""
    con = store.con
    full = con.execute(
        "SELECT count(*) FROM builds WHERE build_id > ? AND mode <> 'incremental' "
        "AND finished_at IS NOT NULL",
        [int(since_build)],
    ).fetchall()[0][0]
    if full:
        return "a full build since the last report"
    row = con.execute("SELECT value FROM meta WHERE key = 'row_changes_from'").fetchall()
    if row and int(since_build) + 1 < int(row[0][0]):
        return (
            f"the store's log of removed rows starts after build {int(since_build)} "
            "(older builds, or pruned after a newer full set)"
        )
    return None


def prune_row_changes(store: Store, through_build: int) -> int:
    """Drop the ``row_changes`` rows of builds up to ``through_build``; return how many.

    Why: the log gains every inserted and deleted key of every incremental build, and
    only a full build emptied it, so a cron job's store grew it without end. A changes
    set since build ``s`` reads only the rows of builds after ``s``; the caller says
    which builds no report set it keeps can be written since. ``row_changes_from``
    moves past the pruned builds, so a changes set asked since an older build is
    written as a full set (:func:`changes_possible`), never with rows missing.
    """
    through = int(through_build)
    (n,) = store.con.execute(
        "SELECT count(*) FROM row_changes WHERE build_id <= ?", [through]
    ).fetchall()[0]
    if not n:  # nothing to drop: the log is still whole from where it says it starts
        return 0
    with store.transaction() as con:
        con.execute("DELETE FROM row_changes WHERE build_id <= ?", [through])
        con.execute(
            """
            INSERT OR REPLACE INTO meta
            SELECT 'row_changes_from', CAST(greatest(
                ?, coalesce(max(TRY_CAST(value AS BIGINT)), 0)) AS VARCHAR)
            FROM meta WHERE key = 'row_changes_from'
            """,
            [through + 1],
        )
    return int(n)


def latest_build(store: Store) -> dict[str, Any] | None:
    """The newest finished build (id, mode, params as JSON text, ISO times), or None."""
    row = store.con.execute(
        "SELECT build_id, mode, CAST(params AS VARCHAR), strftime(started_at, $iso), "
        "strftime(finished_at, $iso), posts, cascades_touched FROM builds "
        "WHERE finished_at IS NOT NULL ORDER BY build_id DESC LIMIT 1",
        {"iso": ISO_UTC},
    ).fetchone()
    if row is None:
        return None
    keys = ("build_id", "mode", "params", "started_at", "finished_at", "posts", "cascades_touched")
    return dict(zip(keys, row, strict=True))


def model_versions(store: Store) -> list[str]:
    """The bot-model versions behind the stored account scores (usually one)."""
    rows = store.con.execute(
        "SELECT DISTINCT model_version FROM account_scores ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]

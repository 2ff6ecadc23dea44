"""Column mappings: read a file whose columns are not spreadtrace's canonical ones.

Why: analysts rarely hold files in canonical columns. A mapping says which source
column (or constant, or SQL expression over source columns) gives each canonical
column, which kind of record the file holds, and how to read its times. DuckDB then
reads the file through the mapping as it reads a canonical file: set-wise, never a
Python loop per row.

A mapping comes from ``--map CANONICAL=SOURCE`` options, a TOML file (``--mapping
FILE``), or a shipped mapping by name (``--mapping german-elections``; see
``spreadtrace/data/mappings/``). TOML keys::

    kind = "posts"                 # posts (default) | accounts | follows
    time_format = "%d.%m.%Y %H:%M" # strptime, for times that are not ISO 8601 / epoch
    time_zone = "Europe/Berlin"    # for times without an offset (default UTC)
    [columns]                      # canonical = source column
    post_id = "content_id"
    [constants]                    # canonical = a fixed value
    platform = "telegram"
    [expressions]                  # canonical = a DuckDB SQL expression over source columns
    urls = "'url-' || url_id"

Expressions are parsed by DuckDB and checked before use: only source columns,
constants, operators and scalar functions; no subqueries, no table or aggregate
functions, nothing that reads files or settings (see
:func:`spreadtrace.store.ingest.check_expression`). Never Python ``eval``.

>>> m = Mapping.from_options(["post_id=content_id", "created_at=timestamp_share"])
>>> m.columns["post_id"], m.kind
('content_id', 'posts')
>>> suggest(("content_id", "account_id", "timestamp_share", "object_id"), "posts")["created_at"]
'timestamp_share'
"""

from __future__ import annotations

import json
import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from spreadtrace.canonical import ACCOUNTS_COLUMNS, FOLLOWS_COLUMNS, POSTS_INPUT_COLUMNS
from spreadtrace.errors import InputError

CANONICAL: dict[str, tuple[str, ...]] = {
    "posts": POSTS_INPUT_COLUMNS,
    "accounts": ACCOUNTS_COLUMNS,
    "follows": FOLLOWS_COLUMNS,
}
_KEYS = {"kind", "time_format", "time_zone", "columns", "constants", "expressions", "about"}


@dataclass(frozen=True)
class Mapping:
    """How a foreign file's columns become canonical ones (see the module docstring)."""

    kind: str = "posts"
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    expressions: dict[str, str] = field(default_factory=dict)
    time_format: str | None = None
    time_zone: str | None = None
    name: str | None = None  # where it came from: a shipped name, a file, or --map

    @property
    def renames(self) -> bool:
        """True when the mapping changes columns (not only how times are read)."""
        return bool(self.columns or self.constants or self.expressions)

    def targets(self) -> list[str]:
        """Canonical columns this mapping gives, in canonical order."""
        given = {*self.columns, *self.constants, *self.expressions}
        return [c for c in CANONICAL[self.kind] if c in given]

    def to_json(self) -> str:
        """The mapping as stored in ``ingest_runs.mapping``."""
        data = {
            "name": self.name,
            "kind": self.kind,
            "columns": self.columns,
            "constants": self.constants,
            "expressions": self.expressions,
            "time_format": self.time_format,
            "time_zone": self.time_zone,
        }
        return json.dumps({k: v for k, v in data.items() if v}, ensure_ascii=False)

    @classmethod
    def from_options(
        cls,
        maps: list[str] | tuple[str, ...] = (),
        *,
        base: Mapping | None = None,
        time_format: str | None = None,
        time_zone: str | None = None,
    ) -> Mapping:
        """``--map CANONICAL=SOURCE`` options (over ``base``, e.g. a mapping file)."""
        m = base or cls(name="--map" if maps else None)
        columns = dict(m.columns)
        constants = dict(m.constants)
        expressions = dict(m.expressions)
        for item in maps:
            target, sep, source = item.partition("=")
            target, source = target.strip(), source.strip()
            if not sep or not target or not source:
                raise InputError(f"--map {item!r}: write it as CANONICAL=SOURCE, e.g. post_id=id")
            columns[target] = source
            constants.pop(target, None)
            expressions.pop(target, None)
        out = replace(
            m,
            columns=columns,
            constants=constants,
            expressions=expressions,
            time_format=time_format or m.time_format,
            time_zone=time_zone or m.time_zone,
        )
        out.validate()
        return out

    def validate(self) -> None:
        """Raise InputError (one line) for unknown canonical names, kinds or zones."""
        if self.kind not in CANONICAL:
            raise InputError(f"mapping kind {self.kind!r} is not one of {', '.join(CANONICAL)}")
        allowed = CANONICAL[self.kind]
        for section in (self.columns, self.constants, self.expressions):
            for target, value in section.items():
                if target not in allowed:
                    raise InputError(
                        f"mapping names {target!r}, which is not a canonical {self.kind} "
                        f"column ({', '.join(allowed)})"
                    )
                if not isinstance(value, str) or not value:
                    raise InputError(f"mapping for {target!r} must be non-empty text")
        if self.time_zone:
            try:
                zoneinfo.ZoneInfo(self.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise InputError(
                    f"unknown time zone {self.time_zone!r}; use an IANA name such as "
                    "Europe/Berlin or UTC"
                ) from None
        if self.time_format is not None and "%" not in self.time_format:
            raise InputError(
                f"time format {self.time_format!r} has no % directive; "
                "write it as for strptime, e.g. %d/%m/%Y %H:%M"
            )

    def source_columns(self) -> set[str]:
        """Source columns named directly (expressions are checked by the store)."""
        return set(self.columns.values())


def shipped_mappings() -> dict[str, Path]:
    """Name -> path of the mappings that ship with spreadtrace (in the package)."""
    folder = resources.files("spreadtrace") / "data" / "mappings"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[: -len(".toml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def matching_shipped(columns: tuple[str, ...] | list[str], kind: str = "posts") -> list[str]:
    """Names of the shipped mappings written for files with exactly these columns.

    A shipped mapping matches when every source column it reads is in the file and every
    column of the file is named somewhere in the mapping (so a file with extra or other
    columns is not claimed by a mapping written for another dataset).

    >>> matching_shipped(["account_id", "post_id", "url_id", "hashtag_id", "domain_id",
    ...                   "phash_id", "timestamp"])
    ['german-elections']
    >>> matching_shipped(["id", "text"])
    []
    """
    found = []
    for name, path in shipped_mappings().items():
        mapping = load_mapping(path)
        if mapping.kind != kind:
            continue
        text = path.read_text(encoding="utf-8")
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        if mapping.source_columns() <= set(columns) and set(columns) <= words:
            found.append(name)
    return found


def mapping_hint(
    path: str | Path,
    columns: tuple[str, ...] | list[str],
    kind: str,
    required: tuple[str, ...],
) -> str:
    """What to pass so a file whose columns have other names can be read: a shipped
    mapping made for it, else ``--map`` options for the required columns, else inspect.

    >>> mapping_hint("x.csv", ["tweet_id", "user_id", "timestamp"], "posts",
    ...              ("post_id", "account_id", "created_at"))  # doctest: +NORMALIZE_WHITESPACE
    'pass --map post_id=tweet_id --map account_id=user_id --map created_at=timestamp
     (`spreadtrace inspect x.csv` suggests a full mapping)'
    """
    shipped = matching_shipped(columns, kind) if kind in CANONICAL else []
    if shipped and kind in CANONICAL:
        return f"its columns match the shipped mapping {shipped[0]}: pass --mapping {shipped[0]}"
    guess = suggest(columns, kind) if kind in CANONICAL else {}
    maps = [f"--map {c}={guess[c]}" for c in required if c in guess and guess[c] != c]
    if maps and all(c in guess for c in required):
        return f"pass {' '.join(maps)} (`spreadtrace inspect {path}` suggests a full mapping)"
    return (
        f"`spreadtrace inspect {path}` shows its columns and suggests a mapping (--map, --mapping)"
    )


def load_mapping(spec: str | Path) -> Mapping:
    """A mapping from a TOML file, or a shipped mapping by name (``german-elections``)."""
    path = Path(spec)
    if not path.exists():
        shipped = shipped_mappings()
        if str(spec) in shipped:
            path = shipped[str(spec)]
        else:
            raise InputError(f"no mapping file {spec}; shipped mappings: {', '.join(shipped)}")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; --mapping takes a TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML mapping ({exc})") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(
            f"{path}: unknown mapping key(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(sorted(_KEYS))}"
        )
    for section in ("columns", "constants", "expressions"):
        if not isinstance(data.get(section, {}), dict):
            raise InputError(f"{path}: [{section}] must be a table of name = value")
    mapping = Mapping(
        kind=data.get("kind", "posts"),
        columns={k: str(v) for k, v in data.get("columns", {}).items()},
        constants={k: str(v) for k, v in data.get("constants", {}).items()},
        expressions={k: str(v) for k, v in data.get("expressions", {}).items()},
        time_format=data.get("time_format"),
        time_zone=data.get("time_zone"),
        name=path.stem if path.parent.name == "mappings" else str(path),
    )
    mapping.validate()
    return mapping


# Likely source names for each canonical column, most specific first (lower case,
# compared after dropping non-alphanumerics). Drawn from the exports the shipped
# mappings cover (CrowdTangle, Junkipedia, 4CAT, CooRTweet, Pushshift, twarc-csv).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "post_id": ("postid", "id", "contentid", "messageid", "tweetid", "statusid", "itemid", "url"),
    "account_id": (
        "accountid",
        "authorid",
        "facebookid",
        "userid",
        "author",
        "user",
        "accounthandle",
        "username",
        "screenname",
        "from",
        "fromid",
        "channelid",
    ),
    "created_at": (
        "createdat",
        "unixtimestamp",
        "timestampshare",
        "timestamp",
        "postcreated",
        "created",
        "createdutc",
        "date",
        "posttimestamp",
        "publishedat",
        "time",
        "datetime",
    ),
    "parent_id": (
        "parentid",
        "objectid",
        "inreplytoid",
        "inreplytostatusid",
        "replytoid",
        "retweetedid",
        "sharedid",
    ),
    "kind": ("kind", "posttype", "messagetype"),
    "root_id": ("rootid", "conversationid", "linkid"),
    "text": ("text", "body", "message", "content", "fulltext", "description", "title"),
    "urls": ("urls", "url", "link", "links", "expandedurl", "urlid", "expandedlinks"),
    "hashtags": ("hashtags", "hashtag", "tags", "hashtagid"),
    "lang": ("lang", "language", "languagecode"),
    "platform": ("platform", "source", "network"),
    "media": ("media", "mediaurls", "images", "imageurl", "phashid", "photo"),
    "handle": ("handle", "username", "screenname", "accounthandle", "author"),
    "display_name": ("displayname", "name", "accountname", "pagename"),
    "followers_count": ("followerscount", "followers", "subscribercount", "accountsubscribercount"),
    "follower_id": ("followerid", "source", "from"),
    "followee_id": ("followeeid", "target", "to", "friendid"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def suggest(columns: tuple[str, ...] | list[str], kind: str = "posts") -> dict[str, str]:
    """Canonical column -> the source column that most likely holds it.

    Exact canonical names win; then each canonical column takes the first of its
    likely names (``_SYNONYMS``) that the file has and no other column took.
    """
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    out: dict[str, str] = {}
    taken: set[str] = set()
    targets = CANONICAL[kind]
    for target in targets:
        if target in columns:
            out[target] = target
            taken.add(target)
    for target in targets:
        if target in out:
            continue
        for candidate in _SYNONYMS.get(target, ()):
            source = by_norm.get(candidate)
            if source is not None and source not in taken:
                out[target] = source
                taken.add(source)
                break
    return {t: out[t] for t in targets if t in out}

# ruff: noqa: S608 -- only allow-listed column names and fixed fragments are spliced; values and paths are bound
"""The ingest SQL: stage a file's rows, validate them set-wise, merge them into the store.

Why here: only ``spreadtrace/store`` talks to DuckDB. Readers (``spreadtrace.ingest``)
decide *what* a file holds; this module does the heavy, set-wise part: a canonical CSV,
TSV, JSON Lines or Parquet file is read by DuckDB itself (``read_csv``/``read_parquet``,
never a Python loop per row), every row is validated in one SQL pass, rejected rows are
kept with a reason, duplicates are found with an anti-join and counted, and existing
posts only ever *gain* fields (their NULLs are filled from a re-ingested copy).

Staging works in three steps per file, inside the caller's transaction:

1. a *source* relation yields the canonical columns as VARCHAR plus ``record_no``
   (and ``raw`` for platform formats);
2. :func:`stage_posts` / :func:`stage_accounts` / :func:`stage_follows` type and validate
   it into a temp table with a ``reason`` column (NULL = good row);
3. :func:`merge_posts` / :func:`merge_accounts` / :func:`merge_follows` write the good
   rows and return the counts; :func:`write_rejects` and :func:`write_run` finish.

Column names come from the fixed lists below only; file names and values are bound
parameters.

>>> import duckdb
>>> con = duckdb.connect()
>>> _ = con.execute("SET TimeZone = 'UTC'")
>>> sql = f"SELECT strftime({ts_expr('x')}, '%Y-%m-%d %H:%M:%S') FROM (SELECT ? AS x)"
>>> [con.execute(sql, [x]).fetchone()[0] for x in ["0", "2024-05-01T12:00:00+02:00", "junk"]]
['1970-01-01 00:00:00', '2024-05-01 10:00:00', None]
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb

from spreadtrace.canonical import (
    ACCOUNT_COUNTS,
    ACCOUNT_FLAGS,
    ACCOUNTS_COLUMNS,
    ACCOUNTS_REQUIRED,
    FOLLOWS_COLUMNS,
    FOLLOWS_REQUIRED,
    LONE_SURROGATE,
    MEDIA_COLUMNS,
    MEDIA_KINDS,
    MEDIA_REQUIRED,
    POSTS_INPUT_COLUMNS,
    POSTS_LIST_COLUMNS,
    POSTS_REQUIRED,
)
from spreadtrace.errors import InputError

# The connection type and the "cannot read this file" errors, named here so that the
# ingest drivers need not import duckdb (only store/ talks to DuckDB).
Connection = duckdb.DuckDBPyConnection
# DuckDB errors that mean "this file cannot be read" (I/O, gzip, encoding, CSV shape).
# Anything else (binder, catalog ...) is a spreadtrace bug and must surface as such.
UNREADABLE = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)

COLUMNS = {
    "posts": POSTS_INPUT_COLUMNS,
    "accounts": ACCOUNTS_COLUMNS,
    "follows": FOLLOWS_COLUMNS,
    "media": MEDIA_COLUMNS,
}
REQUIRED = {
    "posts": POSTS_REQUIRED,
    "accounts": ACCOUNTS_REQUIRED,
    "follows": FOLLOWS_REQUIRED,
    "media": MEDIA_REQUIRED,
}

# Columns holding identifiers: trimmed, empty = missing.
_ID_COLUMNS = {
    "post_id",
    "account_id",
    "parent_id",
    "root_id",
    "follower_id",
    "followee_id",
    "handle",
    "media_id",
}

_SRC = {
    "posts": "_ing_src_posts",
    "accounts": "_ing_src_accounts",
    "follows": "_ing_src_follows",
    "media": "_ing_src_media",
}
_STAGE = {
    "posts": "_ing_posts",
    "accounts": "_ing_accounts",
    "follows": "_ing_follows",
    "media": "_ing_media",
}


def _q(name: str) -> str:
    """Quote an identifier from the fixed allow-lists above."""
    known = (
        set(POSTS_INPUT_COLUMNS) | set(ACCOUNTS_COLUMNS) | set(FOLLOWS_COLUMNS) | set(MEDIA_COLUMNS)
    )
    if name not in known:
        raise ValueError(f"not a canonical column: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class TimeSpec:
    """How to read times that are not ISO 8601 with an offset.

    ``format``: a strptime format (``%d/%m/%Y %H:%M``) tried after ISO 8601 and epoch
    numbers; ``zone``: an IANA time zone (``Europe/Berlin``) for times written without
    an offset (default UTC). Both are validated before they reach SQL.
    """

    format: str | None = None
    zone: str | None = None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Epoch numbers by magnitude: |v| < 1e11 seconds (up to year 5138), < 1e14 milliseconds,
# < 1e17 microseconds. Dates before 1973-03-03 in milliseconds look like seconds of a far
# future year and are then rejected as out of range, never misread.
# One to_timestamp over a divisor picked by magnitude: half the cost of one
# to_timestamp per branch on a 5M-row file of epoch times (bench/RESULTS.md).
_EPOCH = (
    "to_timestamp({d} / CASE WHEN abs({d}) < 1e11 THEN 1 WHEN abs({d}) < 1e14 THEN 1e3 "
    "WHEN abs({d}) < 1e17 THEN 1e6 END)"
)


def ts_expr(x: str, spec: TimeSpec | None = None) -> str:
    """SQL turning VARCHAR ``x`` into a TIMESTAMPTZ (NULL when it does not parse).

    Accepts ISO 8601 (with an offset or ``Z``; without one, UTC or ``spec.zone``), Unix
    epoch seconds, milliseconds or microseconds (integer or decimal, told apart by
    magnitude, see ``_EPOCH``), and ``spec.format`` when given. Combine with
    :func:`_ts_ok`, which also refuses years outside 1900..2199. Written without
    subqueries: it runs over millions of rows.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> q = "SELECT strftime({}, '%Y-%m-%d %H:%M:%S')"
    >>> [con.execute(q.format(ts_expr(f"'{v}'"))).fetchall()[0][0]
    ...  for v in ("1714557600", "1714557600000", "1714557600000000.0", "1714557600.5")]
    ['2024-05-01 10:00:00', '2024-05-01 10:00:00', '2024-05-01 10:00:00', '2024-05-01 10:00:00']
    """
    spec = spec or TimeSpec()
    d = f"TRY_CAST({x} AS DOUBLE)"
    if spec.zone:
        # Naive text is wall time in the zone; text with an offset or Z keeps it.
        iso = (
            f"CASE WHEN regexp_matches({x}, '(Z|z|[+-][0-9][0-9](:?[0-9][0-9])?)\\s*$') "
            f"THEN TRY_CAST({x} AS TIMESTAMPTZ) "
            f"ELSE timezone({_literal(spec.zone)}, TRY_CAST({x} AS TIMESTAMP)) END"
        )
    else:
        iso = f"TRY_CAST({x} AS TIMESTAMPTZ)"
    parts = [
        iso,
        f"CASE WHEN regexp_full_match({x}, '\\s*-?[0-9]+(\\.[0-9]+)?\\s*') "
        f"THEN TRY({_EPOCH.format(d=d)}) END",
    ]
    if spec.format:
        parsed = f"TRY_STRPTIME({x}, {_literal(spec.format)})"
        if "%z" in spec.format or "%Z" in spec.format:
            parts.append(f"{parsed}::TIMESTAMPTZ")
        else:
            zone = _literal(spec.zone or "UTC")
            parts.append(f"timezone({zone}, {parsed}::TIMESTAMP)")
    return f"coalesce({', '.join(parts)})"


# Text that parsed as a time but is not one: no digit at all (DuckDB reads the word
# ``epoch`` as 1970-01-01 and ``infinity`` as year 9999), or a UTC offset beyond the
# +-14:00 real zones use (DuckDB shifts ``+99:00`` by 99 hours). One regular expression
# per row, evaluated only for rows whose time is otherwise fine (bench/RESULTS.md).
_BAD_TIME_TEXT = (
    r"^[^0-9]*$|[0-9]:[0-9][0-9](:[0-9][0-9](\.[0-9]*)?)?\s*"
    r"[+-](1[5-9]|[2-9][0-9]|14:?(0[1-9]|[1-5][0-9]))(:?[0-9][0-9])?\s*$"
)


def _time_reasons(col: str, t: str, *, optional: bool = False) -> str:
    """CASE branches giving why text ``col`` (parsed as ``t``) is not a usable time.

    ``optional``: a missing time is fine (account and follow times); otherwise the
    caller has refused a missing one before.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> q = "SELECT CASE {} END FROM (SELECT x AS created_at, {} AS _ts FROM (SELECT ? AS x))"
    >>> q = q.format(_time_reasons("created_at", "_ts"), ts_expr("x"))
    >>> for v in ("2024-05-01T10:00:00+14:00", "9999-01-01", "soon", "epoch",
    ...           "2024-05-01T10:00:00+99:00", "1714557600"):
    ...     print(con.execute(q, [v]).fetchone()[0])
    None
    created_at out of range (not in 1900-2199)
    unparseable created_at
    unparseable created_at
    created_at offset beyond +-14:00
    None
    """
    given = f"{col} IS NOT NULL AND " if optional else ""
    return f"""
          WHEN {given}NOT {_ts_ok(t)} THEN CASE
            WHEN ({t} IS NOT NULL AND regexp_matches({col}, '[0-9]'))
              OR regexp_full_match({col}, '\\s*-?[0-9]+(\\.[0-9]+)?\\s*')
            THEN '{col} out of range (not in 1900-2199)' ELSE 'unparseable {col}' END
          WHEN {given}regexp_matches({col}, {_literal(_BAD_TIME_TEXT)})
            THEN CASE WHEN regexp_matches({col}, '[0-9]')
              THEN '{col} offset beyond +-14:00' ELSE 'unparseable {col}' END"""


def _nul_reason(columns: Sequence[str]) -> str:
    """A CASE branch refusing a record with a NUL character in any field.

    Why: NUL is no character of any real text; it truncates ids in C libraries and
    makes XML exports invalid, so such a record is a reject rather than a stored post.
    """
    joined = ", ".join(_q(c) for c in columns)
    return f"WHEN strpos(concat({joined}), chr(0)) > 0 THEN 'NUL byte in a field'"


def _ts_ok(t: str) -> str:
    # True when ``t`` lies in 1900-01-01 .. 2199-12-31 23:59:59.999999 UTC; NULL
    # (unparseable) counts as not ok. One reference to ``t``: DuckDB inlines it into
    # the filter, and every reference re-parses the text (a BETWEEN is two), which
    # cost ~25% of a 5M-row bulk insert. |2e - (lo + hi)| <= hi - lo on epoch
    # microseconds, in HUGEINT so that no timestamp can overflow it.
    lo, hi = -2_208_988_800_000_000, 7_258_118_399_999_999
    return f"coalesce(abs(epoch_us({t})::HUGEINT * 2 - {lo + hi}) <= {hi - lo}, false)"


MAX_LINE_SIZE = 4_000_000
"""The longest line of a canonical CSV/TSV/JSON Lines file (DuckDB's ``max_line_size``);
a longer line is a reject ('malformed line: line size over maximum'). DuckDB records
such lines up to ~64 MiB and drops longer ones silently, so the ingest driver finds
them itself (:func:`add_refused_lines`)."""


NUL_LINE = "NUL byte in line (a line of only NUL bytes)"
"""A JSON line made only of NUL bytes: DuckDB returns it as an empty line (numbered, then
dropped as blank), so the reader finds it itself (``ingest.files._refused_lines``)."""


def add_refused_lines(con: duckdb.DuckDBPyConnection, lines: Sequence[tuple[int, str, str]]) -> int:
    """Add lines the reader found refusable but the parser left out of its rejects.

    ``lines``: (physical line number, raw text, reason). A line already among the
    parser's rejects is not added twice. Returns how many were added.
    """
    if not lines:
        return 0
    before = count_source_rejects(con)
    con.executemany(
        "INSERT INTO _ing_src_rejects SELECT ?, ?, ? WHERE NOT EXISTS "
        "(SELECT 1 FROM _ing_src_rejects WHERE record_no = ?)",
        [[line, raw, reason, line] for line, raw, reason in lines],
    )
    return count_source_rejects(con) - before


# --- sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A SQL relation yielding canonical VARCHAR columns plus ``record_no`` and ``raw``.

    ``raw`` may be an expression over the columns (evaluated for rejected rows only).
    ``params`` are bound in order. ``parser_rejects`` names the DuckDB rejects table of a
    CSV scan, whose lines become rejects after the scan.
    """

    sql: str
    params: list[object]
    raw: str = "raw"  # a column of the source, or an expression over canonical columns
    parser_rejects: str | None = None
    line_reason: bool = False  # the source flags whole lines (broken JSON) itself
    passthrough: tuple[str, ...] = ()  # source columns the raw expression needs
    count_sql: str | None = None  # a cheap count of the records the reader accepts
    nul_delimited: bool = False  # whole lines read with NUL as the (never seen) delimiter
    times: TimeSpec = TimeSpec()  # how to read times that are not ISO 8601 with an offset

    def unnumbered(self) -> Source:
        """The same scan without record numbers, for the bulk insert that needs none:
        a window function in an INSERT pipeline costs ~15% of a 5M-row load."""
        return replace(self, sql=self.sql.replace(_ROW_NUMBER, "NULL::BIGINT AS record_no"))

    def rescan(self) -> Source:
        """The same scan for a second pass: bad lines recorded elsewhere, not again.

        Why not ``ignore_errors``: the parser does not always split a damaged file
        (say, an unterminated quote) the same way with it as with ``store_rejects``,
        and a second pass must see exactly the records the first one did.
        """
        sql = self.sql.replace(_STORE_REJECTS, _RESCAN_REJECTS)
        return replace(self, sql=sql, parser_rejects=None)

    def raw_in(self) -> str:
        return "raw" if self.raw == "raw" else "NULL::VARCHAR"

    def raw_out(self) -> str:
        return "_raw_in" if self.raw == "raw" else self.raw

    def line_reason_in(self) -> str:
        keep = "".join(f", {c}" for c in self.passthrough)
        return ("line_reason" if self.line_reason else "NULL::VARCHAR") + " AS _line_reason" + keep


_ROW_NUMBER = "row_number() OVER () AS record_no"
_STORE_REJECTS = (
    "store_rejects = true, rejects_table = '_ing_csv_rejects', rejects_scan = '_ing_csv_scan'"
)
_RESCAN_REJECTS = (
    "store_rejects = true, rejects_table = '_ing_csv_rejects2', rejects_scan = '_ing_csv_scan2'"
)


def _present_or_null(col: str, present: set[str]) -> str:
    return f"{_q(col)}" if col in present else f"NULL::VARCHAR AS {_q(col)}"


def csv_source(
    path: str,
    kind: str,
    header: tuple[str, ...],
    delim: str,
    *,
    lenient: bool = False,
    names: dict[str, str] | None = None,
) -> Source:
    """A canonical CSV/TSV file (``.gz`` ok) read by DuckDB as all-VARCHAR.

    ``header`` is the file's header as parsed by the caller: DuckDB reads positional
    columns ``c0, c1, ...`` (no sniffing, so odd content cannot derail detection) and
    the canonical names are mapped onto positions; unknown columns are ignored, a
    repeated name uses its first position. Malformed lines (wrong number of fields,
    invalid UTF-8, an unterminated quote) are kept by DuckDB's ``store_rejects`` and
    become rejects with their line number.

    ``lenient`` is the fallback for files DuckDB's strict parser gives up on as a whole
    (e.g. a bare carriage return inside a line): lines are read non-strictly, short
    lines are padded, and an extra sentinel column flags lines with too many fields.
    """
    position: dict[str, int] = {}
    for i, name in enumerate(header):
        position.setdefault(name, i)
    n = len(header) + (1 if lenient else 0)
    types = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n)) + "}"
    if names is None:  # canonical columns by their own names
        cols = ", ".join(
            f"c{position[c]} AS {_q(c)}" if c in position else f"NULL::VARCHAR AS {_q(c)}"
            for c in COLUMNS[kind]
        )
    else:  # source columns for a mapping (see mapped_source)
        cols = ", ".join(f"c{position[src]} AS {ident(out)}" for out, src in names.items())
    # Raw text of a row that parsed but failed validation: its fields re-joined.
    raw = (
        "concat_ws("
        + ("chr(9)" if delim == "\t" else "','")
        + ", "
        + ", ".join(f"coalesce(_raw_c{i}, '')" for i in range(n))
        + ")"
    )
    extra = f"c{n - 1}" if lenient else "NULL"
    options = "strict_mode = false, null_padding = true" if lenient else "strict_mode = true"
    sql = (
        "SELECT row_number() OVER () AS record_no, "
        + ", ".join(f"c{i} AS _raw_c{i}" for i in range(n))
        + f", {cols}, CASE WHEN {extra} IS NOT NULL "
        "THEN 'malformed line: too many columns' END AS line_reason "
        f"FROM read_csv(?, columns = {types}, header = true, auto_detect = false, "
        f"delim = ?, quote = '\"', escape = '\"', {_STORE_REJECTS}, "
        f"max_line_size = {MAX_LINE_SIZE}, {options})"
    )
    count_sql = (
        f"SELECT count(*) FROM read_csv(?, columns = {types}, header = true, "
        f"auto_detect = false, delim = ?, quote = '\"', escape = '\"', {_RESCAN_REJECTS}, "
        f"max_line_size = {MAX_LINE_SIZE}, {options})"
    )
    return Source(
        sql,
        [path, delim],
        raw,
        parser_rejects="_ing_csv_rejects",
        line_reason=True,
        passthrough=tuple(f"_raw_c{i}" for i in range(n)),
        count_sql=count_sql,
    )


# A line DuckDB's JSON parser refuses: a lone surrogate escape if the line parses once
# every surrogate escape is swapped for an ordinary character (pairs are swapped too,
# harmlessly: only validity is asked), else broken. Only invalid lines pay the regex.
_BROKEN_LINE = (
    r"CASE WHEN json_valid(regexp_replace(line, '\\u[dD][89a-fA-F][0-9a-fA-F]{2}', "
    r"'\\ufffd', 'g')) THEN '" + LONE_SURROGATE.replace("'", "''") + "' "
    "ELSE 'broken JSON line' END"
)


def jsonl_source(path: str, kind: str, names: dict[str, str] | None = None) -> Source:
    """A canonical JSON Lines file (``.gz`` ok): each line read whole by DuckDB, then
    parsed with DuckDB's JSON functions, so a broken line is a reject, not an error.

    Values may be strings or numbers; ``urls``/``hashtags`` may also be JSON arrays.
    """

    def field(c: str) -> str:
        path_ = f"'$.{c}'"
        if c in ("urls", "hashtags", "media", "frames"):
            return (
                f"CASE WHEN json_type(obj, {path_}) = 'ARRAY' "
                f"THEN array_to_string(json_extract_string(obj, '$.{c}[*]'), ' ') "
                f"ELSE json_extract_string(obj, {path_}) END AS {_q(c)}"
            )
        return f"json_extract_string(obj, {path_}) AS {_q(c)}"

    if names is None:
        cols = ", ".join(field(c) for c in COLUMNS[kind])
    else:  # source keys for a mapping: scalars as text, arrays space-joined
        cols = ", ".join(
            f"CASE WHEN json_type(obj, {_json_path(key)}) = 'ARRAY' "
            f"THEN array_to_string(json_extract_string(obj, {_json_path(key, '[*]')}), ' ') "
            f"ELSE json_extract_string(obj, {_json_path(key)}) END AS {ident(out)}"
            for out, key in names.items()
        )
    sql = (
        f"SELECT record_no, line AS raw, {cols}, "
        f"CASE WHEN NOT json_valid(line) THEN {_BROKEN_LINE} "
        "WHEN obj IS NULL THEN 'JSON line is not an object' END AS line_reason "
        "FROM (SELECT record_no, line, CASE WHEN json_valid(line) "
        "AND json_type(CASE WHEN json_valid(line) THEN line END) = 'OBJECT' "
        "THEN line::JSON END AS obj "
        "FROM (SELECT row_number() OVER () AS record_no, line "
        "FROM read_csv(?, columns = {'line': 'VARCHAR'}, header = false, delim = ?, "
        "quote = '', escape = '', auto_detect = false, store_rejects = true, "
        "rejects_table = '_ing_csv_rejects', rejects_scan = '_ing_csv_scan', "
        f"max_line_size = {MAX_LINE_SIZE})) "
        "WHERE trim(line) <> '')"
    )
    count_sql = (
        "SELECT count(*) FROM read_csv(?, columns = {'line': 'VARCHAR'}, header = false, "
        f"delim = ?, quote = '', escape = '', auto_detect = false, {_RESCAN_REJECTS}, "
        f"max_line_size = {MAX_LINE_SIZE}) WHERE trim(line) <> ''"
    )
    return Source(
        sql,
        [path, "\x00"],  # NUL: no line of text holds it (a line that does is a reject)
        "raw",
        parser_rejects="_ing_csv_rejects",
        line_reason=True,
        count_sql=count_sql,
        nul_delimited=True,
    )


def parquet_columns(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, str]:
    """Column name -> DuckDB type of a Parquet file."""
    rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    return {r[0]: r[1] for r in rows}


def parquet_source(
    path: str, kind: str, types: dict[str, str], names: dict[str, str] | None = None
) -> Source:
    """A canonical Parquet file; typed columns are turned to VARCHAR and re-validated."""

    def field(out: str, c: str) -> str:
        if c not in types:
            return f"NULL::VARCHAR AS {ident(out)}"
        if types[c].endswith("[]"):
            return f"array_to_string({ident(c)}, ' ') AS {ident(out)}"
        if types[c].startswith("TIMESTAMP"):
            return f"strftime({ident(c)}::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%S.%f%z') AS {ident(out)}"
        return f"CAST({ident(c)} AS VARCHAR) AS {ident(out)}"

    pairs = names.items() if names is not None else ((c, c) for c in COLUMNS[kind])
    cols = ", ".join(field(out, c) for out, c in pairs)
    sql = f"SELECT file_row_number + 1 AS record_no, {cols} FROM read_parquet(?, file_row_number = true)"
    raw = "to_json(struct_pack(" + ", ".join(f"{_q(c)} := {_q(c)}" for c in COLUMNS[kind]) + "))"
    return Source(sql, [path], raw, count_sql="SELECT count(*) FROM read_parquet(?)")


def ident(name: str) -> str:
    """Quote any identifier (a source column of a mapped file) for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


def _json_path(key: str, suffix: str = "") -> str:
    # '$."key"' as a SQL literal: the key quoted for JSON path, the whole for SQL.
    if '"' in key or "\\" in key:
        raise InputError(f"JSON key {key!r} cannot be mapped (it contains a quote)")
    return "'" + ('$."' + key + '"' + suffix).replace("'", "''") + "'"


def mapped_source(base: Source, kind: str, exprs: dict[str, str]) -> Source:
    """Canonical columns computed from a source's own columns (a column mapping).

    ``base`` yields the source columns a mapping reads (by their source names, see the
    ``names`` argument of the sources above) plus its record numbers and raw text;
    ``exprs`` gives each mapped canonical column as SQL over them (checked by
    :func:`check_expression`). One projection more over the same scan: DuckDB reads
    the file exactly as for a canonical one.
    """
    keep = ["record_no"]
    if base.raw == "raw":
        keep.append("raw")
    keep += list(base.passthrough)
    if base.line_reason:
        keep.append("line_reason")
    cols = ", ".join(
        f"CAST(({exprs[c]}) AS VARCHAR) AS {_q(c)}" if c in exprs else f"NULL::VARCHAR AS {_q(c)}"
        for c in COLUMNS[kind]
    )
    return replace(base, sql=f"SELECT {', '.join(keep)}, {cols} FROM ({base.sql}) AS _mapped")


# Scalar functions a mapping expression may not call: they read the environment or
# settings, or change state.
_DENIED_FUNCTIONS = {
    "getenv",
    "current_setting",
    "nextval",
    "currval",
    "setseed",
    "random",
    "uuid",
    "gen_random_uuid",
    "current_query",
}
_REFUSED_NODES = {"SUBQUERY", "STAR", "WINDOW", "PARAMETER", "DEFAULT", "POSITIONAL_REFERENCE"}


def check_expression(con: duckdb.DuckDBPyConnection, expr: str) -> set[str]:
    """The source columns a mapping expression reads; InputError if it is not allowed.

    Why parse rather than trust: a mapping file may come from anyone. DuckDB's own
    parser (``json_serialize_sql``) gives the expression's syntax tree; it must be one
    expression with no FROM, no subquery, window or parameter, and call only scalar
    functions (no table or aggregate functions, nothing in ``_DENIED_FUNCTIONS``).
    Column names are returned for the caller to match against the file's columns.

    >>> con = duckdb.connect()
    >>> sorted(check_expression(con, "CASE WHEN starts_with(a, 'fb_') THEN 'facebook' END || b"))
    ['a', 'b']
    >>> check_expression(con, "(SELECT 1)")
    Traceback (most recent call last):
    spreadtrace.errors.InputError: mapping expression '(SELECT 1)' may not contain a subquery
    """
    if any(token in expr for token in ("--", "/*", ";")):
        raise InputError(f"mapping expression {expr!r} may not contain comments or ';'")
    (tree,) = con.execute("SELECT json_serialize_sql(?)", ["SELECT " + expr]).fetchall()[0]
    tree = json.loads(tree)
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise InputError(f"mapping expression {expr!r} is not one SQL expression")
    node = tree["statements"][0]["node"]
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or (node.get("from_table") or {}).get("type") not in (None, "EMPTY_FROM", "EMPTY")
        or node.get("where_clause")
        or node.get("group_expressions")
        or node.get("modifiers")
        or node.get("cte_map", {}).get("map")
    ):
        raise InputError(f"mapping expression {expr!r} is not one SQL expression")
    (scalars,) = con.execute(
        "SELECT list(DISTINCT lower(function_name)) FROM duckdb_functions() "
        "WHERE function_type IN ('scalar', 'macro')"
    ).fetchall()[0]
    allowed = set(scalars) - _DENIED_FUNCTIONS
    columns: set[str] = set()
    lambda_params: set[str] = set()

    def walk(item: object) -> None:
        if isinstance(item, list):
            for x in item:
                walk(x)
            return
        if not isinstance(item, dict):
            return
        cls = item.get("class")
        if cls in _REFUSED_NODES:
            what = {"SUBQUERY": "a subquery", "WINDOW": "a window function"}.get(cls, cls.lower())
            raise InputError(f"mapping expression {expr!r} may not contain {what}")
        if cls == "FUNCTION":
            name = str(item.get("function_name", "")).lower()
            if item.get("schema") not in ("", "main", None) or name not in allowed:
                raise InputError(
                    f"mapping expression {expr!r} calls {name!r}, which is not an allowed "
                    "scalar function"
                )
        if cls == "LAMBDA":
            lhs = item.get("lhs") or {}
            for ref in lhs.get("children", []) if lhs.get("class") != "COLUMN_REF" else [lhs]:
                lambda_params.update(ref.get("column_names", [])[-1:])
        if cls == "COLUMN_REF":
            names = item.get("column_names", [])
            if len(names) != 1:
                raise InputError(
                    f"mapping expression {expr!r}: write source columns unqualified, not "
                    f"{'.'.join(names)}"
                )
            columns.add(names[0])
        for value in item.values():
            walk(value)

    walk(node["select_list"])
    return columns - lambda_params


def create_source_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty VARCHAR temp tables that Python readers (platform formats) append to."""
    for kind, table in _SRC.items():
        cols = ", ".join(f"{_q(c)} VARCHAR" for c in COLUMNS[kind])
        con.execute(f"CREATE TEMP TABLE {table} (record_no BIGINT, raw VARCHAR, {cols})")
    con.execute(
        "CREATE TEMP TABLE _ing_src_rejects (record_no BIGINT, raw VARCHAR, reason VARCHAR)"
    )


def append_source(con: duckdb.DuckDBPyConnection, kind: str, batch: object) -> None:
    """Append a batch (a pyarrow Table with ``record_no``, ``raw`` and canonical columns)."""
    table = _SRC[kind] if kind != "rejects" else "_ing_src_rejects"
    con.register("_ing_batch", batch)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _ing_batch")
    finally:
        con.unregister("_ing_batch")


def table_source(kind: str) -> Source:
    """The temp table filled by :func:`append_source`."""
    cols = ", ".join(_q(c) for c in COLUMNS[kind])
    return Source(f"SELECT record_no, raw, {cols} FROM {_SRC[kind]}", [], "raw")


# --- staging + validation ----------------------------------------------------------------


def _norm(c: str) -> str:
    if c in _ID_COLUMNS:
        return f"nullif(trim({_q(c)}), '') AS {_q(c)}"
    return f"nullif({_q(c)}, '') AS {_q(c)}"


def _posts_select(source: Source) -> str:
    """The typed, validated posts of ``source``.

    Columns: record_no, post_id, account_id, created_at (TIMESTAMPTZ), parent_id,
    kind_given, kind, root_id, text, urls, hashtags (VARCHAR[]), lang, platform,
    media (VARCHAR[]; hash prefixes and hex lower-cased), reason (NULL = good), raw (only
    for rejected rows).
    """
    norm = ", ".join(_norm(c) for c in POSTS_INPUT_COLUMNS)
    split = "list_filter(string_split({0}, ' '), lambda x: x <> '')"
    lists = ", ".join(
        f"CASE WHEN {c} IS NOT NULL THEN {split.format(c)} END AS {c}"
        for c in POSTS_LIST_COLUMNS
        if c != "media"  # _media: hash forms lower-cased, checked below
    )
    return f"""
    SELECT record_no, post_id, account_id, _ts AS created_at, parent_id,
           _kind_given AS kind_given, _kind AS kind, root_id, text, {lists},
           lang, platform, _media AS media, platform_meta, _reason AS reason,
           CASE WHEN _reason IS NOT NULL THEN {source.raw_out()} END AS raw
    FROM (
      SELECT *,
        CASE
          WHEN _line_reason IS NOT NULL THEN _line_reason
          WHEN post_id IS NULL THEN 'missing post_id'
          WHEN account_id IS NULL THEN 'missing account_id'
          WHEN created_at IS NULL THEN 'missing created_at'
          {_nul_reason(POSTS_INPUT_COLUMNS)}
          {_time_reasons("created_at", "_ts")}
          WHEN parent_id = post_id THEN 'parent_id equals post_id'
          WHEN NOT list_contains(['original', 'repost', 'quote', 'reply'], _kind)
            THEN 'unknown kind'
          WHEN _kind = 'original' AND parent_id IS NOT NULL
            THEN 'kind original with a parent_id'
          WHEN len(list_filter(_media, lambda m: {_BAD_MEDIA_REF})) > 0
            THEN 'malformed media reference (pdq: and sha256: take 64 hex digits, phash: hex)'
          WHEN platform_meta IS NOT NULL AND NOT coalesce(json_valid(platform_meta), false)
            THEN 'platform_meta is not JSON'
        END AS _reason
      FROM (
        SELECT *,
          {ts_expr("created_at", source.times)} AS _ts,
          lower(trim(kind)) AS _kind_given,
          coalesce(lower(trim(kind)),
                   CASE WHEN parent_id IS NULL THEN 'original' ELSE 'repost' END) AS _kind,
          {_MEDIA_REFS} AS _media
        FROM (SELECT record_no, {source.raw_in()} AS _raw_in,
                     {source.line_reason_in()}, {norm}
              FROM ({source.sql}) s) n
      ) t
    ) v
    """


# A post's media references as a list; the hash forms (pdq:, phash:, sha256:) are
# lower-cased so that the same hash written twice is the same reference.
_MEDIA_REFS = (
    "CASE WHEN media IS NOT NULL THEN list_transform("
    "list_filter(string_split(media, ' '), lambda x: x <> ''), "
    "lambda m: CASE WHEN regexp_matches(m, '^(?i:pdq|phash|sha256):') THEN lower(m) "
    "ELSE m END) END"
)
_BAD_MEDIA_REF = (
    "(m LIKE 'pdq:%' AND NOT regexp_full_match(m, 'pdq:[0-9a-f]{64}')) "
    "OR (m LIKE 'sha256:%' AND NOT regexp_full_match(m, 'sha256:[0-9a-f]{64}')) "
    "OR (m LIKE 'phash:%' AND NOT regexp_full_match(m, 'phash:[0-9a-f]+'))"
)


def stage_posts(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Type and validate posts from ``source`` into temp table ``_ing_posts``."""
    con.execute(f"CREATE TEMP TABLE _ing_posts AS {_posts_select(source)}", source.params)


def limited(source: Source, rows: int) -> Source:
    """The first ``rows`` records of a source (for a preview)."""
    return replace(source, sql=f"SELECT * FROM ({source.sql}) LIMIT {int(rows)}")


def preview(
    con: duckdb.DuckDBPyConnection, kind: str, source: Source, rows: int
) -> list[dict[str, object]]:
    """The first ``rows`` records of ``source`` typed and validated as ingest would
    (times as ISO 8601 UTC text, lists as lists, ``reason`` set for a reject)."""
    if kind == "posts":
        stage_posts(con, source)
    elif kind == "accounts":
        stage_accounts(con, source, datetime.now().astimezone())
    else:
        stage_follows(con, source)
    cols = [c for c in COLUMNS[kind] if c != "kind"] + (["kind"] if kind == "posts" else [])
    cols = [c for c in cols if c in _stage_columns(con, kind)]
    shown = ", ".join(
        f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}" if c in ("created_at", "observed_at") else c
        for c in cols
    )
    cursor = con.execute(
        f"SELECT {shown}, reason FROM {_STAGE[kind]} ORDER BY record_no LIMIT {int(rows)}"
    )
    names = [d[0] for d in cursor.description]
    out = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    drop_staging(con)
    return out


def _stage_columns(con: duckdb.DuckDBPyConnection, kind: str) -> set[str]:
    rows = con.execute(f"DESCRIBE {_STAGE[kind]}").fetchall()
    return {r[0] for r in rows}


def posts_empty(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the store holds no posts yet (the bulk path applies)."""
    return _one(con, "SELECT count(*) FROM (SELECT 1 FROM posts LIMIT 1)") == 0


@contextmanager
def insertion_order_restored(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Restore the connection's ``preserve_insertion_order`` after the block.

    A failed statement aborts the transaction, and no SET runs until it is rolled
    back; then the restore is left to an outer ``insertion_order_restored`` around
    the transaction (the ingest driver has one).
    """
    (previous,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0]
    ok = False
    try:
        yield
        ok = True
    finally:
        try:
            con.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")
        except duckdb.TransactionException:
            if ok:
                raise


def bulk_load_posts(
    con: duckdb.DuckDBPyConnection, source: Source, run_id: int, *, lines: int | None = None
) -> Counts:
    """Load a canonical posts file into an *empty* ``posts`` table, without staging.

    Why: the first load is the big one (a backfill of millions of posts). Staging every
    row in a temp table and copying it again costs about as much as reading the file,
    so here the good rows go straight from DuckDB's reader into ``posts`` (one parse,
    one write, like a plain ``CREATE TABLE AS``).

    The insert runs with ``preserve_insertion_order = false``: with order preserved,
    DuckDB's batch insert leaves a dozen part-filled row groups behind at 5M rows,
    which the next checkpoint merges and rewrites (~3 s of CPU, ~30% of the insert).
    Nothing here depends on the physical row order: file order is the record number.

    Were any records refused by validation? ``lines`` (the file's data lines, counted
    while hashing, when known) settles it for free when every line is either a stored
    post or a line the parser refused: each record occupies at least one line, so
    equality leaves no room for a rejected one. Otherwise a count of the records the
    reader accepts (it tokenises, but types and keeps nothing) says so cheaply, and
    only when they differ does a narrow scan keep the rejected rows' numbers and
    reasons (their raw text by a third scan). Duplicates inside the file are merged
    from a rescan in record order (earliest copy wins, its NULLs filled from the later
    ones), with the same SQL as the staged path.
    """
    select = _posts_select(source.unnumbered())
    with insertion_order_restored(con):
        con.execute("SET preserve_insertion_order = false")
        n_good = _one(
            con,
            f"""
            INSERT INTO posts ({_POST_TARGET})
            SELECT post_id, account_id, created_at, parent_id, kind, {", ".join(_POST_FILL)}, ?
            FROM ({select}) WHERE reason IS NULL
            """,
            [run_id, *source.params],
        )
    again = source.rescan()
    parser_lines = (
        _one(con, f"SELECT count(DISTINCT line) FROM {source.parser_rejects}")
        if source.parser_rejects
        else 0
    )
    if lines is not None and lines == n_good + parser_lines:
        n_records = n_good
    else:
        n_records = _one(con, source.count_sql, source.params) if source.count_sql else -1
    con.execute("CREATE TEMP TABLE _ing_posts (record_no BIGINT, reason VARCHAR, raw VARCHAR)")
    if n_records != n_good:
        con.execute(
            f"""
            INSERT INTO _ing_posts
            SELECT record_no, reason, NULL FROM ({_posts_select(again)})
            WHERE reason IS NOT NULL
            """,
            again.params,
        )
    rejected = _one(con, "SELECT count(*) FROM _ing_posts")
    if rejected:
        raw = "raw" if source.raw == "raw" else source.raw
        con.execute(
            f"""
            UPDATE _ing_posts AS r SET raw = s.raw
            FROM (SELECT record_no, {raw} AS raw FROM ({again.sql})) AS s
            WHERE s.record_no = r.record_no
            """,
            again.params,
        )
    n_distinct = _one(con, "SELECT count(DISTINCT post_id) FROM posts")
    folded = Counts()
    if n_good > n_distinct:
        folded = _merge_in_file_duplicates(con, again, run_id)
    return Counts(
        read=n_good + rejected,
        inserted=n_distinct,
        merged=folded.merged,
        duplicate=n_good - folded.rejected - n_distinct - folded.merged,
        rejected=rejected + folded.rejected,
    )


def _merge_in_file_duplicates(
    con: duckdb.DuckDBPyConnection, source: Source, run_id: int
) -> Counts:
    # Rare path: only posts that occur more than once are touched, but their copies'
    # record numbers (file order) need one more scan of the file.
    con.execute(
        "CREATE TEMP TABLE _ing_dup_ids AS "
        "SELECT post_id FROM posts GROUP BY post_id HAVING count(*) > 1"
    )
    copies = (
        f"SELECT * FROM ({_posts_select(source)}) "
        "WHERE reason IS NULL AND post_id IN (SELECT post_id FROM _ing_dup_ids)"
    )
    con.execute(
        f"CREATE TEMP TABLE _ing_copies AS SELECT *, record_no AS _ord FROM ({copies})",
        source.params,
    )
    folded = _fold(con, "_ing_copies")
    con.execute(
        f"INSERT INTO _ing_posts SELECT c.record_no, f.reason, {_row_json('c')} "
        "FROM _ing_copies AS c JOIN _ing_fold AS f USING (_ord) WHERE f.reason IS NOT NULL"
    )
    good = f"SELECT * FROM _ing_copies WHERE {_NOT_CONFLICTING}"
    con.execute(f"CREATE TEMP TABLE _ing_posts_dups AS {_merged_copies(good)}")
    con.execute("DELETE FROM posts WHERE post_id IN (SELECT post_id FROM _ing_dup_ids)")
    con.execute(
        f"""
        INSERT INTO posts ({_POST_TARGET})
        SELECT post_id, account_id, created_at, parent_id, kind, {", ".join(_POST_FILL)}, ?
        FROM _ing_posts_dups
        """,
        [run_id],
    )
    return folded


def stage_accounts(
    con: duckdb.DuckDBPyConnection, source: Source, observed_default: datetime
) -> None:
    """Type and validate account snapshots into temp table ``_ing_accounts``."""
    norm = ", ".join(_norm(c) for c in ACCOUNTS_COLUMNS)
    counts = ", ".join(f"TRY_CAST(trim({c}) AS BIGINT) AS _{c}" for c in ACCOUNT_COUNTS)
    flags = ", ".join(f"TRY_CAST(trim({c}) AS BOOLEAN) AS _{c}" for c in ACCOUNT_FLAGS)
    bad_counts = "\n".join(
        f"WHEN {c} IS NOT NULL AND (_{c} IS NULL OR _{c} < 0) THEN '{c} is not a count'"
        for c in ACCOUNT_COUNTS
    )
    bad_flags = "\n".join(
        f"WHEN {c} IS NOT NULL AND _{c} IS NULL THEN '{c} is not true/false'" for c in ACCOUNT_FLAGS
    )
    typed_out = ", ".join(f"_{c} AS {c}" for c in (*ACCOUNT_COUNTS, *ACCOUNT_FLAGS))
    sql = f"""
    CREATE TEMP TABLE _ing_accounts AS
    SELECT record_no, account_id, coalesce(_observed, ?::TIMESTAMPTZ) AS observed_at,
           observed_at IS NULL AS observed_defaulted,
           handle, display_name, _created AS created_at, {typed_out}, description, platform,
           _reason AS reason,
           CASE WHEN _reason IS NOT NULL THEN {source.raw_out()} END AS raw
    FROM (
      SELECT *,
        CASE
          WHEN _line_reason IS NOT NULL THEN _line_reason
          WHEN account_id IS NULL THEN 'missing account_id'
          {_nul_reason(ACCOUNTS_COLUMNS)}
          {_time_reasons("created_at", "_created", optional=True)}
          {_time_reasons("observed_at", "_observed", optional=True)}
          {bad_counts}
          {bad_flags}
        END AS _reason
      FROM (
        SELECT *, {ts_expr("created_at", source.times)} AS _created,
               {ts_expr("observed_at", source.times)} AS _observed, {counts}, {flags}
        FROM (SELECT record_no, {source.raw_in()} AS _raw_in,
                     {source.line_reason_in()}, {norm}
              FROM ({source.sql}) s) n
      ) t
    ) v
    """
    con.execute(sql, [observed_default, *source.params])


def stage_follows(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Type and validate follow edges into temp table ``_ing_follows``."""
    norm = ", ".join(_norm(c) for c in FOLLOWS_COLUMNS)
    sql = f"""
    CREATE TEMP TABLE _ing_follows AS
    SELECT record_no, follower_id, followee_id, _created AS created_at, _reason AS reason,
           CASE WHEN _reason IS NOT NULL THEN {source.raw_out()} END AS raw
    FROM (
      SELECT *,
        CASE
          WHEN _line_reason IS NOT NULL THEN _line_reason
          WHEN follower_id IS NULL THEN 'missing follower_id'
          WHEN followee_id IS NULL THEN 'missing followee_id'
          WHEN follower_id = followee_id THEN 'follower_id equals followee_id'
          {_nul_reason(FOLLOWS_COLUMNS)}
          {_time_reasons("created_at", "_created", optional=True)}
        END AS _reason
      FROM (
        SELECT *, {ts_expr("created_at", source.times)} AS _created
        FROM (SELECT record_no, {source.raw_in()} AS _raw_in,
                     {source.line_reason_in()}, {norm}
              FROM ({source.sql}) s) n
      ) t
    ) v
    """
    con.execute(sql, source.params)


def stage_media(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Type and validate media rows into temp table ``_ing_media``.

    Hashes are lower-cased hex (sha256 and pdq: 64 digits); ``frames`` is a
    space-separated list of PDQ hex (one per sampled video frame).
    """
    norm = ", ".join(_norm(c) for c in MEDIA_COLUMNS)
    kinds = ", ".join(f"'{k}'" for k in MEDIA_KINDS)
    sql = f"""
    CREATE TEMP TABLE _ing_media AS
    SELECT record_no, media_id, _kind AS kind, url, _sha AS sha256, _pdq AS pdq,
           _quality AS pdq_quality, _width AS width, _height AS height,
           _duration AS duration_s, local_path, _frames AS frames, _reason AS reason,
           CASE WHEN _reason IS NOT NULL THEN {source.raw_out()} END AS raw
    FROM (
      SELECT *,
        CASE
          WHEN _line_reason IS NOT NULL THEN _line_reason
          WHEN media_id IS NULL THEN 'missing media_id'
          WHEN _kind IS NOT NULL AND NOT list_contains([{kinds}], _kind)
            THEN 'unknown media kind (image, video, gif)'
          WHEN _sha IS NOT NULL AND NOT regexp_full_match(_sha, '[0-9a-f]{{64}}')
            THEN 'sha256 is not 64 hex digits'
          WHEN _pdq IS NOT NULL AND NOT regexp_full_match(_pdq, '[0-9a-f]{{64}}')
            THEN 'pdq is not 64 hex digits'
          WHEN pdq_quality IS NOT NULL AND (_quality IS NULL OR _quality NOT BETWEEN 0 AND 100)
            THEN 'pdq_quality is not an integer in 0..100'
          WHEN width IS NOT NULL AND (_width IS NULL OR _width < 0) THEN 'width is not a size'
          WHEN height IS NOT NULL AND (_height IS NULL OR _height < 0)
            THEN 'height is not a size'
          WHEN duration_s IS NOT NULL AND (_duration IS NULL OR _duration < 0)
            THEN 'duration_s is not a duration'
          WHEN len(list_filter(_frames, lambda f: NOT regexp_full_match(f, '[0-9a-f]{{64}}'))) > 0
            THEN 'frames are not PDQ hashes (64 hex digits each)'
        END AS _reason
      FROM (
        SELECT *, lower(trim(kind)) AS _kind, lower(trim(sha256)) AS _sha,
               lower(trim(pdq)) AS _pdq, TRY_CAST(trim(pdq_quality) AS INTEGER) AS _quality,
               TRY_CAST(trim(width) AS INTEGER) AS _width,
               TRY_CAST(trim(height) AS INTEGER) AS _height,
               TRY_CAST(trim(duration_s) AS DOUBLE) AS _duration,
               CASE WHEN frames IS NOT NULL THEN list_transform(list_filter(
                 string_split(frames, ' '), lambda x: x <> ''), lambda x: lower(x)) END AS _frames
        FROM (SELECT record_no, {source.raw_in()} AS _raw_in,
                     {source.line_reason_in()}, {norm}
              FROM ({source.sql}) s) n
      ) t
    ) v
    """
    con.execute(sql, source.params)


_MEDIA_FILL = (
    "kind",
    "url",
    "sha256",
    "pdq",
    "pdq_quality",
    "width",
    "height",
    "duration_s",
    "local_path",
    "frames",
)


def merge_media(con: duckdb.DuckDBPyConnection, run_id: int) -> Counts:
    """Insert new media rows (one per media_id); fill NULLs of stored ones; count.

    Like posts: the earliest record of a media_id in the file wins, its NULL fields
    filled from later copies; a media_id already stored is a duplicate that only fills
    the stored row's NULLs (a platform reader's url, then the local file's hashes).
    """
    rejected = _one(con, "SELECT count(*) FROM _ing_media WHERE reason IS NOT NULL")
    n_good = _one(con, "SELECT count(*) FROM _ing_media WHERE reason IS NULL")
    fill = ", ".join(
        f"arg_min({c}, record_no) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in _MEDIA_FILL
    )
    con.execute(
        f"""
        CREATE TEMP TABLE _ing_media_good AS
        SELECT media_id, {fill} FROM _ing_media WHERE reason IS NULL GROUP BY media_id
        """
    )
    sets = ", ".join(f"{c} = coalesce(m.{c}, n.{c})" for c in _MEDIA_FILL)
    gains = " OR ".join(f"(m.{c} IS NULL AND n.{c} IS NOT NULL)" for c in _MEDIA_FILL)
    con.execute(
        f"""
        UPDATE media AS m SET {sets}
        FROM _ing_media_good AS n WHERE m.media_id = n.media_id AND ({gains})
        """
    )
    cols = ", ".join(("media_id", *_MEDIA_FILL))
    inserted = _one(
        con,
        f"""
        INSERT INTO media ({cols}, ingest_run_id)
        SELECT {cols}, ? FROM _ing_media_good AS n
        WHERE NOT EXISTS (SELECT 1 FROM media AS m WHERE m.media_id = n.media_id)
        """,
        [run_id],
    )
    return Counts(
        read=n_good + rejected, inserted=inserted, duplicate=n_good - inserted, rejected=rejected
    )


def collect_parser_rejects(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Move lines DuckDB's CSV parser refused into ``_ing_src_rejects`` (one per line)."""
    if source.parser_rejects is None:
        return
    reason = (
        "'malformed line: ' || lower(string_agg(DISTINCT error_type::VARCHAR, ', ' "
        "ORDER BY error_type::VARCHAR))"
    )
    if source.nul_delimited:  # one column split at NUL: "too many columns" is a NUL byte
        reason = (
            "CASE WHEN bool_and(error_type::VARCHAR = 'TOO MANY COLUMNS') "
            f"THEN 'NUL byte in line' ELSE {reason} END"
        )
    con.execute(
        f"""
        INSERT INTO _ing_src_rejects
        SELECT line, any_value(csv_line),
               {reason}
        FROM {source.parser_rejects} GROUP BY line
        """
    )


def renumber_rejects(con: duckdb.DuckDBPyConnection, kind: str, header_lines: int) -> None:
    """Turn record numbers of rejected rows into physical line numbers.

    DuckDB numbers the records its parser returned; lines the parser refused (already in
    ``_ing_src_rejects`` with their line numbers) are not among them. The k-th returned
    record sits on line ``k + header_lines + #{refused lines before it}``; the i-th
    refused line L_i has ``L_i - i - header_lines`` good records before it. Exact as long
    as no quoted field spans lines. Only rejected rows are touched (few).
    """
    con.execute(
        f"""
        UPDATE {_STAGE[kind]} AS s
        SET record_no = s.record_no + ? + (
          SELECT count(*) FROM (
            SELECT record_no AS line, row_number() OVER (ORDER BY record_no) AS i
            FROM _ing_src_rejects WHERE reason IS DISTINCT FROM ?) AS r
          WHERE r.line - r.i - ? < s.record_no)
        WHERE s.reason IS NOT NULL
        """,
        [header_lines, NUL_LINE, header_lines],  # NUL-only lines were returned (numbered)
    )


# --- merging ---------------------------------------------------------------------------


@dataclass
class Counts:
    """What happened to one kind of row from one file."""

    read: int = 0
    inserted: int = 0
    duplicate: int = 0
    rejected: int = 0
    merged: int = 0  # further rows of a post in this file, united into it

    def __iadd__(self, other: Counts) -> Counts:
        self.read += other.read
        self.inserted += other.inserted
        self.merged += other.merged
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        return self


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


_POST_FILL = (
    "root_id",
    "text",
    "urls",
    "hashtags",
    "lang",
    "platform",
    "media",
    "platform_meta",
)
# The posts table's columns in the order ingest writes them (named: other areas add
# columns of their own to posts).
_POST_TARGET = "post_id, account_id, created_at, parent_id, kind, " + ", ".join(
    (*_POST_FILL, "ingest_run_id")
)
# Every field of a typed post row: rows equal on all of them are the same record.
_POST_FIELDS = ("post_id", "account_id", "created_at", "parent_id", "kind_given", *_POST_FILL)


def _row_json(alias: str = "") -> str:
    """SQL: a rejected row rebuilt as JSON from its typed fields (no second file scan)."""
    a = f"{alias}." if alias else ""
    fields = ", ".join(f"{c} := {a}{c}" for c in _POST_FIELDS if c != "kind_given")
    return f"to_json(struct_pack({fields}, kind := {a}kind_given))::VARCHAR"


# The kind of a post merged from several copies: the earliest kind given, except that
# an 'original' (or no kind) that gained a parent from a later copy takes the later
# copies' first other kind, else 'repost' -- never 'original' with a parent.
_MERGED_KIND = (
    "CASE WHEN parent_id IS NULL THEN coalesce(first_kind, 'original') "
    "WHEN first_kind IS NULL OR first_kind = 'original' THEN coalesce(other_kind, 'repost') "
    "ELSE first_kind END"
)


def _union(c: str) -> str:
    """SQL: the lists of column ``c`` over a group, united in first-seen order."""
    all_ = f"flatten(list({c} ORDER BY _ord) FILTER (WHERE {c} IS NOT NULL))"
    return (
        f"CASE WHEN count({c}) > 0 THEN "
        f"list_filter({all_}, lambda v, i: list_position({all_}, v) = i) END"
    )


def _merged_copies(copies: str) -> str:
    """SQL: one row per post_id of ``copies`` (valid typed rows with ``record_no`` and ``_ord``, their order).

    Why: long-format exports give a post one row per URL, hashtag or image. The
    earliest record gives the scalars; its NULL scalars are filled from later copies in
    record order, and the list fields (urls, hashtags, media) are united in first-seen
    order. Used by both the staged and the bulk path, so that they agree exactly.
    Columns: post_id, record_no, account_id, created_at, parent_id, kind, then
    ``_POST_FILL``.
    """
    fill = ", ".join(
        _union(c) + f" AS {c}"
        if c in POSTS_LIST_COLUMNS
        else f"arg_min({c}, _ord) FILTER (WHERE {c} IS NOT NULL) AS {c}"
        for c in ("parent_id", *_POST_FILL)
    )
    return f"""
    SELECT post_id, record_no, account_id, created_at, parent_id, {_MERGED_KIND} AS kind,
           {", ".join(_POST_FILL)}
    FROM (
      SELECT post_id, min(record_no) AS record_no,
             arg_min(account_id, _ord) AS account_id,
             arg_min(created_at, _ord) AS created_at,
             arg_min(kind_given, _ord) FILTER (WHERE kind_given IS NOT NULL)
               AS first_kind,
             arg_min(kind_given, _ord) FILTER (WHERE kind_given <> 'original')
               AS other_kind,
             {fill}
      FROM ({copies}) AS c
      GROUP BY post_id
    ) AS m
    """


_NOT_CONFLICTING = "_ord NOT IN (SELECT _ord FROM _ing_fold WHERE reason IS NOT NULL)"


def _fold(con: duckdb.DuckDBPyConnection, copies: str) -> Counts:
    """Classify the copies of posts seen more than once in a file (table ``copies``).

    Writes ``_ing_fold(record_no, _ord, post_id, reason)``: a copy whose account_id or
    created_at differs from the post's earliest copy conflicts (the reason names both
    values); the others are folded into the post. Counts ``rejected`` (conflicts) and
    ``merged`` (copies that add something to the post's first row -- a value it
    lacked, a list item it did not have -- and are not identical to an earlier copy:
    further rows of a long-format file); the rest (identical records, or copies that
    add nothing) are duplicates.
    """
    fields = ", ".join(_POST_FIELDS)
    subsumed = " AND ".join(
        f"({c} IS NULL OR list_has_all(coalesce(first_value({c}) OVER w, []), {c}))"
        if c in POSTS_LIST_COLUMNS
        else f"({c} IS NULL OR {c} = first_value({c}) OVER w)"
        for c in ("parent_id", "kind_given", *_POST_FILL)
    )
    fmt = "'%Y-%m-%dT%H:%M:%S.%fZ'"
    con.execute(
        f"""
        CREATE TEMP TABLE _ing_fold AS
        SELECT record_no, _ord, post_id,
          CASE
            WHEN account_id IS DISTINCT FROM first_account THEN
              'conflicting account_id for post ' || post_id || ': ' || first_account
              || ' in an earlier row, ' || account_id || ' in this one'
            WHEN created_at IS DISTINCT FROM first_created THEN
              'conflicting created_at for post ' || post_id || ': '
              || strftime(first_created, {fmt}) || ' in an earlier row, '
              || strftime(created_at, {fmt}) || ' in this one'
          END AS reason,
          rank > 1 AND variant_rank = 1 AND adds AS merged
        FROM (
          SELECT record_no, _ord, post_id, account_id, created_at,
            first_value(account_id) OVER w AS first_account,
            first_value(created_at) OVER w AS first_created,
            row_number() OVER w AS rank,
            row_number() OVER (PARTITION BY {fields} ORDER BY _ord) AS variant_rank,
            NOT ({subsumed}) AS adds
          FROM {copies}
          WINDOW w AS (PARTITION BY post_id ORDER BY _ord)
        )
        """
    )
    rejected, merged = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NOT NULL), "
        "count(*) FILTER (WHERE reason IS NULL AND merged) FROM _ing_fold"
    ).fetchall()[0]
    return Counts(rejected=int(rejected), merged=int(merged))


def merge_posts(con: duckdb.DuckDBPyConnection, run_id: int) -> Counts:
    """Insert new good posts; fill NULLs of already stored ones; count everything.

    A post_id seen several times in the file is folded first (see :func:`_fold` and
    :func:`_merged_copies`); a copy whose account_id or created_at disagrees with the
    stored post is rejected with both values; a post already in the store is a
    duplicate whose NULL fields are filled from the new copy, never overwritten.
    """
    has_posts = _one(con, "SELECT count(*) FROM (SELECT 1 FROM posts LIMIT 1)") > 0
    if has_posts:
        con.execute(
            """
            UPDATE _ing_posts AS n SET
              reason = CASE WHEN n.account_id <> p.account_id THEN
                  'conflicting account_id for post ' || n.post_id || ': ' || p.account_id
                  || ' in the store, ' || n.account_id || ' in this row'
                ELSE 'conflicting created_at for post ' || n.post_id || ': '
                  || strftime(p.created_at, '%Y-%m-%dT%H:%M:%S.%fZ') || ' in the store, '
                  || strftime(n.created_at, '%Y-%m-%dT%H:%M:%S.%fZ') || ' in this row' END
            FROM posts AS p
            WHERE p.post_id = n.post_id AND n.reason IS NULL
              AND (n.account_id <> p.account_id OR n.created_at <> p.created_at)
            """
        )
        con.execute(
            f"UPDATE _ing_posts SET raw = {_row_json()} WHERE reason IS NOT NULL AND raw IS NULL"
        )
    n_good, n_distinct = con.execute(
        "SELECT count(*), count(DISTINCT post_id) FROM _ing_posts WHERE reason IS NULL"
    ).fetchall()[0]
    cols = "post_id, account_id, created_at, parent_id, kind_given, kind, " + ", ".join(_POST_FILL)
    folded = Counts()
    if n_good > n_distinct:
        dup_ids = (
            "SELECT post_id FROM _ing_posts WHERE reason IS NULL "
            "GROUP BY post_id HAVING count(*) > 1"
        )
        con.execute(
            # _ord: file order; rows of one platform record share its record_no and
            # keep the reader's order (the tweet before its embedded copies).
            "CREATE TEMP TABLE _ing_copies AS SELECT *, rowid AS _ord FROM _ing_posts "
            f"WHERE reason IS NULL AND post_id IN ({dup_ids})"
        )
        folded = _fold(con, "_ing_copies")
        con.execute(
            f"""
            UPDATE _ing_posts AS r SET reason = f.reason, raw = {_row_json("r")}
            FROM _ing_fold AS f WHERE f._ord = r.rowid AND f.reason IS NOT NULL
            """
        )
        good_copies = f"SELECT * FROM _ing_copies WHERE {_NOT_CONFLICTING}"
        con.execute(f"CREATE TEMP TABLE _ing_posts_dups AS {_merged_copies(good_copies)}")
        n_good -= folded.rejected
        good = f"""
            SELECT {cols} FROM _ing_posts
            WHERE reason IS NULL AND post_id NOT IN (SELECT post_id FROM _ing_posts_dups)
            UNION ALL
            SELECT post_id, account_id, created_at, parent_id, kind AS kind_given, kind,
                   {", ".join(_POST_FILL)}
            FROM _ing_posts_dups
        """
    else:
        good = f"SELECT {cols} FROM _ing_posts WHERE reason IS NULL"
    rejected = _one(con, "SELECT count(*) FROM _ing_posts WHERE reason IS NOT NULL")
    con.execute(f"CREATE TEMP VIEW _ing_posts_good AS {good}")

    if has_posts:
        # Fill NULLs of stored posts from the new copies (never overwrite a value; lists
        # gain the items they lacked). A stored 'original' with no parent that now
        # learns its parent takes the new kind.
        sets = ", ".join(
            f"{c} = list_concat(p.{c}, list_filter(n.{c}, lambda x: NOT list_contains(coalesce(p.{c}, []), x)))"
            if c in POSTS_LIST_COLUMNS
            else f"{c} = coalesce(p.{c}, n.{c})"
            for c in _POST_FILL
        )
        gains = " OR ".join(
            f"(len(list_filter(n.{c}, lambda x: NOT list_contains(coalesce(p.{c}, []), x))) > 0)"
            if c in POSTS_LIST_COLUMNS
            else f"(p.{c} IS NULL AND n.{c} IS NOT NULL)"
            for c in ("parent_id", *_POST_FILL)
        )
        con.execute(
            f"""
            UPDATE posts AS p SET
              kind = CASE WHEN p.parent_id IS NULL AND n.parent_id IS NOT NULL
                               AND p.kind = 'original' THEN n.kind ELSE p.kind END,
              parent_id = coalesce(p.parent_id, n.parent_id),
              {sets}
            FROM _ing_posts_good AS n
            WHERE p.post_id = n.post_id AND ({gains})
              AND (n.parent_id IS NULL OR n.parent_id <> p.post_id)
            """
        )
    # Into an empty store (the first, biggest load) no anti-join is needed.
    unseen = "WHERE NOT EXISTS (SELECT 1 FROM posts AS p WHERE p.post_id = n.post_id)"
    inserted = _one(
        con,
        f"""
        INSERT INTO posts ({_POST_TARGET})
        SELECT post_id, account_id, created_at, parent_id, kind, {", ".join(_POST_FILL)}, ?
        FROM _ing_posts_good AS n
        {unseen if has_posts else ""}
        """,
        [run_id],
    )
    return Counts(
        read=n_good + rejected,
        inserted=inserted,
        merged=folded.merged,
        duplicate=n_good - inserted - folded.merged,
        rejected=rejected,
    )


_SNAPSHOT_FIELDS = (
    "handle",
    "display_name",
    "created_at",
    *ACCOUNT_COUNTS,
    *ACCOUNT_FLAGS,
    "description",
    "platform",
)


def merge_accounts(con: duckdb.DuckDBPyConnection, run_id: int) -> Counts:
    """Append new account snapshots and refresh ``accounts`` (latest per account).

    A snapshot is a duplicate when the same account already has a snapshot at the same
    observed_at, or, when the file gave no observed_at (it defaults to the ingestion
    time), one with identical profile fields: re-ingesting a file adds nothing.
    """
    rejected = _one(con, "SELECT count(*) FROM _ing_accounts WHERE reason IS NULL IS FALSE")
    n_good = _one(con, "SELECT count(*) FROM _ing_accounts WHERE reason IS NULL")
    same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM s.{c}" for c in _SNAPSHOT_FIELDS)
    fields = ", ".join(_SNAPSHOT_FIELDS)
    inserted = _one(
        con,
        f"""
        INSERT INTO account_snapshots
          (account_id, observed_at, {fields}, ingest_run_id)
        SELECT account_id, observed_at, {fields}, ?
        FROM (
          SELECT * FROM _ing_accounts AS a
          WHERE reason IS NULL
          QUALIFY row_number() OVER (
            PARTITION BY account_id,
              CASE WHEN observed_defaulted THEN NULL ELSE observed_at END,
              CASE WHEN observed_defaulted THEN md5(concat_ws('|', {fields})) END
            ORDER BY record_no) = 1
        ) AS a
        WHERE NOT EXISTS (
          SELECT 1 FROM account_snapshots AS s
          WHERE s.account_id = a.account_id
            AND (s.observed_at = a.observed_at OR (a.observed_defaulted AND {same})))
        """,
        [run_id],
    )
    if inserted:
        con.execute(
            f"""
            INSERT OR REPLACE INTO accounts
            SELECT account_id, observed_at, {fields}, ingest_run_id
            FROM account_snapshots
            WHERE account_id IN (SELECT account_id FROM account_snapshots WHERE ingest_run_id = ?)
            QUALIFY row_number() OVER (
              PARTITION BY account_id ORDER BY observed_at DESC, ingest_run_id DESC) = 1
            """,
            [run_id],
        )
    return Counts(
        read=n_good + rejected, inserted=inserted, duplicate=n_good - inserted, rejected=rejected
    )


def merge_follows(con: duckdb.DuckDBPyConnection, run_id: int) -> Counts:
    """Insert new follow pairs (one row per follower/followee pair); fill created_at."""
    rejected = _one(con, "SELECT count(*) FROM _ing_follows WHERE reason IS NOT NULL")
    n_good = _one(con, "SELECT count(*) FROM _ing_follows WHERE reason IS NULL")
    con.execute(
        """
        CREATE TEMP VIEW _ing_follows_good AS
        SELECT follower_id, followee_id, min(created_at) AS created_at
        FROM _ing_follows WHERE reason IS NULL GROUP BY follower_id, followee_id
        """
    )
    con.execute(
        """
        UPDATE follows AS f SET created_at = n.created_at
        FROM _ing_follows_good AS n
        WHERE f.follower_id = n.follower_id AND f.followee_id = n.followee_id
          AND f.created_at IS NULL AND n.created_at IS NOT NULL
        """
    )
    inserted = _one(
        con,
        """
        INSERT INTO follows
        SELECT follower_id, followee_id, created_at, ? FROM _ing_follows_good AS n
        WHERE NOT EXISTS (SELECT 1 FROM follows AS f
                          WHERE f.follower_id = n.follower_id AND f.followee_id = n.followee_id)
        """,
        [run_id],
    )
    return Counts(
        read=n_good + rejected, inserted=inserted, duplicate=n_good - inserted, rejected=rejected
    )


def count_source_rejects(con: duckdb.DuckDBPyConnection) -> int:
    """Rejects found before validation (parser or reader level)."""
    return _one(con, "SELECT count(*) FROM _ing_src_rejects")


def write_rejects(con: duckdb.DuckDBPyConnection, run_id: int, path: str, kinds: list[str]) -> None:
    """Copy this file's rejects (reader/parser level and validation) into ``rejects``."""
    con.execute(
        "INSERT INTO rejects SELECT ?, ?, record_no, raw, reason FROM _ing_src_rejects",
        [run_id, path],
    )
    for kind in kinds:
        con.execute(
            f"INSERT INTO rejects SELECT ?, ?, record_no, raw, reason FROM {_STAGE[kind]} "
            "WHERE reason IS NOT NULL",
            [run_id, path],
        )


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return _one(con, "SELECT nextval('ingest_run_seq')")


def write_run(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: int,
    job_id: str | None,
    path: str,
    content_hash: str,
    format: str,
    counts: Counts,
    accounts_read: int,
    rows_skipped: int,
    started_at: datetime,
    finished_at: datetime,
    mapping: str | None = None,
) -> None:
    """The file's ``ingest_runs`` row (``mapping``: the column mapping used, as JSON)."""
    con.execute(
        """
        INSERT INTO ingest_runs (ingest_run_id, job_id, path, content_hash, format, rows_read,
          rows_inserted, rows_duplicate, rows_rejected, accounts_read, rows_skipped,
          started_at, finished_at, rows_merged, mapping)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run_id,
            job_id,
            path,
            content_hash,
            format,
            counts.read,
            counts.inserted,
            counts.duplicate,
            counts.rejected,
            accounts_read,
            rows_skipped,
            started_at,
            finished_at,
            counts.merged,
            mapping,
        ],
    )


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this file's temp tables and views (they would otherwise outlive the file)."""
    for view in ("_ing_posts_good", "_ing_follows_good"):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in (
        "_ing_posts",
        "_ing_posts_dups",
        "_ing_copies",
        "_ing_fold",
        "_ing_dup_ids",
        "_ing_accounts",
        "_ing_follows",
        "_ing_src_posts",
        "_ing_src_accounts",
        "_ing_src_follows",
        "_ing_src_media",
        "_ing_media",
        "_ing_media_good",
        "_ing_src_rejects",
        "_ing_csv_rejects",
        "_ing_csv_scan",
        "_ing_csv_rejects2",
        "_ing_csv_scan2",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def reject_reasons(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, int]:
    """Rejected rows of one ingest run by reason, most frequent first."""
    rows = con.execute(
        "SELECT reason, count(*) AS n FROM rejects WHERE ingest_run_id = ? "
        "GROUP BY reason ORDER BY n DESC, reason",
        [run_id],
    ).fetchall()
    return {reason: int(n) for reason, n in rows}

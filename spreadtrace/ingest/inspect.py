"""Look at a file before ingesting it: what it is, its columns, a suggested mapping,
and its first rows as they would land in the store. Writes nothing.

Why: a new user's first question is "will spreadtrace read my export, and how?". The
preview runs the real reading and validation code on the first records, in an
in-memory store, so what it shows is what ``ingest`` would do (rejects included).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "shares.csv").write_text("content_id,author,timestamp_share\\n1,a,1714557600\\n")
>>> found = inspect_file(d / "shares.csv")
>>> found.format, found.suggested["post_id"], found.preview[0]["created_at"]
(None, 'content_id', '2024-05-01T10:00:00Z')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spreadtrace.errors import InputError
from spreadtrace.ingest.detect import (
    CANONICAL_FORMATS,
    REQUIRED_COLUMNS,
    Detected,
    detect,
    detect_columns,
)
from spreadtrace.ingest.mapping import Mapping, suggest


@dataclass
class Inspection:
    """What :func:`inspect_file` found. ``format`` is None for a file of foreign columns."""

    path: str
    format: str | None
    container: str
    compression: str | None
    columns: tuple[str, ...]
    suggested: dict[str, str]
    mapping: Mapping | None  # the mapping the preview used (given, or suggested)
    preview: list[dict[str, object]] = field(default_factory=list)
    note: str | None = None  # why there is no preview, or what detection said

    def suggested_toml(self) -> str:
        """The suggested mapping as a TOML file for ``--mapping``."""
        lines = [f'kind = "{self.mapping.kind if self.mapping else "posts"}"', "", "[columns]"]
        lines += [f'{target} = "{source}"' for target, source in self.suggested.items()]
        return "\n".join(lines) + "\n"


def inspect_file(path: str | Path, *, mapping: Mapping | None = None, rows: int = 5) -> Inspection:
    """Detect ``path``, suggest a mapping, and preview its first ``rows`` records."""
    path = Path(path)
    note = None
    detected = None
    if mapping is None or not mapping.renames:
        try:
            detected = detect(path)
        except InputError as exc:
            note = str(exc)
    if detected is None:
        kind = mapping.kind if mapping else "posts"
        detected = detect_columns(path, kind)
        fmt = None
    else:
        fmt = detected.format
    columns = detected.columns
    if fmt is None or fmt in CANONICAL_FORMATS:
        suggested = suggest(columns, detected.format if fmt is None else fmt)
    else:
        suggested = {}
    use = mapping
    if use is None and fmt is None:
        use = Mapping(kind=detected.format, columns=dict(suggested), name="suggested")
        missing = [c for c in REQUIRED_COLUMNS[use.kind] if c not in suggested]
        if missing:
            return Inspection(
                str(path),
                None,
                detected.container,
                detected.compression,
                columns,
                suggested,
                None,
                note=f"no column looks like {', '.join(missing)}: map it with --map",
            )
    found = Inspection(
        str(path), fmt, detected.container, detected.compression, columns, suggested, use, note=note
    )
    found.preview = _preview(path, detected, use, rows)
    return found


def _preview(
    path: Path, detected: Detected, mapping: Mapping | None, rows: int
) -> list[dict[str, object]]:
    """The first ``rows`` records typed and validated by the ingest code, in memory."""
    from spreadtrace.ingest.files import _canonical_source
    from spreadtrace.ingest.platform import read_platform
    from spreadtrace.store import Store
    from spreadtrace.store import ingest as sql

    with Store.open(":memory:") as store:
        con = store.con
        sql.create_source_tables(con)
        if detected.format in CANONICAL_FORMATS:
            kind = detected.format
            source = _canonical_source(con, path, detected, mapping)
            source = sql.limited(source, rows)
        else:
            read_platform(con, path, detected, limit=rows)
            kind = "posts"
            source = sql.table_source(kind)
        return sql.preview(con, kind, source, rows)

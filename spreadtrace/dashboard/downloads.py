"""CSV downloads for every dashboard table, with the reports' formula-injection rule.

Why one function: a table downloaded from the dashboard must be as safe to open in a
spreadsheet as the reports are, so every cell goes through
:func:`spreadtrace.reports.safe_cell`, the single rule the reports use. Every download
is written to the audit log; a viewer's frames were already redacted by the queries.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from spreadtrace.dashboard import security
from spreadtrace.reports import csv_row

__all__ = ["csv_text", "send"]


def csv_text(df: pl.DataFrame) -> str:
    """The frame as CSV text (header first), every cell neutralised by ``safe_cell``
    and quoted when it holds a separator of any locale (``csv_row``)."""
    return csv_row(list(df.columns)) + "".join(csv_row(list(row)) for row in df.iter_rows())


def send(df: pl.DataFrame, name: str) -> dict[str, Any]:
    """A ``dcc.Download`` payload for ``df`` named ``<name>.csv`` (name sanitised)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:100] or "table"
    security.audit("export", file=f"{safe}.csv", rows=df.height)
    return {"content": csv_text(df), "filename": f"{safe}.csv", "type": "text/csv"}

"""Every report file, byte for byte, on a store full of hostile text.

The expected files in tests/data/report_golden/ were written by the report writer of
main at 5000695, before the reports step was made cheaper (issue 12): a faster
writer must produce exactly the same bytes, plain, pseudonymised, and with alerts
that fire (a short window, a time in the past). Regenerate only for an intended
change of a report's content: ``SPREADTRACE_REGEN_GOLDEN=1 pytest tests/test_reports_golden.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from spreadtrace.reports import REPORT_FILES, AlertParams, write_reports
from tests._report_world import T0, fill_report_world

GOLDEN = Path(__file__).parent / "data" / "report_golden"
SECRET = "golden-secret-of-the-desk"

FIRING = AlertParams(window_s=86400, ratio=0.5, floor=2, at=T0 + timedelta(days=6))
VARIANTS = {
    "plain": {},
    "pseudonymized": {"pseudonymize": SECRET},
    "alerts": {"alerts": FIRING},
    "alerts_pseudonymized": {"alerts": FIRING, "pseudonymize": SECRET},
}
# the alerts variants differ from their base in alerts.csv only
BASE = {"alerts": "plain", "alerts_pseudonymized": "pseudonymized"}


def _expected(variant: str, name: str) -> Path:
    """The golden file of ``name`` in ``variant``."""
    if name != "alerts.csv":
        variant = BASE.get(variant, variant)
    return GOLDEN / variant / name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_report_files_are_byte_identical_to_the_golden_ones(file_store, tmp_path, variant):
    fill_report_world(file_store)
    result = write_reports(file_store, tmp_path / "out", **VARIANTS[variant])
    if os.environ.get("SPREADTRACE_REGEN_GOLDEN"):
        for name in REPORT_FILES:
            _expected(variant, name).parent.mkdir(parents=True, exist_ok=True)
            _expected(variant, name).write_bytes((result.run_dir / name).read_bytes())
    manifest = json.loads((result.latest_dir / "manifest.json").read_text())
    for name in REPORT_FILES:
        got = (result.run_dir / name).read_bytes()
        assert got == _expected(variant, name).read_bytes(), f"{variant}/{name} differs"
        assert (result.latest_dir / name).read_bytes() == got
        assert manifest["files"][name]["sha256"] == hashlib.sha256(got).hexdigest()
    # the world is hostile enough to matter: every file but the empty-able ones has rows,
    # and the alerts variant really fires
    rows = {name: manifest["files"][name]["rows"] for name in REPORT_FILES}
    assert all(n > 0 for name, n in rows.items() if name != "alerts.csv"), rows
    if variant in BASE:
        assert rows["alerts.csv"] > 0

"""Refresh the README's screenshots from the bundled sample, in the real headless Chromium.

Runs ``spreadtrace demo --no-serve`` (the bundled sample, ingested and built), serves
the store with the real CLI, and saves one PNG per page to ``docs/screenshots/``: the
overview (narratives first, alerts), a cascade, the most amplified narrative, its account
network, an account, coordination and a search. Needs chromium + chromedriver
(``make browser``).

Run: ``PYTHONPATH=. .venv/bin/python scripts/screenshots.py [OUT_DIR]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spreadtrace.store import Store  # noqa: E402
from tests.test_browser import make_driver, wait  # noqa: E402
from tests.test_dashboard_serve import serving  # noqa: E402


def _subjects(db: Path) -> dict[str, str]:
    """The most telling cascade, narrative, account and cluster of the sample."""
    with Store.open(db, read_only=True) as store:
        con = store.con

        def one(sql: str) -> str:
            row = con.execute(sql).fetchone()
            return "" if row is None else str(row[0])

        return {
            "cascade": one(
                "SELECT cascade_id FROM cascades ORDER BY size DESC, cascade_id LIMIT 1"
            ),
            "narrative": one(
                "SELECT narrative_id FROM narratives WHERE posts >= 10 AND accounts >= 5 "
                "ORDER BY amplification_score DESC NULLS LAST, posts DESC LIMIT 1"
            ),
            "big_narrative": one(
                "SELECT narrative_id FROM narratives ORDER BY posts DESC, narrative_id LIMIT 1"
            ),
            "account": one(
                "SELECT account_id FROM account_scores WHERE is_bot_like "
                "ORDER BY posts DESC, account_id LIMIT 1"
            ),
            "word": one(
                "SELECT w FROM (SELECT unnest(string_split(lower(text), ' ')) AS w FROM posts "
                "WHERE text IS NOT NULL) WHERE length(w) > 6 GROUP BY 1 "
                "ORDER BY count(*) DESC LIMIT 1"
            ),
        }


def _shoot(driver, url: str, path: Path, ready: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ready), timeout=60, what=ready)
    time.sleep(2.0)  # let plotly finish drawing and the tables fill
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 900), 2600))
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spreadtrace-shots-"))
    subprocess.run(
        [sys.executable, "-c", "from spreadtrace.cli import main; main()", "demo", "--no-serve", "--quiet", "--out",
         str(work / "demo")],
        check=True, cwd=REPO,
    )  # fmt: skip
    db = work / "demo" / "demo.duckdb"
    s = _subjects(db)
    pages = [
        ("overview", "/", "#ov-spreading .narr, #ov-spreading .note"),
        ("cascade", "/cascade?" + urlencode({"id": s["cascade"]}), "#ca-graph .js-plotly-plot"),
        ("narrative", "/narrative?" + urlencode({"id": s["narrative"]}), "#na-items"),
        ("network", "/network?" + urlencode({"narrative": s["big_narrative"]}), "#nw-graph .js-plotly-plot"),
        ("account", "/accounts?" + urlencode({"account": s["account"]}), "#ac-cluster-link, .panel"),
        ("coordination", "/coordination", "#co-graph .js-plotly-plot, #co-empty"),
        ("search", "/search?" + urlencode({"q": s["word"]}), "#search-results h3"),
    ]  # fmt: skip
    driver = make_driver(work)
    try:
        with serving(str(db)) as base:
            for name, path, ready in pages:
                _shoot(driver, base + path, out / f"{name}.png", ready)
                print(f"{out / (name + '.png')}: {path}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: dashboard callbacks on a large store, and drawing a 20,000-node cascade.

1. Overview callbacks (load, filters, sort), called as plain functions on a published
   snapshot of ``--db`` (a store built from synthetic posts). Baseline in the same run:
   the naive Dash pattern: read the whole cascades x scores table into polars per
   request, filter and sort there.
2. The cascade page end to end in headless Chromium (navigation to the WebGL network
   drawn), cold (first request after start: query + layout) and warm (cached).
3. Render only, in headless Chromium: ``Plotly.newPlot`` of the same cascade figure
   as WebGL (Scattergl, what the app draws) and as SVG (Scatter) — the baseline — and
   one zoom (``Plotly.relayout``) on each, i.e. how interactive it stays.

The cascade is the largest one in ``--db`` if it has at least ``--nodes`` posts;
otherwise a planted cascade of ``--nodes`` posts (tests/test_dashboard_world.py) in a
temporary store, and the output says so.

2b. The same page served by the previous version (``--baseline=REV``, default the
   commit before binary figure arrays; extracted with ``git archive``), interleaved
   with this one: page load to drawn, callbacks fired on load, response bytes.

Run: ``.venv/bin/python -m bench dashboard --db=big.duckdb [--nodes=20000,50000]
[--repeat=5] [--only=callbacks,page,render] [--baseline=REV]``.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]


def _arg(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def _time(fn, repeat: int) -> tuple[float, float]:
    """(first call, median of the next ``repeat``) in milliseconds."""
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1000
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return first, statistics.median(runs)


def bench_callbacks(db: str, repeat: int) -> None:
    sys.path.insert(0, str(REPO))
    from spreadtrace.dashboard import queries
    from spreadtrace.dashboard.app import create_app
    from spreadtrace.store import dashboard_queries as dq

    create_app(db)
    ov = importlib.import_module("spreadtrace.dashboard.pages.overview")
    head = queries.run(dq.headline)
    print(
        f"store: {head['posts']:,} posts, {head['cascades']:,} cascades, "
        f"{head['narratives']:,} narratives, {head['accounts']:,} accounts"
    )
    d0 = queries.run(
        lambda con: con.execute("SELECT min(first_at)::DATE FROM cascades").fetchone()[0]
    )
    plat = (queries.run(dq.platforms) or [None])[0]
    cases = {
        "overview layout (headline, options)": lambda: ov.layout(),
        "table, no filter": lambda: ov.update_table(None, None, None, None, None, 0, 0, 0, []),
        "table, min size 10": lambda: ov.update_table(None, None, None, None, 10, 0, 0, 0, []),
        "table, platform + bot share >= 0.3": lambda: ov.update_table(
            None, None, plat, None, None, 0.3, 0, 0, []
        ),
        "table, 3-day range, sort by amplification": lambda: ov.update_table(
            str(d0),
            str(d0.fromordinal(d0.toordinal() + 2)),
            None,
            None,
            None,
            0,
            0,
            0,
            [{"column_id": "amplification_score", "direction": "desc"}],
        ),
        "figures (CCDF + heatmap), no filter": lambda: ov.update_figures(
            None, None, None, None, None, 0, 0
        ),
        "figures, min size 10": lambda: ov.update_figures(None, None, None, None, 10, 0, 0),
    }

    def naive_min_size_10():
        # The naive pattern: whole table to the app per request, filter/sort in Python.
        df = queries.run(
            lambda con: pl.from_arrow(
                con.execute(
                    "SELECT c.*, s.* EXCLUDE (cascade_id, build_id) "
                    "FROM cascades c LEFT JOIN cascade_scores s USING (cascade_id)"
                ).to_arrow_table()
            )
        )
        df.filter(pl.col("size") >= 10).sort("size", descending=True).head(15).to_dicts()

    print(f"\noverview callbacks (ms; first call, then median of {repeat}):")
    results = {}
    for name, fn in cases.items():
        first, med = _time(fn, repeat)
        results[name] = med
        print(f"  {name:<45} first {first:8.1f}   median {med:8.1f}")
    first, base = _time(naive_min_size_10, repeat)
    print(
        f"  {'baseline: naive whole-table filter, min size 10':<45} first {first:8.1f}   median {base:8.1f}"
    )
    print(
        f"  speed-up over the baseline (table, min size 10): {base / results['table, min size 10']:.0f}x"
    )


def _cascade_target(db: str, nodes: int) -> tuple[str, str, str]:
    """(db, cascade_id, note): the real largest cascade, or a planted one."""
    from spreadtrace.store.snapshot import SnapshotReader, latest

    snap = latest(db)
    if snap is not None:
        reader = SnapshotReader(db)
        with reader.lease() as (con, _sid):
            row = con.execute(
                "SELECT cascade_id, size FROM cascades ORDER BY size DESC LIMIT 1"
            ).fetchone()
        reader.close()
        if row and row[1] >= nodes:
            return db, row[0], f"largest cascade of the store ({row[1]:,} posts)"
        largest = row[1] if row else 0
    else:
        largest = 0
    from spreadtrace.store import Store
    from spreadtrace.store.snapshot import publish
    from tests.test_dashboard_world import make_world

    tmp = Path(tempfile.mkdtemp(prefix="bench-dash-")) / "planted.duckdb"
    with Store.open(tmp) as store:
        make_world(store, big=nodes, cascades=3)
        publish(store)
    return (
        str(tmp),
        "c000",
        f"planted cascade of {nodes:,} posts (the store's largest has {largest:,})",
    )


DRAWN = (
    "const g = document.querySelector('#ca-graph .js-plotly-plot');"
    "return !!(g && g._fullData && g._fullData.some(t => t.name === 'posts' && "
    "t.x && t.x.length > 0) && g.querySelector('canvas'));"
)
# The callback responses of the page load: count, the largest body, bytes on the wire.
RESPONSES = """
const r = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('_dash-update-component'));
return [r.length, Math.max(0, ...r.map(e => e.decodedBodySize)),
        r.reduce((a, e) => a + e.transferSize, 0)];
"""


def _baseline_tree(rev: str) -> Path:
    """The spreadtrace package as of ``rev`` in a temp dir (``git archive``: the checkout
    and its index are left alone), to serve the previous dashboard side by side."""
    import subprocess

    out = Path(tempfile.mkdtemp(prefix="bench-dash-base-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "spreadtrace"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def bench_page(db: str, nodes: int, repeat: int, baseline_rev: str) -> None:
    """Page load to network drawn, this version against ``baseline_rev``, interleaved."""
    sys.path.insert(0, str(REPO))
    from tests.test_browser import make_driver
    from tests.test_dashboard_serve import serving

    db, cascade_id, note = _cascade_target(db, nodes)
    print(f"\ncascade page: {note}")
    base_root = _baseline_tree(baseline_rev)
    with serving(db) as new, serving(db, root=base_root) as old:
        driver = make_driver(Path(tempfile.mkdtemp()))
        try:
            stats = {label: [] for label in ("baseline", "now")}
            for i in range(repeat + 1):
                for label, base in (
                    (("baseline", old), ("now", new))
                    if i % 2
                    else (
                        ("now", new),
                        ("baseline", old),
                    )
                ):
                    driver.get(base + "/")
                    driver.execute_script("performance.clearResourceTimings()")
                    t = time.perf_counter()
                    driver.get(f"{base}/cascade?id={cascade_id}")
                    while not driver.execute_script(DRAWN):
                        time.sleep(0.01)
                    ms = (time.perf_counter() - t) * 1000
                    time.sleep(0.3)  # let trailing callbacks (if any) finish before counting
                    stats[label].append((ms, *driver.execute_script(RESPONSES)))
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        finally:
            driver.quit()
    med = {}
    for label, runs in stats.items():
        first, rest = runs[0], runs[1:]
        med[label] = statistics.median(r[0] for r in rest)
        print(
            f"  {label:<9} page load to drawn: first {first[0]:6.0f} ms (query + layout), "
            f"median {med[label]:6.0f} ms of {len(rest)}; callbacks on load {first[1]}, "
            f"largest response {first[2] / 1e6:.2f} MB, {first[3] / 1e6:.2f} MB transferred"
        )
    print(
        f"  speed-up over baseline {baseline_rev[:7]}: {med['baseline'] / med['now']:.1f}x"
        + (f"; console errors: {len(errors)}" if errors else "")
    )


def render_and_zoom_ms(driver, fig: str, repeat: int) -> tuple[float, float]:
    """Median ms of Plotly's first draw of ``fig`` (JSON) and of one zoom, in the page
    the driver has open (a div ``g`` with plotly.js loaded), over ``repeat`` draws."""
    renders, zooms = [], []
    for _ in range(repeat):
        ms = driver.execute_async_script(
            """
            const [fig, done] = arguments;
            const f = JSON.parse(fig);
            Plotly.purge('g');
            const t = performance.now();
            Plotly.newPlot('g', f.data, f.layout).then(() => {
              const r = performance.now() - t;
              const t2 = performance.now();
              Plotly.relayout('g', {'xaxis.range': [0.3, 0.6], 'yaxis.range': [0.3, 0.6]})
                .then(() => done([r, performance.now() - t2]));
            });
            """,
            fig,
        )
        renders.append(ms[0])
        zooms.append(ms[1])
    return statistics.median(renders), statistics.median(zooms)


def bench_render(db: str, nodes: int, repeat: int) -> None:
    """Render only: the same figure as WebGL and as SVG (baseline) in a bare page."""
    sys.path.insert(0, str(REPO))
    import plotly
    from plotly.io.json import to_json_plotly as to_json

    from spreadtrace.dashboard import figures, queries
    from tests.test_browser import make_driver

    db, cascade_id, _note = _cascade_target(db, nodes)
    queries.use(db)
    graph = queries.cascade_graph(cascade_id)
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page = Path(tempfile.mkdtemp()) / "render.html"
    page.write_text(
        f"<html><body><div id='g' style='width:1200px;height:700px'></div>"
        f"<script src='file://{plotly_js}'></script></body></html>"
    )
    driver = make_driver(Path(tempfile.mkdtemp()))
    try:
        results = {}
        for label, gl in (("WebGL (Scattergl)", True), ("SVG (Scatter), baseline", False)):
            fig = to_json(figures.cascade(graph.nodes, gl=gl))
            driver.get(page.as_uri())
            results[label] = render_and_zoom_ms(driver, fig, repeat)
            print(
                f"  render only, {label:<24} newPlot median {results[label][0]:7.0f} ms, "
                f"zoom median {results[label][1]:7.0f} ms  ({graph.nodes.height:,} nodes, "
                f"{len(fig) / 1e6:.2f} MB JSON)"
            )
        (gl_r, gl_z), (svg_r, svg_z) = results.values()
        print(f"  ratio SVG / WebGL: render {svg_r / gl_r:.1f}x, zoom {svg_z / gl_z:.1f}x")
    finally:
        driver.quit()


def main(argv: list[str]) -> None:
    db = _arg(argv, "db", str(REPO / "bench" / "out" / "dashboard.duckdb"))
    sizes = [int(n) for n in _arg(argv, "nodes", "20000").split(",")]
    repeat = int(_arg(argv, "repeat", "5"))
    only = _arg(argv, "only", "callbacks,page,render").split(",")
    baseline = _arg(argv, "baseline", "1a747ea")
    print(json.dumps({"db": db, "nodes": sizes, "repeat": repeat, "only": only}))
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    if "callbacks" in only:
        bench_callbacks(db, repeat)
    for nodes in sizes:
        if "page" in only:
            bench_page(db, nodes, repeat, baseline)
        if "render" in only:
            bench_render(db, nodes, repeat)
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: a narrative's account network of 20,000 accounts drawn in headless Chromium.

Target (issue 14): 20,000 accounts drawn in WebGL in under 2 s. The network is a
synthetic "who amplified whom" graph (``--nodes`` accounts, each amplifying about two
earlier ones chosen with a preferential bias; kinds repost/quote/reply/mention; 10%
bot-like, 5% coordinated), laid out by the app's own code (``force_layout``, DrL above
2,000 nodes) and drawn by the app's own figure (``figures.account_network``).

1. Server: the k-core pruning and the layout (what the page computes once per
   snapshot, then caches).
2. Render in headless Chromium: ``Plotly.newPlot`` of the figure as WebGL (what the
   app draws) and as SVG (Scatter), the baseline measured in the same run, then one
   zoom (``Plotly.relayout``) on each: how interactive it stays.

Run: ``python -m bench network [--nodes=20000] [--repeat=5]`` (under the heavy lock).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]


def _arg(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


def synthetic_network(n: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(nodes, edges) of a preferential "who amplified whom" graph of ``n`` accounts."""
    rng = np.random.default_rng(seed)
    targets = np.repeat(np.arange(1, n), 2)
    sources = np.floor(rng.random(len(targets)) ** 2.5 * targets).astype(np.int64)
    kinds = rng.choice(
        ["repost", "quote", "reply", "mention"], len(targets), p=[0.6, 0.15, 0.15, 0.1]
    )
    edges = (
        pl.DataFrame({"s": sources, "t": targets, "kind": kinds})
        .group_by("s", "t", "kind")
        .agg(weight=pl.len())
        .sort("s", "t", "kind")
    )
    reach = np.bincount(sources, minlength=n) + 1
    states = rng.choice(["bot-like", "not bot-like", "insufficient evidence"], n, p=[0.1, 0.8, 0.1])
    nodes = pl.DataFrame(
        {
            "account_id": [f"acc{i:06d}" for i in range(n)],
            "handle": [f"user_{i}" for i in range(n)],
            "bot_state": states,
            "cluster_id": [f"k{i % 40}" if rng.random() < 0.05 else None for i in range(n)],
            "reach": reach,
        }
    )
    return nodes, edges


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    import plotly
    from plotly.io.json import to_json_plotly as to_json

    from bench.bench_dashboard import render_and_zoom_ms
    from spreadtrace.dashboard import figures
    from spreadtrace.graph.account_network import kcore_prune
    from spreadtrace.graph.layout import force_layout
    from tests.test_browser import make_driver

    n = int(_arg(argv, "nodes", "20000"))
    repeat = int(_arg(argv, "repeat", "5"))
    print(json.dumps({"nodes": n, "repeat": repeat}))
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    nodes, edges = synthetic_network(n)
    t = time.perf_counter()
    keep, k, _cut = kcore_prune(n, edges.select("s", "t").to_numpy(), 1000)
    prune_ms = (time.perf_counter() - t) * 1000  # pruning to Hoaxy's 1,000, for scale
    t = time.perf_counter()
    xy = force_layout(n, edges.select("s", "t").to_numpy(), edges["weight"].to_numpy())
    layout_s = time.perf_counter() - t
    nodes = nodes.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]))
    print(
        f"  server: {n:,} accounts, {edges.height:,} edges; k-core pruning to 1,000 "
        f"({int(keep.sum()):,} kept, k={k}) {prune_ms:.0f} ms, "
        f"layout (DrL) {layout_s:.1f} s (once per snapshot, then cached)"
    )
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page = Path(tempfile.mkdtemp()) / "render.html"
    page.write_text(
        "<html><body><div id='g' style='width:1200px;height:720px'></div>"
        f"<script src='file://{plotly_js}'></script></body></html>"
    )
    driver = make_driver(Path(tempfile.mkdtemp()))
    try:
        results = {}
        for label, gl in (("WebGL (Scattergl)", True), ("SVG (Scatter), baseline", False)):
            fig = to_json(figures.account_network(nodes, edges, title="bench", gl=gl))
            driver.get(page.as_uri())
            driver.set_script_timeout(600)
            results[label] = render_and_zoom_ms(driver, fig, repeat)
            print(
                f"  render, {label:<24} newPlot median {results[label][0]:7.0f} ms, "
                f"zoom median {results[label][1]:7.0f} ms  ({len(fig) / 1e6:.2f} MB JSON)"
            )
        (gl_r, gl_z), (svg_r, svg_z) = results.values()
        print(f"  ratio SVG / WebGL: render {svg_r / gl_r:.1f}x, zoom {svg_z / gl_z:.1f}x")
        print(f"  target: WebGL newPlot < 2000 ms: {'met' if gl_r < 2000 else 'NOT met'}")
    finally:
        driver.quit()
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main(sys.argv[1:])

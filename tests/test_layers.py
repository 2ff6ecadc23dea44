"""The layer rules, checked by parsing every module's imports (not by reading the style guide).

Only ``store/`` imports duckdb; only ``graph/`` imports igraph and networkx; only
``dashboard/`` imports dash and plotly; only ``spark/`` imports pyspark and sqlglot. Every import counts, including ones inside
functions and under ``TYPE_CHECKING``: a module outside the layer that names the
library is coupled to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spreadtrace

PACKAGE = Path(spreadtrace.__file__).parent

# library (top-level import name) -> the only subpackage allowed to import it
OWNER = {
    "duckdb": "store",
    "igraph": "graph",
    "networkx": "graph",
    "dash": "dashboard",
    "plotly": "dashboard",
    # the Spark engine (issue 15): the JVM and its SQL transpiler stay in one package
    "pyspark": "spark",
    "sqlglot": "spark",
}


def imported_roots(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source`` (anywhere in the module).

    >>> sorted(imported_roots("import duckdb as d\\nfrom plotly.express import line\\n"
    ...                       "def f():\\n    import igraph.drawing"))
    ['duckdb', 'igraph', 'plotly']
    >>> imported_roots("from . import x")
    set()
    """
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def violations(package: Path) -> list[str]:
    """``path: imports lib (only owner/ may)`` for every import that breaks a layer rule."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        for lib in sorted(imported_roots(path.read_text(encoding="utf-8")) & OWNER.keys()):
            if OWNER[lib] != layer:
                found.append(f"{rel}: imports {lib} (only {OWNER[lib]}/ may)")
    return found


def test_every_module_keeps_the_layer_rules():
    assert violations(PACKAGE) == []


def test_the_rule_covers_real_modules():
    # Honest test: the walk sees the modules that do own each library.
    owners = {
        lib: any(
            lib in imported_roots(p.read_text(encoding="utf-8"))
            for p in (PACKAGE / layer).rglob("*.py")
        )
        for lib, layer in OWNER.items()
    }
    assert owners == dict.fromkeys(OWNER, True)


@pytest.mark.parametrize(
    "where, source, expected",
    [
        ("ingest/bad.py", "import duckdb\n", "ingest/bad.py: imports duckdb (only store/ may)"),
        (
            "reports_bad.py",
            "def f():\n    from networkx import DiGraph\n",
            "reports_bad.py: imports networkx (only graph/ may)",
        ),
        (
            "graph/bad.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import plotly.graph_objects\n",
            "graph/bad.py: imports plotly (only dashboard/ may)",
        ),
        ("store/bad.py", "import dash\n", "store/bad.py: imports dash (only dashboard/ may)"),
        (
            "dashboard/bad.py",
            "import igraph as ig\n",
            "dashboard/bad.py: imports igraph (only graph/ may)",
        ),
        (
            "pipeline/bad.py",
            "from pyspark.sql import SparkSession\n",
            "pipeline/bad.py: imports pyspark (only spark/ may)",
        ),
    ],
)
def test_a_planted_violation_is_caught(tmp_path, where, source, expected):
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    (tmp_path / "store").mkdir(exist_ok=True)
    (tmp_path / "store" / "ok.py").write_text("import duckdb\n")
    assert violations(tmp_path) == [expected]

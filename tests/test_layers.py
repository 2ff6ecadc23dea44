"""The layer rules, checked by parsing every module's imports (not by reading the style guide).

Only ``store/`` imports duckdb; only ``graph/`` imports igraph and networkx; only
``dashboard/`` imports dash and plotly; only ``spark/`` imports pyspark and sqlglot. Every import counts, including ones inside
functions and under ``TYPE_CHECKING``: a module outside the layer that names the
library is coupled to it. And only ``store/`` runs SQL (``spark/`` runs Spark SQL): a
``.execute(``, ``.executemany(`` or ``.sql(`` call anywhere else is a violation, so a
stage's or a command's SQL cannot hide outside the store.
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


# The calls that run SQL, and the subpackages allowed to make them.
SQL_CALLS = ("execute", "executemany", "sql")
SQL_LAYERS = ("store", "spark")


def sql_calls(source: str) -> list[tuple[int, str]]:
    """(line, call) for every ``<anything>.execute/executemany/sql(...)`` call in ``source``.

    >>> sql_calls("con.execute('SELECT 1')\\nstore.con.sql('SELECT 2')\\nf.executed(3)")
    [(1, 'con.execute'), (2, 'store.con.sql')]
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
        ):
            found.append((node.lineno, ast.unparse(node.func)))
    return sorted(found)


def sql_violations(package: Path) -> list[str]:
    """``path:line: runs SQL (con.execute) outside store/`` for every SQL call out of place."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        layer = rel.parts[0] if len(rel.parts) > 1 else None
        if layer in SQL_LAYERS:
            continue
        for line, call in sql_calls(path.read_text(encoding="utf-8")):
            found.append(f"{rel}:{line}: runs SQL ({call}) outside store/")
    return found


def test_only_store_runs_sql():
    assert sql_violations(PACKAGE) == []


def test_the_sql_rule_sees_the_store():
    # Honest test: the store really does run SQL through these calls, so a rule that
    # found nothing anywhere would be a broken walk, not a clean package.
    in_store = [c for p in (PACKAGE / "store").rglob("*.py") for c in sql_calls(p.read_text())]
    assert {call.rsplit(".", 1)[1] for _, call in in_store} >= {"execute", "executemany"}


@pytest.mark.parametrize(
    "where, source, expected",
    [
        (
            "pipeline/bad.py",
            "def run(store):\n    store.con.execute('DELETE FROM posts')\n",
            ["pipeline/bad.py:2: runs SQL (store.con.execute) outside store/"],
        ),
        (
            "cli/bad.py",
            "rows = con.sql('SELECT 1').fetchall()\n",
            ["cli/bad.py:1: runs SQL (con.sql) outside store/"],
        ),
        (
            "bad.py",
            "cur.executemany('INSERT INTO t VALUES (?)', rows)\n",
            ["bad.py:1: runs SQL (cur.executemany) outside store/"],
        ),
        # allowed: the store and the Spark engine; a name that only contains "execute"
        ("store/fine.py", "con.execute('SELECT 1')\n", []),
        ("spark/fine.py", "spark.sql('SELECT 1')\n", []),
        ("jobs_fine.py", "pool.executed(1)\nexecute('x')\n", []),
    ],
)
def test_a_planted_sql_call_is_caught(tmp_path, where, source, expected):
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    assert sql_violations(tmp_path) == expected

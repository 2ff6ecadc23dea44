"""One cascade as a graph: networkx or igraph objects, GraphML and GEXF files.

Why: analysts open cascades in Gephi, Cytoscape or their own notebooks. The tree
comes from ``post_cascades`` as the build made it (the parents actually used, with
how each was decided), so an export shows exactly what the metrics were computed
on. Edges point from parent to child (the direction the post spread). When the
original is not in the store, the cascade's unseen root is a node too
(``seen=False``, no account or time), because it is what joins the reposts.

Node attributes: ``account``, ``time`` (ISO 8601 UTC), ``depth``, ``kind``,
``descendants``, ``seen``; in GEXF also ``start`` (the post's time, so Gephi's
timeline replays the spread). Edge attribute: ``parent_source`` (explicit |
inferred | root).

>>> import pyarrow as pa
>>> from datetime import datetime, UTC
>>> rows = pa.table({"post_id": ["b", "c"], "parent_id": ["a", "b"],
...     "parent_source": ["root", "explicit"], "depth": [1, 2], "descendants": [1, 0],
...     "account_id": ["u1", "u2"], "kind": ["repost", "quote"],
...     "created_at": [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]})
>>> G = cascade_networkx(rows, "a")
>>> sorted(G.edges(data="parent_source")), G.nodes["a"]["seen"], G.nodes["c"]["time"]
([('a', 'b', 'root'), ('b', 'c', 'explicit')], False, '2024-01-02T00:00:00Z')
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

import igraph as ig
import networkx as nx
import pyarrow as pa

from spreadtrace.errors import InputError
from spreadtrace.store import Store
from spreadtrace.store import cascades as cascade_sql

__all__ = [
    "FORMATS",
    "cascade_networkx",
    "cascade_igraph",
    "write_cascade",
    "load_cascade",
    "xml_safe",
]

FORMATS = ("graphml", "gexf")


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _node_records(rows: pa.Table, cascade_id: str) -> tuple[list[dict[str, Any]], list[tuple]]:
    """Node dicts (the unseen root first when there is one) and (parent, child, source) edges."""
    data = rows.to_pydict()
    posts = data["post_id"]
    nodes: list[dict[str, Any]] = []
    if cascade_id not in set(posts):
        nodes.append({"id": cascade_id, "seen": False, "depth": 0, "descendants": len(posts)})
    for i, post_id in enumerate(posts):
        nodes.append(
            {
                "id": post_id,
                "seen": True,
                "account": data["account_id"][i],
                "time": _iso(data["created_at"][i]),
                "depth": int(data["depth"][i]),
                "kind": data["kind"][i],
                "descendants": int(data["descendants"][i]),
            }
        )
    edges = [
        (data["parent_id"][i], post_id, data["parent_source"][i])
        for i, post_id in enumerate(posts)
        if data["parent_id"][i] is not None
    ]
    return nodes, edges


def cascade_networkx(rows: pa.Table, cascade_id: str) -> nx.DiGraph:
    """The cascade as a networkx DiGraph (parent -> child), from ``cascade_nodes`` rows.

    ``rows`` needs post_id, parent_id, parent_source, depth, descendants, account_id,
    kind, created_at (as :func:`spreadtrace.store.cascades.cascade_nodes` returns).
    Attributes that are unknown (the unseen root's account) are left out, not None,
    so every writer accepts the graph.
    """
    nodes, edges = _node_records(rows, cascade_id)
    G = nx.DiGraph(cascade_id=cascade_id)
    for node in nodes:
        G.add_node(node["id"], **{k: v for k, v in node.items() if k != "id" and v is not None})
    G.add_edges_from((p, c, {"parent_source": s}) for p, c, s in edges)
    return G


def cascade_igraph(rows: pa.Table, cascade_id: str) -> ig.Graph:
    """The cascade as an igraph directed Graph; vertex ``name`` is the post_id.

    >>> import pyarrow as pa
    >>> from datetime import datetime, UTC
    >>> rows = pa.table({"post_id": ["a", "b"], "parent_id": [None, "a"],
    ...     "parent_source": [None, "root"], "depth": [0, 1], "descendants": [1, 0],
    ...     "account_id": ["u1", "u2"], "kind": ["original", "repost"],
    ...     "created_at": [datetime(2024, 1, 1, tzinfo=UTC)] * 2})
    >>> g = cascade_igraph(rows, "a")
    >>> g.vcount(), g.ecount(), g.vs["depth"], g.es["parent_source"]
    (2, 1, [0, 1], ['root'])
    """
    nodes, edges = _node_records(rows, cascade_id)
    index = {node["id"]: i for i, node in enumerate(nodes)}
    keys = ("seen", "account", "time", "depth", "kind", "descendants")
    g = ig.Graph(
        n=len(nodes),
        edges=[(index[p], index[c]) for p, c, _ in edges],
        directed=True,
        graph_attrs={"cascade_id": cascade_id},
        vertex_attrs={
            "name": [n["id"] for n in nodes],
            **{k: [n.get(k) for n in nodes] for k in keys},
        },
        edge_attrs={"parent_source": [s for _, _, s in edges]},
    )
    return g


# Characters XML 1.0 forbids in any document (control characters other than tab,
# newline and carriage return, lone surrogates, U+FFFE and U+FFFF): ids from hostile
# exports may hold them, and one makes the whole file unreadable to every parser.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: object) -> object:
    """``value`` with XML-forbidden characters written as ``\\xNN`` / ``\\uNNNN`` text.

    Non-strings pass through. The escape keeps distinct ids distinct (unless an id
    already spells such an escape literally) and shows the analyst what was there.

    >>> print(xml_safe("a" + chr(1) + "b"), xml_safe(3))
    a\\x01b 3
    """
    if not isinstance(value, str):
        return value

    def esc(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _XML_FORBIDDEN.sub(esc, value)


def _xml_safe_graph(G: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``G`` whose node ids and string attributes are XML-safe."""
    H = nx.relabel_nodes(G, {n: xml_safe(n) for n in G.nodes}, copy=True)
    for _, data in H.nodes(data=True):
        for k, v in data.items():
            data[k] = xml_safe(v)
    for _, _, data in H.edges(data=True):
        for k, v in data.items():
            data[k] = xml_safe(v)
    H.graph.update({k: xml_safe(v) for k, v in H.graph.items()})
    return H


def write_cascade(G: nx.DiGraph, path: str | os.PathLike[str], fmt: str) -> None:
    """Write a cascade graph as GraphML or GEXF 1.2 (dynamic: node ``start`` = post time).

    Gephi reads the GEXF ``start`` of each node to replay the spread on its timeline.
    Characters XML forbids are escaped (:func:`xml_safe`), so every parser reads the file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    G = _xml_safe_graph(G)
    if fmt == "graphml":
        nx.write_graphml(G, path)
        return
    H = G.copy()
    for _, data in H.nodes(data=True):
        if "time" in data:
            data["start"] = data["time"]
    H.graph["mode"] = "dynamic"
    nx.write_gexf(H, path, version="1.2draft")


def load_cascade(
    store: Store, cascade_id: str, *, backend: str = "networkx"
) -> nx.DiGraph | ig.Graph:
    """One stored cascade as a networkx DiGraph (``backend="networkx"``) or igraph Graph.

    Raises :class:`spreadtrace.errors.InputError` when the store has no such cascade
    (a post id that is not a root names no cascade: look up its ``cascade_id``).
    """
    if backend not in ("networkx", "igraph"):
        raise ValueError("backend must be 'networkx' or 'igraph'")
    if not cascade_sql.cascade_exists(store.con, cascade_id):
        hint = cascade_sql.cascade_of_post(store.con, cascade_id)
        more = f"; post {cascade_id} belongs to cascade {hint}" if hint else ""
        raise InputError(f"no cascade {cascade_id} in the store (run `spreadtrace build`?){more}")
    rows = cascade_sql.cascade_nodes(store.con, cascade_id)
    if backend == "igraph":
        return cascade_igraph(rows, cascade_id)
    return cascade_networkx(rows, cascade_id)

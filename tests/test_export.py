"""Cascade exports: networkx / igraph objects, GraphML and GEXF files re-read by networkx."""

from __future__ import annotations

import networkx as nx
import pytest

from spreadtrace.cli import main
from spreadtrace.errors import InputError
from spreadtrace.graph.export import load_cascade, write_cascade
from spreadtrace.pipeline.build import run_build
from spreadtrace.store import Store
from tests.test_cascades_support import insert_follows, insert_posts

POSTS = [
    ("O", "alice", 0, None, "original"),
    ("R1", "bob", 1, "O", "repost"),
    ("R2", "carol", 2, "O", "repost"),  # carol follows bob -> inferred parent R1
    ("Q", "dave", 3, "R1", "quote"),  # explicit intermediate parent
    ("X", "erin", 4, "gone", "repost"),  # hangs from an original not in the store
    ("Y", "fay", 5, "X", "reply"),
]


@pytest.fixture
def built(db_path):
    with Store.open(db_path) as store:
        insert_posts(store, POSTS)
        insert_follows(store, [("carol", "bob")])
        run_build(store, publish=False)
        yield store


def test_networkx_and_igraph_show_the_tree_the_build_used(built):
    G = load_cascade(built, "O")
    assert sorted(G.edges(data="parent_source")) == [
        ("O", "R1", "root"),
        ("R1", "Q", "explicit"),
        ("R1", "R2", "inferred"),
    ]
    assert G.nodes["R2"]["depth"] == 2 and G.nodes["R2"]["account"] == "carol"
    assert G.nodes["O"]["descendants"] == 3
    assert nx.is_arborescence(G)
    g = load_cascade(built, "O", backend="igraph")
    assert sorted(g.vs["name"]) == sorted(G.nodes)
    assert sorted((g.vs[e.source]["name"], g.vs[e.target]["name"]) for e in g.es) == sorted(G.edges)


def test_unseen_root_is_a_node_without_account(built):
    G = load_cascade(built, "gone")
    assert set(G.nodes) == {"gone", "X", "Y"}
    assert G.nodes["gone"] == {"seen": False, "depth": 0, "descendants": 2}
    assert nx.is_arborescence(G)


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_files_are_read_back_by_networkx(built, tmp_path, fmt):
    G = load_cascade(built, "O")
    path = tmp_path / f"c.{fmt}"
    write_cascade(G, path, fmt)
    H = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    assert set(H.nodes) == set(G.nodes)
    assert set(H.edges) == set(G.edges)
    for u, v, source in G.edges(data="parent_source"):
        assert H.edges[u, v]["parent_source"] == source
    for n, data in G.nodes(data=True):
        assert H.nodes[n]["account"] == data["account"]
        assert int(H.nodes[n]["depth"]) == data["depth"]
        assert H.nodes[n]["time"] == data["time"]
    if fmt == "gexf":
        text = path.read_text()
        assert 'mode="dynamic"' in text
        # every post carries its time as the dynamic start
        assert H.nodes["R2"]["start"] == G.nodes["R2"]["time"] == "2024-03-01T12:02:00Z"


def test_unknown_cascade_is_a_clear_error(built):
    with pytest.raises(InputError, match="no cascade R1 .*belongs to cascade O"):
        load_cascade(built, "R1")


def test_cli_export_graph(runner, built, db_path, tmp_path):
    built.close()
    out = tmp_path / "c.gexf"
    result = runner.invoke(
        main, ["--db", str(db_path), "export-graph", "gone", "--format", "gexf", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3 nodes, 2 edges" in result.output
    H = nx.read_gexf(out)
    assert H.nodes["gone"]["seen"] is False
    missing = runner.invoke(
        main, ["--db", str(db_path), "export-graph", "nope", "--out", str(tmp_path / "x.graphml")]
    )
    assert missing.exit_code == 2
    assert "no cascade nope" in missing.output


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_control_characters_in_ids_still_give_a_file_every_parser_reads(db_path, tmp_path, fmt):
    """Account and post ids with characters XML forbids (NUL, ESC, U+FFFE, a lone
    surrogate) are escaped as text; the file parses with the standard library's XML
    parser and networkx, and distinct ids stay distinct."""
    import xml.etree.ElementTree as ET

    hostile = [
        ("O\x01", "al\x00ice", 0, None, "original"),
        ("R\x1b", "bo\ufffeb", 1, "O\x01", "repost"),
        ("R\x02", "ca\x7frol\x0b", 2, "O\x01", "repost"),
    ]
    with Store.open(db_path) as store:
        insert_posts(store, hostile)
        run_build(store, publish=False)
        G = load_cascade(store, "O\x01")
    path = tmp_path / f"c.{fmt}"
    write_cascade(G, path, fmt)
    ET.parse(path)  # raises on any forbidden character
    H = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    assert set(H.nodes) == {"O\\x01", "R\\x1b", "R\\x02"}
    assert H.number_of_edges() == 2
    assert {d["account"] for _, d in H.nodes(data=True)} == {
        "al\\x00ice",
        "bo\\ufffeb",
        "ca\x7frol\\x0b",
    }

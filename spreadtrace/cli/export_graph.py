"""``spreadtrace export-graph``: one cascade as GraphML or GEXF for Gephi and friends."""

from __future__ import annotations

from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import Settings, handle_errors, pass_settings
from spreadtrace.graph.export import FORMATS, load_cascade, write_cascade
from spreadtrace.store import Store


@main.command("export-graph")
@click.argument("cascade_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="graphml",
    show_default=True,
    help="graphml, or gexf (dynamic: each node's start is its post time, for Gephi's timeline).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The file to write.",
)
@pass_settings
@handle_errors
def export_graph(settings: Settings, cascade_id: str, fmt: str, out: Path) -> None:
    """Write one cascade (as built by `spreadtrace build`) as a graph file.

    Nodes are posts with account, time, depth, kind and descendants (an original that
    is not in the store is a node with seen=false); edges go parent -> child with
    parent_source (explicit | inferred | root).

    \b
    Example:
        spreadtrace --db work.duckdb export-graph 1775039262424 --format gexf --out c.gexf
    """
    with Store.open(settings.db, read_only=True) as store:
        G = load_cascade(store, cascade_id)
    write_cascade(G, out, fmt)
    click.echo(
        f"wrote {out} ({fmt}): {G.number_of_nodes():,} nodes, {G.number_of_edges():,} edges",
        err=True,
    )

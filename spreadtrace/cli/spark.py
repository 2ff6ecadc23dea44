"""``spreadtrace spark build``: the pipeline on Apache Spark (local mode or a cluster)."""

from __future__ import annotations

import importlib.util

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import handle_errors, json_option, print_json, quiet_option
from spreadtrace.errors import SpreadtraceError


class SparkMissing(SpreadtraceError):
    """pyspark (the optional extra `spark`) is not installed."""

    exit_code = 2


@main.group()
def spark() -> None:
    """Run the pipeline on Apache Spark (needs `pip install spreadtrace[spark]` and Java 17).

    \b
    Example:
        spreadtrace --db work.duckdb export-parquet --output lake/canonical
        spreadtrace spark build --input lake/canonical --output lake/derived
        spreadtrace --db work.duckdb attach lake/derived
    """


@spark.command("build")
@click.option(
    "--input",
    "input_dir",
    required=True,
    metavar="DIR",
    help="Canonical tables as Parquet: DIR/posts/, DIR/accounts/, DIR/follows/, DIR/media/, "
    "DIR/community_notes/, DIR/community_note_status/ (a local path or any Hadoop-compatible "
    "URI; media and the notes are optional).",
)
@click.option(
    "--output",
    "output_dir",
    required=True,
    metavar="DIR",
    help="Where to write each derived table as DIR/<table>/ Parquet (replaced).",
)
@click.option(
    "--master",
    default=None,
    metavar="URL",
    help="Spark master, e.g. local[4]; default: the one spark-submit gives, else local[*].",
)
@click.option(
    "--no-infer",
    is_flag=True,
    help="Keep reposts flattened onto the root (no time-inferred parents from follows).",
)
@click.option(
    "--shuffle-partitions",
    type=click.IntRange(min=1),
    default=None,
    help="spark.sql.shuffle.partitions (default: 4 in local mode, the cluster's otherwise).",
)
@click.option(
    "--factcheck-domains",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Corrections: a file of more fact-checking domains (one a line), added to the list "
    "(read on the driver).",
)
@quiet_option
@json_option
@handle_errors
def build(
    input_dir: str,
    output_dir: str,
    master: str | None,
    no_infer: bool,
    shuffle_partitions: int | None,
    factcheck_domains: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Build the derived tables from a Parquet export, on Spark.

    Writes every derived table of the store, equal to the DuckDB engine's: the
    cascades, media, items, accounts and narratives stages' (the narratives with their
    origins, amplification and corrections, from the input's Community Notes when it
    has them); `attach` loads them into a store.

    \b
    Example:
        spreadtrace spark build --input lake/canonical --output lake/derived --master local[2]
        spark-submit spreadtrace_submit.py spark build \\
            --input s3a://bucket/canonical --output s3a://bucket/derived
    (spreadtrace_submit.py: see docs/scale-out.md)
    """
    if importlib.util.find_spec("pyspark") is None:
        raise SparkMissing("pyspark is not installed: pip install 'spreadtrace[spark]'")
    from spreadtrace.pipeline.narratives import NarrativeParams
    from spreadtrace.spark.build import run_spark_build
    from spreadtrace.spark.session import session

    spark_session = session(master, shuffle_partitions=shuffle_partitions)
    result = run_spark_build(
        spark_session,
        input_dir,
        output_dir,
        infer=not no_infer,
        narratives=NarrativeParams(factcheck_file=factcheck_domains),
    )
    if as_json:
        print_json({"rows": result.rows, "counts": result.counts, "timings": result.timings})
    elif not quiet:
        for table, n in result.rows.items():
            click.echo(f"{n:>12,}  {table}")
        c = result.counts["cascades"]
        click.echo(
            f"cascades: {c['cascades_built']:,} from {c['posts_in_scope']:,} posts; "
            f"inferred parents {c['inferred_parents']:,}; cycle breaks {c['cycle_breaks']:,}"
        )
        m = result.counts["media"]
        click.echo(
            f"media: {m['media_groups']:,} groups ({m['groups_of_copies']:,} of copies) from "
            f"{m['media_items']:,} items; {m['media_matches']:,} matches"
        )
        i = result.counts["items"]
        click.echo(
            f"items: {i['items']:,} carried by {i['post_items']:,} post rows; "
            f"{i['texts_hashed']:,} distinct texts hashed"
        )

"""``spreadtrace build``: turn stored posts into share cascades and scores."""

from __future__ import annotations

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    handle_errors,
    json_option,
    memory_limit_option,
    pass_settings,
    print_json,
    progress_bar,
    quiet_option,
    wait_option,
)
from spreadtrace.pipeline.accounts import AccountParams
from spreadtrace.pipeline.build import BuildParams, BuildResult, run_build
from spreadtrace.pipeline.cascades import CascadeParams
from spreadtrace.pipeline.narratives import NarrativeParams
from spreadtrace.store import Store


def _summary(result: BuildResult) -> None:
    if result.mode == "nothing-new":
        click.echo(
            f"nothing new since build {result.build_id} ({result.posts:,} posts in "
            f"{result.cascades:,} cascades, same parameters): nothing rebuilt "
            f"(checked in {result.timings.get('check', 0):.2f}s; --full rebuilds anyway)"
        )
        return
    c = result.counts.get("cascades", {})
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    lines = [
        f"build {result.build_id} ({result.mode}): {result.posts:,} posts in "
        f"{result.cascades:,} cascades",
        f"  rebuilt {result.cascades_touched:,} cascades from "
        f"{c.get('posts_in_scope', 0):,} posts ({c.get('new_posts', 0):,} new)",
        f"  parents inferred from follows: {c.get('inferred_parents', 0):,}; "
        f"originals not in the store: {c.get('unseen_roots', 0):,}",
        f"  data quality in rebuilt cascades: {c.get('cycle_breaks', 0):,} cycle breaks, "
        f"{c.get('clock_skew', 0):,} clock-skewed links (see the data_quality table)",
        f"  time: {timings}",
    ]
    a = result.counts.get("accounts")
    if a:
        lines.insert(
            -1,
            f"  accounts scored: {a['accounts_scored']:,} ({a['bot_like_accounts']:,} bot-like); "
            f"coordination: {a['coordination_pairs']:,} pairs, "
            f"{a['coordination_clusters']:,} clusters of {a['coordinated_accounts']:,} accounts",
        )
    n = result.counts.get("narratives")
    if n:
        lines.insert(
            -1,
            f"  narratives: {n['narratives']:,} ({n['narrative_posts']:,} posts; the largest "
            f"holds {n.get('largest_narrative_share_pct', 0):.1f}% of all posts); "
            f"origin candidates: {n['origin_candidates']:,}; "
            f"cascades scored for amplification: {n['cascade_scores']:,}",
        )
    i = result.counts.get("items")
    if i:
        lines.insert(
            -1,
            f"  items: {i['items']:,} (url, text, hashtag, media) on {i['post_items']:,} post links",
        )
    m = result.counts.get("media")
    if m and m["media_items"]:
        lines.insert(
            -1,
            f"  media: {m['media_items']:,} items, {m['media_matches']:,} matches, "
            f"{m['media_groups']:,} groups posted ({m['groups_of_copies']:,} with copies, "
            f"{m['media_posts']:,} posts)",
        )
    click.echo("\n".join(lines))


@main.command()
@click.option("--full", is_flag=True, help="Rebuild every cascade (same result as incremental).")
@click.option(
    "--no-infer",
    is_flag=True,
    help="Keep reposts on the parent the platform gave (no time-inferred parents from follows).",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=AccountParams.window_s,
    show_default=True,
    metavar="SECONDS",
    help="Coordination: two shares of the same item count as co-shared within this window.",
)
@click.option(
    "--min-shared",
    type=click.IntRange(min=1),
    default=AccountParams.min_shared,
    show_default=True,
    help="Coordination: a pair must co-share at least this many distinct items.",
)
@click.option(
    "--bot-threshold",
    type=click.FloatRange(0, 1),
    default=AccountParams.bot_threshold,
    show_default=True,
    help="Accounts with bot_score at or above this are bot-like (is_bot_like).",
)
@click.option(
    "--text-threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=NarrativeParams.text_threshold,
    show_default=True,
    help="Narratives: word-bigram Jaccard at which two posts are copy-paste variants.",
)
@click.option(
    "--early-fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=NarrativeParams.early_fraction,
    show_default=True,
    help="Amplification: the share of a cascade's first shares counted as early.",
)
@click.option(
    "--factcheck-domains",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Corrections: a file of more fact-checking domains (one a line), added to the list.",
)
@wait_option
@memory_limit_option
@quiet_option
@json_option
@pass_settings
@handle_errors
def build(
    settings: Settings,
    full: bool,
    no_infer: bool,
    window: float,
    min_shared: int,
    bot_threshold: float,
    text_threshold: float,
    early_fraction: float,
    factcheck_domains: str | None,
    wait: float,
    memory_limit: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Build share cascades (trees, depth, breadth, structural virality, speed) and scores.

    Incremental by default: only cascades that new posts touch are rebuilt, and
    with no new data since the last build (same parameters) nothing is. A
    repost the platform pointed at the original gets, as parent, the most recent
    earlier sharer in the cascade whom the reposter follows (Goel et al. 2016);
    explicit parents are kept. Anomalies (cycles, clock skew, unseen originals) go
    to the data_quality table. The whole build is one transaction.

    \b
    Example:
        spreadtrace --db work.duckdb build
        spreadtrace --db work.duckdb build --full --json
    """
    params = BuildParams(
        cascades=CascadeParams(infer=not no_infer),
        accounts=AccountParams(window_s=window, min_shared=min_shared, bot_threshold=bot_threshold),
        narratives=NarrativeParams(
            text_threshold=text_threshold,
            early_fraction=early_fraction,
            factcheck_file=factcheck_domains,
        ),
    )
    with (
        Store.open(settings.db, wait=wait) as store,
        progress_bar(not quiet and not as_json) as progress,
    ):
        store.limit_memory(memory_limit)
        result = run_build(store, full=full, params=params, progress=progress)
    if as_json:
        print_json(result.to_dict())
    elif not quiet:
        _summary(result)

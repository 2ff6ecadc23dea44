"""``spreadtrace synth``: write a synthetic world with planted ground truth."""

from __future__ import annotations

import time

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    err_console,
    handle_errors,
    json_option,
    print_json,
    progress_bar,
    quiet_option,
)
from spreadtrace.synth import SAMPLE_POSTS, SAMPLE_SEED, generate


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, writable=True),
    help="Directory to write posts/accounts/follows .csv.gz and truth/ into.",
)
@click.option("--seed", default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option(
    "--posts",
    default=30_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Distinct valid posts to write (duplicates and malformed lines come on top).",
)
@click.option(
    "--sample",
    is_flag=True,
    help=f"Regenerate the bundled sample (seed {SAMPLE_SEED}, {SAMPLE_POSTS:,} posts).",
)
@quiet_option
@json_option
@handle_errors
def synth(out_dir: str, seed: int, posts: int, sample: bool, quiet: bool, as_json: bool) -> None:
    """Write a synthetic social world with planted bots, rings and narratives.

    The world is canonical posts, accounts and follows files that `spreadtrace
    ingest` reads, plus truth/ (accounts.csv: is_bot, coordination_group;
    narratives.csv: each planted narrative's posts and origin; params.json: every
    parameter and the count of everything planted, including the malformed lines
    ingest must reject). See docs/synthetic-world.md.

    \b
    Example:
        spreadtrace synth --out world --seed 7 --posts 1000000
        spreadtrace synth --sample --out data/sample
    """
    if sample:
        seed, posts = SAMPLE_SEED, SAMPLE_POSTS
    started = time.perf_counter()
    with progress_bar(not quiet and not as_json) as progress:
        result = generate(out_dir, seed=seed, posts=posts, progress=progress)
    seconds = time.perf_counter() - started
    c = result.counts
    if as_json:
        print_json({"out_dir": result.out_dir, "seconds": round(seconds, 2), **c})
        return
    if quiet:
        return
    err_console.print(
        f"wrote {result.out_dir}: {result.posts:,} posts ({c['reposts']:,} reposts, "
        f"{c['cascades']:,} cascades, largest {c['cascade_size_max']:,}), "
        f"{result.accounts:,} accounts ({c['bots']:,} bots), {result.follows:,} follows "
        f"in {seconds:.1f}s",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    groups = ", ".join(
        f"{g['coordination_group']} ({g['members']} members, {g['bots']} bots)"
        for g in c["groups"][:3]
    ) + (", ..." if len(c["groups"]) > 3 else "")
    err_console.print(
        f"planted: {len(c['groups'])} coordinated groups [{groups}]; "
        f"{c['narratives_misinfo']} misinformation and {c['narratives_benign']} benign narratives; "
        f"{c['bot_reaction_reposts']:,} bot reactions",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    err_console.print(
        f"mess: {c['duplicate_lines']} duplicate lines, {c['malformed_lines']} malformed lines, "
        f"{c['posts_with_unseen_parent']} reposts of unseen posts, "
        f"{c['clock_skew_posts']} clock-skewed reposts (counts in truth/params.json)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )

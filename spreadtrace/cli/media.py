"""``spreadtrace media hash``: hash local image and video files into the store."""

from __future__ import annotations

from pathlib import Path

import click

from spreadtrace.cli import main
from spreadtrace.cli._common import (
    Settings,
    handle_errors,
    json_option,
    pass_settings,
    print_json,
    progress_bar,
    quiet_option,
    wait_option,
)
from spreadtrace.store import Store


@main.group()
def media() -> None:
    """Images and videos: hash local files so posts that carry them can be matched.

    \b
    Example:
        spreadtrace --db work.duckdb media hash downloads/
    """


@media.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A CSV with columns path and media_id naming each file's media id "
    "(default: the file name without its extension).",
)
@wait_option
@quiet_option
@json_option
@pass_settings
@handle_errors
def hash_(
    settings: Settings,
    paths: tuple[Path, ...],
    mapping: Path | None,
    wait: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Hash every image and video under PATHS into the store's media table.

    Images get a PDQ hash (Meta's perceptual hash, as shared in ThreatExchange), videos
    the PDQ hash of one frame per second (the vPDQ scheme; needs Debian's ffmpeg), and
    every file its sha256. A file's media id is its name without the extension, so a
    posts file can refer to it in its `media` column; `build` then groups copies of the
    same picture. Files that cannot be hashed are kept in `rejects` with a reason, and
    files = inserted + duplicate + rejected. Nothing is fetched from the network.

    \b
    Example:
        spreadtrace --db work.duckdb media hash downloads/ extra/clip.mp4
        spreadtrace --db work.duckdb media hash --mapping ids.csv downloads/
    """
    from spreadtrace.media import hash_media, read_mapping

    ids = read_mapping(mapping) if mapping is not None else None
    with Store.open(settings.db, wait=wait) as store:
        with progress_bar(not quiet and not as_json) as progress:
            result = hash_media(store, list(paths), mapping=ids, progress=progress)
    if as_json:
        print_json(result.to_dict())
    elif not quiet:
        click.echo(
            f"files {result.files:,}: inserted {result.inserted:,} "
            f"({result.images:,} images, {result.videos:,} videos), "
            f"duplicate {result.duplicate:,}, rejected {result.rejected:,}"
        )
        for reason, n in result.reject_reasons.items():
            click.echo(f"  rejected {n:,}: {reason}")

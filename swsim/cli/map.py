"""``swsim map``: a picture of a restore, a cell per frame coloured by what happened to it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import click

from swsim.cli.options import restore_options
from swsim.errors import EXIT_CODES, UsageError
from swsim.resume.strategies import STRATEGIES

if TYPE_CHECKING:
    from swsim.resume.restore import RestoreOptions

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)


@click.command("map", epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", "strategies", type=click.Choice(list(STRATEGIES)), multiple=True,
    help="Strategy to draw (repeatable: side by side, one pass) [default: safe-list].",
)
@click.option("-o", "--output", metavar="FILE",
              help="Picture to write: FILE.png, FILE.svg or FILE.pdf (swsim[plot]).")
@click.option("--ascii", "as_ascii", is_flag=True,
              help="Draw the map as text on standard output (the default without -o).")
@click.option("--columns", type=click.IntRange(min=8), default=None,
              help="Cells per row [default: 64 as text, 512 in a picture].")
@restore_options
def command(
    image: str,
    strategies: tuple[str, ...],
    output: str | None,
    as_ascii: bool,
    columns: int | None,
    restore_options: RestoreOptions,
    key: bytes | None,
) -> None:
    """Restore IMAGE and draw its memory frame by frame: image page loaded directly, copied,
    safe page used, eaten, other allocation, boot kernel, reserved, free; with a legend and the
    counts. On a large machine a cell is a group of frames (what most of them had)."""
    from swsim.cli.fileio import open_input
    from swsim.image.source import open_image
    from swsim.runs.memory_map import ascii_map, draw_maps, memory_maps, picture_format

    if output is not None:
        picture_format(output)
        if output == "-":
            raise UsageError("-o needs a file name (.png, .svg or .pdf)")
    names = list(strategies) or ["safe-list"]
    options = replace(restore_options, strategy=names[0])
    with open_input(image) as stream:
        maps = memory_maps(open_image(stream, key), options, names)
    if output is not None:
        draw_maps(maps, output, columns or 512)
    if as_ascii or output is None:
        click.echo("\n".join(ascii_map(m, columns or 64) for m in maps), nl=False)

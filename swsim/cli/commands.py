"""The ``swsim`` commands: a thin layer over the library.

Each command parses options, calls the library and formats the result; errors go to the
funnel in :mod:`swsim.cli.main`. swsim starts thousands of times in sweeps and pipelines, so
this module imports at load time only what declaring the options needs; each command imports
its implementation and its output formatting when it runs (and rich is loaded only to draw a
table or a progress bar). tests/cli/test_startup.py checks which modules a run loads.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from swsim import __version__
from swsim.cli.fileio import atomic_output, open_input
from swsim.cli.options import (
    generate_options,
    key_file_option,
    machine_options,
    restore_options,
    write_options,
)
from swsim.cli.progress import page_progress
from swsim.errors import EXIT_CODES, UsageError
from swsim.machine.presets import PRESETS, get_preset
from swsim.resume.strategies import STRATEGIES

if TYPE_CHECKING:
    from collections.abc import Callable

    from swsim.image.checks import ImageChecks
    from swsim.image.writer import WriteOptions
    from swsim.machine.model import Machine
    from swsim.resume.restore import RestoreOptions

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)
STRATEGY_HELP = "; ".join(f"{n}: {c.summary}" for n, c in STRATEGIES.items())


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swsim")
def cli() -> None:
    """Simulate Linux software suspend: write a hibernation image of a simulated machine and
    restore it page by page with the kernel's strategies, counting what each one costs."""


@cli.command(epilog=EPILOG)
@machine_options
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Image file to write ('-': standard output). Written atomically.",
)
@click.option("--seed", type=int, help="Override the machine's page-content seed.")
@write_options
def snapshot(
    machine: Machine | None, output: str, seed: int | None, write_options: WriteOptions
) -> None:
    """Write the image of a machine (default: the built-in 'default' machine).

    The image carries a CRC32 per 32 data pages and a digest (--digest, XXH3-128 by default);
    --key-file signs it (HMAC-SHA256); --compress=zstd writes it as a standard zstd stream."""
    from swsim.image.writer import write_image

    machine = machine or get_preset("default")
    if seed is not None:
        machine = replace(machine, content=replace(machine.content, seed=seed))
    if machine.nr_saveable == 0:
        raise UsageError("the machine has no saveable pages: there is nothing to snapshot")
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary image to a terminal: use -o FILE or a pipe")
    with atomic_output(output) as stream:
        write_image(machine, stream, replace(write_options, progress=page_progress))


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", type=click.Choice(list(STRATEGIES)), default="safe-list", show_default=True,
    help="Restore strategy: " + STRATEGY_HELP,
)
@restore_options
@click.option(
    "--trace", "trace_file", metavar="FILE", type=click.Path(dir_okay=False),
    help="Write a line per image page (index, pfn, zero, frame, direct|safe) to FILE, in the "
    "order get_buffer() places them (implies --page-by-page).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def restore(
    image: str,
    strategy: str,
    trace_file: str | None,
    as_json: bool,
    restore_options: RestoreOptions,
    key: bytes | None,
) -> None:
    """Restore IMAGE ('-': standard input; raw or zstd) and report what the strategy cost.

    By default the image is restored on the machine it was made on; --preset/--machine choose
    another boot-time state (same number of frames). Every check (header, pfns, block CRCs,
    digest, and the HMAC with --key-file) passes before the final copies."""
    from swsim.cli.output import print_table, restore_json, restore_table
    from swsim.image.source import open_image
    from swsim.resume.restore import restore as restore_image

    if trace_file == "-":
        raise UsageError("--trace needs a file (standard output carries the report)")
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open_input(image))
        trace = stack.enter_context(atomic_output(trace_file)) if trace_file else None
        source = open_image(stream, key)
        options = replace(restore_options, strategy=strategy, progress=page_progress, trace=trace)
        stats = restore_image(source, options)
    note_unauthenticated(source.checks)
    if as_json:
        click.echo(restore_json(stats, source.checks.to_json()))
    else:
        print_table(restore_table(stats, f"swsim restore {image}"))


def note_unauthenticated(checks: ImageChecks) -> None:
    """A signed image restored without its key: say so on stderr."""
    if checks.signed and not checks.authenticated:
        click.echo("swsim: note: the image is signed but was not authenticated "
                   "(no --key-file)", err=True)


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", "strategies", type=click.Choice(list(STRATEGIES)), multiple=True,
    help="A strategy to compare (repeatable; default: all). " + STRATEGY_HELP,
)
@restore_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def compare(
    image: str,
    strategies: tuple[str, ...],
    as_json: bool,
    restore_options: RestoreOptions,
    key: bytes | None,
) -> None:
    """Restore IMAGE ('-': standard input; raw or zstd) once per strategy, side by side.

    The input is read once; 'excess copies' is each strategy's copies beyond claim's, the
    fewest any in-memory restore can make on that machine."""
    from swsim.cli.output import compare_json, compare_table, print_table
    from swsim.image.source import open_image
    from swsim.runs.compare import compare as compare_image

    with open_input(image) as stream:
        rows = compare_image(open_image(stream, key), restore_options, strategies)
    asked = restore_options.allocator
    used = next((r.stats.allocator for r in rows if r.stats is not None), asked) or "default"
    if as_json:
        click.echo(compare_json(rows, {"image": image, "allocator": used}))
    else:
        print_table(compare_table(rows, f"swsim compare {image} (allocator {used})"))


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--verify", is_flag=True,
    help="Also check every pfn as a restore does, and stop at the first problem.",
)
@key_file_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def inspect(image: str, verify: bool, key: bytes | None, as_json: bool) -> None:
    """Show IMAGE's header, a metadata summary (pages per zone, zero pages, pfn ranges) and
    check its block CRCs, digest and (with --key-file) HMAC. Exits 3 (6 with a key) when a
    check fails."""
    from swsim.cli.output import inspect_table, print_table
    from swsim.image.source import open_image
    from swsim.runs.summary import summarize_image

    with open_input(image) as stream:
        summary = summarize_image(open_image(stream, key), strict=verify)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        print_table(inspect_table(summary, f"swsim inspect {image}"))
    if summary.failure is not None:
        raise summary.failure


@cli.command("machine", epilog=EPILOG)
@machine_options
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Machine file to write ('-': standard output).",
)
@click.option("--list", "list_presets", is_flag=True, help="List the presets and exit.")
@generate_options
def machine_cmd(
    machine: Machine | None,
    output: str,
    list_presets: bool,
    generate: Callable[[], Machine] | None,
) -> None:
    """Write a preset (or a checked machine file, or a generated machine) as a machine file."""
    if generate is not None:
        if machine is not None:
            raise UsageError("--generate cannot be combined with --preset or --machine")
        machine = generate()
    if list_presets:
        for name in sorted(PRESETS):
            m = get_preset(name)
            click.echo(
                f"{name:12} {m.frames} frames, {m.nr_saveable} saveable, "
                f"{m.nr_boot_free} free at boot"
            )
        return
    machine = machine or get_preset("default")
    text = json.dumps(machine.to_json(), indent=1) + "\n"
    with atomic_output(output) as stream:
        stream.write(text.encode())


#: Commands that live in modules of their own (``swsim/cli/<command>.py``, each defining
#: ``command``): adding one is one line here.
COMMAND_MODULES = (
    "swsim.cli.sweep",
    "swsim.cli.map",
    "swsim.cli.plot",
)
for _module in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_module).command)

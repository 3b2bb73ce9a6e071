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
from swsim.cli.fileio import atomic_output, open_input, output_target
from swsim.cli.memory_options import RealMemory, memory_options
from swsim.cli.options import (
    SEED,
    generate_options,
    image_format_options,
    key_file_option,
    machine_options,
    restore_options,
    resume_offset_option,
    suspend_options,
    write_options,
)
from swsim.cli.progress import page_progress
from swsim.errors import EXIT_CODES, RestoreNoMemory, UsageError
from swsim.machine.presets import PRESETS, get_preset
from swsim.resume.strategies import STRATEGIES

if TYPE_CHECKING:
    from collections.abc import Callable

    from swsim.image.checks import ImageChecks
    from swsim.image.writer import WriteOptions
    from swsim.machine.model import Machine
    from swsim.resume.restore import RestoreOptions
    from swsim.suspend.kernels import ImageSize

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)
STRATEGY_HELP = "; ".join(f"{n}: {c.summary}" for n, c in STRATEGIES.items())


#: The commands in the order ``swsim --help`` lists them: the order a user meets them. A new
#: command appends its name here (a command not listed comes after, in registration order).
COMMAND_ORDER: list[str] = [
    "snapshot", "inspect", "restore", "compare", "machine", "cycle", "sweep", "plot", "map"
]


class SwsimGroup(click.Group):
    """The ``swsim`` group: its commands listed in :data:`COMMAND_ORDER`, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The registered commands, in :data:`COMMAND_ORDER` then registration order."""
        listed = [name for name in COMMAND_ORDER if name in self.commands]
        return listed + [name for name in self.commands if name not in listed]


@click.group(
    cls=SwsimGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "-V", "--version", prog_name="swsim")
def cli() -> None:
    """Simulate Linux software suspend: write a hibernation image of a simulated machine and
    restore it page by page with the kernel's strategies, counting what each one costs."""


MEMORY_OUT = click.option(
    "--memory-out", metavar="FILE", type=click.Path(dir_okay=False),
    help="Also write the machine's memory to FILE as a sparse file: frame PFN at byte "
    "PFN*4096, the image's pages in their frames, every other frame a hole (snapshot: as "
    "suspended; restore: after the final copies), so that cmp of the two proves a restore. "
    "Written atomically; not to standard output.",
)


def check_memory_out(path: str | None) -> None:
    """``--memory-out`` needs a regular file (or a new path): the memory is written at its
    frames' offsets, which neither ``-`` nor a device or FIFO (written in place) can take."""
    if path is None:
        return
    if path == "-" or output_target(path)[1]:
        raise UsageError(f"--memory-out needs a regular file, not {path} (the memory is "
                         "written at its frames' offsets, not as a stream)")


@cli.command(epilog=EPILOG)
@machine_options
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Image file to write ('-': standard output). Written atomically.",
)
@click.option("--seed", type=SEED, help="Override the machine's page-content seed.")
@write_options
@image_format_options
@suspend_options
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print the suspend report as one JSON object (needs -o FILE).",
)
@MEMORY_OUT
def snapshot(
    machine: Machine | None,
    output: str,
    seed: int | None,
    write_options: WriteOptions,
    image_format: str,
    kernel_format: str,
    kernel: str,
    image_size: ImageSize | None,
    as_json: bool,
    memory_out: str | None,
) -> None:
    """Write the hibernation image of a machine.

    The machine is a preset, a machine file, or by default the built-in 'default'. With
    --kernel, the suspend side of that kernel decides what is saved: it shrinks memory toward
    --image-size and refuses (exit 4, no file) when the atomic copy does not fit; its messages
    go to stderr, or its report to stdout with --json. The image carries a CRC32 per 32 data
    pages and a digest (--digest, XXH3-128 by default); --key-file signs it (HMAC-SHA256);
    --compress=zstd writes it as a standard zstd stream. --format linux-swap|snapshot-stream
    writes the kernel's own formats instead."""
    from swsim.cli.kernel_snapshot import check_swsim_compress, write_kernel_snapshot
    from swsim.image.writer import write_snapshot
    from swsim.suspend.kernels import suspend_or_fail

    if as_json and output == "-":
        raise UsageError("--json needs -o FILE (standard output carries the image)")
    machine = machine or get_preset("default")
    if seed is not None:
        machine = replace(machine, content=replace(machine.content, seed=seed))
    if machine.nr_saveable == 0:
        raise UsageError("the machine has no saveable pages: there is nothing to snapshot")
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary image to a terminal: use -o FILE or a pipe")
    check_memory_out(memory_out)
    if image_format != "swsim":
        report, saved = write_kernel_snapshot(
            machine, output, image_format, kernel_format, write_options, kernel, image_size
        )
    else:
        check_swsim_compress(write_options)
        with atomic_output(output) as stream:  # a suspend that fails leaves no file either
            report, saved = suspend_or_fail(
                machine, kernel, image_size, write_options.zero_pages
            )
            write_snapshot(saved, stream, replace(write_options, progress=page_progress))
    if memory_out is not None:  # the suspended machine's memory: what the image saved
        from swsim.machine.memory_file import MemoryFile

        with atomic_output(memory_out, durable=False) as out:
            saved.write_memory(MemoryFile(out.fileno(), machine.frames))
    if as_json:
        click.echo(json.dumps(report.to_json()))
    elif kernel != "none":
        for message in report.messages:
            click.echo(f"PM: {message}", err=True)


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-", type=click.Path())
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
@MEMORY_OUT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@resume_offset_option
def restore(
    image: str,
    strategy: str,
    trace_file: str | None,
    memory_out: str | None,
    as_json: bool,
    restore_options: RestoreOptions,
    key: bytes | None,
    resume_offset: int,
) -> None:
    """Restore IMAGE with one strategy and report what it cost.

    IMAGE is a file or '-' (standard input), raw or zstd. By default the image is restored on
    the machine it was made on; --preset/--machine choose another boot-time state (same number
    of frames). Every check (header, pfns, block CRCs, digest, and the HMAC with --key-file)
    passes before the final copies."""
    from swsim.cli.output import print_table, restore_json, restore_table
    from swsim.image.source import open_image
    from swsim.resume.restore import restore as restore_image

    if trace_file == "-":
        raise UsageError("--trace needs a file (standard output carries the report)")
    check_memory_out(memory_out)
    if trace_file == "":
        raise UsageError("--trace needs a file name (it is empty)")
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open_input(image))
        trace = stack.enter_context(atomic_output(trace_file)) if trace_file else None
        source = open_image(stream, key, resume_offset=resume_offset)
        memory = None
        if memory_out is not None:
            memory = stack.enter_context(atomic_output(memory_out, durable=False))
        options = replace(restore_options, strategy=strategy, progress=page_progress, trace=trace,
                          memory_out=memory)
        try:
            stats = restore_image(source, options)
        except RestoreNoMemory as exc:
            if as_json and exc.stats is not None:  # the report, `missing` filled; then exit 4
                click.echo(restore_json(exc.stats, source.checks.to_json()))
            raise
    note_unauthenticated(source.checks)
    boot = boot_state(source.info.format, restore_options.machine is not None)
    note_tuxonice(source.info.suspend_kernel)
    for note in stats.notes:
        click.echo(f"swsim: note: {note}", err=True)
    if as_json:
        click.echo(restore_json(stats, {**source.checks.to_json(), "boot_state": boot}))
    else:
        print_table(restore_table(stats, f"swsim restore {image} (boot state: {boot})"))


def boot_state(image_format: str, given: bool) -> str:
    """Where a restore's boot-time state came from, for its report."""
    if given:
        return "--machine/--preset"
    if image_format == "swsim":
        return "the image's machine"
    return "default footprint (docs/kernel-formats.md)"


def note_unauthenticated(checks: ImageChecks) -> None:
    """A signed image restored without its key: say so on stderr."""
    if checks.signed and not checks.authenticated:
        click.echo("swsim: note: the image is signed but was not authenticated "
                   "(no --key-file)", err=True)


def note_tuxonice(suspend_kernel: str) -> None:
    """A TuxOnIce image restored whole: say that TuxOnIce's own resume is not that."""
    if suspend_kernel == "tuxonice":
        click.echo("swsim: note: a TuxOnIce image, restored whole and atomically; TuxOnIce "
                   "restores pageset 1 only and reads pageset 2 back after (swsim cycle)",
                   err=True)


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-", type=click.Path())
@click.option(
    "--strategy", "strategies", type=click.Choice(list(STRATEGIES)), multiple=True,
    help="A strategy to compare (repeatable; default: all). " + STRATEGY_HELP,
)
@restore_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@resume_offset_option
def compare(
    image: str,
    strategies: tuple[str, ...],
    as_json: bool,
    restore_options: RestoreOptions,
    key: bytes | None,
    resume_offset: int,
) -> None:
    """Compare the strategies on IMAGE: one restore each, side by side.

    IMAGE is a file or '-' (standard input), raw or zstd, and it is read once; 'excess
    copies' is each strategy's copies beyond claim's, the fewest any in-memory restore can
    make on that machine."""
    from swsim.cli.output import compare_json, compare_table, print_table
    from swsim.image.source import open_image
    from swsim.runs.compare import compare as compare_image

    with open_input(image) as stream:
        source = open_image(stream, key, resume_offset=resume_offset)
        rows = compare_image(source, restore_options, strategies)
    for row in rows:
        for note in row.stats.notes if row.stats is not None else ():
            click.echo(f"swsim: note: {row.strategy}: {note}", err=True)
    # Each row, failed or not, carries the allocator the pass resolved (a preset's own).
    used = next((r.stats.allocator for r in rows if r.stats), restore_options.allocator)
    boot = boot_state(source.info.format, restore_options.machine is not None)
    made_by = source.info.suspend_kernel
    note_tuxonice(made_by)
    if as_json:
        extra = {"image": image, "allocator": used, "boot_state": boot, "suspend_kernel": made_by}
        click.echo(compare_json(rows, extra))
    else:
        title = f"swsim compare {image} (allocator {used}; boot state: {boot}"
        title += ")" if made_by == "none" else f"; made by the {made_by} suspend side)"
        print_table(compare_table(rows, title))


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-", type=click.Path())
@click.option(
    "--verify", is_flag=True,
    help="Also check every pfn as a restore does, and stop at the first problem.",
)
@key_file_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@resume_offset_option
def inspect(
    image: str, verify: bool, key: bytes | None, as_json: bool, resume_offset: int
) -> None:
    """Show what IMAGE holds and check it, without restoring it.

    The header, a metadata summary (pages per zone, zero pages, pfn ranges) and the checks:
    block CRCs, digest and (with --key-file) HMAC; on a kernel image its own fields and
    CRC32. Exits 3 (6 with a key) when a check fails."""
    from swsim.cli.output import inspect_table, print_table
    from swsim.image.source import open_image
    from swsim.runs.summary import summarize_image

    with open_input(image) as stream:
        source = open_image(stream, key, resume_offset=resume_offset)
        summary = summarize_image(source, strict=verify)
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
@click.option(
    "--from-image", "from_image", metavar="IMAGE|-",
    help="The machine an image implies: its pfns as the suspend state, the default boot "
    "state of docs/kernel-formats.md (a swsim image: the machine it records).",
)
@resume_offset_option
@memory_options
def machine_cmd(
    machine: Machine | None,
    output: str,
    list_presets: bool,
    generate: Callable[[], Machine] | None,
    from_image: str | None,
    resume_offset: int,
    real_memory: RealMemory | None,
) -> None:
    """Write a preset (or a checked machine file, a generated machine, or the machine of an
    image) as a machine file.

    --boot-kpageflags / --suspend-kpageflags / --from-host replace its boot or suspend part
    with a real kernel's memory (without a machine, they make one of the copies alone):
    --from-image real.swap --boot-kpageflags boot.kpf takes the image's pfns as the suspend
    part and the copy as the boot part."""
    if from_image is not None:
        if machine is not None or generate is not None:
            raise UsageError("--from-image cannot be combined with --preset, --machine or "
                             "--generate")
        from swsim.cli.from_image import read_image_machine

        machine = read_image_machine(from_image, resume_offset)
    if generate is not None:
        if machine is not None:
            raise UsageError("--generate cannot be combined with --preset or --machine")
        machine = generate()
    if real_memory is not None:
        machine = real_memory(machine)
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
    "swsim.cli.cycle",
    "swsim.cli.sweep",
    "swsim.cli.map",
    "swsim.cli.plot",
)
for _module in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_module).command)

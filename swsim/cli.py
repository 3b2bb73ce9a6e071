"""The ``swsim`` command line: a thin layer over the library.

Each command parses options, calls the library and formats the result. Errors a user can
cause are :class:`swsim.errors.SwsimError` subclasses: one line on stderr and their exit code.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from swsim import __version__
from swsim.allocator import ALLOCATORS
from swsim.compare import compare_image
from swsim.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    ImageError,
    SwsimError,
    UsageError,
)
from swsim.fileio import atomic_output, open_input
from swsim.footprint import MIB, BootFootprint
from swsim.inspect import inspect_image
from swsim.machine import Machine
from swsim.presets import (
    DEFAULT_ALLOCATOR,
    PRESET_ALLOCATORS,
    PRESETS,
    generate_machine,
    get_preset,
)
from swsim.report import compare_json, compare_table, inspect_table, print_restore, restore_json
from swsim.restore import restore_image
from swsim.snapshot import ZERO_PAGES_MODES, write_image
from swsim.strategies import STRATEGIES

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BROKEN_PIPE = 141

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
) + f"\n  {EXIT_BROKEN_PIPE:>3}  output pipe closed early (quietly)"


def machine_options(func: F) -> F:
    """``--preset NAME`` / ``--machine FILE``: the machine to use (mutually exclusive)."""

    @click.option(
        "--machine", "machine_file", metavar="FILE", type=click.Path(dir_okay=False),
        help="Machine file (JSON, swsim-machine/1).",
    )
    @click.option(
        "--preset", metavar="NAME", type=click.Choice(sorted(PRESETS)),
        help="Built-in machine.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, preset: str | None, machine_file: str | None, **kw: Any) -> Any:
        if preset and machine_file:
            raise UsageError("--preset and --machine are mutually exclusive")
        machine = None
        if machine_file:
            machine = Machine.load(machine_file)
        elif preset:
            machine = get_preset(preset)
        return func(*args, machine=machine, **kw)

    return wrapper  # type: ignore[return-value]


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
@click.option(
    "--zero-pages", type=click.Choice(list(ZERO_PAGES_MODES)), default="skip", show_default=True,
    help="skip: all-zero pages get a flagged metadata entry and no data page (v6.6+); "
    "store: they are stored as data pages.",
)
def snapshot(machine: Machine | None, output: str, seed: int | None, zero_pages: str) -> None:
    """Write the image of a machine (default: the built-in 'default' machine)."""
    machine = machine or get_preset("default")
    if seed is not None:
        from dataclasses import replace

        machine = replace(machine, content=replace(machine.content, seed=seed))
    if machine.nr_saveable == 0:
        raise UsageError("the machine has no saveable pages: there is nothing to snapshot")
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary image to a terminal: use -o FILE or a pipe")
    with atomic_output(output) as stream:
        write_image(machine, stream, zero_pages)


def allocator_options(func: F) -> F:
    """``--allocator NAME`` and ``--seed N``: the boot-time page allocator."""

    @click.option(
        "--allocator", type=click.Choice(list(ALLOCATORS)), default=None,
        help=f"Boot-time page allocator policy [default: {DEFAULT_ALLOCATOR}, or the one a "
        "preset documents: " + ", ".join(f"{p}: {a}" for p, a in PRESET_ALLOCATORS.items())
        + "].",
    )
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of --allocator=random."
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kw: Any) -> Any:
        return func(*args, **kw)

    return wrapper  # type: ignore[return-value]


STRATEGY_HELP = "; ".join(f"{n}: {c.summary}" for n, c in STRATEGIES.items())


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", type=click.Choice(list(STRATEGIES)), default="safe-list", show_default=True,
    help="Restore strategy: " + STRATEGY_HELP,
)
@allocator_options
@machine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def restore(
    image: str,
    strategy: str,
    allocator: str | None,
    seed: int,
    machine: Machine | None,
    as_json: bool,
) -> None:
    """Restore IMAGE ('-': standard input) and report what the strategy cost.

    By default the image is restored on the machine it was made on; --preset/--machine choose
    another boot-time state (same number of frames)."""
    with open_input(image) as stream:
        stats = restore_image(stream, strategy, machine, allocator, seed)
    if as_json:
        click.echo(restore_json(stats))
    else:
        print_restore(stats, title=f"swsim restore {image}")


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", "strategies", type=click.Choice(list(STRATEGIES)), multiple=True,
    help="A strategy to compare (repeatable; default: all). " + STRATEGY_HELP,
)
@allocator_options
@machine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def compare(
    image: str,
    strategies: tuple[str, ...],
    allocator: str | None,
    seed: int,
    machine: Machine | None,
    as_json: bool,
) -> None:
    """Restore IMAGE ('-': standard input) once per strategy and show them side by side.

    The input is read once; 'excess copies' is each strategy's copies beyond claim's, the
    fewest any in-memory restore can make on that machine."""
    with open_input(image) as stream:
        data = stream.read()
    rows = compare_image(data, list(strategies), machine, allocator, seed)
    used = next((r.stats.allocator for r in rows if r.stats is not None), allocator)
    if as_json:
        click.echo(compare_json(rows, {"image": image, "allocator": used}))
    else:
        from rich.console import Console

        Console().print(compare_table(rows, f"swsim compare {image} (allocator {used})"))


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def inspect(image: str, as_json: bool) -> None:
    """Show IMAGE's header, a metadata summary (pages per zone, zero pages, pfn ranges) and
    check its digest. Exits 3 when the digest does not match."""
    with open_input(image) as stream:
        summary = inspect_image(stream)
    if as_json:
        import json

        click.echo(json.dumps(summary.to_json()))
    else:
        from rich.console import Console

        Console().print(inspect_table(summary, f"swsim inspect {image}"))
    if not summary.digest_ok:
        raise ImageError(summary.digest_error or "digest mismatch")


@cli.command("machine", epilog=EPILOG)
@machine_options
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Machine file to write ('-': standard output).",
)
@click.option("--list", "list_presets", is_flag=True, help="List the presets and exit.")
@click.option(
    "--generate", is_flag=True,
    help="Generate a machine with the boot footprint options below (docs/footprint.md).",
)
@click.option("--frames", type=click.IntRange(min=1024), default=262144, show_default=True,
              help="--generate: page frames.")
@click.option("--saved-fraction", type=float, default=0.40, show_default=True,
              help="--generate: fraction of memory saved in the image.")
@click.option("--load-address-mib", type=click.IntRange(min=1), default=2, show_default=True,
              help="--generate: kernel load address (CONFIG_PHYSICAL_START).")
@click.option("--kernel-mib", type=click.IntRange(min=0), default=32, show_default=True,
              help="--generate: kernel image size.")
@click.option("--early-mib", type=click.IntRange(min=0), default=8, show_default=True,
              help="--generate: early boot allocations above the kernel image.")
@click.option("--struct-page-bytes", type=click.IntRange(min=0), default=64, show_default=True,
              help="--generate: bytes of mem_map per frame.")
@click.option("--seed", "gen_seed", type=int, default=1, show_default=True,
              help="--generate: layout and content seed.")
def machine_cmd(
    machine: Machine | None,
    output: str,
    list_presets: bool,
    generate: bool,
    frames: int,
    saved_fraction: float,
    load_address_mib: int,
    kernel_mib: int,
    early_mib: int,
    struct_page_bytes: int,
    gen_seed: int,
) -> None:
    """Write a preset (or a checked machine file, or a generated machine) as a machine file."""
    if generate:
        if machine is not None:
            raise UsageError("--generate cannot be combined with --preset or --machine")
        footprint = BootFootprint(
            load_address=load_address_mib * MIB, kernel_size=kernel_mib * MIB,
            early_size=early_mib * MIB, struct_page_bytes=struct_page_bytes,
        )
        machine = generate_machine(frames, saved_fraction, footprint, gen_seed)
    if list_presets:
        for name in sorted(PRESETS):
            m = get_preset(name)
            click.echo(
                f"{name:12} {m.frames} frames, {m.nr_saveable} saveable, "
                f"{m.nr_boot_free} free at boot"
            )
        return
    machine = machine or get_preset("default")
    import json

    text = json.dumps(machine.to_json(), indent=1) + "\n"
    with atomic_output(output) as stream:
        stream.write(text.encode())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="swsim", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("swsim: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SwsimError as exc:
        click.echo(f"swsim: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("swsim: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`swsim snapshot | head -c 100`): end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except MemoryError:
        click.echo("swsim: error: out of host memory", err=True)
        sys.exit(EXIT_UNEXPECTED)
    except OSError as exc:
        click.echo(f"swsim: error: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_UNEXPECTED)

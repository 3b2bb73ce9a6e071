"""The ``swsim`` command line: a thin layer over the library.

Each command parses options, calls the library and formats the result. Errors a user can
cause are :class:`swsim.errors.SwsimError` subclasses: one line on stderr and their exit code.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from swsim import __version__
from swsim.allocator import ALLOCATORS
from swsim.codec import compressed_output
from swsim.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    SwsimError,
    UsageError,
)
from swsim.fileio import atomic_output, open_input, quiet_stdout
from swsim.inspect import inspect_cmd
from swsim.integrity import ImageChecks
from swsim.machine import Machine
from swsim.options import compress_options, key_file_option
from swsim.presets import PRESETS, get_preset
from swsim.report import print_restore, restore_json
from swsim.restore import restore_image
from swsim.snapshot import write_image
from swsim.strategies import STRATEGIES

F = TypeVar("F", bound=Callable[..., Any])
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)
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
@compress_options
@key_file_option
def snapshot(
    machine: Machine | None,
    output: str,
    seed: int | None,
    compress: str,
    level: int,
    threads: int,
    key: bytes | None,
) -> None:
    """Write the image of a machine (default: the built-in 'default' machine).

    The image carries a CRC32 per 32 data pages and a SHA-256 digest; --key-file signs it
    (HMAC-SHA256); --compress=zstd writes it as a standard zstd stream."""
    machine = machine or get_preset("default")
    if seed is not None:
        from dataclasses import replace

        machine = replace(machine, content=replace(machine.content, seed=seed))
    if machine.nr_saveable == 0:
        raise UsageError("the machine has no saveable pages: there is nothing to snapshot")
    if output == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write a binary image to a terminal: use -o FILE or a pipe")
    with atomic_output(output) as stream, compressed_output(
        stream, compress, level, threads
    ) as out:
        write_image(machine, out, key)


@cli.command(epilog=EPILOG)
@click.argument("image", metavar="IMAGE|-")
@click.option(
    "--strategy", type=click.Choice(list(STRATEGIES)), default="safe-list", show_default=True,
    help="Restore strategy: " + "; ".join(f"{n}: {c.summary}" for n, c in STRATEGIES.items()),
)
@click.option(
    "--allocator", type=click.Choice(list(ALLOCATORS)), default="ascending", show_default=True,
    help="Boot-time page allocator policy.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --allocator=random.")
@machine_options
@key_file_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def restore(
    image: str,
    strategy: str,
    allocator: str,
    seed: int,
    machine: Machine | None,
    key: bytes | None,
    as_json: bool,
) -> None:
    """Restore IMAGE ('-': standard input; raw or zstd) and report what the strategy cost.

    By default the image is restored on the machine it was made on; --preset/--machine choose
    another boot-time state (same number of frames). Every check (header, pfns, block CRCs,
    digest, and the HMAC with --key-file) passes before the final copies."""
    checks = ImageChecks()
    with open_input(image) as stream:
        stats = restore_image(stream, strategy, machine, allocator, seed, key, checks)
    if checks.signed and not checks.authenticated:
        click.echo("swsim: note: the image is signed but was not authenticated "
                   "(no --key-file)", err=True)
    if as_json:
        click.echo(restore_json(stats, checks.to_json()))
    else:
        print_restore(stats, title=f"swsim restore {image}")


@cli.command("machine", epilog=EPILOG)
@machine_options
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Machine file to write ('-': standard output).",
)
@click.option("--list", "list_presets", is_flag=True, help="List the presets and exit.")
def machine_cmd(machine: Machine | None, output: str, list_presets: bool) -> None:
    """Write a preset (or a checked machine file) as a machine file."""
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


inspect_cmd.epilog = EPILOG
cli.add_command(inspect_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Not cli.main(): it prints a blank line on Ctrl-C and exits 1 on a closed pipe.
        with cli.make_context("swsim", list(args)) as ctx:
            cli.invoke(ctx)
    except click.exceptions.Abort:
        click.echo("swsim: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        if isinstance(exc, _NO_ARGS_IS_HELP):  # bare `swsim`: the help, on stderr
            exc.show()
            sys.exit(EXIT_USAGE)
        # One line, like every other error; click's own usage block would take three.
        hint = ""
        failed = getattr(exc, "ctx", None)
        if failed is not None:
            hint = f" (try '{failed.command_path} --help')"
        click.echo(f"swsim: error: {exc.format_message()}{hint}", err=True)
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
        quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except MemoryError:
        click.echo("swsim: error: out of host memory", err=True)
        sys.exit(EXIT_UNEXPECTED)

"""The ``swsim`` command's entry point: process settings, then the error -> exit-code funnel.

swsim does no linear algebra, so the entry point spares numpy's import the start of an
OpenBLAS thread pool (about 50 ms of every run on this project's 2-core machines; sweeps start
swsim thousands of times) before anything imports numpy. A value the user set is kept; library
users importing :mod:`swsim` are not affected.

Shell completion (``_SWSIM_COMPLETE=bash_source|zsh_source|fish_source swsim``) is answered
before any command runs.

Every error a user can cause is a :class:`~swsim.errors.SwsimError` (or click's own usage
error): one line on stderr and its documented exit code. Library messages name parameters;
here they are worded for the options that set them (:func:`error_message`).
"""

from __future__ import annotations

import os
import sys

import click

from swsim.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    InvalidValue,
    SwsimError,
)

_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    getattr(click.exceptions, name)
    for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name)
)


#: The environment variable through which a shell asks for completions (click's protocol:
#: ``_SWSIM_COMPLETE=bash_source swsim`` prints the bash script).
COMPLETE_VAR = "_SWSIM_COMPLETE"


def error_message(exc: SwsimError) -> str:
    """``exc`` as one line for the command line: a parameter's name becomes its option's."""
    if isinstance(exc, InvalidValue):
        return f"--{exc.param.replace('_', '-')} {exc.detail}"
    return str(exc)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process's arguments), turning every error into
    one line on stderr and ``sys.exit`` with its code; returns when the command succeeded."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from swsim.cli.fileio import quiet_stdout

    args = sys.argv[1:] if argv is None else argv
    try:
        from swsim.cli.commands import cli

        instruction = os.environ.get(COMPLETE_VAR)
        if instruction:  # shell completion (docs/commands.md), as click's own cli.main() does
            from click.shell_completion import shell_complete

            sys.exit(shell_complete(cli, {}, "swsim", COMPLETE_VAR, instruction))
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
        click.echo(f"swsim: error: {error_message(exc)}", err=True)
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
    except OSError as exc:
        click.echo(f"swsim: error: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_UNEXPECTED)

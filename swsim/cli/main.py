"""The ``swsim`` command's entry point: signals and process settings, then the error -> exit-code
funnel.

:func:`main` first catches the signals that stop a run (SIGINT, SIGTERM, SIGHUP), before it
imports anything heavy: from then on each of them unwinds the run as a :class:`Stopped`
exception, so that partial outputs are removed (:mod:`swsim.cli.fileio`), prints one line and
exits ``128 + signal number`` (130, 143, 129). This module itself imports only ``os``,
``signal`` and ``sys``. (A signal that arrives before Python has run this module's first line,
during the interpreter's own start-up, is Python's to handle.)

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

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swsim.errors import SwsimError

#: The signals that stop a run, and how the one line on stderr names each.
STOP_SIGNALS: dict[signal.Signals, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated (SIGTERM)",
    signal.SIGHUP: "hung up (SIGHUP)",
}

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Stopped(BaseException):
    """A stop signal arrived: unwinds the run (``finally`` blocks and context managers run,
    removing partial outputs; ``except Exception`` does not catch it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    """The handler of every stop signal: later ones are ignored while the run unwinds (one
    line, one exit status), then :class:`Stopped` is raised."""
    for stop in STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    raise Stopped(signum)


#: Stops that Python swallowed: a signal whose handler ran inside a weakref callback or a
#: ``__del__`` (the import system's module locks have one) raised :class:`Stopped` where
#: Python can only report it as "Exception ignored"; the run went on, so it ends as stopped.
_SWALLOWED: list[int] = []


def _unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook``: a swallowed :class:`Stopped` is remembered, not printed."""
    if isinstance(unraisable.exc_value, Stopped):
        _SWALLOWED.append(unraisable.exc_value.signum)
    else:
        sys.__unraisablehook__(unraisable)


def catch_stop_signals() -> dict[signal.Signals, _Handler]:
    """Install :func:`_stop` for every stop signal the process does not ignore (``nohup``
    keeps SIGHUP ignored); the previous handlers, to put back."""
    previous: dict[signal.Signals, _Handler] = {}
    for stop in STOP_SIGNALS:
        current = signal.getsignal(stop)
        if current is not signal.SIG_IGN:
            previous[stop] = signal.signal(stop, _stop)
    return previous


def _stopped(signum: int) -> int:
    """Report a stop: one line on stderr (if it is still there); the exit status."""
    from swsim.cli.fileio import quiet_stdout

    quiet_stdout()  # the output is incomplete: no flush of its rest may block or fail
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(f"swsim: {STOP_SIGNALS[signal.Signals(signum)]}\n")
        sys.stderr.flush()
    return 128 + signum


#: The environment variable through which a shell asks for completions (click's protocol:
#: ``_SWSIM_COMPLETE=bash_source swsim`` prints the bash script).
COMPLETE_VAR = "_SWSIM_COMPLETE"


def error_message(exc: SwsimError) -> str:
    """``exc`` as one line for the command line: a parameter's name becomes its option's."""
    from swsim.errors import InvalidValue

    if isinstance(exc, InvalidValue):
        return f"--{exc.param.replace('_', '-')} {exc.detail}"
    return str(exc)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process's arguments), turning every error into
    one line on stderr and ``sys.exit`` with its code; returns when the command succeeded.

    Without ``argv`` this is the process's entry point: once the run is over (its outputs
    complete or removed, its exit status decided) a stop signal is ignored while the
    interpreter shuts down. With ``argv`` (a caller in the same process) the previous handlers
    are put back."""
    previous: dict[signal.Signals, _Handler] = {}
    hook = sys.unraisablehook
    try:
        sys.unraisablehook = _unraisable
        previous = catch_stop_signals()
        try:
            _run(sys.argv[1:] if argv is None else argv)
        except SystemExit as exc:
            if exc.code not in (None, 0) or not _SWALLOWED:
                raise
        if _SWALLOWED:  # the run completed (its outputs whole) after a stop Python swallowed
            sys.exit(_stopped(_SWALLOWED.pop()))
    except Stopped as exc:
        sys.exit(_stopped(exc.signum))
    except KeyboardInterrupt:  # before the handlers were in place, or raised by a library
        sys.exit(_stopped(signal.SIGINT))
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, signal.SIG_IGN if argv is None else handler)
        if argv is not None:
            sys.unraisablehook = hook
        _SWALLOWED.clear()
    if argv is None:
        _end_process()


def _end_process() -> None:
    """The run succeeded and its outputs are complete: end the process without the
    interpreter's teardown, which frees every object and module one by one (20-40 ms of a
    restore here, as much as its final copies). What that teardown does that matters is done
    first: the standard streams are flushed and the atexit handlers run. Under a profiler or
    a tracer, with a thread still running that is no daemon, or with a flush that fails, the
    interpreter exits as usual (and reports the failure as it always did)."""
    import atexit
    import threading

    if sys.getprofile() is not None or sys.gettrace() is not None:
        return  # a profiler or a debugger reports at the exit (python -m cProfile -m swsim)
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        return
    atexit._run_exitfuncs()
    os._exit(0)


def _run(args: list[str]) -> None:
    """Import the CLI, run it, and turn each error into its line and exit code."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from swsim.cli.fileio import guard_std_streams, quiet_stdout

    guard_std_streams()
    import click

    from swsim.errors import EXIT_BROKEN_PIPE, EXIT_UNEXPECTED, EXIT_USAGE, SwsimError

    no_args_is_help = tuple(
        getattr(click.exceptions, name)
        for name in ("NoArgsIsHelpError",)
        if hasattr(click.exceptions, name)
    )
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
        raise KeyboardInterrupt from None
    except click.ClickException as exc:
        if isinstance(exc, no_args_is_help):  # bare `swsim`: the help, on stderr
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
    except BrokenPipeError:
        # The reader went away (`swsim snapshot | head -c 100`): end quietly.
        quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except MemoryError as exc:
        detail = f": {exc}" if str(exc) else ""
        click.echo(f"swsim: error: out of host memory{detail}", err=True)
        sys.exit(EXIT_UNEXPECTED)
    except OSError as exc:
        click.echo(f"swsim: error: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_UNEXPECTED)

"""Errors a user can cause, each with its documented exit code.

The CLI turns every :class:`SwsimError` into one line on stderr and its exit code; anything
else escaping the library is a bug in swsim (exit 1). Library messages name parameters, never
command-line options: the CLI adds the option names (:class:`InvalidValue`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_BAD_IMAGE = 3
EXIT_NOMEM = 4
EXIT_MACHINE_MISMATCH = 5
EXIT_AUTH = 6
EXIT_HANGUP = 129
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143

#: The exit-code table shown by ``--help`` and README.md.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_UNEXPECTED: "unexpected error (a bug in swsim: please report it)",
    EXIT_USAGE: "usage error: bad option, unreadable or invalid machine file, unwritable output",
    EXIT_BAD_IMAGE: (
        "bad image: not an swsim image, truncated, corrupted (header checksum, block CRC32, "
        "digest, pfns), bad or oversized zstd stream"
    ),
    EXIT_NOMEM: (
        "not enough memory: to restore the image with the chosen strategy, or (snapshot "
        "--kernel) to make the atomic copy (ENOMEM)"
    ),
    EXIT_MACHINE_MISMATCH: "the machine does not fit the image (memory size, memory map)",
    EXIT_AUTH: (
        "authentication failure: with --key-file, an unsigned image, a wrong key, "
        "or any changed or bad byte"
    ),
    EXIT_HANGUP: "hung up (SIGHUP): partial outputs removed",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGINT): partial outputs removed",
    EXIT_BROKEN_PIPE: "output pipe closed early (quietly)",
    EXIT_TERMINATED: "terminated (SIGTERM): partial outputs removed",
}


class SwsimError(Exception):
    """Base of every error a user can cause; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_UNEXPECTED


class UsageError(SwsimError):
    """A bad parameter value, an unreadable input file or an unwritable output."""

    exit_code = EXIT_USAGE


class InvalidValue(UsageError):
    """A parameter's value is out of range; ``param`` names the parameter.

    The message reads ``"<param> <detail>"`` (``level must be between 1 and 22``); the CLI
    words it for the option that set the parameter (``--level must be between 1 and 22``).
    """

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(f"{param.replace('_', ' ')} {detail}")
        self.param = param
        self.detail = detail


class UnknownChoice(UsageError):
    """A name that is not one of a registry's (strategy, allocator, preset, codec...); the
    message names no option, so the library and the CLI word it alike."""

    def __init__(self, param: str, value: object, choices: Iterable[str]) -> None:
        names = ", ".join(choices)
        super().__init__(f"unknown {param.replace('_', ' ')} {value!r} (choose from: {names})")
        self.param = param


def choose(param: str, name: str, registry: Mapping[str, T], order: Iterable[str] = ()) -> T:
    """``registry[name]``, or the :class:`UnknownChoice` listing ``order`` (default: the
    registry's own order): the one lookup of every registry (strategies, allocators, codecs...)."""
    try:
        return registry[name]
    except KeyError:
        raise UnknownChoice(param, name, order or registry) from None


class MachineError(UsageError):
    """A machine file or preset that is malformed (overlaps, out of range, bad schema)."""


class ImageError(SwsimError):
    """Not an swsim image, truncated, corrupted, or its digest does not match."""

    exit_code = EXIT_BAD_IMAGE


class MachineMismatch(SwsimError):
    """Kernel: check_image_kernel() "Image mismatch", unpack_orig_pfns() "Memory map mismatch"."""

    exit_code = EXIT_MACHINE_MISMATCH


class AuthError(SwsimError):
    """With a key: an unsigned image, a wrong key, or any changed or bad byte."""

    exit_code = EXIT_AUTH


class RestoreNoMemory(SwsimError):
    """-ENOMEM during resume: the allocator ran dry before the strategy had what it needs.

    ``stats`` is the restore's :class:`~swsim.resume.stats.RestoreStats` as it stood then
    (``missing`` filled), for a report of the failed restore; None when not known.
    """

    exit_code = EXIT_NOMEM

    def __init__(self, strategy: str, missing: int, phase: str, stats: Any = None) -> None:
        super().__init__(
            f"not enough memory to restore with strategy {strategy}: "
            f"{missing} more page(s) needed ({phase})"
        )
        self.strategy = strategy
        self.missing = missing
        self.phase = phase
        self.stats = stats


class SuspendNoMemory(SwsimError):
    """-ENOMEM at suspend: the atomic copy does not fit in memory even after shrinking.

    ``message`` is the kernel's own last line ("Not enough free memory", "Image allocation is
    N pages short", ...); ``report`` the suspend's counts.
    """

    exit_code = EXIT_NOMEM

    def __init__(self, kernel: str, message: str, report: object = None) -> None:
        super().__init__(f"suspend ({kernel}) cannot make the atomic copy: {message}")
        self.kernel = kernel
        self.report = report

"""Opening inputs and writing outputs safely: ``-`` is stdin/stdout, files are atomic.

An output that is a regular file (or a new path) is written to a temporary name in the same
directory, flushed, synced and renamed over the final name only when complete; on any error,
interrupt or termination signal the temporary file is removed, so a good file of the same name
is never replaced by a partial one. A symbolic link is followed: its target is written that
way, and the link stays. Anything else (a character or block device such as ``/dev/null``, a
FIFO, ``/dev/stdout``, ``/proc/self/fd/N``, a shell's process substitution ``>(...)``) is
opened and written in place: renaming over it would replace the device or pipe with a plain
file. A write that fails (full disk, quota, file too large) is a usage error naming the file;
a closed pipe on standard output is left to the CLI, which ends quietly (:func:`quiet_stdout`).

A standard stream that was closed when swsim started (``<&-``, ``>&-``) is replaced by
:func:`guard_std_streams`: reading or writing it is a usage error, never a silent success.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from swsim.errors import UsageError

#: Directories whose entries name an already open file of some process, not a file to replace.
_OPEN_FILE_DIRS = ("/proc/", "/dev/fd/")
#: Symbolic links followed before giving up (the kernel's own limit, MAXSYMLINKS, is 40).
_MAX_LINKS = 40


class ClosedStream:
    """What stands for a standard stream that was closed at start-up: every read or write is
    a :class:`UsageError` naming the stream (flushing and closing do nothing)."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def buffer(self) -> ClosedStream:
        """The binary stream under it: itself."""
        return self

    def _closed(self) -> UsageError:
        verb = "read" if self.name == "standard input" else "write"
        return UsageError(f"cannot {verb} {self.name}: it is closed")

    def read(self, size: int = -1) -> bytes:
        """Refuse: the stream is closed."""
        raise self._closed()

    def write(self, data: object) -> int:
        """Refuse: the stream is closed."""
        raise self._closed()

    def fileno(self) -> int:
        """Refuse: the stream is closed."""
        raise self._closed()

    def isatty(self) -> bool:
        """A closed stream is no terminal."""
        return False

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


_STD_STREAMS = (("stdin", "standard input"), ("stdout", "standard output"),
                ("stderr", "standard error"))


def guard_std_streams() -> None:
    """Standard streams closed at start-up (``<&-``, ``>&-``, ``2>&-``): point their file
    descriptors at /dev/null, so that no file opened later takes descriptor 0, 1 or 2, and make
    ``sys.stdin``/``sys.stdout`` :class:`ClosedStream` s, so that using them is an error.
    A closed standard error simply loses the error line (the exit code still tells)."""
    for fd, (attr, name) in enumerate(_STD_STREAMS):
        try:
            os.fstat(fd)
        except OSError:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_RDWR)
                if devnull != fd:
                    os.dup2(devnull, fd)
                    os.close(devnull)
        else:
            if getattr(sys, attr) is not None:
                continue  # open, and Python's stream for it is there: nothing to do
        setattr(sys, attr, ClosedStream(name) if fd < 2 else open(os.devnull, "w"))  # noqa: SIM115


def claim_stdin(user: str) -> BinaryIO:
    """Standard input, for ``user`` (``IMAGE``, ``--machine``, ``--key-file``): it feeds one
    input per run, so a second user is refused, as is a closed standard input."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        if user != "IMAGE" and ctx.params.get("image") == "-":
            ctx.find_root().meta.setdefault("swsim.stdin", "IMAGE")
        first = ctx.find_root().meta.setdefault("swsim.stdin", user)
        if first != user:
            raise UsageError(f"{first} and {user} cannot both read standard input ('-')")
    if sys.stdin is None or isinstance(sys.stdin, ClosedStream):
        what = "" if user == "IMAGE" else f" for {user}"
        raise UsageError(f"cannot read standard input{what}: it is closed")
    return sys.stdin.buffer


def input_name(value: str, option: str) -> str:
    """``value`` of a file option (``--machine``, ``--key-file``), refused when empty."""
    if not value:
        raise UsageError(f"{option} needs a file name ('-': standard input)")
    return value


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """A binary stream for ``path`` (``-``: standard input)."""
    if path == "-":
        yield claim_stdin("IMAGE")
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    with stream:
        yield stream


def quiet_stdout() -> None:
    """Point standard output at /dev/null, so nothing (not even the interpreter's final flush
    of what is still buffered) reports a write error on a closed pipe or a full device."""
    if isinstance(sys.stdout, ClosedStream):
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _write_error(where: str, exc: OSError) -> UsageError:
    reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
    return UsageError(f"cannot write {where}: {reason}")


def output_target(path: str) -> tuple[str, bool]:
    """Where to write ``path`` and whether in place: ``(file, False)`` to replace ``file``
    atomically (a regular file or a new path, symbolic links followed), ``(path, True)`` to
    open ``path`` and write into it (a device, a FIFO, an open file named under /proc or
    /dev/fd, such as /dev/stdout). A directory is a usage error."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None  # a new file, or a link to one
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"cannot write {path}: it is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        return path, True
    current = os.path.abspath(path)
    for _ in range(_MAX_LINKS):
        if os.path.realpath(os.path.dirname(current)).startswith(_OPEN_FILE_DIRS) or (
            current.startswith(_OPEN_FILE_DIRS)
        ):
            return path, True  # /dev/stdout redirected to a file: the shell's open file
        if not os.path.islink(current):
            return current, False
        current = os.path.join(os.path.dirname(current), os.readlink(current))
        current = os.path.normpath(current)
    raise UsageError(f"cannot write {path}: {os.strerror(errno.ELOOP)}")


@contextlib.contextmanager
def atomic_output(path: str, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary stream that becomes ``path`` only if the block completes (``-``: stdout; a
    device, FIFO or open file: written in place, see :func:`output_target`).

    With ``durable`` False the file is not synced to disk before it is renamed: still all or
    nothing for every reader, but not across a crash (``--memory-out``: a file as large as the
    machine's image, made to be compared and thrown away).
    """
    if path == "-":
        if isinstance(sys.stdout, ClosedStream):
            raise UsageError("cannot write standard output: it is closed")
        try:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            quiet_stdout()
            raise _write_error("standard output", exc) from None
        return
    if not path:
        raise UsageError("cannot write '': the file name is empty")
    target, in_place = output_target(path)
    if in_place:
        with _in_place_output(path) as stream:
            yield stream
        return
    with _replacing_output(path, Path(target), durable) as stream:
        yield stream


@contextlib.contextmanager
def _in_place_output(path: str) -> Iterator[BinaryIO]:
    """``path`` opened for writing as it is (no temporary file, no rename). A regular file
    reached through /proc or /dev/fd is appended to: the shell opened (and emptied) it."""
    try:
        flags = os.O_WRONLY | os.O_CLOEXEC
        if stat.S_ISREG(os.stat(path).st_mode):
            flags |= os.O_APPEND
        fd = os.open(path, flags)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
            stream.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _write_error(path, exc) from None


@contextlib.contextmanager
def _replacing_output(path: str, target: Path, durable: bool = True) -> Iterator[BinaryIO]:
    """A temporary file next to ``target``, renamed over it when the block completes (and
    removed otherwise); ``path`` is the name errors give."""
    import signal
    import tempfile  # only output files need it (with shutil, bz2, lzma): not -o -, not --json

    directory = target.parent
    # No signal may land between the temporary file's creation and the try that removes it.
    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as stream:
                yield stream
                stream.flush()
                if durable:
                    os.fsync(stream.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, BrokenPipeError):
                raise
            raise _write_error(path, exc) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

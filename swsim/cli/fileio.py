"""Opening inputs and writing outputs safely: ``-`` is stdin/stdout, files are atomic.

An output file is written to a temporary name in the same directory, flushed, synced and
renamed over the final name only when complete; on any error or interrupt the temporary file is
removed, so a good file of the same name is never replaced by a partial one. A write that
fails (full disk, quota, file too large) is a usage error naming the file; a closed pipe on
standard output is left to the CLI, which ends quietly (:func:`quiet_stdout`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from swsim.errors import UsageError


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """A binary stream for ``path`` (``-``: standard input)."""
    if path == "-":
        yield sys.stdin.buffer
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
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _write_error(where: str, exc: OSError) -> UsageError:
    reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
    return UsageError(f"cannot write {where}: {reason}")


@contextlib.contextmanager
def atomic_output(path: str, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary stream that becomes ``path`` only if the block completes (``-``: stdout).

    With ``durable`` False the file is not synced to disk before it is renamed: still all or
    nothing for every reader, but not across a crash (``--memory-out``: a file as large as the
    machine's image, made to be compared and thrown away).
    """
    if path == "-":
        try:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            quiet_stdout()
            raise _write_error("standard output", exc) from None
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    directory = target.parent if str(target.parent) else Path(".")
    import tempfile  # only output files need it (with shutil, bz2, lzma): not -o -, not --json

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    try:
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

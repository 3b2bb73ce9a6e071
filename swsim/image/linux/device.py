"""Random access to a swap device: read by seeking, or spooled to a temporary file.

A swap image is not a stream: the swap map's pointers lead anywhere on the device. A regular
file or a block device is read in place with ``pread`` (no copy). Anything else (a ``.zst`` of a
device image, a pipe, standard input) is spooled, decompressed, into an anonymous temporary
file (``tempfile.TemporaryFile`` in ``$TMPDIR``: unlinked at once, so it goes away when swsim
exits, however it exits), bounded by :data:`MAX_SPOOL_BYTES`. docs/kernel-formats.md says so.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, BinaryIO

from swsim.errors import ImageError, UsageError
from swsim.image.codecs.base import ImageInput
from swsim.kernel.constants import PAGE_SIZE

#: The largest device swsim spools (64 GiB): beyond it, decompress the image to a file first.
MAX_SPOOL_BYTES = 1 << 36
_SPOOL_STEP = 1 << 22


class SwapDevice:
    """A swap device (or a copy of one), read a page range at a time."""

    def __init__(
        self, fd: int, size: int, spool: IO[bytes] | None = None, how: str = "read in place"
    ) -> None:
        self._fd = fd
        #: bytes on the device
        self.size = size
        #: whole pages on the device
        self.nr_pages = size // PAGE_SIZE
        #: ``read in place`` or ``spooled``: how the device is read (``swsim inspect`` says)
        self.access = how
        self._spool = spool

    @classmethod
    def open(cls, origin: BinaryIO | None, data: ImageInput, first_page: bytes) -> SwapDevice:
        """The device ``origin`` (read in place when it is a seekable raw file), else the
        decoded bytes of ``data``, whose first page ``first_page`` was read already, spooled."""
        fd = _seekable_fd(origin)
        if fd is not None:
            size = os.lseek(fd, 0, os.SEEK_END)
            return cls(fd, size, how="read in place")
        try:
            spool = tempfile.TemporaryFile(prefix="swsim-device-")  # noqa: SIM115 - kept open
        except OSError as exc:
            raise _spool_error(exc) from None
        try:
            size = _spool(spool, data, first_page)
        except BaseException:
            spool.close()
            raise
        return cls(spool.fileno(), size, spool, how="spooled to a temporary file")

    def read_pages(self, first: int, count: int) -> bytes:
        """Pages ``first`` to ``first + count - 1`` (an error past the end of the device)."""
        if first < 0 or first + count > self.nr_pages:
            raise ImageError(
                f"corrupted image: swap page {first + count - 1} is past the end of the device "
                f"({self.nr_pages} pages)"
            )
        data = os.pread(self._fd, count * PAGE_SIZE, first * PAGE_SIZE)
        if len(data) != count * PAGE_SIZE:
            raise ImageError(f"truncated image: the device ended in swap page {first}")
        return data

    def close(self) -> None:
        """Let go of the spooled copy (a device read in place belongs to the caller)."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def _seekable_fd(origin: BinaryIO | None) -> int | None:
    """The file descriptor of ``origin`` if it can be read at any offset, else None."""
    if origin is None:
        return None
    try:
        fd = origin.fileno()
        os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):
        return None
    return fd


def _spool(spool: IO[bytes], data: ImageInput, first_page: bytes) -> int:
    """Copy ``first_page`` and the rest of ``data`` into ``spool``; the bytes written. Runs of
    zeros (most of a swap device) are skipped over, leaving a sparse file."""
    total = len(first_page)
    try:
        spool.write(first_page)
        while True:
            chunk = data.read(_SPOOL_STEP)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_SPOOL_BYTES:
                raise UsageError(
                    f"the device is larger than {MAX_SPOOL_BYTES >> 30} GiB: decompress it to a "
                    "file and read that"
                )
            if chunk.count(0) == len(chunk):
                spool.seek(len(chunk), os.SEEK_CUR)
            else:
                spool.write(chunk)
        spool.truncate(total)
        spool.flush()
    except OSError as exc:
        raise _spool_error(exc) from None
    return total


def _spool_error(exc: OSError) -> UsageError:
    return UsageError(f"cannot spool the device to a temporary file: {exc.strerror}")

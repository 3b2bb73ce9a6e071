"""A machine's physical memory as a sparse file: frame ``pfn`` at offset ``pfn * 4096``.

``swsim snapshot --memory-out`` writes the suspended machine's saved pages this way and
``swsim restore --memory-out`` the restored memory, so that ``cmp`` of the two proves a restore
end to end with tools nobody here wrote. Frames nobody writes are holes (they read as zeros and
take no disk space). Pages go through the page cache in large writes: one ``pwrite`` per run of
consecutive frames, one ``copy_file_range`` per run of copies (done by the kernel, no bytes
through Python), one ``fallocate(PUNCH_HOLE)`` per run of frames to empty.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Callable, Iterator
from typing import cast

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray

#: fallocate() modes (linux/falloc.h)
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
#: Bytes of zeros written at most at once where holes cannot be punched.
_ZEROS = bytes(256 * PAGE_SIZE)


def _libc_fallocate() -> Callable[[int, int, int, int], int] | None:
    """libc's ``fallocate`` through ctypes, if any (Linux)."""
    if sys.platform != "linux":
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    func.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], func)


def runs(*columns: PfnArray) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` index ranges over which every column goes up by exactly one."""
    if not len(columns[0]):
        return
    step = np.ones(len(columns[0]) - 1, dtype=bool)
    for column in columns:
        step &= np.diff(column) == 1
    cuts = np.flatnonzero(~step) + 1
    bounds = [0, *cuts.tolist(), len(columns[0])]
    yield from zip(bounds, bounds[1:], strict=False)


class MemoryFile:
    """Frames of a machine of ``frames`` frames written into ``fd``, a regular file open for
    reading and writing (copies read it back).

    The file is made ``frames * 4096`` bytes long at once (a hole); the caller owns ``fd``
    (``swsim.cli.fileio.atomic_output`` makes it appear only when complete).
    """

    def __init__(self, fd: int, frames: int) -> None:
        self.fd = fd
        self.frames = frames
        os.ftruncate(fd, frames * PAGE_SIZE)
        self._fallocate = _libc_fallocate()
        self._spilled = 0

    def write(self, pfns: PfnArray, pages: PageArray, rows: PfnArray | None = None) -> None:
        """Page ``pages[rows[i]]`` (default: ``pages[i]``) into frame ``pfns[i]``, one write per
        run of consecutive frames and rows."""
        pfns = np.asarray(pfns, dtype=np.int64)
        rows = np.arange(len(pfns)) if rows is None else rows
        for start, stop in runs(pfns, rows):
            first = int(rows[start])
            data = pages[first : first + stop - start].reshape(-1).data
            self._pwrite(data, int(pfns[start]) * PAGE_SIZE)

    def spill(self, pages: PageArray, rows: PfnArray) -> PfnArray:
        """Pages ``pages[rows]`` appended after the frames, where no frame is (pages in frames
        the caller does not show: a restore's safe pages); their spill slots. :meth:`close`
        cuts them off."""
        slots = np.arange(self._spilled, self._spilled + len(rows), dtype=np.int64)
        self._spilled += len(rows)
        self.write(self.frames + slots, pages, rows)
        return slots

    def copy_from(self, dst: PfnArray, src_pages: PfnArray) -> None:
        """Frame ``dst[i]`` gets file page ``src_pages[i]`` (a frame, or ``frames + slot`` of a
        spilled page; sources and targets disjoint), in the kernel where it can."""
        for start, stop in runs(dst, src_pages):
            count = (stop - start) * PAGE_SIZE
            self._copy_range(int(src_pages[start]) * PAGE_SIZE, int(dst[start]) * PAGE_SIZE,
                             count)

    def close(self) -> None:
        """Cut off the spilled pages: the file is the frames again."""
        if self._spilled:
            os.ftruncate(self.fd, self.frames * PAGE_SIZE)
            self._spilled = 0

    def _pwrite(self, data: memoryview, offset: int) -> None:
        while data:
            done = os.pwrite(self.fd, data, offset)
            data, offset = data[done:], offset + done

    def _copy_range(self, src: int, dst: int, count: int) -> None:
        while count > 0:
            try:
                done = os.copy_file_range(self.fd, self.fd, count, src, dst)
            except (OSError, AttributeError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (
                    errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP,
                ):
                    raise
                done = 0
            if done <= 0:  # not supported here: through user space
                take = min(count, len(_ZEROS))
                self._pwrite(memoryview(os.pread(self.fd, take, src)), dst)
                done = take
            src, dst, count = src + done, dst + done, count - done

    def punch(self, pfns: PfnArray) -> None:
        """Empty frames ``pfns`` (holes: they read as zeros)."""
        pfns = np.asarray(pfns, dtype=np.int64)
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        for start, stop in runs(pfns):
            offset, length = int(pfns[start]) * PAGE_SIZE, (stop - start) * PAGE_SIZE
            if self._fallocate is not None and self._fallocate(self.fd, mode, offset, length) == 0:
                continue
            while length > 0:  # no holes here: zeros
                take = min(length, len(_ZEROS))
                self._pwrite(memoryview(_ZEROS)[:take], offset)
                offset, length = offset + take, length - take

"""A machine's physical memory as a sparse file: frame ``pfn`` at offset ``pfn * 4096``.

``swsim snapshot --memory-out`` writes the suspended machine's saved pages this way and
``swsim restore --memory-out`` the restored memory, so that ``cmp`` of the two proves a restore
end to end with tools nobody here wrote. Frames that are not written are holes: they read as
zeros and take no space. So a zero page (saved as a flagged pfn only, restored by a memset) is
a hole too: its frame reads as the zeros it holds, as in the machine, and the file takes the
data pages' bytes only, as the image does.

Everything goes through the page cache, one ``pwrite`` per run of consecutive frames (a
restore writes each batch of data pages into its frames as it streams through, on a thread of
its own: :mod:`swsim.resume.restore`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray


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
    reading and writing.

    The file is made ``frames * 4096`` bytes long at once (a hole); the caller owns ``fd``
    (``swsim.cli.fileio.atomic_output`` makes it appear only when complete).
    """

    def __init__(self, fd: int, frames: int) -> None:
        self.fd = fd
        self.frames = frames
        os.ftruncate(fd, frames * PAGE_SIZE)

    def write(self, pfns: PfnArray, pages: PageArray) -> None:
        """Page ``pages[i]`` into frame ``pfns[i]``, one write per run of consecutive frames."""
        pfns = np.asarray(pfns, dtype=np.int64)
        data = memoryview(np.ascontiguousarray(pages).reshape(-1).data)
        for start, stop in runs(pfns):
            self._pwrite(data[start * PAGE_SIZE : stop * PAGE_SIZE], int(pfns[start]) * PAGE_SIZE)

    def read(self, pfns: PfnArray) -> PageArray:
        """The pages in frames ``pfns``, one read per run of consecutive frames."""
        pfns = np.asarray(pfns, dtype=np.int64)
        pages = np.empty((len(pfns), PAGE_SIZE), dtype=np.uint8)
        for start, stop in runs(pfns):
            view = memoryview(pages[start:stop].reshape(-1).data)
            offset = int(pfns[start]) * PAGE_SIZE
            while view:
                done = os.preadv(self.fd, [view], offset)
                if done <= 0:
                    raise OSError("memory file: frames missing")
                view, offset = view[done:], offset + done
        return pages

    def _pwrite(self, data: memoryview, offset: int) -> None:
        while data:
            done = os.pwrite(self.fd, data, offset)
            data, offset = data[done:], offset + done

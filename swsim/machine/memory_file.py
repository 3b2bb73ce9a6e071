"""A machine's physical memory as a sparse file: frame ``pfn`` at offset ``pfn * 4096``.

``swsim snapshot --memory-out`` writes the suspended machine's saved pages this way and
``swsim restore --memory-out`` the restored memory, so that ``cmp`` of the two proves a restore
end to end with tools nobody here wrote. Frames that are not written are holes (they read as
zeros and take no disk space).

Everything goes through the page cache in large writes. A restore's data pages stream through
before it knows where each ends up, so they are appended past the frames as they come
(:meth:`MemoryFile.spill`, one write per batch); at the end :meth:`MemoryFile.write_frames`
writes each run of frames, up to 8 MiB at a time, gathering each frame's page from the spilled
pages (read back in large reads: a correct restore's frames, in pfn order, hold its data pages
in stream order), and cuts the spilled pages off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray

#: Frames written at once by :meth:`MemoryFile.write_frames` (8 MiB).
WRITE_CHUNK = 2048

#: ``special(pfns, what)``: the bytes of frames holding no spilled page (``what < 0``).
SpecialPages = Callable[[PfnArray, PfnArray], PageArray]


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
    reading and writing (spilled pages are read back).

    The file is made ``frames * 4096`` bytes long at once (a hole); the caller owns ``fd``
    (``swsim.cli.fileio.atomic_output`` makes it appear only when complete).
    """

    def __init__(self, fd: int, frames: int) -> None:
        self.fd = fd
        self.frames = frames
        os.ftruncate(fd, frames * PAGE_SIZE)
        self._spilled = 0
        self._spill_ids: list[PfnArray] = []

    def write(self, pfns: PfnArray, pages: PageArray) -> None:
        """Page ``pages[i]`` into frame ``pfns[i]``, one write per run of consecutive frames."""
        pfns = np.asarray(pfns, dtype=np.int64)
        for start, stop in runs(pfns):
            self._pwrite(pages[start:stop].reshape(-1).data, int(pfns[start]) * PAGE_SIZE)

    def spill(self, pages: PageArray, ids: PfnArray) -> None:
        """Pages ``pages[i]``, known as ``ids[i]``, appended past the frames (one write)."""
        self._pwrite(np.ascontiguousarray(pages).reshape(-1).data,
                     (self.frames + self._spilled) * PAGE_SIZE)
        self._spilled += len(pages)
        self._spill_ids.append(np.asarray(ids, dtype=np.int64))

    def write_frames(self, pfns: PfnArray, what: PfnArray, special: SpecialPages) -> None:
        """Frame ``pfns[i]`` (increasing) gets the spilled page ``what[i]``, or, where
        ``what[i] < 0``, ``special(...)``'s bytes; then the spilled pages are cut off."""
        ids = np.concatenate(self._spill_ids) if self._spill_ids else np.zeros(0, np.int64)
        slot_of = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, dtype=np.int64)
        slot_of[ids] = np.arange(len(ids))
        buffer = np.empty((WRITE_CHUNK, PAGE_SIZE), dtype=np.uint8)
        source = np.empty((2 * WRITE_CHUNK, PAGE_SIZE), dtype=np.uint8)
        for first, last in runs(pfns):
            for start in range(first, last, WRITE_CHUNK):
                stop = min(start + WRITE_CHUNK, last)
                chunk, held = buffer[: stop - start], what[start:stop]
                data = held >= 0
                chunk[data] = self._read_spilled(slot_of[held[data]], source)
                if not data.all():
                    chunk[~data] = special(pfns[start:stop][~data], held[~data])
                self._pwrite(chunk.reshape(-1).data, int(pfns[start]) * PAGE_SIZE)
        os.ftruncate(self.fd, self.frames * PAGE_SIZE)
        self._spilled = 0
        self._spill_ids = []

    def _read_spilled(self, slots: PfnArray, buffer: PageArray) -> PageArray:
        """The spilled pages ``slots``: in one read when they lie close together (a correct
        restore's frames, in pfn order, hold data pages in stream order), else run by run."""
        if not len(slots):
            return buffer[:0]
        low, high = int(slots.min()), int(slots.max()) + 1
        if high - low <= len(buffer):
            self._pread(buffer[: high - low], low)
            return buffer[slots - low]
        pages = np.empty((len(slots), PAGE_SIZE), dtype=np.uint8)
        for start, stop in runs(slots):
            self._pread(pages[start:stop], int(slots[start]))
        return pages

    def _pread(self, pages: PageArray, slot: int) -> None:
        view = memoryview(pages.reshape(-1).data)
        offset = (self.frames + slot) * PAGE_SIZE
        while view:
            done = os.preadv(self.fd, [view], offset)
            if done <= 0:
                raise OSError("memory file: spilled pages missing")
            view, offset = view[done:], offset + done

    def _pwrite(self, data: memoryview, offset: int) -> None:
        while data:
            done = os.pwrite(self.fd, data, offset)
            data, offset = data[done:], offset + done

"""Simulated physical memory at resume: one 4096-byte row per page frame.

Backed by an anonymous ``MAP_NORESERVE`` mapping, so a frame costs resident memory only once
something is written into it: a 64 GiB machine whose image is 2 GiB needs about 2 GiB.
"""

from __future__ import annotations

import mmap
import sys

import numpy as np

from swsim.constants import PAGE_SIZE
from swsim.worker import split_work

#: Pages moved per step by :meth:`FrameMemory.copy_pages` (4 MiB through one buffer).
COPY_BATCH = 1024


class FrameMemory:
    """``frames`` page frames, readable and writable as a ``(frames, PAGE_SIZE)`` uint8 array."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        # Python < 3.13 lacks the constant; 0x4000 is MAP_NORESERVE on Linux.
        flags |= getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
        self._map = mmap.mmap(-1, frames * PAGE_SIZE, flags=flags)
        self.pages = np.frombuffer(self._map, dtype=np.uint8).reshape(frames, PAGE_SIZE)

    def frame(self, pfn: int) -> np.ndarray:
        """The 4096 bytes of frame ``pfn`` (a writable view)."""
        return self.pages[pfn]

    def copy_pages(self, dst: np.ndarray, src: np.ndarray, release: bool = True) -> None:
        """Copy frame ``src[i]`` to frame ``dst[i]`` for all i (sources and targets disjoint).

        With ``release``, each source frame's memory is given back to the host once copied
        (its contents are dead after the final copy: the safe pages of a restore), so the
        copies do not double the resident memory.
        """

        def copy_part(first: int, last: int) -> None:
            step = min(COPY_BATCH, last - first)
            buffer = np.empty((step, PAGE_SIZE), dtype=np.uint8)
            for start in range(first, last, step):
                sl = slice(start, min(start + step, last))
                gathered = np.take(self.pages, src[sl], axis=0, out=buffer[: sl.stop - start])
                self.pages[dst[sl]] = gathered
                if release:
                    self.release(src[sl])

        split_work(copy_part, len(dst))

    def zero(self, pfns: np.ndarray) -> None:
        """memset() the frames ``pfns`` to zero, by giving their memory back (no page faults)."""
        self.release(pfns)

    def release(self, pfns: np.ndarray) -> None:
        """Drop the frames ``pfns`` from resident memory (they read as zeros afterwards)."""
        if not hasattr(self._map, "madvise"):
            return
        frames = np.unique(pfns)
        if not len(frames):
            return
        starts = np.flatnonzero(np.diff(frames, prepend=-2) != 1)
        lengths = np.diff(starts, append=len(frames))
        advise = self._map.madvise
        for first, count in zip(frames[starts].tolist(), lengths.tolist(), strict=True):
            advise(mmap.MADV_DONTNEED, first * PAGE_SIZE, count * PAGE_SIZE)

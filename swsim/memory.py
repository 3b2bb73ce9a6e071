"""Simulated physical memory at resume: one 4096-byte row per page frame.

Backed by an anonymous ``MAP_NORESERVE`` mapping, so a frame costs resident memory only once
something is written into it: a 64 GiB machine whose image is 2 GiB needs about 2 GiB.
"""

from __future__ import annotations

import mmap
import sys

import numpy as np

from swsim.constants import PAGE_SIZE


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

    def copy_pages(self, dst: np.ndarray, src: np.ndarray) -> None:
        """Copy frame ``src[i]`` to frame ``dst[i]`` for all i (sources and targets disjoint)."""
        for start in range(0, len(dst), 4096):
            sl = slice(start, start + 4096)
            self.pages[dst[sl]] = self.pages[src[sl]]

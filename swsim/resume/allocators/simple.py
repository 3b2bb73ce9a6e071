"""Allocators of one rule each: always the lowest, the highest, or a random free frame.

* ``ascending``: always the lowest free pfn; a freed frame is free again at once and is returned
  first when it is the lowest (a freshly booted buddy allocator behaves much like this).
* ``descending``: always the highest free pfn.
* ``random``: a uniformly random free frame, from a seeded generator.
"""

from __future__ import annotations

import random

import numpy as np

from swsim.kernel.types import PfnArray
from swsim.resume.allocators.base import SCAN_FRAMES, FreeFrames, PageAllocator


class AscendingAllocator(PageAllocator):
    """Always the lowest free frame."""

    name = "ascending"
    take_pages = PageAllocator._take_pages_flat  # taking frames keeps "none free below cursor"

    def __init__(self, free: FreeFrames, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._cursor = 0  # no free frame below this pfn

    def alloc(self) -> int:
        """The lowest free frame (-1 when none is left)."""
        pfn = self.free.find_next_bit(self._cursor)
        if pfn < 0:
            self._cursor = len(self.free)
            return -1
        self._cursor = pfn + 1
        return self._take(pfn)

    def _freed(self, pfn: int) -> None:
        self._cursor = min(self._cursor, pfn)

    def free_pages(self, pfns: PfnArray) -> None:
        """Free ``pfns`` at once: the lowest free frame is all that matters."""
        if len(pfns):
            self._free_many(pfns)
            self._cursor = min(self._cursor, int(pfns.min()))

    def alloc_many(self, nr_pages: int) -> PfnArray:
        """The lowest ``nr_pages`` free frames, in increasing order."""
        free, pfn, found, need = self.free, self._cursor, [], nr_pages
        window = max(SCAN_FRAMES, 2 * nr_pages)
        while need and pfn < len(free):
            hits = np.flatnonzero(free[pfn : pfn + window])[:need] + pfn
            found.append(hits)
            need -= len(hits)
            pfn = int(hits[-1]) + 1 if need == 0 else pfn + window
        self._cursor = min(pfn, len(free))
        return self._take_many(np.concatenate(found) if found else np.zeros(0, np.int64))


class DescendingAllocator(PageAllocator):
    """Always the highest free frame."""

    name = "descending"
    take_pages = PageAllocator._take_pages_flat

    def __init__(self, free: FreeFrames, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._cursor = len(free)  # no free frame at or above this pfn

    def alloc(self) -> int:
        """The highest free frame (-1 when none is left)."""
        pfn = self.free.find_last_bit(self._cursor)
        if pfn < 0:
            self._cursor = 0
            return -1
        self._cursor = pfn
        return self._take(pfn)

    def _freed(self, pfn: int) -> None:
        self._cursor = max(self._cursor, pfn + 1)

    def free_pages(self, pfns: PfnArray) -> None:
        """Free ``pfns`` at once: the highest free frame is all that matters."""
        if len(pfns):
            self._free_many(pfns)
            self._cursor = max(self._cursor, int(pfns.max()) + 1)

    def alloc_many(self, nr_pages: int) -> PfnArray:
        """The highest ``nr_pages`` free frames, in decreasing order."""
        free, end, found, need = self.free, self._cursor, [], nr_pages
        window = max(SCAN_FRAMES, 2 * nr_pages)
        while need and end > 0:
            start = max(0, end - window)
            hits = (np.flatnonzero(free[start:end]) + start)[::-1][:need]
            found.append(hits)
            need -= len(hits)
            end = int(hits[-1]) if need == 0 else start
        self._cursor = max(end, 0)
        return self._take_many(np.concatenate(found) if found else np.zeros(0, np.int64))


class RandomAllocator(PageAllocator):
    """A uniformly random free frame, from a generator seeded with ``seed``."""

    name = "random"

    def __init__(self, free: FreeFrames, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._rng = random.Random(seed)
        self._pool = [int(p) for p in np.flatnonzero(self.free[:])]
        self._where = {pfn: i for i, pfn in enumerate(self._pool)}

    def alloc(self) -> int:
        """A random free frame (-1 when none is left)."""
        if not self._pool:
            return -1
        i = self._rng.randrange(len(self._pool))
        pfn, last = self._pool[i], self._pool[-1]
        self._pool[i] = last
        self._where[last] = i
        self._pool.pop()
        del self._where[pfn]
        return self._take(pfn)

    def _freed(self, pfn: int) -> None:
        self._where[pfn] = len(self._pool)
        self._pool.append(pfn)

    def _taken(self, pfn: int) -> None:
        i = self._where.pop(pfn)
        last = self._pool.pop()
        if last != pfn:
            self._pool[i] = last
            self._where[last] = i

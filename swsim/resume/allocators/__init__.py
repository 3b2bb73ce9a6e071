"""Boot-time page allocators (``--allocator``): where ``get_zeroed_page()`` finds a frame.

Every allocation and free of a restore goes through one of these, so the counts depend on the
allocator's order exactly as the kernel's depend on its page allocator. Policies:

* ``ascending``: always the lowest free pfn; a freed frame is free again at once and is returned
  first when it is the lowest (a freshly booted buddy allocator behaves much like this).
* ``descending``: always the highest free pfn.
* ``random``: a uniformly random free frame, from a seeded generator.
* ``buddy``: the kernel's binary buddy allocator, per zone (:mod:`swsim.resume.allocators.buddy`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from swsim.errors import UsageError

#: Frames scanned per numpy step when looking for the next free frame.
_SCAN = 4096


class PageAllocator(ABC):
    """Hands out free frames one at a time; ``alloc()`` returns -1 when none is left."""

    name: str

    def __init__(self, free: np.ndarray, seed: int = 0) -> None:
        self.free = free.astype(bool, copy=True)
        self.nr_free = int(self.free.sum())

    @abstractmethod
    def alloc(self) -> int: ...

    def alloc_many(self, nr_pages: int) -> np.ndarray:
        """What ``nr_pages`` calls of :meth:`alloc` would return, in order (fewer when dry).

        Subclasses override it with a vectorised equivalent; the result must be identical.
        """
        out = []
        for _ in range(nr_pages):
            pfn = self.alloc()
            if pfn < 0:
                break
            out.append(pfn)
        return np.array(out, dtype=np.int64)

    def _take_many(self, pfns: np.ndarray) -> np.ndarray:
        self.free[pfns] = False
        self.nr_free -= len(pfns)
        return pfns

    def free_page(self, pfn: int) -> None:
        if self.free[pfn]:
            raise AssertionError(f"double free of pfn {pfn}")
        self.free[pfn] = True
        self.nr_free += 1
        self._freed(pfn)

    def _freed(self, pfn: int) -> None:  # noqa: B027 - optional hook
        pass

    def take_page(self, pfn: int) -> bool:
        """Take the frame ``pfn`` itself if it is free (kernel: ``take_page_off_buddy()``)."""
        if pfn >= len(self.free) or not self.free[pfn]:
            return False
        self._taken(pfn)
        self._take(pfn)
        return True

    def take_pages(self, pfns: np.ndarray) -> np.ndarray:
        """:meth:`take_page` for each of ``pfns`` in order; which of them were free."""
        return np.fromiter((self.take_page(int(pfn)) for pfn in pfns), bool, len(pfns))

    def _take_pages_flat(self, pfns: np.ndarray) -> np.ndarray:
        """:meth:`take_pages` for allocators whose only state is the free map."""
        free = self.free[pfns]
        self._take_many(pfns[free])
        return free

    def _taken(self, pfn: int) -> None:  # noqa: B027 - optional hook
        """A free frame is about to be taken out of order by :meth:`take_page`."""

    def _take(self, pfn: int) -> int:
        self.free[pfn] = False
        self.nr_free -= 1
        return pfn


class AscendingAllocator(PageAllocator):
    name = "ascending"
    take_pages = PageAllocator._take_pages_flat  # taking frames keeps "none free below cursor"

    def __init__(self, free: np.ndarray, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._cursor = 0  # no free frame below this pfn

    def alloc(self) -> int:
        free, pfn = self.free, self._cursor
        while pfn < len(free):
            window = free[pfn : pfn + _SCAN]
            hit = int(window.argmax())
            if window[hit]:
                self._cursor = pfn + hit + 1
                return self._take(pfn + hit)
            pfn += len(window)
        self._cursor = len(free)
        return -1

    def _freed(self, pfn: int) -> None:
        self._cursor = min(self._cursor, pfn)

    def alloc_many(self, nr_pages: int) -> np.ndarray:
        free, pfn, found, need = self.free, self._cursor, [], nr_pages
        window = max(_SCAN, 2 * nr_pages)
        while need and pfn < len(free):
            hits = np.flatnonzero(free[pfn : pfn + window])[:need] + pfn
            found.append(hits)
            need -= len(hits)
            pfn = int(hits[-1]) + 1 if need == 0 else pfn + window
        self._cursor = min(pfn, len(free))
        return self._take_many(np.concatenate(found) if found else np.zeros(0, np.int64))


class DescendingAllocator(PageAllocator):
    name = "descending"
    take_pages = PageAllocator._take_pages_flat

    def __init__(self, free: np.ndarray, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._cursor = len(free)  # no free frame at or above this pfn

    def alloc(self) -> int:
        free, end = self.free, self._cursor
        while end > 0:
            start = max(0, end - _SCAN)
            window = free[start:end][::-1]
            hit = int(window.argmax())
            if window[hit]:
                pfn = end - 1 - hit
                self._cursor = pfn
                return self._take(pfn)
            end = start
        self._cursor = 0
        return -1

    def _freed(self, pfn: int) -> None:
        self._cursor = max(self._cursor, pfn + 1)

    def alloc_many(self, nr_pages: int) -> np.ndarray:
        free, end, found, need = self.free, self._cursor, [], nr_pages
        window = max(_SCAN, 2 * nr_pages)
        while need and end > 0:
            start = max(0, end - window)
            hits = (np.flatnonzero(free[start:end]) + start)[::-1][:need]
            found.append(hits)
            need -= len(hits)
            end = int(hits[-1]) if need == 0 else start
        self._cursor = max(end, 0)
        return self._take_many(np.concatenate(found) if found else np.zeros(0, np.int64))


class RandomAllocator(PageAllocator):
    name = "random"

    def __init__(self, free: np.ndarray, seed: int = 0) -> None:
        super().__init__(free, seed)
        self._rng = random.Random(seed)
        self._pool = [int(p) for p in np.flatnonzero(self.free)]
        self._where = {pfn: i for i, pfn in enumerate(self._pool)}

    def alloc(self) -> int:
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


ALLOCATORS: dict[str, Callable[[np.ndarray, int], PageAllocator]] = {
    "ascending": AscendingAllocator,
    "descending": DescendingAllocator,
    "random": RandomAllocator,
}


def _buddy(free: np.ndarray, seed: int = 0) -> PageAllocator:
    from swsim.resume.allocators.buddy import BuddyAllocator  # buddy.py builds on this module

    return BuddyAllocator(free, seed)


ALLOCATORS["buddy"] = _buddy


def make_allocator(name: str, free: np.ndarray, seed: int = 0) -> PageAllocator:
    try:
        factory = ALLOCATORS[name]
    except KeyError:
        raise UsageError(
            f"unknown allocator {name!r} (choose from: {', '.join(ALLOCATORS)})"
        ) from None
    return factory(free, seed)

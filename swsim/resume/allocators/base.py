"""The interface of a boot-time page allocator: where ``get_zeroed_page()`` finds a frame.

Every allocation and free of a restore goes through one, so the counts depend on the
allocator's order exactly as the kernel's depend on its page allocator. The free frames are a
bit each (:class:`~swsim.kernel.frame_bits.FrameBits`), as the kernel's own bitmaps: a 1 TiB
machine's free map is 32 MiB, not the 256 MiB of a bool per frame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TypeAlias

import numpy as np

from swsim.kernel.frame_bits import FrameBits
from swsim.kernel.types import BoolArray, Pfn32Array, PfnArray

#: What an allocator is built over: the frames free at boot, as bools or as bits.
FreeFrames: TypeAlias = BoolArray | FrameBits

#: Frames as runs: the first frame of each run and its length, in order.
Runs: TypeAlias = tuple[Pfn32Array, Pfn32Array]
#: Frames scanned per numpy step when looking for the next free frame.
SCAN_FRAMES = 4096


class PageAllocator(ABC):
    """Hands out free frames one at a time; ``alloc()`` returns -1 when none is left."""

    name: str

    def __init__(self, free: FreeFrames, seed: int = 0) -> None:
        #: one bit per frame: is it free (a copy of ``free``)
        self.free = FrameBits.from_mask(free)
        self.nr_free = self.free.count()

    @abstractmethod
    def alloc(self) -> int:
        """One free frame, taken (-1 when none is left)."""

    def for_caller(self, caller: str) -> PageAllocator:
        """The allocator that serves ``caller`` (``swsusp``, ``reader``): this one, except for
        ``replay``, which hands each caller its own entries."""
        return self

    def report(self) -> list[str]:
        """Notes on how the restore used this allocator (``replay``: unused entries)."""
        return []

    def alloc_many(self, nr_pages: int) -> PfnArray:
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

    def alloc_runs(self, nr_pages: int) -> tuple[PfnArray, Runs | None]:
        """:meth:`alloc_many`, and its frames as runs when the allocator knows them without
        a pass over the frames (None: it does not)."""
        return self.alloc_many(nr_pages), None

    def allocations_for(self, nr_pages: int, skip: FrameBits) -> int:
        """How many :meth:`alloc` calls from now, nothing freed in between, hand out
        ``nr_pages`` frames whose bit in ``skip`` is clear: the place of the ``nr_pages``-th such
        frame in the allocator's order (every free frame when fewer are clear).

        An allocation loop that keeps the frames it must skip (``get_image_page()``'s unsafe
        pages) can then ask for them all at once. This base class does not look ahead: it
        answers ``nr_pages``, a lower bound, and the caller loops.
        """
        return nr_pages

    def _take_many(self, pfns: PfnArray) -> PfnArray:
        self.free[pfns] = False
        self.nr_free -= len(pfns)
        return pfns

    def free_page(self, pfn: int) -> None:
        """Give frame ``pfn`` back (refusing a double free)."""
        if self.free[pfn]:
            raise AssertionError(f"double free of pfn {pfn}")
        self.free[pfn] = True
        self.nr_free += 1
        self._freed(pfn)

    def free_pages(self, pfns: PfnArray) -> None:
        """:meth:`free_page` for each of ``pfns`` in order (subclasses do it at once, with the
        same result)."""
        for pfn in pfns.tolist():
            self.free_page(pfn)

    def _free_many(self, pfns: PfnArray) -> None:
        """Mark ``pfns`` free, refusing a double free (for the vectorised ``free_pages``)."""
        if not self.free.set_clear(pfns):
            raise AssertionError("double free among the pfns freed (or a pfn freed twice)")
        self.nr_free += len(pfns)

    def _freed(self, pfn: int) -> None:  # noqa: B027 - optional hook
        pass

    def take_page(self, pfn: int) -> bool:
        """Take the frame ``pfn`` itself if it is free (kernel: ``take_page_off_buddy()``)."""
        if pfn >= len(self.free) or not self.free[pfn]:
            return False
        self._taken(pfn)
        self._take(pfn)
        return True

    def take_pages(self, pfns: PfnArray) -> BoolArray:
        """:meth:`take_page` for each of ``pfns`` in order; which of them were free."""
        return np.fromiter((self.take_page(int(pfn)) for pfn in pfns), bool, len(pfns))

    def _take_pages_flat(self, pfns: PfnArray) -> BoolArray:
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

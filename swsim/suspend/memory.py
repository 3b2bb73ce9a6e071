"""Memory as a hibernating kernel sees it before the atomic copy: classes, free pages, swap.

:class:`SuspendMemory` is the mutable state the suspend models (:mod:`swsim.suspend.swsusp`,
:mod:`swsim.suspend.preallocate`, :mod:`swsim.suspend.tuxonice`) work on: the pages of each
class (:mod:`swsim.machine.classes`), the free pages, the swap space still free, and the pages
the hibernation code holds. It offers the two things those models ask of the memory manager:
``shrink_all_memory()`` (reclaim) and page allocation, with direct reclaim when the caller
allows it.

Departures from mm/vmscan.c: reclaim takes page cache before anonymous memory (clean, then
dirty after writeback, then anon while swap lasts) and, within a class, the highest pfns first
(the kernel takes the LRU's cold end, which has no relation to pfns; swsim keeps a class to a
few ranges so that the image can record the machine after shrinking). Kernel memory (slab,
page tables) is never reclaimed, although the kernel can shrink reclaimable slab caches. All
arithmetic is on ranges: no per-page work.
"""

from __future__ import annotations

from dataclasses import replace

from swsim.machine.classes import SuspendClasses, trim_top
from swsim.machine.model import Machine
from swsim.machine.ranges import Ranges, ranges_len

#: The order in which :meth:`SuspendMemory.shrink_all_memory` reclaims the classes.
RECLAIM_ORDER = ("file_clean", "file_dirty", "anon")


class SuspendMemory:
    """A machine's memory at suspend, as the suspend side changes it."""

    def __init__(self, machine: Machine) -> None:
        classes = machine.suspend_classes
        self.machine = machine
        self.ranges: dict[str, Ranges] = classes.by_name()
        #: free pages (neither saveable, nosave, nor held by the hibernation code)
        self.free = machine.nr_suspend_free
        self.swap_free = classes.swap_pages
        #: ``totalreserve_pages``: what ordinary allocations leave free
        self.reserve = classes.reserve_pages
        #: pages freed so far, by class
        self.freed: dict[str, int] = dict.fromkeys(RECLAIM_ORDER, 0)
        #: pages the hibernation code holds now, and at most so far
        self.held = 0
        self.peak = 0

    def count(self, name: str) -> int:
        """Pages of class ``name`` still in memory."""
        return ranges_len(self.ranges[name])

    def saveable(self) -> int:
        """``count_data_pages()``: every page of every class (the allocated ones are not)."""
        return sum(ranges_len(rs) for rs in self.ranges.values())

    def shrink_all_memory(self, nr_pages: int) -> int:
        """``shrink_all_memory()``: free up to ``nr_pages`` pages; how many were freed."""
        got = 0
        for name in RECLAIM_ORDER:
            want = max(0, nr_pages - got)
            if name == "anon":
                want = min(want, self.swap_free)
            self.ranges[name], taken = trim_top(self.ranges[name], want)
            if name == "anon":
                self.swap_free -= taken
            self.freed[name] += taken
            got += taken
        self.free += got
        return got

    def alloc_pages(self, nr_pages: int, reclaim: bool = False, atomic: bool = False) -> int:
        """Allocate up to ``nr_pages`` pages for the hibernation code; how many it got.

        Free pages above ``reserve`` come first (``atomic``: GFP_ATOMIC may use the reserve
        too); with ``reclaim`` (GFP_KERNEL, as ``GFP_IMAGE``) the rest comes from direct
        reclaim, one page freed per page wanted, until nothing more can be freed.
        """
        floor = 0 if atomic else self.reserve
        got = min(max(0, nr_pages), max(0, self.free - floor))
        self.free -= got
        if reclaim and got < nr_pages:
            freed = self.shrink_all_memory(nr_pages - got)
            self.free -= freed
            got += freed
        self.held += got
        self.peak = max(self.peak, self.held)
        return got

    def free_pages(self, nr_pages: int) -> None:
        """Give ``nr_pages`` held pages back to the allocator."""
        self.held -= nr_pages
        self.free += nr_pages

    @property
    def swapped_out(self) -> int:
        """Anonymous pages written to swap so far."""
        return self.freed["anon"]

    def machine_after(self) -> Machine:
        """The machine as the atomic copy finds it: the classes after shrinking."""
        if self.machine.classes is None:
            return self.machine
        classes = SuspendClasses(
            **self.ranges, swap_pages=self.swap_free, reserve_pages=self.reserve
        )
        return replace(self.machine, saveable=classes.saveable(), classes=classes)

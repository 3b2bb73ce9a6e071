"""Suspend-time memory classes: what kind of page each saveable frame holds.

A hibernating kernel can only shrink its image by freeing pages, and which pages it can free
depends on what they hold: kernel memory (slab, page tables, the kernel image, ``mem_map``)
stays; file-backed page cache is reclaimed (clean pages dropped, dirty ones written back
first); anonymous memory (and shmem) can be swapped out while the swap device has room. Free
frames are those neither saveable nor nosave. A machine without classes (machine file version
1) has every saveable page in ``kernel``: nothing can be freed.

Each class is a set of pfn ranges; the classes partition the machine's saveable ranges.
``swap_pages`` is the swap space free at suspend for swapping anonymous pages out, and
``reserve_pages`` the kernel's ``totalreserve_pages`` (watermarks and lowmem reserves that
allocations leave free).
"""

from __future__ import annotations

from dataclasses import dataclass

from swsim.machine.ranges import Range, Ranges, ranges_len

#: The classes, in the order shrink_all_memory() reclaims the reclaimable ones (file clean,
#: file dirty, anon) after the unreclaimable one.
CLASS_NAMES = ("kernel", "anon", "file_clean", "file_dirty")
#: Classes on the LRU lists (TuxOnIce's pageset 2 candidates).
LRU_CLASSES = ("anon", "file_clean", "file_dirty")


@dataclass(frozen=True)
class SuspendClasses:
    """Which saveable frames are kernel, anonymous, clean or dirty page cache; swap and
    reserve sizes (pages)."""

    kernel: Ranges = ()
    anon: Ranges = ()
    file_clean: Ranges = ()
    file_dirty: Ranges = ()
    swap_pages: int = 0
    reserve_pages: int = 0

    def by_name(self) -> dict[str, Ranges]:
        """The class ranges keyed by :data:`CLASS_NAMES`."""
        return {name: getattr(self, name) for name in CLASS_NAMES}

    def counts(self) -> dict[str, int]:
        """Pages per class."""
        return {name: ranges_len(rs) for name, rs in self.by_name().items()}

    def saveable(self) -> Ranges:
        """The union of the classes: the machine's saveable ranges, merged."""
        return merge_ranges([r for rs in self.by_name().values() for r in rs])


def merge_ranges(ranges: list[Range]) -> Ranges:
    """Sorted ranges with touching or overlapping neighbours joined."""
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)


def trim_top(ranges: Ranges, nr_pages: int) -> tuple[Ranges, int]:
    """``ranges`` without their ``nr_pages`` highest pfns (or all of them); and how many went.

    The reclaim model takes pages from the top of a class so that a class stays a few ranges
    (the image header records the machine after shrinking).
    """
    kept = list(ranges)
    removed = 0
    while kept and removed < nr_pages:
        start, end = kept[-1]
        take = min(end - start, nr_pages - removed)
        removed += take
        if take == end - start:
            kept.pop()
        else:
            kept[-1] = (start, end - take)
    return tuple(kept), removed

"""The suspend side of modern Linux (6.x): ``hibernate_preallocate_memory()`` and ``swsusp_save()``.

Follows kernel/power/snapshot.c of v6.1 and v6.12 on x86-64 (no highmem):

* the basic memory bitmaps (``forbidden_pages_map``, ``free_pages_map``) and ``orig_bm``,
  ``copy_bm`` (and since v6.3 ``zero_bm``) take their pages first;
* ``hibernate_preallocate_memory()``: ``count`` = saveable + free - ``totalreserve_pages``;
  ``max_size`` = (count - (``snapshot_additional_pages()`` + ``PAGES_FOR_IO``)) / 2 -
  2 * ``SPARE_PAGES``; the target ``size`` = ``image_size`` in pages (default 2/5 of RAM),
  at most ``max_size``. If the saveable pages already fit, it preallocates one page per saveable
  page and is done. Otherwise it estimates ``minimum_image_size()`` (saveable minus what
  reclaim could free), calls ``shrink_all_memory(saveable - size)``, then preallocates
  ``count - max_size`` pages ("Image allocation is %lu pages short" when it cannot) and
  ``max_size - size`` more: every page it cannot take from free memory is reclaimed first, so
  the preallocation itself shrinks the image. ``free_unnecessary_pages()`` gives back what is
  beyond the saveable pages left: "Allocated %lu pages for snapshot".
* ``swsusp_save()``: "Need to copy %u pages"; ``enough_free_mem()``: "Normal pages needed:
  %u + %u, available pages: %u" (free pages plus the preallocated ones) must leave more than
  ``PAGES_FOR_IO``; ``swsusp_alloc()``; ``copy_data_pages()``, which since v6.3 (commit
  005e8dddd497) saves an all-zero page as a flagged pfn without copying it: "Image created
  (%d pages copied, %d zero pages)".

Departures: ``minimum_image_size()`` counts the reclaimable classes (the kernel counts every
LRU page and reclaimable slab, whether or not swap could take the anonymous ones); the
``max_size`` arithmetic is clamped at 0 where the kernel's unsigned arithmetic would wrap;
``totalreserve_pages`` is the machine's ``reserve_pages`` (0 unless its file says).
"""

from __future__ import annotations

from collections.abc import Callable

from swsim.kernel.constants import PAGE_SIZE, div_round_up
from swsim.kernel.memory_bitmap import LINKED_PAGE_DATA_SIZE, SIZEOF_RTREE_NODE, bitmap_cost
from swsim.kernel.zones import Zone, machine_zones
from swsim.machine.model import Machine
from swsim.suspend.memory import RECLAIM_ORDER, SuspendMemory
from swsim.suspend.report import SuspendReport

#: kernel/power/power.h (since 2.6.2x): PAGES_FOR_IO = 4 MiB of pages.
PAGES_FOR_IO = (4 << 20) // PAGE_SIZE  # 1024
#: kernel/power/power.h SPARE_PAGES = 1 MiB of pages: the default ``reserved_size``.
SPARE_PAGES = (1 << 20) // PAGE_SIZE  # 256
#: BM_BITS_PER_BLOCK and BM_ENTRIES_PER_LEVEL (64-bit) of snapshot.c.
BM_BITS_PER_BLOCK = PAGE_SIZE * 8
BM_ENTRIES_PER_LEVEL = PAGE_SIZE // 8


def snapshot_additional_pages(zone: Zone) -> int:
    """``snapshot_additional_pages()``: the pages two memory bitmaps of ``zone`` need."""
    rtree = nodes = div_round_up(zone.spanned_pages, BM_BITS_PER_BLOCK)
    rtree += div_round_up(rtree * SIZEOF_RTREE_NODE, LINKED_PAGE_DATA_SIZE)
    while nodes > 1:
        nodes = div_round_up(nodes, BM_ENTRIES_PER_LEVEL)
        rtree += nodes
    return 2 * rtree


def minimum_image_size(mem: SuspendMemory, saveable: int) -> int:
    """``minimum_image_size()``: the saveable pages reclaim could not free."""
    size = sum(mem.count(name) for name in RECLAIM_ORDER)
    return 0 if saveable <= size else saveable - size


def default_image_size(totalram_pages: int) -> int:
    """``hibernate_image_size_init()``: 2/5 of RAM, in bytes."""
    return (totalram_pages * 2 // 5) * PAGE_SIZE


class Preallocation:
    """``alloc_normal``: the pages ``hibernate_preallocate_memory()`` holds for the copy."""

    def __init__(self, mem: SuspendMemory) -> None:
        self.mem = mem
        self.alloc_normal = 0

    def preallocate_image_memory(self, nr_pages: int, avail_normal: int) -> int:
        """``preallocate_image_memory()``: up to ``nr_pages`` pages, no more than
        ``avail_normal`` in all, reclaiming as needed (GFP_IMAGE)."""
        if avail_normal <= self.alloc_normal:
            return 0
        alloc = min(nr_pages, avail_normal - self.alloc_normal)
        got = self.mem.alloc_pages(max(0, alloc), reclaim=True)
        self.alloc_normal += got
        return got

    def free_unnecessary_pages(self) -> int:
        """``free_unnecessary_pages()``: give back the pages beyond the saveable ones."""
        save = self.mem.saveable()
        to_free = self.alloc_normal - save if self.alloc_normal >= save else 0
        self.mem.free_pages(to_free)
        self.alloc_normal -= to_free
        return to_free


def hibernate_preallocate_memory(
    mem: SuspendMemory, prealloc: Preallocation, image_size: int, report: SuspendReport
) -> bool:
    """``hibernate_preallocate_memory()`` (no highmem); False is its -ENOMEM."""
    report.log("Preallocating image memory")
    saveable = mem.saveable()
    count = saveable + mem.free - mem.reserve
    size = sum(snapshot_additional_pages(z) for z in machine_zones(mem.machine.frames))
    avail_normal = saveable + mem.free
    max_size = max(0, (count - (size + PAGES_FOR_IO)) // 2 - 2 * SPARE_PAGES)
    size = min(div_round_up(image_size, PAGE_SIZE), max_size)
    if size >= saveable:
        pages = prealloc.preallocate_image_memory(saveable, avail_normal)
    else:
        pages = minimum_image_size(mem, saveable)
        avail_normal = avail_normal - pages if avail_normal > pages else 0
        if size < pages:
            size = min(pages, max_size)
        mem.shrink_all_memory(saveable - size)
        alloc = max(0, count - max_size)
        pages = prealloc.preallocate_image_memory(alloc, avail_normal)
        if pages < alloc:
            report.fail(f"Image allocation is {alloc - pages} pages short")
            return False
        pages += prealloc.preallocate_image_memory(max_size - size, avail_normal)
        pages -= prealloc.free_unnecessary_pages()
    report.log(f"Allocated {pages} pages for snapshot")
    report.allocated = pages
    return True


def swsusp_save(
    mem: SuspendMemory, prealloc: Preallocation, nr_zero: int | None, report: SuspendReport
) -> bool:
    """``swsusp_save()``: check, allocate the rest, copy. ``nr_zero`` is the number of zero
    pages among the saveable ones (None before v6.3: they are copied). False is -ENOMEM."""
    report.log("Creating image:")
    nr_pages = mem.saveable()
    report.log(f"Need to copy {nr_pages} pages")
    available = mem.free + prealloc.alloc_normal
    report.log(f"Normal pages needed: {nr_pages} + {PAGES_FOR_IO}, available pages: {available}")
    if not available > nr_pages + PAGES_FOR_IO:
        report.fail(
            f"Not enough free memory: need {nr_pages} + {PAGES_FOR_IO} (PAGES_FOR_IO), "
            f"have {available}"
        )
        return False
    if prealloc.alloc_normal < nr_pages:  # swsusp_alloc(): the rest, GFP_ATOMIC
        extra = nr_pages - prealloc.alloc_normal
        got = mem.alloc_pages(extra, atomic=True)
        report.allocated += got
        if got < extra:
            report.fail("Memory allocation failed")
            return False
    zero = nr_zero or 0
    report.copied = nr_pages - zero
    report.zero_pages = zero
    report.image_pages = nr_pages
    if nr_zero is None:
        report.log(f"Image created ({nr_pages} pages copied)")
    else:
        report.log(f"Image created ({nr_pages - zero} pages copied, {zero} zero pages)")
    return True


def suspend_6x(
    mem: SuspendMemory,
    image_size: int | None,
    kernel: str,
    zero_pages_of: Callable[[Machine], int] | None,
) -> SuspendReport:
    """The whole 6.x suspend side on ``mem``; ``image_size`` in bytes (default 2/5 of RAM).

    ``zero_pages_of`` is None for a kernel that copies zero pages (6.1), else a callable
    giving the number of zero pages of a machine (6.3+).
    """
    totalram = mem.saveable() + mem.free  # totalram_pages(): frames that are not nosave
    image_size = default_image_size(totalram) if image_size is None else image_size
    report = SuspendReport(kernel, image_size=div_round_up(image_size, PAGE_SIZE))
    report.saveable_before = mem.saveable()
    report.free_before = mem.free
    zones = machine_zones(mem.machine.frames)
    # The basic bitmaps (hibernate(): "Basic memory bitmaps created"), then orig_bm, copy_bm
    # and, since v6.3, zero_bm.
    nr_bitmaps = 4 if zero_pages_of is None else 5
    bitmaps = nr_bitmaps * bitmap_cost(zones)
    mem.alloc_pages(bitmaps)
    prealloc = Preallocation(mem)
    if hibernate_preallocate_memory(mem, prealloc, image_size, report):
        nr_zero = None if zero_pages_of is None else zero_pages_of(mem.machine_after())
        swsusp_save(mem, prealloc, nr_zero, report)
    report.close(mem)
    return report

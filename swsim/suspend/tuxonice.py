"""TuxOnIce (Suspend2, Nigel Cunningham's): two pagesets, so the image can exceed half of RAM.

Follows kernel/power/tuxonice_prepare_image.c of the TuxOnIce 3.x trees:

* ``toi_mark_pages_for_pageset2()``: pageset 2 is the pages on the LRU lists (page cache and
  anonymous memory of the frozen processes, ``pageset2_full()``); they will not change while
  the image is written, so they are written first, without an atomic copy. Pageset 1 is the
  rest (kernel memory, slab, page tables): it is atomically copied, into pageset 2's frames
  (already on disk) and, if it is bigger, into extra pages
  (``toi_allocate_extra_pagedir_memory()``).
* ``eat_memory()``: ``lowpages_ps1_to_free()`` = (pageset 1 + ``extra_pd1_pages_allowance`` +
  ``MIN_FREE_RAM`` - (pageset 2 + free + extra pages)) / 2, rounded up; ``ram_still_required()``
  = ``MIN_FREE_RAM`` + 2 * allowance - (free + extra pages); and, with an image size limit, the
  pages above it (``any_to_free()``). It asks ``shrink_memory_mask()`` for them, recounts, and
  tries again (``MAX_TRIES`` = 2); if pageset 1 still does not fit, "Failed to prepare the
  image because... We need to free N lowmem pageset 1 pages."
* The resumed side (``swsim cycle``): pageset 1 is loaded and atomically restored like any
  image; the resumed kernel then reads pageset 2 straight back into its frames (no copy).

Departures: the allowance is the Kconfig default (``CONFIG_TOI_DEFAULT_EXTRA_PAGES_ALLOWANCE``,
2000), not measured by ``get_extra_pd1_allowance()``; ``toi_memory_for_modules()``, the image
header and the storage the image needs are not counted (the swap device is taken to be large
enough); reclaim frees only LRU pages (pageset 2), so, as Nigel's comment says, it never helps
pageset 1 fit.
"""

from __future__ import annotations

from swsim.kernel.constants import PAGE_SIZE, div_round_up
from swsim.machine.classes import LRU_CLASSES
from swsim.suspend.memory import SuspendMemory
from swsim.suspend.report import SuspendReport

#: tuxonice_prepare_image.h: pages always left free.
MIN_FREE_RAM = 100
#: Kconfig default of CONFIG_TOI_DEFAULT_EXTRA_PAGES_ALLOWANCE: pages drivers may take.
EXTRA_PD1_PAGES_ALLOWANCE = 2000
#: tuxonice_prepare_image.c: attempts to prepare the image.
MAX_TRIES = 2


class Pagesets:
    """The two pagesets of ``mem`` and the extra pages allocated for the copy."""

    def __init__(self, mem: SuspendMemory, image_size_limit: int | None) -> None:
        self.mem = mem
        self.limit = image_size_limit
        self.extra_pages_allocated = 0

    @property
    def pageset1(self) -> int:
        """Pages that must be atomically copied: everything not on an LRU list."""
        return self.mem.saveable() - self.pageset2

    @property
    def pageset2(self) -> int:
        """LRU pages: written before the copy, never copied."""
        return sum(self.mem.count(name) for name in LRU_CLASSES)

    def lowpages_ps1_to_free(self) -> int:
        """``lowpages_ps1_to_free()``: each pageset-1 page freed needs 2 pages less."""
        needed = self.pageset1 + EXTRA_PD1_PAGES_ALLOWANCE + MIN_FREE_RAM
        available = self.pageset2 + self.mem.free + self.extra_pages_allocated
        return div_round_up(needed - available, 2) if needed > available else 0

    def ram_still_required(self) -> int:
        """``ram_still_required()``: free pages the drivers and the copy need."""
        needed = MIN_FREE_RAM + 2 * EXTRA_PD1_PAGES_ALLOWANCE
        available = self.mem.free + self.extra_pages_allocated
        return needed - available if needed > available else 0

    def any_to_free(self) -> int:
        """``any_to_free()``: the soft image size limit and the RAM still required."""
        current = self.pageset1 + self.pageset2
        to_free = current - self.limit if self.limit is not None and current > self.limit else 0
        return max(to_free, self.ram_still_required())

    def amount_needed(self) -> int:
        """``amount_needed()``: what the image must still lose."""
        return max(self.lowpages_ps1_to_free(), self.any_to_free())

    def eat_memory(self) -> None:
        """``eat_memory()``: ask reclaim for what is needed (it frees LRU pages only)."""
        low_req, high_req = self.lowpages_ps1_to_free(), self.any_to_free()
        if not self.amount_needed():
            return
        got = self.mem.shrink_all_memory(low_req) if low_req else 0
        if high_req > got:
            self.mem.shrink_all_memory(high_req - got)

    def try_allocate_extra_memory(self) -> None:
        """``try_allocate_extra_memory()``: extra pages when pageset 1 outgrows pageset 2."""
        wanted = self.pageset1 + EXTRA_PD1_PAGES_ALLOWANCE - self.pageset2
        if wanted > self.extra_pages_allocated:
            self.extra_pages_allocated += self.mem.alloc_pages(
                wanted - self.extra_pages_allocated, atomic=True
            )


def suspend_tuxonice(mem: SuspendMemory, image_size: int | None) -> SuspendReport:
    """TuxOnIce's ``toi_prepare_image()`` and atomic copy on ``mem``; ``image_size`` in bytes
    is the soft limit (``image_size_limit``; default none)."""
    limit = None if image_size is None else image_size // PAGE_SIZE
    report = SuspendReport("tuxonice", image_size=limit)
    report.saveable_before = mem.saveable()
    report.free_before = mem.free
    sets = Pagesets(mem, limit)
    for _ in range(MAX_TRIES):
        sets.eat_memory()
        sets.try_allocate_extra_memory()
        if not sets.amount_needed():
            break
    ps1, ps2 = sets.pageset1, sets.pageset2
    report.log(f"Count data pages: Set1 ({ps1}) + Set2 ({ps2})")
    report.pageset1, report.pageset2 = ps1, ps2
    report.allocated = sets.extra_pages_allocated
    low = sets.lowpages_ps1_to_free()
    if low:
        report.fail(f"Failed to prepare the image: we need to free {low} lowmem pageset 1 pages")
    elif sets.ram_still_required():
        report.fail(
            f"Failed to prepare the image: we need {sets.ram_still_required()} more free pages "
            "of low memory"
        )
    else:
        report.copied = ps1
        report.image_pages = ps1 + ps2
        report.log(f"Atomic copy of pageset 1 ({ps1} pages) into pageset 2 and "
                   f"{sets.extra_pages_allocated} extra pages")
    report.close(mem)
    return report

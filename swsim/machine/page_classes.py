"""Suspend-time memory classes from a real kernel's page flags (a /proc/kpageflags copy).

:mod:`swsim.machine.kpageflags` reads the copy and its frame states; this module sorts the
saveable frames (used or kernel-reserved: not free, not a hole) into the classes of
:mod:`swsim.machine.classes` by their LRU/ANON/SWAPBACKED bits, as reclaim would treat them:

* anon: ``KPF_LRU``, not ``KPF_UNEVICTABLE`` nor ``KPF_MLOCKED``, and ``KPF_ANON`` or
  ``KPF_SWAPBACKED`` (shmem and tmpfs go to swap too);
* file_dirty: the same LRU pages, file-backed, ``KPF_DIRTY`` or ``KPF_WRITEBACK``;
* file_clean: the other file-backed LRU pages;
* kernel: every other saveable frame (slab, page tables, kernel stacks, reserved memory,
  unevictable pages).

Departure: reclaimable slab (``KPF_SLAB`` on a reclaimable cache) cannot be told from the rest
in /proc/kpageflags and counts as kernel memory; the kernel's ``minimum_image_size()`` counts
it as reclaimable.
"""

from __future__ import annotations

from swsim.machine.classes import SuspendClasses
from swsim.machine.kpageflags import (
    KPF_ANON,
    KPF_DIRTY,
    KPF_LRU,
    KPF_MLOCKED,
    KPF_STATE_RESERVED,
    KPF_STATE_USED,
    KPF_SWAPBACKED,
    KPF_UNEVICTABLE,
    KPF_WRITEBACK,
    KpageflagsDump,
)
from swsim.machine.ranges import mask_ranges


def classes_from_kpageflags(
    dump: KpageflagsDump, swap_pages: int = 0, reserve_pages: int = 0
) -> SuspendClasses:
    """The classes of the saveable frames of ``dump``, with ``swap_pages`` of free swap and
    ``reserve_pages`` of ``totalreserve_pages``."""
    state = dump.frame_states()
    saveable = (state == KPF_STATE_USED) | (state == KPF_STATE_RESERVED)
    lru = saveable & dump.flag(KPF_LRU) & ~dump.flag(KPF_UNEVICTABLE) & ~dump.flag(KPF_MLOCKED)
    anon = lru & (dump.flag(KPF_ANON) | dump.flag(KPF_SWAPBACKED))
    file = lru & ~anon
    dirty = file & (dump.flag(KPF_DIRTY) | dump.flag(KPF_WRITEBACK))
    return SuspendClasses(
        kernel=mask_ranges(saveable & ~lru),
        anon=mask_ranges(anon),
        file_clean=mask_ranges(file & ~dirty),
        file_dirty=mask_ranges(dirty),
        swap_pages=swap_pages,
        reserve_pages=reserve_pages,
    )

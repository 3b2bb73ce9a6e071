"""``bitmap``: the resume side of kernel/power/snapshot.c as of v6.6 to v6.16 (64-bit, x86-64).

Memory bitmaps (:mod:`swsim.kernel.memory_bitmap`) replace the 2006 page flags and page directories:
``forbidden_pages_map`` and ``free_pages_map`` are built at boot by
``create_basic_memory_bitmaps()``; ``load_header()`` is followed by ``copy_bm`` and ``zero_bm``
(any pages); ``prepare_image()`` marks the unsafe pages, builds ``orig_bm`` and a new ``zero_bm``
in safe pages (``get_image_page(PG_SAFE)`` keeps each unsafe page it meets and counts it in
``allocated_unsafe_pages``), reserves ``ceil(nr_pages / PBES_PER_LINKED_PAGE)`` pages for pbes
and preallocates ``nr_pages``. ``get_buffer()`` loads straight into an original frame that is
forbidden and free; otherwise it takes a pbe from the chain allocator and a page from
``__get_safe_page()``, and pushes the pbe on ``restore_pblist``. Zero pages go through
``get_buffer()`` like any other page (the handle memsets the buffer);
``snapshot_write_finalize()`` recycles ``orig_bm`` into ``safe_pages_list``.

Departures: no highmem (``nr_highmem`` = 0: ``prepare_highmem_image`` and ``highmem_pblist``
are left out, as on 64-bit); ``hibernate=protect_image`` is off; swap.c's own pages are the
reader's (:mod:`swsim.resume.readers`, ``--reader``), slab allocations are not counted; the
bits live in numpy arrays, not in the leaf frames (their pages are allocated all the same).
"""

from __future__ import annotations

import weakref

import numpy as np

from swsim.image.info import ImageInfo
from swsim.kernel.constants import SIZEOF_PBE, div_round_up
from swsim.kernel.memory_bitmap import (
    LINKED_PAGE_DATA_SIZE,
    ChainAllocator,
    MemoryBitmap,
    PrefetchedPages,
    bitmap_cost,
    memory_bm_create,
    memory_bm_free,
    memory_bm_pages,
)
from swsim.kernel.types import PfnArray
from swsim.kernel.zones import machine_zones
from swsim.machine.ranges import ranges_pfns
from swsim.resume.context import ResumeContext
from swsim.resume.strategies.base import Strategy
from swsim.resume.strategies.pages import (
    PageStack,
    get_image_page,
    get_image_pages,
    preallocate_pages,
)

#: PBES_PER_LINKED_PAGE = LINKED_PAGE_DATA_SIZE / sizeof(struct pbe): 170.
PBES_PER_LINKED_PAGE = LINKED_PAGE_DATA_SIZE // SIZEOF_PBE
PG_ANY = False
PG_SAFE = True
PG_UNSAFE_CLEAR = True
PG_UNSAFE_KEEP = False


class Bitmap(Strategy):
    """The v6.x resume side (see the module docstring)."""

    name = "bitmap"
    summary = "v6.x: memory bitmaps, chain allocator, pbe reserve; zero pages memset"

    def __init__(self, ctx: ResumeContext) -> None:
        super().__init__(ctx)
        self.zones = machine_zones(self.ctx.frames)
        #: forbidden_pages_map / free_pages_map exist (the helpers are no-ops before)
        self.basic_maps = False
        self.buffer = -1
        self.allocated_unsafe_pages = 0
        #: safe_pages_list: a LIFO of linked pages
        self.safe_pages_list = PageStack()
        self.nr_image_pages = 0
        self.copy_bm: MemoryBitmap | None = None
        self.zero_bm: MemoryBitmap | None = None
        self.orig_bm: MemoryBitmap | None = None
        self.ca: ChainAllocator | None = None

    # -- snapshot.c page helpers (the memory_bitmap PageSource) ---------------------------
    def _unsafe_pages_met(self, pfns: PfnArray) -> None:
        self.allocated_unsafe_pages += len(pfns)

    def get_image_page(self, safe_needed: bool) -> int:
        """``get_image_page()``: with PG_SAFE, unsafe pages met are kept and counted."""
        if not self.basic_maps:  # swsusp_set_page_*() do nothing without the maps
            return self.ctx.get_zeroed_page()
        return get_image_page(self.ctx, safe_needed, self._unsafe_pages_met)

    def get_safe_page(self) -> int:
        """``__get_safe_page()``: pop ``safe_pages_list``, else ``get_image_page(PG_SAFE)``."""
        if self.safe_pages_list:
            return self.safe_pages_list.pop()
        return self.get_image_page(PG_SAFE)

    def free_image_page(self, pfn: int, clear_nosave_free: bool) -> None:
        """``free_image_page()``: clear forbidden (and with PG_UNSAFE_CLEAR free), free it."""
        ctx = self.ctx
        if self.basic_maps:
            ctx.page_nosave[pfn] = False
            if clear_nosave_free:
                ctx.page_nosave_free[pfn] = False
        ctx.free_page(pfn)

    def memory_bm_create(self, safe_needed: bool) -> MemoryBitmap:
        """``memory_bm_create()`` over this machine's zones.

        Every page it takes is a ``get_image_page(safe_needed)`` call (a chain page is a
        ``__get_safe_page()``, which is one too while ``safe_pages_list`` is empty) and none is
        freed in between: so the pages are allocated at once (:func:`get_image_pages`) and
        laid out in the kernel's order (:class:`PrefetchedPages`); the same pages, flags and
        counts as the calls one by one (tests/resume/test_bitmap.py).
        """
        if safe_needed and self.safe_pages_list:  # __get_safe_page() pops the list: one by one
            return memory_bm_create(self, safe_needed, self.zones)
        nr_pages = bitmap_cost(self.zones)
        if self.basic_maps:
            pages = get_image_pages(self.ctx, nr_pages, safe_needed, self._unsafe_pages_met)
        else:  # swsusp_set_page_*() do nothing without the maps
            pages = self.ctx.get_zeroed_pages(nr_pages)
        prefetched = PrefetchedPages(pages.tolist())
        bm = memory_bm_create(prefetched, safe_needed, self.zones)
        if prefetched.unused():
            raise AssertionError("bitmap_cost() disagrees with memory_bm_create()")
        return bm

    def create_basic_memory_bitmaps(self) -> None:
        """Boot: ``forbidden_pages_map`` then ``free_pages_map`` (PG_ANY, not marked), then
        ``mark_nosave_pages()``: the machine's nosave ranges become forbidden."""
        self.memory_bm_create(PG_ANY)
        self.memory_bm_create(PG_ANY)
        self.basic_maps = True
        nosave = ranges_pfns(self.ctx.machine.nosave)
        self.ctx.page_nosave[nosave] = True

    def mark_unsafe_pages(self, pfns: PfnArray) -> None:
        """Clear ``free_pages_map``, set the image pfns in it; ``allocated_unsafe_pages`` = 0."""
        self.ctx.page_nosave_free[:] = False
        self.ctx.page_nosave_free[pfns] = True
        self.allocated_unsafe_pages = 0

    # -- the Strategy interface ---------------------------------------------------------
    def alloc_buffer(self) -> int:
        """``create_basic_memory_bitmaps()``, then ``buffer = get_image_page(PG_ANY)``."""
        self.create_basic_memory_bitmaps()
        self.buffer = self.get_image_page(PG_ANY)
        return self.buffer

    def load_header(self, info: ImageInfo) -> None:
        """cur == 1: ``load_header()``, then ``copy_bm`` and ``zero_bm`` (PG_ANY)."""
        self.nr_image_pages = info.image_pages  # nr_copy_pages + nr_zero_pages
        self.safe_pages_list = PageStack()
        self.copy_bm = self.memory_bm_create(PG_ANY)
        self.zero_bm = self.memory_bm_create(PG_ANY)

    def prepare_image(self, pfns: PfnArray) -> None:
        """``prepare_image()`` in the kernel's order (b21f18ef964b: ``tmp`` is PG_SAFE)."""
        assert self.copy_bm is not None and self.zero_bm is not None
        self.free_image_page(self.buffer, PG_UNSAFE_CLEAR)
        self.buffer = -1
        self.mark_unsafe_pages(pfns)
        self.orig_bm = self.memory_bm_create(PG_SAFE)
        memory_bm_free(self, self.copy_bm, PG_UNSAFE_KEEP)
        tmp = self.memory_bm_create(PG_SAFE)
        memory_bm_free(self, self.zero_bm, PG_UNSAFE_KEEP)
        self.zero_bm = self.memory_bm_create(PG_SAFE)
        memory_bm_free(self, tmp, PG_UNSAFE_CLEAR)
        # "Reserve some safe pages for potential later use." (a bit wasteful, says the kernel)
        nr_pages = self.nr_image_pages - self.allocated_unsafe_pages
        reserve = get_image_pages(
            self.ctx, div_round_up(nr_pages, PBES_PER_LINKED_PAGE), PG_SAFE,
            self._unsafe_pages_met,
        )
        self.safe_pages_list.extend(reserve)
        nr_pages = self.nr_image_pages - self.allocated_unsafe_pages
        unsafe = preallocate_pages(self.ctx, nr_pages, self.safe_pages_list)
        self.stats.unsafe_kept = self.allocated_unsafe_pages + unsafe
        # chain_init(&ca, GFP_ATOMIC, PG_SAFE); the allocator refers back to this strategy
        # weakly, so that no reference cycle keeps a finished restore's memory alive
        self.ca = ChainAllocator(weakref.proxy(self), PG_SAFE)
        self.orig = pfns
        self.address = np.full(len(pfns), -1, dtype=np.int32)

    def get_buffer(self, index: int, pfn: int) -> int:
        """Direct load into a forbidden and free frame; else a pbe and a safe page."""
        ctx = self.ctx
        if ctx.page_nosave[pfn] and ctx.page_nosave_free[pfn]:
            self.stats.direct += 1
            return pfn
        assert self.ca is not None
        self.ca.chain_alloc(SIZEOF_PBE)
        address = self.get_safe_page()
        self.address[index] = address
        return address

    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        """:meth:`get_buffer` for image pages ``start`` to ``stop``, batched.

        Each copied page costs a ``chain_alloc()`` of one pbe (a new chain page from
        ``__get_safe_page()`` whenever the current one is full) and then a safe page, both
        popped off ``safe_pages_list``. While the list lasts nothing else changes, so the pops
        can be laid out at once; if it would run out, the pages go one by one.
        """
        ca = self.ca
        assert ca is not None
        ctx = self.ctx
        dest: PfnArray = pfns[start:stop].copy()
        copied = ~ctx.page_nosave.both(ctx.page_nosave_free, dest)
        nr_copied = int(np.count_nonzero(copied))
        room = (LINKED_PAGE_DATA_SIZE - ca.used_space) // SIZEOF_PBE
        per_page = LINKED_PAGE_DATA_SIZE // SIZEOF_PBE
        # pbes room, room + per_page, ... each open a chain page, popped just before its safe
        # page: chain page j is pop room + j * (per_page + 1)
        nr_chain = -(-(nr_copied - room) // per_page) if nr_copied > room else 0
        nr_pops = nr_copied + nr_chain
        if nr_pops > len(self.safe_pages_list):
            return super().get_buffers(start, stop, pfns)
        if nr_copied:
            popped = self.safe_pages_list.pop_many(nr_pops)
            chain_at = room + np.arange(nr_chain) * (per_page + 1)
            ca.chain.extend(popped[chain_at].tolist())
            if nr_chain:
                ca.used_space = (nr_copied - (room + (nr_chain - 1) * per_page)) * SIZEOF_PBE
            else:
                ca.used_space += nr_copied * SIZEOF_PBE
            safe = np.ones(nr_pops, dtype=bool)
            safe[chain_at] = False
            pages = popped[safe]
            dest[copied] = pages
            self.address[start:stop][copied] = pages
        self.stats.direct += len(dest) - nr_copied
        return dest

    def snapshot_write_finalize(self) -> None:
        """``memory_bm_recycle(&orig_bm)``: its pages go on ``safe_pages_list``, none freed."""
        if self.orig_bm is not None:
            self.safe_pages_list.extend(memory_bm_pages(self.orig_bm))
            self.orig_bm = None


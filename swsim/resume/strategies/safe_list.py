"""``safe-list``: 2.6.17-rc1-mm2 with "swsusp: use less memory during resume" (April 2006).

``alloc_image_page(safe_needed=1)`` keeps each unsafe page it meets allocated (PG_nosave and
PG_nosave_free both set) and counts it in ``unsafe_pages``. ``prepare_image()`` then allocates
``nr_copy_pages - unsafe_pages`` more pages with plain ``get_zeroed_page()``: the safe ones go
on the ``safe_pages`` list, the unsafe ones are just kept. ``get_buffer()`` loads a page straight
into its original frame when swsusp has allocated that frame, and otherwise takes a safe page
and links the pbe into the restore list. Allocations: 1 + 2*ceil(P/170) + P.
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.types import PfnArray
from swsim.resume.context import ResumeContext
from swsim.resume.strategies.pages import PageStack, preallocate_pages
from swsim.resume.strategies.swsusp2006 import Swsusp2006


class SafeList(Swsusp2006):
    """2.6.17 with the patch (see the module docstring)."""

    name = "safe-list"
    summary = "2.6.17 with the patch: keep unsafe pages, load each into its own frame"

    def __init__(self, ctx: ResumeContext) -> None:
        super().__init__(ctx)
        self.unsafe_pages = 0
        #: the safe_pages list: a stack, like the kernel's singly linked list
        self.safe_pages = PageStack()

    def unsafe_pages_met(self, pfns: PfnArray) -> None:
        """Keep the unsafe pages met: their own image pages are loaded into them."""
        self.unsafe_pages += len(pfns)
        self.stats.unsafe_kept += len(pfns)

    def prepare_image(self, pfns: PfnArray) -> None:
        """``prepare_image()`` of the patch."""
        self.unsafe_pages = 0  # set by mark_unsafe_pages() in the patch
        self.swap_pagedir(pfns)
        nr_pages = self.nr_copy_pages - self.unsafe_pages
        self.stats.unsafe_kept += preallocate_pages(self.ctx, nr_pages, self.safe_pages)

    def get_buffer(self, index: int, pfn: int) -> int:
        """Direct load when the original frame is allocated by swsusp; else a safe page."""
        ctx = self.ctx
        if ctx.page_nosave[pfn] and ctx.page_nosave_free[pfn]:
            self.stats.direct += 1
            return pfn
        if not self.safe_pages:
            raise AssertionError("safe_pages list exhausted: the model broke an invariant")
        address = self.safe_pages.pop()
        self.address[index] = address
        return address

    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        """:meth:`get_buffer` for image pages ``start`` to ``stop``: the flags do not change
        while the data is read, and the safe pages come off the list top first."""
        ctx = self.ctx
        dest: PfnArray = pfns[start:stop].copy()
        copied = ~ctx.page_nosave.both(ctx.page_nosave_free, dest)
        nr_copied = int(np.count_nonzero(copied))
        if nr_copied > len(self.safe_pages):
            raise AssertionError("safe_pages list exhausted: the model broke an invariant")
        if nr_copied:
            popped = self.safe_pages.pop_many(nr_copied)
            dest[copied] = popped
            self.address[start:stop][copied] = popped
        self.stats.direct += len(dest) - nr_copied
        return dest

"""``eat``: 2.6.17-rc1-mm2 before the patch: eat unsafe pages, then copy everything.

``alloc_image_page(safe_needed=1)`` keeps every unsafe page it meets on the ``eaten_pages`` list
so that the allocator cannot return it again, until ``create_image()`` holds one safe page per
image page; then ``release_eaten_pages()`` frees them. Each data page is read into its pbe's
safe page and all ``nr_copy_pages`` are copied at the end. Eating can need about twice the
image in free memory: the image cannot exceed about half of the free memory at resume.
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.types import Pfn32Array, PfnArray
from swsim.resume.context import ResumeContext
from swsim.resume.strategies.pages import get_image_pages
from swsim.resume.strategies.swsusp2006 import Swsusp2006


class Eat(Swsusp2006):
    """2.6.17 before the patch (see the module docstring)."""

    name = "eat"
    summary = "2.6.17 before the patch: eat unsafe pages, copy every page at the end"

    def __init__(self, ctx: ResumeContext) -> None:
        super().__init__(ctx)
        #: the eaten pages in the order met, in chunks (the kernel's list has the last first)
        self.eaten_pages: list[PfnArray] = []
        #: every frame eaten, in the order met (eaten_pages is emptied when they are freed)
        self._eaten_record: list[Pfn32Array] = []

    def unsafe_pages_met(self, pfns: PfnArray) -> None:
        """Keep the unsafe pages met on ``eaten_pages`` until the image is allocated."""
        self.eaten_pages.append(pfns)
        self._eaten_record.append(pfns.astype(np.int32))
        self.stats.eaten += len(pfns)

    def frames_eaten(self) -> PfnArray:
        """Every frame ``alloc_image_page()`` ate."""
        if not self._eaten_record:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self._eaten_record, dtype=np.int64)

    def release_eaten_pages(self) -> None:
        """Free the eaten pages, head of the list (the last one eaten) first."""
        if not self.eaten_pages:
            return
        pfns = np.concatenate(self.eaten_pages)[::-1]
        # "We don't want swsusp_free() to free this page again"
        self.ctx.page_nosave[pfns] = False
        self.ctx.free_pages(pfns)
        self.eaten_pages = []

    def prepare_image(self, pfns: PfnArray) -> None:
        """``create_image()``: safe directory, ``alloc_data_pages()``, release the eaten pages."""
        self.swap_pagedir(pfns)
        # alloc_data_pages(): alloc_image_page(safe_needed=1) for each pbe, in pbe order
        self.address[:] = get_image_pages(self.ctx, len(pfns), True, self.unsafe_pages_met)
        self.release_eaten_pages()

    def get_buffer(self, index: int, pfn: int) -> int:
        """``handle->buffer = (void *)handle->pbe->address``: always the safe page."""
        return int(self.address[index])

    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        """Every page into its pbe's safe page."""
        return self.address[start:stop].astype(np.int64)

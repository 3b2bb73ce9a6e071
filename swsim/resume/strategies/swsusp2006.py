"""What ``eat`` and ``safe-list`` share: kernel/power/snapshot.c of 2.6.17-rc1-mm2.

The resume half of that file, before and after Rafael Wysocki's patch "swsusp: use less memory
during resume" (April 2006), shares the buffer page, ``load_header()``'s first page directory
(``alloc_pagedir(nr_copy_pages, GFP_ATOMIC, 0)``), ``mark_unsafe_pages()``, the safe page
directory and ``free_pagedir()``. The two differ in what ``alloc_image_page()`` does with an
unsafe page it meets (:meth:`Swsusp2006.unsafe_pages_met`), in ``create_image()`` versus
``prepare_image()``, and in ``get_buffer()``.

Departures from the kernel: the pbes themselves live in numpy arrays (``orig``/``address``), not
inside the page-directory frames, which are allocated, flagged and freed exactly as the kernel
does; pfns replace the kernel virtual addresses the 2006 image stored; pages come back from the
allocator unzeroed (every byte of them is overwritten before it is read).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from swsim.image.info import ImageInfo
from swsim.kernel.constants import pagedir_pages
from swsim.kernel.types import PfnArray
from swsim.resume.context import ResumeContext
from swsim.resume.strategies.base import Strategy
from swsim.resume.strategies.pages import get_image_page, get_image_pages


class Swsusp2006(Strategy):
    """What ``eat`` and ``safe-list`` share (see the module docstring)."""

    swap_kernel = "2.6.17"

    def __init__(self, ctx: ResumeContext) -> None:
        super().__init__(ctx)
        self.buffer = -1
        self.nr_copy_pages = 0
        #: the page directory that load_header() unpacks the metadata into (pagedir_nosave)
        self.pagedir: list[int] = []

    @abstractmethod
    def unsafe_pages_met(self, pfns: PfnArray) -> None:
        """``alloc_image_page(safe_needed)`` got these unsafe frames (already PG_nosave)."""

    def alloc_image_page(self, safe_needed: bool) -> int:
        """2.6.17 ``alloc_image_page()``: with ``safe_needed``, loop until a safe page comes.

        Every page returned is marked allocated by swsusp: PG_nosave and PG_nosave_free.
        """
        return get_image_page(self.ctx, safe_needed, self.unsafe_pages_met)

    def alloc_pagedir(self, nr_pages: int, safe_needed: bool) -> list[int]:
        """2.6.17 ``alloc_pagedir()``: ceil(nr_pages / PBES_PER_PAGE) pages, chained in order."""
        nr_dir_pages = pagedir_pages(nr_pages)
        pages = get_image_pages(self.ctx, nr_dir_pages, safe_needed, self.unsafe_pages_met)
        pfns: list[int] = pages.tolist()
        return pfns

    def free_pagedir(self, pages: list[int], clear_nosave_free: bool) -> None:
        """``free_pagedir()``; during resume PG_nosave_free is kept (it means "unsafe")."""
        ctx = self.ctx
        pfns = np.array(pages, dtype=np.int64)
        ctx.page_nosave[pfns] = False
        if clear_nosave_free:
            ctx.page_nosave_free[pfns] = False
        ctx.free_pages(pfns)  # one by one, in list order

    def mark_unsafe_pages(self, pfns: PfnArray) -> None:
        """Clear PG_nosave_free on every frame, then set it on every original frame."""
        flags = self.ctx.page_nosave_free
        flags[: self.ctx.frames] = False
        flags[pfns] = True

    # -- the Strategy interface --------------------------------------------------------
    def alloc_buffer(self) -> int:
        """``buffer = alloc_image_page(GFP_ATOMIC, 0)`` on the first snapshot_write_next()."""
        self.buffer = self.alloc_image_page(False)
        return self.buffer

    def load_header(self, info: ImageInfo) -> None:
        """``load_header()``: check_header() passed; allocate the first page directory."""
        self.nr_copy_pages = info.image_pages
        self.pagedir = self.alloc_pagedir(self.nr_copy_pages, False)

    def swap_pagedir(self, pfns: PfnArray) -> None:
        """The step both versions open with: mark the unsafe pages, build the safe directory.

        ``alloc_pagedir(nr_copy_pages, GFP_ATOMIC, 1)``, ``copy_page_backup_list()``, then
        ``free_pagedir(p, 0)`` of the directory load_header() allocated.
        """
        self.mark_unsafe_pages(pfns)
        self.orig = pfns
        self.address = np.full(len(pfns), -1, dtype=np.int32)
        safe_pagedir = self.alloc_pagedir(self.nr_copy_pages, True)
        self.free_pagedir(self.pagedir, False)
        self.pagedir = safe_pagedir


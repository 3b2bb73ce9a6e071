"""Page helpers every generation of kernel/power/snapshot.c shares during resume.

``alloc_image_page()`` (2.6.17) and ``get_image_page()`` (2.6.19 to 6.x) are one loop: take a
page; with ``safe_needed``, an unsafe page (an image pfn: PG_nosave_free / ``free_pages_map``) is
marked and handed to a per-version hook, and the loop takes another. The 2006 patch's and the
modern ``prepare_image()`` both end with the same preallocation loop of plain
``get_zeroed_page()`` calls. The flags are the two arrays of :class:`ResumeContext`:
``page_nosave`` (``forbidden_pages_map``) and ``page_nosave_free`` (``free_pages_map``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from swsim.kernel.types import PfnArray
from swsim.resume.context import ResumeContext

#: Called with the unsafe pages an allocation loop met, in the order it met them.
UnsafePagesMet = Callable[[PfnArray], None]


class PageStack:
    """A list of pages used as a stack, as the kernel's singly linked page lists
    (``safe_pages_list``): pushed on top, popped from the top.

    The pfns live in one numpy array, so that a whole preallocation is pushed, and a batch of
    buffers popped, without a Python int per page.
    """

    def __init__(self) -> None:
        self._pfns: PfnArray = np.zeros(64, dtype=np.int64)
        self._top = 0

    def __len__(self) -> int:
        return self._top

    def push(self, pfn: int) -> None:
        """Push one page."""
        self.push_many((pfn,))

    def push_many(self, pfns: PfnArray | Iterable[int]) -> None:
        """Push each of ``pfns`` in order (the last ends on top)."""
        pages = np.asarray(pfns if isinstance(pfns, np.ndarray) else list(pfns), dtype=np.int64)
        top = self._top + len(pages)
        if top > len(self._pfns):
            grown = np.zeros(max(top, 2 * len(self._pfns)), dtype=np.int64)
            grown[: self._top] = self._pfns[: self._top]
            self._pfns = grown
        self._pfns[self._top : top] = pages
        self._top = top

    def pop(self) -> int:
        """Pop the page on top (IndexError when empty)."""
        if not self._top:
            raise IndexError("pop from an empty page list")
        self._top -= 1
        return int(self._pfns[self._top])

    def pop_many(self, nr_pages: int) -> PfnArray:
        """Pop ``nr_pages`` pages, top first (as many :meth:`pop` calls)."""
        if nr_pages > self._top:
            raise IndexError("pop from an empty page list")
        start = self._top - nr_pages
        popped: PfnArray = self._pfns[start : self._top][::-1].copy()
        self._top = start
        return popped

    def tolist(self) -> list[int]:
        """The pages, bottom first."""
        pages: list[int] = self._pfns[: self._top].tolist()
        return pages


def get_image_pages(
    ctx: ResumeContext, nr_pages: int, safe_needed: bool, unsafe_pages_met: UnsafePagesMet
) -> PfnArray:
    """``nr_pages`` calls of ``get_image_page()`` / ``alloc_image_page()``, batched.

    Each page returned is marked allocated by swsusp (both flags); with ``safe_needed`` each is
    safe, and every unsafe page met on the way gets PG_nosave (forbidden) and goes, in order, to
    ``unsafe_pages_met``. Nothing is freed inside the loop, so asking the allocator for all the
    pages still needed at once meets exactly the pages the one-by-one loop would; and asking
    for as many as it takes to meet that many safe pages
    (:meth:`~swsim.resume.allocators.base.PageAllocator.allocations_for`) does too.
    """
    if not safe_needed:
        pfns = ctx.get_zeroed_pages(nr_pages)
    else:
        found, need = [], nr_pages
        while need:
            # as many pages as the loop takes to meet `need` safe ones (the allocator looks
            # ahead; one that cannot says `need`, and this loop goes round again)
            ahead = ctx.allocator.allocations_for(need, ctx.page_nosave_free)
            chunk = ctx.get_zeroed_pages(max(need, ahead))
            unsafe = ctx.page_nosave_free[chunk]
            if unsafe.any():
                met = chunk[unsafe]
                ctx.page_nosave[met] = True  # "mark it for swsusp_free()"
                unsafe_pages_met(met)
                chunk = chunk[~unsafe]
            found.append(chunk)
            need -= len(chunk)
        pfns = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    ctx.page_nosave[pfns] = True
    ctx.page_nosave_free[pfns] = True
    return pfns


def get_image_page(ctx: ResumeContext, safe_needed: bool, unsafe_pages_met: UnsafePagesMet) -> int:
    """One page: :func:`get_image_pages` of 1."""
    return int(get_image_pages(ctx, 1, safe_needed, unsafe_pages_met)[0])


def preallocate_pages(ctx: ResumeContext, nr_pages: int, safe_pages: PageStack) -> int:
    """``prepare_image()``'s loop: ``nr_pages`` plain ``get_zeroed_page()`` calls.

    Safe pages are pushed on ``safe_pages`` (a stack: the kernel's singly linked list); unsafe
    ones are kept, their own image page will be loaded into them. Every page is marked allocated.
    Returns the number of unsafe pages kept.
    """
    pfns = ctx.get_zeroed_pages(max(nr_pages, 0))
    unsafe = ctx.page_nosave_free[pfns]
    safe_pages.push_many(pfns[~unsafe])
    ctx.page_nosave[pfns] = True  # "Mark the page as allocated"
    ctx.page_nosave_free[pfns] = True
    return int(np.count_nonzero(unsafe))

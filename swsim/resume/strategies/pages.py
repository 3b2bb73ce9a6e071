"""Page helpers every generation of kernel/power/snapshot.c shares during resume.

``alloc_image_page()`` (2.6.17) and ``get_image_page()`` (2.6.19 to 6.x) are one loop: take a
page; with ``safe_needed``, an unsafe page (an image pfn: PG_nosave_free / ``free_pages_map``) is
marked and handed to a per-version hook, and the loop takes another. The 2006 patch's and the
modern ``prepare_image()`` both end with the same preallocation loop of plain
``get_zeroed_page()`` calls. The flags are the two arrays of :class:`ResumeContext`:
``page_nosave`` (``forbidden_pages_map``) and ``page_nosave_free`` (``free_pages_map``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from swsim.kernel.frame_bits import FrameBits
from swsim.kernel.types import PfnArray
from swsim.resume.context import ResumeContext

#: Called with the unsafe pages an allocation loop met, in the order it met them.
UnsafePagesMet = Callable[[PfnArray], None]


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
        if len(found) == 1:  # one allocation met every safe page: no copy
            pfns = found[0]
        else:
            pfns = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    FrameBits.set_in((ctx.page_nosave, ctx.page_nosave_free), pfns)
    return pfns


def get_image_page(ctx: ResumeContext, safe_needed: bool, unsafe_pages_met: UnsafePagesMet) -> int:
    """One page: :func:`get_image_pages` of 1."""
    return int(get_image_pages(ctx, 1, safe_needed, unsafe_pages_met)[0])


class PageStack:
    """A LIFO of pfns: the kernel's singly linked lists of safe pages (2.6.17's
    ``safe_pages``, v6.x's ``safe_pages_list``), pushed and popped at the top.

    The pfns live in an int32 array that grows by doubling: 4 bytes a page, where a Python
    list of ints costs about 36 (a restore of a million-frame machine lists 190,000 pages).
    """

    def __init__(self) -> None:
        self._pfns: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self._top = 0

    def __len__(self) -> int:
        return self._top

    def __bool__(self) -> bool:
        return self._top > 0

    def extend(self, pfns: PfnArray | list[int]) -> None:
        """Push ``pfns`` in order (the last one ends on top)."""
        top = self._top + len(pfns)
        if top > len(self._pfns):
            grown = np.zeros(max(top, 2 * len(self._pfns)), dtype=np.int32)
            grown[: self._top] = self._pfns[: self._top]
            self._pfns = grown
        self._pfns[self._top : top] = pfns
        self._top = top

    def pop(self) -> int:
        """Take the page on top."""
        if not self._top:
            raise IndexError("pop from an empty page stack")
        self._top -= 1
        return int(self._pfns[self._top])

    def pop_many(self, count: int) -> PfnArray:
        """``count`` calls of :meth:`pop` at once: the top ``count`` pages, top first."""
        if count > self._top:
            raise IndexError("pop from an empty page stack")
        start = self._top - count
        popped = self._pfns[start : self._top][::-1].astype(np.int64)
        self._top = start
        if 4 * start < len(self._pfns):  # mostly popped: give the room back
            self._pfns = self._pfns[: 2 * start].copy()
        return popped


def preallocate_pages(ctx: ResumeContext, nr_pages: int, safe_pages: PageStack) -> int:
    """``prepare_image()``'s loop: ``nr_pages`` plain ``get_zeroed_page()`` calls.

    Safe pages are pushed on ``safe_pages`` (a stack: the kernel's singly linked list); unsafe
    ones are kept, their own image page will be loaded into them. Every page is marked allocated.
    Returns the number of unsafe pages kept.
    """
    pfns = ctx.get_zeroed_pages(max(nr_pages, 0))
    unsafe = ctx.page_nosave_free[pfns]
    safe_pages.extend(pfns[~unsafe])
    FrameBits.set_in((ctx.page_nosave, ctx.page_nosave_free), pfns)  # "Mark the page as allocated"
    return int(np.count_nonzero(unsafe))

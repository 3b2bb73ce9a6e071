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

from swsim.resume import ResumeContext


def get_image_page(
    ctx: ResumeContext, safe_needed: bool, unsafe_page_met: Callable[[int], None]
) -> int:
    """One page marked allocated by swsusp (both flags); with ``safe_needed``, a safe one.

    Each unsafe page met on the way gets PG_nosave (forbidden) and goes to ``unsafe_page_met``.
    """
    pfn = ctx.get_zeroed_page()
    if safe_needed:
        while ctx.page_nosave_free[pfn]:
            ctx.page_nosave[pfn] = True  # "mark it for swsusp_free()"
            unsafe_page_met(pfn)
            pfn = ctx.get_zeroed_page()
    ctx.page_nosave[pfn] = True
    ctx.page_nosave_free[pfn] = True
    return pfn


def preallocate_pages(ctx: ResumeContext, nr_pages: int, safe_pages: list[int]) -> int:
    """``prepare_image()``'s loop: ``nr_pages`` plain ``get_zeroed_page()`` calls.

    Safe pages are pushed on ``safe_pages`` (a stack: the kernel's singly linked list); unsafe
    ones are kept, their own image page will be loaded into them. Every page is marked allocated.
    Returns the number of unsafe pages kept.
    """
    unsafe = 0
    for _ in range(max(nr_pages, 0)):
        pfn = ctx.get_zeroed_page()
        if ctx.page_nosave_free[pfn]:
            unsafe += 1
        else:
            safe_pages.append(pfn)
        ctx.page_nosave[pfn] = True  # "Mark the page as allocated"
        ctx.page_nosave_free[pfn] = True
    return unsafe

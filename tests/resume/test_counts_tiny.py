"""Hand-computed restores on tiny machines with the ascending allocator.

Every count below is worked out by hand from the 2.6.17-rc1-mm2 code, step by step, in the
comments; the model must reproduce each one to the page.
"""

from __future__ import annotations

import io

import pytest

from swsim.errors import RestoreNoMemory
from tests.helpers import image_bytes, restore_image, tiny_machine

# 16 frames. pfn 0 reserved; the image is pfns 1..5 (P = 5, one page directory page each:
# ceil(5/170) = 1); at boot the kernel uses pfn 2. Free at boot: 1, 3, 4, 5, 6, ..., 15.
SMALL = tiny_machine(16, ((1, 6),), used=((2, 3),), reserved=((0, 1),))


def restore(machine, strategy: str):  # type: ignore[no-untyped-def]
    return restore_image(io.BytesIO(image_bytes(machine)), strategy, allocator="ascending")


def test_eat_on_the_small_machine() -> None:
    # buffer = alloc_image_page(0)             -> pfn 1
    # load_header: alloc_pagedir(5, 0)         -> pfn 3
    # mark_unsafe_pages: PG_nosave_free on 1..5
    # alloc_pagedir(5, 1): 4 unsafe (eaten), 5 unsafe (eaten), 6 safe -> directory [6]
    # free_pagedir([3], 0): pfn 3 free again, still PG_nosave_free
    # alloc_data_pages: 3 unsafe (eaten), then 7, 8, 9, 10, 11 safe
    # release_eaten_pages: frees 3, 5, 4
    # allocations 1 + 1 + 3 + 6 = 11; frees 1 + 3 = 4; held at most 1 + 3 + 1 + 5 = 10
    stats = restore(SMALL, "eat")
    assert (stats.allocations, stats.eaten, stats.frees) == (11, 3, 4)
    assert (stats.direct, stats.copies, stats.peak_pages) == (0, 5, 10)
    assert stats.verified


def test_safe_list_on_the_small_machine() -> None:
    # buffer -> 1; first directory -> 3; mark_unsafe_pages on 1..5, unsafe_pages = 0
    # alloc_pagedir(5, 1): 4 and 5 kept (unsafe_pages = 2), 6 safe -> directory [6]
    # free_pagedir([3], 0)
    # prepare_image: 5 - 2 = 3 more pages: 3 (unsafe, kept), 7 (safe), 8 (safe)
    # get_buffer: 1 (the buffer page: PG_nosave, and PG_nosave_free as an original frame)
    #   direct; 2 (used by the boot kernel) takes safe page 8 (top of the list); 3, 4, 5 direct
    # allocations 1 + 2*1 + 5 = 8; direct 4; copies 1; held: 5 after the directory, 4 after
    # the free, then 7
    stats = restore(SMALL, "safe-list")
    assert (stats.allocations, stats.eaten, stats.unsafe_kept, stats.frees) == (8, 0, 3, 1)
    assert (stats.direct, stats.copies, stats.peak_pages) == (4, 1, 7)
    assert stats.verified


# 16 frames, pfn 0 reserved, the image is pfns 1..8 (P = 8) and nothing of it is used at boot:
# 15 free frames for an image of 8 pages, more than half of the free memory.
HALF = tiny_machine(16, ((1, 9),), reserved=((0, 1),))


def test_an_image_above_half_of_free_memory_fails_under_eat() -> None:
    # buffer 1, first directory 2; alloc_pagedir(8, 1) eats 3..8 and takes 9; pfn 2 is freed;
    # alloc_data_pages eats 2, takes 10..15 (6 safe pages) and the allocator is dry with 2 of
    # the 8 data pages still to find: 2 frames missing.
    with pytest.raises(RestoreNoMemory) as err:
        restore(HALF, "eat")
    assert err.value.missing == 2
    assert "eat" in str(err.value)


def test_the_same_image_loads_under_safe_list_without_a_single_copy() -> None:
    # buffer 1, directory 2; alloc_pagedir(8, 1) keeps 3..8 (unsafe_pages = 6), takes 9;
    # 2 is freed; 8 - 6 = 2 more pages: 2 (unsafe, kept) and 10 (safe). Every original frame
    # is now allocated by swsusp (1 is the buffer page): 8 direct loads, no copy.
    stats = restore(HALF, "safe-list")
    assert (stats.allocations, stats.direct, stats.copies) == (11, 8, 0)
    assert stats.verified

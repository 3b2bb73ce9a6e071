"""The buddy allocator's invariants: no frame twice, everything back and fully coalesced."""

from __future__ import annotations

import io
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.machine.ranges import mask_ranges
from swsim.resume.allocators.buddy import MAX_PAGE_ORDER, BuddyAllocator
from swsim.resume.strategies import STRATEGIES
from tests.helpers import image_bytes_zero, random_machine, restore_image


def _free_mask(frames: int, holes: list[tuple[int, int]]) -> np.ndarray:
    free = np.ones(frames, dtype=bool)
    for start, length in holes:
        free[start : start + length] = False
    return free


def _check_blocks(buddy: BuddyAllocator, free: np.ndarray) -> list[tuple[int, int]]:
    """Blocks are aligned, inside one zone, disjoint, cover exactly the free frames, and no two
    free buddies of the same order below MAX_PAGE_ORDER are left unmerged."""
    blocks = buddy.free_blocks()
    covered = np.zeros(len(free), dtype=np.int64)
    starts = {}
    for pfn, order in blocks:
        assert pfn % (1 << order) == 0
        zone = buddy.zone_idx(pfn)
        assert buddy.zone_idx(pfn + (1 << order) - 1) == zone
        covered[pfn : pfn + (1 << order)] += 1
        starts[pfn] = order
    assert (covered == free).all()
    for pfn, order in blocks:
        if order < MAX_PAGE_ORDER:
            assert starts.get(pfn ^ (1 << order)) != order, (pfn, order)
    return blocks


holes_strategy = st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 300)), max_size=6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6000), holes_strategy, st.integers(0, 2**32), st.integers(0, 400))
def test_no_frame_twice_and_all_back_fully_coalesced(
    frames: int, holes: list[tuple[int, int]], seed: int, claims: int
) -> None:
    free = _free_mask(frames, holes)
    buddy = BuddyAllocator(free)
    at_boot = sorted(_check_blocks(buddy, free))
    rng = random.Random(seed)
    held: list[int] = []
    for pfn in rng.sample(range(frames), min(claims, frames)):
        if buddy.take_page(pfn):
            assert free[pfn]
            held.append(pfn)
    for _ in range(rng.randint(0, int(free.sum()) + 5)):
        if held and rng.random() < 0.3:
            buddy.free_page(held.pop(rng.randrange(len(held))))
            continue
        pfn = buddy.alloc()
        if pfn < 0:
            assert len(held) == free.sum()
            continue
        assert free[pfn]
        held.append(pfn)
    assert len(set(held)) == len(held)
    now = free.copy()
    now[held] = False
    _check_blocks(buddy, now)
    rng.shuffle(held)
    for pfn in held:
        buddy.free_page(pfn)
    assert sorted(_check_blocks(buddy, free)) == at_boot


def test_split_hands_out_the_lower_half_and_puts_upper_halves_at_the_head() -> None:
    buddy = BuddyAllocator(np.ones(1024, dtype=bool))
    assert buddy.free_blocks() == [(0, 10)]
    assert buddy.alloc() == 0
    assert sorted(buddy.free_blocks(), key=lambda b: b[1]) == [(1 << k, k) for k in range(10)]
    assert buddy.alloc() == 1
    assert buddy.alloc() == 2  # the order-1 block [2, 4) is split: 2 out, 3 on the list
    buddy.free_page(1)
    assert buddy.alloc() == 1  # freed pages go to the head of their list
    for pfn in (0, 1, 2):
        buddy.free_page(pfn)
    assert buddy.free_blocks() == [(0, 10)]


def test_boot_hand_over_uses_the_largest_aligned_blocks_in_pfn_order() -> None:
    free = np.zeros(4096, dtype=bool)
    free[3:2051] = True
    buddy = BuddyAllocator(free)
    blocks = buddy.free_blocks()
    assert (1024, 10) in blocks and (3, 0) in blocks and (2048, 1) in blocks
    order9 = [b for b in blocks if b[1] == 9]
    assert order9 == [(512, 9)]
    assert buddy.alloc() == 3  # the only order-0 block


def test_zones_are_tried_from_the_highest_down() -> None:
    free = np.ones(8192, dtype=bool)  # DMA [0, 4096), DMA32 [4096, 8192)
    buddy = BuddyAllocator(free)
    assert buddy.alloc() == 4096


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_every_strategy_restores_with_the_buddy_allocator(data: st.DataObject) -> None:
    machine = random_machine(data.draw, max_frames=5000)
    image = image_bytes_zero(machine, "skip")
    bound = restore_image(io.BytesIO(image), "claim", allocator="buddy").copies
    for name in STRATEGIES:
        stats = restore_image(io.BytesIO(image), name, allocator="buddy")
        assert stats.verified and stats.copies >= bound


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20000), holes_strategy)
def test_memblock_free_all_at_once_equals_freeing_run_by_run(
    frames: int, holes: list[tuple[int, int]]
) -> None:
    free = _free_mask(frames, holes)
    at_once = BuddyAllocator(free)
    by_run = BuddyAllocator(np.zeros(frames, dtype=bool))
    by_run.free[:] = free
    for start, end in mask_ranges(free):
        by_run.free_pages_memory(start, end)
    assert at_once.free_blocks() == by_run.free_blocks()
    assert at_once.nr_free_blocks == by_run.nr_free_blocks
    assert at_once.block_order == by_run.block_order
    assert at_once._next == by_run._next and at_once._prev == by_run._prev
    assert [at_once.alloc() for _ in range(50)] == [by_run.alloc() for _ in range(50)]


def _buddy_state(buddy: BuddyAllocator) -> tuple[object, ...]:
    """Everything that decides what the allocator hands out next: each list, in order."""
    return (buddy.free_blocks(), buddy.nr_free_blocks, buddy.free.tolist(), buddy.nr_free,
            [pfn for pfn, order in enumerate(buddy.block_order) if order >= 0])


@settings(max_examples=60, deadline=None)
@given(st.integers(1024, 9000), holes_strategy, st.integers(0, 2**32), st.integers(64, 3000))
def test_many_frees_at_once_leave_the_lists_of_frees_one_by_one(
    frames: int, holes: list[tuple[int, int]], seed: int, nr_pages: int
) -> None:
    free = _free_mask(frames, holes)
    one, many = BuddyAllocator(free), BuddyAllocator(free)
    rng = random.Random(seed)
    nr_pages = min(nr_pages, int(free.sum()))
    held = [one.alloc() for _ in range(nr_pages)]
    assert [many.alloc() for _ in range(nr_pages)] == held
    rng.shuffle(held)
    back = held[: rng.randint(min(64, len(held)), len(held))]  # 64 and more: at once
    for pfn in back:
        one.free_page(pfn)
    many.free_pages(np.array(back, dtype=np.int64))
    assert _buddy_state(many) == _buddy_state(one)
    assert [many.alloc() for _ in range(50)] == [one.alloc() for _ in range(50)]


@settings(max_examples=60, deadline=None)
@given(st.integers(1024, 9000), holes_strategy, st.integers(0, 2**32), st.floats(0.1, 0.9))
def test_many_takes_at_once_leave_the_lists_of_takes_one_by_one(
    frames: int, holes: list[tuple[int, int]], seed: int, share: float
) -> None:
    free = _free_mask(frames, holes)
    one, many = BuddyAllocator(free), BuddyAllocator(free)
    rng = random.Random(seed)
    for _ in range(rng.randint(0, 200)):  # some history: allocations and frees
        pfn = one.alloc()
        assert many.alloc() == pfn
        if pfn >= 0 and rng.random() < 0.3:
            one.free_page(pfn)
            many.free_page(pfn)
    pfns = np.array(sorted(rng.sample(range(frames), int(frames * share))), dtype=np.int64)
    singles = [one.take_page(int(pfn)) for pfn in pfns]
    assert many.take_pages(pfns).tolist() == singles
    assert _buddy_state(many) == _buddy_state(one)
    assert [many.alloc() for _ in range(50)] == [one.alloc() for _ in range(50)]

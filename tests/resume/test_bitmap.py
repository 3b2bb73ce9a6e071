"""The ``bitmap`` strategy against the spec of v6.x kernel/power/snapshot.c (notes/bitmap-spec)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.kernel.memory_bitmap import bitmap_cost, create_mem_extents
from swsim.kernel.zones import Zone, machine_zones
from tests.helpers import image_bytes_zero, random_machine, restore_image, tiny_machine


def test_bitmap_sizes_of_the_worked_layouts() -> None:
    # 16 GiB: 128 leaves, 1 root, 1 chain page; 64 GiB: 512 leaves, 1 root, 4 chain pages.
    assert bitmap_cost(machine_zones(1 << 22)) == 130
    assert bitmap_cost(machine_zones(1 << 24)) == 517
    assert bitmap_cost(machine_zones(1 << 20)) == 34
    assert bitmap_cost(machine_zones(32768)) == 2
    # 513 blocks: a second level of inner nodes appears (root + 2 level-1 nodes).
    assert bitmap_cost(machine_zones(513 * 32768)) == 513 + 3 + 1 + 3


def test_touching_zones_merge_into_one_extent_and_a_gap_splits_them() -> None:
    assert create_mem_extents(machine_zones(1 << 21)) == [(1, 1 << 21)]  # x86: DMA from pfn 1
    zones = (Zone("A", 0, 100), Zone("B", 200, 300), Zone("C", 250, 400))
    assert create_mem_extents(zones) == [(0, 100), (200, 400)]
    # Two one-block extents: 2 leaves, 2 zone structs in one chain page.
    assert bitmap_cost(zones) == 3


def test_spec_worked_example_image_overlapping_the_allocation_region() -> None:
    """One zone [0,1000), pfns 0..199 busy, image pfns 150..249 (spec section 6)."""
    machine = tiny_machine(1000, ((150, 250),), used=((0, 200),))
    for zero_pages in ("skip", "store"):
        image = image_bytes_zero(machine, zero_pages)
        stats = restore_image(io.BytesIO(image), "bitmap", allocator="ascending")
        assert stats.verified
        assert (stats.allocations, stats.frees) == (116, 7)
        assert stats.direct == 46 and stats.copies == 54
        assert stats.allocations - stats.frees == 109 == stats.peak_pages


def test_spec_worked_example_image_clear_of_the_allocation_region() -> None:
    machine = tiny_machine(1000, ((600, 700),), used=((0, 200),))
    image = image_bytes_zero(machine, "skip")
    stats = restore_image(io.BytesIO(image), "bitmap", allocator="ascending")
    assert (stats.allocations, stats.frees, stats.direct, stats.copies) == (116, 7, 0, 100)


def test_get_buffer_never_calls_the_page_allocator() -> None:
    """prepare_image() reserves enough: allocations stop before the first data page."""
    machine = tiny_machine(20000, ((1000, 9000), (12000, 13000)), used=((2000, 2500),))
    image = image_bytes_zero(machine, "skip")
    stats = restore_image(io.BytesIO(image), "bitmap")
    bmc = bitmap_cost(machine_zones(machine.frames))
    # 7 bitmaps created (2 basic, copy, zero, orig, tmp, zero), 3 freed plus the buffer.
    assert stats.frees == 3 * bmc + 1
    assert stats.verified


@settings(max_examples=30, deadline=None)
@given(st.data(), st.sampled_from(["skip", "store"]))
def test_bitmap_restores_random_machines(data: st.DataObject, zero_pages: str) -> None:
    machine = random_machine(data.draw)
    stats = restore_image(io.BytesIO(image_bytes_zero(machine, zero_pages)), "bitmap")
    assert stats.verified
    assert stats.direct == stats.unsafe_kept
    assert stats.copies == machine.nr_saveable - stats.direct
    bmc = bitmap_cost(machine_zones(machine.frames))
    assert stats.frees == 3 * bmc + 1
    # Never freed: 2 basic maps, orig_bm, zero_bm, the reserve, the preallocated pages.
    held = stats.allocations - stats.frees
    assert held >= 4 * bmc + stats.copies + stats.direct

"""The image reader's own pages (--reader): kernel/power/swap.c's allocations during resume."""

from __future__ import annotations

import io
import json

import pytest

from swsim.errors import RestoreNoMemory, UsageError
from swsim.kernel.memory_bitmap import bitmap_cost
from swsim.kernel.zones import machine_zones
from swsim.machine.presets import get_preset
from swsim.resume.readers import (
    CMP_MAX_RD_PAGES,
    CMP_PAGES,
    MAP_PAGE_ENTRIES,
    THREAD_PAGES,
)
from tests.helpers import image_bytes, restore_image, restore_with_context, run_cli, tiny_machine

NO_DATA = {"no_data": True}


@pytest.fixture(scope="module")
def rafael() -> bytes:
    from swsim.image.writer import WriteOptions

    return image_bytes(get_preset("rafael-2006"), WriteOptions(no_data=True))


def test_map_pages_and_the_compressed_readers_buffers_follow_the_kernel(rafael: bytes) -> None:
    stats = restore_image(rafael, "bitmap", reader="swap")
    entries = 1 + stats.meta_pages + stats.data_pages  # header, metadata, data
    assert stats.reader_pages == entries // MAP_PAGE_ENTRIES + 1 == 148
    lzo = restore_image(rafael, "bitmap", reader="swap-lzo")
    # map + ring page array (16) + dec_data (68) + LZO context (4) + 2 thread stacks + ring
    assert lzo.reader_pages == 148 + 16 + 68 + 4 + 2 * THREAD_PAGES + CMP_MAX_RD_PAGES
    lz4 = restore_image(rafael, "bitmap", reader="swap-lz4")
    assert lz4.reader_pages == lzo.reader_pages + 1  # LZ4's context is 16416 bytes: 5 pages


def test_rafael_2006_bitmap_copies_under_each_reader(rafael: bytes) -> None:
    # The independent model of the 6.x code quoted by issue 11: 10,020 -> 10,168 (map pages),
    # about 18,452 with the compressed reader.
    copies = {r: restore_image(rafael, "bitmap", reader=r).copies
              for r in ("snapshot", "swap", "swap-lzo", "swap-lz4")}
    assert copies == {"snapshot": 10020, "swap": 10168, "swap-lzo": 18440, "swap-lz4": 18441}


def test_the_seed_figures_hold_under_snapshot_and_under_2617s_swap_reader(rafael: bytes) -> None:
    for reader, (safe_allocs, safe_copies) in {"snapshot": (101179, 10000),
                                               "swap": (101180, 10001)}.items():
        eat = restore_image(rafael, "eat", reader=reader)
        safe = restore_image(rafael, "safe-list", reader=reader)
        assert (eat.allocations, eat.copies) == (191178, 100000)
        assert (safe.allocations, safe.copies) == (safe_allocs, safe_copies)
        assert eat.copies - safe.copies >= 89_999 and eat.allocations - safe.allocations >= 89_998
        assert safe.reader_pages == (reader == "swap")  # 2.6.17: one map page, re-read in place


@pytest.mark.parametrize("reader", ["swap", "swap-lzo"])
def test_every_reader_page_is_freed_and_memory_verifies(reader: str) -> None:
    machine = tiny_machine(24576, ((256, 6000), (9000, 12000)), used=((1024, 2024),),
                           reserved=((0, 256),))
    image = image_bytes(machine)
    base, ctx0, _ = restore_with_context(image, "bitmap", reader="snapshot")
    stats, ctx, _ = restore_with_context(image, "bitmap", reader=reader)
    assert stats.verified and stats.reader == reader and stats.reader_pages > 0
    # what the reader took it gave back: the pages held at the end are the strategy's alone
    assert stats.allocations - stats.frees == ctx.held
    assert stats.frees - base.frees >= stats.reader_pages
    assert stats.peak_pages > base.peak_pages


def test_the_ring_is_sized_from_free_memory_and_ends_when_memory_does() -> None:
    # read_pages = (free - 1) / 2, free counted before load_header(): after the two basic
    # bitmaps, the buffer page, the map pages and the buffers
    machine = tiny_machine(8192, ((256, 1200),), used=((1200, 2192),), reserved=((0, 256),))
    stats = restore_image(image_bytes(machine), "bitmap", reader="swap-lzo", allocator="buddy")
    maps = (1 + stats.meta_pages + stats.data_pages) // MAP_PAGE_ENTRIES + 1
    buffers = maps + 16 + 68 + 4 + 2 * THREAD_PAGES
    free = machine.nr_boot_free - 2 * bitmap_cost(machine_zones(8192)) - 1 - buffers
    assert 1024 < (free - 1) // 2 < CMP_MAX_RD_PAGES
    assert stats.reader_pages == buffers + (free - 1) // 2


@pytest.mark.parametrize(("saved_end", "used_end", "phase"),
                         [(600, 3450, "load_header"), (300, 4096, "get_swap_reader")])
def test_a_ring_past_its_first_cmp_pages_ends_when_memory_does(
    saved_end: int, used_end: int, phase: str
) -> None:
    # 990 or 44 frames free: the ring (at least 1024 pages asked) takes what is left; only its
    # first CMP_PAGES allocations must succeed (GFP_NOIO | __GFP_HIGH, the rest __GFP_NORETRY)
    machine = tiny_machine(4096, ((256, saved_end),), used=((saved_end, used_end),),
                           reserved=((0, 256),))
    with pytest.raises(RestoreNoMemory) as failure:
        restore_image(image_bytes(machine), "bitmap", reader="swap-lzo", no_data=True)
    assert failure.value.phase == phase
    assert CMP_PAGES == 35


def test_page_by_page_gives_the_counts_of_the_batched_path() -> None:
    machine = tiny_machine(16384, ((256, 5000), (7000, 9000)), used=((1024, 2024),),
                           reserved=((0, 256),))
    image = image_bytes(machine)
    for reader in ("swap", "swap-lzo"):
        fast = restore_image(image, "bitmap", reader=reader)
        slow = restore_image(image, "bitmap", reader=reader, page_by_page=True)
        assert fast.to_json() == slow.to_json()


def test_2617_has_no_compressed_reader(rafael: bytes) -> None:
    with pytest.raises(UsageError, match="does not exist in 2.6.17"):
        restore_image(rafael, "safe-list", reader="swap-lzo")
    result = run_cli("compare", "-", "--reader", "swap-lz4", "--json", input=rafael)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["strategies"]
    assert [r["strategy"] for r in rows] == ["bitmap", "claim"]
    assert all(r["reader"] == "swap-lz4" for r in rows)


def test_a_swsim_image_is_read_as_a_snapshot_stream_by_default(rafael: bytes) -> None:
    stats = restore_image(io.BytesIO(rafael), "bitmap")
    assert (stats.reader, stats.reader_pages, stats.copies) == ("snapshot", 0, 10020)

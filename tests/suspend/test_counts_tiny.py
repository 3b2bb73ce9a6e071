"""Hand-computed suspends on tiny machines, one kernel at a time.

Every count is worked out by hand from the kernel code (2.6.17's swsusp.c/snapshot.c, 6.x's
snapshot.c, TuxOnIce's tuxonice_prepare_image.c) in the comments; the models must reproduce
each one to the page.
"""

from __future__ import annotations

from swsim.kernel.zones import machine_zones
from swsim.machine.classes import SuspendClasses
from swsim.machine.model import ContentSpec, Machine
from swsim.suspend.kernels import ImageSize, suspend
from swsim.suspend.preallocate import snapshot_additional_pages

NOSAVE = ((0, 16),)


def classed(frames: int, swap: int = 0, **classes: tuple[tuple[int, int], ...]) -> Machine:
    """A machine whose first 16 frames are nosave, with these classes (no zero pages)."""
    c = SuspendClasses(swap_pages=swap, **classes)  # type: ignore[arg-type]
    return Machine(
        frames=frames, saveable=c.saveable(), nosave=NOSAVE, classes=c,
        content=ContentSpec(seed=3, zero=0.0), name="tiny",
    )


# 4096 frames: kernel 1000, anon 500, clean 1000, dirty 200 (saveable 2700); free 4096 - 16 -
# 2700 = 1380; 100 pages of swap.
MIXED = classed(4096, swap=100, kernel=((16, 1016),), anon=((1016, 1516),),
                file_clean=((1516, 2516),), file_dirty=((2516, 2716),))


def test_2_6_17_shrinks_until_the_copy_fits() -> None:
    # swsusp_shrink_memory(), round 1: size = 2700 + ceil(2700/170) (16) + PAGES_FOR_IO (512)
    #   = 3228; tmp = 3228 - 1380 free = 1848 > 0: shrink_all_memory(1848) frees clean 1000,
    #   dirty 200 and anon 100 (all the swap): 1300.
    # round 2: saveable 1400, free 2680; size = 1400 + 9 + 512 = 1921 < 2680, and below
    #   image_size (500 MiB = 128000 pages): done (1300 pages freed).
    # swsusp_save(): 2680 > 1400 + 512 + 9: swsusp_alloc() takes 9 + 1400 = 1409 pages.
    report = suspend(MIXED, "2.6.17").report
    assert report.fits
    assert report.freed == {"file_clean": 1000, "file_dirty": 200, "anon": 100}
    assert report.swapped_out == 100
    assert (report.saveable_after, report.copied, report.image_pages) == (1400, 1400, 1400)
    assert (report.allocated, report.peak_pages, report.free_after) == (1409, 1409, 1271)
    assert report.messages == [
        "Shrinking memory...  done (1300 pages freed)",
        "swsusp: Need to copy 1400 pages",
        "swsusp: critical section/: done (1400 pages copied)",
    ]


def test_2_6_17_fails_when_nothing_more_can_be_freed() -> None:
    # kernel 2000, clean 200: saveable 2200, free 4096 - 16 - 2200 = 1880, no swap.
    # round 1: size = 2200 + 13 + 512 = 2725; tmp = 845: frees the 200 clean pages.
    # round 2: saveable 2000, free 2080; size = 2000 + 12 + 512 = 2524; tmp = 444: frees 0:
    #   -ENOMEM.
    machine = classed(4096, kernel=((16, 2016),), file_clean=((2016, 2216),))
    result = suspend(machine, "2.6.17")
    assert result.snapshot is None
    assert not result.report.fits
    assert result.report.freed["file_clean"] == 200
    assert result.report.error == (
        "swsusp: Not enough free memory: need 2012 + 512 (PAGES_FOR_IO), have 2080"
    )


def test_2_6_17_shrinks_toward_image_size_with_pages_for_io_counted() -> None:
    # kernel 200, clean 1000: saveable 1200, free 2880; image_size 1000 pages.
    # round 1: size = 1200 + 8 + 512 = 1720 < 2880 free, but > 1000: shrink 720 (clean).
    # round 2: saveable 480; size = 480 + 3 + 512 = 995 <= 1000: done. The image is 480 pages:
    #   2.6.17 counts the page directory and PAGES_FOR_IO against image_size.
    machine = classed(4096, kernel=((16, 216),), file_clean=((216, 1216),))
    report = suspend(machine, "2.6.17", ImageSize(1000, "pages")).report
    assert report.freed["file_clean"] == 720
    assert report.image_pages == 480


# 4096 frames (one zone, DMA): kernel 1000, clean 1000; free 2080.
HALF = classed(4096, kernel=((16, 1016),), file_clean=((1016, 2016),))


def test_snapshot_additional_pages_of_a_small_zone() -> None:
    # rtree = nodes = ceil(4096 / 32768) = 1; + ceil(1 * 24 / 4088) = 1 -> 2; one node: no
    # level above; two bitmaps: 4.
    (zone,) = machine_zones(4096)
    assert snapshot_additional_pages(zone) == 4


def test_6_12_preallocation_shrinks_to_max_size() -> None:
    # Bitmaps: forbidden_pages_map, free_pages_map, orig_bm, copy_bm, zero_bm: 5 x 2 pages
    #   (a chain page and a leaf) = 10; free 2080 - 10 = 2070.
    # saveable 2000; count = 2000 + 2070 = 4070; max_size = (4070 - (4 + 1024)) / 2 - 2 * 256
    #   = 1521 - 512 = 1009; size = min(1500, 1009) = 1009 < 2000:
    # minimum_image_size = 2000 - 1000 reclaimable = 1000; avail_normal = 4070 - 1000 = 3070;
    # shrink_all_memory(2000 - 1009 = 991): 991 clean pages; free 3061.
    # preallocate count - max_size = 3061 (all free), then max_size - size = 0 more;
    # free_unnecessary_pages(): 3061 - 1009 saveable = 2052 back. "Allocated 1009 pages".
    # swsusp_save(): 1009 to copy; available 2052 free + 1009 preallocated = 3061 > 1009 + 1024.
    report = suspend(HALF, "6.12", ImageSize(1500, "pages")).report
    assert report.fits
    assert report.freed["file_clean"] == 991
    assert (report.allocated, report.copied, report.zero_pages) == (1009, 1009, 0)
    assert (report.peak_pages, report.free_after) == (10 + 3061, 2052)
    assert report.messages == [
        "Preallocating image memory",
        "Allocated 1009 pages for snapshot",
        "Creating image:",
        "Need to copy 1009 pages",
        "Normal pages needed: 1009 + 1024, available pages: 3061",
        "Image created (1009 pages copied, 0 zero pages)",
    ]


def test_6_1_takes_saveable_pages_when_they_fit() -> None:
    # 6.1: 4 bitmaps (no zero_bm) = 8 pages; free 2072; count = 4072; max_size = (4072 - 1028)
    #   / 2 - 512 = 1010; default image_size = 2/5 of (2000 + 2080) = 1632 -> min 1010 < 2000,
    #   so it shrinks: minimum 1000; shrink 2000 - 1010 = 990; preallocate 4072 - 1010 = 3062;
    #   keep 1010. "Image created (1010 pages copied)": zero pages are copied before 6.3.
    report = suspend(HALF, "6.1").report
    assert (report.image_size, report.freed["file_clean"], report.allocated) == (1632, 990, 1010)
    assert report.messages[-1] == "Image created (1010 pages copied)"


def test_6_x_image_allocation_short_when_kernel_memory_is_too_big() -> None:
    # kernel 2800 only: free 1280 - 10 (bitmaps) = 1270; count 4070; max_size 1009;
    # minimum_image_size = 2800, so size = min(2800, 1009) = 1009; nothing to shrink;
    # preallocate 4070 - 1009 = 3061 but avail_normal = 4070 - 2800 = 1270: gets 1270;
    # "Image allocation is 1791 pages short".
    machine = classed(4096, kernel=((16, 2816),))
    result = suspend(machine, "6.12")
    assert result.snapshot is None
    assert result.report.error == "Image allocation is 1791 pages short"


def test_tuxonice_saves_an_image_of_three_quarters_of_memory() -> None:
    # 16384 frames: kernel 3000 (pageset 1), anon 6000 + clean 4000 (pageset 2); free 3368.
    # lowpages_ps1_to_free: 3000 + 2000 + 100 = 5100 needed <= 10000 + 3368: 0.
    # ram_still_required: 100 + 2 * 2000 = 4100 > 3368 free: 732 -> eat_memory frees 732
    #   clean pages; then pageset 2 is 9268, free 4100: nothing more needed; no extra pages
    #   (3000 + 2000 - 9268 < 0). Image: 3000 + 9268 = 12268 pages (75% of memory), 3000 of
    #   them atomically copied, into pageset 2's frames.
    machine = classed(16384, kernel=((16, 3016),), anon=((3016, 9016),),
                      file_clean=((9016, 13016),))
    result = suspend(machine, "tuxonice")
    report = result.report
    assert report.fits
    assert (report.pageset1, report.pageset2, report.copied) == (3000, 9268, 3000)
    assert (report.image_pages, report.freed["file_clean"], report.allocated) == (12268, 732, 0)
    assert result.pageset1 is not None and len(result.pageset1.pfns) == 3000
    # 2.6.17 on the same machine: it frees the 4000 clean pages, then needs 9000 + 53 + 512 =
    # 9565 pages with 7368 free, and anon cannot go (no swap): -ENOMEM.
    assert suspend(machine, "2.6.17").snapshot is None


def test_tuxonice_fails_when_pageset_1_cannot_fit() -> None:
    # kernel 9000, clean 1000, free 6368: needed 9000 + 2100 = 11100 > 1000 + 6368:
    # lowpages_ps1_to_free = ceil(3732 / 2) = 1866. Reclaim only frees pageset-2 pages (the
    # 1000 clean ones: available stays 7368); extra pages: 9000 + 2000 - 0 -> all 7368 free.
    machine = classed(16384, kernel=((16, 9016),), file_clean=((9016, 10016),))
    report = suspend(machine, "tuxonice").report
    assert not report.fits
    assert report.error == (
        "Failed to prepare the image: we need to free 1866 lowmem pageset 1 pages"
    )


def test_a_suspend_that_frees_every_page_makes_no_empty_image() -> None:
    # Only clean page cache and image_size 0: 2.6.17 frees it all (size = 0 + 0 + 512 still
    # exceeds 0 bytes), 6.12 too (minimum_image_size 0, shrink_all_memory(saveable - 0)); an
    # image without pages could not be resumed (snapshot_image_loaded()), so neither is made.
    machine = classed(4096, file_clean=((16, 1016),))
    for kernel in ("2.6.17", "6.12"):
        result = suspend(machine, kernel, ImageSize(0, "pages"))
        assert result.snapshot is None
        assert result.report.freed["file_clean"] == 1000
        assert result.report.error is not None and "nothing left to save" in result.report.error

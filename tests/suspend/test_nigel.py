"""Nigel's question, answered with counts on the ``nigel-2006`` preset (README, "Nigel's question").

"won't the 50% limit still apply, because you'll still have to make an atomic copy to start
with (unless you figure out which pages aren't going to change and therefore don't need to be
atomically copied)?" An image of 60% of RAM restores under the patched resume side
(``safe-list``), but 2.6.17's suspend side cannot make it: it has to shrink it below half of
memory, or fail when it cannot. 6.x shrinks it to ``image_size``; TuxOnIce, which does not copy
the pages that will not change, saves it whole.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest

from swsim.errors import RestoreNoMemory
from swsim.image.writer import WriteOptions, write_snapshot
from swsim.machine.presets import get_preset
from swsim.runs.cycle import cycle
from swsim.suspend.kernels import suspend
from swsim.suspend.snapshot import Snapshot
from tests.helpers import restore_image

NIGEL = get_preset("nigel-2006")
SIXTY_PERCENT = 157286  # 60% of 262144 frames


def restore_counts(snapshot: Snapshot, strategy: str):  # type: ignore[no-untyped-def]
    image = io.BytesIO()
    write_snapshot(snapshot, image, WriteOptions(no_data=True))
    image.seek(0)
    return restore_image(image, strategy, allocator="ascending")


def test_the_sixty_percent_image_restores_under_safe_list_and_not_under_eat() -> None:
    whole = suspend(NIGEL, "none").snapshot
    assert whole is not None and len(whole.pfns) == SIXTY_PERCENT
    assert restore_counts(whole, "safe-list").copies == 10000
    with pytest.raises(RestoreNoMemory):
        restore_counts(whole, "eat")


def test_2_6_17_cannot_make_it_it_shrinks_it_below_half_of_memory() -> None:
    report = suspend(NIGEL, "2.6.17").report
    assert report.fits
    # 30547 clean pages freed; 126739 + ceil(126739/170) + 512 = 127997 <= 128000 (500 MiB)
    assert report.freed == {"file_clean": 30547, "file_dirty": 0, "anon": 0}
    assert report.image_pages == 126739 < NIGEL.frames // 2 < SIXTY_PERCENT


def test_2_6_17_fails_outright_when_the_sixty_percent_cannot_be_freed() -> None:
    # The same memory with nothing reclaimable (a version-1 machine: all kernel memory).
    frozen = replace(NIGEL, classes=None)
    result = suspend(frozen, "2.6.17")
    assert result.snapshot is None
    assert result.report.error is not None
    assert result.report.error.startswith("swsusp: Not enough free memory: need ")


def test_6_12_shrinks_to_image_size() -> None:
    report = suspend(NIGEL, "6.12").report
    # default image_size: 2/5 of (262144 - 256) = 104755 pages
    assert report.image_size == report.image_pages == 104755
    assert report.copied + report.zero_pages == 104755


def test_tuxonice_makes_it_whole_and_its_resume_copies_only_pageset_1() -> None:
    result = suspend(NIGEL, "tuxonice")
    report = result.report
    assert report.image_pages == SIXTY_PERCENT
    assert (report.pageset1, report.pageset2, report.copied) == (40000, 117286, 40000)
    rows = {row.strategy: row for row in cycle(NIGEL, ["tuxonice"])}
    assert all(row.ok for row in rows.values())
    assert rows["safe-list"].read_after == 117286
    assert rows["safe-list"].resume is not None
    assert rows["safe-list"].resume.image_pages == 40000
    # eat can restore pageset 1 (40000 pages), though not the whole image
    assert rows["eat"].resume is not None and rows["eat"].resume.copies == 40000


def test_no_swsusp_kernel_makes_an_image_above_half_of_memory_where_safe_list_needs_one() -> None:
    for kernel in ("2.6.17", "6.1", "6.12"):
        rows = cycle(NIGEL, [kernel], ["safe-list"])
        assert rows[0].ok
        assert rows[0].suspend.image_pages < NIGEL.frames // 2


def test_rafael_s_own_image_is_one_2_6_17_can_make_unchanged() -> None:
    # rafael-2006: 100000 pages, 161888 free: 100000 + ceil(100000/170) (589) + 512 = 101101
    # fits the free memory and image_size (128000 pages): nothing to shrink, all copied.
    report = suspend(get_preset("rafael-2006"), "2.6.17").report
    assert report.fits and sum(report.freed.values()) == 0
    assert (report.image_pages, report.allocated, report.free_after) == (
        100000, 100589, 161888 - 100589,
    )


def test_tuxonice_with_no_kernel_memory_has_nothing_to_restore_atomically() -> None:
    # All of nigel-2006's memory on the LRU: pageset 1 is empty, pageset 2 is read back whole.
    from swsim.machine.classes import SuspendClasses

    classes = SuspendClasses(anon=((256, 100256),), file_clean=((100256, 157542),),
                             swap_pages=262144)
    machine = replace(NIGEL, classes=classes)
    rows = cycle(machine, ["tuxonice"], ["safe-list"])
    assert [(row.ok, row.resume, row.read_after) for row in rows] == [(True, None, 157286)]


@pytest.mark.parametrize("kernel", ["6.1", "6.12", "tuxonice"])
def test_every_suspend_side_saves_rafael_s_image_as_it_is(kernel: str) -> None:
    report = suspend(get_preset("rafael-2006"), kernel).report
    assert report.fits and report.image_pages == 100000 and sum(report.freed.values()) == 0

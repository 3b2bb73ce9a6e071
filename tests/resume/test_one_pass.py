"""One pass over an image, many strategies: each restore as if it had the image to itself.

``restore_each`` (what ``swsim compare`` runs) reads and checks the image once and feeds every
page to every strategy's handle; the data pages stream once through a small ring of buffers
and each strategy's memory records which page each frame holds. These tests hold it to that:
the same counts and the same memory as separate restores, verification that still catches a
misplaced page beside correct strategies, a strategy out of memory that leaves the pass alone,
and the data read once and never held.
"""

from __future__ import annotations

import contextlib
import gc
import io
import threading
import tracemalloc
import weakref
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from swsim.errors import RestoreNoMemory, SwsimError, UsageError
from swsim.image import reader
from swsim.image.source import open_image
from swsim.image.writer import WriteOptions
from swsim.machine.presets import get_preset
from swsim.resume.memory import FrameMemory
from swsim.resume.restore import RestoreOptions, RestoreRun, restore_each, restore_run
from swsim.resume.strategies import STRATEGIES
from swsim.resume.strategies.safe_list import SafeList
from swsim.runs.compare import compare
from tests.helpers import MisplacingSafeList, image_bytes, tiny_machine

MACHINE = tiny_machine(
    4096, ((256, 900), (1300, 1800), (3000, 3100)), used=((600, 700), (3050, 3300)),
    reserved=((0, 256),), seed=11,
)
ALL = list(STRATEGIES)
KEY = b"0123456789abcdef0123456789abcdef"


class CountingStream(io.BytesIO):
    """A stream that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.nbytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.nbytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.nbytes += count
        return count


@pytest.fixture(scope="module")
def image() -> bytes:
    return image_bytes(MACHINE)


def runs_of(results: list[RestoreRun | RestoreNoMemory]) -> list[RestoreRun]:
    assert all(isinstance(r, RestoreRun) for r in results), results
    return [r for r in results if isinstance(r, RestoreRun)]


@pytest.mark.parametrize(
    "options",
    [
        RestoreOptions(allocator="ascending"),
        RestoreOptions(allocator="buddy"),
        RestoreOptions(allocator="random", seed=5),
        RestoreOptions(allocator="descending", page_by_page=True),
        RestoreOptions(allocator="buddy", no_data=True),
    ],
    ids=["ascending", "buddy", "random", "page-by-page", "no-data"],
)
def test_each_strategy_gets_the_counts_and_memory_of_its_own_restore(
    image: bytes, options: RestoreOptions
) -> None:
    together = runs_of(restore_each(open_image(io.BytesIO(image)), options, ALL))
    for name, shared in zip(ALL, together, strict=True):
        alone = restore_run(open_image(io.BytesIO(image)), RestoreOptions(
            strategy=name, allocator=options.allocator, seed=options.seed,
            page_by_page=options.page_by_page, no_data=options.no_data,
        ))
        assert shared.stats.to_json() == alone.stats.to_json(), name
        assert shared.stats.verified is (None if options.no_data else True)
        frames = np.arange(MACHINE.frames)
        assert np.array_equal(shared.ctx.memory.contents(frames),
                              alone.ctx.memory.contents(frames))



def test_a_misplaced_page_fails_verification_beside_strategies_that_pass(
    image: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages are shared, the verification is not: each page table is checked alone."""
    monkeypatch.setitem(STRATEGIES, "misplacing", MisplacingSafeList)
    results = runs_of(
        restore_each(open_image(io.BytesIO(image)), RestoreOptions(), ["safe-list", "misplacing",
                                                                       "claim"])
    )
    assert [r.stats.verified for r in results] == [True, False, True]


class DoublingSafeList(MisplacingSafeList):
    """A broken strategy: the last image page is loaded over the one before it (that page
    written twice, the last one in no frame of its own)."""

    name = "doubling"

    def get_buffer(self, index: int, pfn: int) -> int:
        frame = SafeList.get_buffer(self, index, pfn)
        if index == self.nr_copy_pages - 2:
            self.previous = frame
        if index == self.nr_copy_pages - 1:
            return self.previous
        return frame


@pytest.mark.parametrize("page_by_page", [False, True])
def test_a_doubled_page_fails_verification_in_a_pass_that_shares_the_metadata(
    monkeypatch: pytest.MonkeyPatch, page_by_page: bool
) -> None:
    """The restores of a pass share the image's pfns and zero flags (one copy, each handle
    writing the values it unpacked): a broken one fails alone, the others pass."""
    monkeypatch.setitem(STRATEGIES, "doubling", DoublingSafeList)
    machine = replace(MACHINE, content=replace(MACHINE.content, zero=0.0))  # last page: data
    results = runs_of(restore_each(open_image(io.BytesIO(image_bytes(machine))),
                                   RestoreOptions(page_by_page=page_by_page),
                                   ["eat", "doubling", "claim"]))
    assert [r.stats.verified for r in results] == [True, False, True]
    assert results[0].pfns is results[2].pfns  # one copy for the pass


def test_a_strategy_out_of_memory_leaves_the_pass_and_the_others_finish() -> None:
    # The seed's case: an image of 60% of the free memory; eat runs dry, safe-list loads it.
    free = 16384 - 256
    machine = tiny_machine(16384, ((256, 256 + int(0.6 * free)),), used=((1024, 2024),),
                           reserved=((0, 256),))
    source = open_image(io.BytesIO(image_bytes(machine)))
    eat, safe = restore_each(source, RestoreOptions(allocator="ascending"), ["eat", "safe-list"])
    assert isinstance(eat, RestoreNoMemory) and eat.strategy == "eat" and eat.missing > 0
    assert isinstance(safe, RestoreRun) and safe.stats.verified and safe.stats.copies == 1000


def test_the_image_is_read_once_and_its_data_never_held(
    image: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "READ_BATCH_PAGES", 16)
    monkeypatch.setattr(reader, "RING_BUFFERS", 4)  # 256 KiB of buffers
    stream = CountingStream(image)
    tracemalloc.start()
    try:
        results = runs_of(restore_each(open_image(stream), RestoreOptions(), ALL))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stream.nbytes == len(image)  # one pass, to the end of the trailer
    data_bytes = results[0].stats.data_pages * 4096
    assert all(r.stats.verified for r in results)
    assert data_bytes > 3_000_000 and peak < data_bytes / 2, (peak, data_bytes)


def test_a_trace_follows_one_strategy(image: bytes) -> None:
    with pytest.raises(UsageError, match="single strategy"):
        restore_each(open_image(io.BytesIO(image)), RestoreOptions(trace=io.BytesIO()), ALL)


def test_rafael_2006_in_one_pass_keeps_the_seed_figures() -> None:
    image = image_bytes(get_preset("rafael-2006"))
    eat, safe = runs_of(
        restore_each(open_image(io.BytesIO(image)), RestoreOptions(allocator="ascending"),
                     ["eat", "safe-list"])
    )
    assert (eat.stats.allocations, eat.stats.copies) == (191_178, 100_000)
    assert (safe.stats.allocations, safe.stats.copies) == (101_179, 10_000)


def test_a_pass_lets_go_of_its_memory_and_threads_without_the_garbage_collector(
    image: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sweeps run restore after restore in one process: whether a pass succeeds, runs out of
    memory or meets a bad image, its memory is freed when the call returns (no reference
    cycle waits for the collector) and no thread of it is left."""
    pools: list[weakref.ref[FrameMemory]] = []
    original = FrameMemory.__init__

    def init(self: FrameMemory, *args: Any) -> None:
        original(self, *args)
        pools.append(weakref.ref(self))

    monkeypatch.setattr(FrameMemory, "__init__", init)
    free = 16384 - 256
    too_big = image_bytes(tiny_machine(16384, ((256, 256 + int(0.6 * free)),),
                                       used=((1024, 2024),), reserved=((0, 256),)))
    signed = image_bytes(MACHINE, WriteOptions(key=KEY))
    calls = [
        lambda: compare(open_image(io.BytesIO(image))),
        lambda: restore_run(open_image(io.BytesIO(too_big)), RestoreOptions(strategy="eat")),
        lambda: compare(open_image(io.BytesIO(too_big)), RestoreOptions(allocator="ascending")),
        lambda: restore_run(open_image(io.BytesIO(image[: len(image) // 2]))),
        lambda: restore_run(open_image(io.BytesIO(signed[:-5000]), KEY),
                            RestoreOptions(strategy="bitmap")),
    ]
    threads = threading.active_count()
    gc.collect()
    gc.disable()
    try:
        for call in calls:
            with contextlib.suppress(SwsimError):
                call()
            assert pools and all(pool() is None for pool in pools), calls.index(call)
            assert threading.active_count() == threads
            pools.clear()
    finally:
        gc.enable()

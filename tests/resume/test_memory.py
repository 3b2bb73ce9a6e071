"""The page-table memory (swsim/resume/memory.py) and the read-ahead thread
(swsim/image/worker.py).

Verification compares slots, not bytes; these tests check the bytes themselves: what a frame
reads after loads, copies, zeroing and a whole restore is exactly what a byte-moving memory
would hold.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from swsim.image.worker import read_ahead
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.content import page_contents, poison_pages
from swsim.resume.memory import ZERO_SLOT, FrameMemory
from swsim.resume.strategies import STRATEGIES
from tests.helpers import image_bytes_zero, restore_with_context, tiny_machine


def pages(*values: int) -> np.ndarray:
    return np.array([np.full(PAGE_SIZE, v, dtype=np.uint8) for v in values])


def test_loads_copies_and_zeroing_read_as_byte_copies_would() -> None:
    memory = FrameMemory(16)
    memory.load(np.array([3, 4]), pages(1, 2))
    memory.copy_pages(np.array([7, 8]), np.array([3, 4]))  # 7 <- 3, 8 <- 4
    memory.write_frame(3)[0][:] = 9  # a later write of the source: the copy keeps the old bytes
    memory.zero(np.array([4]))
    memory.poison(np.array([5]))
    got = memory.read(np.array([3, 4, 5, 6, 7, 8]))
    assert (got[0] == 9).all() and not got[1].any()
    assert np.array_equal(got[2], poison_pages(np.array([5]))[0])
    assert not got[3].any()  # never written: zeros
    assert (got[4] == 1).all() and (got[5] == 2).all()
    assert memory.read_frame(8) == bytes([2]) * PAGE_SIZE


def test_reserved_slots_are_mapped_where_they_are_and_other_pages_copied_in() -> None:
    memory = FrameMemory(8)
    batch = memory.reserve(2)
    batch[:] = pages(5, 6)
    slots = memory.load(np.array([1, 2]), batch)
    assert slots.tolist() == [0, 1] and memory.used == 2  # no new slot: read in place
    outside = pages(7)
    assert memory.load(np.array([3]), outside).tolist() == [2]
    outside[:] = 0  # the caller's array is not the frame
    assert (memory.read(np.array([3])) == 7).all()
    assert memory.slot[0] == ZERO_SLOT


def test_the_pool_refuses_more_slots_than_it_has() -> None:
    memory = FrameMemory(4, capacity=3)
    memory.reserve(3)
    with pytest.raises(MemoryError):
        memory.reserve(1)


def test_prefault_leaves_contents_alone() -> None:
    memory = FrameMemory(64)
    memory.prefault(64)
    memory.wait()
    assert not memory.pool.pages.any()


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("page_by_page", [False, True])
def test_after_a_restore_every_image_frame_holds_its_pages_bytes(
    strategy: str, page_by_page: bool
) -> None:
    machine = tiny_machine(4096, ((100, 1400), (2000, 2300)), used=((300, 600),),
                           reserved=((0, 32),))
    image = image_bytes_zero(machine, "skip")
    stats, ctx, pfns = restore_with_context(
        image, strategy, allocator="ascending", page_by_page=page_by_page
    )
    assert stats.verified and stats.copies > 0
    assert np.array_equal(ctx.memory.read(pfns), page_contents(machine.content, pfns))


def test_read_ahead_keeps_order_and_hands_over_errors() -> None:
    def items():  # type: ignore[no-untyped-def]
        yield from range(5)
        raise ValueError("bad page")

    got = []
    with pytest.raises(ValueError, match="bad page"), read_ahead(items()) as ahead:
        got.extend(ahead)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_thread_when_the_caller_leaves_early() -> None:
    produced = []

    def items():  # type: ignore[no-untyped-def]
        for i in range(1000):
            produced.append(i)
            yield i

    with read_ahead(items(), depth=2) as ahead:
        assert next(ahead) == 0
    assert not any(t.name == "swsim-read" for t in threading.enumerate())
    assert len(produced) < 10

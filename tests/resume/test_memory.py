"""The frames' memory (swsim/resume/memory.py), the memory file (swsim/machine/memory_file.py),
the read-ahead thread and the buffer ring (swsim/image/worker.py).

Verification compares which data page each frame holds, not bytes; these tests check the bytes
themselves: the memory file a restore writes holds, at every image frame, exactly the page a
byte-moving memory would hold, and nothing anywhere else.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from swsim.image.worker import BufferRing, SplitReader, read_ahead
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.content import page_contents, poison_pages
from swsim.machine.memory_file import MemoryFile
from swsim.resume.memory import OTHER, POISON, ZERO, FrameMemory
from swsim.resume.strategies import STRATEGIES
from tests.helpers import image_bytes_zero, restore_with_context, tiny_machine


def pages(*values: int) -> np.ndarray:
    return np.array([np.full(PAGE_SIZE, v, dtype=np.uint8) for v in values])


def test_loads_copies_and_zeroing_hold_what_byte_copies_would() -> None:
    memory = FrameMemory(16)
    memory.load(np.array([3, 4]), np.array([0, 1]))
    memory.copy_pages(np.array([7, 8]), np.array([3, 4]))  # 7 <- 3, 8 <- 4
    memory.write_frame(3)[:] = 9  # a later write of the source: the copy keeps its page
    memory.zero(np.array([4]))
    memory.poison(np.array([5]))
    got = memory.contents(np.array([3, 4, 5, 6, 7, 8]))
    assert got.tolist() == [OTHER, ZERO, POISON, ZERO, 0, 1]
    assert memory.read_frame(3) == bytes([9]) * PAGE_SIZE
    assert memory.read_frame(5) == poison_pages(np.array([5])).tobytes()
    assert memory.read_frame(6) == bytes(PAGE_SIZE)
    with pytest.raises(ValueError, match="not kept"):
        memory.read_frame(7)


def test_the_last_write_of_a_frame_wins_batched_or_single() -> None:
    memory = FrameMemory(8)
    memory.load(np.array([1, 2]), np.array([0, 1]))
    memory.load_frame(2, 5)[:] = 1
    memory.load(np.array([2, 3]), np.array([6, 7]))
    memory.load_frame(3, 8)
    memory.zero_frame(1)
    memory.load_frame(4, 9)
    assert memory.contents(np.array([1, 2, 3, 4])).tolist() == [ZERO, 6, 8, 9]


def test_the_memory_file_holds_the_image_frames_after_copies_and_nothing_else(
    tmp_path: Path,
) -> None:
    pfns = np.array([3, 5, 7, 8, 10])  # the image frames; 3 is a zero page
    zero = np.array([True, False, False, False, False])
    with open(tmp_path / "mem", "w+b") as out:
        memory_file = MemoryFile(out.fileno(), 16)
        # as the data streams: data page k (bytes k + 1) into the k-th data page's own frame
        memory_file.write(pfns[~zero], pages(1, 2, 3, 4))
        memory = FrameMemory(16)
        memory.load(np.array([9, 8, 7]), np.array([0, 1, 2]))  # pages 1 and 2 swapped
        memory.load_frame(10, 3)[:] = 4  # page by page
        memory.copy_pages(np.array([5]), np.array([9]))
        memory.poison(np.array([3]))  # a zero page's frame left with the boot kernel's data
        memory.write_out(memory_file, pfns, zero)
    data = np.fromfile(tmp_path / "mem", dtype=np.uint8).reshape(16, PAGE_SIZE)
    assert (data[3] == poison_pages(np.array([3]))[0]).all()
    assert (data[5] == 1).all() and (data[10] == 4).all()
    assert (data[7] == 3).all() and (data[8] == 2).all()  # both read before either is written
    others = [f for f in range(16) if f not in (3, 5, 7, 8, 10)]
    assert not data[others].any()  # 4 and 9 are no image frames: holes
    assert os.stat(tmp_path / "mem").st_size == 16 * PAGE_SIZE


class CountingMemoryFile(MemoryFile):
    """A memory file that counts the pages written into it."""

    written = 0

    def write(self, pfns: np.ndarray, pages: np.ndarray) -> None:
        self.written += len(pfns)
        super().write(pfns, pages)


def test_a_correct_restore_rewrites_nothing_and_zero_pages_stay_holes(tmp_path: Path) -> None:
    pfns = np.arange(256, 512)
    zero = np.zeros(len(pfns), dtype=bool)
    zero[::2] = True
    with open(tmp_path / "mem", "w+b") as out:
        memory_file = CountingMemoryFile(out.fileno(), 1024)
        memory_file.write(pfns[~zero], pages(*range(1, 129)))
        memory = FrameMemory(1024)
        memory.load(pfns[~zero], np.arange(128))
        memory.zero(pfns[zero])
        memory.write_out(memory_file, pfns, zero)
        assert memory_file.written == 128  # the streamed pages only
        assert os.fstat(out.fileno()).st_blocks * 512 <= 128 * PAGE_SIZE + (64 << 10)


def test_pages_far_apart_are_written_and_read_run_by_run(tmp_path: Path) -> None:
    frames = np.array([1, 2, 3, 6, 700, 701, 5000])
    content = np.zeros((len(frames), PAGE_SIZE), dtype=np.uint8)
    content[:, 0] = np.arange(1, len(frames) + 1)
    with open(tmp_path / "mem", "w+b") as out:
        memory_file = MemoryFile(out.fileno(), 8192)
        memory_file.write(frames, content)
        assert np.array_equal(memory_file.read(frames[::-1]), content[::-1])
    data = np.fromfile(tmp_path / "mem", dtype=np.uint8).reshape(-1, PAGE_SIZE)
    assert len(data) == 8192
    assert np.array_equal(data[frames], content)
    assert int(np.count_nonzero(data.any(axis=1))) == len(frames)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("page_by_page", [False, True])
def test_after_a_restore_every_image_frame_holds_its_pages_bytes(
    strategy: str, page_by_page: bool, tmp_path: Path
) -> None:
    machine = tiny_machine(4096, ((100, 1400), (2000, 2300)), used=((300, 600),),
                           reserved=((0, 32),))
    image = image_bytes_zero(machine, "skip")
    with open(tmp_path / "mem", "w+b") as out:
        stats, ctx, pfns = restore_with_context(
            image, strategy, allocator="ascending", page_by_page=page_by_page, memory_out=out
        )
    assert stats.verified and stats.copies > 0
    memory = np.fromfile(tmp_path / "mem", dtype=np.uint8).reshape(-1, PAGE_SIZE)
    assert len(memory) == machine.frames
    assert np.array_equal(memory[pfns], page_contents(machine.content, pfns))
    rest = np.setdiff1d(np.arange(machine.frames), pfns)
    assert not memory[rest].any()


def test_a_buffer_is_reused_only_once_the_consumer_and_the_worker_are_done() -> None:
    ring = BufferRing(2, 1)
    first, second = ring.acquire(0), ring.acquire(1)
    assert first is not None and second is not None and first is not second
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(ring.acquire(2)))
    waiter.start()
    ring.release()
    waiter.join(0.2)
    assert waiter.is_alive()  # the worker still hashes batch 0
    ring.hashed()
    waiter.join(5)
    assert got == [first]
    closed: list[object] = []
    waiter = threading.Thread(target=lambda: closed.append(ring.acquire(3)))
    waiter.start()
    ring.close()
    waiter.join(5)
    assert closed == [None]


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


def test_the_write_log_resolves_to_each_frames_last_write_even_within_a_chunk() -> None:
    rng = np.random.default_rng(7)
    memory = FrameMemory(64)
    model: dict[int, int] = {}
    for _ in range(30):  # chunks that repeat frames, within themselves and across
        frames = rng.integers(0, 64, int(rng.integers(1, 20)))
        ids = rng.integers(-3, 1000, len(frames))
        memory.load(frames, ids)
        model.update(zip(frames.tolist(), ids.tolist(), strict=True))
    want = [model.get(pfn, ZERO) for pfn in range(64)]
    assert memory.contents(np.arange(64)).tolist() == want


def test_a_split_reader_fills_each_half_at_its_offset_and_stops_at_the_end(
    tmp_path: Path,
) -> None:
    data = np.random.default_rng(3).integers(0, 256, 5 * PAGE_SIZE + 100, dtype=np.uint8)
    path = tmp_path / "file"
    path.write_bytes(data.tobytes())
    fd = os.open(path, os.O_RDONLY)
    split = SplitReader(fd, PAGE_SIZE)
    try:
        buffer = bytearray(4 * PAGE_SIZE)
        assert split.readinto(memoryview(buffer)) == 4 * PAGE_SIZE
        assert bytes(buffer) == data[PAGE_SIZE : 5 * PAGE_SIZE].tobytes()
        assert split.readinto(memoryview(buffer)) == 100  # the end, in the first half
        assert bytes(buffer[:100]) == data[5 * PAGE_SIZE :].tobytes()
        assert split.readinto(memoryview(buffer)) == 0
        split.offset = 2 * PAGE_SIZE  # the end, in the second half
        assert split.readinto(memoryview(buffer)) == 3 * PAGE_SIZE + 100
        assert bytes(buffer[: 3 * PAGE_SIZE + 100]) == data[2 * PAGE_SIZE :].tobytes()
    finally:
        split.close()
        os.close(fd)

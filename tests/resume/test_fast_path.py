"""The batched fast path and the page-by-page path agree, and so do --no-data counts.

The batched path asks the allocator for many pages at once (``alloc_many``) and a strategy for
many buffers at once (``get_buffers``); both must be exactly what the one-at-a-time calls
would give: same frames, same counts, same memory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.errors import RestoreNoMemory, SwsimError
from swsim.kernel.frame_bits import FrameBits
from swsim.resume.allocators import ALLOCATORS, make_allocator
from swsim.resume.strategies import STRATEGIES
from tests.helpers import (
    image_bytes_zero,
    random_machine,
    restore_with_context,
    run_cli,
    tiny_machine,
)
from tests.imagetools import make_image, set_pfn


@settings(max_examples=40, deadline=None)
@given(
    allocator=st.sampled_from(sorted(ALLOCATORS)),
    seed=st.integers(0, 2**16),
    frames=st.integers(16, 3000),
    steps=st.lists(st.tuples(st.integers(0, 1500), st.floats(0, 1)), min_size=1, max_size=6),
)
def test_alloc_many_hands_out_what_single_allocations_would(
    allocator: str, seed: int, frames: int, steps: list[tuple[int, float]]
) -> None:
    rng = random.Random(seed)
    free = np.array([rng.random() < 0.7 for _ in range(frames)])
    one, many = make_allocator(allocator, free, seed), make_allocator(allocator, free, seed)
    held: list[int] = []
    for nr_pages, give_back in steps:
        singles = [one.alloc() for _ in range(nr_pages)]
        singles = [pfn for pfn in singles if pfn >= 0]
        assert many.alloc_many(nr_pages).tolist() == singles
        held += singles
        for pfn in rng.sample(held, int(give_back * len(held))):  # frees in between
            held.remove(pfn)
            one.free_page(pfn)
            many.free_page(pfn)
    assert np.array_equal(one.free, many.free) and one.nr_free == many.nr_free


@settings(max_examples=40, deadline=None)
@given(
    allocator=st.sampled_from(sorted(ALLOCATORS)),
    seed=st.integers(0, 2**16),
    frames=st.integers(16, 3000),
    nr_first=st.integers(0, 800),
    skipped=st.floats(0, 1),
    nr_pages=st.integers(1, 1500),
)
def test_allocations_for_counts_what_single_allocations_take(
    allocator: str, seed: int, frames: int, nr_first: int, skipped: float, nr_pages: int
) -> None:
    """The look-ahead of get_image_pages(): the allocations that meet ``nr_pages`` frames
    outside ``skip`` (every free frame when there are fewer), never more."""
    rng = random.Random(seed)
    free = np.array([rng.random() < 0.7 for _ in range(frames)])
    skip = FrameBits.from_mask(np.array([rng.random() < skipped for _ in range(frames)]))
    alloc = make_allocator(allocator, free, seed)
    for pfn in alloc.alloc_many(nr_first).tolist()[::3]:  # some frees in between
        alloc.free_page(pfn)
    ahead = alloc.allocations_for(nr_pages, skip)
    taken = met = 0
    while met < nr_pages:
        pfn = alloc.alloc()
        if pfn < 0:
            break
        taken += 1
        met += not skip[pfn]
    if allocator == "buddy":  # it looks ahead exactly
        assert ahead == taken
    else:  # the others do not look ahead: they answer nr_pages, and the caller loops
        assert ahead == nr_pages


@settings(max_examples=30, deadline=None)
@given(
    allocator=st.sampled_from(sorted(ALLOCATORS)),
    seed=st.integers(0, 2**16),
    frames=st.integers(16, 4000),
    nr_first=st.integers(0, 800),
    share=st.floats(0, 1),
)
def test_take_pages_takes_what_single_takes_would(
    allocator: str, seed: int, frames: int, nr_first: int, share: float
) -> None:
    rng = random.Random(seed)
    free = np.array([rng.random() < 0.8 for _ in range(frames)])
    one, many = make_allocator(allocator, free, seed), make_allocator(allocator, free, seed)
    assert one.alloc_many(nr_first).tolist() == many.alloc_many(nr_first).tolist()
    pfns = np.array(sorted(rng.sample(range(frames), int(share * frames))), dtype=np.int64)
    singles = [one.take_page(int(pfn)) for pfn in pfns]
    assert many.take_pages(pfns).tolist() == singles
    # Same free frames and the same lists: the next allocations agree too.
    assert np.array_equal(one.free, many.free)
    assert one.alloc_many(frames).tolist() == many.alloc_many(frames).tolist()


def restore(  # type: ignore[no-untyped-def]
    image: bytes, strategy: str, allocator: str, page_by_page: bool = False, no_data: bool = False
):
    try:
        return restore_with_context(
            image, strategy, allocator=allocator, page_by_page=page_by_page, no_data=no_data
        )
    except RestoreNoMemory as exc:
        return exc.missing


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=12, deadline=None)
@given(data=st.data(), allocator=st.sampled_from(sorted(ALLOCATORS)))
def test_batched_and_page_by_page_restores_agree(
    strategy: str, data: st.DataObject, allocator: str
) -> None:
    machine = random_machine(data.draw, max_frames=1200)
    image = image_bytes_zero(machine, data.draw(st.sampled_from(["skip", "store"])))
    batched = restore(image, strategy, allocator)
    slow = restore(image, strategy, allocator, page_by_page=True)
    counts = restore(image, strategy, allocator, no_data=True)
    if isinstance(slow, int):  # ENOMEM: the same number of frames missing on every path
        assert batched == slow == counts
        return
    assert not isinstance(batched, int) and not isinstance(counts, int)
    (fast_stats, fast_ctx, _), (slow_stats, slow_ctx, _) = batched, slow
    assert fast_stats == slow_stats and fast_stats.verified
    # Every frame, not only the image's: the same safe pages held the same data.
    every = np.arange(fast_ctx.frames)
    assert np.array_equal(fast_ctx.memory.contents(every), slow_ctx.memory.contents(every))
    expected = fast_stats.to_json() | {"verified": None, "no_data": True}
    assert counts[0].to_json() == expected


def test_trace_lists_every_page_where_get_buffer_put_it(tmp_path: Path) -> None:
    machine = tiny_machine(512, ((8, 200),), used=((20, 40),), reserved=((0, 4),))
    (tmp_path / "m.json").write_text(machine.dumps())
    assert run_cli("snapshot", "--machine", "m.json", "-o", "img", cwd=tmp_path).returncode == 0
    proc = run_cli("restore", "img", "--allocator=ascending", "--trace", "t.tsv", "--json",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    rows = [line.split("\t") for line in (tmp_path / "t.tsv").read_text().splitlines()[1:]]
    assert [int(r[1]) for r in rows] == machine.saveable_pfns().tolist()
    assert sum(r[4] == "direct" for r in rows) == stats["direct"]
    assert sum(r[4] == "safe" for r in rows) == stats["copies"]
    # the boot kernel's frames are never loaded directly
    assert all(r[4] == "safe" for r in rows if 20 <= int(r[1]) < 40)
    bad = run_cli("restore", "img", "--trace", "-", cwd=tmp_path)
    assert bad.returncode == 2 and b"--trace needs a file" in bad.stderr


# Four metadata pages (1700 pfns); the batched path checks the first three at once.
META_MACHINE = tiny_machine(4096, ((100, 1800),), used=((200, 300),), reserved=((0, 64),))
ZERO_FLAG = 1 << 63


@pytest.mark.parametrize(
    "changes",
    [
        [(5, 103)],  # a duplicate pfn in metadata page 0
        [(600, 5000)],  # beyond the last frame, page 1
        [(700, 2)],  # reserved at boot, page 1 (and going back)
        [(1100, 1100 + 100 - 1)],  # a repeat, page 2
        [(1600, 4000)],  # the last page, processed with prepare_image()
        [(10, 110 | ZERO_FLAG)],  # a zero page in an image without zero pages
        [(30, 1), (900, 9999)],  # errors in two pages: the first page's is reported
        [(3, 90), (400, 9999)],  # two in one page: its range check comes first
    ],
)
def test_batched_metadata_refuses_what_page_by_page_refuses(changes: list[tuple[int, int]]) -> None:
    image = make_image(META_MACHINE)
    for index, pfn in changes:
        image = set_pfn(image, index, pfn)
    errors = []
    for page_by_page in (False, True):
        with pytest.raises(SwsimError) as caught:
            restore_with_context(image, "safe-list", page_by_page=page_by_page)
        errors.append((type(caught.value), str(caught.value)))
    assert errors[0] == errors[1]


def test_batched_metadata_of_a_good_image_gives_the_same_pfns() -> None:
    image = make_image(META_MACHINE)
    fast = restore_with_context(image, "safe-list")
    slow = restore_with_context(image, "safe-list", page_by_page=True)
    assert fast[0].meta_pages == 4
    assert np.array_equal(fast[2], slow[2]) and np.array_equal(fast[2], np.arange(100, 1800))
    assert fast[0] == slow[0]

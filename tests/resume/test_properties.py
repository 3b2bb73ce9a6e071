"""Property tests over random small machines and every allocator."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.errors import RestoreNoMemory
from swsim.kernel.constants import pagedir_pages
from swsim.machine.model import ContentSpec, Machine
from swsim.machine.ranges import mask_ranges
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.strategies import STRATEGIES
from tests.helpers import MisplacingSafeList, image_bytes, restore_with_context, with_a_data_page


def random_machine(seed: int, frames: int, saved: float, used: float) -> Machine:
    """Frames drawn one by one: saveable or not at suspend, used or free at boot."""
    rng = random.Random(seed)
    reserved = np.zeros(frames, dtype=bool)
    reserved[: rng.randint(0, 4)] = True
    saveable = np.array([rng.random() < saved for _ in range(frames)]) & ~reserved
    if not saveable.any():
        saveable[frames - 1] = True
    boot_used = np.array([rng.random() < used for _ in range(frames)]) & ~reserved
    return with_a_data_page(Machine(
        frames=frames,
        saveable=mask_ranges(saveable),
        nosave=mask_ranges(reserved),
        boot_used=mask_ranges(boot_used),
        boot_reserved=mask_ranges(reserved),
        content=ContentSpec(seed=seed),
    ))


machines = st.builds(
    random_machine,
    seed=st.integers(0, 2**32),
    frames=st.integers(8, 700),
    saved=st.floats(0.05, 0.6),
    used=st.floats(0.0, 0.4),
)


def run(image: bytes, strategy: str, allocator: str, seed: int):  # type: ignore[no-untyped-def]
    try:
        return restore_with_context(image, strategy, allocator=allocator, seed=seed)
    except RestoreNoMemory:
        return None


@settings(max_examples=60, deadline=None)
@given(machine=machines, allocator=st.sampled_from(sorted(ALLOCATORS)), seed=st.integers(0, 99))
def test_strategies_restore_identical_memory_and_their_counts_hold(
    machine: Machine, allocator: str, seed: int
) -> None:
    image = image_bytes(machine)
    nr_pages = machine.nr_saveable
    results = {name: run(image, name, allocator, seed) for name in STRATEGIES}
    eat, safe = results["eat"], results["safe-list"]
    if safe is None:
        # safe-list needs 1 + 2*ceil(P/170) + P frames; it fails only without them.
        assert machine.nr_boot_free < 1 + 2 * pagedir_pages(nr_pages) + nr_pages
        assert eat is None  # eat needs at least as much
        return
    for result in (r for r in results.values() if r is not None):
        stats = result[0]
        assert stats.verified
        assert stats.direct + stats.copies == nr_pages
        assert stats.missing == 0
    stats, ctx, pfns = safe
    assert stats.allocations == 1 + 2 * pagedir_pages(nr_pages) + nr_pages
    assert stats.eaten == 0
    if eat is not None:
        eat_stats, eat_ctx, eat_pfns = eat
        assert eat_stats.copies == nr_pages and eat_stats.direct == 0
        assert eat_stats.allocations == 1 + 2 * pagedir_pages(nr_pages) + nr_pages + eat_stats.eaten
        assert stats.copies <= eat_stats.copies
        assert np.array_equal(eat_ctx.memory.contents(eat_pfns), ctx.memory.contents(pfns))



def test_verification_fails_a_strategy_that_loses_a_page(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    machine = random_machine(seed=3, frames=300, saved=0.5, used=0.2)
    monkeypatch.setitem(STRATEGIES, "misplacing", MisplacingSafeList)
    stats, _, _ = restore_with_context(image_bytes(machine), "misplacing")
    assert not stats.verified

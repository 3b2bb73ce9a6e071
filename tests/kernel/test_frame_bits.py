"""FrameBits (swsim/kernel/frame_bits.py) reads and writes as a bool array indexed by pfn would."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.kernel.frame_bits import FrameBits
from swsim.machine.ranges import mask_ranges


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_frame_bits_behave_as_a_bool_array(size: int, data: st.DataObject) -> None:
    bits, model = FrameBits(size), np.zeros(size, dtype=bool)
    pfn = st.integers(0, size - 1)
    for _ in range(data.draw(st.integers(1, 12))):
        value = data.draw(st.booleans())
        kind = data.draw(st.sampled_from(["one", "sorted", "any", "slice"]))
        if kind == "one":
            at = data.draw(pfn)
            bits[at] = value
            model[at] = value
        elif kind == "slice":
            start, stop = sorted((data.draw(pfn), data.draw(pfn)))
            bits[start:stop] = value
            model[start:stop] = value
        else:
            pfns = np.array(data.draw(st.lists(pfn, max_size=300)), dtype=np.int64)
            if kind == "sorted":
                pfns = np.sort(pfns)
            bits[pfns] = value
            model[pfns] = value
        assert np.array_equal(bits[np.arange(size)], model)
    assert all(bits[i] == model[i] for i in range(0, size, 7))
    bits.grow(size + 9)
    assert len(bits) == size + 9 and not bits[np.arange(size, size + 9)].any()


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12000), st.floats(0, 1), st.integers(0, 2**32), st.data())
def test_frame_bits_search_count_and_runs_as_a_bool_array(
    size: int, density: float, seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    model = rng.random(size) < density * density  # sparse as well as dense maps
    if data.draw(st.booleans()):
        start, stop = sorted((data.draw(st.integers(0, size)), data.draw(st.integers(0, size))))
        model[start:stop] = data.draw(st.booleans())  # long runs, whole bytes and chunks
    bits = FrameBits.from_mask(model)
    assert np.array_equal(np.asarray(bits), model) and bits.tolist() == model.tolist()
    assert bits.count() == int(model.sum())
    assert tuple(bits.ranges()) == mask_ranges(model)
    copy = bits.copy()
    copy[0] = not model[0]
    assert bits[0] == model[0]
    set_pfns = np.flatnonzero(model)
    for at in data.draw(st.lists(st.integers(-3, size + 3), max_size=40)):
        above = set_pfns[set_pfns >= at]
        below = set_pfns[set_pfns < at]
        assert bits.find_next_bit(at) == (int(above[0]) if len(above) else -1)
        assert bits.find_last_bit(at) == (int(below[-1]) if len(below) else -1)
        start, stop = sorted((min(max(at, 0), size), data.draw(st.integers(0, size))))
        assert np.array_equal(bits[start:stop], model[start:stop])


def test_frame_bits_runs_across_chunks() -> None:
    size = 3 * (1 << 20) + 13  # FrameBits.ranges unpacks 2^20 bits at a time
    model = np.zeros(size, dtype=bool)
    model[5 : (1 << 20) + 3] = True  # a run across a chunk boundary
    model[(1 << 20) + 9 : 2 * (1 << 20)] = True  # a run ending on one
    model[2 * (1 << 20) : size] = True  # a run starting on one, to the end
    bits = FrameBits(size)
    for start, end in mask_ranges(model):
        bits[start:end] = True
    assert tuple(bits.ranges()) == mask_ranges(model)
    assert bits.count() == int(model.sum())
    assert bits.find_next_bit((1 << 20) + 3) == (1 << 20) + 9
    assert bits.find_last_bit((1 << 20) + 9) == (1 << 20) + 2


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_set_clear_sets_only_clear_distinct_pfns(size: int, data: st.DataObject) -> None:
    """A double free refused at once: nothing changes if any pfn is set already or repeats."""
    model = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    bits = FrameBits.from_mask(model)
    pfns = np.array(data.draw(st.lists(st.integers(0, size - 1), max_size=2 * size)),
                    dtype=np.int64)
    ok = not model[pfns].any() and len(set(pfns.tolist())) == len(pfns)
    assert bits.set_clear(pfns) == ok
    if ok:
        model[pfns] = True
    assert np.array_equal(np.asarray(bits), model)

"""FrameBits (swsim/kernel/frame_bits.py) reads and writes as a bool array indexed by pfn would."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.kernel.frame_bits import FrameBits


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

"""A bit per page frame, as the kernel's page flags and memory bitmaps keep them.

Per-frame state costs bits, not bytes: a 1 TiB machine (2^28 frames) needs 32 MiB per flag.
:class:`FrameBits` reads and writes like a numpy bool array indexed by pfn (one pfn, an array
of pfns, or a slice), so strategies keep the kernel's ``PageNosave(page)`` style.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from swsim.kernel.types import BoolArray, PfnArray

_BITS = np.array([1 << bit for bit in range(8)], dtype=np.uint8)


class FrameBits:
    """``size`` bits, all clear, packed eight to a byte (see the module docstring)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes = np.zeros((size + 7) // 8, dtype=np.uint8)

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, pfn: int) -> bool: ...
    @overload
    def __getitem__(self, pfn: PfnArray | slice) -> BoolArray: ...
    def __getitem__(self, pfn: int | PfnArray | slice) -> bool | BoolArray:
        """The bit of one pfn (a bool), or of each of an array or slice of pfns."""
        if isinstance(pfn, int | np.integer):
            return bool(self.bytes[pfn >> 3] & (1 << (pfn & 7)))
        pfns = self._pfns(pfn)
        out: BoolArray = (self.bytes[pfns >> 3] & _BITS[pfns & 7]) != 0
        return out

    def __setitem__(self, pfn: int | PfnArray | slice, value: bool) -> None:
        """Set (``True``) or clear the bit of one pfn, an array of pfns or a slice."""
        if isinstance(pfn, slice) and pfn.step in (None, 1):
            self._set_range(*pfn.indices(self.size)[:2], bool(value))
            return
        if isinstance(pfn, int | np.integer):
            at, bit = int(pfn) >> 3, 1 << (int(pfn) & 7)
            byte = int(self.bytes[at])
            self.bytes[at] = byte | bit if value else byte & ~bit
            return
        pfns = self._pfns(pfn)
        if not len(pfns):
            return
        where: PfnArray = pfns >> 3
        bits = _BITS[pfns & 7]
        if len(pfns) > 64 and (where[1:] >= where[:-1]).all():
            # sorted (the usual case): the bits of each byte combined first, one write per byte
            starts = np.concatenate((np.ones(1, dtype=bool), where[1:] != where[:-1]))
            first = np.flatnonzero(starts)
            where, bits = where[first], np.bitwise_or.reduceat(bits, first)
            if value:
                self.bytes[where] |= bits
            else:
                self.bytes[where] &= ~bits
        elif value:
            np.bitwise_or.at(self.bytes, where, bits)
        else:
            np.bitwise_and.at(self.bytes, where, ~bits)

    def _set_range(self, start: int, stop: int, value: bool) -> None:
        if stop <= start:
            return
        head = min(stop, (start + 7) & ~7)
        tail = max(head, stop & ~7)
        if head > start:
            self[np.arange(start, head)] = value
        self.bytes[head >> 3 : tail >> 3] = 0xFF if value else 0
        if stop > tail:
            self[np.arange(tail, stop)] = value

    def _pfns(self, pfn: PfnArray | slice) -> PfnArray:
        if isinstance(pfn, slice):
            return np.arange(*pfn.indices(self.size), dtype=np.int64)
        return np.asarray(pfn, dtype=np.int64)

    def grow(self, size: int) -> None:
        """Make room for ``size`` bits (the new ones clear)."""
        if size > self.size:
            extra = (size + 7) // 8 - len(self.bytes)
            self.bytes = np.concatenate([self.bytes, np.zeros(extra, dtype=np.uint8)])
            self.size = size

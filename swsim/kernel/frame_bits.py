"""A bit per page frame, as the kernel's page flags and memory bitmaps keep them.

Per-frame state costs bits, not bytes: a 1 TiB machine (2^28 frames) needs 32 MiB per flag.
:class:`FrameBits` reads and writes like a numpy bool array indexed by pfn (one pfn, an array
of pfns, or a slice), so strategies keep the kernel's ``PageNosave(page)`` style; a page
allocator keeps its free frames in one (:mod:`swsim.resume.allocators.base`). A contiguous
slice reads as a bool array unpacked from its bytes alone, and one pfn through a memoryview,
so both stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

import numpy as np

from swsim.kernel.types import BoolArray, PfnArray

_BITS = np.array([1 << bit for bit in range(8)], dtype=np.uint8)
#: Up to this many pfns are set one by one (numpy's fixed cost per call is larger).
_LOOP_PFNS = 24
#: Pfns spread over at most this many frames each are set through the bytes they span.
_DENSE_SPAN = 16
#: At least one pfn per this many bits: read and write through every bit, unpacked (cheaper
#: than finding the span the pfns cover, or than reading each pfn's byte and bit).
_WHOLE_SPAN = 8
#: Bytes scanned per numpy step by :meth:`FrameBits.find_next_bit` (4096 frames).
_SCAN_BYTES = 512
#: Bytes unpacked per step by :meth:`FrameBits.ranges` (2^20 frames).
_RANGE_CHUNK = 1 << 17


class FrameBits:
    """``size`` bits, all clear, packed eight to a byte (see the module docstring)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes = np.zeros((size + 7) // 8, dtype=np.uint8)
        self._view = self.bytes.data  # one byte as a Python int, without numpy scalars

    @classmethod
    def from_mask(cls, mask: BoolArray | FrameBits) -> FrameBits:
        """A copy of ``mask`` (a bool array indexed by pfn, or other bits)."""
        if isinstance(mask, FrameBits):
            return mask.copy()
        flat = np.asarray(mask, dtype=bool)
        bits = cls(len(flat))
        bits.bytes[:] = np.packbits(flat, bitorder="little")
        return bits

    def copy(self) -> FrameBits:
        """The same bits, in new memory."""
        bits = FrameBits(0)
        bits.size, bits.bytes = self.size, self.bytes.copy()
        bits._view = bits.bytes.data
        return bits

    def __len__(self) -> int:
        return self.size

    def __array__(self, dtype: Any = None, copy: Any = None) -> BoolArray:
        """Every bit as a bool array (``np.asarray(bits)``: a byte per frame, for tests)."""
        out = self._range(0, self.size)
        return out if dtype is None else out.astype(dtype)

    def tolist(self) -> list[bool]:
        """Every bit as a list of bools."""
        out: list[bool] = self._range(0, self.size).tolist()
        return out

    def count(self) -> int:
        """How many bits are set."""
        words = self.bytes
        if len(words) % 8 == 0:  # eight bytes a step: fewer counts to add up, no cast
            words = words.view(np.uint64)
        return int(np.bitwise_count(words).sum(dtype=np.int64))

    def ranges(self) -> Iterator[tuple[int, int]]:
        """The maximal runs of set bits as half-open ``(start, end)``, increasing (a chunk of
        2^20 bits unpacked at a time, all-clear and all-set chunks without unpacking)."""
        run_start = -1
        for first in range(0, len(self.bytes), _RANGE_CHUNK):
            chunk = self.bytes[first : first + _RANGE_CHUNK]
            base = first * 8
            if not chunk.any():
                edges = np.zeros(0, dtype=np.int64) if run_start < 0 else np.array([base])
                values_end = False
            elif (chunk == 0xFF).all() and base + 8 * len(chunk) <= self.size:
                edges = np.array([base]) if run_start < 0 else np.zeros(0, dtype=np.int64)
                values_end = True
            else:
                stop = min(self.size, base + 8 * len(chunk))
                bits = np.unpackbits(chunk, bitorder="little")[: stop - base]
                before = np.ones(1, dtype=bool) if run_start >= 0 else np.zeros(1, dtype=bool)
                edges = np.flatnonzero(np.diff(bits, prepend=before)) + base
                values_end = bool(bits[-1])
            for edge in edges.tolist():
                if run_start < 0:
                    run_start = edge
                else:
                    yield run_start, edge
                    run_start = -1
            if values_end != (run_start >= 0):
                raise AssertionError("FrameBits.ranges lost a run edge")
        if run_start >= 0:
            yield run_start, self.size

    def find_next_bit(self, start: int) -> int:
        """``find_next_bit()``: the lowest set bit at or above ``start`` (-1 when none)."""
        if start >= self.size:
            return -1
        at = max(start, 0) >> 3
        byte = self._view[at] >> (max(start, 0) & 7) << (max(start, 0) & 7)
        while not byte:
            at += 1
            chunk = self.bytes[at : at + _SCAN_BYTES]
            if not len(chunk):
                return -1
            hit = int((chunk != 0).argmax())
            byte = int(chunk[hit])
            if not byte:
                at += len(chunk) - 1
                continue
            at += hit
        pfn = 8 * at + (byte & -byte).bit_length() - 1
        return pfn if pfn < self.size else -1

    def find_last_bit(self, stop: int) -> int:
        """The highest set bit below ``stop`` (kernel: ``find_last_bit(addr, stop)``; -1 when
        none)."""
        stop = min(stop, self.size)
        if stop <= 0:
            return -1
        at = (stop - 1) >> 3
        byte = self._view[at] & ((2 << ((stop - 1) & 7)) - 1)
        while not byte:
            if at == 0:
                return -1
            low = max(0, at - _SCAN_BYTES)
            chunk = self.bytes[low:at]
            set_bytes = chunk != 0
            if not set_bytes.any():
                at = low
                if at == 0:
                    return -1
                at -= 1
                byte = self._view[at]
                continue
            at = low + len(chunk) - 1 - int(set_bytes[::-1].argmax())
            byte = self._view[at]
        return 8 * at + byte.bit_length() - 1

    def _range(self, start: int, stop: int) -> BoolArray:
        """The bits of ``[start, stop)`` as a bool array (``0 <= start <= stop <= size``)."""
        if stop <= start:
            return np.zeros(0, dtype=bool)
        head = start >> 3
        bits = np.unpackbits(self.bytes[head : (stop + 7) >> 3], bitorder="little")
        out: BoolArray = bits[start - 8 * head : stop - 8 * head].view(bool)
        return out

    @overload
    def __getitem__(self, pfn: int) -> bool: ...
    @overload
    def __getitem__(self, pfn: PfnArray | slice) -> BoolArray: ...
    def __getitem__(self, pfn: int | PfnArray | slice) -> bool | BoolArray:
        """The bit of one pfn (a bool), or of each of an array or slice of pfns."""
        if isinstance(pfn, int | np.integer):
            at = int(pfn)
            if not 0 <= at < self.size:
                raise IndexError(f"pfn {at} is outside the {self.size} bits")
            return bool(self._view[at >> 3] >> (at & 7) & 1)
        if isinstance(pfn, slice) and pfn.step in (None, 1):
            return self._range(*pfn.indices(self.size)[:2])
        pfns = self._pfns(pfn)
        if len(pfns) <= _LOOP_PFNS:
            view = self._view
            return np.array([view[at >> 3] >> (at & 7) & 1 for at in pfns.tolist()], dtype=bool)
        if _WHOLE_SPAN * len(pfns) >= self.size:
            every: BoolArray = np.unpackbits(self.bytes, bitorder="little").view(bool)
            return every[pfns]
        out: BoolArray = (self.bytes[pfns >> 3] & _BITS[pfns & 7]) != 0
        return out

    def both(self, other: FrameBits, pfns: PfnArray) -> BoolArray:
        """``self[pfns] & other[pfns]`` (bits of as many frames): ``PageNosave(page) &&
        PageNosaveFree(page)`` for many pages. Many pfns are read through the two maps ANDed
        (one unpacking and one gather, not two of each)."""
        if other.size != self.size:
            raise ValueError(f"bits of {self.size} and {other.size} frames")
        pfns = self._pfns(pfns)
        if _WHOLE_SPAN * len(pfns) < self.size:
            out: BoolArray = self[pfns] & other[pfns]
            return out
        every: BoolArray = np.unpackbits(self.bytes & other.bytes, bitorder="little").view(bool)
        return every[pfns]

    def __setitem__(self, pfn: int | PfnArray | slice, value: bool | BoolArray) -> None:
        """Set (``True``) or clear the bit of one pfn, an array of pfns or a slice; a slice
        may also take a bool array, one value per bit."""
        if isinstance(pfn, slice) and not isinstance(value, bool | np.bool_):
            pfns = self._pfns(pfn)
            values = np.broadcast_to(np.asarray(value, dtype=bool), (len(pfns),))
            self[pfns[values]] = True
            self[pfns[~values]] = False
            return
        value = bool(value)
        if isinstance(pfn, slice) and pfn.step in (None, 1):
            self._set_range(*pfn.indices(self.size)[:2], value)
            return
        if isinstance(pfn, int | np.integer):
            at = int(pfn)
            if not 0 <= at < self.size:
                raise IndexError(f"pfn {at} is outside the {self.size} bits")
            bit, view = 1 << (at & 7), self._view
            view[at >> 3] = view[at >> 3] | bit if value else view[at >> 3] & ~bit
            return
        pfns = self._pfns(pfn)
        if len(pfns) <= _LOOP_PFNS:  # a few pfns: cheaper one by one than in numpy steps
            view = self._view
            for at in pfns.tolist():
                view[at >> 3] = view[at >> 3] | 1 << (at & 7) if value else \
                    view[at >> 3] & ~(1 << (at & 7))
            return
        if _WHOLE_SPAN * len(pfns) >= self.size:
            every = np.unpackbits(self.bytes, bitorder="little").view(bool)
            every[pfns] = value
            self.bytes[:] = np.packbits(every, bitorder="little")
            return
        if len(pfns) > 4 * _LOOP_PFNS and self._set_dense(pfns, value):
            return
        where: PfnArray = pfns >> 3
        if value:  # numpy 2's ufunc.at is as fast as combining each byte's bits first
            np.bitwise_or.at(self.bytes, where, _BITS[pfns & 7])
        else:
            np.bitwise_and.at(self.bytes, where, ~_BITS[pfns & 7])

    @staticmethod
    def set_in(maps: tuple[FrameBits, ...], pfns: PfnArray) -> None:
        """Set the bits of ``pfns`` in each of ``maps`` (of one size): ``PageNosave`` and
        ``PageNosaveFree`` of the pages swsusp allocates. Many pfns are scattered and packed
        once, then ORed into each map's bytes."""
        size = maps[0].size
        if any(bits.size != size for bits in maps):
            raise ValueError("set_in: maps of different sizes")
        pfns = maps[0]._pfns(pfns)
        if _WHOLE_SPAN * len(pfns) < size:
            for bits in maps:
                bits[pfns] = True
            return
        every = np.zeros(8 * len(maps[0].bytes), dtype=bool)
        every[pfns] = True
        packed = np.packbits(every, bitorder="little")
        for bits in maps:
            bits.bytes |= packed

    def set_clear(self, pfns: PfnArray) -> bool:
        """Set the bits of distinct ``pfns`` if every one of them is clear (False, and nothing
        set, when any is set already or a pfn repeats): a double free refused at once."""
        pfns = self._pfns(pfns)
        if _WHOLE_SPAN * len(pfns) < self.size:
            if self[pfns].any():
                return False
            before = self.count()
            self[pfns] = True
            if self.count() == before + len(pfns):
                return True
            self[pfns] = False  # a pfn repeats: undo
            return False
        every = np.unpackbits(self.bytes, bitorder="little").view(bool)
        if every[pfns].any():
            return False
        before = int(np.count_nonzero(every))
        every[pfns] = True
        if int(np.count_nonzero(every)) != before + len(pfns):
            return False  # a pfn repeats (the bytes are untouched)
        self.bytes[:] = np.packbits(every, bitorder="little")
        return True

    def _set_dense(self, pfns: PfnArray, value: bool) -> bool:
        """Set dense ``pfns`` (runs of frames, as allocators hand them out) through the bytes
        they span, unpacked, set as bools and packed again; False if they are not dense."""
        low, high = int(pfns.min()), int(pfns.max())
        if low < 0 or high - low >= _DENSE_SPAN * len(pfns):
            return False
        first, last = low >> 3, (high >> 3) + 1
        span = np.unpackbits(self.bytes[first:last], bitorder="little").view(bool)
        span[pfns - 8 * first] = value
        self.bytes[first:last] = np.packbits(span, bitorder="little")
        return True

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
            self._view = self.bytes.data
            self.size = size

"""Half-open pfn ranges ``[start, end)``: validation and conversion to numpy masks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from swsim.errors import MachineError
from swsim.kernel.types import BoolArray, PfnArray

Range = tuple[int, int]
Ranges = tuple[Range, ...]


def parse_ranges(value: object, where: str, frames: int) -> Ranges:
    """Check a JSON list of ``[start, end)`` pairs and return them sorted."""
    if not isinstance(value, list):
        raise MachineError(f"{where}: expected a list of [start, end) pfn ranges")
    out: list[Range] = []
    for item in value:
        if (
            not isinstance(item, list | tuple)
            or len(item) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)
        ):
            raise MachineError(f"{where}: range {item!r} is not a pair of integers [start, end)")
        start, end = int(item[0]), int(item[1])
        if not 0 <= start < end <= frames:
            raise MachineError(
                f"{where}: range [{start}, {end}) is empty or outside the {frames} frames"
            )
        out.append((start, end))
    return tuple(sorted(out))


def check_disjoint(named: dict[str, Ranges], where: str) -> None:
    """Refuse overlapping ranges, within one list and across the lists of one state."""
    tagged = sorted((s, e, name) for name, rs in named.items() for s, e in rs)
    for (s0, e0, n0), (s1, e1, n1) in zip(tagged, tagged[1:], strict=False):
        if s1 < e0:
            raise MachineError(
                f"{where}: {n0} range [{s0}, {e0}) overlaps {n1} range [{s1}, {e1})"
            )


def ranges_mask(ranges: Iterable[Range], frames: int) -> BoolArray:
    """A bool array of ``frames`` entries, True inside the ranges."""
    mask = np.zeros(frames, dtype=bool)
    for start, end in ranges:
        mask[start:end] = True
    return mask


#: A range's pfns are its start plus these (a longer range, piece by piece).
_OFFSETS = np.arange(1 << 16, dtype=np.int64)
#: Up to this many ranges, each range's pfns are written on their own: ``np.repeat`` copies
#: each range's start once per pfn, an element at a time (about 5 times slower).
_LOOP_RANGES = 256


def ranges_pfns(ranges: Sequence[Range]) -> PfnArray:
    """All pfns of sorted disjoint ranges, increasing, as int64."""
    if not ranges:
        return np.zeros(0, dtype=np.int64)
    if len(ranges) <= _LOOP_RANGES:
        pfns: PfnArray = np.empty(sum(end - start for start, end in ranges), dtype=np.int64)
        at = 0
        for start, end in ranges:
            for first in range(start, end, len(_OFFSETS)):
                count = min(end - first, len(_OFFSETS))
                np.add(_OFFSETS[:count], first, out=pfns[at : at + count])
                at += count
        return pfns
    bounds = np.array(ranges, dtype=np.int64).reshape(-1, 2)
    lengths = bounds[:, 1] - bounds[:, 0]
    # each range's pfns are its start plus their place among all pfns, less those before it
    shift = np.repeat(bounds[:, 0] - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(len(shift), dtype=np.int64)


#: Frames compared per step by :func:`mask_ranges`.
_MASK_CHUNK = 1 << 22


def mask_ranges(mask: BoolArray) -> Ranges:
    """The inverse of :func:`ranges_mask`: maximal runs of True as ranges."""
    mask = np.asarray(mask, dtype=bool)
    size = len(mask)
    if not size:
        return ()
    # every change of value is an edge; compared a chunk at a time, so that the temporary
    # arrays stay small beside a mask of 2^28 frames
    edges: list[PfnArray] = [np.zeros(1 if mask[0] else 0, dtype=np.int64)]
    for start in range(0, size - 1, _MASK_CHUNK):
        stop = min(start + _MASK_CHUNK, size - 1)
        edges.append(np.flatnonzero(mask[start + 1 : stop + 1] != mask[start:stop]) + start + 1)
    edges.append(np.full(1 if mask[-1] else 0, size, dtype=np.int64))
    bounds = np.concatenate(edges).tolist()
    return tuple(zip(bounds[::2], bounds[1::2], strict=True))


def ranges_len(ranges: Iterable[Range]) -> int:
    """Frames the ranges cover."""
    return sum(e - s for s, e in ranges)


def in_ranges(pfns: PfnArray, ranges: Sequence[Range]) -> BoolArray:
    """For each pfn, does it lie in one of the sorted disjoint ``ranges``?"""
    if not ranges:
        return np.zeros(len(pfns), dtype=bool)
    starts = np.array([s for s, _ in ranges], dtype=np.int64)
    ends = np.array([e for _, e in ranges], dtype=np.int64)
    idx = np.searchsorted(starts, pfns, side="right") - 1
    inside = idx >= 0
    inside[inside] = pfns[inside] < ends[idx[inside]]
    return inside

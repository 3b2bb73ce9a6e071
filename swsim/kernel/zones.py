"""Memory zones of an x86-64 machine: ZONE_DMA, ZONE_DMA32, ZONE_NORMAL.

ZONE_DMA is the first 16 MiB, ZONE_DMA32 runs to 4 GiB, ZONE_NORMAL holds the rest (64-bit:
no ZONE_HIGHMEM). A zone spans ``[start_pfn, end_pfn)`` (``zone_start_pfn`` and
``spanned_pages``), holes included; zones past the end of memory are not populated.

On x86 ZONE_DMA starts at pfn 1: the first page is reserved before memblock hands memory to
the zones (a real 6.1 /proc/zoneinfo: ``start_pfn: 1``, ``spanned 4095``), so the memory
bitmaps' extent (``create_mem_extents()``) is ``[1, N)``, one block (32768 bits) smaller than
``[0, N)`` where N - 1 is a multiple of 32768: at 32769 frames each bitmap takes 2 pages, not 4.
Departure: swsim machines may still save or free pfn 0 (x86 never does); the per-zone counts
(:func:`pages_per_zone`) put it in DMA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import BoolArray, PfnArray

#: MAX_DMA_PFN: 16 MiB.
MAX_DMA_PFN = (16 << 20) // PAGE_SIZE
#: x86's ZONE_DMA zone_start_pfn: pfn 0 is never in a zone.
DMA_START_PFN = 1
#: MAX_DMA32_PFN: 4 GiB.
MAX_DMA32_PFN = (4 << 30) // PAGE_SIZE


@dataclass(frozen=True)
class Zone:
    """A zone's name and the pfns it spans, ``[start_pfn, end_pfn)``."""

    name: str
    start_pfn: int
    end_pfn: int

    @property
    def spanned_pages(self) -> int:
        """``spanned_pages``: frames the zone spans, holes included."""
        return self.end_pfn - self.start_pfn


def machine_zones(frames: int) -> tuple[Zone, ...]:
    """The populated zones of a machine of ``frames`` page frames, in pfn order."""
    bounds = (("DMA", DMA_START_PFN, MAX_DMA_PFN), ("DMA32", MAX_DMA_PFN, MAX_DMA32_PFN),
              ("Normal", MAX_DMA32_PFN, frames))
    return tuple(
        Zone(name, start, min(end, frames)) for name, start, end in bounds if start < frames
    )


def pages_per_zone(pfns: PfnArray, frames: int, increasing: bool = False) -> dict[str, int]:
    """How many of ``pfns`` fall in each populated zone (every zone listed, even at 0).

    The zones follow one another from pfn 0 (which counts in DMA), so each count is the
    difference of two counts of pfns below a bound (found by bisection when the caller knows
    ``pfns`` are ``increasing``)."""
    pfns = np.asarray(pfns, dtype=np.int64)
    zones = machine_zones(frames)
    if increasing:
        below = zone_cuts(pfns, zones)
    else:
        below = [int(np.count_nonzero(pfns < bound)) for bound in _bounds(zones)]
    return {zone.name: int(below[i + 1] - below[i]) for i, zone in enumerate(zones)}


def runs_per_zone(starts: PfnArray, lengths: PfnArray, frames: int) -> dict[str, int]:
    """:func:`pages_per_zone` of the frames of runs (``lengths[i]`` frames from
    ``starts[i]``), counted from the runs: each run's overlap with each zone."""
    zones = machine_zones(frames)
    ends = starts + lengths
    bounds = _bounds(zones)
    return {
        zone.name: int(np.clip(np.minimum(ends, bounds[i + 1]) - np.maximum(starts, bounds[i]),
                               0, None).sum())
        for i, zone in enumerate(zones)
    }


def zone_cuts(pfns: PfnArray, zones: tuple[Zone, ...]) -> list[int]:
    """Where increasing ``pfns`` cross into each zone and past the last: zone ``i`` holds
    ``pfns[cuts[i]:cuts[i + 1]]``."""
    cuts: list[int] = np.searchsorted(pfns, _bounds(zones)).tolist()
    return cuts


def _bounds(zones: tuple[Zone, ...]) -> tuple[int, ...]:
    return (0, *(zone.end_pfn for zone in zones))


def zone_stats(
    frames: int,
    pfns: PfnArray,
    zero: BoolArray,
    copied: PfnArray,
    allocations: dict[str, int],
) -> dict[str, dict[str, int]]:
    """Per zone: image pages, zero pages, pages loaded directly, pages copied (by original
    frame) and page allocations (``allocations``: by the frame handed out, phantom frames
    in no zone; :meth:`swsim.resume.context.ResumeContext.allocations_per_zone`).

    ``pfns`` are the image's, in image order (increasing: the metadata is refused otherwise),
    ``zero`` says which are zero pages, ``copied`` are original frames in image order."""
    zones = machine_zones(frames)
    cuts = zone_cuts(np.asarray(pfns, dtype=np.int64), zones)
    image = {zone.name: cuts[i + 1] - cuts[i] for i, zone in enumerate(zones)}
    zeros = {zone.name: int(np.count_nonzero(zero[cuts[i] : cuts[i + 1]]))
             for i, zone in enumerate(zones)}
    copies = pages_per_zone(copied, frames, increasing=True)
    return {
        name: {
            "image_pages": image[name],
            "zero_pages": zeros[name],
            "direct": image[name] - copies[name],
            "copies": copies[name],
            "allocations": allocations[name],
        }
        for name in image
    }

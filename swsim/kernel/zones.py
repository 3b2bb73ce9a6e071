"""Memory zones of an x86-64 machine: ZONE_DMA, ZONE_DMA32, ZONE_NORMAL.

ZONE_DMA is the first 16 MiB, ZONE_DMA32 runs to 4 GiB, ZONE_NORMAL holds the rest (64-bit:
no ZONE_HIGHMEM). A zone spans ``[start_pfn, end_pfn)`` (``zone_start_pfn`` and
``spanned_pages``), holes included; zones past the end of memory are not populated.
Departure: the kernel's ZONE_DMA starts at pfn 1 on x86 (pfn 0 is never given to it); swsim's
starts at 0, which changes no bitmap size (the extents merge into one either way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import BoolArray, PfnArray

#: MAX_DMA_PFN: 16 MiB.
MAX_DMA_PFN = (16 << 20) // PAGE_SIZE
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
    bounds = (("DMA", 0, MAX_DMA_PFN), ("DMA32", MAX_DMA_PFN, MAX_DMA32_PFN),
              ("Normal", MAX_DMA32_PFN, frames))
    return tuple(
        Zone(name, start, min(end, frames)) for name, start, end in bounds if start < frames
    )


def pages_per_zone(pfns: PfnArray, frames: int) -> dict[str, int]:
    """How many of ``pfns`` fall in each populated zone (every zone listed, even at 0)."""
    pfns = np.asarray(pfns, dtype=np.int64)
    return {
        zone.name: int(((pfns >= zone.start_pfn) & (pfns < zone.end_pfn)).sum())
        for zone in machine_zones(frames)
    }


def zone_stats(
    frames: int,
    pfns: PfnArray,
    zero: BoolArray,
    copied: PfnArray,
    allocated: PfnArray,
) -> dict[str, dict[str, int]]:
    """Per zone: image pages, zero pages, pages loaded directly, pages copied (by original
    frame) and page allocations (by the frame handed out; phantom frames are in no zone)."""
    image = pages_per_zone(pfns, frames)
    zeros = pages_per_zone(pfns[zero], frames)
    copies = pages_per_zone(copied, frames)
    allocations = pages_per_zone(allocated, frames)
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

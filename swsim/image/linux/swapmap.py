"""The chain of ``struct swap_map_page``: where each page of the image lies on the device.

swap.c's writer (``get_swap_writer()``, ``swap_write_page()``) allocates the first map page,
then a swap page per image page, noting each in the current map page's 511 ``entries``; when
they are full it allocates the next map page, stores its offset in ``next_swap`` and writes
the full one. Entries and pointers are swap page offsets on the device (not 512-byte
sectors). The last map page has ``next_swap`` 0 and zeros after its last entry.

:func:`walk_swap_map` reads the whole chain (a few map pages per MiB of image), refusing a map
that loops, a pointer past the device, and a zero entry before the last one;
:func:`allocate_swap_map` lays the chain out as the writer does, allocating ascending offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swsim.errors import ImageError
from swsim.image.linux.device import SwapDevice
from swsim.image.linux.layout import MAP_PAGE_ENTRIES
from swsim.kernel.types import PfnArray


@dataclass(frozen=True)
class SwapMap:
    """The swap map: the offsets of the map pages and of every image page, in write order."""

    map_pages: PfnArray
    entries: PfnArray


def walk_swap_map(device: SwapDevice, first: int) -> SwapMap:
    """Follow ``next_swap`` from ``first`` (``swsusp_header.image``) to the end of the chain."""
    limit = device.nr_pages
    seen: set[int] = set()
    maps: list[int] = []
    lists: list[PfnArray] = []
    offset = first
    while offset:
        if offset >= limit:
            raise ImageError(
                f"corrupted image: swap map page {offset} is past the end of the device "
                f"({limit} pages)"
            )
        if offset in seen:
            raise ImageError(f"corrupted image: the swap map loops (map page {offset} again)")
        seen.add(offset)
        maps.append(offset)
        words = np.frombuffer(device.read_pages(offset, 1), dtype="<u8")
        lists.append(words[:MAP_PAGE_ENTRIES].astype(np.int64))
        offset = int(words[MAP_PAGE_ENTRIES])
        if offset and not words[:MAP_PAGE_ENTRIES].all():
            raise ImageError(
                f"corrupted image: swap map page {maps[-1]} has an empty entry but is not the "
                "last one"
            )
    if not maps:
        raise ImageError("corrupted image: swsusp_header.image is 0 (no swap map)")
    entries = np.concatenate(lists)
    used = np.flatnonzero(entries)
    count = int(used[-1]) + 1 if len(used) else 0
    if count != len(used):
        raise ImageError(
            f"corrupted image: swap map entry {int(np.flatnonzero(entries[:count] == 0)[0])} "
            "is 0 before the last one"
        )
    entries = entries[:count]
    beyond = (entries < 0) | (entries >= limit)
    if beyond.any():
        raise ImageError(
            f"corrupted image: swap map entry points past the end of the device "
            f"(swap page {int(entries[beyond][0]) & ((1 << 64) - 1)} of {limit})"
        )
    return SwapMap(np.array(maps, dtype=np.int64), entries)


def allocate_swap_map(first: int, nr_pages: int) -> SwapMap:
    """The writer's allocation of ``nr_pages`` image pages from swap page ``first`` up: the
    first map page, then each page, and a new map page as soon as 511 entries fill one (so a
    multiple of 511 pages ends with an empty map page, as in the kernel)."""
    nr_maps = nr_pages // MAP_PAGE_ENTRIES + 1
    maps = first + np.arange(nr_maps, dtype=np.int64) * (MAP_PAGE_ENTRIES + 1)
    index = np.arange(nr_pages, dtype=np.int64)
    entries = first + 1 + index + index // MAP_PAGE_ENTRIES
    return SwapMap(maps, entries)


def pack_map_pages(swap_map: SwapMap) -> list[bytes]:
    """The map pages' contents, in chain order."""
    pages = []
    nr_maps = len(swap_map.map_pages)
    for n in range(nr_maps):
        words = np.zeros(MAP_PAGE_ENTRIES + 1, dtype="<u8")
        chunk = swap_map.entries[n * MAP_PAGE_ENTRIES : (n + 1) * MAP_PAGE_ENTRIES]
        words[: len(chunk)] = chunk
        words[MAP_PAGE_ENTRIES] = swap_map.map_pages[n + 1] if n + 1 < nr_maps else 0
        pages.append(words.tobytes())
    return pages

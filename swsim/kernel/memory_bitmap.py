"""``struct memory_bitmap`` and the chain allocator of kernel/power/snapshot.c (v6.x, 64-bit).

A memory bitmap is one radix tree per memory extent (``struct mem_zone_bm_rtree``): each leaf
is a page of ``BM_BITS_PER_BLOCK`` = 32768 bits, inner nodes are pages of 512 child pointers.
The small objects (the 80-byte zone structs and the 24-byte ``struct rtree_node``) are
bump-allocated from the *chain allocator* (``struct chain_allocator``, pages of
``struct linked_page``: a next pointer and 4088 bytes of data).

This module allocates and frees every page of a bitmap in the kernel's order, through a
:class:`PageSource` (the strategy's ``get_image_page()`` / ``__get_safe_page()`` /
``free_image_page()``), so the page counts are the kernel's. Departure: the bits themselves are
not stored in the leaf frames; the strategy keeps the pfns a bitmap holds in numpy arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from swsim.kernel.constants import PAGE_SIZE, SIZEOF_LONG, div_round_up
from swsim.kernel.zones import Zone

#: sizeof(struct linked_page) - sizeof(struct linked_page *): 4088.
LINKED_PAGE_DATA_SIZE = PAGE_SIZE - SIZEOF_LONG
#: BM_BITS_PER_BLOCK = PAGE_SIZE * BITS_PER_BYTE.
BM_BITS_PER_BLOCK = PAGE_SIZE * 8
#: BM_RTREE_LEVEL_SHIFT = PAGE_SHIFT - 3 on 64-bit: 512 child pointers per inner node.
BM_RTREE_LEVEL_SHIFT = 9
BM_RTREE_LEVEL_MASK = (1 << BM_RTREE_LEVEL_SHIFT) - 1
#: sizeof(struct rtree_node): list_head + data pointer.
SIZEOF_RTREE_NODE = 24
#: sizeof(struct mem_zone_bm_rtree): 3 list_heads, start/end pfn, rtree pointer, levels, blocks.
SIZEOF_MEM_ZONE_BM_RTREE = 80


class PageSource(Protocol):
    """The snapshot.c page helpers a bitmap gets its pages from and gives them back to."""

    def get_image_page(self, safe_needed: bool) -> int:
        """``get_image_page()``: a page, a safe one with ``safe_needed``."""

    def get_safe_page(self) -> int:
        """``__get_safe_page()``: a safe page."""

    def free_image_page(self, pfn: int, clear_nosave_free: bool) -> None:
        """``free_image_page()``: give a page back."""


class PrefetchedPages:
    """A :class:`PageSource` that hands out, in order, pages allocated beforehand.

    :func:`memory_bm_create` takes every page of a bitmap through one helper when no page is
    freed meanwhile and ``__get_safe_page()`` has no list to pop (see
    :meth:`swsim.resume.strategies.bitmap.Bitmap.memory_bm_create`): the pages can then be
    allocated at once, :func:`bitmap_cost` of them, and laid out in the kernel's order here.
    """

    def __init__(self, pages: Iterable[int]) -> None:
        self._pages = iter(pages)

    def get_image_page(self, safe_needed: bool) -> int:
        """The next page allocated beforehand."""
        return next(self._pages)

    def get_safe_page(self) -> int:
        """The next page allocated beforehand."""
        return next(self._pages)

    def free_image_page(self, pfn: int, clear_nosave_free: bool) -> None:
        """Never called while a bitmap is created."""
        raise AssertionError("a bitmap being created frees no page")

    def unused(self) -> int:
        """How many pages were left over (0 when the count was right)."""
        return sum(1 for _ in self._pages)


class ChainAllocator:
    """``struct chain_allocator``: ``chain_init()`` and ``chain_alloc()``.

    ``chain`` lists the chain pages oldest first (the kernel's list is newest first).
    """

    def __init__(self, source: PageSource, safe_needed: bool) -> None:
        self.source = source
        self.safe_needed = safe_needed
        self.chain: list[int] = []
        self.used_space = LINKED_PAGE_DATA_SIZE  # "full": the first chain_alloc takes a page

    def chain_alloc(self, size: int) -> tuple[int, int]:
        """Room for ``size`` bytes: (chain page, offset in its data); a new page when full."""
        if LINKED_PAGE_DATA_SIZE - self.used_space < size:
            if self.safe_needed:
                page = self.source.get_safe_page()
            else:
                page = self.source.get_image_page(False)
            self.chain.append(page)
            self.used_space = 0
        offset = self.used_space
        self.used_space += size
        return self.chain[-1], offset


@dataclass
class RtreeNode:
    """``struct rtree_node``: its data page; inner nodes also their children by index."""

    page: int
    children: dict[int, RtreeNode] = field(default_factory=dict)


@dataclass
class MemZoneBmRtree:
    """``struct mem_zone_bm_rtree``: the radix tree of one extent, with its page lists."""

    start_pfn: int
    end_pfn: int
    nodes: list[RtreeNode] = field(default_factory=list)
    leaves: list[RtreeNode] = field(default_factory=list)
    rtree: RtreeNode | None = None
    levels: int = 0
    blocks: int = 0


@dataclass
class MemoryBitmap:
    """``struct memory_bitmap``: its zones' radix trees and the chain pages (``p_list``)."""

    zones: list[MemZoneBmRtree]
    p_list: list[int]

    @property
    def nr_pages(self) -> int:
        """Every page the bitmap holds: node and leaf data pages and chain pages."""
        return len(self.p_list) + sum(len(z.nodes) + len(z.leaves) for z in self.zones)


def create_mem_extents(zones: tuple[Zone, ...]) -> list[tuple[int, int]]:
    """``create_mem_extents()``: the zones' spans, sorted, touching or overlapping ones merged."""
    extents: list[list[int]] = []
    for zone in zones:
        start, end = zone.start_pfn, zone.end_pfn
        if start >= end:
            continue
        index = next((i for i, ext in enumerate(extents) if start <= ext[1]), len(extents))
        if index == len(extents) or end < extents[index][0]:
            extents.insert(index, [start, end])
            continue
        ext = extents[index]
        ext[0], ext[1] = min(ext[0], start), max(ext[1], end)
        while index + 1 < len(extents) and extents[index + 1][0] <= ext[1]:
            ext[1] = max(ext[1], extents.pop(index + 1)[1])
    return [(s, e) for s, e in extents]


def alloc_rtree_node(
    source: PageSource, safe_needed: bool, ca: ChainAllocator, into: list[RtreeNode]
) -> RtreeNode:
    """``alloc_rtree_node()``: the node from the chain, its data page from get_image_page()."""
    ca.chain_alloc(SIZEOF_RTREE_NODE)
    node = RtreeNode(source.get_image_page(safe_needed))
    into.append(node)
    return node


def add_rtree_block(
    zone: MemZoneBmRtree, source: PageSource, safe_needed: bool, ca: ChainAllocator
) -> None:
    """``add_rtree_block()``: new root levels, then the leaf, then missing inner nodes."""
    levels_needed = 0
    block_nr = zone.blocks
    while block_nr:
        levels_needed += 1
        block_nr >>= BM_RTREE_LEVEL_SHIFT
    for _ in range(zone.levels, levels_needed):
        node = alloc_rtree_node(source, safe_needed, ca, zone.nodes)
        if zone.rtree is not None:
            node.children[0] = zone.rtree
        zone.rtree = node
        zone.levels += 1
    block = alloc_rtree_node(source, safe_needed, ca, zone.leaves)
    # Walk from the root, creating the inner nodes the path lacks.
    parent: RtreeNode | None = None
    index = 0
    node_or_none = zone.rtree
    for level in range(zone.levels, 0, -1):
        if node_or_none is None:
            node_or_none = alloc_rtree_node(source, safe_needed, ca, zone.nodes)
            if parent is None:
                zone.rtree = node_or_none
            else:
                parent.children[index] = node_or_none
        parent = node_or_none
        index = (zone.blocks >> ((level - 1) * BM_RTREE_LEVEL_SHIFT)) & BM_RTREE_LEVEL_MASK
        node_or_none = parent.children.get(index)
    if parent is None:
        zone.rtree = block
    else:
        parent.children[index] = block
    zone.blocks += 1


def memory_bm_create(
    source: PageSource, safe_needed: bool, zones: tuple[Zone, ...]
) -> MemoryBitmap:
    """``memory_bm_create()``: one radix tree per extent, all sharing one chain allocator."""
    ca = ChainAllocator(source, safe_needed)
    bm_zones = []
    for start, end in create_mem_extents(zones):
        ca.chain_alloc(SIZEOF_MEM_ZONE_BM_RTREE)
        zone = MemZoneBmRtree(start, end)
        for _ in range(div_round_up(end - start, BM_BITS_PER_BLOCK)):
            add_rtree_block(zone, source, safe_needed, ca)
        bm_zones.append(zone)
    return MemoryBitmap(bm_zones, ca.chain)


def memory_bm_pages(bm: MemoryBitmap) -> list[int]:
    """The order ``memory_bm_free()`` and ``memory_bm_recycle()`` walk a bitmap's pages:
    per zone its inner nodes then its leaves (allocation order), then the chain newest first."""
    pages = [node.page for zone in bm.zones for node in (*zone.nodes, *zone.leaves)]
    pages.extend(reversed(bm.p_list))
    return pages


def memory_bm_free(source: PageSource, bm: MemoryBitmap, clear_nosave_free: bool) -> None:
    """``memory_bm_free()``: every page through ``free_image_page()``."""
    for pfn in memory_bm_pages(bm):
        source.free_image_page(pfn, clear_nosave_free)
    bm.zones, bm.p_list = [], []


@lru_cache(maxsize=16)
def bitmap_cost(zones: tuple[Zone, ...]) -> int:
    """Pages one memory bitmap of these zones takes (for reports, tests and the allocation of
    a bitmap's pages at once; cached: the zones of a few machine sizes)."""

    class _Counter:
        pages = 0

        def get_image_page(self, safe_needed: bool) -> int:
            self.pages += 1
            return self.pages

        def get_safe_page(self) -> int:
            return self.get_image_page(True)

        def free_image_page(self, pfn: int, clear_nosave_free: bool) -> None:
            raise AssertionError("not freed")

    counter = _Counter()
    memory_bm_create(counter, False, zones)
    return counter.pages

"""``buddy``: a binary buddy allocator as mm/page_alloc.c (v6.x) runs it, per zone.

Free blocks of 2^order frames, orders 0 to ``MAX_PAGE_ORDER`` = 10 (the old ``MAX_ORDER`` = 11
lists), one free list per order per zone (``struct free_area``). An allocation takes the head of
the smallest non-empty list (``_rmqueue_smallest()``) and splits it: the lower half is handed
out, the upper halves go back at the head of their lists (``expand()``). A free merges the block
with its buddy as long as the buddy is a free block of the same order (``_free_one_page()``)
and puts the result at the head of its list. ``take_page_off_buddy()`` takes one given free frame
out of its block (``break_down_buddy_pages()``), for the ``claim`` strategy.

At boot, memory is handed over as ``memblock_free_all()`` does: each run of free frames (holes,
reserved and boot-kernel frames left out) in pfn order, cut into the largest aligned blocks
(``__free_pages_memory()``), each freed with ``FPI_TO_TAIL`` (``__free_pages_core()``), so the
lists start in pfn order. Allocations (GFP_KERNEL / GFP_ATOMIC) try the zones from the highest
down: Normal, DMA32, DMA (the zonelist's fallback order).

Departures: no per-cpu page lists (their LIFO order is what "freed pages at the head" gives for
order-0 pages anyway), no migratetypes, watermarks, ``lowmem_reserve`` or page shuffling, and no
``buddy_merge_likely()`` tail placement of runtime frees.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from swsim.kernel.frame_bits import FrameBits
from swsim.kernel.types import BoolArray, PfnArray
from swsim.kernel.zones import Zone, machine_zones
from swsim.resume.allocators.base import FreeFrames, PageAllocator, Runs

#: MAX_PAGE_ORDER (v6.8+; MAX_ORDER - 1 before): the largest block is 2^10 frames (4 MiB).
MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1
_NONE = -1
#: From this many pages on, frees and takes are done at once (fewer: one by one, as cheap).
BULK_PAGES = 64
#: At most this many frames spanned per frame freed at once: found over the span, not sorted.
_WHOLE_SPAN = 8
#: Boot-time free lists kept for reuse (:func:`_boot_lists`): a sweep restores many images on
#: machines of one boot footprint, whose lists at boot are the same.
BOOT_LISTS_CACHED = 4

#: The free lists as ``memblock_free_all()`` leaves them: block orders, next and previous
#: links, heads, tails and lengths per zone and order.
_BootLists = tuple[dict[int, int], dict[int, int], dict[int, int], list[list[int]],
                   list[list[int]], list[list[int]]]
#: A bitmap's bytes (:attr:`FrameBits.bytes`: bit ``pfn & 7`` of byte ``pfn >> 3``).
ByteArray = npt.NDArray[np.uint8]
_boot_lists_cache: OrderedDict[bytes, _BootLists] = OrderedDict()


class BuddyAllocator(PageAllocator):
    """The binary buddy allocator over ``free`` frames (see the module docstring)."""

    name = "buddy"

    def __init__(self, free: FreeFrames, seed: int = 0) -> None:
        super().__init__(free, seed)
        frames = len(free)
        # pfn 0 lies below ZONE_DMA's start on x86: it goes with DMA (a one-frame machine has
        # no zone at all but that frame)
        self.zones = machine_zones(frames) or (Zone("DMA", 0, frames),)
        nr_zones = len(self.zones)
        #: order of the free block starting at a pfn (``PageBuddy`` + ``buddy_order``); the
        #: free lists' links. Keyed by the blocks' first pfns: memory follows the free blocks,
        #: not the frames (a mostly free 1 TiB machine has 2^18 blocks of 4 MiB)
        self._block_order: dict[int, int] = {}
        self._next: dict[int, int] = {}
        self._prev: dict[int, int] = {}
        self._head = [[_NONE] * NR_PAGE_ORDERS for _ in range(nr_zones)]
        self._tail = [[_NONE] * NR_PAGE_ORDERS for _ in range(nr_zones)]
        self._nr_free_blocks = [[0] * NR_PAGE_ORDERS for _ in range(nr_zones)]
        self._zone_ends = [zone.end_pfn for zone in self.zones]
        #: the last frees of many pages, in the free map already, not yet in the lists
        self._unsettled: PfnArray | None = None
        #: the blocks the last alloc_many() handed out: first pfns and orders
        self._last_blocks = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self._boot_lists()

    @property
    def block_order(self) -> dict[int, int]:
        """Order of the free block starting at a pfn (``PageBuddy`` + ``buddy_order``)."""
        self._settle()
        return self._block_order

    @property
    def nr_free_blocks(self) -> list[list[int]]:
        """``free_area[order].nr_free`` per zone and order."""
        self._settle()
        return self._nr_free_blocks

    def _boot_lists(self) -> None:
        """:meth:`memblock_free_all`, or a copy of the lists it made for the same free frames
        (the cache holds the last :data:`BOOT_LISTS_CACHED` boot states, by their bytes)."""
        key = self.free.size.to_bytes(8, "little") + self.free.bytes.tobytes()
        cached = _boot_lists_cache.get(key)
        if cached is None:
            self.memblock_free_all()
            _boot_lists_cache[key] = self._copy_lists()
            while len(_boot_lists_cache) > BOOT_LISTS_CACHED:
                _boot_lists_cache.popitem(last=False)
            return
        _boot_lists_cache.move_to_end(key)
        (self._block_order, self._next, self._prev, self._head, self._tail,
         self._nr_free_blocks) = _copy_lists(cached)

    def _copy_lists(self) -> _BootLists:
        return _copy_lists((self._block_order, self._next, self._prev, self._head, self._tail,
                            self._nr_free_blocks))

    def memblock_free_all(self) -> None:
        """``memblock_free_all()``: every run of free frames to :meth:`free_pages_memory`, in
        pfn order, all at once.

        Equal to calling :meth:`free_pages_memory` run by run (tests/resume/test_buddy.py):
        each run is cut into the largest aligned blocks and each goes to the tail of its list;
        none of them merges, since two neighbouring blocks of one order that are buddies would
        have been cut as one block of the next order (or are of the top order, which does not
        merge), and runs are separated by frames that are not free. So the lists are the
        blocks of each zone and order in pfn order, linked at once.
        """
        starts: list[int] = []
        orders: list[int] = []
        for start, end in self.free.ranges():
            for block, order in aligned_blocks(start, end):
                starts.append(block)
                orders.append(order)
        if not starts:
            return
        pfns = np.array(starts, dtype=np.int64)
        order_of = np.array(orders, dtype=np.int64)
        zone_of = np.searchsorted(np.array(self._zone_ends), pfns, side="right")
        self._block_order = dict(zip(starts, orders, strict=True))
        for zone in range(len(self.zones)):
            for order in range(NR_PAGE_ORDERS):
                chain = pfns[(zone_of == zone) & (order_of == order)].tolist()
                if not chain:
                    continue
                self._head[zone][order], self._tail[zone][order] = chain[0], chain[-1]
                self._next.update(zip(chain, [*chain[1:], _NONE], strict=True))
                self._prev.update(zip(chain, [_NONE, *chain[:-1]], strict=True))
                self._nr_free_blocks[zone][order] = len(chain)

    # -- free lists (struct free_area) ---------------------------------------------------
    def zone_idx(self, pfn: int) -> int:
        """The index of the zone holding ``pfn``."""
        for idx, end in enumerate(self._zone_ends):
            if pfn < end:
                return idx
        raise AssertionError(f"pfn {pfn} beyond the last zone")

    def _add_to_free_list(self, pfn: int, order: int, tail: bool) -> None:
        zone = self.zone_idx(pfn)
        head, tails = self._head[zone], self._tail[zone]
        self._block_order[pfn] = order
        if head[order] == _NONE:
            head[order] = tails[order] = pfn
            self._next[pfn] = self._prev[pfn] = _NONE
        elif tail:
            last = tails[order]
            self._next[last], self._prev[pfn], self._next[pfn] = pfn, last, _NONE
            tails[order] = pfn
        else:
            first = head[order]
            self._prev[first], self._next[pfn], self._prev[pfn] = pfn, first, _NONE
            head[order] = pfn
        self._nr_free_blocks[zone][order] += 1

    def _del_page_from_free_list(self, pfn: int, order: int) -> None:
        zone = self.zone_idx(pfn)
        prev, nxt = self._prev[pfn], self._next[pfn]
        if prev == _NONE:
            self._head[zone][order] = nxt
        else:
            self._next[prev] = nxt
        if nxt == _NONE:
            self._tail[zone][order] = prev
        else:
            self._prev[nxt] = prev
        del self._block_order[pfn], self._next[pfn], self._prev[pfn]
        self._nr_free_blocks[zone][order] -= 1

    # -- the page allocator ------------------------------------------------------------
    def free_pages_memory(self, start: int, end: int) -> None:
        """``__free_pages_memory()``: the run ``[start, end)`` in the largest aligned blocks."""
        self._settle()
        for block, order in aligned_blocks(start, end):
            self._free_one_page(block, order, to_tail=True)

    def _free_one_page(self, pfn: int, order: int, to_tail: bool) -> None:
        """``_free_one_page()``: merge with the buddy while it is a free block of this order."""
        zone_end = self._zone_ends[self.zone_idx(pfn)]
        while order < MAX_PAGE_ORDER:
            buddy = pfn ^ (1 << order)
            if buddy >= zone_end or self._block_order.get(buddy) != order:
                break
            self._del_page_from_free_list(buddy, order)
            pfn &= buddy
            order += 1
        self._add_to_free_list(pfn, order, to_tail)

    def _rmqueue_smallest(self, zone: int) -> int:
        """``_rmqueue_smallest()`` + ``expand()`` for one order-0 page, or -1."""
        head = self._head[zone]
        for order in range(NR_PAGE_ORDERS):
            pfn = head[order]
            if pfn == _NONE:
                continue
            self._del_page_from_free_list(pfn, order)
            while order > 0:  # expand(): the upper halves go back, the lower half goes on
                order -= 1
                self._add_to_free_list(pfn + (1 << order), order, tail=False)
            return pfn
        return _NONE

    def alloc(self) -> int:
        """One order-0 page from the highest zone that has one (``__rmqueue_smallest()``)."""
        self._settle()
        for zone in reversed(range(len(self.zones))):
            pfn = self._rmqueue_smallest(zone)
            if pfn != _NONE:
                return self._take(pfn)
        return _NONE

    def alloc_many(self, nr_pages: int) -> PfnArray:
        """``nr_pages`` order-0 allocations, a whole block at a time where that is the same.

        When the smallest free block of the first zone with any is of order k and at least 2^k
        pages are still wanted, 2^k single allocations split that block and hand out all its
        frames in pfn order (the lower half first, then each buddy ``expand()`` put back),
        leaving the lists as they were without it: so the block is handed out whole. The next
        smallest block is then the next one on that list: as many as are wanted whole are taken
        off its head at once.
        """
        self._settle()
        starts: list[int] = []  # the blocks handed out whole, and their orders
        orders: list[int] = []
        need = nr_pages
        while need:
            block = self._smallest_block()
            if block is None:
                break
            zone, order, _ = block
            if (1 << order) <= need:
                count = min(need >> order, self._nr_free_blocks[zone][order])
                starts.extend(self._pop_blocks(zone, order, count))
                orders.extend([order] * count)
                need -= count << order
            else:  # alloc(): the zone _smallest_block() found is the one alloc() takes from
                starts.append(self._rmqueue_smallest(zone))
                orders.append(0)
                need -= 1
        self._last_blocks = np.array(starts, dtype=np.int64), np.array(orders, dtype=np.int64)
        if not starts:
            return np.zeros(0, dtype=np.int64)
        return self._take_blocks(*self._last_blocks)

    def alloc_runs(self, nr_pages: int) -> tuple[PfnArray, Runs | None]:
        """:meth:`alloc_many`, and its frames as runs: the blocks it handed out."""
        pfns = self.alloc_many(nr_pages)
        starts, orders = self._last_blocks
        return pfns, (starts.astype(np.int32), np.left_shift(1, orders).astype(np.int32))

    def _take_blocks(self, starts: PfnArray, orders: PfnArray) -> PfnArray:
        """Take every frame of the blocks (``starts``, ``orders``), off their lists already;
        their frames, block after block. Blocks of order 3 and up are whole bytes of the free
        map: cleared a byte at a time."""
        frames = _block_frames(starts, orders)
        whole = orders >= 3
        if whole.any():
            self.free.bytes[_block_frames(starts[whole] >> 3, orders[whole] - 3)] = 0
            self.free[_block_frames(starts[~whole], orders[~whole])] = False
            self.nr_free -= len(frames)
            return frames
        return self._take_many(frames)

    def _pop_blocks(self, zone: int, order: int, count: int) -> list[int]:
        """Take the first ``count`` blocks off the list of ``order`` in ``zone`` (as many
        :meth:`_del_page_from_free_list` calls of its head)."""
        nxt, prev, block_order = self._next, self._prev, self._block_order
        popped = []
        pfn = self._head[zone][order]
        for _ in range(count):
            popped.append(pfn)
            pfn = nxt[pfn]
        for block in popped:
            del block_order[block], nxt[block], prev[block]
        self._head[zone][order] = pfn
        if pfn == _NONE:
            self._tail[zone][order] = _NONE
        else:
            prev[pfn] = _NONE
        self._nr_free_blocks[zone][order] -= count
        return popped

    def allocations_for(self, nr_pages: int, skip: FrameBits) -> int:
        """:meth:`PageAllocator.allocations_for`, looking ahead in the free lists.

        With nothing freed, single allocations hand out the blocks in the order
        :meth:`alloc_many` takes them (zones from the highest, orders from the smallest, each
        list from its head), each block's frames in pfn order. So the blocks are walked in that
        order, a batch at a time, until ``nr_pages`` frames clear in ``skip`` are counted: the
        clear frames of each block counted from the bytes of ``skip`` it spans, and only the
        block where the count is reached read frame by frame.
        """
        self._settle()
        counted = found = 0
        blocks = self._blocks_in_allocation_order()
        while found < nr_pages:
            # a batch of blocks: what is still wanted, twice that after the first batch (the
            # frames to skip may come in runs)
            starts, orders = _next_blocks(blocks, (2 if counted else 1) * (nr_pages - found))
            if not starts:
                break  # every free frame is counted
            order_of = np.array(orders, dtype=np.int64)
            sizes = np.left_shift(1, order_of)
            clear = np.cumsum(sizes - _set_in_blocks(skip.bytes, np.array(starts), order_of))
            if found + int(clear[-1]) >= nr_pages:
                block = int(np.searchsorted(clear, nr_pages - found))  # the first to reach it
                found += int(clear[block - 1]) if block else 0
                pfns = np.arange(starts[block], starts[block] + int(sizes[block]), dtype=np.int64)
                inside = np.flatnonzero(~skip[pfns])
                return counted + int(sizes[:block].sum()) + int(inside[nr_pages - found - 1]) + 1
            found += int(clear[-1])
            counted += int(sizes.sum())
        return counted

    def _blocks_in_allocation_order(self) -> Iterator[tuple[int, int]]:
        """The free blocks as (pfn, order) in the order allocations take them."""
        nxt = self._next
        for zone in reversed(range(len(self.zones))):
            head = self._head[zone]
            for order in range(NR_PAGE_ORDERS):
                pfn = head[order]
                while pfn != _NONE:
                    yield pfn, order
                    pfn = nxt[pfn]

    def take_pages(self, pfns: PfnArray) -> BoolArray:
        """:meth:`take_page` for each of ``pfns`` (increasing), a whole free block at a time.

        Taking every frame of a free block one by one splits it and removes every piece, which
        leaves the lists as removing the block does; blocks only partly taken go frame by frame.
        """
        self._settle()
        free = self.free[pfns]
        wanted = np.zeros(len(self.free), dtype=bool)
        wanted[pfns[free]] = True
        starts, orders = self._block_arrays()
        wanted_bytes = np.packbits(wanted, bitorder="little")
        whole = _all_set(wanted_bytes, _whole_levels(wanted_bytes), starts, orders)
        starts, orders = starts[whole], orders[whole]
        for start, order in zip(starts.tolist(), orders.tolist(), strict=True):
            self._del_page_from_free_list(start, order)
        wanted[self._take_blocks(starts, orders)] = False
        self._take_partial(np.flatnonzero(wanted))
        return free

    # -- many frees or takes at once, as one by one -------------------------------------
    #
    # The free blocks of a buddy allocator are always the *canonical* ones: the largest aligned
    # blocks of free frames, of order <= MAX_PAGE_ORDER, inside one zone (a free merges with
    # every free buddy; a split leaves only halves whose buddy is not free). So which blocks
    # exist after many frees or takes does not depend on their order; only where each block
    # sits on its list does. A block is put at the head of its list once, when it is made, and
    # leaves it only when merged or split; so after a batch each list holds the blocks the
    # batch made, the latest made first, then the blocks from before, in their order. A free
    # makes its final block when the block's last frame is freed; a take makes a piece when the
    # first frame of the piece's parent block is taken (break_down_buddy_pages() splits the
    # parent there). tests/resume/test_buddy.py checks both against one-by-one calls.

    def _blocks_of(self, pfns: PfnArray) -> tuple[PfnArray, PfnArray]:
        """The canonical free block holding each of ``pfns`` (free frames), as (start, order).

        Zone boundaries (16 MiB, 4 GiB) are aligned far beyond MAX_PAGE_ORDER, so a block is
        inside its zone when it is inside memory.
        """
        # read from the free map's bytes (eight frames each, pfn & 7 the bit): orders 1 and 2
        # within a pfn's own byte (a table by byte and bit), order 3 and up from the bytes all
        # set (a free block has free halves: the orders add up)
        at = pfns >> 3
        bits = self.free.bytes
        levels = _whole_levels(bits)
        if len(pfns) * _WHOLE_SPAN >= len(bits):  # many: a code per byte, a table per code
            # code: the byte itself when not all set, else 255 + its orders from 3 up
            codes = bits.astype(np.int64) + _byte_orders(levels)[: len(bits)]
            index = codes[at] << 3 | (pfns & 7)
            return pfns & _BLOCK_MASK[index], _BLOCK_ORDER[index]
        order = _BLOCK_ORDER[(bits[at].astype(np.int64) << 3) | (pfns & 7)]
        for k, whole in enumerate(levels, 3):  # few: each level at each pfn
            order += whole[pfns >> k]
        return pfns & ~((1 << order) - 1), order

    def _block_arrays(self) -> tuple[PfnArray, PfnArray]:
        """Every free block's first pfn and order (any order of blocks)."""
        count = len(self._block_order)
        starts = np.fromiter(self._block_order.keys(), dtype=np.int64, count=count)
        orders = np.fromiter(self._block_order.values(), dtype=np.int64, count=count)
        return starts, orders

    def free_page(self, pfn: int) -> None:
        """Give frame ``pfn`` back (refusing a double free), merging it with its buddies."""
        self._settle()
        super().free_page(pfn)

    def take_page(self, pfn: int) -> bool:
        """Take the frame ``pfn`` itself if it is free (``take_page_off_buddy()``)."""
        self._settle()
        return super().take_page(pfn)

    def free_pages(self, pfns: PfnArray) -> None:
        """:meth:`free_page` for each of ``pfns`` in order, at once (see above).

        The free map is updated (and a double free refused) at once; the lists when they are
        next used (:meth:`_settle`): every call that reads or changes the lists or the free map
        settles first, so they are then exactly what the frees made. A restore whose last act
        is a large free (``eat``'s release of its eaten pages) never rebuilds them.
        """
        self._settle()
        if len(pfns) < BULK_PAGES:
            super().free_pages(pfns)
            return
        pfns = np.asarray(pfns, dtype=np.int64)
        self._free_many(pfns)
        self._unsettled = pfns

    def _settle(self) -> None:
        """Put the blocks the last :meth:`free_pages` made on their lists (the free map is as
        those frees left it: nothing changes it before this is called)."""
        pfns = self._unsettled
        if pfns is None:
            return
        self._unsettled = None
        old_starts, old_orders = self._block_arrays()
        start, order = self._blocks_of(pfns)
        starts, made_at = _made_at(pfns, start, order, len(self.free))
        orders = order[made_at]
        # the blocks from before inside a block made now were merged into it
        home = np.searchsorted(starts, old_starts, side="right") - 1
        merged = (home >= 0) & (old_starts < starts[home] + (1 << orders[home]))
        for pfn, old in zip(old_starts[merged].tolist(), old_orders[merged].tolist(),
                            strict=True):
            self._del_page_from_free_list(pfn, old)
        for index in np.argsort(made_at).tolist():
            self._add_to_free_list(int(starts[index]), int(orders[index]), tail=False)

    def _take_partial(self, pfns: PfnArray) -> None:
        """:meth:`take_page` for each of ``pfns`` (free, increasing), none of them filling a
        whole free block, at once (see above)."""
        if len(pfns) < BULK_PAGES:
            for pfn in pfns.tolist():
                self.take_page(pfn)
            return
        home, home_order = self._blocks_of(pfns)
        first = np.flatnonzero(np.diff(home, prepend=-1))  # pfns increase: so do their blocks
        blocks, block_orders = home[first], home_order[first]
        for pfn, order in zip(blocks.tolist(), block_orders.tolist(), strict=True):
            self._del_page_from_free_list(pfn, order)
        self._take_many(pfns)
        # The pieces: the free blocks now in the split blocks, made of the frames still free
        # in them (none reaches out of its split block, whose parent was not all free)
        frames = _block_frames(blocks, block_orders)
        rest = frames[self.free[frames]]
        if not len(rest):
            return
        start, order = self._blocks_of(rest)
        first = np.flatnonzero(np.diff(start, prepend=-1))  # rest increases: so do its blocks
        pieces, orders = start[first], order[first]
        # each is made by the first take in its parent (pfns increase: the first at or above
        # the parent's start, if it lies inside the parent; none: after all)
        parent = pieces & ~((2 << orders) - 1)
        made = np.searchsorted(pfns, parent)
        inside = made < len(pfns)
        inside[inside] = pfns[made[inside]] < parent[inside] + (2 << orders[inside])
        made[~inside] = len(pfns)
        for index in np.lexsort((pieces, orders, made)).tolist():
            self._add_to_free_list(int(pieces[index]), int(orders[index]), tail=False)

    def _smallest_block(self) -> tuple[int, int, int] | None:
        """(zone, order, pfn) of the block the next allocation would split, or None."""
        for zone in reversed(range(len(self.zones))):
            head = self._head[zone]
            for order in range(NR_PAGE_ORDERS):
                if head[order] != _NONE:
                    return zone, order, head[order]
        return None

    def _freed(self, pfn: int) -> None:
        self._free_one_page(pfn, 0, to_tail=False)

    def _taken(self, pfn: int) -> None:
        """``take_page_off_buddy()``: split the block holding ``pfn`` down to ``pfn`` alone."""
        for order in range(NR_PAGE_ORDERS):
            start = pfn & ~((1 << order) - 1)
            if self._block_order.get(start) == order:
                break
        else:
            raise AssertionError(f"free pfn {pfn} is in no free block")
        self._del_page_from_free_list(start, order)
        while order > 0:  # break_down_buddy_pages()
            order -= 1
            half = 1 << order
            if pfn >= start + half:
                buddy, start = start, start + half
            else:
                buddy = start + half
            self._add_to_free_list(buddy, order, tail=False)

    # -- for tests and reports -----------------------------------------------------------
    def free_blocks(self) -> list[tuple[int, int]]:
        """Every free block as (pfn, order), list by list, head first."""
        self._settle()
        blocks = []
        for zone in range(len(self.zones)):
            for order in range(NR_PAGE_ORDERS):
                pfn = self._head[zone][order]
                while pfn != _NONE:
                    blocks.append((pfn, order))
                    pfn = self._next[pfn]
        return blocks


def _made_at(pfns: PfnArray, start: PfnArray, order: PfnArray, frames: int) -> tuple[
        PfnArray, PfnArray]:
    """For frees of distinct ``pfns`` (no double free) of a machine of ``frames`` frames that
    leave each in the block (``start``, ``order``): each block's start, increasing, and when
    it is made: the index of the last free of a frame in it."""
    if len(pfns) * _WHOLE_SPAN < frames:  # few frees over much memory: sort them
        starts, first_in_reverse = np.unique(start[::-1], return_index=True)
        made: PfnArray = len(pfns) - 1 - first_in_reverse
        return starts, made
    # Over every frame: each freed frame's index in pfns, and the largest of them from each
    # block's start to the next's (between blocks no frame was freed: it would be in a block
    # of its own)
    last = np.full(frames, -1, dtype=np.int32)  # an index into pfns: fewer than 2^31
    last[pfns] = np.arange(len(pfns), dtype=np.int32)
    first = np.zeros(frames, dtype=bool)
    first[start] = True
    starts = np.flatnonzero(first)
    made = np.maximum.reduceat(last, starts).astype(np.int64)
    return starts, made


def _whole_levels(bits: ByteArray) -> list[BoolArray]:
    """For orders 3 to ``MAX_PAGE_ORDER``: which aligned blocks of that order of a bitmap's
    frames are all set (a bool per block, from its bytes: a byte per eight frames at most)."""
    size = -(-len(bits) // (1 << (MAX_PAGE_ORDER - 3))) << (MAX_PAGE_ORDER - 3)
    whole = np.zeros(size, dtype=bool)
    whole[: len(bits)] = bits == 0xFF
    levels = [whole]
    for _ in range(3, MAX_PAGE_ORDER):
        levels.append(levels[-1][0::2] & levels[-1][1::2])
    return levels


def _byte_orders(levels: list[BoolArray]) -> npt.NDArray[np.int8]:
    """For each byte of the bitmap :func:`_whole_levels` read: how many of the orders from 3 up
    its aligned block is all set in (0: the byte itself is not).

    Counted from the top level down, each count doubled to the halves of its block
    (``np.repeat`` by 2: repeating each top block's count 2^7 times copies a byte at a time).
    """
    orders = levels[-1].astype(np.int8)
    for whole in reversed(levels[:-1]):
        orders = np.repeat(orders, 2)
        orders += whole
    return orders


def _all_set(bits: ByteArray, levels: list[BoolArray], starts: PfnArray,
             order: int | PfnArray) -> BoolArray:
    """Whether each aligned block at ``starts`` of ``order`` (one for all, or one each) has
    every frame set in the bitmap ``bits`` (``levels``: its :func:`_whole_levels`)."""
    if not isinstance(order, int):
        out = np.zeros(len(starts), dtype=bool)
        for each in np.unique(order).tolist():
            mask = order == each
            out[mask] = _all_set(bits, levels, starts[mask], each)
        return out
    if order >= 3:
        level: BoolArray = levels[order - 3][starts >> order]
        return level
    byte = bits[starts >> 3].astype(np.int64)
    mask = (1 << (1 << order)) - 1
    all_set: BoolArray = byte >> (starts & 7) & mask == mask
    return all_set


def _block_tables() -> tuple[PfnArray, PfnArray]:
    """By ``code << 3 | bit``, where code is a byte of a bitmap, or 255 + l for a byte all
    set whose aligned blocks of orders 3 to 2 + l are all set (:func:`_byte_orders`): the order
    of the largest aligned block of set bits holding the set bit ``bit`` (orders 0 to 2 from
    the byte alone), and the mask that gives its first pfn."""
    order = np.zeros((255 + NR_PAGE_ORDERS - 2) * 8, dtype=np.int64)
    for code in range(255 + NR_PAGE_ORDERS - 2):
        for bit in range(8):
            if code >= 255:
                order[code << 3 | bit] = code - 255 + 2
            else:
                order[code << 3 | bit] = ((code >> (bit & 6) & 0x3 == 0x3)
                                          + (code >> (bit & 4) & 0xF == 0xF))
    return order, ~((np.int64(1) << order) - 1)


_BLOCK_ORDER, _BLOCK_MASK = _block_tables()
#: The frames of a block from its first: 0 to 2^MAX_PAGE_ORDER - 1.
_OFFSETS = np.arange(1 << MAX_PAGE_ORDER, dtype=np.int64)
#: Blocks of this order and up are large for :func:`_block_frames` (not repeated frame by
#: frame), unless they come in more than _LARGE_RUNS runs of one order.
_LARGE_ORDER = 5
_LARGE_RUNS = 16
#: ... and only for this many frames or more (fewer: repeated, in fewer numpy calls).
_LARGE_TOTAL = 4096


def _set_in_blocks(bits: ByteArray, starts: PfnArray, orders: PfnArray) -> PfnArray:
    """How many frames of each aligned block (first frame, order) are set in the bitmap
    ``bits``: blocks of order 3 and up as the set bits of the bytes they span, smaller ones
    as those of their part of one byte."""
    out = np.zeros(len(starts), dtype=np.int64)
    sizes = np.left_shift(1, orders)
    large = orders >= 3
    if large.any():
        nr_bytes = sizes[large] >> 3
        at = _block_frames(starts[large] >> 3, orders[large] - 3)
        offsets = np.cumsum(nr_bytes) - nr_bytes
        out[large] = np.add.reduceat(np.bitwise_count(bits[at]), offsets, dtype=np.int64)
    small = ~large
    if small.any():
        first = starts[small]
        mask = ((1 << sizes[small]) - 1) << (first & 7)
        out[small] = np.bitwise_count(bits[first >> 3].astype(np.int64) & mask)
    return out


def _next_blocks(blocks: Iterator[tuple[int, int]], nr_frames: int) -> tuple[list[int], list[int]]:
    """The first pfns and orders of the next blocks of ``blocks``, up to ``nr_frames`` frames
    or more (fewer when they run out)."""
    starts: list[int] = []
    orders: list[int] = []
    total = 0
    for start, order in blocks:
        starts.append(start)
        orders.append(order)
        total += 1 << order
        if total >= nr_frames:
            break
    return starts, orders


def _block_frames(starts: list[int] | PfnArray, orders: list[int] | PfnArray) -> PfnArray:
    """The frames of the blocks (pfn, order), block after block, each in pfn order (or, given
    ``pfn >> 3`` and ``order - 3`` of blocks of order 3 and up, the bytes of the bitmap that
    hold their bits).

    ``np.repeat`` copies a block's first frame 2^order times one element at a time, slow for
    large blocks; they come in runs of one order (a list's blocks, as allocations take them),
    each run written as its blocks' starts plus the offsets in a block, in one pass. The small
    blocks are repeated, and the whole when the large ones come in too many runs.
    """
    order_of = np.asarray(orders, dtype=np.int64)
    start_of = np.asarray(starts, dtype=np.int64)
    sizes = np.left_shift(1, order_of)
    ends = np.cumsum(sizes)
    total = int(ends[-1]) if len(ends) else 0
    if total >= _LARGE_TOTAL:
        large = order_of >= _LARGE_ORDER
        # runs of large blocks of one order: where each begins and ends
        change = np.flatnonzero(order_of[1:] != order_of[:-1]) + 1
        bounds = np.concatenate([[0], change, [len(order_of)]])
        runs = np.flatnonzero(large[bounds[:-1]])
    if total < _LARGE_TOTAL or not len(runs) or len(runs) > _LARGE_RUNS:
        frames: PfnArray = np.repeat(start_of - (ends - sizes), sizes)
        frames += np.arange(total, dtype=np.int64)
        return frames
    frames = np.empty(total, dtype=np.int64)
    small = ~large
    if small.any():
        small_sizes = sizes[small]
        small_ends = np.cumsum(small_sizes)
        at = np.repeat((ends - sizes)[small] - (small_ends - small_sizes), small_sizes)
        at += np.arange(int(small_ends[-1]), dtype=np.int64)
        frames[at] = np.repeat(start_of[small] - (ends - sizes)[small], small_sizes) + at
    for low, high in zip(bounds[runs].tolist(), bounds[runs + 1].tolist(), strict=True):
        size = 1 << int(order_of[low])
        first = int(ends[low]) - size
        np.add(start_of[low:high, None], _OFFSETS[:size],
               out=frames[first : first + (high - low) * size].reshape(high - low, size))
    return frames


def _copy_lists(lists: _BootLists) -> _BootLists:
    block_order, nxt, prev, head, tail, nr_free_blocks = lists
    return (dict(block_order), dict(nxt), dict(prev), [list(row) for row in head],
            [list(row) for row in tail], [list(row) for row in nr_free_blocks])


def aligned_blocks(start: int, end: int) -> Iterator[tuple[int, int]]:
    """The run ``[start, end)`` cut as ``__free_pages_memory()`` cuts it: ``(pfn, order)`` of
    the largest naturally aligned blocks (at most ``MAX_PAGE_ORDER``), in pfn order."""
    while start < end:
        order = MAX_PAGE_ORDER
        if start:
            order = min(order, (start & -start).bit_length() - 1)
        while start + (1 << order) > end:
            order -= 1
        yield start, order
        start += 1 << order

"""Simulated physical memory at resume: a page table from page frames to write-once page slots.

Every frame maps to a *slot*, a 4096-byte page in a pool, or to one of two shared pages: the
zero page (a frame nothing wrote, or one that was zeroed) and the boot kernel's poison (a frame
the boot kernel uses, whose words are tagged with its pfn:
:func:`~swsim.machine.content.poison_pages`).

Slots are written once, when a page is loaded into a frame, and never change afterwards: writing
a frame again takes a new slot. That makes the restore's memory work exact and cheap:

* a page copied from one frame to another (the final copies, ``restore_pblist``) shares its
  slot, as copy-on-write would: both frames read exactly the bytes a 4096-byte copy would give;
* zeroing a frame maps it to the zero page;
* the pool is filled in load order, so an image reader can read a batch of data pages straight
  into the slots they will occupy (:meth:`SlotPool.reserve`) and the handle maps them to their
  frames without moving a byte (:meth:`FrameMemory.load`);
* restores of the same image can share one pool (:class:`SlotPool`): each data page is read
  once, and each restore's page table maps its frames to that page's slot;
* "frame ``pfn`` holds image page ``i``" is exactly "frame ``pfn`` maps to the slot page ``i``
  was loaded into", which is how a restore is verified.

The pool is an anonymous ``MAP_NORESERVE`` mapping: it costs resident memory only for slots
written, so a 64 GiB machine whose image is 2 GiB needs about 2 GiB.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections.abc import Callable
from typing import cast

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray
from swsim.machine.content import poison_pages

#: Slot number of a frame that reads as zeros.
ZERO_SLOT = -1
#: Slot number of a frame holding the boot kernel's data (its poison pattern).
POISON_SLOT = -2
#: ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+): fault a range in without touching it.
MADV_POPULATE_WRITE = 23
#: Pages faulted in per ``madvise`` call by :meth:`SlotPool.prefault` (8 MiB).
PREFAULT_STEP = 2048


def _libc_madvise() -> Callable[[int, int, int], int] | None:
    """libc's ``madvise`` through ctypes (which releases the GIL around the call), if any."""
    if sys.platform != "linux":
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    func.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    func.restype = ctypes.c_int
    return cast(Callable[[int, int, int], int], func)


class SlotPool:
    """At most ``capacity`` write-once page slots, handed out from slot 0 up.

    Several :class:`FrameMemory` page tables may share one pool: the restores of one pass over
    an image (``swsim compare``) read each data page once, into one slot, and every restore maps
    its frames to that slot.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        # Python < 3.13 lacks the constant; 0x4000 is MAP_NORESERVE on Linux.
        flags |= getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
        self._map = mmap.mmap(-1, capacity * PAGE_SIZE, flags=flags)
        #: the slots' bytes, one row per slot
        self.pages: PageArray = np.frombuffer(self._map, dtype=np.uint8).reshape(
            capacity, PAGE_SIZE
        )
        #: slots handed out so far
        self.used = 0
        self._lock = threading.Lock()
        self._prefaulter: threading.Thread | None = None

    def reserve(self, nr_pages: int) -> PageArray:
        """The next ``nr_pages`` unwritten slots, as a ``(nr_pages, PAGE_SIZE)`` array to fill
        (then map them with :meth:`FrameMemory.load`)."""
        return self.take(nr_pages)[0]

    def take(self, nr_pages: int) -> tuple[PageArray, int]:
        """:meth:`reserve`, with the number of the first slot."""
        with self._lock:  # the read-ahead thread and the handles reserve slots side by side
            first = self.used
            if first + nr_pages > self.capacity:
                raise MemoryError(f"page pool exhausted ({self.capacity} slots)")
            self.used += nr_pages
        return self.pages[first : first + nr_pages], first

    def take_one(self) -> tuple[PageArray, int]:
        """One unwritten slot: ``(its 4096 bytes, its number)`` (the page-by-page path's)."""
        with self._lock:
            slot = self.used
            if slot >= self.capacity:
                raise MemoryError(f"page pool exhausted ({self.capacity} slots)")
            self.used = slot + 1
        return self.pages[slot], slot

    def slots_of(self, pages: PageArray) -> PfnArray | None:
        """The slot numbers of ``pages`` if it is a run of whole slots of the pool, else None."""
        base = self.pages.ctypes.data
        offset = pages.ctypes.data - base if pages.ndim == 2 else -1
        if not 0 <= offset < self.capacity * PAGE_SIZE or pages.strides != self.pages.strides:
            return None
        first = offset // PAGE_SIZE
        return np.arange(first, first + len(pages), dtype=np.int64)

    def prefault(self, nr_pages: int) -> None:
        """Fault in the next ``nr_pages`` unwritten slots on a background thread.

        The kernel then zero-fills their pages in bulk (``MADV_POPULATE_WRITE``) while the
        caller reads an image into them, instead of one page fault per page in the reading
        thread. A no-op where the kernel or the platform lacks it; :meth:`wait` joins it.
        """
        madvise = _libc_madvise()
        first = self.used
        last = min(first + nr_pages, self.capacity)
        if madvise is None or last <= first:
            return
        base = self.pages.ctypes.data

        def run() -> None:
            for start in range(first, last, PREFAULT_STEP):
                count = min(PREFAULT_STEP, last - start)
                if madvise(base + start * PAGE_SIZE, count * PAGE_SIZE, MADV_POPULATE_WRITE):
                    return  # not supported (EINVAL) or no memory: page faults will do it

        self.wait()
        self._prefaulter = threading.Thread(target=run, name="swsim-prefault", daemon=True)
        self._prefaulter.start()

    def wait(self) -> None:
        """Wait for a :meth:`prefault` to finish."""
        if self._prefaulter is not None:
            self._prefaulter.join()
            self._prefaulter = None


def pool_capacity(frames: int) -> int:
    """Slots for every write of one restore on ``frames`` frames: the header page, the metadata
    pages (each a new write of the same buffer frame) and every data page, one per frame."""
    return frames + frames // 256 + 64


class FrameMemory:
    """``frames`` page frames: a page table over write-once slots of a :class:`SlotPool`.

    By default the pool is its own, of :func:`pool_capacity` slots (or ``capacity``).
    """

    def __init__(
        self, frames: int, capacity: int | None = None, pool: SlotPool | None = None
    ) -> None:
        self.frames = frames
        #: the page table: the slot of every frame, or ZERO_SLOT / POISON_SLOT
        self.slot: PfnArray = np.full(frames, ZERO_SLOT, dtype=np.int64)
        if pool is None:
            pool = SlotPool(capacity if capacity is not None else pool_capacity(frames))
        self.pool = pool

    # -- writing -----------------------------------------------------------------------------
    def reserve(self, nr_pages: int) -> PageArray:
        """The pool's next ``nr_pages`` unwritten slots (:meth:`SlotPool.reserve`)."""
        return self.pool.reserve(nr_pages)

    @property
    def used(self) -> int:
        """Slots of the pool handed out so far."""
        return self.pool.used

    def load(self, pfns: PfnArray, pages: PageArray) -> PfnArray:
        """Write page ``pages[i]`` into frame ``pfns[i]``; returns the slots now holding them.

        Pages already in reserved slots (:meth:`reserve`) are mapped where they are; any other
        array is copied into new slots first.
        """
        slots = self.pool.slots_of(pages)
        if slots is None:
            fresh = self.reserve(len(pages))
            fresh[:] = pages
            slots = self.pool.slots_of(fresh)
            assert slots is not None
        self.slot[pfns] = slots
        return slots

    def write_frame(self, pfn: int) -> tuple[PageArray, int]:
        """A new slot for frame ``pfn`` to be written through: ``(its 4096 bytes, its slot)``."""
        page, slot = self.pool.take_one()
        self.slot[pfn] = slot
        return page, slot

    def copy_pages(self, dst: PfnArray, src: PfnArray) -> None:
        """Copy frame ``src[i]`` to frame ``dst[i]`` for all i (sources and targets disjoint).

        The copy shares the source's write-once slot: both frames read the same bytes.
        """
        self.slot[dst] = self.slot[src]

    def zero(self, pfns: PfnArray) -> None:
        """memset() the frames ``pfns`` to zero."""
        self.slot[pfns] = ZERO_SLOT

    def poison(self, pfns: PfnArray) -> None:
        """The boot kernel's data in frames ``pfns`` (see ``poison_pages``)."""
        self.slot[pfns] = POISON_SLOT

    # -- reading -----------------------------------------------------------------------------
    def read(self, pfns: PfnArray) -> PageArray:
        """The bytes of frames ``pfns``, gathered into a new ``(len(pfns), PAGE_SIZE)`` array."""
        pfns = np.asarray(pfns, dtype=np.int64)
        slots = self.slot[pfns]
        out = np.zeros((len(pfns), PAGE_SIZE), dtype=np.uint8)
        held = slots >= 0
        out[held] = self.pool.pages[slots[held]]
        poisoned = slots == POISON_SLOT
        if poisoned.any():
            out[poisoned] = poison_pages(pfns[poisoned])
        return out

    def read_frame(self, pfn: int) -> bytes:
        """The 4096 bytes of frame ``pfn``."""
        slot = int(self.slot[pfn])
        if slot >= 0:
            data: bytes = self.pool.pages[slot].tobytes()
        else:
            data = self.read(np.array([pfn])).tobytes()
        return data

    # -- resident memory -----------------------------------------------------------------------
    def prefault(self, nr_pages: int) -> None:
        """:meth:`SlotPool.prefault` of the pool."""
        self.pool.prefault(nr_pages)

    def wait(self) -> None:
        """:meth:`SlotPool.wait` of the pool."""
        self.pool.wait()

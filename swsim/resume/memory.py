"""Simulated physical memory at resume: a page table from page frames to write-once page slots.

Every frame maps to a *slot*, a 4096-byte page in a pool, or to one of two shared pages: the
zero page (a frame nothing wrote, or one that was zeroed) and the boot kernel's poison (a frame
the boot kernel uses, whose words are tagged with its pfn, :func:`swsim.machine.content.poison_pages`).

Slots are written once, when a page is loaded into a frame, and never change afterwards: writing
a frame again takes a new slot. That makes the restore's memory work exact and cheap:

* a page copied from one frame to another (the final copies, ``restore_pblist``) shares its
  slot, as copy-on-write would: both frames read exactly the bytes a 4096-byte copy would give;
* zeroing a frame maps it to the zero page;
* the pool is filled in load order, so an image reader can read a batch of data pages straight
  into the slots they will occupy (:meth:`FrameMemory.reserve`) and the handle maps them to their
  frames without moving a byte (:meth:`FrameMemory.load`);
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

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.content import poison_pages

#: Slot number of a frame that reads as zeros.
ZERO_SLOT = -1
#: Slot number of a frame holding the boot kernel's data (its poison pattern).
POISON_SLOT = -2
#: ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+): fault a range in without touching it.
MADV_POPULATE_WRITE = 23
#: Pages faulted in per ``madvise`` call by :meth:`FrameMemory.prefault` (8 MiB).
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
    return func  # type: ignore[no-any-return]


class FrameMemory:
    """``frames`` page frames over a pool of at most ``capacity`` write-once page slots.

    The default capacity holds every write of one restore: the header page, the metadata pages
    (each a new write of the same buffer frame) and every data page, at most one per frame.
    """

    def __init__(self, frames: int, capacity: int | None = None) -> None:
        self.frames = frames
        #: the page table: the slot of every frame, or ZERO_SLOT / POISON_SLOT
        self.slot = np.full(frames, ZERO_SLOT, dtype=np.int64)
        self.capacity = capacity if capacity is not None else frames + frames // 256 + 64
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        # Python < 3.13 lacks the constant; 0x4000 is MAP_NORESERVE on Linux.
        flags |= getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
        self._map = mmap.mmap(-1, self.capacity * PAGE_SIZE, flags=flags)
        self.pool = np.frombuffer(self._map, dtype=np.uint8).reshape(self.capacity, PAGE_SIZE)
        #: slots handed out so far (the pool is filled from slot 0 up)
        self.used = 0
        self._prefaulter: threading.Thread | None = None

    # -- writing -----------------------------------------------------------------------------
    def reserve(self, nr_pages: int) -> np.ndarray:
        """The next ``nr_pages`` unwritten slots, as a ``(nr_pages, PAGE_SIZE)`` array to fill
        (then map them with :meth:`load`)."""
        first = self.used
        if first + nr_pages > self.capacity:
            raise MemoryError(f"page pool exhausted ({self.capacity} slots)")
        self.used += nr_pages
        return self.pool[first : first + nr_pages]

    def slots_of(self, pages: np.ndarray) -> np.ndarray | None:
        """The slot numbers of ``pages`` if it is a run of whole slots of the pool, else None."""
        base = self.pool.ctypes.data
        offset = pages.ctypes.data - base if pages.ndim == 2 else -1
        if not 0 <= offset < self.capacity * PAGE_SIZE or pages.strides != self.pool.strides:
            return None
        first = offset // PAGE_SIZE
        return np.arange(first, first + len(pages), dtype=np.int64)

    def load(self, pfns: np.ndarray, pages: np.ndarray) -> np.ndarray:
        """Write page ``pages[i]`` into frame ``pfns[i]``; returns the slots now holding them.

        Pages already in reserved slots (:meth:`reserve`) are mapped where they are; any other
        array is copied into new slots first.
        """
        slots = self.slots_of(pages)
        if slots is None:
            fresh = self.reserve(len(pages))
            fresh[:] = pages
            slots = self.slots_of(fresh)
            assert slots is not None
        self.slot[pfns] = slots
        return slots

    def write_frame(self, pfn: int) -> tuple[np.ndarray, int]:
        """A new slot for frame ``pfn`` to be written through: ``(its 4096 bytes, its slot)``."""
        page = self.reserve(1)
        slot = self.used - 1
        self.slot[pfn] = slot
        return page[0], slot

    def copy_pages(self, dst: np.ndarray, src: np.ndarray) -> None:
        """Copy frame ``src[i]`` to frame ``dst[i]`` for all i (sources and targets disjoint).

        The copy shares the source's write-once slot: both frames read the same bytes.
        """
        self.slot[dst] = self.slot[src]

    def zero(self, pfns: np.ndarray) -> None:
        """memset() the frames ``pfns`` to zero."""
        self.slot[pfns] = ZERO_SLOT

    def poison(self, pfns: np.ndarray) -> None:
        """The boot kernel's data in frames ``pfns`` (see :func:`swsim.machine.content.poison_pages`)."""
        self.slot[pfns] = POISON_SLOT

    # -- reading -----------------------------------------------------------------------------
    def read(self, pfns: np.ndarray) -> np.ndarray:
        """The bytes of frames ``pfns``, gathered into a new ``(len(pfns), PAGE_SIZE)`` array."""
        pfns = np.asarray(pfns, dtype=np.int64)
        slots = self.slot[pfns]
        out = np.zeros((len(pfns), PAGE_SIZE), dtype=np.uint8)
        held = slots >= 0
        out[held] = self.pool[slots[held]]
        poisoned = slots == POISON_SLOT
        if poisoned.any():
            out[poisoned] = poison_pages(pfns[poisoned])
        return out

    def read_frame(self, pfn: int) -> bytes:
        """The 4096 bytes of frame ``pfn``."""
        slot = int(self.slot[pfn])
        if slot >= 0:
            return self.pool[slot].tobytes()
        return self.read(np.array([pfn])).tobytes()

    # -- resident memory -----------------------------------------------------------------------
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
        base = self.pool.ctypes.data

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

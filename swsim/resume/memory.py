"""Simulated physical memory at resume: what each frame holds, not its bytes.

A restore streams its data pages through a small reused buffer (:mod:`swsim.image.reader`);
nothing reads those bytes again once they are checked. So a frame's memory is an *identity*:

* ``k >= 0``: data page ``k`` of the image (its position among the stored data pages, whose
  bytes the image's digest, block CRCs and MAC have checked);
* :data:`ZERO`: zeros (a frame nothing wrote, or one that was zeroed);
* :data:`POISON`: the boot kernel's data (words tagged with the pfn:
  :func:`~swsim.machine.content.poison_pages`);
* :data:`OTHER`: something the restore wrote that is no image data (the header or a metadata
  page in the handle's buffer frame), whose bytes are kept while it is the frame's latest write.

Writes are recorded in order, as (frames, identities) chunks, and resolved once, last write
wins, when the memory is read (:meth:`FrameMemory.contents`): memory costs the writes made
(about 16 bytes per image page), not the frames the machine has, so a 1 TiB machine restoring
a small image allocates nothing per frame here. The final copies (``restore_pblist``) give
each destination the identity of its source, as a 4096-byte copy gives its bytes; verification
asks whether frame ``pfns[i]`` holds identity ``loaded[i]``.

With a :class:`~swsim.machine.memory_file.MemoryFile` (``restore --memory-out``), the data
pages' bytes are also appended to that file, past the frames, as they stream through; once the
final copies are made, :meth:`FrameMemory.write_out` writes each image frame's contents at
``frame * 4096`` from what the page table says it holds, and the spilled pages are cut off
(every other frame a hole).
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray
from swsim.machine.content import poison_pages
from swsim.machine.memory_file import MemoryFile

#: A frame that reads as zeros.
ZERO = -1
#: A frame holding the boot kernel's data (its poison pattern).
POISON = -2
#: A frame written with something that is no image data (header, metadata).
OTHER = -3

_EMPTY = np.zeros(0, dtype=np.int64)
#: :func:`_last_writes` packs a frame and a write's number into one 64-bit key: 32 bits each.
_ORDER_BITS = np.uint64(32)
_ORDER_LIMIT = 1 << 32


class FrameMemory:
    """``frames`` page frames, as the identities written into them (see the module docstring).

    ``out``, if given, receives the data pages' bytes at their frames (``--memory-out``).
    """

    def __init__(self, frames: int, out: MemoryFile | None = None) -> None:
        self.frames = frames
        self.out = out
        self._chunks_pfns: list[PfnArray] = []
        self._chunks_ids: list[PfnArray] = []
        # single writes (the page-by-page path), kept in order until the next chunk
        self._single_pfns: list[int] = []
        self._single_ids: list[int] = []
        #: bytes of frames whose latest write is OTHER
        self._other: dict[int, PageArray] = {}
        #: the page-by-page path's write buffer, and the frame it is written through to
        self._buffer = np.zeros(PAGE_SIZE, dtype=np.uint8)
        self._pending = -1
        #: resolved table: frames written (sorted) and what each holds; None when stale
        self._table: tuple[PfnArray, PfnArray] | None = (_EMPTY, _EMPTY)

    # -- writing -----------------------------------------------------------------------------
    def _record(self, pfns: PfnArray, ids: PfnArray) -> None:
        self._flush_pending()
        self._flush_singles()
        for pfn in list(self._other):  # a frame or two (the handle's buffer)
            if (pfns == pfn).any():
                del self._other[pfn]
        self._chunks_pfns.append(np.asarray(pfns, dtype=np.int64))
        self._chunks_ids.append(np.asarray(ids, dtype=np.int64))
        self._table = None

    def _flush_singles(self) -> None:
        if self._single_pfns:
            self._chunks_pfns.append(np.array(self._single_pfns, dtype=np.int64))
            self._chunks_ids.append(np.array(self._single_ids, dtype=np.int64))
            self._single_pfns, self._single_ids = [], []

    def _flush_pending(self) -> None:
        """Spill the page-by-page buffer to the memory file, once its page is in it."""
        if self._pending >= 0:
            assert self.out is not None
            self.out.spill(self._buffer.reshape(1, PAGE_SIZE), np.array([self._pending]))
            self._pending = -1

    def load(self, pfns: PfnArray, ids: PfnArray, pages: PageArray | None = None) -> None:
        """Data pages ``ids[i]`` (whose bytes are ``pages[i]``) written into frames ``pfns[i]``."""
        self._record(pfns, ids)
        if self.out is not None and len(pfns):
            assert pages is not None
            self.out.spill(pages, ids)

    def load_frame(self, pfn: int, page_id: int) -> PageArray:
        """Data page ``page_id`` about to be written into frame ``pfn``: the buffer to write
        its 4096 bytes into (valid until the next write to this memory)."""
        self._flush_pending()
        self._single_pfns.append(pfn)
        self._single_ids.append(page_id)
        self._other.pop(pfn, None)
        self._table = None
        if self.out is not None:
            self._pending = page_id
        return self._buffer

    def zero_frame(self, pfn: int) -> None:
        """memset() frame ``pfn`` to zero (the page-by-page path's :meth:`zero`)."""
        self._flush_pending()
        self._single_pfns.append(pfn)
        self._single_ids.append(ZERO)
        self._other.pop(pfn, None)
        self._table = None

    def write_frame(self, pfn: int) -> PageArray:
        """A write of something that is no image data into frame ``pfn`` (the header, a
        metadata page): the frame's 4096 bytes to write through (:meth:`read_frame` reads them).
        """
        self._flush_pending()
        self._single_pfns.append(pfn)
        self._single_ids.append(OTHER)
        self._table = None
        page = self._other.get(pfn)
        if page is None:
            page = self._other[pfn] = np.zeros(PAGE_SIZE, dtype=np.uint8)
        return page

    def copy_pages(self, dst: PfnArray, src: PfnArray) -> None:
        """Copy frame ``src[i]`` to frame ``dst[i]`` for all i (sources and targets disjoint):
        each destination holds its source's identity."""
        ids = self.contents(src)
        other = {int(d): self._other[int(s)] for d, s in zip(dst[ids == OTHER], src[ids == OTHER],
                                                            strict=True)}
        self._record(dst, ids)
        self._other.update(other)

    def zero(self, pfns: PfnArray) -> None:
        """memset() the frames ``pfns`` to zero."""
        self._record(pfns, np.full(len(pfns), ZERO, dtype=np.int64))

    def poison(self, pfns: PfnArray) -> None:
        """The boot kernel's data in frames ``pfns`` (see ``poison_pages``)."""
        self._record(pfns, np.full(len(pfns), POISON, dtype=np.int64))

    # -- reading -----------------------------------------------------------------------------
    def _resolve(self) -> tuple[PfnArray, PfnArray]:
        """Frames written (sorted) and their latest identity; compacts the write log."""
        if self._table is None:
            self._flush_pending()
            self._flush_singles()
            self._table = _last_writes(self._chunks_pfns, self._chunks_ids)
            self._chunks_pfns, self._chunks_ids = [self._table[0]], [self._table[1]]
        return self._table

    def contents(self, pfns: PfnArray) -> PfnArray:
        """What frames ``pfns`` hold: a data page's number, or ZERO, POISON, OTHER."""
        return _lookup(*self._resolve(), np.asarray(pfns, dtype=np.int64))

    def read_frame(self, pfn: int) -> bytes:
        """The 4096 bytes of frame ``pfn``, when known: zeros, poison or what :meth:`write_frame`
        wrote (data pages stream through and are not kept: ValueError)."""
        what = int(self.contents(np.array([pfn]))[0])
        if what == OTHER:
            return self._other[pfn].tobytes()
        if what == ZERO:
            return bytes(PAGE_SIZE)
        if what == POISON:
            return poison_pages(np.array([pfn])).tobytes()
        raise ValueError(f"frame {pfn} holds data page {what}, whose bytes are not kept")

    # -- the memory file -----------------------------------------------------------------------
    def write_out(self, pfns: PfnArray) -> None:
        """Write frames ``pfns``' contents (the image frames, increasing, after the final
        copies) into the memory file, from the data pages spilled as they streamed through;
        every other frame stays a hole."""
        if self.out is not None:
            self._flush_pending()
            final = self.contents(pfns)
            self.out.write_frames(pfns, final, self._special_pages)

    def _special_pages(self, pfns: PfnArray, what: PfnArray) -> PageArray:
        """The bytes of frames that hold no data page: zeros, poison, or what was written."""
        pages = np.zeros((len(pfns), PAGE_SIZE), dtype=np.uint8)
        poisoned = what == POISON
        pages[poisoned] = poison_pages(pfns[poisoned])
        for row in np.flatnonzero(what == OTHER).tolist():
            pages[row] = self._other[int(pfns[row])]
        return pages


def _last_writes(pfns: list[PfnArray], ids: list[PfnArray]) -> tuple[PfnArray, PfnArray]:
    """The frames written (sorted) and the identity each was written last."""
    if not pfns:
        return _EMPTY, _EMPTY
    frames = np.concatenate(pfns) if len(pfns) > 1 else pfns[0]
    values = np.concatenate(ids) if len(ids) > 1 else ids[0]
    if not len(frames):
        return _EMPTY, _EMPTY
    if not (len(frames) < _ORDER_LIMIT and 0 <= frames.min() and frames.max() < _ORDER_LIMIT):
        # np.unique sorts stably and returns each value's first index: first in reverse = last
        unique, first = np.unique(frames[::-1], return_index=True)
        return unique, values[len(frames) - 1 - first]
    # One key per write, (frame, write number), sorted (an unstable sort of plain integers, a
    # few times faster than np.unique's stable argsort): each frame's last key is its last write.
    keys = frames.astype(np.uint64) << _ORDER_BITS
    keys |= np.arange(len(frames), dtype=np.uint64)
    keys.sort()
    written = keys >> _ORDER_BITS
    last = np.empty(len(keys), dtype=bool)
    last[-1] = True
    np.not_equal(written[1:], written[:-1], out=last[:-1])
    order = (keys[last] & np.uint64(_ORDER_LIMIT - 1)).astype(np.intp)
    return written[last].astype(np.int64), values[order]


def _lookup(frames: PfnArray, ids: PfnArray, pfns: PfnArray) -> PfnArray:
    """``ids`` of ``pfns`` in the sorted ``frames`` (ZERO where never written)."""
    at = np.searchsorted(frames, pfns)
    found = at < len(frames)
    found[found] = frames[at[found]] == pfns[found]
    out = np.full(len(pfns), ZERO, dtype=np.int64)
    out[found] = ids[at[found]]
    return out

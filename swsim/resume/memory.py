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

Writes are recorded in order, as (frames, identities) chunks of 32-bit integers (a pfn is
below 2^31: :data:`~swsim.machine.model.MAX_FRAMES` is 2^28), and resolved once, last write
wins, when the memory is read (:meth:`FrameMemory.contents`), by one sort of 64-bit keys (the
frame, then the write's position from the end): memory costs the writes made (about 8 bytes
per image page), not the frames the machine has, so a 1 TiB machine restoring a small image
allocates nothing per frame here. The final copies (``restore_pblist``) give
each destination the identity of its source, as a 4096-byte copy gives its bytes; verification
asks whether frame ``pfns[i]`` holds identity ``loaded[i]``.

``restore --memory-out`` writes each data page into its own image frame of a
:class:`~swsim.machine.memory_file.MemoryFile` as it streams through (zero pages stay holes):
that is the memory a correct restore leaves. Once the final copies are made,
:meth:`FrameMemory.write_out` rewrites the image frames whose identity differs from that (none
when verification passes) with what they hold, so the file is the memory these identities say,
byte for byte.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import BoolArray, PageArray, PfnArray
from swsim.machine.content import poison_pages
from swsim.machine.memory_file import MemoryFile

#: A frame that reads as zeros.
ZERO = -1
#: A frame holding the boot kernel's data (its poison pattern).
POISON = -2
#: A frame written with something that is no image data (header, metadata).
OTHER = -3

#: Frames and identities as the memory keeps them (see the module docstring).
IdArray = npt.NDArray[np.int32]

_EMPTY: IdArray = np.zeros(0, dtype=np.int32)
#: Bits of a resolve key below the frame: the write's position, counted from the last write.
_POSITION_BITS = 33


class FrameMemory:
    """``frames`` page frames, as the identities written into them (see the module docstring)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self._chunks_pfns: list[IdArray] = []
        #: each chunk's identities; or, as one int, the first of consecutive data pages (a
        #: batch's), or ZERO or POISON for every frame of the chunk
        self._chunks_ids: list[IdArray | int] = []
        # single writes (the page-by-page path), kept in order until the next chunk
        self._single_pfns: list[int] = []
        self._single_ids: list[int] = []
        #: bytes of frames whose latest write is OTHER
        self._other: dict[int, PageArray] = {}
        #: the page-by-page path's write buffer (the bytes stream through it)
        self._buffer = np.zeros(PAGE_SIZE, dtype=np.uint8)
        #: resolved table: frames written (sorted) and what each holds; None when stale
        self._table: tuple[IdArray, IdArray] | None = (_EMPTY, _EMPTY)

    # -- writing -----------------------------------------------------------------------------
    def _record(self, pfns: PfnArray | IdArray, ids: PfnArray | IdArray | int) -> None:
        self._flush_singles()
        for pfn in list(self._other):  # a frame or two (the handle's buffer)
            if (pfns == pfn).any():
                del self._other[pfn]
        self._chunks_pfns.append(np.asarray(pfns, dtype=np.int32))
        self._chunks_ids.append(ids if isinstance(ids, int) else np.asarray(ids, dtype=np.int32))
        self._table = None

    def _flush_singles(self) -> None:
        if self._single_pfns:
            self._chunks_pfns.append(np.array(self._single_pfns, dtype=np.int32))
            self._chunks_ids.append(np.array(self._single_ids, dtype=np.int32))
            self._single_pfns, self._single_ids = [], []

    def load(self, pfns: PfnArray | IdArray, ids: PfnArray | IdArray) -> None:
        """Data pages ``ids[i]`` written into frames ``pfns[i]``."""
        first = int(ids[0]) if len(ids) else -1
        consecutive = first >= 0 and (np.diff(ids) == 1).all()  # a batch: only its first kept
        self._record(pfns, first if consecutive else ids)

    def load_frame(self, pfn: int, page_id: int) -> PageArray:
        """Data page ``page_id`` about to be written into frame ``pfn``: the buffer to write
        its 4096 bytes into (valid until the next write to this memory)."""
        self._single_pfns.append(pfn)
        self._single_ids.append(page_id)
        self._other.pop(pfn, None)
        self._table = None
        return self._buffer

    def zero_frame(self, pfn: int) -> None:
        """memset() frame ``pfn`` to zero (the page-by-page path's :meth:`zero`)."""
        self._single_pfns.append(pfn)
        self._single_ids.append(ZERO)
        self._other.pop(pfn, None)
        self._table = None

    def write_frame(self, pfn: int) -> PageArray:
        """A write of something that is no image data into frame ``pfn`` (the header, a
        metadata page): the frame's 4096 bytes to write through (:meth:`read_frame` reads them).
        """
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
        if len(dst) > 1 and (np.diff(dst) > 0).all():
            for pfn in list(self._other):
                if (dst == pfn).any():
                    del self._other[pfn]
            self._table = _merged(*self._resolve(), dst.astype(np.int32), ids)
            self._chunks_pfns, self._chunks_ids = [self._table[0]], [self._table[1]]
        else:
            self._record(dst, ids)
        self._other.update(other)

    def zero(self, pfns: PfnArray) -> None:
        """memset() the frames ``pfns`` to zero."""
        self._record(pfns, ZERO)

    def poison(self, pfns: PfnArray) -> None:
        """The boot kernel's data in frames ``pfns`` (see ``poison_pages``)."""
        self._record(pfns, POISON)

    # -- reading -----------------------------------------------------------------------------
    def _resolve(self) -> tuple[IdArray, IdArray]:
        """Frames written (sorted) and their latest identity; compacts the write log."""
        if self._table is None:
            self._flush_singles()
            self._table = _last_writes(self._chunks_pfns, self._chunks_ids)
            self._chunks_pfns, self._chunks_ids = [self._table[0]], [self._table[1]]
        return self._table

    def contents(self, pfns: PfnArray | IdArray) -> IdArray:
        """What frames ``pfns`` hold: a data page's number, or ZERO, POISON, OTHER."""
        return _lookup(*self._resolve(), np.asarray(pfns, dtype=np.int32))

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
    def write_out(self, out: MemoryFile, pfns: PfnArray, zero: BoolArray) -> None:
        """Make ``out`` hold the contents of the image frames ``pfns`` (increasing; ``zero``:
        the zero pages), after the final copies.

        As the data streamed through, data page ``k`` was written into the frame of the
        ``k``-th image page that is no zero page, and zero pages' frames were left holes
        (zeros): the memory of a correct restore. The frames whose identity differs from that
        (a misplaced, lost or doubled page; none when verification passes) are rewritten with
        what they hold: a data page read back from the frame it was written into (all of them
        read before any is written over), zeros, poison or the bytes written. Every frame that
        is no image frame stays a hole.
        """
        held = self.contents(pfns)
        streamed = np.full(len(pfns), ZERO, dtype=np.int32)
        data = ~zero
        streamed[data] = np.arange(int(data.sum()), dtype=np.int32)
        wrong = np.flatnonzero(held != streamed)
        if not len(wrong):
            return
        frames, what = pfns[wrong], held[wrong].astype(np.int64)
        pages = self._special_pages(frames, what)
        moved = what >= 0
        pages[moved] = out.read(pfns[data][what[moved]])
        out.write(frames, pages)

    def _special_pages(self, pfns: PfnArray, what: PfnArray) -> PageArray:
        """The bytes of frames that hold no data page: zeros, poison, or what was written."""
        pages = np.zeros((len(pfns), PAGE_SIZE), dtype=np.uint8)
        poisoned = what == POISON
        pages[poisoned] = poison_pages(pfns[poisoned])
        for row in np.flatnonzero(what == OTHER).tolist():
            pages[row] = self._other[int(pfns[row])]
        return pages


def _last_writes(pfns: list[IdArray], ids: list[IdArray | int]) -> tuple[IdArray, IdArray]:
    """The frames written (sorted) and the identity each was written last.

    One sort of 64-bit keys, ``frame << 33 | writes after this one``: a frame's first key is
    its last write (less memory and time than a stable argsort of the frames)."""
    nr_writes = sum(len(chunk) for chunk in pfns)
    if not nr_writes:
        return _EMPTY, _EMPTY
    assert nr_writes < 1 << _POSITION_BITS
    keys = np.empty(nr_writes, dtype=np.int64)
    at = 0
    for chunk in pfns:
        part = keys[at : at + len(chunk)]
        part[:] = chunk
        part <<= _POSITION_BITS
        part += np.arange(nr_writes - 1 - at, nr_writes - 1 - at - len(chunk), -1)
        at += len(chunk)
    keys.sort()
    frames = (keys >> _POSITION_BITS).astype(np.int32)
    last = np.ones(nr_writes, dtype=bool)
    np.not_equal(frames[1:], frames[:-1], out=last[1:])
    keys = keys[last]
    keys &= (1 << _POSITION_BITS) - 1  # writes after the last write: from the end
    values = np.empty(nr_writes, dtype=np.int32)
    at = 0
    for chunk, written in zip(pfns, ids, strict=True):
        if isinstance(written, int) and written >= 0:
            values[at : at + len(chunk)] = np.arange(written, written + len(chunk))
        else:
            values[at : at + len(chunk)] = written
        at += len(chunk)
    return frames[last], values[nr_writes - 1 - keys]


def _merged(
    frames: IdArray, ids: IdArray, pfns: IdArray, written: IdArray
) -> tuple[IdArray, IdArray]:
    """The resolved table ``(frames, ids)`` after ``written[i]`` is written into ``pfns[i]``
    (strictly increasing): what :func:`_last_writes` of the table and that write gives, merged
    in place of a sort (the final copies of a restore write every image frame at once)."""
    at = np.searchsorted(frames, pfns)
    old = at < len(frames)
    old[old] = frames[at[old]] == pfns[old]
    ids[at[old]] = written[old]  # frames written before: the copy is their last write
    new = ~old
    return np.insert(frames, at[new], pfns[new]), np.insert(ids, at[new], written[new])


def _lookup(frames: IdArray, ids: IdArray, pfns: IdArray) -> IdArray:
    """``ids`` of ``pfns`` in the sorted ``frames`` (ZERO where never written)."""
    at = np.searchsorted(frames, pfns)
    found = at < len(frames)
    found[found] = frames[at[found]] == pfns[found]
    out = np.full(len(pfns), ZERO, dtype=np.int32)
    out[found] = ids[at[found]]
    return out

"""``snapshot_write_next()``: an image fed to a strategy one page (or one batch) at a time.

:class:`SnapshotWriteHandle` follows the handle protocol of kernel/power/snapshot.c: each call
returns the buffer the next image page must be read into; the call after that processes the
page. Header and metadata pages go into the strategy's buffer page (a real simulated frame);
data pages go wherever the strategy's ``get_buffer()`` says.

Departure: the kernel's ``load_header()`` parses the header page from the buffer and calls
``check_header()``; swsim's image source has parsed and validated the header before anything
was allocated (:class:`~swsim.image.info.ImageInfo`), and the restore has checked the machine
against it before the boot context existed (:func:`swsim.resume.restore.check_image_kernel`),
so the handle's ``load_header()`` hands that info to the strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

import numpy as np

from swsim.errors import ImageError, MachineMismatch, RestoreNoMemory
from swsim.image.checks import check_pfns
from swsim.image.info import ImageInfo
from swsim.image.meta import decode_meta_page
from swsim.kernel.constants import PFNS_PER_META_PAGE
from swsim.kernel.types import BoolArray, PageArray, PfnArray
from swsim.resume.memory import IdArray
from swsim.resume.readers import Reader
from swsim.resume.strategies.base import Strategy

#: Called as ``trace(index, pfn, frame)`` for each ``get_buffer()`` of the page-by-page path.
Tracer = Callable[[int, int, int], None]


class ImagePfns:
    """Where an image's ``image_pages`` pages belong, in image order, as its metadata says:
    their original pfns, which are zero pages (ENCODED_PFN_ZERO_FLAG) and, once the metadata
    is all in, the image indices of the data pages.

    Every restore of one pass over an image (``swsim compare``) unpacks the same metadata and
    checks it against the same machine, so the handles of a pass share one copy: the bulk of
    the metadata is unpacked and checked once, by the first handle that gets to it
    (:meth:`SnapshotWriteHandle.write_meta`); a page unpacked on its own
    (:meth:`SnapshotWriteHandle.unpack_orig_pfns`) is checked and written by every handle,
    with the same values. Nothing else writes into it.
    """

    def __init__(self, image_pages: int) -> None:
        self.pfns: PfnArray = np.zeros(image_pages, dtype=np.int64)
        self.zero: BoolArray = np.zeros(image_pages, dtype=bool)
        #: leading image pages whose pfns a handle has unpacked and checked at once
        #: (:meth:`SnapshotWriteHandle.write_meta`): the others skip them
        self.unpacked = 0
        self._data_index: PfnArray | None = None

    def data_index(self) -> PfnArray:
        """The image indices of the data pages (once every metadata page is unpacked)."""
        if self._data_index is None:
            self._data_index = np.flatnonzero(~self.zero)
        return self._data_index


class SnapshotWriteHandle:
    """Feed an image described by ``info`` to a strategy one page at a time
    (``snapshot_write_next``).

    Zero pages (v6.6+): every image page, zero or not, gets its buffer from the strategy's
    ``get_buffer()``, in image order; a zero page's buffer is zero-filled (memset) and the handle
    moves on to the next image page without asking the caller for data, as the kernel's
    ``goto next``. Trailing zero pages are processed by the call after the last data page, or by
    :meth:`snapshot_write_finalize` when the caller stops early (what kernels before v7.0 leave
    to ``load_image()``'s last ``snapshot_write_next()`` call; commit 734eba62cd32, v7.0-rc6,
    moved the drain into ``snapshot_write_finalize()``: the counts are the same).
    """

    def __init__(
        self,
        strategy: Strategy,
        info: ImageInfo,
        reader: Reader | None = None,
        image: ImagePfns | None = None,
    ) -> None:
        self.strategy = strategy
        self.ctx = strategy.ctx
        self.info = info
        #: the image reader whose pages are allocated and freed around the handle's calls
        self.reader = reader if reader is not None else Reader(self.ctx, info, "6.x")
        self.ctx.stats.reader = self.reader.name
        self.cur = 0  # pages already handed out
        self.pfns: PfnArray = np.zeros(0, dtype=np.int64)
        #: which image pages are zero pages (ENCODED_PFN_ZERO_FLAG), in image order
        self.zero: BoolArray = np.zeros(0, dtype=bool)
        #: the pfns and zero flags, shared with the other handles of a pass (made at
        #: load_header() when not given)
        self.image = image
        #: data pages handed a buffer so far (the next data page's number; see :attr:`loaded`)
        self.nr_loaded = 0
        self.buffer = -1
        #: the next image page (data or zero) to get a buffer for
        self.index = 0
        self.prepared = False
        #: page-by-page path: called for each get_buffer() (``--trace``)
        self.trace: Tracer | None = None
        #: batched path: image indices of the data pages, and how many were loaded
        self._data_index: PfnArray = np.zeros(0, dtype=np.int64)
        self._data_done = 0

    def _write_frame(self, pfn: int) -> PageArray:
        """The buffer through which the next page is written into frame ``pfn``."""
        return self.ctx.memory.write_frame(pfn)

    def snapshot_write_next(self) -> PageArray | None:
        """Process the page written into the last buffer; return the next buffer (or None).

        Page 0 is the header, pages 1..nr_meta_pages the metadata, then the data pages.
        """
        done = self.cur
        self.cur += 1
        if done == 0:
            self.buffer = self.strategy.alloc_buffer()
            self.check_memory("buffer")
            self.reader.get_swap_reader()
            self.check_memory("get_swap_reader")
            return self._write_frame(self.buffer)
        self._process(done - 1)
        if done <= self.info.nr_meta_pages:
            return self._write_frame(self.buffer)
        return self._next_data_buffer()

    def _process(self, written: int) -> None:
        """The header or metadata page ``written`` is in the buffer: act on it."""
        if written == 0:
            self.load_header()
        if 1 <= written <= self.info.nr_meta_pages:
            self.unpack_orig_pfns(written - 1)
            self.reader.consumed(written)
        if written == self.info.nr_meta_pages:
            self.prepare_image()

    # -- the batched path: same calls, same order, many pages at a time --------------------
    def write_meta(self, pages: list[bytes]) -> None:
        """The header is in the buffer; load it and the metadata ``pages`` as one
        :meth:`snapshot_write_next` per page would, and leave the last page in the buffer for
        :meth:`start_data` to process.

        The pfns of all but the last page are unpacked and checked at once (once for all the
        handles of a pass: the same pages, checked against the same machine); if any of them is
        refused, the pages are processed one by one instead, for the very error the page-by-page
        path gives.
        """
        buffer = self.snapshot_write_next()  # loads the header
        assert buffer is not None
        if len(pages) != self.info.nr_meta_pages:
            raise ImageError("truncated image: metadata pages missing")
        bulk = pages[:-1]
        count = len(bulk) * PFNS_PER_META_PAGE
        assert self.image is not None
        if self.image.unpacked < count:  # else a handle of this pass did, from these pages
            pfns, zero = decode_meta_page(b"".join(bulk), count)
            try:
                self._check_orig_pfns(pfns, zero, -1)
            except (ImageError, MachineMismatch):
                for page in bulk:  # one by one: the page-by-page path's very error
                    buffer[:] = np.frombuffer(page, dtype=np.uint8)
                    buffer = self.snapshot_write_next()
                    assert buffer is not None
                raise AssertionError("metadata refused at once but accepted page by page") from None
            self.pfns[:count] = pfns
            self.zero[:count] = zero
            self.image.unpacked = count
        self.cur += len(bulk)
        self.reader.consumed(len(bulk))
        buffer[:] = np.frombuffer(pages[-1], dtype=np.uint8)

    def start_data(self) -> None:
        """Process the last metadata page (so ``prepare_image()`` runs), as the next
        :meth:`snapshot_write_next` would, without asking for the first data buffer."""
        done = self.cur
        self.cur += 1
        self._process(done - 1)
        assert self.image is not None
        self._data_index = self.image.data_index()
        self._data_done = 0

    def write_data(self, batch: PageArray) -> None:
        """Load the next ``len(batch)`` data pages and the zero pages before each of them.

        One ``get_buffers()`` call for the image pages they span, then one load of the data
        into the frames it returned (the memory records which data page each frame holds,
        :mod:`swsim.resume.memory`) and one memset of the zero pages' frames.
        """
        start, stop = self._data_span(len(batch))
        dest = self.strategy.get_buffers(start, stop, self.pfns)
        data = ~self.zero[start:stop]
        memory = self.ctx.memory
        ids = np.arange(self.nr_loaded, self.nr_loaded + len(batch), dtype=np.int32)
        self.nr_loaded += len(batch)
        memory.load(dest[data], ids)
        if not data.all():
            memory.zero(dest[~data])
        self.index = stop
        self.reader.consumed(self.info.nr_meta_pages + self._data_done)

    def skip_data(self, nr_pages: int) -> None:
        """Counts only: run the strategy over the next ``nr_pages`` data pages (and the zero
        pages before them) without loading anything."""
        start, stop = self._data_span(nr_pages)
        if self.trace is None:
            self.strategy.get_buffers(start, stop, self.pfns)
        else:  # --trace: every page, in the order get_buffer() places it
            for index in range(start, stop):
                pfn = int(self.pfns[index])
                self.trace(index, pfn, self.strategy.get_buffer(index, pfn))
        self.index = stop
        self.reader.consumed(self.info.nr_meta_pages + self._data_done)

    def _data_span(self, nr_pages: int) -> tuple[int, int]:
        """Image pages ``[start, stop)``: the next ``nr_pages`` data pages and the zero pages
        before them."""
        self._data_done += nr_pages
        if self._data_done > len(self._data_index):
            raise ImageError("corrupted image: more data pages than the metadata lists")
        stop = int(self._data_index[self._data_done - 1]) + 1 if nr_pages else self.index
        return self.index, stop

    def _next_data_buffer(self) -> PageArray | None:
        """Buffers for the next image pages: memset zero pages, stop at the next data page."""
        while self.index < len(self.pfns):
            index = self.index
            self.index += 1
            pfn = int(self.pfns[index])
            dest = self.strategy.get_buffer(index, pfn)
            if self.trace is not None:
                self.trace(index, pfn, dest)
            if not self.zero[index]:
                page_id = self.nr_loaded
                self.nr_loaded += 1
                self.reader.consumed(self.info.nr_meta_pages + self.nr_loaded)
                return self.ctx.memory.load_frame(dest, page_id)
            self.ctx.memory.zero_frame(dest)
        return None

    def snapshot_write_finalize(self) -> None:
        """``snapshot_write_finalize()``: drain trailing zero pages, then the strategy's part."""
        if self.prepared and self._next_data_buffer() is not None:
            raise ImageError("truncated image: data pages missing before the trailer")
        self.strategy.snapshot_write_finalize()
        self.reader.finish()
        if not self.snapshot_image_loaded():
            raise ImageError(
                "image has no data page (every page is a zero page): the kernel refuses it "
                "(snapshot_image_loaded() is false, load_image() returns -ENODATA)"
            )

    @property
    def loaded(self) -> IdArray:
        """Which data page (its number in the image's data) each image page was loaded as
        (-1: a zero page, or not loaded); verification looks for it in the page's frame.

        Both paths hand out the data pages' buffers in image order and number each page as it
        gets its buffer (``nr_loaded``), so the ``k``-th data page of the image, and only it,
        was loaded as number ``k``, for ``k < nr_loaded``: the array is made when asked for,
        not kept (a word per image page for each restore of a pass)."""
        assert self.image is not None
        loaded = np.full(len(self.pfns), -1, dtype=np.int32)
        loaded[self.image.data_index()[: self.nr_loaded]] = np.arange(self.nr_loaded)
        return loaded

    def snapshot_image_loaded(self) -> bool:
        """``snapshot_image_loaded()``: false when ``nr_copy_pages`` (the data pages) is 0."""
        return self.info.nr_data_pages > 0

    def load_header(self) -> None:
        """``load_header()``: size the pfn arrays and let the strategy set up (see the module
        docstring for where the header was checked)."""
        image_pages = self.info.image_pages
        if self.image is None:
            self.image = ImagePfns(image_pages)
        self.pfns, self.zero = self.image.pfns, self.image.zero
        self.strategy.load_header(self.info)
        self.check_memory("load_header")
        self.reader.after_load_header()

    def unpack_orig_pfns(self, meta_index: int) -> None:
        """Unpack metadata page ``meta_index`` from the buffer and check every pfn.

        The kernel refuses invalid pfns ("Memory map mismatch", -EFAULT); swsim also refuses
        pfns that do not strictly increase (duplicates) and pfns the boot kernel reserved.
        """
        start = meta_index * PFNS_PER_META_PAGE
        count = min(PFNS_PER_META_PAGE, self.info.image_pages - start)
        pfns, zero = decode_meta_page(self.ctx.memory.read_frame(self.buffer), count)
        self._check_orig_pfns(pfns, zero, int(self.pfns[start - 1]) if start else -1)
        self.pfns[start : start + count] = pfns
        self.zero[start : start + count] = zero

    def _check_orig_pfns(self, pfns: PfnArray, zero: BoolArray, previous: int) -> None:
        """Refuse metadata pfns: zero-page flags without the header flag, pfns out of range or
        not increasing after ``previous``, pfns the boot kernel reserved."""
        if zero.any() and not self.info.zero_page_flags:
            raise ImageError(
                "corrupted image: zero-page flag in the metadata of an image without zero pages"
            )
        check_pfns(pfns, previous, self.ctx.frames)  # so they increase
        reserved = self.ctx.machine.first_reserved(pfns)
        if reserved >= 0:
            raise MachineMismatch(
                f"Memory map mismatch: image pfn {reserved} is reserved on this machine at boot"
            )

    def prepare_image(self) -> None:
        """Check the zero pages against the header, then the strategy's ``prepare_image()``."""
        nr_zero = int(np.count_nonzero(self.zero))
        if nr_zero != self.info.nr_zero_pages:
            raise ImageError(
                f"corrupted image: {nr_zero} zero pages in the metadata, "
                f"the header says {self.info.nr_zero_pages}"
            )
        self.prepared = True
        self.ctx.poison_boot_frames(self.pfns)
        self.strategy.prepare_image(self.pfns)
        self.check_memory("prepare_image")

    def check_memory(self, phase: str) -> None:
        """-ENOMEM once the allocator has run dry (the frames it lacked are counted)."""
        missing = self.ctx.stats.missing
        if missing:
            raise RestoreNoMemory(self.strategy.name, missing, phase, self.ctx.stats)


TRACE_HEADER = b"# index\tpfn\tzero\tframe\tload\n"


def page_tracer(out: BinaryIO, handle: SnapshotWriteHandle) -> Tracer:
    """``--trace``: a line per image page, in the order ``get_buffer()`` is called: its index,
    original pfn, whether it is a zero page, the frame it is read into and ``direct`` (its own
    frame) or ``safe`` (a safe page, copied at the end)."""
    out.write(TRACE_HEADER)

    def line(index: int, pfn: int, frame: int) -> None:
        load = "direct" if frame == pfn else "safe"
        out.write(f"{index}\t{pfn}\t{int(handle.zero[index])}\t{frame}\t{load}\n".encode())

    return line

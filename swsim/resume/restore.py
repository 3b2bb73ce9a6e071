"""The restore side: ``snapshot_write_next()`` feeding a strategy, the final copies, verification.

:class:`SnapshotWriteHandle` follows the handle protocol of kernel/power/snapshot.c: each call
returns the buffer the next image page must be read into; the call after that processes the
page. Header and metadata pages go into the strategy's buffer page (a real simulated frame);
data pages go wherever the strategy's ``get_buffer()`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from swsim.kernel.constants import (
    FLAG_NO_DATA,
    FLAG_ZERO_PAGES,
    PFNS_PER_META_PAGE,
)
from swsim.errors import ImageError, MachineMismatch, RestoreNoMemory, UsageError
from swsim.image.header import ImageHeader, decode_meta_page
from swsim.image.checks import ImageChecks, check_pfns
from swsim.machine.model import FRAME_RESERVED, Machine
from swsim.resume.memory import ZERO_SLOT
from swsim.machine.presets import default_allocator
from swsim.progress import ProgressFactory, no_progress
from swsim.resume.context import RestoreStats, ResumeContext
from swsim.resume.strategies import STRATEGIES, Strategy
from swsim.image.reader import CheckedImage, auth_failures, open_checked_image
from swsim.image.worker import read_ahead
from swsim.kernel.zones import zone_stats


def check_header(header: ImageHeader, machine: Machine) -> None:
    """``check_header()`` / ``check_image_kernel()``: refuse an image of another machine."""
    if header.num_physpages != machine.frames:
        raise MachineMismatch(
            f"Image mismatch: memory size (image made on {header.num_physpages} frames, "
            f"this machine has {machine.frames})"
        )


class SnapshotWriteHandle:
    """Feed an image to a strategy one page at a time (``snapshot_write_next``).

    Zero pages (v6.6+): every image page, zero or not, gets its buffer from the strategy's
    ``get_buffer()``, in image order; a zero page's buffer is zero-filled (memset) and the handle
    moves on to the next image page without asking the caller for data, as the kernel's
    ``goto next``. Trailing zero pages are processed by the call after the last data page, or by
    :meth:`snapshot_write_finalize` (kernel commit 734eba62cd32) when the caller stops early.
    """

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.ctx = strategy.ctx
        self.cur = 0  # pages already handed out
        self.header: ImageHeader | None = None
        self.pfns = np.zeros(0, dtype=np.int64)
        #: which image pages are zero pages (ENCODED_PFN_ZERO_FLAG), in image order
        self.zero = np.zeros(0, dtype=bool)
        #: the memory slot each data page was loaded into (-1: a zero page, or not yet loaded)
        self.loaded = np.zeros(0, dtype=np.int64)
        self.buffer = -1
        #: the next image page (data or zero) to get a buffer for
        self.index = 0
        self.prepared = False
        #: page-by-page path: called as ``trace(index, pfn, frame)`` for each get_buffer()
        self.trace: Callable[[int, int, int], None] | None = None
        #: batched path: image indices of the data pages, and how many were loaded
        self._data_index = np.zeros(0, dtype=np.int64)
        self._data_done = 0

    def _write_frame(self, pfn: int) -> np.ndarray:
        """The buffer through which the next page is written into frame ``pfn``."""
        return self.ctx.memory.write_frame(pfn)[0]

    def snapshot_write_next(self) -> np.ndarray | None:
        """Process the page written into the last buffer; return the next buffer (or None).

        Page 0 is the header, pages 1..nr_meta_pages the metadata, then the data pages.
        """
        done = self.cur
        self.cur += 1
        if done == 0:
            self.buffer = self.strategy.alloc_buffer()
            self.check_memory("buffer")
            return self._write_frame(self.buffer)
        self._process(done - 1)
        assert self.header is not None
        if done <= self.header.nr_meta_pages:
            return self._write_frame(self.buffer)
        return self._next_data_buffer()

    def _process(self, written: int) -> None:
        """The header or metadata page ``written`` is in the buffer: act on it."""
        if written == 0:
            self.load_header(self.ctx.memory.read_frame(self.buffer))
        header = self.header
        assert header is not None
        if 1 <= written <= header.nr_meta_pages:
            self.unpack_orig_pfns(written - 1)
        if written == header.nr_meta_pages:
            self.prepare_image()

    # -- the batched path: same calls, same order, many pages at a time --------------------
    def write_meta(self, pages: list[bytes]) -> None:
        """The header is in the buffer; load it and the metadata ``pages`` as one
        :meth:`snapshot_write_next` per page would, and leave the last page in the buffer for
        :meth:`start_data` to process.

        The pfns of all but the last page are unpacked and checked at once; if any of them is
        refused, the pages are processed one by one instead, for the very error the page-by-page
        path gives.
        """
        buffer = self.snapshot_write_next()  # loads the header
        assert buffer is not None and self.header is not None
        if len(pages) != self.header.nr_meta_pages:
            raise ImageError("truncated image: metadata pages missing")
        bulk = pages[:-1]
        count = len(bulk) * PFNS_PER_META_PAGE
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
        self.cur += len(bulk)
        buffer[:] = np.frombuffer(pages[-1], dtype=np.uint8)

    def start_data(self) -> None:
        """Process the last metadata page (so ``prepare_image()`` runs), as the next
        :meth:`snapshot_write_next` would, without asking for the first data buffer."""
        done = self.cur
        self.cur += 1
        self._process(done - 1)
        self._data_index = np.flatnonzero(~self.zero)
        self._data_done = 0

    def write_data(self, batch: np.ndarray) -> None:
        """Load the next ``len(batch)`` data pages and the zero pages before each of them.

        One ``get_buffers()`` call for the image pages they span, then one load of the data
        into the frames it returned (no copy when ``batch`` was read into reserved slots,
        :meth:`swsim.resume.memory.FrameMemory.reserve`) and one memset of the zero pages' frames.
        """
        start, stop = self._data_span(len(batch))
        dest = self.strategy.get_buffers(start, stop, self.pfns)
        data = ~self.zero[start:stop]
        memory = self.ctx.memory
        self.loaded[start:stop][data] = memory.load(dest[data], batch)
        if not data.all():
            memory.zero(dest[~data])
        self.index = stop

    def skip_data(self, nr_pages: int) -> None:
        """``--no-data``: run the strategy over the next ``nr_pages`` data pages (and the zero
        pages before them) without loading anything."""
        start, stop = self._data_span(nr_pages)
        self.strategy.get_buffers(start, stop, self.pfns)
        self.index = stop

    def _data_span(self, nr_pages: int) -> tuple[int, int]:
        """Image pages ``[start, stop)``: the next ``nr_pages`` data pages and the zero pages
        before them."""
        self._data_done += nr_pages
        if self._data_done > len(self._data_index):
            raise ImageError("corrupted image: more data pages than the metadata lists")
        stop = int(self._data_index[self._data_done - 1]) + 1 if nr_pages else self.index
        return self.index, stop

    def _next_data_buffer(self) -> np.ndarray | None:
        """Buffers for the next image pages: memset zero pages, stop at the next data page."""
        while self.index < len(self.pfns):
            index = self.index
            self.index += 1
            pfn = int(self.pfns[index])
            dest = self.strategy.get_buffer(index, pfn)
            if self.trace is not None:
                self.trace(index, pfn, dest)
            if not self.zero[index]:
                frame, self.loaded[index] = self.ctx.memory.write_frame(dest)
                return frame
            self.ctx.memory.zero(np.array([dest]))
        return None

    def snapshot_write_finalize(self) -> None:
        """``snapshot_write_finalize()``: drain trailing zero pages, then the strategy's part."""
        if self.prepared and self._next_data_buffer() is not None:
            raise ImageError("truncated image: data pages missing before the trailer")
        self.strategy.snapshot_write_finalize()

    def load_header(self, page: bytes) -> None:
        header = ImageHeader.unpack(page)
        if header.image_pages == 0:
            raise ImageError("corrupted image: it holds no pages")
        check_header(header, self.ctx.machine)
        self.header = header
        self.pfns = np.zeros(header.image_pages, dtype=np.int64)
        self.zero = np.zeros(header.image_pages, dtype=bool)
        self.loaded = np.full(header.image_pages, -1, dtype=np.int64)
        self.strategy.load_header(header)
        self.check_memory("load_header")

    def unpack_orig_pfns(self, meta_index: int) -> None:
        """Unpack metadata page ``meta_index`` from the buffer and check every pfn.

        The kernel refuses invalid pfns ("Memory map mismatch", -EFAULT); swsim also refuses
        pfns that do not strictly increase (duplicates) and pfns the boot kernel reserved.
        """
        assert self.header is not None
        start = meta_index * PFNS_PER_META_PAGE
        count = min(PFNS_PER_META_PAGE, self.header.image_pages - start)
        pfns, zero = decode_meta_page(self.ctx.memory.read_frame(self.buffer), count)
        self._check_orig_pfns(pfns, zero, int(self.pfns[start - 1]) if start else -1)
        self.pfns[start : start + count] = pfns
        self.zero[start : start + count] = zero

    def _check_orig_pfns(self, pfns: np.ndarray, zero: np.ndarray, previous: int) -> None:
        """Refuse metadata pfns: zero-page flags without the header flag, pfns out of range or
        not increasing after ``previous``, pfns the boot kernel reserved."""
        assert self.header is not None
        if zero.any() and not self.header.flags & FLAG_ZERO_PAGES:
            raise ImageError(
                "corrupted image: zero-page flag in the metadata of an image without zero pages"
            )
        check_pfns(pfns, previous, self.ctx.frames)
        reserved = self.ctx.boot_state[pfns] == FRAME_RESERVED
        if reserved.any():
            raise MachineMismatch(
                f"Memory map mismatch: image pfn {int(pfns[reserved][0])} is reserved "
                "on this machine at boot"
            )

    def prepare_image(self) -> None:
        assert self.header is not None
        if int(self.zero.sum()) != self.header.nr_zero_pages:
            raise ImageError(
                f"corrupted image: {int(self.zero.sum())} zero pages in the metadata, "
                f"the header says {self.header.nr_zero_pages}"
            )
        self.prepared = True
        self.ctx.poison_boot_frames(self.pfns)
        self.strategy.prepare_image(self.pfns)
        self.check_memory("prepare_image")

    def check_memory(self, phase: str) -> None:
        missing = self.ctx.stats.missing
        if missing:
            raise RestoreNoMemory(self.strategy.name, missing, phase)


TRACE_HEADER = b"# index\tpfn\tzero\tframe\tload\n"


def page_tracer(out: BinaryIO, handle: SnapshotWriteHandle) -> Callable[[int, int, int], None]:
    """``--trace``: a line per image page, in the order ``get_buffer()`` is called: its index,
    original pfn, whether it is a zero page, the frame it is read into and ``direct`` (its own
    frame) or ``safe`` (a safe page, copied at the end)."""
    out.write(TRACE_HEADER)

    def line(index: int, pfn: int, frame: int) -> None:
        load = "direct" if frame == pfn else "safe"
        out.write(f"{index}\t{pfn}\t{int(handle.zero[index])}\t{frame}\t{load}\n".encode())

    return line


def verify_memory(
    ctx: ResumeContext, pfns: np.ndarray, zero: np.ndarray, loaded: np.ndarray
) -> bool:
    """Does every image pfn hold exactly its page?

    ``loaded[i]`` is the memory slot image page ``i`` was loaded into (by ``get_buffer()``'s
    frame). Slots are write-once (:mod:`swsim.resume.memory`), so frame ``pfns[i]`` holds exactly the
    bytes of data page ``i`` when it maps to that very slot, wherever the page went on the way
    (its own frame, or a safe page and the final copy); a zero page's frame must read as zeros.
    """
    slots = ctx.memory.slot[pfns]
    data = ~zero
    return bool(
        (loaded[data] >= 0).all()
        and (slots[data] == loaded[data]).all()
        and (slots[zero] == ZERO_SLOT).all()
    )


def restore_image(stream: BinaryIO, *args: Any, **kwargs: Any) -> RestoreStats:
    """Restore the image read from ``stream`` and return what it cost.

    The arguments are those of :func:`restore_with_context`, which also returns the boot-time
    context and the image pfns.
    """
    return restore_with_context(stream, *args, **kwargs)[0]


def restore_with_context(
    stream: BinaryIO,
    strategy: str = "safe-list",
    machine: Machine | None = None,
    allocator: str | None = None,
    seed: int = 0,
    key: bytes | None = None,
    checks: ImageChecks | None = None,
    page_by_page: bool = False,
    no_data: bool = False,
    progress: ProgressFactory = no_progress,
    trace: BinaryIO | None = None,
) -> tuple[RestoreStats, ResumeContext, np.ndarray]:
    """Restore the image read from ``stream`` (raw or zstd) with ``strategy``.

    ``machine`` gives the boot-time state to restore on; by default the machine the image was
    made on (recorded in its header). ``allocator`` defaults to the preset's
    (:func:`swsim.machine.presets.default_allocator`). With ``key`` the image must be signed with it
    (HMAC); every image error is then an :class:`~swsim.errors.AuthError`. Every check (block
    CRCs, digest, MAC) passes before the final copies. ``checks``, if given, is filled with what
    was checked. ``page_by_page`` feeds the handle one page per call (the kernel's protocol);
    ``no_data`` counts without loading. ``trace``, a binary stream, receives one line per image
    page as ``get_buffer()`` places it (page by page). Returns the counts, the boot-time context
    and the image pfns; raises :class:`swsim.errors.SwsimError` subclasses.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})")
    with auth_failures(key):
        image = open_checked_image(stream, key, checks)
        try:
            return _restore_checked(
                image, strategy, machine, allocator, seed, page_by_page, no_data, progress, trace
            )
        except (MachineMismatch, RestoreNoMemory):
            if key is not None:
                image.authenticate_rest()  # forged metadata is an authentication failure
            raise


def _restore_checked(
    image: CheckedImage,
    strategy: str,
    machine: Machine | None,
    allocator: str | None,
    seed: int,
    page_by_page: bool,
    no_data: bool,
    progress: ProgressFactory,
    trace: BinaryIO | None,
) -> tuple[RestoreStats, ResumeContext, np.ndarray]:
    header = image.header
    if machine is not None:
        check_header(header, machine)
    target = header.machine if machine is None else header.machine.with_boot_of(machine)
    if allocator is None:
        allocator = default_allocator(header.machine if machine is None else machine)
    stats = RestoreStats(
        strategy=strategy,
        allocator=allocator,
        image_pages=header.image_pages,
        meta_pages=header.nr_meta_pages,
        data_pages=header.nr_data_pages,
        zero_pages=header.nr_zero_pages,
    )
    ctx = ResumeContext(target, stats, allocator, seed)
    if not (no_data or header.flags & FLAG_NO_DATA):
        # Fault in the slots of the header, metadata and data pages while the metadata is read.
        ctx.memory.prefault(1 + header.nr_meta_pages + header.nr_stored_pages)
    handle = SnapshotWriteHandle(STRATEGIES[strategy](ctx))
    if trace is not None:
        page_by_page = True
        handle.trace = page_tracer(trace, handle)
    first = handle.snapshot_write_next()
    assert first is not None
    first[:] = np.frombuffer(image.header_page, dtype=np.uint8)
    meta: list[bytes] = []
    if page_by_page:
        for page in image.iter_meta_pages():
            buf = handle.snapshot_write_next()
            assert buf is not None
            buf[:] = np.frombuffer(page, dtype=np.uint8)
    else:
        meta = list(image.iter_meta_pages())
    stats.no_data = no_data = no_data or bool(header.flags & FLAG_NO_DATA)
    with progress("restore", header.nr_data_pages) as advance:
        if page_by_page and not no_data:
            for batch in image.iter_data():
                for page in batch:
                    buf = handle.snapshot_write_next()
                    assert buf is not None
                    buf[:] = page
                if advance:
                    advance(len(batch))
            if handle.snapshot_write_next() is not None:
                raise AssertionError("handle wants more pages than the image holds")
        else:
            # The data is read straight into the memory slots it will occupy, on a thread that
            # starts once the metadata is read, runs while write_meta() and prepare_image() do
            # and stays ahead of the handle.
            into = None if no_data else ctx.memory.reserve
            with read_ahead(image.iter_data(into)) as batches:
                if not page_by_page:
                    handle.write_meta(meta)
                handle.start_data()
                for batch in batches:
                    if not no_data:  # with --no-data the pages are read (and checked), not loaded
                        handle.write_data(batch)
                    if advance:
                        advance(len(batch))
            if no_data:
                handle.skip_data(header.nr_data_pages)
    ctx.memory.wait()
    handle.snapshot_write_finalize()
    handle.check_memory("get_buffer")
    # Everything is checked before the final copies: a bad image never reaches copy_pages.
    data_pfns = handle.pfns[~handle.zero]
    image.finish(lambda index: int(data_pfns[index]))
    orig, address = handle.strategy.restore_pblist()
    stats.copies = len(orig)
    if no_data:
        stats.verified = None  # nothing was loaded: counts only
    else:
        ctx.memory.copy_pages(orig, address)
        stats.verified = verify_memory(ctx, handle.pfns, handle.zero, handle.loaded)
    allocated = ctx.allocated_pfns()
    stats.zones = zone_stats(ctx.frames, handle.pfns, handle.zero, orig, allocated)
    return stats, ctx, handle.pfns

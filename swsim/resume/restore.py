"""A restore: an image source fed to strategies, the final copies, verification, the counts.

:func:`restore` restores an image with one strategy; :func:`restore_each` restores it with
several in one pass over the image (``swsim compare``): each page is read and checked once,
streaming through a small ring of buffers, and each strategy runs on its own boot context and
its own memory (:class:`swsim.resume.memory.FrameMemory`, which records which data page each
frame holds), exactly as if it had the image to itself. A strategy that runs out of memory
leaves the pass; an image error ends it for all.

Every check of the image (block CRCs, digest, MAC) passes before the final copies
(``restore_pblist``): a bad image never changes the simulated memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from swsim.errors import MachineMismatch, RestoreNoMemory, UsageError
from swsim.image.auth import auth_failures
from swsim.image.info import ImageInfo
from swsim.image.source import ImageSource
from swsim.kernel.types import BoolArray, PageArray, PfnArray
from swsim.kernel.zones import zone_stats
from swsim.machine.memory_file import MemoryFile
from swsim.machine.model import Machine
from swsim.machine.presets import default_allocator
from swsim.progress import ProgressFactory, no_progress
from swsim.resume.context import ResumeContext
from swsim.resume.handle import ImagePfns, SnapshotWriteHandle, page_tracer
from swsim.resume.memory import ZERO, FrameMemory, IdArray
from swsim.resume.readers import make_reader
from swsim.resume.stats import RestoreStats
from swsim.resume.strategies import strategy_class
from swsim.resume.strategies.base import Strategy


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore an image (the options of ``swsim restore`` and ``swsim compare``)."""

    #: the strategy (``swsim.resume.strategies.STRATEGIES``); :func:`restore_each` takes several
    strategy: str = "safe-list"
    #: the boot-time state to restore on (same number of frames); None: the image's machine
    machine: Machine | None = None
    #: the boot-time page allocator; None: the restoring machine's default
    #: (:func:`swsim.machine.presets.default_allocator`)
    allocator: str | None = None
    #: seed of the ``random`` allocator
    seed: int = 0
    #: the image reader (:mod:`swsim.resume.readers`); None: the one the image's format implies
    #: (``snapshot`` for swsim images)
    reader: str | None = None
    #: feed the handle one page per ``snapshot_write_next()`` call, as the kernel does
    page_by_page: bool = False
    #: counts only: run the strategy on the metadata and load no data
    no_data: bool = False
    #: reports the data pages read (see :mod:`swsim.progress`)
    progress: ProgressFactory = no_progress
    #: receives a line per image page as ``get_buffer()`` places it (implies page by page)
    trace: BinaryIO | None = None
    #: a regular file, open for reading and writing, that receives the restored memory: frame
    #: ``pfn`` at ``pfn * 4096``, image frames only, every other frame a hole
    #: (:mod:`swsim.machine.memory_file`)
    memory_out: BinaryIO | None = None


@dataclass
class RestoreRun:
    """One strategy's finished restore: its counts, its boot context, the image pfns and the
    strategy itself (its kernel variables: ``allocated_unsafe_pages``...; where each page went:
    :func:`swsim.resume.outcome.frame_outcomes`)."""

    stats: RestoreStats
    ctx: ResumeContext
    pfns: PfnArray
    strategy: Strategy | None = None


def check_image_kernel(info: ImageInfo, machine: Machine) -> None:
    """``check_image_kernel()``: refuse to restore on a machine of another memory size."""
    if info.num_physpages != machine.frames:
        raise MachineMismatch(
            f"Image mismatch: memory size (image made on {info.num_physpages} frames, "
            f"this machine has {machine.frames})"
        )


def boot_machine(info: ImageInfo, machine: Machine | None) -> Machine:
    """The machine to restore on: the image's, with ``machine``'s boot-time state if given."""
    if machine is not None:
        check_image_kernel(info, machine)
        return machine if info.machine is None else info.machine.with_boot_of(machine)
    if info.machine is None:
        raise UsageError("the image does not record its machine: give the machine to restore on")
    return info.machine


def verify_memory(
    memory: FrameMemory, pfns: PfnArray, zero: BoolArray, loaded: IdArray
) -> bool:
    """Does every image pfn hold exactly its page?

    ``loaded[i]`` is the data page image page ``i`` was loaded as (into ``get_buffer()``'s
    frame): its position among the image's data pages, whose bytes the digest, block CRCs and
    MAC check as they stream through. The memory records which data page each write put in
    each frame, and each final copy gives its destination its source's (:mod:`swsim.resume.memory`),
    so frame ``pfns[i]`` holds exactly the bytes of image page ``i`` when it holds that data
    page, wherever the page went on the way (its own frame, or a safe page and the final copy);
    a page loaded nowhere, into the wrong frame, or overwritten by another fails. A zero page's
    frame must read as zeros.
    """
    held = memory.contents(pfns)
    data = ~zero
    return bool(
        (loaded[data] >= 0).all()
        and (held[data] == loaded[data]).all()
        and (held[zero] == ZERO).all()
    )


def restore(source: ImageSource, options: RestoreOptions = RestoreOptions()) -> RestoreStats:
    """Restore the image of ``source`` with ``options.strategy``; what it cost.

    Raises :class:`~swsim.errors.SwsimError` subclasses: a bad image, a machine that does not
    fit it, :class:`~swsim.errors.RestoreNoMemory` when the strategy runs out of memory.
    """
    return restore_run(source, options).stats


def restore_run(source: ImageSource, options: RestoreOptions = RestoreOptions()) -> RestoreRun:
    """:func:`restore`, with the boot context and the image pfns it left."""
    (result,) = restore_each(source, options, [options.strategy])
    if isinstance(result, RestoreNoMemory):
        try:
            raise result
        finally:
            del result  # the traceback holds this frame: no cycle through the error
    return result


def restore_each(
    source: ImageSource, options: RestoreOptions, strategies: Sequence[str]
) -> list[RestoreRun | RestoreNoMemory]:
    """Restore the image of ``source`` with each of ``strategies``, in one pass over it.

    Each result is the strategy's :class:`RestoreRun`, or the :class:`RestoreNoMemory` it ran
    into. Image errors (and, with a key, authentication failures) are raised for all.
    """
    return list(iter_restores(source, options, strategies))


def iter_restores(
    source: ImageSource, options: RestoreOptions, strategies: Sequence[str]
) -> Iterator[RestoreRun | RestoreNoMemory]:
    """:func:`restore_each`, each result given as soon as its restore is finished, and let go
    of by the pass then: a caller that keeps only the counts (``swsim compare``) holds one
    finished restore's memory and page tables at a time, not every strategy's."""
    classes = [strategy_class(name) for name in strategies]
    if options.trace is not None and len(classes) != 1:
        raise UsageError("a trace follows a single strategy")
    with auth_failures(source.keyed):
        try:
            yield from _Pass(source, options, classes).run()
        except MachineMismatch:
            if source.keyed:
                source.authenticate_rest()  # forged metadata is an authentication failure
            raise
        finally:
            source.close()


@dataclass
class _Restore:
    """One strategy's restore within a pass."""

    handle: SnapshotWriteHandle
    failure: RestoreNoMemory | None = field(default=None)

    def write_page(self, page: bytes | PageArray) -> None:
        """``snapshot_write_next()``, then the page into the buffer it gave."""
        buffer = self.handle.snapshot_write_next()
        assert buffer is not None
        buffer[:] = np.frombuffer(page, dtype=np.uint8) if isinstance(page, bytes) else page

    def write_pages(self, pages: PageArray) -> None:
        """:meth:`write_page` for each of ``pages`` in turn (the restores of a pass are
        independent, so each takes a whole batch before the next)."""
        next_buffer = self.handle.snapshot_write_next
        for page in pages:
            buffer = next_buffer()
            assert buffer is not None
            buffer[:] = page

    def end_of_data(self) -> None:
        """After the last data page the handle must want no more."""
        if self.handle.snapshot_write_next() is not None:
            raise AssertionError("handle wants more pages than the image holds")

    def finalize(self) -> None:
        """``snapshot_write_finalize()``, then -ENOMEM if ``get_buffer()`` ran dry."""
        self.handle.snapshot_write_finalize()
        self.handle.check_memory("get_buffer")


class _MemoryWriter:
    """``--memory-out`` while the data streams: each batch of data pages, in stream order, is
    written into the image frames of the data pages (zero pages' frames stay holes), where a
    correct restore leaves them (:meth:`~swsim.resume.memory.FrameMemory.write_out` rewrites
    any other once the copies are made). Nothing to do without a memory file.

    The writes are made by the restoring thread itself, while the data is read and checked
    ahead on the others: a thread of their own was no faster (bench image, four interleaved
    runs: 1.00 s against 0.95 s; writes into one tmpfs file are serialized by its inode lock,
    and the two cores are busy reading, hashing and writing)."""

    def __init__(self, out: MemoryFile | None, image: ImagePfns) -> None:
        self.out = out
        self.image = image
        self.data_pfns: PfnArray | None = None
        self.done = 0

    def write(self, batch: PageArray) -> None:
        """Write the next data pages, ``batch`` (once the metadata is all in)."""
        if self.out is None:
            return
        if self.data_pfns is None:
            self.data_pfns = self.image.pfns[self.image.data_index()]
        pfns = self.data_pfns[self.done : self.done + len(batch)]
        self.done += len(batch)
        self.out.write(pfns, batch)


class _Pass:
    """One pass over an image, feeding every page to every restore still running."""

    def __init__(
        self, source: ImageSource, options: RestoreOptions, classes: list[type[Strategy]]
    ) -> None:
        info = source.info
        self.source = source
        self.options = options
        self.info = info
        target = boot_machine(info, options.machine)
        allocator = options.allocator or default_allocator(options.machine or target)
        self.no_data = options.no_data or not info.has_data
        self.page_by_page = options.page_by_page or options.trace is not None
        frames = target.frames
        out = options.memory_out
        if out is not None and (len(classes) != 1 or self.no_data):
            raise UsageError("the restored memory is written by one restore that loads the data")
        self.memory_file = MemoryFile(out.fileno(), frames) if out is not None else None
        self.restores: list[_Restore] = []
        # the same metadata for every restore: one copy
        self.image = image = ImagePfns(info.image_pages)
        for cls in classes:
            stats = RestoreStats(
                strategy=cls.name,
                allocator=allocator,
                image_pages=info.image_pages,
                meta_pages=info.nr_meta_pages,
                data_pages=info.nr_data_pages,
                zero_pages=info.nr_zero_pages,
            )
            memory = FrameMemory(frames)
            ctx = ResumeContext(target, stats, allocator, options.seed, memory)
            reader = make_reader(options.reader, ctx, info, cls.swap_kernel, cls.name)
            handle = SnapshotWriteHandle(cls(ctx), info, reader, image)
            self.restores.append(_Restore(handle))
        if options.trace is not None:
            handle = self.restores[0].handle
            handle.trace = page_tracer(options.trace, handle)
        self.live = list(self.restores)

    def each(self, step: Callable[[_Restore], None]) -> bool:
        """``step`` for every restore still running; one that runs out of memory leaves the
        pass. Whether any is left."""
        for restore in list(self.live):
            try:
                step(restore)
            except RestoreNoMemory as exc:
                # kept without its traceback, whose frames would hold this pass (a cycle)
                restore.failure = exc.with_traceback(None)
                self.live.remove(restore)
        return bool(self.live)

    def run(self) -> Iterator[RestoreRun | RestoreNoMemory]:
        """Feed the image, then finish every restore that ran to the end, in turn; the pass
        lets go of each (and, first, of the image's buffers) before finishing the next."""
        finished = self._feed()
        if not finished and self.source.keyed:
            self.source.authenticate_rest()  # forged metadata is an authentication failure
        self.source.close()  # every check is done: the data's buffers are no longer needed
        self.live = []
        while self.restores:
            restore = self.restores.pop(0)
            yield restore.failure if restore.failure is not None else self._finish(restore)

    def _feed(self) -> bool:
        """Every page to every restore, then the image's last checks; False when every
        restore ran out of memory first."""
        source, info = self.source, self.info
        header = source.header_page
        if not self.each(lambda r: r.write_page(header)):
            return False
        meta: list[bytes] = []
        if self.page_by_page:
            for page in source.iter_meta_pages():
                if not self.each(lambda r: r.write_page(page)):  # noqa: B023 - called at once
                    return False
        else:
            meta = list(source.iter_meta_pages())
        no_data = self.no_data
        for restore in self.restores:
            restore.handle.ctx.stats.no_data = no_data
        write_memory = _MemoryWriter(self.memory_file, self.image)
        with self.options.progress("restore", info.nr_data_pages) as advance:
            if self.page_by_page and not no_data:
                with contextlib.closing(source.iter_data()) as batches:
                    for batch in batches:
                        if not self.each(lambda r: r.write_pages(batch)):  # noqa: B023
                            return False
                        # after the handles: the first data page's call unpacks the last
                        # metadata page
                        write_memory.write(batch)
                        if advance:
                            advance(len(batch))
                self.each(_Restore.end_of_data)
            else:
                # The data is read ahead on a thread that starts once the metadata is read,
                # runs while write_meta() and prepare_image() do and stays ahead of the handles.
                with contextlib.closing(source.iter_data()) as batches:
                    if not self.page_by_page and not self.each(lambda r: r.handle.write_meta(meta)):
                        return False
                    if not self.each(lambda r: r.handle.start_data()):
                        return False
                    for batch in batches:
                        if not no_data:  # counts only: the pages are read and checked, not loaded
                            write_memory.write(batch)
                            if not self.each(lambda r: r.handle.write_data(batch)):  # noqa: B023
                                return False
                        if advance:
                            advance(len(batch))
                if no_data:
                    self.each(lambda r: r.handle.skip_data(info.nr_data_pages))
        if not self.each(_Restore.finalize):
            return False
        # Every check passes before the final copies: a bad image never reaches copy_pages.
        handle = self.live[0].handle
        # data page i's pfn: only asked for to name the pages of a failed check
        source.finish(lambda index: int(handle.pfns[~handle.zero][index]))
        return True

    def _finish(self, restore: _Restore) -> RestoreRun:
        """The final copies, verification and the per-zone counts of a restore that ran."""
        handle = restore.handle
        ctx = handle.ctx
        stats = ctx.stats
        orig, address = handle.strategy.restore_pblist()
        stats.copies = len(orig)
        if self.no_data:
            stats.verified = None  # nothing was loaded: counts only
        else:
            ctx.memory.copy_pages(orig, address)
            stats.verified = verify_memory(ctx.memory, handle.pfns, handle.zero, handle.loaded)
            if self.memory_file is not None:
                ctx.memory.write_out(self.memory_file, handle.pfns, handle.zero)
        allocations = ctx.allocations_per_zone()
        stats.zones = zone_stats(ctx.frames, handle.pfns, handle.zero, orig, allocations)
        stats.notes = ctx.allocator.report()
        return RestoreRun(stats, ctx, handle.pfns, handle.strategy)

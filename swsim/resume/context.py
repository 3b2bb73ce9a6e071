"""The boot kernel's state during a restore: page allocator, page flags, memory, counts.

Strategies obtain and give back frames only through :meth:`ResumeContext.get_zeroed_page` and
:meth:`ResumeContext.free_page`, so allocations, frees and the pages held are counted in one
place. When the allocator runs dry the restore fails with -ENOMEM, as in the kernel; to say by
how much, swsim lets the strategy run on with *phantom* frames appended above the top of memory
(safe frames no image page belongs to) and reports their number as ``missing``: the frames the
machine lacked for this strategy, with this allocator, to succeed.
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.frame_bits import FrameBits
from swsim.kernel.types import BoolArray, Pfn32Array, PfnArray
from swsim.kernel.zones import runs_per_zone
from swsim.machine.model import FRAME_USED, Machine
from swsim.resume.allocators import make_allocator
from swsim.resume.memory import FrameMemory
from swsim.resume.stats import RestoreStats


class ResumeContext:
    """Boot-time memory of ``machine``: a page allocator over its free frames and page flags.

    ``page_nosave`` and ``page_nosave_free`` are the 2.6.17 page flags ``PG_nosave`` and
    ``PG_nosave_free`` (modern kernels keep the same two facts in ``forbidden_pages_map`` and
    ``free_pages_map``), a bit per frame (:class:`~swsim.kernel.frame_bits.FrameBits`). Both
    extend past the last frame to hold phantom frames.
    ``memory`` is the frames' contents (by default a new :class:`FrameMemory`).
    """

    def __init__(
        self,
        machine: Machine,
        stats: RestoreStats,
        allocator: str = "ascending",
        seed: int = 0,
        memory: FrameMemory | None = None,
    ) -> None:
        self.machine = machine
        self.frames = machine.frames
        self.stats = stats
        self.allocator = make_allocator(allocator, machine.boot_free_bits(), seed)
        #: where the image reader's pages come from (the same allocator, but for ``replay``)
        self.reader_allocator = self.allocator.for_caller("reader")
        self.memory = memory if memory is not None else FrameMemory(machine.frames)
        limit = self.frames + self.frames // 64 + 64
        self.page_nosave = FrameBits(limit)
        self.page_nosave_free = FrameBits(limit)
        self.held = 0
        self._next_phantom = self.frames
        #: every frame handed out, as runs of consecutive frames (first frames, lengths: an
        #: allocator hands out whole blocks, so a few runs per chunk), for the per-zone counts
        self._allocated_runs: list[tuple[Pfn32Array, Pfn32Array]] = []
        self._allocated_singles: list[int] = []
        self._phantoms_free: list[int] = []

    def poison_boot_frames(self, pfns: PfnArray) -> None:
        """Fill the frames of ``pfns`` that the boot kernel uses with its (non-image) data.

        Only those frames matter: verification reads image frames, and a free frame that no
        restore writes is wrong only if its page is non-zero, which verification sees anyway.
        Counts only (``stats.no_data``), nothing is loaded, copied or verified: no frame's
        contents are read after ``prepare_image()``, so none is poisoned.
        """
        if self.stats.no_data:
            return
        self.memory.poison(pfns[self.machine.boot_state_of(pfns) == FRAME_USED])

    def get_zeroed_page(self) -> int:
        """One frame from the allocator (a phantom frame above memory once it is dry)."""
        pfn = self.allocator.alloc()
        if pfn < 0:
            pfn = self._phantom()
        self._allocated(pfn)
        return pfn

    def get_reader_page(self) -> int:
        """One frame for the image reader (swap.c; :mod:`swsim.resume.readers`), counted in
        ``allocations`` and ``reader_pages`` (a phantom frame once the allocator is dry)."""
        pfn = self.reader_allocator.alloc()
        if pfn < 0:
            pfn = self._phantom()
        self._allocated(pfn)
        self.stats.reader_pages += 1
        return pfn

    def try_reader_page(self) -> int:
        """:meth:`get_reader_page` that may fail (``__GFP_NORETRY``): -1 when dry."""
        pfn = self.reader_allocator.alloc()
        if pfn >= 0:
            self._allocated(pfn)
            self.stats.reader_pages += 1
        return pfn

    def nr_free_pages(self) -> int:
        """``nr_free_pages()``: frames the allocator holds free."""
        return self.allocator.nr_free

    def get_zeroed_pages(self, nr_pages: int) -> PfnArray:
        """``nr_pages`` calls of :meth:`get_zeroed_page` at once (the allocator's alloc_many)."""
        pfns, runs = self.allocator.alloc_runs(nr_pages)
        if len(pfns) < nr_pages:
            pfns = np.concatenate([pfns, self._phantoms(nr_pages - len(pfns))])
            runs = None
        self._allocated_runs.append(runs if runs is not None else _runs_of(pfns))
        stats = self.stats
        stats.allocations += nr_pages
        self.held += nr_pages
        stats.peak_pages = max(stats.peak_pages, self.held)
        return pfns

    def allocated_pfns(self) -> PfnArray:
        """Every frame handed out by this restore (each allocation once, any order)."""
        singles = np.array(self._allocated_singles, dtype=np.int64)
        if not self._allocated_runs:
            return singles
        starts = np.concatenate([run[0] for run in self._allocated_runs], dtype=np.int64)
        lengths = np.concatenate([run[1] for run in self._allocated_runs], dtype=np.int64)
        ends = np.cumsum(lengths)
        frames = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        frames += np.repeat(starts - (ends - lengths), lengths)
        return np.concatenate([frames, singles])

    def allocations_per_zone(self) -> dict[str, int]:
        """:func:`~swsim.kernel.zones.pages_per_zone` of :meth:`allocated_pfns`, from the runs
        (no array of every frame)."""
        singles = np.array(self._allocated_singles, dtype=np.int64)
        starts = np.concatenate([*(run[0] for run in self._allocated_runs), singles],
                                dtype=np.int64)
        lengths = np.concatenate([*(run[1] for run in self._allocated_runs),
                                  np.ones(len(singles), dtype=np.int64)], dtype=np.int64)
        return runs_per_zone(starts, lengths, self.frames)

    def claim_pages(self, pfns: PfnArray) -> BoolArray:
        """Take the frames ``pfns`` (increasing) themselves where they are free (allocations,
        kernel: ``take_page_off_buddy()``); returns which were taken."""
        taken = self.allocator.take_pages(pfns)
        claimed = pfns[taken]
        self._allocated_runs.append(_runs_of(claimed))
        self.stats.allocations += len(claimed)
        self.held += len(claimed)
        self.stats.peak_pages = max(self.stats.peak_pages, self.held)
        return taken

    def _allocated(self, pfn: int) -> None:
        self._allocated_singles.append(pfn)
        stats = self.stats
        stats.allocations += 1
        self.held += 1
        if self.held > stats.peak_pages:
            stats.peak_pages = self.held

    def free_page(self, pfn: int) -> None:
        """Give frame ``pfn`` back to the allocator (a phantom frame back to the phantoms)."""
        if pfn >= self.frames:
            self._phantoms_free.append(pfn)
        else:
            self.allocator.free_page(pfn)
        self.stats.frees += 1
        self.held -= 1

    def free_pages(self, pfns: PfnArray) -> None:
        """:meth:`free_page` for each of ``pfns`` in order, at once."""
        real = pfns < self.frames
        if real.all():  # no phantom frame among them (the common case): no copies
            self.allocator.free_pages(pfns)
        else:
            self._phantoms_free.extend(pfns[~real].tolist())
            self.allocator.free_pages(pfns[real])
        self.stats.frees += len(pfns)
        self.held -= len(pfns)

    def _phantoms(self, count: int) -> PfnArray:
        """``count`` calls of :meth:`_phantom` at once."""
        reused = self._phantoms_free[::-1][:count]
        del self._phantoms_free[len(self._phantoms_free) - len(reused):]
        new = count - len(reused)
        self.stats.missing += new
        start = self._next_phantom
        self._next_phantom += new
        if self._next_phantom > len(self.page_nosave):
            size = max(self._next_phantom, 2 * len(self.page_nosave))
            self.page_nosave.grow(size)
            self.page_nosave_free.grow(size)
        return np.concatenate([np.array(reused, dtype=np.int64),
                               np.arange(start, start + new, dtype=np.int64)])

    def _phantom(self) -> int:
        if self._phantoms_free:
            return self._phantoms_free.pop()
        self.stats.missing += 1
        pfn = self._next_phantom
        if pfn >= len(self.page_nosave):
            self.page_nosave.grow(2 * len(self.page_nosave))
            self.page_nosave_free.grow(2 * len(self.page_nosave_free))
        self._next_phantom += 1
        return pfn


def _runs_of(pfns: PfnArray) -> tuple[Pfn32Array, Pfn32Array]:
    """``pfns`` as runs of consecutive frames: each run's first frame and its length."""
    bounds = np.flatnonzero(np.diff(pfns) != 1) + 1
    bounds = np.concatenate([[0], bounds, [len(pfns)]]) if len(pfns) else np.zeros(1, np.int64)
    return pfns[bounds[:-1]].astype(np.int32), np.diff(bounds).astype(np.int32)

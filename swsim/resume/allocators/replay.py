"""``replay:FILE``: the frames a real kernel's allocator handed out during a resume, in order.

FILE holds one allocation per line, ``PFN ORDER CALLER`` (``#`` starts a comment), in the order
the kernel's page allocator handed the blocks out (issue 11 part 4 records it with kprobes):

* ``swsusp``: snapshot.c's own pages (``get_image_page()``, the ``prepare_image()`` loop,
  ``__get_safe_page()``): swsim's strategy takes these, in order, one page at a time;
* ``reader``: swap.c's pages and the buffers and threads it starts: swsim's reader model
  (:mod:`swsim.resume.readers`) takes these;
* ``other``: anyone else in the window: those frames are simply taken (not free) from the start.

A block of order k is its 2^k pages, lowest first. Replayed frames are handed out whatever the
boot state says of them (pages on the per-cpu lists are free without KPF_BUDDY). With it a
strategy's counts depend only on the code swsim models. A model that asks for more pages than
the file holds for its caller is an error (:class:`ReplayExhausted`); one that asks for fewer is
reported by :meth:`ReplayAllocator.report`, one line per caller, with both numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swsim.errors import RestoreNoMemory, UsageError
from swsim.kernel.types import PfnArray
from swsim.resume.allocators.base import FreeFrames, PageAllocator

#: The callers a replay file names.
CALLERS = ("swsusp", "reader", "other")
#: MAX_PAGE_ORDER: the largest block the buddy allocator hands out.
MAX_ORDER = 10


class ReplayExhausted(RestoreNoMemory):
    """A model asked for more pages than the replay file holds for its caller: the replayed
    allocator ran dry (exit 4; in ``compare``, that strategy's row)."""

    def __init__(self, message: str) -> None:
        super().__init__("replay", 0, "replay")
        self.args = (message,)


def parse_replay(text: str, where: str, frames: int) -> dict[str, PfnArray]:
    """The pages of each caller, in order (each block expanded to its pages)."""
    pages: dict[str, list[int]] = {caller: [] for caller in CALLERS}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            if len(fields) != 3:
                raise ValueError("expected PFN ORDER CALLER")
            pfn, order, caller = int(fields[0], 0), int(fields[1]), fields[2]
            if caller not in pages:
                raise ValueError(f"caller {caller!r} is not one of {', '.join(CALLERS)}")
            if not 0 <= order <= MAX_ORDER:
                raise ValueError(f"order {order} is not between 0 and {MAX_ORDER}")
            if not 0 <= pfn or pfn + (1 << order) > frames:
                raise ValueError(f"pfn {pfn} (order {order}) is outside the {frames} frames")
        except ValueError as exc:
            raise UsageError(f"{where}:{number}: {exc}") from None
        pages[caller].extend(range(pfn, pfn + (1 << order)))
    return {caller: np.array(pfns, dtype=np.int64) for caller, pfns in pages.items()}


class _Queue:
    """One caller's pages, handed out in order."""

    def __init__(self, caller: str, pfns: PfnArray) -> None:
        self.caller = caller
        self.pfns = pfns
        self.taken = 0


class ReplayAllocator(PageAllocator):
    """Hands each caller the pages the file lists for it (see the module docstring)."""

    name = "replay"

    def __init__(self, free: FreeFrames, path: str, seed: int = 0) -> None:
        super().__init__(free, seed)
        self.path = path
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read replay file {path}: {exc.strerror}") from None
        pages = parse_replay(text, path, len(free))
        other = pages["other"]
        self._take_many(np.unique(other[self.free[other]]))
        self.queues = {caller: _Queue(caller, pages[caller]) for caller in ("swsusp", "reader")}
        #: how many times each frame is held (the file may hand out a frame the model still
        #: holds: the kernel had freed it, a model that diverges has not)
        self.holds = np.zeros(len(free), dtype=np.int32)
        self.reissued = 0

    def for_caller(self, caller: str) -> PageAllocator:
        """This allocator for ``swsusp``; a view on the ``reader`` entries for ``reader``."""
        return self if caller == "swsusp" else _CallerView(self, caller)

    def alloc_for(self, caller: str, nr_pages: int = 1) -> PfnArray:
        """The next ``nr_pages`` pages the file lists for ``caller``, taken."""
        queue = self.queues[caller]
        if queue.taken + nr_pages > len(queue.pfns):
            raise ReplayExhausted(
                f"replay {self.path}: the {caller} model asks for more than the "
                f"{len(queue.pfns)} {caller} page(s) the file holds"
            )
        pfns: PfnArray = queue.pfns[queue.taken : queue.taken + nr_pages].copy()
        queue.taken += nr_pages
        was_free = self.free[pfns]
        self.free[pfns] = False
        self.nr_free -= int(was_free.sum())
        self.reissued += int((self.holds[pfns] > 0).sum())
        np.add.at(self.holds, pfns, 1)
        return pfns

    def free_page(self, pfn: int) -> None:
        """Give ``pfn`` back: free once nothing holds it any more."""
        if self.holds[pfn] > 1:
            self.holds[pfn] -= 1
            return
        self.holds[pfn] = 0
        super().free_page(pfn)

    def alloc(self) -> int:
        """The next ``swsusp`` page."""
        return int(self.alloc_for("swsusp")[0])

    def alloc_many(self, nr_pages: int) -> PfnArray:
        """The next ``nr_pages`` ``swsusp`` pages."""
        return self.alloc_for("swsusp", nr_pages)

    take_pages = PageAllocator._take_pages_flat

    def report(self) -> list[str]:
        """One line per caller whose model took fewer pages than the file holds, and one if the
        file handed out frames the model still held."""
        notes = [
            f"replay {self.path}: the {queue.caller} model took {queue.taken} page(s), "
            f"the file holds {len(queue.pfns)}"
            for queue in self.queues.values()
            if queue.taken != len(queue.pfns)
        ]
        if self.reissued:
            notes.append(
                f"replay {self.path}: {self.reissued} page(s) handed out while the model still "
                "held them (the kernel had freed them: the model diverges from the kernel)"
            )
        return notes


class _CallerView(PageAllocator):
    """One caller's side of a :class:`ReplayAllocator`: only :meth:`alloc` is its own."""

    name = "replay"

    def __init__(self, owner: ReplayAllocator, caller: str) -> None:  # noqa: D107
        self.owner = owner
        self.caller = caller
        self.free = owner.free
        self.nr_free = owner.nr_free

    def alloc(self) -> int:
        """The caller's next page."""
        return int(self.owner.alloc_for(self.caller)[0])

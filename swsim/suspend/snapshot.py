"""What a hibernating machine saves: the image pages, which of them are all zero, their bytes.

A :class:`Snapshot` is the result of the kernel's atomic copy (``swsusp_save()``): the saveable
pfns in increasing order (the order ``copy_data_pages()`` walks the zones), and since v6.6
(commit 005e8dddd497) which of them are all-zero pages, saved as a flagged pfn and no data.

Departures: the pages are not copied from live memory; their contents are synthesised from the
machine's content seed (:mod:`swsim.machine.content`). The kernel finds zero pages by reading
each page; swsim asks the content model, whose zero kind is exactly the set of all-zero pages
(text pages hold no NUL byte; a random page is 512 distinct splitmix64 outputs, at most one of
them zero). The memory the copy itself needs (the 50% limit) is not modelled yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swsim.errors import UnknownChoice
from swsim.kernel.types import BoolArray, PageArray, PfnArray
from swsim.machine.content import BATCH_PAGES, KIND_ZERO, page_contents, page_kinds
from swsim.machine.memory_file import MemoryFile
from swsim.machine.model import Machine

#: Leave all-zero pages out of the data (``skip``, v6.6+) or store them as data (``store``).
ZERO_PAGES_MODES = ("skip", "store")


@dataclass(frozen=True)
class Snapshot:
    """The saved image of ``machine``: its pfns, in image order, and which are zero pages."""

    machine: Machine
    pfns: PfnArray
    zero: BoolArray
    #: the suspend model that made it (:mod:`swsim.suspend.kernels`; ``none``: no model)
    kernel: str = "none"

    @property
    def nr_zero_pages(self) -> int:
        """Image pages saved as a flagged pfn only."""
        return int(np.count_nonzero(self.zero))

    @property
    def data_pfns(self) -> PfnArray:
        """The pfns that get a data page, in image order."""
        return self.pfns[~self.zero]

    def data_pages(self, pfns: PfnArray) -> PageArray:
        """The saved bytes of the pages at ``pfns``, ``(len(pfns), PAGE_SIZE)``."""
        return page_contents(self.machine.content, pfns)

    def write_memory(self, out: MemoryFile, batch_pages: int = BATCH_PAGES) -> None:
        """The suspended machine's saved memory into ``out``: every saved data page in its
        frame; every other frame, a zero page's too (all zeros), is a hole
        (``snapshot --memory-out``)."""
        pfns = self.data_pfns
        for start in range(0, len(pfns), batch_pages):
            batch = pfns[start : start + batch_pages]
            out.write(batch, self.data_pages(batch))


def take_snapshot(machine: Machine, zero_pages: str = "skip", kernel: str = "none") -> Snapshot:
    """The image of ``machine``: every saveable page; with ``zero_pages="skip"`` the all-zero
    ones flagged (v6.6+), with ``"store"`` none (before v6.6)."""
    if zero_pages not in ZERO_PAGES_MODES:
        raise UnknownChoice("zero_pages", zero_pages, ZERO_PAGES_MODES)
    pfns = machine.saveable_pfns()
    if zero_pages == "skip":
        zero = page_kinds(machine.content, pfns) == KIND_ZERO
    else:
        zero = np.zeros(len(pfns), dtype=bool)
    return Snapshot(machine, pfns, zero, kernel)

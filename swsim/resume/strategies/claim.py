"""``claim``: the lower bound on copies of any in-memory restore (not a kernel strategy).

The model gives this strategy what no kernel allocator offers: taking a *given* frame when it is
free (``take_page_off_buddy()`` does that, for memory-failure handling, but hibernation never
used it). So every free original frame is claimed and its page loaded straight into it; only the
pages whose original frame the boot kernel occupies need a safe page and a pbe, and are copied at
the end. No restore that loads the image into memory before jumping back can copy fewer pages:
those frames hold the running boot kernel until the final copy. ``excess copies`` in the reports
of the other strategies are measured against this bound.

Cost: the header/metadata buffer (any page, freed before claiming so that it can be claimed
back), one claim per free original frame, ``ceil(C / PBES_PER_PAGE)`` pages of pbes and C safe
pages, C being the copies. The pfns are kept in numpy arrays (as every swsim strategy does); a
real implementation would need a bitmap of the original frames as well, which the bound ignores.
"""

from __future__ import annotations

import numpy as np

from swsim.image.info import ImageInfo
from swsim.kernel.constants import pagedir_pages
from swsim.kernel.types import PfnArray
from swsim.resume.context import ResumeContext
from swsim.resume.strategies.base import Strategy


class Claim(Strategy):
    """The lower bound (see the module docstring)."""

    name = "claim"
    summary = "lower bound: claim every free original frame, copy only boot-kernel frames"

    def __init__(self, ctx: ResumeContext) -> None:
        super().__init__(ctx)
        self.buffer = -1
        self.pbe_pages: list[int] = []

    def alloc_buffer(self) -> int:
        """Any page for the header and metadata."""
        self.buffer = self.ctx.get_zeroed_page()
        return self.buffer

    def load_header(self, info: ImageInfo) -> None:
        """Nothing to allocate: the pfns are unpacked by the handle."""

    def prepare_image(self, pfns: PfnArray) -> None:
        """Free the buffer, claim every free original frame, then the safe pages for the rest.

        Once all free original frames are claimed, the allocator has only safe frames left.
        """
        ctx = self.ctx
        ctx.free_page(self.buffer)
        self.buffer = -1
        claimed = ctx.claim_pages(pfns)
        self.stats.unsafe_kept = int(np.count_nonzero(claimed))
        self.orig = pfns
        self.address = np.full(len(pfns), -1, dtype=np.int32)
        need = np.flatnonzero(~claimed)
        self.pbe_pages = ctx.get_zeroed_pages(pagedir_pages(len(need))).tolist()
        self.address[need] = ctx.get_zeroed_pages(len(need))

    def get_buffer(self, index: int, pfn: int) -> int:
        """The original frame when it was claimed, else its safe page."""
        address = int(self.address[index])
        if address < 0:
            self.stats.direct += 1
            return pfn
        return address


    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        """:meth:`get_buffer` for image pages ``start`` to ``stop``, at once."""
        address = self.address[start:stop]
        direct = address < 0
        self.stats.direct += int(np.count_nonzero(direct))
        return np.where(direct, pfns[start:stop], address)

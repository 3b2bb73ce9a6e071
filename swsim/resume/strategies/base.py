"""The interface every restore strategy implements, driven by ``snapshot_write_next()``.

The handle (:mod:`swsim.resume.handle`) reads the header and metadata pages into the strategy's
buffer page and calls, in this order: :meth:`Strategy.alloc_buffer` (first call),
:meth:`Strategy.load_header`, :meth:`Strategy.prepare_image` (after the last metadata page),
:meth:`Strategy.get_buffer` once per image page (zero pages included: the handle zero-fills
their buffer), :meth:`Strategy.snapshot_write_finalize`, and finally
:meth:`Strategy.restore_pblist`, the copies the architecture code would make with interrupts off.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from swsim.image.info import ImageInfo
from swsim.kernel.types import Pfn32Array, PfnArray
from swsim.resume.context import ResumeContext


class Strategy(ABC):
    """A restore strategy over the boot context ``ctx`` (its allocator, flags and memory)."""

    name: ClassVar[str]
    #: One line for ``--help`` and the docs.
    summary: ClassVar[str]
    #: whose kernel/power/swap.c reads the image for it (``2.6.17`` or ``6.x``)
    swap_kernel: ClassVar[str] = "6.x"

    def __init__(self, ctx: ResumeContext) -> None:
        self.ctx = ctx
        self.stats = ctx.stats
        #: pbe->orig_address and pbe->address (-1: loaded directly) per image page, image order
        self.orig: PfnArray = np.zeros(0, dtype=np.int64)
        self.address: Pfn32Array = np.zeros(0, dtype=np.int32)

    @abstractmethod
    def alloc_buffer(self) -> int:
        """The page the header and metadata pages are read into (first call of the handle)."""

    @abstractmethod
    def load_header(self, info: ImageInfo) -> None:
        """After the header page: set up what unpacking the metadata needs."""

    @abstractmethod
    def prepare_image(self, pfns: PfnArray) -> None:
        """After the last metadata page: ``pfns`` are the original frames, in image order."""

    @abstractmethod
    def get_buffer(self, index: int, pfn: int) -> int:
        """The frame data page ``index`` (original frame ``pfn``) is read into."""

    def snapshot_write_finalize(self) -> None:  # noqa: B027 - optional hook
        """After the last image page has its buffer (kernel: ``snapshot_write_finalize()``)."""

    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        """:meth:`get_buffer` for image pages ``start`` to ``stop - 1`` in order (batched path).

        Strategies override it with a vectorised equivalent; it must give the same frames and
        counts as the calls one by one (tests/resume/test_fast_path.py checks this).
        """
        return np.fromiter(
            (self.get_buffer(index, int(pfns[index])) for index in range(start, stop)),
            dtype=np.int64,
            count=stop - start,
        )

    def frames_eaten(self) -> PfnArray:
        """The frames this restore ate: held only so the allocator would not hand them out
        again, then freed (none but ``eat``'s)."""
        return np.zeros(0, dtype=np.int64)

    def restore_pblist(self) -> tuple[PfnArray, PfnArray]:
        """The restore list as arrays ``(orig_pfn, address_pfn)``: one copy per entry, the
        pages ``get_buffer()`` put in a safe page (``address`` set)."""
        linked = self.address >= 0
        if np.count_nonzero(linked) == len(linked):  # every page copied (eat): no selection
            return self.orig, self.address.astype(np.int64)
        return self.orig[linked], self.address[linked].astype(np.int64)

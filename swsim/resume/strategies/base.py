"""The interface every restore strategy implements, driven by ``snapshot_write_next()``.

The handle (:mod:`swsim.resume.restore`) reads the header and metadata pages into the strategy's
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

from swsim.image.header import ImageHeader
from swsim.resume.context import ResumeContext


class Strategy(ABC):
    name: ClassVar[str]
    #: One line for ``--help`` and the docs.
    summary: ClassVar[str]

    def __init__(self, ctx: ResumeContext) -> None:
        self.ctx = ctx
        self.stats = ctx.stats

    @abstractmethod
    def alloc_buffer(self) -> int:
        """The page the header and metadata pages are read into (first call of the handle)."""

    @abstractmethod
    def load_header(self, header: ImageHeader) -> None:
        """After the header page: set up what unpacking the metadata needs."""

    @abstractmethod
    def prepare_image(self, pfns: np.ndarray) -> None:
        """After the last metadata page: ``pfns`` are the original frames, in image order."""

    @abstractmethod
    def get_buffer(self, index: int, pfn: int) -> int:
        """The frame data page ``index`` (original frame ``pfn``) is read into."""

    def snapshot_write_finalize(self) -> None:  # noqa: B027 - optional hook
        """After the last image page has its buffer (kernel: ``snapshot_write_finalize()``)."""

    def get_buffers(self, start: int, stop: int, pfns: np.ndarray) -> np.ndarray:
        """:meth:`get_buffer` for image pages ``start`` to ``stop - 1`` in order (batched path).

        Strategies override it with a vectorised equivalent; it must give the same frames and
        counts as the calls one by one (tests/test_fast_path.py checks this).
        """
        return np.fromiter(
            (self.get_buffer(index, int(pfns[index])) for index in range(start, stop)),
            dtype=np.int64,
            count=stop - start,
        )

    @abstractmethod
    def restore_pblist(self) -> tuple[np.ndarray, np.ndarray]:
        """The restore list as arrays ``(orig_pfn, address_pfn)``: one copy per entry."""

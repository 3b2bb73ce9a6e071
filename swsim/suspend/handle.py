"""``snapshot_read_next()``: the image of a snapshot handed out page by page, or in batches.

:class:`SnapshotReadHandle` follows the handle of kernel/power/snapshot.c (v6.x): each call
gives the next page of the image: the header page (``init_header()``), the metadata pages
(``pack_pfns()``), then the data pages in increasing pfn order. How the header and metadata
pages are laid out is the image format's business, so the handle takes them from a
:class:`PageLayout` (:class:`swsim.image.writer.SwsimLayout` for a swsim image).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from swsim.kernel.types import PageArray
from swsim.machine.content import BATCH_PAGES
from swsim.suspend.snapshot import Snapshot


class PageLayout(Protocol):
    """The pages an image format puts before the data of a snapshot."""

    nr_meta_pages: int

    def header_page(self) -> bytes:
        """Page 0 (the kernel's ``init_header()``)."""

    def meta_pages(self, first: int, count: int) -> bytes:
        """Metadata pages ``first`` to ``first + count - 1`` (the kernel's ``pack_pfns()``)."""


class SnapshotReadHandle:
    """The image of ``snapshot`` as a sequence of pages (``snapshot_read_next``).

    With ``with_data`` False only the header and metadata pages are handed out (an image for
    counting, ``snapshot --no-data``).
    """

    def __init__(self, snapshot: Snapshot, layout: PageLayout, with_data: bool = True) -> None:
        self.snapshot = snapshot
        self.layout = layout
        #: the pfns that get a data page, in image order
        self.data_pfns = snapshot.data_pfns if with_data else snapshot.data_pfns[:0]
        self.cur = 0

    @property
    def total_pages(self) -> int:
        """Pages handed out in all: header, metadata and data pages."""
        return 1 + self.layout.nr_meta_pages + len(self.data_pfns)

    def snapshot_read_next(self) -> bytes | None:
        """The next page of the image, or None once header, metadata and data are out."""
        cur = self.cur
        if cur >= self.total_pages:
            return None
        self.cur += 1
        if cur == 0:
            return self.layout.header_page()
        if cur <= self.layout.nr_meta_pages:
            return self.layout.meta_pages(cur - 1, 1)
        index = cur - 1 - self.layout.nr_meta_pages
        return self.snapshot.data_pages(self.data_pfns[index : index + 1]).tobytes()

    def iter_chunks(
        self,
        batch_pages: int = BATCH_PAGES,
        buffer_for: Callable[[int], PageArray] | None = None,
    ) -> Iterator[bytes | PageArray]:
        """The same bytes as repeated :meth:`snapshot_read_next`, in large chunks: the header
        page and the metadata pages as bytes, then the data pages as arrays.

        With ``buffer_for``, data batch ``n`` is made in the rows of ``buffer_for(n)``, a
        ``(batch_pages, PAGE_SIZE)`` uint8 buffer the caller reuses (a
        :class:`~swsim.image.worker.BufferRing`): the image streams through a few buffers,
        and no fresh memory is faulted in per batch."""
        yield self.layout.header_page()
        yield self.layout.meta_pages(0, self.layout.nr_meta_pages)
        pfns = self.data_pfns
        for n, start in enumerate(range(0, len(pfns), batch_pages)):
            out = buffer_for(n) if buffer_for is not None else None
            yield self.snapshot.data_pages(pfns[start : start + batch_pages], out)

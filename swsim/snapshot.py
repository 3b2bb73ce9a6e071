"""The suspend side: produce the image of a machine, page by page or in batches.

:class:`SnapshotReadHandle` models ``snapshot_read_next()`` (kernel/power/snapshot.c): each
call gives the next page of the image: the header (``init_header``), the metadata pages
(``pack_pfns``), then the data pages in increasing pfn order. Unlike the kernel, the data pages
are not an atomic copy of live memory: their contents are synthesised from the machine's
content seed (see :mod:`swsim.content`). swsim then appends its trailer page (digest).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from swsim.constants import PAGE_SIZE
from swsim.content import BATCH_PAGES, page_contents
from swsim.image import ImageHeader, pack_meta_pages, pack_trailer
from swsim.machine import Machine


class SnapshotReadHandle:
    """The image of ``machine`` as a sequence of pages (``snapshot_read_next``)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.pfns = machine.saveable_pfns()
        self.header = ImageHeader.for_machine(machine, len(self.pfns))
        self.cur = 0

    @property
    def total_pages(self) -> int:
        return self.header.pages

    def snapshot_read_next(self) -> bytes | None:
        """The next page of the image, or None once header, metadata and data are out."""
        cur = self.cur
        if cur >= self.header.pages:
            return None
        self.cur += 1
        if cur == 0:
            return self.header.pack()
        if cur <= self.header.nr_meta_pages:
            start = (cur - 1) * (PAGE_SIZE // 8)
            return pack_meta_pages(self.pfns[start : start + PAGE_SIZE // 8])
        index = cur - 1 - self.header.nr_meta_pages
        return page_contents(self.machine.content, self.pfns[index : index + 1]).tobytes()

    def iter_chunks(self, batch_pages: int = BATCH_PAGES) -> Iterator[bytes | np.ndarray]:
        """The same bytes as repeated :meth:`snapshot_read_next`, in large chunks."""
        yield self.header.pack()
        yield pack_meta_pages(self.pfns)
        for start in range(0, len(self.pfns), batch_pages):
            yield page_contents(self.machine.content, self.pfns[start : start + batch_pages])


def write_image(machine: Machine, out: BinaryIO) -> ImageHeader:
    """Write the whole image of ``machine`` (with its trailer) to a binary stream."""
    handle = SnapshotReadHandle(machine)
    digest = hashlib.sha256()
    for chunk in handle.iter_chunks():
        data = memoryview(chunk).cast("B") if isinstance(chunk, np.ndarray) else chunk
        digest.update(data)
        out.write(data)
    out.write(pack_trailer(digest.digest(), handle.header.pages))
    return handle.header

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
from dataclasses import replace
from typing import BinaryIO

import numpy as np

from swsim.auth import FLAG_SIGNED, new_mac
from swsim.constants import PAGE_SIZE
from swsim.content import BATCH_PAGES, page_contents
from swsim.image import ImageHeader, pack_meta_pages, pack_trailer
from swsim.integrity import FLAG_BLOCK_CRC32, BlockCrc32
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


def write_image(machine: Machine, out: BinaryIO, key: bytes | None = None) -> ImageHeader:
    """Write the whole image of ``machine`` to a binary stream.

    After the data pages come swsim's checksum pages (CRC32 per 32 data pages) and the
    trailer (SHA-256 of everything before it; with ``key``, also its HMAC-SHA256).
    """
    handle = SnapshotReadHandle(machine)
    flags = handle.header.flags | FLAG_BLOCK_CRC32 | (FLAG_SIGNED if key is not None else 0)
    handle.header = replace(handle.header, flags=flags)
    digest = hashlib.sha256()
    mac = new_mac(key) if key is not None else None
    crc = BlockCrc32()

    def emit(data: bytes | memoryview) -> None:
        digest.update(data)
        if mac is not None:
            mac.update(data)
        out.write(data)

    for index, chunk in enumerate(handle.iter_chunks()):
        if isinstance(chunk, np.ndarray):
            crc.update(chunk)
            emit(chunk.reshape(-1).data)
        else:
            emit(chunk)
            assert index < 2, "only header and metadata come as bytes"
    emit(crc.pack())
    out.write(pack_trailer(digest.digest(), handle.header.pages, mac.digest() if mac else b""))
    return handle.header

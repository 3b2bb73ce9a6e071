"""The suspend side: produce the image of a machine, page by page or in batches.

:class:`SnapshotReadHandle` models ``snapshot_read_next()`` (kernel/power/snapshot.c): each
call gives the next page of the image: the header (``init_header``), the metadata pages
(``pack_pfns``), then the data pages in increasing pfn order. Unlike the kernel, the data pages
are not an atomic copy of live memory: their contents are synthesised from the machine's
content seed (see :mod:`swsim.machine.content`). swsim then appends its checksum pages and its trailer
page (digest: XXH3-128 by default, or SHA-256; :mod:`swsim.image.digest`).

Zero pages (``zero_pages="skip"``, the default, as kernels since v6.6, commit 005e8dddd497):
an all-zero page is saved as its pfn with ``ENCODED_PFN_ZERO_FLAG`` and no data page. The kernel
finds them by reading each page; swsim asks the content model, whose zero kind is exactly the
set of all-zero pages (text pages hold no NUL byte; a random page is 512 distinct splitmix64
outputs, at most one of them zero). ``zero_pages="store"`` writes them as data pages (pre-v6.6).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

import numpy as np

from swsim.image.auth import FLAG_SIGNED, new_mac
from swsim.kernel.constants import FLAG_NO_DATA, PAGE_SIZE
from swsim.machine.content import BATCH_PAGES, KIND_ZERO, page_contents, page_kinds
from swsim.image.digest import DEFAULT_DIGEST, digest_by_name
from swsim.errors import UsageError
from swsim.image.header import ImageHeader, encode_meta_pfns, pack_meta_pages, pack_trailer
from swsim.image.checks import FLAG_BLOCK_CRC32, BlockCrc32
from swsim.machine.model import Machine
from swsim.progress import ProgressFactory, no_progress
from swsim.image.worker import Worker

#: ``swsim snapshot --zero-pages``: leave all-zero pages out of the data (v6.6+) or store them.
ZERO_PAGES_MODES = ("skip", "store")


class SnapshotReadHandle:
    """The image of ``machine`` as a sequence of pages (``snapshot_read_next``)."""

    def __init__(self, machine: Machine, zero_pages: str = "skip", no_data: bool = False) -> None:
        if zero_pages not in ZERO_PAGES_MODES:
            raise UsageError(f"--zero-pages must be one of {', '.join(ZERO_PAGES_MODES)}")
        self.machine = machine
        self.pfns = machine.saveable_pfns()
        if zero_pages == "skip":
            self.zero = page_kinds(machine.content, self.pfns) == KIND_ZERO
        else:
            self.zero = np.zeros(len(self.pfns), dtype=bool)
        #: the pfns that get a data page, in image order
        self.data_pfns = self.pfns[~self.zero]
        self.meta = encode_meta_pfns(self.pfns, self.zero)
        self.header = ImageHeader.for_machine(
            machine, len(self.pfns), flags=FLAG_NO_DATA if no_data else 0,
            nr_zero_pages=int(self.zero.sum()),
        )
        self.cur = 0

    @property
    def total_pages(self) -> int:
        return self.header.stream_pages

    def snapshot_read_next(self) -> bytes | None:
        """The next page of the image, or None once header, metadata and data are out."""
        cur = self.cur
        if cur >= self.header.stream_pages:
            return None
        self.cur += 1
        if cur == 0:
            return self.header.pack()
        if cur <= self.header.nr_meta_pages:
            start = (cur - 1) * (PAGE_SIZE // 8)
            return pack_meta_pages(self.meta[start : start + PAGE_SIZE // 8])
        index = cur - 1 - self.header.nr_meta_pages
        return page_contents(self.machine.content, self.data_pfns[index : index + 1]).tobytes()

    def iter_chunks(self, batch_pages: int = BATCH_PAGES) -> Iterator[bytes | np.ndarray]:
        """The same bytes as repeated :meth:`snapshot_read_next`, in large chunks."""
        yield self.header.pack()
        yield pack_meta_pages(self.meta)
        pfns = self.data_pfns[: self.header.nr_stored_pages]
        for start in range(0, len(pfns), batch_pages):
            yield page_contents(self.machine.content, pfns[start : start + batch_pages])


def write_image(
    machine: Machine,
    out: BinaryIO,
    zero_pages: str = "skip",
    key: bytes | None = None,
    no_data: bool = False,
    progress: ProgressFactory = no_progress,
    digest: str = DEFAULT_DIGEST,
) -> ImageHeader:
    """Write the whole image of ``machine`` to a binary stream.

    After the data pages come swsim's checksum pages (CRC32 per 32 data pages) and the
    trailer (the ``digest`` of everything before it, ``xxh3`` or ``sha256``; with ``key``,
    also its HMAC-SHA256). With
    ``no_data`` the image holds header and metadata only (header flag ``FLAG_NO_DATA``): enough
    for ``restore --no-data`` to count what any strategy would do.
    """
    algo = digest_by_name(digest)
    handle = SnapshotReadHandle(machine, zero_pages, no_data)
    flags = handle.header.flags | FLAG_BLOCK_CRC32 | algo.header_flags
    handle.header = replace(handle.header, flags=flags | (FLAG_SIGNED if key is not None else 0))
    hasher = algo.new()
    mac = new_mac(key) if key is not None else None
    crc = BlockCrc32()
    worker = Worker()  # the digests run on a second core while pages are made and written

    def digests(data: bytes | memoryview) -> None:
        hasher.update(data)
        if mac is not None:
            mac.update(data)

    def emit(data: bytes | memoryview) -> None:
        worker.submit(digests, data)
        out.write(data)

    try:
        with progress("snapshot", handle.header.nr_stored_pages) as advance:
            for index, chunk in enumerate(handle.iter_chunks()):
                if isinstance(chunk, np.ndarray):
                    worker.submit(crc.update, chunk)
                    emit(chunk.reshape(-1).data)
                    if advance:
                        advance(len(chunk))
                else:
                    emit(chunk)
                    assert index < 2, "only header and metadata come as bytes"
        worker.wait()
        emit(crc.pack())
        worker.wait()
    finally:
        worker.close()
    mac_bytes = mac.digest() if mac else b""
    out.write(pack_trailer(algo, hasher.digest(), handle.header.stream_pages, mac_bytes))
    return handle.header

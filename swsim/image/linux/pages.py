"""The page stream an image holds: header page, metadata pages, data pages, in order.

Both kernel formats hold the pages ``snapshot_read_next()`` gives, in that order; they differ
in how they are stored. :class:`StreamPages` reads them from a /dev/snapshot stream as they
come. :class:`SwapPages` reads them from a swap device through its swap map: the header page
from the first entry, then one page per entry (``NOCOMPRESS``) or chunk after chunk (LZO,
LZ4), running the kernel's CRC32 over each chunk's uncompressed bytes as it is decoded.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from swsim.errors import ImageError
from swsim.image.codecs.base import ImageInput, read_head
from swsim.image.linux.chunks import ChunkCodec
from swsim.image.linux.crc32 import crc32_le
from swsim.image.linux.device import SwapDevice
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PfnArray


class PageStream(Protocol):
    """The image's pages, read in order."""

    def read(self, nr_pages: int, what: str) -> bytes:
        """The next ``nr_pages`` pages (an :class:`ImageError` naming ``what`` if short)."""

    def finish(self) -> None:
        """After the last page: nothing may be left over."""


class StreamPages:
    """The pages of a /dev/snapshot stream, as read from ``data``."""

    def __init__(self, data: ImageInput) -> None:
        self._data = data

    def read(self, nr_pages: int, what: str) -> bytes:
        """The next ``nr_pages`` pages of the stream."""
        want = nr_pages * PAGE_SIZE
        got = read_head(self._data, want)
        if len(got) != want:
            raise ImageError(
                f"truncated image: stream ended in the {what} ({len(got)} of {want} bytes read)"
            )
        return got

    def finish(self) -> None:
        """The stream must end with the last data page."""
        if self._data.read(1):
            raise ImageError("corrupted image: unexpected bytes after the last data page")


def read_entries(device: SwapDevice, offsets: PfnArray) -> bytes:
    """The swap pages at ``offsets``, in that order, each run of consecutive pages in one read."""
    if len(offsets) == 0:
        return b""
    breaks = np.flatnonzero(np.diff(offsets) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(offsets)]])
    return b"".join(
        device.read_pages(int(offsets[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)
    )


class SwapPages:
    """The pages of a swap image, read through its swap map with ``codec``."""

    def __init__(self, device: SwapDevice, entries: PfnArray, codec: ChunkCodec) -> None:
        #: the device the pages are read from
        self.device = device
        self._entries = entries
        self._codec = codec
        self._next = 0  # the next map entry to read
        self._pending = b""  # decoded pages of the current chunk not handed out yet
        #: ``crc32_le`` over the uncompressed chunks decoded so far
        self.crc32 = 0
        #: chunks decoded, and the device pages they occupied
        self.nr_chunks = 0
        self.stored_pages = 0
        #: the sum of the chunks' compressed lengths (the kernel's ``compressed_size``)
        self.compressed_bytes = 0

    @property
    def nr_entries(self) -> int:
        """Map entries in all."""
        return len(self._entries)

    def _take_entries(self, count: int, what: str) -> bytes:
        start = self._next
        if start + count > len(self._entries):
            raise ImageError(
                f"truncated image: the swap map ends in the {what} ({len(self._entries)} "
                "entries)"
            )
        self._next = start + count
        self.stored_pages += count
        return read_entries(self.device, self._entries[start : start + count])

    def read_header(self) -> bytes:
        """The header page: always the first entry, never compressed."""
        return self._take_entries(1, "header page")

    def read(self, nr_pages: int, what: str) -> bytes:
        """The next ``nr_pages`` pages after the header."""
        if not self._codec.chunked:
            return self._take_entries(nr_pages, what)
        want = nr_pages * PAGE_SIZE
        parts = []
        have = 0
        while have < want:
            if not self._pending:
                self._pending = self._next_chunk(what)
            take = self._pending[: want - have]
            self._pending = self._pending[len(take) :]
            parts.append(take)
            have += len(take)
        return b"".join(parts)

    def _next_chunk(self, what: str) -> bytes:
        first = self._take_entries(1, what)
        cmp_len, need = self._codec.unpack_chunk(first)
        self.compressed_bytes += cmp_len
        rest = self._take_entries(need - 1, what) if need > 1 else b""
        unc = self._codec.decode_chunk(first + rest)
        self.crc32 = crc32_le(self.crc32, unc)
        self.nr_chunks += 1
        return unc

    def finish(self) -> None:
        """Every map entry used, no decoded page left over."""
        if self._pending:
            raise ImageError(
                f"corrupted image: the last chunk holds {len(self._pending) // PAGE_SIZE} pages "
                "more than the image"
            )
        if self._next != len(self._entries):
            raise ImageError(
                f"corrupted image: the swap map lists {len(self._entries) - self._next} pages "
                "after the end of the image"
            )

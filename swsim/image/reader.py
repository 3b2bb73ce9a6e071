"""Reading a swsim image front to back with every check: its :class:`ImageSource`.

:class:`ImageReader` reads the pages in order and feeds every byte to the trailer digest and
(with a key) the HMAC, on a second core; :class:`SwsimImage` adds the block CRCs and the MAC and
is what :func:`swsim.image.source.open_image` returns for a swsim image. The header has been
parsed and validated before anything is allocated from its numbers, and decompression is
bounded by the size it declares. :meth:`SwsimImage.finish` checks the block CRCs, the trailer
and the end of the stream; a restore calls it before the final copies, so a bad image never
changes the simulated memory.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from swsim.errors import ImageError
from swsim.image.auth import check_mac, is_signed, new_mac, require_signed
from swsim.image.checks import BlockCrc32, ImageChecks, check_crc_padding
from swsim.image.codecs.base import ImageInput, WritableBuffer, fill_buffer, read_head
from swsim.image.digest import Hasher, digest_for_flags
from swsim.image.format import FLAG_BLOCK_CRC32, nr_crc_blocks, nr_crc_pages, tail_pages
from swsim.image.header import ImageHeader
from swsim.image.info import ImageInfo
from swsim.image.meta import padding_is_zero
from swsim.image.trailer import check_trailer
from swsim.image.worker import Worker
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray

#: Pages read from a stream per batch by :meth:`ImageReader.iter_data`.
READ_BATCH_PAGES = 1024
#: Pages read per step by :meth:`SwsimImage.authenticate_rest`.
_DRAIN_PAGES = 256


class CountingInput:
    """An :class:`~swsim.image.codecs.base.ImageInput` that counts the image bytes handed out."""

    def __init__(self, source: ImageInput) -> None:
        self.source = source
        self.codec = source.codec
        self.consumed = 0
        #: the stream the image is read from, when it is stored raw (a format that seeks, the
        #: swap device, reads it in place if it can)
        self.origin: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, counted."""
        data = self.source.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer``, counting the bytes."""
        count = self.source.readinto(buffer)
        self.consumed += count
        return count

    def set_limit(self, nbytes: int) -> None:
        """Bound the underlying input (see ``ImageInput.set_limit``)."""
        self.source.set_limit(nbytes)


class ImageReader:
    """Reads an image's pages once, front to back, hashing every byte.

    The header page has been read and parsed; :meth:`iter_meta_pages`, :meth:`iter_data` and
    :meth:`check_trailer` must then be called in that order.
    """

    def __init__(
        self, stream: ImageInput, header_page: bytes, header: ImageHeader,
        mac: hmac.HMAC | None = None,
    ) -> None:
        self._stream = stream
        self.header = header
        self._mac = mac
        #: the trailer digest's algorithm, from the header flags
        self.digest_algorithm = digest_for_flags(header.flags)
        self._hash: Hasher = self.digest_algorithm.new()
        self._digest(header_page)
        #: digests every byte read, on a second core (see :mod:`swsim.image.worker`)
        self.worker = Worker()

    def _read_exact(self, nbytes: int, what: str) -> bytes:
        chunks = []
        got = 0
        while got < nbytes:
            chunk = self._stream.read(nbytes - got)
            if not chunk:
                raise ImageError(
                    f"truncated image: stream ended in the {what} "
                    f"({got} of {nbytes} bytes read)"
                )
            chunks.append(chunk)
            got += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.worker.submit(self._digest, data)
        return data

    def _digest(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        if self._mac is not None:
            self._mac.update(data)

    def read_pages(self, nr_pages: int, what: str) -> bytes:
        """``nr_pages`` whole pages, hashed like the rest (swsim's checksum pages)."""
        return self._read_exact(nr_pages * PAGE_SIZE, what) if nr_pages else b""

    def iter_meta_pages(self) -> Iterator[bytes]:
        """The metadata pages, in order, each hashed like the rest; the last one's padding must
        be zero."""
        last = self.header.nr_meta_pages - 1
        for index in range(self.header.nr_meta_pages):
            page = self._read_exact(PAGE_SIZE, f"metadata page {index}")
            if index == last and not padding_is_zero(page, self.header.image_pages):
                raise ImageError(
                    "corrupted image: non-zero bytes in the padding of the last metadata page"
                )
            yield page

    def iter_data(
        self,
        batch_pages: int = READ_BATCH_PAGES,
        into: Callable[[int], PageArray] | None = None,
    ) -> Iterator[PageArray]:
        """Data pages in batches, each a ``(n, PAGE_SIZE)`` uint8 array.

        ``into(n)``, if given, supplies the array each batch is read into (a restore reads
        straight into its page slots, :meth:`swsim.resume.memory.SlotPool.reserve`); by default
        every batch is a new array.
        """
        total = self.header.nr_stored_pages
        for start in range(0, total, batch_pages):
            count = min(batch_pages, total - start)
            batch = into(count) if into else np.empty((count, PAGE_SIZE), dtype=np.uint8)
            self._read_into(batch, f"data pages from {start}")
            yield batch

    def _read_into(self, batch: PageArray, what: str) -> None:
        """Fill ``batch`` from the stream with ``readinto`` (no copy)."""
        buffer = memoryview(batch.reshape(-1).data)
        got = fill_buffer(self._stream.readinto, buffer)
        if got < len(buffer):
            raise ImageError(
                f"truncated image: stream ended in the {what} ({got} of {len(buffer)} bytes read)"
            )
        self.worker.submit(self._digest, buffer)

    def check_trailer(self) -> bytes:
        """Read the trailer, compare its digest with everything read before it; return its MAC."""
        self.worker.wait()
        self.worker.close()
        digest = self._hash.digest()
        page = read_head(self._stream, PAGE_SIZE)
        mac = check_trailer(self.digest_algorithm, page, digest, self.header.stream_pages)
        if self._stream.read(1):
            raise ImageError("corrupted image: unexpected bytes after the trailer page")
        return mac


class SwsimImage:
    """A swsim image being read with all its checks: the swsim format's ``ImageSource``."""

    def __init__(
        self,
        source: CountingInput,
        header_page: bytes,
        key: bytes | None = None,
        checks: ImageChecks | None = None,
    ) -> None:
        header = ImageHeader.unpack(header_page)
        if key is not None:
            require_signed(header.flags)
        source.set_limit((header.stream_pages + tail_pages(header.flags, header.nr_stored_pages))
                         * PAGE_SIZE)
        self._source = source
        self._mac = new_mac(key) if key is not None else None
        self.reader = ImageReader(source, header_page, header, self._mac)
        self.header = header
        self.header_page = header_page
        self.info: ImageInfo = header.info()
        self.keyed = key is not None
        #: CRC32 per 32 data pages as read, when the image has checksum pages to check them by
        self.crc = BlockCrc32()
        #: batches read into the caller's memory, for the CRCs if the digest fails
        self._kept: list[PageArray] | None = None
        self.checks = checks if checks is not None else ImageChecks()
        self.checks.codec = source.codec
        self.checks.signed = is_signed(header.flags)
        self.checks.block_checksums = bool(header.flags & FLAG_BLOCK_CRC32)

    def describe(self) -> dict[str, Any]:
        """The header's fields, for ``swsim inspect``."""
        return self.header.describe()

    def iter_meta_pages(self) -> Iterator[bytes]:
        """The metadata pages, in order."""
        return self.reader.iter_meta_pages()

    def iter_data(self, into: Callable[[int], PageArray] | None = None) -> Iterator[PageArray]:
        """Data pages in batches (see :meth:`ImageReader.iter_data`).

        With checksum pages in the image, each batch is fed to the block CRCs as it is read; but
        batches read ``into`` memory the caller keeps (a restore's page slots, which never
        change) are only kept track of, and their CRCs computed if the digest fails, to say
        which block is damaged (:meth:`finish`).
        """
        self._kept = [] if into is not None and self.checks.block_checksums else None
        for batch in self.reader.iter_data(into=into):
            if self._kept is not None:
                self._kept.append(batch)
            elif self.checks.block_checksums:
                self.reader.worker.submit(self.crc.update, batch)
            yield batch

    def finish(self, pfn_of: Callable[[int], int]) -> ImageChecks:
        """After the data: check block CRCs, trailer digest, MAC and the end of the stream.

        Block CRCs computed while reading are checked first. Those of kept batches are computed
        only when the trailer check fails: an intact digest (over the checksum pages too)
        already shows they are what the writer stored; otherwise the first damaged block is
        reported, as when they are checked first. ``pfn_of(i)`` is data page ``i``'s pfn.
        """
        header = self.header
        self.reader.worker.wait()
        stored = b""
        if self.checks.block_checksums:
            stored = self.reader.read_pages(nr_crc_pages(header.nr_stored_pages), "checksum pages")
            if self._kept is None:
                self.crc.check(stored, header.nr_stored_pages, pfn_of)
        try:
            mac_field = self.reader.check_trailer()
        except ImageError:  # digest mismatch, or a trailer out of place: which block is damaged?
            if self._kept is not None:
                for batch in self._kept:
                    self.crc.update(batch)
                self.crc.check(stored, header.nr_stored_pages, pfn_of)
            raise
        if self._kept is not None:
            check_crc_padding(stored, nr_crc_blocks(header.nr_stored_pages))
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)
        return self.checks

    def close(self) -> None:
        """Stop the hashing thread and let go of the pages read (idempotent); the source can be
        read no further."""
        self.reader.worker.close()
        self._kept = None

    def authenticate_rest(self) -> None:
        """Read the rest of the image unprocessed and check its MAC (and digest).

        With a key, a machine mismatch found in the metadata is only reported as such once the
        image is known to be authentic; otherwise the metadata may have been forged, and the
        caller reports an authentication failure instead (this raises it).
        """
        header = self.header
        tail = tail_pages(header.flags, header.nr_stored_pages) - 1
        remaining = (header.stream_pages + tail) * PAGE_SIZE - self._source.consumed
        while remaining > 0:
            nr_pages = min(_DRAIN_PAGES, remaining // PAGE_SIZE)
            self.reader.read_pages(nr_pages, "rest of the image")
            remaining -= nr_pages * PAGE_SIZE
        mac_field = self.reader.check_trailer()
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)

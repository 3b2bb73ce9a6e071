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
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from swsim.errors import ImageError
from swsim.image.auth import check_mac, is_signed, new_mac, require_signed
from swsim.image.checks import BlockCrc32, ImageChecks
from swsim.image.codecs.base import ImageInput, WritableBuffer, fill_buffer, read_head
from swsim.image.codecs.raw import RawImageReader
from swsim.image.codecs.zstd import ZstdImageReader
from swsim.image.digest import Hasher, digest_for_flags
from swsim.image.format import FLAG_BLOCK_CRC32, nr_crc_pages, tail_pages
from swsim.image.header import ImageHeader
from swsim.image.info import ImageInfo
from swsim.image.meta import padding_is_zero
from swsim.image.trailer import check_trailer
from swsim.image.worker import BufferRing, SplitReader, Worker, read_ahead
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray

#: Pages read from a stream per batch by :meth:`ImageReader.iter_data`.
READ_BATCH_PAGES = 1024
#: Batch buffers a data stream reuses (:class:`~swsim.image.worker.BufferRing`): 24 MiB.
RING_BUFFERS = 6
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

    def read_ahead(self) -> None:
        """Decode on two cores from now on, when the codec can (zstd: the compressed file is
        read on a thread of its own); :meth:`close` stops it."""
        if isinstance(self.source, ZstdImageReader):
            self.source.read_ahead()

    def close(self) -> None:
        """Stop what :meth:`read_ahead` started (idempotent)."""
        if isinstance(self.source, ZstdImageReader):
            self.source.close()

    def split_reader(self) -> SplitReader | None:
        """A :class:`~swsim.image.worker.SplitReader` of the rest of the image, when it is
        stored raw in a regular file (read at any offset, and no byte of it held back); the
        caller then reads through :meth:`read_split`."""
        origin = self.origin
        if origin is None or not isinstance(self.source, RawImageReader) or self.source.pending:
            return None
        try:
            fd = origin.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return SplitReader(fd, origin.tell())
        except (OSError, ValueError, AttributeError):  # no descriptor, or it cannot seek
            return None

    def read_split(self, split: SplitReader, buffer: memoryview) -> int:
        """Fill ``buffer`` through ``split``, counted; the stream moves past what was read, so
        that reading may go on through :meth:`readinto`."""
        assert self.origin is not None
        count = split.readinto(buffer)
        self.consumed += count
        self.origin.seek(split.offset)
        return count


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

    @property
    def stream(self) -> ImageInput:
        """The image's bytes, as read."""
        return self._stream

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
        self, ring: BufferRing, crc: BlockCrc32 | None = None, split: SplitReader | None = None
    ) -> Iterator[PageArray]:
        """Data pages in batches, each a ``(n, PAGE_SIZE)`` uint8 array read into the next
        buffer of ``ring`` (through ``split`` if given: see :meth:`CountingInput.split_reader`)
        and fed (on the worker) to the digest, the MAC and ``crc``.

        Meant to run on a reading thread (:class:`DataStream`): each buffer is reused once the
        consumer and the worker are done with it.
        """
        total = self.header.nr_stored_pages
        batch_pages = len(ring.buffers[0])
        for n, start in enumerate(range(0, total, batch_pages)):
            buffer = ring.acquire(n)
            if buffer is None:
                return
            batch = buffer[: min(batch_pages, total - start)]
            data = self._read_into(batch, f"data pages from {start}", split)
            # one item per batch: digest, MAC, CRCs, then the buffer is free again
            self.worker.submit(self._check_batch, data, batch, crc, ring, always=True)
            yield batch

    def _check_batch(
        self, data: memoryview, batch: PageArray, crc: BlockCrc32 | None, ring: BufferRing
    ) -> None:
        try:
            if not self.worker.failed:
                self._digest(data)
                if crc is not None:
                    crc.update(batch)
        finally:
            ring.hashed()

    def _read_into(
        self, batch: PageArray, what: str, split: SplitReader | None = None
    ) -> memoryview:
        """Fill ``batch`` from the stream with ``readinto`` (no copy), or through ``split``;
        its bytes."""
        buffer = memoryview(batch.reshape(-1).data)
        if split is not None:
            assert isinstance(self._stream, CountingInput)
            got = self._stream.read_split(split, buffer)
        else:
            got = fill_buffer(self._stream.readinto, buffer)
        if got < len(buffer):
            raise ImageError(
                f"truncated image: stream ended in the {what} ({got} of {len(buffer)} bytes read)"
            )
        return buffer

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


class DataStream(Iterator[PageArray]):
    """An image's data pages, read ahead on a thread into a ring of reused buffers.

    Each batch is valid until the next one is asked for. Close it (or use it as a context
    manager) to stop the reading thread if the batches are not all taken.
    """

    def __init__(self, reader: ImageReader, crc: BlockCrc32 | None) -> None:
        self._ring = BufferRing(RING_BUFFERS, READ_BATCH_PAGES)
        stream = reader.stream
        self._split = None
        if isinstance(stream, CountingInput):
            self._split = stream.split_reader()
            stream.read_ahead()
        self._ahead = read_ahead(reader.iter_data(self._ring, crc, self._split),
                                 depth=RING_BUFFERS)
        self._handed = False

    def __next__(self) -> PageArray:
        if self._handed:
            self._ring.release()
        batch = next(self._ahead)
        self._handed = True
        return batch

    def close(self) -> None:
        """Stop the reading thread (idempotent)."""
        self._ring.close()
        self._ahead.close()
        if self._split is not None:
            self._split.close()

    def __enter__(self) -> DataStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        self._stream: DataStream | None = None
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

    def iter_data(self) -> DataStream:
        """The data pages in batches (see :class:`DataStream`), each fed to the digest, the
        MAC and, with checksum pages in the image, the block CRCs as it is read."""
        crc = self.crc if self.checks.block_checksums else None
        self._stream = DataStream(self.reader, crc)
        return self._stream

    def finish(self, pfn_of: Callable[[int], int]) -> ImageChecks:
        """After the data: check block CRCs, trailer digest, MAC and the end of the stream.

        The block CRCs are checked first, so a damaged block is named as such.
        ``pfn_of(i)`` is data page ``i``'s pfn.
        """
        header = self.header
        self.reader.worker.wait()
        if self.checks.block_checksums:
            stored = self.reader.read_pages(nr_crc_pages(header.nr_stored_pages), "checksum pages")
            self.crc.check(stored, header.nr_stored_pages, pfn_of)
        mac_field = self.reader.check_trailer()
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)
        return self.checks

    def close(self) -> None:
        """Stop the hashing thread and let go of the pages read (idempotent); the source can be
        read no further."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None  # its ring of buffers goes with it
        self.reader.worker.close()
        self._source.close()

    def authenticate_rest(self) -> None:
        """Read the rest of the image unprocessed and check its MAC (and digest).

        With a key, a machine mismatch found in the metadata is only reported as such once the
        image is known to be authentic; otherwise the metadata may have been forged, and the
        caller reports an authentication failure instead (this raises it).
        """
        if self._stream is not None:
            self._stream.close()  # no reading thread beside this one
        header = self.header
        tail = tail_pages(header.flags, header.nr_stored_pages) - 1
        remaining = (header.stream_pages + tail) * PAGE_SIZE - self._source.consumed
        while remaining > 0:
            nr_pages = min(_DRAIN_PAGES, remaining // PAGE_SIZE)
            self.reader.read_pages(nr_pages, "rest of the image")
            remaining -= nr_pages * PAGE_SIZE
        mac_field = self.reader.check_trailer()
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)

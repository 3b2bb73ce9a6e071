"""Reading an image with every check: compression, header, block CRCs, digest and MAC.

:func:`open_checked_image` is what restore, compare and inspect read images through: it
detects zstd by its magic, parses and validates the header before anything is allocated from
its numbers, bounds decompression by the header's size, and feeds every byte to the digest,
the block CRCs and (with a key) the HMAC. :meth:`CheckedImage.finish` checks them all; a
restore calls it before the final copies, so a bad image never changes the simulated memory.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

import numpy as np

from swsim.image.auth import check_mac, is_signed, new_mac, require_signed
from swsim.image.codecs import ImageInput, open_image_stream
from swsim.kernel.constants import PAGE_SIZE, div_round_up
from swsim.errors import AuthError, ImageError
from swsim.image.header import ImageHeader, ImageReader
from swsim.image.checks import (
    CRC_BLOCK_PAGES,
    FLAG_BLOCK_CRC32,
    BlockCrc32,
    ImageChecks,
    check_crc_padding,
    nr_crc_pages,
    tail_pages,
    validate_header_fields,
)


@contextlib.contextmanager
def auth_failures(key: bytes | None) -> Iterator[None]:
    """With a key, an image that is not intact is not authentic: ImageError becomes exit 6."""
    try:
        yield
    except ImageError as exc:
        if key is None:
            raise
        raise AuthError(f"authentication failed: {exc}") from None


class _CountingInput:
    """An :class:`ImageInput` that counts the image bytes handed out."""

    def __init__(self, source: ImageInput) -> None:
        self.source = source
        self.compressed = source.compressed
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        count = self.source.readinto(buffer)
        self.consumed += count
        return count

    def set_limit(self, nbytes: int) -> None:
        self.source.set_limit(nbytes)


#: Pages read per step by :meth:`CheckedImage.authenticate_rest`.
_DRAIN_PAGES = 256


class CheckedImage:
    """An image being read front to back with all its checks (see the module docstring)."""

    def __init__(
        self,
        source: _CountingInput,
        reader: ImageReader,
        mac: hmac.HMAC | None,
        checks: ImageChecks | None = None,
    ) -> None:
        self.source = source
        self.reader = reader
        self.header: ImageHeader = reader.header
        self._mac = mac
        flags = self.header.flags
        #: CRC32 per 32 data pages as read, when the image has checksum pages to check them by
        self.crc = BlockCrc32()
        #: batches read into the caller's memory, for the CRCs if the digest fails
        self._kept: list[np.ndarray] | None = None
        self.checks = checks if checks is not None else ImageChecks()
        self.checks.compressed = source.compressed
        self.checks.signed = is_signed(flags)
        self.checks.block_checksums = bool(flags & FLAG_BLOCK_CRC32)

    @property
    def header_page(self) -> bytes:
        return self.reader.header_page

    def iter_meta_pages(self) -> Iterator[bytes]:
        return self.reader.iter_meta_pages()

    def iter_data(self, into: Callable[[int], np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """Data pages in batches (see :meth:`swsim.image.header.ImageReader.iter_data`).

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
        reported, as when they are checked first.
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
            check_crc_padding(stored, div_round_up(header.nr_stored_pages, CRC_BLOCK_PAGES))
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)
        return self.checks

    def authenticate_rest(self) -> None:
        """Read the rest of the image unprocessed and check its MAC (and digest).

        With a key, a machine mismatch found in the metadata is only reported as such once the
        image is known to be authentic; otherwise the metadata may have been forged, and the
        caller reports an authentication failure instead (this raises it).
        """
        header = self.header
        tail = tail_pages(header.flags, header.nr_stored_pages) - 1
        remaining = (header.stream_pages + tail) * PAGE_SIZE - self.source.consumed
        while remaining > 0:
            nr_pages = min(_DRAIN_PAGES, remaining // PAGE_SIZE)
            self.reader.read_pages(nr_pages, "rest of the image")
            remaining -= nr_pages * PAGE_SIZE
        mac_field = self.reader.check_trailer()
        self.checks.authenticated = check_mac(header.flags, mac_field, self._mac)


def open_checked_image(
    stream: BinaryIO, key: bytes | None = None, checks: ImageChecks | None = None
) -> CheckedImage:
    """Start reading an image (raw or zstd) from ``stream``; the header is read and checked.

    ``checks``, if given, is the record filled as the checks pass.
    With ``key`` an unsigned image is refused here, before any allocation. Call inside
    :func:`auth_failures` so that, with a key, every image error is an authentication failure.
    """
    source = _CountingInput(open_image_stream(stream))
    mac = new_mac(key) if key is not None else None
    reader = ImageReader(cast(BinaryIO, source), mac=mac)
    header = reader.header
    validate_header_fields(header.flags, header.num_physpages, header.image_pages)
    if key is not None:
        require_signed(header.flags)
    stream_pages = header.stream_pages + tail_pages(header.flags, header.nr_stored_pages)
    source.set_limit(stream_pages * PAGE_SIZE)
    return CheckedImage(source, reader, mac, checks)

"""Image format v1: header page, metadata pages, data pages, trailer page (docs/image-format.md).

The header is modelled on ``struct swsusp_info``; metadata pages pack each data page's pfn as a
little-endian u64, 512 per page (``unpack_orig_pfns``); data pages follow in increasing pfn
order; with header flag ``FLAG_ZERO_PAGES``, an all-zero page is a metadata pfn with
``ENCODED_PFN_ZERO_FLAG`` and no data page (docs/zero-pages.md). swsim's checksum pages (CRC32
per 32 data pages, :mod:`swsim.image.checks`) follow when header flag bit 3 is set; the trailer
carries a digest of every byte before it (XXH3-128 with header flag bit 4, else SHA-256:
:mod:`swsim.image.digest`) and, for a signed image (flag bit 2), an HMAC-SHA256 (:mod:`swsim.image.auth`).
The layout is stream-only: a reader never seeks, so images go through pipes (raw or zstd,
:mod:`swsim.image.codecs`).
"""

from __future__ import annotations

import hmac
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from swsim import __version__
from swsim.image.auth import MAC_SIZE, TRAILER_MAC_OFFSET
from swsim.image.codecs import fill_buffer
from swsim.kernel.constants import (
    ENCODED_PFN_ZERO_FLAG,
    FLAG_NO_DATA,
    FLAG_ZERO_PAGES,
    PAGE_SIZE,
    PFNS_PER_META_PAGE,
    nr_meta_pages,
)
from swsim.image.digest import (
    DIGEST_FIELD_SIZE,
    DigestAlgorithm,
    Hasher,
    digest_for_flags,
    digest_title,
)
from swsim.errors import ImageError, MachineError
from swsim.machine.model import Machine
from swsim.image.worker import Worker

IMAGE_MAGIC = b"SWSIMIMG"
TRAILER_MAGIC = b"SWSIMEND"
FORMAT_VERSION = 1
#: Header flag: metadata pfns may carry ENCODED_PFN_ZERO_FLAG (bit 63) for all-zero pages, which
#: ~ENCODED_PFN_ZERO_FLAG: the pfn part of a metadata entry (kernel: ENCODED_PFN_MASK).
ENCODED_PFN_MASK = ENCODED_PFN_ZERO_FLAG - 1

# struct swsusp_info, swsim edition: fixed fields, then the machine description.
_HEADER = struct.Struct("<8sIIQQQQQQII16sI4x64s")
_HEADER_CRC_OFFSET = PAGE_SIZE - 4
MACHINE_DESC_OFFSET = 256
MACHINE_DESC_MAX = _HEADER_CRC_OFFSET - MACHINE_DESC_OFFSET
_TRAILER = struct.Struct(f"<8sIIQ{DIGEST_FIELD_SIZE}s")

#: Pages read from a stream per batch by :meth:`ImageReader.iter_data`.
READ_BATCH_PAGES = 1024


@dataclass(frozen=True)
class ImageHeader:
    """The header page: what ``load_header()`` / ``check_header()`` look at."""

    num_physpages: int
    image_pages: int
    nr_meta_pages: int
    nr_data_pages: int
    machine: Machine
    identity: bytes
    flags: int = 0
    cpus: int = 1
    release: str = f"swsim {__version__}"
    version: int = FORMAT_VERSION

    @property
    def pages(self) -> int:
        """``pages`` of struct swsusp_info: header + metadata + data pages."""
        return 1 + self.nr_meta_pages + self.nr_data_pages

    @property
    def size(self) -> int:
        return self.pages * PAGE_SIZE

    @property
    def nr_stored_pages(self) -> int:
        """Data pages present in the stream: none in a ``--no-data`` image."""
        return 0 if self.flags & FLAG_NO_DATA else self.nr_data_pages

    @property
    def stream_pages(self) -> int:
        """Pages before swsim's tail (checksum pages, trailer): ``pages`` unless ``--no-data``."""
        return 1 + self.nr_meta_pages + self.nr_stored_pages

    @property
    def nr_zero_pages(self) -> int:
        """Image pages stored as a flagged metadata entry only (no data page)."""
        return self.image_pages - self.nr_data_pages

    @classmethod
    def for_machine(
        cls, machine: Machine, image_pages: int, flags: int = 0, nr_zero_pages: int = 0
    ) -> ImageHeader:
        if nr_zero_pages:
            flags |= FLAG_ZERO_PAGES
        return cls(
            num_physpages=machine.frames,
            image_pages=image_pages,
            nr_meta_pages=nr_meta_pages(image_pages),
            nr_data_pages=image_pages - nr_zero_pages,
            machine=machine,
            identity=machine.identity(),
            flags=flags,
        )

    def pack(self) -> bytes:
        desc = zlib.compress(self.machine.dumps().encode(), 9)
        if len(desc) > MACHINE_DESC_MAX:
            raise MachineError(
                f"machine description too large for the image header "
                f"({len(desc)} bytes compressed, at most {MACHINE_DESC_MAX})"
            )
        page = bytearray(PAGE_SIZE)
        _HEADER.pack_into(
            page, 0, IMAGE_MAGIC, self.version, PAGE_SIZE, self.num_physpages,
            self.image_pages, self.pages, self.size, self.nr_meta_pages, self.nr_data_pages,
            self.flags, self.cpus, self.identity, len(desc), self.release.encode()[:64],
        )
        page[MACHINE_DESC_OFFSET : MACHINE_DESC_OFFSET + len(desc)] = desc
        struct.pack_into("<I", page, _HEADER_CRC_OFFSET, zlib.crc32(page))
        return bytes(page)

    @classmethod
    def unpack(cls, page: bytes) -> ImageHeader:
        """Parse and check a header page; every inconsistency is an :class:`ImageError`."""
        if len(page) < PAGE_SIZE:
            raise ImageError("truncated image: the header page is incomplete")
        if page[:8] != IMAGE_MAGIC:
            raise ImageError("not an swsim image (bad magic in the header page)")
        (_, version, page_size, num_physpages, image_pages, pages, size, meta, data, flags,
         cpus, identity, desc_len, release) = _HEADER.unpack_from(page, 0)
        if version != FORMAT_VERSION:
            raise ImageError(f"unsupported image format version {version} (this swsim reads 1)")
        (crc,) = struct.unpack_from("<I", page, _HEADER_CRC_OFFSET)
        if zlib.crc32(bytes(page[:_HEADER_CRC_OFFSET]) + b"\0\0\0\0") != crc:
            raise ImageError("corrupted image: header checksum mismatch")
        if page_size != PAGE_SIZE:
            raise ImageError(f"image page size {page_size} is not {PAGE_SIZE}")
        data_ok = data <= image_pages if flags & FLAG_ZERO_PAGES else data == image_pages
        if meta != nr_meta_pages(image_pages) or not data_ok:
            raise ImageError(
                f"corrupted image: header counts disagree ({image_pages} image pages, "
                f"{meta} metadata pages, {data} data pages)"
            )
        if pages != 1 + meta + data or size != pages * PAGE_SIZE:
            raise ImageError("corrupted image: header pages/size fields disagree")
        if image_pages > num_physpages:
            raise ImageError("corrupted image: more image pages than page frames")
        if not 0 < desc_len <= MACHINE_DESC_MAX:
            raise ImageError("corrupted image: bad machine description length")
        try:
            desc = zlib.decompress(page[MACHINE_DESC_OFFSET : MACHINE_DESC_OFFSET + desc_len])
            machine = Machine.loads(desc, where="image machine description")
        except (zlib.error, MachineError) as exc:
            raise ImageError(f"corrupted image: bad machine description ({exc})") from None
        if machine.frames != num_physpages or machine.identity() != identity:
            raise ImageError("corrupted image: machine description does not match the header")
        return cls(
            num_physpages=num_physpages, image_pages=image_pages, nr_meta_pages=meta,
            nr_data_pages=data, machine=machine, identity=identity, flags=flags, cpus=cpus,
            release=release.rstrip(b"\0").decode(errors="replace"), version=version,
        )


def pack_meta_pages(pfns: np.ndarray) -> bytes:
    """Metadata pages: little-endian u64 pfns, 512 per page, the last page zero-padded."""
    nr_meta = nr_meta_pages(len(pfns))
    out = np.zeros(nr_meta * PFNS_PER_META_PAGE, dtype="<u8")
    out[: len(pfns)] = pfns
    return out.tobytes()


def encode_meta_pfns(pfns: np.ndarray, zero: np.ndarray | None) -> np.ndarray:
    """Metadata entries: each pfn, with ENCODED_PFN_ZERO_FLAG set where ``zero`` is True."""
    encoded = np.asarray(pfns, dtype=np.uint64).copy()
    if zero is not None:
        encoded[zero] |= np.uint64(ENCODED_PFN_ZERO_FLAG)
    return encoded


def decode_meta_page(page: bytes | np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``unpack_orig_pfns()`` of v6.6+: the pfns (int64) and which of them are zero pages."""
    raw = np.frombuffer(page, dtype="<u8", count=count)
    zero = (raw & np.uint64(ENCODED_PFN_ZERO_FLAG)) != 0
    return (raw & np.uint64(ENCODED_PFN_MASK)).astype(np.int64), zero


def pack_trailer(algo: DigestAlgorithm, digest: bytes, pages: int, mac: bytes = b"") -> bytes:
    """The trailer page: ``algo``'s digest of everything before it (zero-padded to the
    digest field), then the MAC of a signed image."""
    assert len(digest) == algo.size, "a digest of the algorithm the trailer names"
    page = bytearray(PAGE_SIZE)
    _TRAILER.pack_into(page, 0, TRAILER_MAGIC, FORMAT_VERSION, algo.trailer_id, pages, digest)
    page[TRAILER_MAC_OFFSET : TRAILER_MAC_OFFSET + len(mac)] = mac
    return bytes(page)


def check_trailer(algo: DigestAlgorithm, page: bytes, digest: bytes, pages: int) -> bytes:
    """Check the trailer page against ``algo``'s digest computed while reading; return its MAC
    field.

    Every byte of the trailer is checked: the fields (the algorithm must be the one the header
    flags select), the digest, the zero rest of the digest field, and zero padding after the
    MAC field (which :func:`swsim.image.auth.check_mac` checks), so no changed byte goes unnoticed.
    """
    if len(page) < PAGE_SIZE:
        raise ImageError("truncated image: the trailer page is missing or incomplete")
    magic, version, trailer_id, covered, stored = _TRAILER.unpack_from(page, 0)
    if magic != TRAILER_MAGIC or version != FORMAT_VERSION:
        raise ImageError("corrupted image: bad trailer page")
    if trailer_id != algo.trailer_id:
        raise ImageError(
            f"corrupted image: bad trailer page (digest algorithm {digest_title(trailer_id)}, "
            f"but the header flags say {algo.title})"
        )
    if covered != pages:
        raise ImageError("corrupted image: trailer page count does not match the header")
    if stored[: algo.size] != digest:
        raise ImageError("corrupted image: digest mismatch (the image was changed or damaged)")
    if any(stored[algo.size :]):
        raise ImageError(f"corrupted image: non-zero bytes after the {algo.title} digest")
    if any(page[TRAILER_MAC_OFFSET + MAC_SIZE :]):
        raise ImageError("corrupted image: non-zero padding in the trailer page")
    return bytes(page[TRAILER_MAC_OFFSET : TRAILER_MAC_OFFSET + MAC_SIZE])


class ImageReader:
    """Reads an image from a stream once, front to back, hashing every byte.

    ``header`` is parsed on construction; then :meth:`iter_meta_pages`, :meth:`iter_data` and
    :meth:`check_trailer` must be called in that order.
    """

    def __init__(self, stream: BinaryIO, mac: hmac.HMAC | None = None) -> None:
        self._stream = stream
        #: chosen by the header's flags once it is parsed (see :meth:`_digest`)
        self._hash: Hasher | None = None
        self._mac = mac
        self._head = b""  # the first bytes of the last read, to tell "short" from "not an image"
        #: digests every byte read, on a second core (see :mod:`swsim.image.worker`)
        self.worker = Worker()
        try:
            self.header_page = self._read_exact(PAGE_SIZE, "header page")
        except ImageError:
            if self._head and not self._head.startswith(IMAGE_MAGIC[: len(self._head)]):
                raise ImageError("not an swsim image (too short, and no swsim magic)") from None
            raise
        self.header = ImageHeader.unpack(self.header_page)
        #: the trailer digest's algorithm, from the header flags
        self.digest_algorithm = digest_for_flags(self.header.flags)
        self.worker.wait()  # the header page has gone to the MAC only: hash it now
        self._hash = self.digest_algorithm.new()
        self._hash.update(self.header_page)

    def _read_exact(self, nbytes: int, what: str) -> bytes:
        chunks = []
        got = 0
        while got < nbytes:
            chunk = self._stream.read(nbytes - got)
            if not got:
                self._head = chunk
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

    def _digest(self, data: bytes) -> None:
        # None only for the header page, whose flags choose the algorithm (see __init__).
        if self._hash is not None:
            self._hash.update(data)
        if self._mac is not None:
            self._mac.update(data)

    def read_pages(self, nr_pages: int, what: str) -> bytes:
        """``nr_pages`` whole pages, hashed like the rest (swsim's checksum pages)."""
        return self._read_exact(nr_pages * PAGE_SIZE, what) if nr_pages else b""

    def iter_meta_pages(self) -> Iterator[bytes]:
        for index in range(self.header.nr_meta_pages):
            yield self._read_exact(PAGE_SIZE, f"metadata page {index}")

    def iter_data(
        self,
        batch_pages: int = READ_BATCH_PAGES,
        into: Callable[[int], np.ndarray] | None = None,
    ) -> Iterator[np.ndarray]:
        """Data pages in batches, each a ``(n, PAGE_SIZE)`` uint8 array.

        ``into(n)``, if given, supplies the array each batch is read into (a restore reads
        straight into its page slots, :meth:`swsim.resume.memory.FrameMemory.reserve`); by default
        every batch is a new array.
        """
        total = self.header.nr_stored_pages
        for start in range(0, total, batch_pages):
            count = min(batch_pages, total - start)
            batch = into(count) if into else np.empty((count, PAGE_SIZE), dtype=np.uint8)
            self._read_into(memoryview(batch).cast("B"), f"data pages from {start}")  # type: ignore[arg-type]
            yield batch

    def _read_into(self, buffer: memoryview, what: str) -> None:
        """Fill ``buffer`` from the stream with ``readinto`` (no copy)."""
        got = fill_buffer(self._stream.readinto, buffer)  # type: ignore[attr-defined]
        if got < len(buffer):
            raise ImageError(
                f"truncated image: stream ended in the {what} ({got} of {len(buffer)} bytes read)"
            )
        self.worker.submit(self._digest, buffer)

    def check_trailer(self) -> bytes:
        """Read the trailer, compare its digest with everything read before it; return its MAC."""
        self.worker.wait()
        self.worker.close()
        assert self._hash is not None, "set once the header is parsed"
        digest = self._hash.digest()
        page = self._stream.read(PAGE_SIZE)
        while 0 < len(page) < PAGE_SIZE:
            more = self._stream.read(PAGE_SIZE - len(page))
            if not more:
                break
            page += more
        mac = check_trailer(self.digest_algorithm, page, digest, self.header.stream_pages)
        if self._stream.read(1):
            raise ImageError("corrupted image: unexpected bytes after the trailer page")
        return mac

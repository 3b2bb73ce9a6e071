"""An independent reader of Linux's hibernation formats, for the tests.

Written only from the format's description (/work/shared/REAL-IMAGES.md, docs/kernel-formats.md:
offsets of ``swsusp_header``, ``swap_map_page``, ``swsusp_info``, the chunk framing and the
CRC32 variant), not from swsim's code: it imports nothing from swsim, and reads in its own way
(plain ``struct``, one page at a time, a list of pages). It accepts an image only if every rule
of that description holds, and raises :class:`SpecError` otherwise.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

PAGE = 4096
ENTRIES_PER_MAP = 511
CHUNK_MAX = 32 * PAGE
CMP_LEN_MAX = CHUNK_MAX + CHUNK_MAX // 16 + 64 + 3 + 2
ZERO_FLAG = 1 << 63
END_OF_MAP = (1 << 64) - 1
X86_64_MAGIC = 0x23456789ABCDEF02


class SpecError(Exception):
    """The image breaks a rule of the format's description."""


@dataclass
class SpecImage:
    """What the reader found."""

    flags: int = 0
    crc_stored: int = 0
    crc_computed: int = 0
    num_physpages: int = 0
    image_pages: int = 0
    pages: int = 0
    chunks: int = 0
    compressed_bytes: int = 0
    pfns: list[int] = field(default_factory=list)
    zero: list[bool] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)

    def page_of(self) -> dict[int, bytes]:
        """Each pfn's contents (zero pages as zeros)."""
        out: dict[int, bytes] = {}
        stored = iter(self.data)
        for pfn, is_zero in zip(self.pfns, self.zero, strict=True):
            out[pfn] = bytes(PAGE) if is_zero else next(stored)
        return out


def _page(dev: bytes, n: int) -> bytes:
    if n <= 0 or (n + 1) * PAGE > len(dev):
        raise SpecError(f"page {n} is not on the device")
    return dev[n * PAGE : (n + 1) * PAGE]


def _u64(buf: bytes, off: int) -> int:
    return int(struct.unpack_from("<Q", buf, off)[0])


def decompress_chunk(algorithm: str, blob: bytes) -> bytes:
    """A chunk's bytes decompressed (``lz4`` or ``lzo``) into at most 32 pages."""
    if algorithm == "lz4":
        import lz4.block

        try:
            return bytes(lz4.block.decompress(blob, uncompressed_size=CHUNK_MAX))
        except Exception as exc:
            raise SpecError(f"lz4: {exc}") from None
    import lzo

    try:
        return bytes(lzo.decompress(blob, False, CHUNK_MAX))
    except Exception as exc:
        raise SpecError(f"lzo: {exc}") from None


def _header_and_meta(image: SpecImage, pages: list[bytes]) -> None:
    """Fill ``image`` from the header page and check the metadata pages (``pages`` holds the
    whole uncompressed page stream)."""
    head = pages[0]
    magic = _u64(head, 24)
    if magic != X86_64_MAGIC:
        raise SpecError("no x86-64 restore_data_record magic")
    image.num_physpages = _u64(head, 400)
    image.image_pages = _u64(head, 416)
    image.pages = _u64(head, 424)
    if _u64(head, 432) != image.pages * PAGE:
        raise SpecError("size is not pages * 4096")
    if len(pages) != image.pages:
        raise SpecError(f"{len(pages)} pages in the stream, the header says {image.pages}")
    nr_meta = image.pages - image.image_pages - 1
    words: list[int] = []
    for page in pages[1 : 1 + nr_meta]:
        words.extend(struct.unpack("<512Q", page))
    try:
        count = words.index(END_OF_MAP)
    except ValueError:
        count = len(words)
    if any(words[count + 1 :]):
        raise SpecError("metadata not cleared after the end marker")
    if (count * 8 + PAGE - 1) // PAGE != nr_meta:
        raise SpecError("metadata pages do not match the entries")
    for word in words[:count]:
        image.pfns.append(word & ~ZERO_FLAG)
        image.zero.append(bool(word & ZERO_FLAG))
    if image.pfns != sorted(set(image.pfns)):
        raise SpecError("pfns are not strictly increasing")
    if count - sum(image.zero) != image.image_pages:
        raise SpecError("stored pages disagree with image_pages")
    image.data = pages[1 + nr_meta :]


def read_swap_device(dev: bytes, resume_offset: int = 0) -> SpecImage:
    """Read the image on the swap device ``dev`` (its bytes)."""
    if (resume_offset + 1) * PAGE > len(dev):
        raise SpecError("resume offset past the device")
    sig_page = dev[resume_offset * PAGE : (resume_offset + 1) * PAGE]
    if sig_page[4086:4096] != b"S1SUSPEND\0":
        raise SpecError("no S1SUSPEND signature")
    if sig_page[4076:4086] not in (b"SWAPSPACE2", b"SWAP-SPACE"):
        raise SpecError("orig_sig is not a swap signature")
    image = SpecImage()
    image.crc_stored = struct.unpack_from("<I", sig_page, 4060)[0]
    first_map = _u64(sig_page, 4064)
    image.flags = struct.unpack_from("<I", sig_page, 4072)[0]
    if image.flags & ~0x1F:
        raise SpecError("unknown flags")
    # the chain of map pages
    slots: list[int] = []
    seen: set[int] = set()
    where = first_map
    while where:
        if where in seen:
            raise SpecError("map loop")
        seen.add(where)
        map_page = _page(dev, where)
        entries = list(struct.unpack_from("<511Q", map_page, 0))
        where = _u64(map_page, 4088)
        if where and 0 in entries:
            raise SpecError("a map page other than the last is not full")
        slots.extend(e for e in entries if e)
    stream: list[bytes] = [_page(dev, slots[0])]
    position = 1
    if image.flags & 2:  # NOCOMPRESS
        if image.flags & 4 or image.crc_stored:
            raise SpecError("CRC32 without compression")
        stream.extend(_page(dev, s) for s in slots[1:])
        position = len(slots)
    else:
        if not image.flags & 4:
            raise SpecError("compressed without CRC32 mode")
        algorithm = "lz4" if image.flags & 16 else "lzo"
        crc = 0
        while position < len(slots):
            first = _page(dev, slots[position])
            cmp_len = _u64(first, 0)
            if cmp_len == 0 or cmp_len > CMP_LEN_MAX:
                raise SpecError("bad compressed length")
            n = (8 + cmp_len + PAGE - 1) // PAGE
            if position + n > len(slots):
                raise SpecError("chunk runs past the map")
            blob = b"".join(_page(dev, s) for s in slots[position : position + n])
            position += n
            unc = decompress_chunk(algorithm, blob[8 : 8 + cmp_len])
            if not unc or len(unc) % PAGE:
                raise SpecError("bad decompressed length")
            crc = zlib.crc32(unc, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
            stream.extend(unc[i : i + PAGE] for i in range(0, len(unc), PAGE))
            image.chunks += 1
            image.compressed_bytes += cmp_len
        image.crc_computed = crc
        if crc != image.crc_stored:
            raise SpecError("CRC32 mismatch")
    _header_and_meta(image, stream)
    return image


def read_snapshot_stream(data: bytes) -> SpecImage:
    """Read a /dev/snapshot stream (header, metadata and data pages, nothing else)."""
    if len(data) % PAGE or not data:
        raise SpecError("not whole pages")
    image = SpecImage()
    _header_and_meta(image, [data[i : i + PAGE] for i in range(0, len(data), PAGE)])
    return image

"""The swsim image format, version 1: every magic, flag, offset and size (docs/image-format.md).

This module is the format; the others only pack and parse what it lays out. An image is a
stream of 4096-byte pages read front to back without seeking::

    page 0                 header          (struct swsusp_info, swsim edition; CRC32 at the end)
    pages 1 .. M           metadata        (pfns, 512 per page: the kernel's pack_pfns())
    pages M+1 .. M+D       data            (D = nr_data_pages; none with FLAG_NO_DATA)
    next C pages           checksum pages  (with FLAG_BLOCK_CRC32: CRC32 per 32 data pages)
    last page              trailer         (digest of everything before it; HMAC if signed)
"""

from __future__ import annotations

import struct

from swsim.kernel.constants import PAGE_SIZE, div_round_up
from swsim.machine.model import MAX_FRAMES as MACHINE_MAX_FRAMES

IMAGE_MAGIC = b"SWSIMIMG"
TRAILER_MAGIC = b"SWSIMEND"
FORMAT_VERSION = 1

# -- header flags (u32 at offset 64), defined together so bits never clash -----------------
#: Bit 0: all-zero pages are metadata entries with ENCODED_PFN_ZERO_FLAG and no data page.
FLAG_ZERO_PAGES = 1 << 0
#: Bit 1: metadata only, no data pages (``snapshot --no-data``), for counting.
FLAG_NO_DATA = 1 << 1
#: Bit 2: the trailer carries an HMAC-SHA256 of everything before it.
FLAG_SIGNED = 1 << 2
#: Bit 3: checksum pages (CRC32 per 32 data pages) precede the trailer.
FLAG_BLOCK_CRC32 = 1 << 3
#: Bit 4: the trailer digest is XXH3-128, not SHA-256 (:mod:`swsim.image.digest`).
FLAG_DIGEST_XXH3 = 1 << 4
#: Each flag's name, as ``swsim inspect`` shows them.
FLAG_NAMES: dict[int, str] = {
    FLAG_ZERO_PAGES: "zero-pages",
    FLAG_NO_DATA: "no-data",
    FLAG_SIGNED: "signed",
    FLAG_BLOCK_CRC32: "block-crc32",
    FLAG_DIGEST_XXH3: "digest-xxh3",
}
#: Flags this swsim understands; any other bit set is refused.
KNOWN_FLAGS = (
    FLAG_ZERO_PAGES | FLAG_NO_DATA | FLAG_SIGNED | FLAG_BLOCK_CRC32 | FLAG_DIGEST_XXH3
)

# -- header page ---------------------------------------------------------------------------
#: magic, version, page_size, num_physpages, image_pages, pages, size, nr_meta_pages,
#: nr_data_pages, flags, cpus, identity, desc_len, (4 zero bytes), release; from offset 0.
HEADER = struct.Struct("<8sIIQQQQQQII16sI4x64s")
#: The creator's name (``release``): NUL-padded, every byte after the first NUL zero.
RELEASE_OFFSET = 96
RELEASE_SIZE = 64
#: Where the header's own CRC32 (over the page with these 4 bytes zero) lies.
HEADER_CRC_OFFSET = PAGE_SIZE - 4
#: The zlib-compressed machine description runs from here up to the CRC.
MACHINE_DESC_OFFSET = 256
MACHINE_DESC_MAX = HEADER_CRC_OFFSET - MACHINE_DESC_OFFSET
#: The largest simulated machine an image may describe (1 TiB of 4 KiB frames): a header is
#: trusted with allocations only up to this.
MAX_FRAMES = MACHINE_MAX_FRAMES



def header_zero_ranges(desc_len: int) -> tuple[tuple[int, int], ...]:
    """The header's byte ranges ``[start, end)`` that hold nothing and must be zero: the
    padding before ``release``, the reserved bytes after it, and the rest of the page after a
    machine description of ``desc_len`` bytes, up to the CRC. (The kernel's header page is a
    zeroed page too, get_image_page(); swsim refuses an image whose unused bytes are not.)"""
    return (
        (RELEASE_OFFSET - 4, RELEASE_OFFSET),
        (HEADER.size, MACHINE_DESC_OFFSET),
        (MACHINE_DESC_OFFSET + desc_len, HEADER_CRC_OFFSET),
    )


# -- checksum pages ------------------------------------------------------------------------
#: kernel/power/swap.c UNC_PAGES: pages per compression (and here checksum) block.
CRC_BLOCK_PAGES = 32
#: Little-endian u32 CRCs per checksum page.
CRCS_PER_PAGE = PAGE_SIZE // 4

# -- trailer page --------------------------------------------------------------------------
#: Bytes of the trailer's digest field (a SHA-256 digest; shorter digests are zero-padded).
DIGEST_FIELD_SIZE = 32
#: magic, version, digest algorithm, pages covered, digest field; from offset 0.
TRAILER = struct.Struct(f"<8sIIQ{DIGEST_FIELD_SIZE}s")
#: The HMAC-SHA256 of a signed image follows the digest field; the rest of the page is zero.
TRAILER_MAC_OFFSET = TRAILER.size  # 56
MAC_SIZE = 32


def nr_crc_blocks(nr_data_pages: int) -> int:
    """Blocks of :data:`CRC_BLOCK_PAGES` data pages (the last one may be shorter)."""
    return div_round_up(nr_data_pages, CRC_BLOCK_PAGES)


def nr_crc_pages(nr_data_pages: int) -> int:
    """Checksum pages for ``nr_data_pages`` data pages (1024 CRCs of 32 pages per page)."""
    return div_round_up(nr_crc_blocks(nr_data_pages), CRCS_PER_PAGE)


def tail_pages(flags: int, nr_data_pages: int) -> int:
    """Pages after the header's ``pages``: the checksum pages (if any) and the trailer."""
    crc = nr_crc_pages(nr_data_pages) if flags & FLAG_BLOCK_CRC32 else 0
    return crc + 1

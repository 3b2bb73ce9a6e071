"""The on-disk layout of Linux's hibernation image, with the kernel's names.

docs/kernel-formats.md has the same with offsets.

Read from kernel/power/swap.c, snapshot.c, power.h and arch/x86/power/hibernate.c of Linux
6.1 and 6.12 (x86-64: PAGE_SIZE 4096; ``long``, ``sector_t`` and ``size_t`` are 8 bytes;
little endian). Only packing and parsing live here; the checks are the readers'.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from swsim.errors import ImageError
from swsim.kernel.constants import PAGE_SIZE, div_round_up

# -- struct swsusp_header (swap.c), at page resume_offset of the swap device -----------------
#: ``HIBERNATE_SIG``: the 10 bytes of ``sig`` (with its NUL) when the device holds an image.
HIBERNATE_SIG = b"S1SUSPEND\0"
#: mkswap's signatures of a swap area (``orig_sig``), v2 and the old v1.
SWAP_SIGS = (b"SWAPSPACE2", b"SWAP-SPACE")
#: hw_sig u32, crc32 u32, image (sector_t), flags u32, orig_sig[10], sig[10]; from
#: :data:`SWSUSP_HEADER_OFFSET` to the end of the page (``reserved`` before it).
SWSUSP_HEADER = struct.Struct("<IIQI10s10s")
SWSUSP_HEADER_OFFSET = PAGE_SIZE - SWSUSP_HEADER.size  # 4056
#: Where ``sig`` lies in the page (the signature :func:`open_image` sniffs).
SIG_OFFSET = PAGE_SIZE - 10  # 4086
#: mkswap's ``union swap_header`` info, kept in ``reserved``: version, last_page, nr_badpages,
#: uuid[16] (from offset 1024).
SWAP_INFO = struct.Struct("<III16s")
SWAP_INFO_OFFSET = 1024

# header flags (power.h)
SF_PLATFORM_MODE = 1
SF_NOCOMPRESS_MODE = 2
SF_CRC32_MODE = 4
SF_HW_SIG = 8
#: 6.9+: LZ4 chunks (no bit: LZO, when compressing).
SF_COMPRESSION_ALG_LZ4 = 16
FLAG_NAMES = {
    SF_PLATFORM_MODE: "PLATFORM", SF_NOCOMPRESS_MODE: "NOCOMPRESS", SF_CRC32_MODE: "CRC32",
    SF_HW_SIG: "HW_SIG", SF_COMPRESSION_ALG_LZ4: "LZ4",
}
KNOWN_SF_FLAGS = sum(FLAG_NAMES)

# -- struct swap_map_page (swap.c) -------------------------------------------------------
#: ``MAP_PAGE_ENTRIES``: swap page offsets per map page; ``next_swap`` follows them.
MAP_PAGE_ENTRIES = PAGE_SIZE // 8 - 1  # 511
NEXT_SWAP_OFFSET = MAP_PAGE_ENTRIES * 8  # 4088

# -- compressed chunks (swap.c) ----------------------------------------------------------
#: ``UNC_PAGES``: pages compressed at a time; ``UNC_SIZE`` in bytes.
UNC_PAGES = 32
UNC_SIZE = UNC_PAGES * PAGE_SIZE
#: ``CMP_HEADER``: the ``size_t`` compressed length before each chunk.
CMP_HEADER = 8


def bytes_worst_compress(nbytes: int) -> int:
    """``bytes_worst_compress()``: the largest compressed length the kernel accepts."""
    return nbytes + nbytes // 16 + 64 + 3 + 2


#: ``CMP_PAGES``: the most pages one chunk occupies on the device (35).
CMP_PAGES = div_round_up(bytes_worst_compress(UNC_SIZE) + CMP_HEADER, PAGE_SIZE)

# -- struct swsusp_info (power.h), the image's header page ----------------------------------
#: uts (new_utsname, 6 x 65 bytes), version_code u32, num_physpages, cpus (int), image_pages,
#: pages, size; from offset 0 (``__aligned(PAGE_SIZE)``).
SWSUSP_INFO = struct.Struct("<390s2xI4xQi4xQQQ")
#: x86-64 ``struct restore_data_record`` (arch/x86/power/hibernate.c), written over ``uts`` by
#: ``arch_hibernation_header_save()``: jump_address, jump_address_phys, cr3, magic,
#: e820_checksum.
RESTORE_DATA_RECORD = struct.Struct("<QQQQQ")
#: ``RESTORE_MAGIC`` of x86-64 (6.x).
RESTORE_MAGIC = 0x23456789ABCDEF02
#: Where the magic lies in the header page (the snapshot stream's signature).
RESTORE_MAGIC_OFFSET = 24
RESTORE_MAGIC_BYTES = RESTORE_MAGIC.to_bytes(8, "little")

# -- metadata pages (snapshot.c pack_pfns) ---------------------------------------------
#: ``BM_END_OF_MAP`` (~0UL): written after the last pfn when the page has room.
BM_END_OF_MAP = (1 << 64) - 1

#: Kernel layouts swsim writes (``--kernel-format``): whether all-zero pages are left out of
#: the data and flagged with ENCODED_PFN_ZERO_FLAG (6.3+), and whether LZ4 exists (6.9+).
KERNEL_FORMATS: dict[str, dict[str, bool]] = {
    "6.1": {"zero_flag": False, "lz4": False},
    "6.12": {"zero_flag": True, "lz4": True},
}


def flag_names(flags: int) -> list[str]:
    """The names of the ``SF_*`` bits set in ``flags`` (unknown bits as hex)."""
    names = [name for bit, name in FLAG_NAMES.items() if flags & bit]
    unknown = flags & ~KNOWN_SF_FLAGS
    return names + ([f"0x{unknown:x}"] if unknown else [])


@dataclass(frozen=True)
class SwsuspHeader:
    """``struct swsusp_header``: the last 40 bytes of the signature page."""

    image: int
    flags: int
    crc32: int = 0
    hw_sig: int = 0
    orig_sig: bytes = SWAP_SIGS[0]
    sig: bytes = HIBERNATE_SIG

    @classmethod
    def unpack(cls, page: bytes) -> SwsuspHeader:
        """Parse the signature page."""
        hw_sig, crc, image, flags, orig_sig, sig = SWSUSP_HEADER.unpack_from(
            page, SWSUSP_HEADER_OFFSET
        )
        return cls(image=image, flags=flags, crc32=crc, hw_sig=hw_sig, orig_sig=orig_sig,
                   sig=sig)

    def pack_into(self, page: bytearray) -> None:
        """Write the header into the end of ``page``."""
        SWSUSP_HEADER.pack_into(page, SWSUSP_HEADER_OFFSET, self.hw_sig, self.crc32, self.image,
                                self.flags, self.orig_sig, self.sig)


@dataclass(frozen=True)
class SwsuspInfo:
    """``struct swsusp_info`` (x86-64: ``uts`` holds the ``restore_data_record``)."""

    num_physpages: int
    image_pages: int
    pages: int
    size: int
    version_code: int = 0
    cpus: int = 0
    #: jump_address, jump_address_phys, cr3, magic, e820_checksum
    arch: tuple[int, int, int, int, int] = (0, 0, 0, RESTORE_MAGIC, 0)

    @property
    def nr_meta_pages(self) -> int:
        """``load_header()``: ``pages - image_pages - 1``."""
        return self.pages - self.image_pages - 1

    @classmethod
    def unpack(cls, page: bytes) -> SwsuspInfo:
        """Parse a header page; its numbers are checked by :meth:`check`."""
        if len(page) < PAGE_SIZE:
            raise ImageError("truncated image: the swsusp_info header page is incomplete")
        _, version, num_physpages, cpus, image_pages, pages, size = SWSUSP_INFO.unpack_from(page)
        arch = RESTORE_DATA_RECORD.unpack_from(page)
        return cls(num_physpages=num_physpages, image_pages=image_pages, pages=pages, size=size,
                   version_code=version, cpus=cpus, arch=arch)

    def pack(self) -> bytes:
        """The header page (``init_header()`` then ``arch_hibernation_header_save()``)."""
        page = bytearray(PAGE_SIZE)
        SWSUSP_INFO.pack_into(page, 0, b"", self.version_code, self.num_physpages, self.cpus,
                              self.image_pages, self.pages, self.size)
        RESTORE_DATA_RECORD.pack_into(page, 0, *self.arch)
        return bytes(page)

    def check(self, max_pages: int) -> None:
        """The counts must agree (``pages`` = ``image_pages`` + metadata + 1, ``size`` =
        ``pages`` * 4096, enough metadata pages) and fit in ``max_pages``."""
        if self.arch[3] != RESTORE_MAGIC:
            raise ImageError(
                f"unsupported image: restore_data_record magic 0x{self.arch[3]:x} is not "
                f"x86-64's 0x{RESTORE_MAGIC:x}"
            )
        if self.size != self.pages * PAGE_SIZE:
            raise ImageError("corrupted image: swsusp_info size is not pages * 4096")
        if self.pages > max_pages or self.pages < 2:
            raise ImageError(
                f"corrupted image: swsusp_info says {self.pages} pages, the device holds "
                f"at most {max_pages}"
            )
        meta = self.nr_meta_pages
        if self.image_pages == 0 or meta < div_round_up(self.image_pages * 8, PAGE_SIZE):
            raise ImageError(
                f"corrupted image: swsusp_info counts disagree ({self.image_pages} image pages, "
                f"{self.pages} pages)"
            )

    def describe(self) -> dict[str, Any]:
        """The fields for ``swsim inspect``."""
        jump, jump_phys, cr3, magic, e820 = self.arch
        return {
            "num_physpages": self.num_physpages,
            "cpus": self.cpus,
            "image_pages": self.image_pages,
            "pages": self.pages,
            "size": self.size,
            "nr_meta_pages": self.nr_meta_pages,
            "arch": {
                "jump_address": f"0x{jump:x}",
                "jump_address_phys": f"0x{jump_phys:x}",
                "cr3": f"0x{cr3:x}",
                "magic": f"0x{magic:x}",
                "e820_checksum": f"0x{e820:08x}",
            },
        }

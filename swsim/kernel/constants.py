"""Numbers with the kernel's names, defined once (64-bit kernel, 4 KiB pages)."""

PAGE_SIZE = 4096
PAGE_SHIFT = 12
#: sizeof(unsigned long) on x86-64: metadata pages pack pfns as little-endian u64.
SIZEOF_LONG = 8
PFNS_PER_META_PAGE = PAGE_SIZE // SIZEOF_LONG  # 512
#: struct pbe { unsigned long address, orig_address; struct pbe *next; } on 64-bit.
SIZEOF_PBE = 24
#: 2.6.17 kernel/power/power.h: PBES_PER_PAGE = PAGE_SIZE / sizeof(struct pbe).
PBES_PER_PAGE = PAGE_SIZE // SIZEOF_PBE  # 170
#: Modern kernels (v6.6+): bit 63 of a metadata pfn marks an all-zero page.
ENCODED_PFN_ZERO_FLAG = 1 << 63
# Header flags of the swsim image (docs/image-format.md), defined together so bits never clash.
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


def div_round_up(n: int, d: int) -> int:
    """DIV_ROUND_UP(n, d) as in include/linux/math.h."""
    return -(-n // d)


def nr_meta_pages(nr_image_pages: int) -> int:
    """Pages of packed pfns needed for ``nr_image_pages`` data pages (kernel: count_data_pages)."""
    return div_round_up(nr_image_pages * SIZEOF_LONG, PAGE_SIZE)


def pagedir_pages(nr_pages: int) -> int:
    """2.6.17 alloc_pagedir(): pages of 170 struct pbe each (the last pbe links the next page)."""
    return div_round_up(nr_pages, PBES_PER_PAGE)

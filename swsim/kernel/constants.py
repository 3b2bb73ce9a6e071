"""Numbers with the kernel's names, defined once (64-bit kernel, 4 KiB pages)."""

PAGE_SIZE = 4096
#: sizeof(unsigned long) on x86-64: metadata pages pack pfns as little-endian u64.
SIZEOF_LONG = 8
PFNS_PER_META_PAGE = PAGE_SIZE // SIZEOF_LONG  # 512
#: struct pbe { unsigned long address, orig_address; struct pbe *next; } on 64-bit.
SIZEOF_PBE = 24
#: 2.6.17 kernel/power/power.h: PBES_PER_PAGE = PAGE_SIZE / sizeof(struct pbe).
PBES_PER_PAGE = PAGE_SIZE // SIZEOF_PBE  # 170
#: Modern kernels (v6.6+): bit 63 of a metadata pfn marks an all-zero page.
ENCODED_PFN_ZERO_FLAG = 1 << 63
#: kernel/power/snapshot.c ENCODED_PFN_MASK (~ENCODED_PFN_ZERO_FLAG): the pfn part of an entry.
ENCODED_PFN_MASK = ENCODED_PFN_ZERO_FLAG - 1


def div_round_up(n: int, d: int) -> int:
    """DIV_ROUND_UP(n, d) as in include/linux/math.h."""
    return -(-n // d)


def nr_meta_pages(nr_image_pages: int) -> int:
    """Pages of packed pfns needed for ``nr_image_pages`` data pages (kernel: count_data_pages)."""
    return div_round_up(nr_image_pages * SIZEOF_LONG, PAGE_SIZE)


def pagedir_pages(nr_pages: int) -> int:
    """2.6.17 alloc_pagedir(): pages of 170 struct pbe each (the last pbe links the next page)."""
    return div_round_up(nr_pages, PBES_PER_PAGE)

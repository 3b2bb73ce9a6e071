"""Metadata pages: each image page's pfn as a little-endian u64, 512 per page.

The kernel's ``pack_pfns()`` / ``unpack_orig_pfns()`` encoding, which the swsim image shares with
the kernel's own: since v6.6 (commit 005e8dddd497) an entry with ``ENCODED_PFN_ZERO_FLAG`` (bit
63) set is an all-zero page with no data page. The last page is zero-padded.
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.constants import (
    ENCODED_PFN_MASK,
    ENCODED_PFN_ZERO_FLAG,
    PFNS_PER_META_PAGE,
    nr_meta_pages,
)
from swsim.kernel.types import BoolArray, PfnArray, WordArray


def encode_meta_pfns(pfns: PfnArray, zero: BoolArray | None) -> WordArray:
    """Metadata entries: each pfn, with ENCODED_PFN_ZERO_FLAG set where ``zero`` is True."""
    encoded: WordArray = np.array(pfns, dtype=np.uint64)
    if zero is not None:  # each zero flag shifted up to the flag's bit
        flag_bit = np.uint64(ENCODED_PFN_ZERO_FLAG.bit_length() - 1)
        encoded |= np.asarray(zero, dtype=np.uint64) << flag_bit
    return encoded


def pack_meta_pages(entries: WordArray | PfnArray) -> bytes:
    """Metadata pages holding ``entries``: little-endian u64, the last page zero-padded."""
    out = np.zeros(nr_meta_pages(len(entries)) * PFNS_PER_META_PAGE, dtype="<u8")
    out[: len(entries)] = entries
    return out.tobytes()


def padding_is_zero(last_page: bytes | memoryview, image_pages: int) -> bool:
    """Whether the entries of the last metadata page after the last of ``image_pages`` are zero
    (the kernel clears each metadata page before pack_pfns() fills it)."""
    used = (image_pages - 1) % PFNS_PER_META_PAGE + 1
    return not any(memoryview(last_page)[used * 8 :])


def decode_meta_page(page: bytes | memoryview, count: int) -> tuple[PfnArray, BoolArray]:
    """``unpack_orig_pfns()`` of v6.6+: the first ``count`` pfns (int64) of ``page`` (one or
    more metadata pages) and which of them are zero pages."""
    raw = np.frombuffer(page, dtype="<u8", count=count)
    zero = (raw & np.uint64(ENCODED_PFN_ZERO_FLAG)) != 0
    return (raw & np.uint64(ENCODED_PFN_MASK)).astype(np.int64), zero

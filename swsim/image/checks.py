"""Checks on an image beyond its header and digest: pfns, and a CRC32 per block of pages.

Block checksums model the kernel's ``SF_CRC32_MODE`` (kernel/power/swap.c: a CRC32 thread over
the uncompressed data, "Invalid image CRC32!"), but one CRC32 per block of
:data:`~swsim.image.format.CRC_BLOCK_PAGES` = 32 data pages (``UNC_PAGES``) instead of one for
the whole image, so an error names the first bad block and its first page. They live in
*checksum pages* after the data pages and before the trailer, present when header flag
``FLAG_BLOCK_CRC32`` is set; like the trailer they are not counted in the header's ``pages``,
and like everything before the trailer they are covered by its digest and MAC.

:class:`ImageChecks` records which checks a reading ran and passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swsim.errors import ImageError
from swsim.image.format import CRC_BLOCK_PAGES, CRCS_PER_PAGE, nr_crc_pages
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray, PfnArray

try:
    from isal.isal_zlib import crc32 as fast_crc32
except ImportError:  # Python 3.10 (python-isal 1.9 needs 3.11): zlib's, the same values
    from zlib import crc32 as fast_crc32

#: The CRC32 of the block checksums (zlib's CRC-32, the same values): ISA-L's, through
#: python-isal, which folds with PCLMULQDQ/VPCLMULQDQ at about 23 GB/s here against zlib's
#: 4 GB/s, and releases the GIL like zlib (python-isal 1.9.1: a Python thread beside it keeps
#: running), so it runs on the hashing thread beside the reading and the handle.
crc32: Callable[[bytes | memoryview, int], int] = fast_crc32

#: ``ImageChecks.codec`` of an image read as it is.
NO_CODEC = "none"


def check_pfns(pfns: PfnArray, previous: int, frames: int) -> None:
    """Metadata pfns: in range and strictly increasing after ``previous`` (-1 at the start)."""
    if not len(pfns):
        return
    if previous < pfns[0] and 0 <= pfns[0] and pfns[-1] < frames and (pfns[1:] > pfns[:-1]).all():
        return  # increasing from previous, and inside memory at both ends: all are
    steps = np.diff(pfns, prepend=previous)
    bad = (pfns < 0) | (pfns >= frames)
    if bad.any():
        raise ImageError(
            f"corrupted image: Memory map mismatch (pfn {int(pfns[bad][0])} beyond {frames})"
        )
    if not (steps > 0).all():
        at = int(np.argmax(steps <= 0))
        raise ImageError(
            f"corrupted image: metadata pfns are not strictly increasing (pfn {int(pfns[at])} "
            "repeats or goes back)"
        )


class BlockCrc32:
    """CRC32 of each block of 32 data pages, fed in batches of any size."""

    def __init__(self) -> None:
        self.crcs: list[int] = []
        self._crc = 0
        self._in_block = 0  # pages of the current block already fed

    def update(self, pages: PageArray | bytes) -> None:
        """Feed data pages (a ``(n, PAGE_SIZE)`` array or whole pages as bytes), in order."""
        data = pages.reshape(-1).data if isinstance(pages, np.ndarray) else memoryview(pages)
        nr_pages = len(data) // PAGE_SIZE
        page = 0
        while page < nr_pages:
            take = min(CRC_BLOCK_PAGES - self._in_block, nr_pages - page)
            self._crc = crc32(data[page * PAGE_SIZE : (page + take) * PAGE_SIZE], self._crc)
            self._in_block += take
            page += take
            if self._in_block == CRC_BLOCK_PAGES:
                self._close_block()

    def _close_block(self) -> None:
        self.crcs.append(self._crc)
        self._crc = 0
        self._in_block = 0

    def finish(self) -> list[int]:
        """Close the last, shorter block; the CRCs of every block."""
        if self._in_block:
            self._close_block()
        return self.crcs

    def pack(self) -> bytes:
        """The checksum pages: little-endian u32 per block, the last page zero-padded."""
        crcs = self.finish()
        out = np.zeros(nr_crc_pages(len(crcs) * CRC_BLOCK_PAGES) * CRCS_PER_PAGE, dtype="<u4")
        out[: len(crcs)] = crcs
        return out.tobytes()

    def check(self, stored: bytes, nr_data_pages: int, pfn_of: Callable[[int], int]) -> None:
        """Compare with the stored checksum pages; name the first bad block's first page."""
        crcs = np.array(self.finish(), dtype=np.uint32)
        table = np.frombuffer(stored, dtype="<u4")
        want = table[: len(crcs)]
        if len(want) != len(crcs):
            raise ImageError("truncated image: the checksum pages are incomplete")
        bad = np.nonzero(want != crcs)[0]
        if len(bad):
            block = int(bad[0])
            first = block * CRC_BLOCK_PAGES
            last = min(first + CRC_BLOCK_PAGES, nr_data_pages) - 1
            raise ImageError(
                f"corrupted image: CRC32 mismatch in block {block}: the first bad page is among "
                f"data pages {first}-{last} (pfns {pfn_of(first)}-{pfn_of(last)})"
            )
        check_crc_padding(stored, len(crcs))


def check_crc_padding(stored: bytes, nr_blocks: int) -> None:
    """The checksum pages hold ``nr_blocks`` CRCs, then zeros."""
    if np.frombuffer(stored, dtype="<u4")[nr_blocks:].any():
        raise ImageError("corrupted image: non-zero padding in the checksum pages")


@dataclass
class ImageChecks:
    """What was checked while reading an image (filled as the checks pass)."""

    #: the codec the image was stored with (``none``, ``zstd``)
    codec: str = NO_CODEC
    signed: bool = False
    block_checksums: bool = False
    authenticated: bool = False

    @property
    def compressed(self) -> bool:
        """Whether the image was stored compressed."""
        return self.codec != NO_CODEC

    def to_json(self) -> dict[str, bool]:
        """The checks as the JSON reports give them (``compressed``, not the codec)."""
        return {
            "compressed": self.compressed,
            "signed": self.signed,
            "block_checksums": self.block_checksums,
            "authenticated": self.authenticated,
        }

"""The kernel's compressed chunks: up to ``UNC_PAGES`` (32) pages, LZO1X-1 or LZ4 block.

swap.c (``save_compressed_image()`` / ``load_compressed_image()``) cuts everything after the
header page into chunks of up to 32 pages. On the device a chunk is its compressed length as a
``size_t`` (``CMP_HEADER``, 8 bytes), the compressed bytes, and padding to whole pages (at most
``CMP_PAGES`` = 35). Reading refuses what the kernel refuses: a compressed length of 0 or
beyond ``bytes_worst_compress(UNC_SIZE)`` ("Invalid ... compressed length"), and an output that
is empty, longer than ``UNC_SIZE`` or not whole pages ("Invalid ... decompressed length").
Decompression writes into a buffer of ``UNC_SIZE`` bytes: it cannot expand further.

LZO is python-lzo (liblzo2's ``lzo1x_1_compress`` and ``lzo1x_decompress_safe``); LZ4 is
python-lz4's block API (``LZ4_compress_default``, ``LZ4_decompress_safe``). Both are imported
when a chunk needs them, and a missing one is a usage error saying what to install.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swsim.errors import ImageError, UsageError, choose
from swsim.image.linux.layout import (
    CMP_HEADER,
    SF_COMPRESSION_ALG_LZ4,
    SF_CRC32_MODE,
    SF_NOCOMPRESS_MODE,
    UNC_SIZE,
    bytes_worst_compress,
)
from swsim.kernel.constants import PAGE_SIZE, div_round_up

_LENGTH = struct.Struct("<Q")


def _module(name: str, package: str) -> Any:
    """Import the binding ``name`` (a usage error naming ``package`` if it is missing)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UsageError(
            f"{package} is needed for this image's chunks: pip install 'swsim[kernel]'"
        ) from None


def _lzo_compress(data: bytes) -> bytes:
    return bytes(_module("lzo", "python-lzo").compress(data, 1, False))


def _lzo_decompress(data: bytes) -> bytes:
    lzo = _module("lzo", "python-lzo")
    try:
        return bytes(lzo.decompress(data, False, UNC_SIZE))
    except lzo.error as exc:
        raise ImageError(f"corrupted image: LZO chunk does not decompress ({exc})") from None


def _lz4_compress(data: bytes) -> bytes:
    return bytes(_module("lz4.block", "lz4").compress(data, store_size=False))


def _lz4_decompress(data: bytes) -> bytes:
    block = _module("lz4.block", "lz4")
    try:
        return bytes(block.decompress(data, uncompressed_size=UNC_SIZE))
    except block.LZ4BlockError as exc:
        raise ImageError(f"corrupted image: LZ4 chunk does not decompress ({exc})") from None


@dataclass(frozen=True)
class ChunkCodec:
    """How the pages after the header are stored: ``none`` (a page per map entry), or chunks."""

    #: ``--compress`` value; ``hib_comp_algo`` for the compressed ones
    name: str
    #: the ``SF_*`` flags a device holding it carries
    flags: int
    compress: Callable[[bytes], bytes] | None = None
    decompress: Callable[[bytes], bytes] | None = None

    @property
    def chunked(self) -> bool:
        """Whether pages are stored in compressed chunks (else one page per entry)."""
        return self.compress is not None

    def pack_chunk(self, unc: bytes) -> bytes:
        """A chunk as written: length, compressed bytes, zero padding to whole pages."""
        assert self.compress is not None
        cmp = self.compress(unc)
        body = _LENGTH.pack(len(cmp)) + cmp
        return body + bytes(div_round_up(len(body), PAGE_SIZE) * PAGE_SIZE - len(body))

    def unpack_chunk(self, first_page: bytes) -> tuple[int, int]:
        """A chunk's compressed length (checked as the kernel does) and the pages it
        occupies, from its first page."""
        (cmp_len,) = _LENGTH.unpack_from(first_page)
        if not 0 < cmp_len <= bytes_worst_compress(UNC_SIZE):
            raise ImageError(
                f"corrupted image: invalid {self.name} compressed length {cmp_len}"
            )
        return cmp_len, div_round_up(cmp_len + CMP_HEADER, PAGE_SIZE)

    def decode_chunk(self, pages: bytes) -> bytes:
        """The uncompressed pages of a chunk read whole (its :meth:`unpack_chunk` pages)."""
        assert self.decompress is not None
        (cmp_len,) = _LENGTH.unpack_from(pages)
        unc = self.decompress(pages[CMP_HEADER : CMP_HEADER + cmp_len])
        if not unc or len(unc) > UNC_SIZE or len(unc) % PAGE_SIZE:
            raise ImageError(
                f"corrupted image: invalid {self.name} decompressed length {len(unc)}"
            )
        return unc


NONE = ChunkCodec("none", SF_NOCOMPRESS_MODE)
LZO = ChunkCodec("lzo", SF_CRC32_MODE, _lzo_compress, _lzo_decompress)
LZ4 = ChunkCodec("lz4", SF_CRC32_MODE | SF_COMPRESSION_ALG_LZ4, _lz4_compress, _lz4_decompress)
#: Every chunk codec by ``--compress`` name.
CHUNK_CODECS: dict[str, ChunkCodec] = {c.name: c for c in (NONE, LZO, LZ4)}


def chunk_codec(name: str) -> ChunkCodec:
    """The chunk codec called ``name``."""
    return choose("compressor", name, CHUNK_CODECS)


def codec_for_flags(flags: int) -> ChunkCodec:
    """``swsusp_check()``/``swsusp_read()``: NOCOMPRESS, else LZ4 with its bit, else LZO."""
    if flags & SF_NOCOMPRESS_MODE:
        return NONE
    return LZ4 if flags & SF_COMPRESSION_ALG_LZ4 else LZO

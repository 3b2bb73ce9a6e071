"""Test helpers that build, edit and re-seal images, the way a forger or a bad disk would."""

from __future__ import annotations

import hashlib
import hmac
import io
import struct
import zlib

import numpy as np

from swsim.image.auth import MAC_SIZE, TRAILER_MAC_OFFSET
from swsim.kernel.constants import PAGE_SIZE
from swsim.image.digest import DEFAULT_DIGEST, DIGEST_FIELD_SIZE, digest_for_flags
from swsim.image.header import _HEADER_CRC_OFFSET
from swsim.image.checks import FLAG_BLOCK_CRC32, BlockCrc32, nr_crc_pages
from swsim.machine.model import Machine
from swsim.suspend.handle import write_image
from tests.conftest import tiny_machine

#: A 128-frame machine: 92 saveable pages (3 blocks of 32), 4 reserved frames at boot.
SMALL = tiny_machine(128, ((8, 100),), used=((10, 12),), reserved=((0, 4),))
#: Offsets of header fields (struct swsusp_info, swsim edition; see swsim/image.py _HEADER).
NUM_PHYSPAGES_OFFSET = 16
IMAGE_PAGES_OFFSET = 24
PAGES_OFFSET = 32
SIZE_OFFSET = 40
META_OFFSET = 48
DATA_OFFSET = 56
FLAGS_OFFSET = 64
#: Offsets of trailer fields (see swsim/image.py _TRAILER; the MAC's is in swsim/auth.py).
TRAILER_ALGO_OFFSET = 12
TRAILER_DIGEST_OFFSET = 24
KEY = b"swsim test key, 32 bytes long!!!"
OTHER_KEY = b"another swsim key, also 32 bytes"


def make_image(
    machine: Machine = SMALL,
    key: bytes | None = None,
    zero_pages: str = "store",
    digest: str = DEFAULT_DIGEST,
) -> bytes:
    """An image whose layout the tests know: by default every page is a data page."""
    out = io.BytesIO()
    write_image(machine, out, zero_pages, key, digest=digest)
    return out.getvalue()


def header_field(image: bytes, fmt: str, offset: int) -> int:
    return int(struct.unpack_from(fmt, image, offset)[0])


def layout(image: bytes) -> tuple[int, int, int]:
    """(nr_meta_pages, nr_data_pages, flags) read straight from the header bytes."""
    return (
        header_field(image, "<Q", META_OFFSET),
        header_field(image, "<Q", DATA_OFFSET),
        header_field(image, "<I", FLAGS_OFFSET),
    )


def set_header_field(image: bytes, fmt: str, offset: int, value: int) -> bytes:
    data = bytearray(image)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def seal_header(image: bytes) -> bytes:
    """Recompute the header page's CRC only (after editing a header field)."""
    data = bytearray(image)
    struct.pack_into("<I", data, _HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", data, _HEADER_CRC_OFFSET, zlib.crc32(bytes(data[:PAGE_SIZE])))
    return bytes(data)


def reseal(image: bytes, key: bytes | None = None) -> bytes:
    """Recompute the header CRC, block CRCs, trailer digest and (with ``key``) the HMAC.

    What someone who edits an image on purpose does: every unkeyed check passes again, so
    only the semantic checks (header fields, pfns) and the HMAC can refuse it. The layout is
    taken from the (possibly edited) header; a layout that does not fit is returned as is.
    The digest is the one the header's flags select; the trailer's algorithm field is set to
    match it.
    """
    if len(image) < PAGE_SIZE:
        return image
    data = bytearray(seal_header(image))
    meta, nr_data, flags = layout(bytes(data))
    start = (1 + meta) * PAGE_SIZE
    end = start + nr_data * PAGE_SIZE
    crc_pages = nr_crc_pages(nr_data) if flags & FLAG_BLOCK_CRC32 else 0
    trailer = end + crc_pages * PAGE_SIZE
    if trailer + PAGE_SIZE != len(data) or nr_data > 1 << 20:
        return bytes(data)
    if crc_pages:
        crc = BlockCrc32()
        crc.update(np.frombuffer(bytes(data[start:end]), dtype=np.uint8).reshape(-1, PAGE_SIZE))
        data[end:trailer] = crc.pack()
    body = bytes(data[:trailer])
    algo = digest_for_flags(flags)
    hasher = algo.new()
    hasher.update(body)
    struct.pack_into("<I", data, trailer + TRAILER_ALGO_OFFSET, algo.trailer_id)
    digest_field = trailer + TRAILER_DIGEST_OFFSET
    data[digest_field : digest_field + DIGEST_FIELD_SIZE] = hasher.digest().ljust(
        DIGEST_FIELD_SIZE, b"\0"
    )
    if key is not None:
        mac = trailer + TRAILER_MAC_OFFSET
        data[mac : mac + MAC_SIZE] = hmac.new(key, body, hashlib.sha256).digest()
    return bytes(data)


def without_block_crcs(image: bytes, key: bytes | None = None) -> bytes:
    """The same image without its checksum pages (header flag bit 3 clear), re-sealed.

    Only the trailer digest (and a MAC) then stands between a changed data byte and a restore.
    """
    meta, nr_data, flags = layout(image)
    end = (1 + meta + nr_data) * PAGE_SIZE
    stripped = set_header_field(image, "<I", FLAGS_OFFSET, flags & ~FLAG_BLOCK_CRC32)
    return reseal(stripped[:end] + image[-PAGE_SIZE:], key)


def set_pfn(image: bytes, index: int, pfn: int) -> bytes:
    """Change metadata entry ``index`` (the pfn of data page ``index``)."""
    return set_header_field(image, "<Q", PAGE_SIZE + 8 * index, pfn)


def swap_pages(image: bytes, first: int, second: int) -> bytes:
    """Swap two whole pages (page numbers counted from the header, page 0)."""
    data = bytearray(image)
    a, b = first * PAGE_SIZE, second * PAGE_SIZE
    data[a : a + PAGE_SIZE] = image[b : b + PAGE_SIZE]
    data[b : b + PAGE_SIZE] = image[a : a + PAGE_SIZE]
    return bytes(data)

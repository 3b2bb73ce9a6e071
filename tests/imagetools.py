"""Test helpers that build, edit and re-seal images, the way a forger or a bad disk would, and
the mutations the fuzz tests (tests/image/test_fuzz.py, tests/cli/test_fuzz.py) apply."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import zstandard
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from swsim.image.checks import BlockCrc32
from swsim.image.digest import DEFAULT_DIGEST, digest_for_flags
from swsim.image.format import (
    DIGEST_FIELD_SIZE,
    FLAG_BLOCK_CRC32,
    HEADER_CRC_OFFSET,
    MAC_SIZE,
    MACHINE_DESC_MAX,
    MACHINE_DESC_OFFSET,
    TRAILER_MAC_OFFSET,
    nr_crc_pages,
)
from swsim.image.writer import WriteOptions, write_image
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.model import Machine
from tests.helpers import tiny_machine

#: A 128-frame machine: 92 saveable pages (3 blocks of 32), 4 reserved frames at boot.
SMALL = tiny_machine(128, ((8, 100),), used=((10, 12),), reserved=((0, 4),))
#: Offsets of header fields (struct swsusp_info, swsim edition; see swsim/image/format.py
#: HEADER).
NUM_PHYSPAGES_OFFSET = 16
IMAGE_PAGES_OFFSET = 24
PAGES_OFFSET = 32
SIZE_OFFSET = 40
META_OFFSET = 48
DATA_OFFSET = 56
FLAGS_OFFSET = 64
DESC_LEN_OFFSET = 88
#: Offsets of trailer fields (see swsim/image/format.py TRAILER, TRAILER_MAC_OFFSET).
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
    write_image(machine, out, WriteOptions(zero_pages=zero_pages, key=key, digest=digest))
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
    struct.pack_into("<I", data, HEADER_CRC_OFFSET, 0)
    struct.pack_into("<I", data, HEADER_CRC_OFFSET, zlib.crc32(bytes(data[:PAGE_SIZE])))
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


def with_machine_description(
    image: bytes, text: str | bytes, frames: int | None = None, key: bytes | None = None
) -> bytes:
    """``image`` whose header carries ``text`` as its machine description (zlib-compressed,
    as the writer stores it) and, with ``frames``, that ``num_physpages``; resealed."""
    desc = zlib.compress(text.encode() if isinstance(text, str) else text, 9)
    assert len(desc) <= MACHINE_DESC_MAX, len(desc)
    data = bytearray(image)
    data[MACHINE_DESC_OFFSET:HEADER_CRC_OFFSET] = bytes(HEADER_CRC_OFFSET - MACHINE_DESC_OFFSET)
    data[MACHINE_DESC_OFFSET : MACHINE_DESC_OFFSET + len(desc)] = desc
    struct.pack_into("<I", data, DESC_LEN_OFFSET, len(desc))
    if frames is not None:
        struct.pack_into("<Q", data, NUM_PHYSPAGES_OFFSET, frames)
    return reseal(bytes(data), key)


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


# -- fuzzing: mutations of an image, and what zstd -d makes of a stream --------------------------
#: An unsigned image of SMALL (zero pages stored): what the fuzz tests mutate.
RAW = make_image()
#: The same, signed with KEY.
SIGNED = make_image(key=KEY)

HEADER_FIELDS = [
    ("<Q", NUM_PHYSPAGES_OFFSET),
    ("<Q", IMAGE_PAGES_OFFSET),
    ("<Q", PAGES_OFFSET),
    ("<Q", SIZE_OFFSET),
    ("<Q", META_OFFSET),
    ("<Q", DATA_OFFSET),
    ("<I", FLAGS_OFFSET),
]


@dataclass(frozen=True)
class Mutation:
    """One edit of an image; ``sealed`` edits recompute every unkeyed checksum afterwards."""

    kind: str
    args: tuple[int, ...]
    sealed: bool = False

    def apply(self, image: bytes, key: bytes | None = None) -> bytes:
        data = bytearray(image)
        a = self.args
        if self.kind == "flip":
            data[a[0] % len(data)] ^= a[1]
        elif self.kind == "truncate":
            del data[a[0] % len(data) :]
        elif self.kind == "insert":
            offset = a[0] % len(data)
            data[offset:offset] = bytes([a[1]]) * a[2]
        elif self.kind == "delete":
            offset = a[0] % len(data)
            del data[offset : offset + a[1]]
        elif self.kind == "swap":
            nr_pages = max(1, len(data) // PAGE_SIZE)
            first, second = (x % nr_pages * PAGE_SIZE for x in a)
            page = data[first : first + PAGE_SIZE]
            data[first : first + PAGE_SIZE] = data[second : second + PAGE_SIZE]
            data[second : second + PAGE_SIZE] = page
        elif self.kind == "header":
            fmt, offset = HEADER_FIELDS[a[0] % len(HEADER_FIELDS)]
            limit = 1 << (32 if fmt == "<I" else 64)
            data = bytearray(set_header_field(bytes(data), fmt, offset, a[1] % limit))
        elif self.kind == "pfn":
            at = (PAGE_SIZE + 8 * (a[0] % 96)) % max(1, len(data) - 8)
            data[at : at + 8] = (a[1] % (1 << 64)).to_bytes(8, "little")
        elif self.kind == "data":
            data[((2 + a[0] % 92) * PAGE_SIZE + a[1] % PAGE_SIZE) % len(data)] ^= 1 + a[2] % 255
        out = bytes(data)
        # A forger re-seals; with a key they cannot recompute the HMAC, so they keep the old one.
        return reseal(out) if self.sealed else out


offsets = st.integers(min_value=0, max_value=len(RAW) + 100)
#: Every kind of edit of RAW or SIGNED (hypothesis strategy of :class:`Mutation`).
mutations = st.one_of(
    st.builds(lambda o, m: Mutation("flip", (o, m)), offsets, st.integers(1, 255)),
    st.builds(lambda o: Mutation("truncate", (o,)), offsets),
    st.builds(lambda o, b, n: Mutation("insert", (o, b, n)), offsets, st.integers(0, 255),
              st.sampled_from([1, 8, PAGE_SIZE])),
    st.builds(lambda o, n: Mutation("delete", (o, n)), offsets, st.sampled_from([1, 8, PAGE_SIZE])),
    st.builds(lambda a, b: Mutation("swap", (a, b)), st.integers(0, 200), st.integers(0, 200)),
    st.builds(lambda f, v, s: Mutation("header", (f, v), s), st.integers(0, 6),
              st.one_of(st.integers(0, 300), st.integers(0, 1 << 64)), st.booleans()),
    st.builds(lambda i, v, s: Mutation("pfn", (i, v), s), st.integers(0, 95),
              st.one_of(st.integers(0, 140), st.integers(0, 1 << 64)), st.booleans()),
    st.builds(lambda p, o, x: Mutation("data", (p, o, x), True), st.integers(0, 91),
              st.integers(0, 4095), st.integers(0, 254)),
)


def decompresses_to(packed: bytes) -> bytes | None:
    """What ``zstd -d`` would make of ``packed`` (None: it would refuse it)."""
    dctx = zstandard.ZstdDecompressor()
    try:
        out = b""
        rest = packed
        while rest:
            dobj = dctx.decompressobj()
            out += dobj.decompress(rest)
            if not dobj.eof:
                return None
            rest = dobj.unused_data
        return out
    except zstandard.ZstdError:
        return None


#: Examples per fuzz test (``make fuzz`` raises it; CI runs the default).
FUZZ_EXAMPLES = int(os.environ.get("SWSIM_FUZZ_EXAMPLES", "400"))


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic hypothesis settings for the fuzz suites (no database, no deadline)."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


"""Kernel-format images for the tests: written by swsim, and mutated like a damaged device."""

from __future__ import annotations

import io
import struct

from swsim.image.linux.writer import KernelWriteOptions, write_kernel_image
from swsim.machine.model import Machine
from tests.helpers import tiny_machine

PAGE = 4096
#: 1192 saved pages over 2048 frames (three map pages uncompressed), a quarter zero pages.
MACHINE: Machine = tiny_machine(2048, ((8, 600), (700, 1300)), used=((20, 40),),
                                reserved=((0, 4),))


def kernel_image(
    machine: Machine = MACHINE, image_format: str = "linux-swap", compress: str = "none",
    kernel_format: str = "6.12",
) -> bytes:
    """``machine``'s image as ``swsim snapshot --format ...`` writes it."""
    out = io.BytesIO()
    write_kernel_image(machine, out, KernelWriteOptions(image_format, compress, kernel_format))
    return out.getvalue()


def u64(dev: bytes, offset: int) -> int:
    """The little-endian u64 at ``offset``."""
    return int(struct.unpack_from("<Q", dev, offset)[0])


def put(dev: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``dev`` with ``value`` packed as ``fmt`` at ``offset``."""
    out = bytearray(dev)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def first_map_page(dev: bytes) -> int:
    """``swsusp_header.image``."""
    return u64(dev, 4064)


def map_entry(dev: bytes, index: int) -> int:
    """Entry ``index`` of the first map page (a swap page offset)."""
    return u64(dev, first_map_page(dev) * PAGE + 8 * index)


def mutations(dev: bytes) -> dict[str, bytes]:
    """Every damage the issue lists, to a swap image ``dev`` (compressed or not)."""
    second = map_entry(dev, 1) * PAGE  # the first chunk, or the first metadata page
    first = first_map_page(dev) * PAGE
    listed = [e for e in struct.unpack_from("<511Q", dev, first) if e]
    bad = {
        "cut": dev[: listed[len(listed) // 2] * PAGE],  # in the middle of the image
        "map loop": put(dev, first + 4088, "<Q", first_map_page(dev)),
        "wrong signature": dev[:4086] + b"S2SUSPEND\0" + dev[4096:],
        "map entry past the device": put(dev, first + 16, "<Q", 1 << 30),
        "first map page past the device": put(dev, 4064, "<Q", 1 << 30),
        "image_pages changed": _with_header_field(dev, 416, 5),
    }
    if u64(dev, 4072) & 2:  # NOCOMPRESS: a pfn of the metadata
        bad["bit flip in the metadata"] = _flip(dev, second + 8 * 3 + 5)
        return bad
    chunk_pages = (8 + u64(dev, second) + PAGE - 1) // PAGE
    third = map_entry(dev, 1 + chunk_pages) * PAGE  # the second chunk: data pages only
    bad.update({
        "bit flip in a chunk": _flip(dev, _telling_byte(dev, second)),
        "bit flip in a data chunk": _flip(dev, _telling_byte(dev, third)),
        "zero chunk length": put(dev, second, "<Q", 0),
        "huge chunk length": put(dev, second, "<Q", 1 << 40),
        "CRC mismatch": put(dev, 4060, "<I", u64(dev, 4056) >> 32 ^ 0x1),
    })
    return bad


def _telling_byte(dev: bytes, chunk: int) -> int:
    """A byte of the chunk at ``chunk`` whose flip changes what it decompresses to (not every
    flip does: a match offset may point at equal bytes), from its middle on."""
    from tests.kernel_spec_reader import SpecError, decompress_chunk

    algorithm = "lz4" if u64(dev, 4072) & 16 else "lzo"
    cmp_len = u64(dev, chunk)
    blob = dev[chunk + 8 : chunk + 8 + cmp_len]
    good = decompress_chunk(algorithm, blob)
    for offset in range(cmp_len // 2, cmp_len):
        try:
            if decompress_chunk(algorithm, _flip(blob, offset)) != good:
                return chunk + 8 + offset
        except SpecError:
            return chunk + 8 + offset
    raise AssertionError("no byte of the chunk changes its output")


def _flip(dev: bytes, offset: int) -> bytes:
    """``dev`` with one bit flipped at ``offset`` (in a random page's literals, or a pfn)."""
    out = bytearray(dev)
    out[offset] ^= 0x40
    return bytes(out)


def _with_header_field(dev: bytes, offset: int, value: int) -> bytes:
    """``dev`` with a ``swsusp_info`` field changed (the header page is stored raw)."""
    header = map_entry(dev, 0) * PAGE
    return put(dev, header + offset, "<Q", value)


def shifted(dev: bytes, nr_pages: int) -> bytes:
    """``dev`` as a swap area ``nr_pages`` pages into a larger device (``resume_offset``
    ``nr_pages``): every pointer (``image``, map entries, ``next_swap``) moves with it."""
    out = bytearray(dev)
    where = first_map_page(dev)
    put_at = 4064
    while where:
        struct.pack_into("<Q", out, put_at, where + nr_pages)
        words = list(struct.unpack_from("<512Q", dev, where * PAGE))
        moved = [word + nr_pages if word else 0 for word in words[:511]]
        struct.pack_into("<511Q", out, where * PAGE, *moved)
        put_at = where * PAGE + 4088
        where = words[511]
    return bytes(nr_pages * PAGE) + bytes(out)

"""The kernel's formats: layout, CRC32, swap map, chunks, round trips, bad images."""

from __future__ import annotations

import io
import random
import zlib

import numpy as np
import pytest

from swsim.errors import ImageError, UsageError
from swsim.image.linux.chunks import LZ4, LZO, chunk_codec
from swsim.image.linux.crc32 import crc32_le
from swsim.image.linux.device import SwapDevice
from swsim.image.linux.layout import CMP_PAGES, SWSUSP_INFO, SwsuspInfo, bytes_worst_compress
from swsim.image.linux.swapmap import allocate_swap_map, pack_map_pages, walk_swap_map
from swsim.image.linux.writer import KernelWriteOptions
from swsim.image.source import open_image
from swsim.machine.content import page_contents
from swsim.resume.restore import RestoreOptions, restore
from swsim.runs.summary import summarize_image
from tests.kernel_spec_reader import SpecError, read_snapshot_stream, read_swap_device
from tests.kerneltools import MACHINE, PAGE, kernel_image, mutations, shifted

COMBOS = [
    ("linux-swap", "none", "6.1"), ("linux-swap", "lzo", "6.1"), ("linux-swap", "none", "6.12"),
    ("linux-swap", "lzo", "6.12"), ("linux-swap", "lz4", "6.12"),
    ("snapshot-stream", "none", "6.1"), ("snapshot-stream", "none", "6.12"),
]


def crc32_bitwise(data: bytes) -> int:
    """lib/crc32.c's crc32_le(0, ...) one bit at a time (reflected, 0xEDB88320, no inversion)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def test_crc32_le_is_the_kernels_variant_not_zlibs() -> None:
    data = random.Random(1).randbytes(3000)
    assert crc32_le(0, data) == crc32_bitwise(data)
    assert crc32_le(0, data) != zlib.crc32(data)
    # chained over pieces as swap.c runs it over chunks
    assert crc32_le(crc32_le(0, data[:1000]), data[1000:]) == crc32_bitwise(data)


def test_layout_offsets_are_the_kernels() -> None:
    assert SWSUSP_INFO.size == 440  # size at 432, the last field
    assert bytes_worst_compress(32 * PAGE) == 139333 and CMP_PAGES == 35
    page = SwsuspInfo(num_physpages=65403, image_pages=7, pages=9, size=9 * PAGE).pack()
    assert int.from_bytes(page[400:408], "little") == 65403
    assert int.from_bytes(page[416:424], "little") == 7
    assert int.from_bytes(page[424:432], "little") == 9
    assert int.from_bytes(page[24:32], "little") == 0x23456789ABCDEF02


class _Device(SwapDevice):
    def __init__(self, pages: dict[int, bytes], nr_pages: int) -> None:
        super().__init__(-1, nr_pages * PAGE)
        self._pages = pages

    def read_pages(self, first: int, count: int) -> bytes:
        if first + count > self.nr_pages:
            raise ImageError("past the end")
        return b"".join(self._pages.get(first + i, bytes(PAGE)) for i in range(count))


@pytest.mark.parametrize("nr_pages", [1, 510, 511, 512, 1533, 2000])
def test_swap_map_round_trip_and_the_kernels_extra_map_page(nr_pages: int) -> None:
    swap_map = allocate_swap_map(1, nr_pages)
    # a new map page as soon as one is full: 511 pages take two map pages, the last empty
    assert len(swap_map.map_pages) == nr_pages // 511 + 1
    pages = dict(zip(swap_map.map_pages.tolist(), pack_map_pages(swap_map), strict=True))
    device = _Device(pages, int(swap_map.entries.max()) + 2 + 512)
    walked = walk_swap_map(device, 1)
    assert walked.entries.tolist() == swap_map.entries.tolist()
    assert walked.map_pages.tolist() == swap_map.map_pages.tolist()
    assert len(set(swap_map.entries.tolist()) | set(swap_map.map_pages.tolist())) == (
        nr_pages + len(swap_map.map_pages)
    )


def test_swap_map_refuses_loops_and_holes() -> None:
    swap_map = allocate_swap_map(1, 1200)
    pages = dict(zip(swap_map.map_pages.tolist(), pack_map_pages(swap_map), strict=True))
    loop = dict(pages)
    second = int(swap_map.map_pages[1])  # full: its next_swap back to the first
    loop[second] = loop[second][:4088] + (1).to_bytes(8, "little")
    with pytest.raises(ImageError, match="loops"):
        walk_swap_map(_Device(loop, 4096), 1)
    hole = dict(pages)
    hole[1] = hole[1][:80] + bytes(8) + hole[1][88:]
    with pytest.raises(ImageError, match="empty entry but is not the last"):
        walk_swap_map(_Device(hole, 4096), 1)
    with pytest.raises(ImageError, match="past the end"):
        walk_swap_map(_Device(pages, 600), 1)


@pytest.mark.parametrize("codec", [LZO, LZ4], ids=["lzo", "lz4"])
def test_chunks_are_bounded_like_the_kernels(codec: object) -> None:
    assert codec is LZO or codec is LZ4
    unc = page_contents(MACHINE.content, np.arange(100, 132)).tobytes()
    packed = codec.pack_chunk(unc)
    assert len(packed) % PAGE == 0 and len(packed) // PAGE <= CMP_PAGES
    assert codec.unpack_chunk(packed)[1] == len(packed) // PAGE
    assert codec.decode_chunk(packed) == unc
    too_long = (1 << 40).to_bytes(8, "little") + packed[8:]
    with pytest.raises(ImageError, match="invalid .* compressed length"):
        codec.unpack_chunk(too_long)
    # a chunk expanding past 32 pages is refused: 33 pages compressed in one go
    big = codec.pack_chunk(unc + unc[:PAGE])
    with pytest.raises(ImageError):
        codec.decode_chunk(big)
    # a short page count is refused as the kernel refuses it
    odd = codec.pack_chunk(unc[:100])
    with pytest.raises(ImageError, match="decompressed length"):
        codec.decode_chunk(odd)


@pytest.mark.parametrize(("image_format", "compress", "kernel_format"), COMBOS)
def test_round_trip_is_page_exact_and_the_spec_reader_agrees(
    image_format: str, compress: str, kernel_format: str
) -> None:
    image = kernel_image(MACHINE, image_format, compress, kernel_format)
    pfns = MACHINE.saveable_pfns()
    contents = page_contents(MACHINE.content, pfns)
    zero = ~contents.any(axis=1)
    # the independent reader
    if image_format == "linux-swap":
        spec = read_swap_device(image)
        assert spec.flags == chunk_codec(compress).flags
    else:
        spec = read_snapshot_stream(image)
    assert spec.pfns == pfns.tolist()
    flagged = zero if kernel_format == "6.12" else np.zeros(len(pfns), dtype=bool)
    assert spec.zero == flagged.tolist()
    assert spec.image_pages == len(pfns) - int(flagged.sum())
    assert spec.num_physpages == MACHINE.frames
    by_pfn = spec.page_of()
    assert all(by_pfn[int(p)] == contents[i].tobytes() for i, p in enumerate(pfns))
    # swsim's reader: the same pages, restored and verified
    source = open_image(io.BytesIO(image))
    assert source.info.format == image_format
    assert source.info.image_pages == len(pfns)
    assert source.info.nr_zero_pages == int(flagged.sum())
    data = np.concatenate([batch.copy() for batch in source.iter_data()])  # batches reuse a buffer
    assert (data == contents[~flagged]).all()
    source.close()
    stats = restore(open_image(io.BytesIO(image)), RestoreOptions(machine=MACHINE))
    assert stats.verified is True


def test_a_pipe_is_spooled_and_a_file_read_in_place(tmp_path: object) -> None:
    image = kernel_image(compress="lz4")

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self._data = io.BytesIO(image)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            return self._data.readinto(buffer)  # type: ignore[arg-type]

    source = open_image(Pipe())  # type: ignore[arg-type]
    assert source.describe()["device"]["access"] == "spooled to a temporary file"
    summary = summarize_image(source)
    assert summary.verified
    source = open_image(io.BufferedReader(io.FileIO(_write(tmp_path, image))))
    assert source.describe()["device"]["access"] == "read in place"
    source.close()


def _write(tmp_path: object, data: bytes) -> str:
    from pathlib import Path

    path = Path(str(tmp_path)) / "dev.swap"
    path.write_bytes(data)
    return str(path)


def test_resume_offset_reads_the_signature_further_on() -> None:
    image = kernel_image(compress="lzo")
    device = shifted(image, 10)  # a swap area 10 pages into the device
    with pytest.raises(ImageError, match="not an swsim image"):
        open_image(io.BytesIO(device))
    source = open_image(io.BytesIO(device), resume_offset=10)
    summary = summarize_image(source)
    assert summary.verified and summary.header["device"]["resume_offset"] == 10
    assert read_swap_device(device, resume_offset=10).pfns == MACHINE.saveable_pfns().tolist()
    with pytest.raises(ImageError, match="past the end of the device"):
        open_image(io.BytesIO(device), resume_offset=10**6)


@pytest.mark.parametrize("name", list(mutations(kernel_image(compress="lz4"))))
def test_every_mutation_is_an_image_error_and_the_spec_reader_refuses_it(name: str) -> None:
    bad = mutations(kernel_image(compress="lz4"))[name]
    with pytest.raises(SpecError):
        read_swap_device(bad)
    with pytest.raises(ImageError):
        restore(open_image(io.BytesIO(bad)), RestoreOptions(machine=MACHINE))


def test_a_swap_area_without_an_image_says_so() -> None:
    image = kernel_image()
    swap = image[:4086] + b"SWAPSPACE2" + image[4096:]
    with pytest.raises(ImageError, match="^a swap area with no hibernation image"):
        open_image(io.BytesIO(swap))


def test_options_no_kernel_writes_are_refused() -> None:
    with pytest.raises(UsageError, match="LZ4 came in 6.9"):
        KernelWriteOptions("linux-swap", "lz4", "6.1").check()
    with pytest.raises(UsageError, match="is for --format linux-swap"):
        KernelWriteOptions("snapshot-stream", "lzo").check()

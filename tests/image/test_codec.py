"""The image readers of swsim.image.codecs: ``readinto``, and the zstd reader's frame checks.

python-zstandard's ``stream_reader`` returns short output without raising when its input ends
inside a frame; these tests cut a small multi-frame stream at every offset, and feed it one
byte at a time, to check that the frame walker catches every cut on both reading paths.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from functools import partial
from typing import BinaryIO, cast

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.errors import EXIT_BAD_IMAGE, ImageError
from swsim.image.codecs import open_image_stream
from swsim.image.codecs.base import ImageInput
from swsim.image.codecs.raw import RawImageReader
from swsim.image.codecs.zstd import ZstdImageReader
from swsim.image.codecs.zstd_frames import FrameWalker
from tests.imagetools import decompresses_to

SKIPPABLE = b"\x5a\x2a\x4d\x18" + (6).to_bytes(4, "little") + b"skip me"[:6]


class TrickleStream:
    """A stream with only ``read``, which gives at most ``step`` bytes a call (one byte: chunk
    boundaries everywhere)."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, self._step) if size >= 0 else self._step)


def trickle(data: bytes, step: int = 1) -> BinaryIO:
    """``data`` as a :class:`TrickleStream`, typed as the stream the readers take."""
    return cast(BinaryIO, TrickleStream(data, step))


def frames(checksum: bool) -> tuple[list[bytes], bytes]:
    """A small stream of every kind of frame and block, cut into its frames; and its content.

    Two compressed blocks, then a compressed and two RLE blocks (4-byte content sizes), one raw
    block (a 2-byte size), a frame with no content size (and a window descriptor), an empty
    frame (a 1-byte size) and a skippable frame.
    """
    rng = random.Random(5)
    contents = [
        bytes(range(256)) * 600,  # 150 KiB: compressed blocks
        bytes(300_000),  # RLE blocks
        rng.randbytes(1000),  # a raw block
        b"no content size " * 40,
        b"",
    ]
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=checksum)
    parts = [cctx.compress(content) for content in contents[:3]]
    unsized = cctx.compressobj()
    parts.append(unsized.compress(contents[3]) + unsized.flush())
    parts.insert(2, SKIPPABLE)
    parts.append(cctx.compress(contents[4]))
    return parts, b"".join(contents)


def read_all(source: ImageInput, path: str) -> bytes:
    """Everything ``source`` gives, through ``read(n)`` or ``readinto`` (a small numpy buffer)."""
    if path == "read":
        return b"".join(iter(lambda: source.read(40_000), b""))
    buffer = np.empty(40_000, dtype=np.uint8)
    chunks = []
    while count := source.readinto(buffer):
        chunks.append(buffer[:count].tobytes())
    return b"".join(chunks)


Opener = Callable[[bytes], BinaryIO]
OPENERS: dict[str, Opener] = {"whole": io.BytesIO, "7 bytes a read": partial(trickle, step=7)}


@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no checksum"])
@pytest.mark.parametrize("path", ["read", "readinto"])
def test_a_multi_frame_stream_cut_anywhere_but_between_frames_is_truncated(
    checksum: bool, path: str
) -> None:
    parts, content = frames(checksum)
    stream = b"".join(parts)
    ends = {sum(map(len, parts[:count])) for count in range(1, len(parts) + 1)}
    assert read_all(ZstdImageReader(b"", io.BytesIO(stream)), path) == content
    for cut in range(1, len(stream)):
        reader = ZstdImageReader(b"", io.BytesIO(stream[:cut]))
        if cut in ends:
            read_all(reader, path)
            continue
        with pytest.raises(ImageError, match="ends in the middle of a frame"):
            read_all(reader, path)


@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "no checksum"])
def test_the_walker_knows_every_frame_boundary_when_fed_one_byte_at_a_time(
    checksum: bool,
) -> None:
    parts, _ = frames(checksum)
    stream = b"".join(parts)
    ends = {sum(map(len, parts[:count])) for count in range(len(parts) + 1)}
    walker = FrameWalker()
    for pos in range(len(stream)):
        assert walker.at_frame_boundary == (pos in ends), pos
        walker.feed(stream[pos : pos + 1])
    assert walker.at_frame_boundary
    walker.finish()


@pytest.mark.parametrize("path", ["read", "readinto"])
def test_a_stream_fed_one_byte_at_a_time_reads_whole_and_its_cuts_are_refused(
    path: str,
) -> None:
    parts, content = frames(checksum=True)
    stream = b"".join(parts)
    assert read_all(ZstdImageReader(b"", trickle(stream)), path) == content
    for cut in (1, 2, 5, 6, 7, 8, len(parts[0]) - 4, len(parts[0]) - 1, len(stream) - 1):
        with pytest.raises(ImageError, match="truncated"):
            read_all(ZstdImageReader(b"", trickle(stream[:cut])), path)


@pytest.mark.parametrize("opener", OPENERS.values(), ids=OPENERS.keys())
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "zstd"])
def test_readinto_fills_numpy_arrays_and_memoryviews_like_read_reads(
    opener: Opener, compressed: bool
) -> None:
    parts, content = frames(checksum=True)
    data = b"".join(parts) if compressed else content
    source = open_image_stream(opener(data))
    assert isinstance(source, ZstdImageReader if compressed else RawImageReader)
    pages = np.zeros((3, 4096), dtype=np.uint8)  # 2-D, straight into its memory
    assert source.readinto(pages) == pages.nbytes
    assert pages.tobytes() == content[: pages.nbytes]
    assert read_exactly(source, 5) == content[pages.nbytes : pages.nbytes + 5]
    view = memoryview(bytearray(100_000))
    assert source.readinto(view[10:]) == 100_000 - 10
    rest = content[pages.nbytes + 5 :]
    assert view[10:] == rest[: 100_000 - 10]
    assert read_exactly(source, len(content)) == rest[100_000 - 10 :]
    assert source.readinto(view) == 0
    assert source.read(10) == b""


def read_exactly(source: ImageInput, size: int) -> bytes:
    """``size`` bytes, or up to the end (a raw reader's ``read`` passes short reads on)."""
    data = b""
    while len(data) < size and (chunk := source.read(size - len(data))):
        data += chunk
    return data


def test_a_raw_readinto_hands_out_the_sniffed_head_first() -> None:
    source = open_image_stream(io.BytesIO(b"swsim image bytes"))
    buffer = bytearray(2)
    assert source.readinto(buffer) == 2 and buffer == b"sw"
    buffer = bytearray(40)
    assert source.readinto(buffer) == 15 and buffer[:15] == b"sim image bytes"
    assert source.readinto(buffer) == 0


def zstd_stream(content: bytes, checksum: bool = False) -> bytes:
    """``content`` in one frame written by a streaming compressor (no content size)."""
    compressor = zstandard.ZstdCompressor(level=1, write_checksum=checksum).compressobj()
    return compressor.compress(content) + compressor.flush()


@pytest.mark.parametrize("path", ["read", "readinto"])
def test_output_beyond_the_limit_is_refused_at_the_limit(path: str) -> None:
    reader = ZstdImageReader(b"", io.BytesIO(zstd_stream(bytes(1 << 28))))  # a 9 KB bomb
    reader.set_limit(8192)
    buffer = np.full(8192 + 10, 7, dtype=np.uint8)
    with pytest.raises(ImageError, match="decompresses to more than the 8192 bytes") as info:
        if path == "read":
            reader.read(len(buffer))
        else:
            reader.readinto(buffer)
    assert info.value.exit_code == EXIT_BAD_IMAGE
    assert (buffer[8192:] == 7).all()  # nothing written beyond the limit


def test_a_frame_declaring_more_than_the_limit_is_refused_before_decompressing() -> None:
    reader = ZstdImageReader(b"", io.BytesIO(zstandard.ZstdCompressor().compress(bytes(1 << 20))))
    assert reader.read(10) == bytes(10)
    with pytest.raises(ImageError, match="decompresses to more than the 4096 bytes"):
        reader.set_limit(4096)


def test_a_stream_of_exactly_the_limit_ends_cleanly() -> None:
    reader = ZstdImageReader(b"", io.BytesIO(zstd_stream(b"x" * 10_000, checksum=True)))
    reader.set_limit(10_000)
    assert reader.read(20_000) == b"x" * 10_000
    assert reader.read(1) == b""


def test_a_cut_checksum_is_refused_even_when_reading_exactly_to_the_limit() -> None:
    stream = zstd_stream(b"x" * 10_000, checksum=True)
    reader = ZstdImageReader(b"", io.BytesIO(stream[:-2]))
    reader.set_limit(10_000)
    with pytest.raises(ImageError, match="truncated"):
        reader.read(10_000)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"g", "unexpected bytes after the end"),
        (b"garbage!", "unexpected bytes after the end"),
        (b"\x28\xb5", "ends in the middle of a frame"),  # the start of a frame magic
        (b"\x5f\x2a\x4d", "ends in the middle of a frame"),  # of a skippable frame magic
        (SKIPPABLE[:-1], "ends in the middle of a frame"),
        (b"\x28\xb5\x2f\xfd\x08", "reserved bit"),  # Frame_Header_Descriptor bit 3
        (b"\x28\xb5\x2f\xfd\x20\x05\x07\x00\x00", "reserved zstd block type"),
    ],
)
def test_what_follows_a_frame_is_a_whole_frame_or_refused(tail: bytes, message: str) -> None:
    reader = ZstdImageReader(b"", io.BytesIO(zstd_stream(b"content") + tail))
    with pytest.raises(ImageError, match=message):
        reader.read()


def test_zstd_errors_become_image_errors() -> None:
    stream = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(b"ab" * 5000))
    stream[-1] ^= 1  # the content checksum
    with pytest.raises(ImageError, match=r"corrupted compressed image \(.*checksum"):
        ZstdImageReader(b"", io.BytesIO(bytes(stream))).read()


STREAMS = {checksum: b"".join(frames(checksum)[0]) for checksum in (True, False)}


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    checksum=st.booleans(),
    offset=st.integers(4, len(STREAMS[False]) - 1),
    kind=st.sampled_from(["flip", "set", "delete", "insert"]),
    value=st.integers(0, 255),
    count=st.sampled_from([1, 3, 8]),
)
def test_a_mutated_stream_is_refused_exactly_when_zstd_refuses_it(
    checksum: bool, offset: int, kind: str, value: int, count: int
) -> None:
    stream = bytearray(STREAMS[checksum])
    if kind == "flip":
        stream[offset] ^= 1 << value % 8
    elif kind == "set":
        stream[offset] = value
    elif kind == "delete":
        del stream[offset : offset + count]
    else:
        stream[offset:offset] = bytes([value]) * count
    try:
        got: bytes | None = ZstdImageReader(b"", io.BytesIO(bytes(stream))).read()
    except ImageError:
        got = None
    assert got == decompresses_to(bytes(stream))


# -- as strict as the zstd format (issue 14, item 5) ---------------------------------------------
def _with_content_size(frame: bytes, delta: int) -> bytes:
    """``frame`` with its Frame_Content_Size field changed by ``delta``."""
    descriptor = frame[4]
    single = descriptor >> 5 & 1
    size = (single, 2, 4, 8)[descriptor >> 6]
    assert size, "the frame has no content size field"
    offset = 5 + (1 - single) + (0, 1, 2, 4)[descriptor & 3]
    value = int.from_bytes(frame[offset : offset + size], "little") + delta
    return frame[:offset] + value.to_bytes(size, "little") + frame[offset + size :]


def _restore_code(stream: bytes) -> int:
    from swsim.errors import SwsimError
    from tests.helpers import restore_image

    try:
        assert restore_image(stream).verified
    except SwsimError as exc:
        return exc.exit_code
    return 0


def test_a_stream_may_begin_with_skippable_frames() -> None:
    from tests.imagetools import RAW

    packed = zstandard.ZstdCompressor().compress(RAW)
    assert _restore_code(SKIPPABLE + SKIPPABLE + packed) == 0
    assert open_image_stream(io.BytesIO(SKIPPABLE + packed)).codec == "zstd"


def test_swsims_writer_ends_its_one_frame_without_an_empty_one() -> None:
    from swsim.image.writer import WriteOptions
    from tests.helpers import image_bytes
    from tests.imagetools import SMALL

    packed = image_bytes(SMALL, WriteOptions(compress="zstd"))
    obj = zstandard.ZstdDecompressor().decompressobj()
    obj.decompress(packed)
    assert obj.eof and obj.unused_data == b""


@pytest.mark.parametrize("delta", [1, 5, 255])
def test_an_empty_frame_must_hold_its_content_size(delta: int) -> None:
    """zstd -t refuses it; libzstd's streaming decoder lets it pass (empty last block)."""
    from tests.imagetools import RAW

    empty = zstandard.ZstdCompressor(write_content_size=True, write_checksum=True).compress(b"")
    stream = zstandard.ZstdCompressor().compress(RAW) + _with_content_size(empty, delta)
    with pytest.raises(ImageError, match=f"declares {delta} bytes of content, its blocks hold 0"):
        FrameWalker().feed(stream)
    assert _restore_code(stream) == EXIT_BAD_IMAGE


def test_a_frame_of_raw_blocks_must_hold_its_content_size() -> None:
    data = random.Random(3).randbytes(300_000)  # incompressible: raw blocks
    frame = zstandard.ZstdCompressor(level=1).compress(data)
    walker = FrameWalker()
    walker.feed(frame)
    walker.finish()
    with pytest.raises(ImageError, match="declares 299999 bytes of content, its blocks hold"):
        FrameWalker().feed(_with_content_size(frame, -1))


def test_a_content_size_is_checked_even_where_zstd_1_5_lets_it_pass() -> None:
    """A frame of compressed blocks ending in an empty block, its content size raised: the
    zstd command (1.5.4) and libzstd's streaming decoder accept it; the format says the field is
    the content's size, and swsim refuses it (every frame of the stream declares its size, so
    their sum must be what it holds; here the sum is more than the image header allows)."""
    from tests.imagetools import RAW

    out = io.BytesIO()
    writer = zstandard.ZstdCompressor(write_checksum=True).stream_writer(
        out, size=len(RAW), closefd=False
    )
    writer.write(RAW)
    writer.flush(zstandard.FLUSH_BLOCK)
    writer.flush(zstandard.FLUSH_FRAME)
    frame = out.getvalue()
    assert frame[-7:-4] == b"\x01\x00\x00"  # the empty last block
    assert _restore_code(frame) == 0
    assert _restore_code(_with_content_size(frame, 4096)) == EXIT_BAD_IMAGE
    assert _restore_code(_with_content_size(frame, -4096)) == EXIT_BAD_IMAGE

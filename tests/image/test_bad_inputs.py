"""The catalogue of bad inputs: each one, the exit code and the one-line message it gets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import zstandard

from swsim.errors import SwsimError
from swsim.kernel.constants import PAGE_SIZE
from tests.helpers import restore_image
from tests.imagetools import KEY, OTHER_KEY, make_image, reseal, set_pfn, swap_pages

RAW = make_image()
SIGNED = make_image(key=KEY)
TRAILER = len(RAW) - PAGE_SIZE


def flip(image: bytes, offset: int, mask: int = 1) -> bytes:
    data = bytearray(image)
    data[offset] ^= mask
    return bytes(data)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def zst_raw_frame(window_log: int, content: bytes) -> bytes:
    """A hand-made zstd frame: a window of 2**window_log bytes, one raw block of content."""
    header = bytes([0x00, (window_log - 10) << 3])  # no content size, no checksum
    block = ((len(content) << 3) | 1).to_bytes(3, "little")  # last block, raw
    return b"\x28\xb5\x2f\xfd" + header + block + content


Case = tuple[str, Callable[[], bytes], bytes | None, int, str]
CASES: list[Case] = [
    ("empty input", lambda: b"", None, 3, "stream ended in the header page (0 of 4096"),
    ("not an image", lambda: bytes(range(256)) * 16, None, 3, "not an swsim image"),
    ("truncated header", lambda: RAW[:100], None, 3, "ended in the header page"),
    ("truncated metadata", lambda: RAW[: PAGE_SIZE + 10], None, 3, "metadata page 0"),
    ("truncated data", lambda: RAW[: 5 * PAGE_SIZE], None, 3, "data pages from 0"),
    ("no trailer", lambda: RAW[:TRAILER], None, 3, "trailer page is missing"),
    ("byte after trailer", lambda: RAW + b"x", None, 3, "unexpected bytes after the trailer"),
    ("header field flipped", lambda: flip(RAW, 40), None, 3, "header checksum mismatch"),
    ("pfn flipped", lambda: flip(RAW, PAGE_SIZE + 24), None, 3, "not strictly increasing"),
    ("pfn out of range", lambda: reseal(set_pfn(RAW, 91, 500)), None, 3, "pfn 500 beyond 128"),
    ("pfn reserved at boot", lambda: reseal(set_pfn(RAW, 0, 1)), None, 5, "is reserved"),
    ("metadata padding", lambda: flip(RAW, 2 * PAGE_SIZE - 1), None, 3,
     "non-zero bytes in the padding of the last metadata page"),
    ("metadata padding, resealed", lambda: reseal(flip(RAW, PAGE_SIZE + 8 * 92)), None, 3,
     "non-zero bytes in the padding of the last metadata page"),
    ("header padding, resealed", lambda: reseal(flip(RAW, 93)), None, 3,
     "non-zero bytes in the header's unused bytes 92-95"),
    ("header reserved, resealed", lambda: reseal(flip(RAW, 200)), None, 3,
     "non-zero bytes in the header's unused bytes 160-255"),
    ("header after description, resealed", lambda: reseal(flip(RAW, 4000)), None, 3,
     "non-zero bytes in the header's unused bytes"),
    ("release padding, resealed", lambda: reseal(flip(RAW, 96 + 60)), None, 3,
     "release field is not NUL-padded"),
    ("header padding, key", lambda: reseal(flip(SIGNED, 200)), KEY, 6, "unused bytes 160-255"),
    ("data byte flipped", lambda: flip(RAW, 42 * PAGE_SIZE), None, 3,
     "block 1: the first bad page is among data pages 32-63 (pfns 40-71)"),
    ("data pages swapped", lambda: swap_pages(RAW, 5, 60), None, 3, "CRC32 mismatch in block 0"),
    ("page inserted", lambda: RAW[: 10 * PAGE_SIZE] + bytes(PAGE_SIZE) + RAW[10 * PAGE_SIZE :],
     None, 3, "CRC32 mismatch in block 0"),
    ("checksum page flipped", lambda: flip(RAW, TRAILER - PAGE_SIZE + 1), None, 3, "CRC32"),
    ("digest flipped", lambda: flip(RAW, TRAILER + 30), None, 3, "digest mismatch"),
    ("MAC field in unsigned", lambda: flip(RAW, TRAILER + 60), None, 3, "MAC field set"),
    ("trailer padding", lambda: flip(RAW, len(RAW) - 1), None, 3, "non-zero padding"),
    ("unsigned, key given", lambda: RAW, KEY, 6, "the image is not signed"),
    ("wrong key", lambda: SIGNED, OTHER_KEY, 6, "HMAC mismatch"),
    ("forged data, key", lambda: reseal(flip(SIGNED, 42 * PAGE_SIZE)), KEY, 6, "HMAC mismatch"),
    ("forged reserved pfn, key", lambda: reseal(set_pfn(SIGNED, 0, 1)), KEY, 6, "HMAC mismatch"),
    ("truncated, key", lambda: SIGNED[:TRAILER], KEY, 6,
     "authentication failed: truncated image"),
    ("zstd truncated", lambda: zst(RAW)[:-1], None, 3, "ends in the middle of a frame"),
    ("zstd magic only", lambda: zst(RAW)[:4], None, 3, "ends in the middle of a frame"),
    ("zstd byte flipped", lambda: flip(zst(RAW), 500), None, 3, "corrupted"),
    ("zstd garbage after", lambda: zst(RAW) + b"garbage!", None, 3, "after the end of the zstd"),
    ("zstd frame asking a 2 GiB window", lambda: zst_raw_frame(31, RAW[:PAGE_SIZE]), None, 3,
     "too much memory"),
    ("zstd longer than header", lambda: zst(RAW + bytes(PAGE_SIZE)), None, 3,
     "decompresses to more than"),
]


@pytest.mark.parametrize(
    ("build", "key", "code", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_bad_input_gets_its_exit_code_and_message(
    build: Callable[[], bytes], key: bytes | None, code: int, message: str
) -> None:
    with pytest.raises(SwsimError) as info:
        restore_image(build(), key=key)
    assert info.value.exit_code == code
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_good_inputs_of_every_kind_restore() -> None:
    for image, key in ((RAW, None), (SIGNED, None), (SIGNED, KEY), (zst(SIGNED), KEY)):
        assert restore_image(image, key=key).verified

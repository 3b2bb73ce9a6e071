"""The trailer digest: XXH3-128 (default) or SHA-256, selected by header flag bit 4.

Both algorithms round-trip through restore and inspect and catch a changed byte on their own
(block checksums off); header flag and trailer algorithm must agree; the unused half of the
digest field must be zero; images written before XXH3-128 existed still restore.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xxhash

from swsim.errors import EXIT_AUTH, EXIT_BAD_IMAGE, AuthError, ImageError, UsageError
from swsim.image.checks import ImageChecks
from swsim.image.digest import DEFAULT_DIGEST, DIGESTS, SHA256, XXH3_128
from swsim.image.format import DIGEST_FIELD_SIZE, FLAG_DIGEST_XXH3
from swsim.kernel.constants import PAGE_SIZE
from tests.helpers import restore_image, summarize
from tests.imagetools import (
    FLAGS_OFFSET,
    KEY,
    TRAILER_ALGO_OFFSET,
    TRAILER_DIGEST_OFFSET,
    layout,
    make_image,
    reseal,
    seal_header,
    set_header_field,
    without_block_crcs,
)

#: Written by swsim before XXH3-128 (commit a8ff206): a 16-page image of
#: ``tiny_machine(64, ((8, 24),), reserved=((0, 4),))`` with zero pages left out, signed with
#: tests.imagetools.KEY, zstd-compressed. Header flags 13 (bit 4 clear), trailer algorithm 1.
PRE_XXH3_IMAGE = Path(__file__).parents[1] / "data" / "pre-xxh3-sha256-signed.zst"
#: Page numbers in an image of SMALL: header 0, metadata 1, data 2..93.
FIRST_DATA = 2
BOTH = pytest.mark.parametrize("digest", list(DIGESTS))


def flip(image: bytes, offset: int) -> bytes:
    data = bytearray(image)
    data[offset] ^= 0x01
    return bytes(data)


def trailer_field(image: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", image, len(image) - PAGE_SIZE + offset)[0])


def test_xxh3_is_the_default() -> None:
    assert DEFAULT_DIGEST == "xxh3"
    assert layout(make_image())[2] & FLAG_DIGEST_XXH3


@BOTH
def test_the_header_flag_and_the_trailer_name_the_algorithm_and_hold_its_digest(
    digest: str,
) -> None:
    algo = DIGESTS[digest]
    image = make_image(digest=digest)
    assert layout(image)[2] & FLAG_DIGEST_XXH3 == algo.header_flags
    assert trailer_field(image, TRAILER_ALGO_OFFSET) == algo.trailer_id
    field = len(image) - PAGE_SIZE + TRAILER_DIGEST_OFFSET
    hasher = algo.new()
    hasher.update(image[: len(image) - PAGE_SIZE])
    assert image[field : field + DIGEST_FIELD_SIZE] == hasher.digest().ljust(
        DIGEST_FIELD_SIZE, b"\0"
    )


@BOTH
@pytest.mark.parametrize("key", [None, KEY])
def test_both_digests_round_trip_through_restore_and_inspect(
    digest: str, key: bytes | None
) -> None:
    image = make_image(digest=digest, key=key)
    checks = ImageChecks()
    assert restore_image(image, key=key, checks=checks).verified
    assert checks.authenticated == (key is not None)
    summary = summarize(image, key, strict=True)
    assert summary.verified and summary.header["digest_algorithm"] == digest
    assert summary.to_json()["digest_algorithm"] == digest


@BOTH
def test_without_block_checksums_the_digest_alone_catches_a_flipped_data_byte(
    digest: str,
) -> None:
    image = without_block_crcs(make_image(digest=digest))
    checks = ImageChecks()
    assert restore_image(image, checks=checks).verified
    assert not checks.block_checksums
    bad = flip(image, (FIRST_DATA + 40) * PAGE_SIZE + 123)
    with pytest.raises(ImageError, match="digest mismatch") as info:
        restore_image(bad)
    assert info.value.exit_code == EXIT_BAD_IMAGE
    summary = summarize(bad)
    assert not summary.verified and summary.error and "digest mismatch" in summary.error


def _set_trailer_algo(image: bytes, trailer_id: int) -> bytes:
    return set_header_field(image, "<I", len(image) - PAGE_SIZE + TRAILER_ALGO_OFFSET, trailer_id)


def _toggle_header_flag(image: bytes) -> bytes:
    flags = layout(image)[2]
    return seal_header(set_header_field(image, "<I", FLAGS_OFFSET, flags ^ FLAG_DIGEST_XXH3))


@pytest.mark.parametrize(
    ("digest", "edit", "message"),
    [
        ("xxh3", lambda image: _set_trailer_algo(image, SHA256.trailer_id),
         "digest algorithm SHA-256, but the header flags say XXH3-128"),
        ("sha256", lambda image: _set_trailer_algo(image, XXH3_128.trailer_id),
         "digest algorithm XXH3-128, but the header flags say SHA-256"),
        ("xxh3", _toggle_header_flag,
         "digest algorithm XXH3-128, but the header flags say SHA-256"),
        ("sha256", _toggle_header_flag,
         "digest algorithm SHA-256, but the header flags say XXH3-128"),
        ("xxh3", lambda image: _set_trailer_algo(image, 7),
         "digest algorithm unknown algorithm 7, but the header flags say XXH3-128"),
    ],
    ids=["trailer-sha256", "trailer-xxh3", "flag-cleared", "flag-set", "trailer-unknown"],
)
def test_header_flag_and_trailer_algorithm_must_agree(
    digest: str, edit: Callable[[bytes], bytes], message: str
) -> None:
    image = edit(make_image(digest=digest))
    with pytest.raises(ImageError, match=f"bad trailer page \\({message}\\)") as info:
        restore_image(image)
    assert info.value.exit_code == EXIT_BAD_IMAGE


@pytest.mark.parametrize("byte", [XXH3_128.size, DIGEST_FIELD_SIZE - 1])
def test_the_unused_half_of_an_xxh3_digest_field_must_be_zero(byte: int) -> None:
    image = make_image()
    offset = len(image) - PAGE_SIZE + TRAILER_DIGEST_OFFSET + byte
    with pytest.raises(ImageError, match="non-zero bytes after the XXH3-128 digest"):
        restore_image(flip(image, offset))
    signed = make_image(key=KEY)
    with pytest.raises(AuthError, match="non-zero bytes after the XXH3-128 digest") as info:
        restore_image(flip(signed, offset), key=KEY)
    assert info.value.exit_code == EXIT_AUTH


def test_the_same_bytes_are_the_sha256_digest_of_a_sha256_image() -> None:
    image = make_image(digest="sha256")
    offset = len(image) - PAGE_SIZE + TRAILER_DIGEST_OFFSET + DIGEST_FIELD_SIZE - 1
    with pytest.raises(ImageError, match="digest mismatch"):
        restore_image(flip(image, offset))


def test_an_image_written_before_xxh3_still_restores_and_authenticates() -> None:
    data = PRE_XXH3_IMAGE.read_bytes()
    checks = ImageChecks()
    stats = restore_image(data, checks=checks)
    assert stats.verified and stats.image_pages == 16
    assert checks.compressed and checks.signed and not checks.authenticated
    keyed = ImageChecks()
    assert restore_image(data, key=KEY, checks=keyed).verified
    assert keyed.authenticated
    summary = summarize(data, KEY, strict=True)
    assert summary.verified and summary.header["digest_algorithm"] == "sha256"
    assert summary.header["flags"] & FLAG_DIGEST_XXH3 == 0


def test_a_resealed_forgery_is_still_refused_by_the_hmac_under_either_digest() -> None:
    for digest in DIGESTS:
        forged = reseal(flip(make_image(key=KEY, digest=digest), FIRST_DATA * PAGE_SIZE))
        restore_image(forged)  # unkeyed: the digest was recomputed
        with pytest.raises(AuthError, match="HMAC mismatch"):
            restore_image(forged, key=KEY)


@BOTH
def test_a_hash_takes_bytes_memoryviews_and_contiguous_uint8_arrays_alike(digest: str) -> None:
    algo = DIGESTS[digest]
    pages = np.random.default_rng(1).integers(0, 256, (3, PAGE_SIZE), dtype=np.uint8)
    whole = pages.tobytes()
    fed = algo.new()
    fed.update(pages[0].tobytes())
    fed.update(pages[1].data)
    fed.update(pages[2:])
    reference = {"sha256": hashlib.sha256, "xxh3": xxhash.xxh3_128}[digest](whole).digest()
    assert fed.digest() == reference and len(reference) == algo.size


def test_an_unknown_digest_name_is_a_usage_error() -> None:
    # The library names the parameter, not the CLI option (the CLI refuses md5 itself).
    message = "unknown digest 'md5' (choose from: xxh3, sha256)"
    with pytest.raises(UsageError, match=re.escape(message)):
        make_image(digest="md5")

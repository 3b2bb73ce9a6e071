"""Block CRCs, header and pfn validation, HMAC: each check refuses what it should, in time."""

from __future__ import annotations

import json

import pytest

from swsim.errors import (
    EXIT_AUTH,
    EXIT_BAD_IMAGE,
    EXIT_MACHINE_MISMATCH,
    AuthError,
    ImageError,
    MachineMismatch,
    SwsimError,
)
from swsim.image.checks import ImageChecks
from swsim.image.format import MAX_FRAMES
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.model import Machine
from swsim.resume.memory import FrameMemory
from tests.helpers import restore_image, summarize
from tests.imagetools import (
    FLAGS_OFFSET,
    KEY,
    OTHER_KEY,
    SMALL,
    make_image,
    reseal,
    set_header_field,
    set_pfn,
    swap_pages,
    with_machine_description,
)

#: Page numbers in an image of SMALL: header 0, metadata 1, data 2..93, checksums 94, trailer 95.
FIRST_DATA = 2
CRC_PAGE = 94
TRAILER = 95


def flip(image: bytes, offset: int, mask: int = 0x01) -> bytes:
    data = bytearray(image)
    data[offset] ^= mask
    return bytes(data)


def restore(image: bytes, key: bytes | None = None, machine: Machine | None = None) -> None:
    restore_image(image, key=key, machine=machine)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every call of the final copies (FrameMemory.copy_pages)."""
    calls: list[int] = []
    original = FrameMemory.copy_pages

    def spy(self: FrameMemory, dst, src) -> None:  # type: ignore[no-untyped-def]
        calls.append(len(dst))
        original(self, dst, src)

    monkeypatch.setattr(FrameMemory, "copy_pages", spy)
    return calls


def test_a_good_image_restores_verified_with_all_checks_recorded() -> None:
    checks = ImageChecks()
    stats = restore_image(make_image(), checks=checks)
    assert stats.verified
    assert checks.block_checksums and not checks.signed and not checks.compressed


def test_a_flipped_data_byte_names_the_first_bad_block_and_its_pfns() -> None:
    image = flip(make_image(), (FIRST_DATA + 40) * PAGE_SIZE + 123)
    with pytest.raises(ImageError, match=r"CRC32 mismatch in block 1: .* data pages 32-63 "
                       r"\(pfns 40-71\)"):
        restore(image)


def test_the_last_short_block_names_its_real_last_page() -> None:
    image = flip(make_image(), (FIRST_DATA + 91) * PAGE_SIZE)
    with pytest.raises(ImageError, match=r"block 2: .* data pages 64-91 \(pfns 72-99\)"):
        restore(image)


def test_two_swapped_data_pages_are_caught_by_the_block_crc() -> None:
    image = swap_pages(make_image(), FIRST_DATA + 33, FIRST_DATA + 70)
    with pytest.raises(ImageError, match="block 1"):
        restore(image)


@pytest.mark.parametrize(
    "offset",
    [
        CRC_PAGE * PAGE_SIZE + 5,  # a stored CRC
        CRC_PAGE * PAGE_SIZE + 4000,  # checksum-page padding
        TRAILER * PAGE_SIZE + 0,  # trailer magic
        TRAILER * PAGE_SIZE + 30,  # digest
        TRAILER * PAGE_SIZE + 60,  # MAC field of an unsigned image
        TRAILER * PAGE_SIZE + 4095,  # trailer padding
        PAGE_SIZE + 8 * 92 + 1,  # metadata padding after the last pfn
    ],
)
def test_every_byte_after_the_data_is_checked_before_the_final_copies(
    offset: int, copies: list[int]
) -> None:
    with pytest.raises(ImageError):
        restore(flip(make_image(), offset))
    assert copies == []


def test_a_good_restore_does_reach_the_final_copies(copies: list[int]) -> None:
    restore(make_image())
    assert copies and copies[0] > 0


@pytest.mark.parametrize(
    ("index", "pfn", "message"),
    [
        (5, 9, "not strictly increasing"),  # goes back (data page 5 is pfn 13)
        (5, 12, "not strictly increasing"),  # duplicate of the pfn before
        (91, 128, "beyond 128"),  # out of range
        (91, 1 << 62, "beyond 128"),
    ],
)
def test_resealed_bad_pfns_are_refused_even_with_good_digests(
    index: int, pfn: int, message: str
) -> None:
    image = reseal(set_pfn(make_image(), index, pfn))
    with pytest.raises(ImageError, match=message):
        restore(image)
    with pytest.raises(ImageError, match=message):
        summarize(image, strict=True)


def test_a_pfn_reserved_at_boot_is_a_machine_mismatch() -> None:
    image = reseal(set_pfn(make_image(), 0, 2))
    with pytest.raises(MachineMismatch, match="reserved"):
        restore(image)


def test_unknown_header_flags_are_refused() -> None:
    image = reseal(set_header_field(make_image(), "<I", FLAGS_OFFSET, 1 << 5 | 1 << 3))
    with pytest.raises(ImageError, match="unknown header flags 0x20"):
        restore(image)


def test_a_header_claiming_a_huge_machine_is_refused_before_allocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    huge = SMALL.to_json() | {"frames": MAX_FRAMES + 1}
    image = with_machine_description(make_image(), json.dumps(huge), frames=MAX_FRAMES + 1)

    def no_alloc(*args: object, **kw: object) -> None:
        raise AssertionError("allocated from an unchecked header")

    monkeypatch.setattr("swsim.resume.restore.ResumeContext", no_alloc)
    with pytest.raises(ImageError, match=f"frames: expected int <= {MAX_FRAMES}"):
        restore(image)


def test_a_signed_image_restores_without_a_key_but_is_not_authenticated() -> None:
    checks = ImageChecks()
    stats = restore_image(make_image(key=KEY), checks=checks)
    assert stats.verified and checks.signed and not checks.authenticated


def test_a_signed_image_with_its_key_is_authenticated() -> None:
    checks = ImageChecks()
    restore_image(make_image(key=KEY), key=KEY, checks=checks)
    assert checks.authenticated


@pytest.mark.parametrize(
    ("image_key", "restore_key", "message"),
    [(None, KEY, "not signed"), (KEY, OTHER_KEY, "HMAC mismatch")],
)
def test_with_a_key_unsigned_and_wrongly_signed_images_are_refused(
    image_key: bytes | None, restore_key: bytes, message: str, copies: list[int]
) -> None:
    with pytest.raises(AuthError, match=message):
        restore(make_image(key=image_key), key=restore_key)
    assert copies == []


def test_with_a_key_a_forgery_with_recomputed_digests_is_refused() -> None:
    forged = reseal(flip(make_image(key=KEY), (FIRST_DATA + 7) * PAGE_SIZE))
    restore(forged)  # without a key, a re-sealed image is just another image
    with pytest.raises(AuthError, match="HMAC mismatch"):
        restore(forged, key=KEY)


def test_with_a_key_forged_metadata_is_an_auth_failure_not_a_machine_mismatch() -> None:
    forged = reseal(set_pfn(make_image(key=KEY), 0, 2))  # frame 2 is reserved at boot
    with pytest.raises(MachineMismatch):
        restore(forged)
    with pytest.raises(AuthError):
        restore(forged, key=KEY)


def test_with_a_key_an_authentic_image_on_the_wrong_machine_is_still_a_mismatch() -> None:
    # The same suspend-time machine, but this boot reserves frames the image uses.
    other = Machine(frames=128, saveable=((8, 100),), boot_reserved=((0, 20),))
    with pytest.raises(SwsimError) as info:
        restore(make_image(key=KEY), key=KEY, machine=other)
    assert info.value.exit_code == EXIT_MACHINE_MISMATCH


def test_with_a_key_any_bad_image_error_becomes_exit_6() -> None:
    truncated = make_image(key=KEY)[:-PAGE_SIZE]
    with pytest.raises(SwsimError) as plain:
        restore(truncated)
    with pytest.raises(SwsimError) as keyed:
        restore(truncated, key=KEY)
    assert (plain.value.exit_code, keyed.value.exit_code) == (EXIT_BAD_IMAGE, EXIT_AUTH)


def test_verify_image_reports_what_it_checked() -> None:
    report = summarize(make_image(key=KEY), KEY, strict=True)
    assert report.verified and report.checks["authenticated"] and report.checks["signed"]
    assert report.header["nr_data_pages"] == 92


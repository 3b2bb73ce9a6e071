"""Fuzz the kernel's formats: any damage to a swap image or a snapshot stream either restores
verified (when the kernel would too: the damage changed nothing it reads) or fails with one
line of swsim's own error, never another exception."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from swsim.errors import SwsimError
from swsim.image.source import open_image
from swsim.resume.restore import RestoreOptions, restore
from tests.imagetools import FUZZ_EXAMPLES, fuzz_settings
from tests.kerneltools import MACHINE, kernel_image

SWAP = {codec: kernel_image(compress=codec) for codec in ("none", "lz4", "lzo")}
STREAM = kernel_image(image_format="snapshot-stream")
FUZZ = fuzz_settings(max(50, FUZZ_EXAMPLES // 4))


def outcome(image: bytes) -> int:
    """0 for a verified restore, else the exit code of the one-line error."""
    try:
        stats = restore(open_image(io.BytesIO(image)), RestoreOptions(machine=MACHINE))
    except SwsimError as exc:
        assert str(exc) and "\n" not in str(exc)
        return exc.exit_code
    assert stats.verified
    return 0


@st.composite
def damage(draw: st.DrawFn, image: bytes) -> bytes:
    """``image`` with a few bytes changed (often in the signature page and the map) or cut."""
    data = bytearray(image)
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        hot = draw(st.booleans())
        offset = draw(st.integers(0, 3 * 4096 - 1) if hot else st.integers(0, len(data) - 1))
        data[offset] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(st.data())
def test_a_damaged_swap_image_fails_cleanly(data: st.DataObject) -> None:
    codec = data.draw(st.sampled_from(sorted(SWAP)))
    damaged = data.draw(damage(SWAP[codec]))
    assert outcome(damaged) in ({0, 3, 5} if damaged != SWAP[codec] else {0})


@FUZZ
@given(damage(STREAM))
def test_a_damaged_snapshot_stream_fails_cleanly(damaged: bytes) -> None:
    assert outcome(damaged) in ({0, 3, 5} if damaged != STREAM else {0})

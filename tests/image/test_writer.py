"""The image writer: its pages stream through reused buffers and its checks may run in either
thread, and none of that changes a byte of the image."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import zstandard

from swsim.image import writer
from swsim.image.writer import WriteOptions, write_image
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.content import GATHER_PAGES, page_contents
from swsim.machine.model import ContentSpec, Machine
from tests.imagetools import KEY

MACHINE = Machine(
    frames=8192,
    saveable=((100, 3000), (4000, 7000)),
    boot_used=((3100, 3200),),
    boot_reserved=((0, 64),),
    nosave=((0, 64),),
    content=ContentSpec(seed=23, zero=0.2, text=0.4),
    name="writer-test",
)


def written(options: WriteOptions) -> bytes:
    out = io.BytesIO()
    write_image(MACHINE, out, options)
    data = out.getvalue()
    if options.compress == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return data


@pytest.mark.parametrize("zero_pages", ["skip", "store"])
@pytest.mark.parametrize("key", [None, KEY])
def test_the_image_is_the_same_whichever_thread_checks_it_and_however_it_is_batched(
    monkeypatch: pytest.MonkeyPatch, zero_pages: str, key: bytes | None
) -> None:
    base = WriteOptions(zero_pages=zero_pages, key=key, digest="sha256" if key else "xxh3")
    raw = written(base)
    # zstd -T2: the checks run in the writing thread; zstd -T0: on the hashing worker
    for threads in (0, 2):
        assert written(replace(base, compress="zstd", threads=threads)) == raw
    # batches of 5 pages through the ring of 3 buffers: a buffer reused before its batch was
    # checked would change the block CRCs or the digest
    monkeypatch.setattr(writer, "WRITE_BATCH_PAGES", 5)
    assert written(base) == raw


def test_pages_made_into_a_reused_buffer_are_the_pages_made_afresh() -> None:
    pfns = MACHINE.saveable_pfns()[: 3 * GATHER_PAGES + 7]
    buffer = np.full((len(pfns) + 10, PAGE_SIZE), 0xA5, dtype=np.uint8)
    fresh = page_contents(MACHINE.content, pfns)
    assert np.array_equal(page_contents(MACHINE.content, pfns, buffer), fresh)
    assert (buffer[len(pfns) :] == 0xA5).all()  # rows past the batch are left alone
    for start in range(0, len(pfns), 50):  # batches of any size agree with the whole
        batch = page_contents(MACHINE.content, pfns[start : start + 50], buffer)
        assert np.array_equal(batch, fresh[start : start + 50])

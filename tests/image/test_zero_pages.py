"""Zero pages in the image (v6.6+, ENCODED_PFN_ZERO_FLAG): format, restore, trailing pages."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.errors import ImageError
from swsim.image.checks import BlockCrc32
from swsim.image.format import FLAG_ZERO_PAGES, nr_crc_pages
from swsim.image.header import ImageHeader
from swsim.image.source import open_image
from swsim.kernel.constants import ENCODED_PFN_ZERO_FLAG, PAGE_SIZE
from swsim.machine.content import KIND_ZERO, page_contents, page_kinds
from swsim.machine.model import ContentSpec, Machine
from swsim.resume.context import ResumeContext
from swsim.resume.handle import SnapshotWriteHandle
from swsim.resume.restore import verify_memory
from swsim.resume.stats import RestoreStats
from swsim.resume.strategies import STRATEGIES
from tests.helpers import image_bytes_zero, random_machine, restore_image, run_cli

MACHINE = Machine(
    frames=4096,
    saveable=((300, 1500), (2000, 2600)),
    boot_used=((1000, 1100),),
    boot_reserved=((0, 64),),
    nosave=((0, 64),),
    content=ContentSpec(seed=11, zero=0.4, text=0.3),
    name="zero-test",
)


def test_zero_page_check_of_the_content_model_is_exact() -> None:
    pfns = MACHINE.saveable_pfns()
    pages = page_contents(MACHINE.content, pfns)
    all_zero = ~pages.any(axis=1)
    assert (all_zero == (page_kinds(MACHINE.content, pfns) == KIND_ZERO)).all()
    assert 0 < all_zero.sum() < len(pfns)


def test_skip_stores_flagged_pfns_and_no_data_page_for_zero_pages() -> None:
    image = image_bytes_zero(MACHINE, "skip")
    header = ImageHeader.unpack(image[:PAGE_SIZE])
    pfns = MACHINE.saveable_pfns()
    zero = ~page_contents(MACHINE.content, pfns).any(axis=1)
    assert header.flags & FLAG_ZERO_PAGES
    assert header.image_pages == len(pfns)
    assert header.nr_data_pages == len(pfns) - zero.sum()
    meta = np.frombuffer(image, dtype="<u8", count=len(pfns), offset=PAGE_SIZE)
    assert ((meta & np.uint64(ENCODED_PFN_ZERO_FLAG)) != 0).tolist() == zero.tolist()
    assert (meta & np.uint64(ENCODED_PFN_ZERO_FLAG - 1)).astype(np.int64).tolist() == pfns.tolist()
    crc_pages = nr_crc_pages(header.nr_data_pages)  # checksum pages, then the trailer
    assert len(image) == (header.pages + crc_pages + 1) * PAGE_SIZE


def test_store_keeps_the_old_format() -> None:
    image = image_bytes_zero(MACHINE, "store")
    header = ImageHeader.unpack(image[:PAGE_SIZE])
    assert header.flags & FLAG_ZERO_PAGES == 0
    assert header.nr_data_pages == header.image_pages == MACHINE.nr_saveable


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_restores_both_forms_with_the_same_counts(strategy: str) -> None:
    skip = restore_image(io.BytesIO(image_bytes_zero(MACHINE, "skip")), strategy)
    store = restore_image(io.BytesIO(image_bytes_zero(MACHINE, "store")), strategy)
    assert skip.verified and store.verified
    assert skip.zero_pages > 0 and store.zero_pages == 0
    for field in ("allocations", "frees", "direct", "copies", "peak_pages"):
        assert getattr(skip, field) == getattr(store, field), field


def test_zero_flag_in_an_image_without_the_header_flag_is_refused() -> None:
    image = bytearray(image_bytes_zero(MACHINE, "store"))
    entry = np.frombuffer(image, dtype="<u8", count=1, offset=PAGE_SIZE)[0]
    image[PAGE_SIZE : PAGE_SIZE + 8] = int(entry | np.uint64(ENCODED_PFN_ZERO_FLAG)).to_bytes(
        8, "little"
    )
    with pytest.raises(ImageError):
        restore_image(io.BytesIO(bytes(image)), "safe-list")


def test_verification_sees_a_zero_page_that_is_not_zero() -> None:
    stats = RestoreStats(strategy="x", allocator="ascending")
    ctx = ResumeContext(MACHINE, stats)
    pfns = np.array([400, 401], dtype=np.int64)
    zero = np.array([False, True])
    ctx.memory.load(pfns[:1], np.array([0]))
    loaded = np.array([0, -1])
    assert verify_memory(ctx.memory, pfns, zero, loaded)
    ctx.memory.write_frame(401)[5] = 1  # a stray write into the zero page's frame
    assert not verify_memory(ctx.memory, pfns, zero, loaded)
    ctx.memory.zero(pfns[1:])
    assert verify_memory(ctx.memory, pfns, zero, loaded)
    ctx.memory.poison(pfns[:1])  # the boot kernel's data where page 0 belongs
    assert not verify_memory(ctx.memory, pfns, zero, loaded)


def _trailing_zero_machine() -> Machine:
    """A machine whose last three saved pages are all-zero (seed found deterministically)."""
    for seed in range(1000):
        m = Machine(
            frames=2048, saveable=((100, 700),), boot_used=((200, 260),),
            content=ContentSpec(seed=seed, zero=0.3, text=0.3), name="trailing",
        )
        kinds = page_kinds(m.content, m.saveable_pfns())
        if (kinds[-3:] == KIND_ZERO).all() and kinds[-4] != KIND_ZERO:
            return m
    raise AssertionError("no seed gives trailing zero pages")


def _load_like_uswsusp(image: bytes, strategy: str, finalize: bool) -> tuple[bool, int]:
    """Write the pages as /dev/snapshot's write() does: stop after the last page written."""
    source = open_image(io.BytesIO(image))
    machine = source.info.machine
    assert machine is not None
    stats = RestoreStats(strategy=strategy, allocator="ascending")
    ctx = ResumeContext(machine, stats)
    handle = SnapshotWriteHandle(STRATEGIES[strategy](ctx), source.info)
    handle.snapshot_write_next()[:] = np.frombuffer(source.header_page, dtype=np.uint8)
    for page in source.iter_meta_pages():
        handle.snapshot_write_next()[:] = np.frombuffer(page, dtype=np.uint8)
    crc = BlockCrc32()
    for batch in source.iter_data():
        crc.update(batch)
        for page in batch:
            handle.snapshot_write_next()[:] = page
    if finalize:
        handle.snapshot_write_finalize()
    orig, address = handle.strategy.restore_pblist()
    ctx.memory.copy_pages(orig, address)
    return verify_memory(ctx.memory, handle.pfns, handle.zero, handle.loaded), handle.index


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_trailing_zero_pages_are_drained_by_snapshot_write_finalize(strategy: str) -> None:
    machine = _trailing_zero_machine()
    image = image_bytes_zero(machine, "skip")
    verified, processed = _load_like_uswsusp(image, strategy, finalize=True)
    assert verified and processed == machine.nr_saveable
    _, processed = _load_like_uswsusp(image, strategy, finalize=False)
    assert processed == machine.nr_saveable - 3


def test_an_image_of_only_zero_pages_is_refused_like_load_image_enodata() -> None:
    machine = Machine(
        frames=1024, saveable=((10, 300),), boot_used=((50, 60),),
        content=ContentSpec(seed=3, zero=1.0, text=0.0),
    )
    image = image_bytes_zero(machine, "skip")
    assert ImageHeader.unpack(image[:PAGE_SIZE]).nr_data_pages == 0
    for strategy in STRATEGIES:
        with pytest.raises(ImageError, match="ENODATA"):
            restore_image(io.BytesIO(image), strategy)
    result = run_cli("restore", "-", input=image)
    assert result.returncode == 3 and result.stderr.count(b"\n") == 1
    # stored as data pages, the same memory is an ordinary image
    stored = image_bytes_zero(machine, "store")
    assert restore_image(io.BytesIO(stored), "bitmap").verified


@settings(max_examples=25, deadline=None)
@given(st.data(), st.sampled_from(["skip", "store"]))
def test_random_machines_restore_bit_identical(data: st.DataObject, zero_pages: str) -> None:
    machine = random_machine(data.draw, max_frames=1500)
    image = image_bytes_zero(machine, zero_pages)
    if ImageHeader.unpack(image[:PAGE_SIZE]).nr_data_pages == 0:
        return  # refused (-ENODATA): the test above
    for strategy in STRATEGIES:
        stats = restore_image(io.BytesIO(image), strategy)
        assert stats.verified, strategy
        assert stats.copies + stats.direct == machine.nr_saveable


def test_cli_zero_pages_option() -> None:
    skip = run_cli("snapshot", "--preset", "rafael-2006", "--zero-pages=skip")
    store = run_cli("snapshot", "--preset", "rafael-2006", "--zero-pages", "store")
    assert skip.returncode == 0 and store.returncode == 0
    assert len(skip.stdout) < len(store.stdout)
    proc = run_cli("restore", "-", "--json", "--strategy", "bitmap", input=skip.stdout)
    assert proc.returncode == 0 and b'"verified": true' in proc.stdout

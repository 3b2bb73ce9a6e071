"""The restore side: ``snapshot_write_next()`` feeding a strategy, the final copies, verification.

:class:`SnapshotWriteHandle` follows the handle protocol of kernel/power/snapshot.c: each call
returns the buffer the next image page must be read into; the call after that processes the
page. Header and metadata pages go into the strategy's buffer page (a real simulated frame);
data pages go wherever the strategy's ``get_buffer()`` says.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import numpy as np

from swsim.constants import PFNS_PER_META_PAGE
from swsim.errors import ImageError, MachineMismatch, RestoreNoMemory, UsageError
from swsim.image import ImageHeader, unpack_meta_page
from swsim.integrity import ImageChecks
from swsim.machine import FRAME_RESERVED, Machine
from swsim.resume import RestoreStats, ResumeContext
from swsim.strategies import STRATEGIES, Strategy
from swsim.verify import CheckedImage, auth_failures, open_checked_image

#: Pages hashed per step when verifying memory.
_VERIFY_BATCH = 2048


def check_header(header: ImageHeader, machine: Machine) -> None:
    """``check_header()`` / ``check_image_kernel()``: refuse an image of another machine."""
    if header.num_physpages != machine.frames:
        raise MachineMismatch(
            f"Image mismatch: memory size (image made on {header.num_physpages} frames, "
            f"this machine has {machine.frames})"
        )


class SnapshotWriteHandle:
    """Feed an image to a strategy one page at a time (``snapshot_write_next``)."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.ctx = strategy.ctx
        self.cur = 0  # pages already handed out
        self.header: ImageHeader | None = None
        self.pfns = np.zeros(0, dtype=np.int64)
        self.buffer = -1

    def _frame(self, pfn: int) -> np.ndarray:
        return self.ctx.memory.frame(pfn)

    def snapshot_write_next(self) -> np.ndarray | None:
        """Process the page written into the last buffer; return the next buffer (or None).

        Page 0 is the header, pages 1..nr_meta_pages the metadata, then the data pages.
        """
        done = self.cur
        self.cur += 1
        if done == 0:
            self.buffer = self.strategy.alloc_buffer()
            self._check_memory("buffer")
            return self._frame(self.buffer)
        written = done - 1
        if written == 0:
            self.load_header(bytes(self._frame(self.buffer)))
        header = self.header
        assert header is not None
        if 1 <= written <= header.nr_meta_pages:
            self.unpack_orig_pfns(written - 1)
        if done <= header.nr_meta_pages:
            return self._frame(self.buffer)
        if done == header.nr_meta_pages + 1:
            self.prepare_image()
        index = done - 1 - header.nr_meta_pages
        if index >= header.nr_data_pages:
            return None
        return self._frame(self.strategy.get_buffer(index, int(self.pfns[index])))

    def load_header(self, page: bytes) -> None:
        header = ImageHeader.unpack(page)
        if header.image_pages == 0:
            raise ImageError("corrupted image: it holds no pages")
        check_header(header, self.ctx.machine)
        self.header = header
        self.strategy.load_header(header)
        self._check_memory("load_header")

    def unpack_orig_pfns(self, meta_index: int) -> None:
        """Unpack metadata page ``meta_index`` from the buffer and check every pfn.

        The kernel refuses invalid pfns ("Memory map mismatch", -EFAULT); swsim also refuses
        pfns that do not strictly increase (duplicates) and pfns the boot kernel reserved.
        """
        assert self.header is not None
        start = meta_index * PFNS_PER_META_PAGE
        count = min(PFNS_PER_META_PAGE, self.header.image_pages - start)
        pfns = unpack_meta_page(bytes(self._frame(self.buffer)), count)
        frames = self.ctx.frames
        if count and (pfns.min() < 0 or pfns.max() >= frames):
            bad = int(pfns[(pfns < 0) | (pfns >= frames)][0])
            raise ImageError(f"corrupted image: Memory map mismatch (pfn {bad} beyond {frames})")
        prev = self.pfns[-1:] if len(self.pfns) else np.zeros(0, dtype=np.int64)
        joined = np.concatenate([prev, pfns])
        if len(joined) > 1 and not (np.diff(joined) > 0).all():
            raise ImageError("corrupted image: metadata pfns are not strictly increasing")
        reserved = self.ctx.boot_state[pfns] == FRAME_RESERVED
        if reserved.any():
            raise MachineMismatch(
                f"Memory map mismatch: image pfn {int(pfns[reserved][0])} is reserved "
                "on this machine at boot"
            )
        self.pfns = np.concatenate([self.pfns, pfns])

    def prepare_image(self) -> None:
        self.ctx.poison_boot_frames(self.pfns)
        self.strategy.prepare_image(self.pfns)
        self._check_memory("prepare_image")

    def _check_memory(self, phase: str) -> None:
        missing = self.ctx.stats.missing
        if missing:
            raise RestoreNoMemory(self.strategy.name, missing, phase)


def verify_memory(ctx: ResumeContext, pfns: np.ndarray, data_digest: bytes) -> bool:
    """Does every image pfn hold exactly its page? Hash the frames in image order."""
    digest = hashlib.sha256()
    pages = ctx.memory.pages
    for start in range(0, len(pfns), _VERIFY_BATCH):
        digest.update(pages[pfns[start : start + _VERIFY_BATCH]])
    return digest.digest() == data_digest


def restore_image(
    stream: BinaryIO,
    strategy: str = "safe-list",
    machine: Machine | None = None,
    allocator: str = "ascending",
    seed: int = 0,
    key: bytes | None = None,
    checks: ImageChecks | None = None,
) -> RestoreStats:
    """Restore the image read from ``stream`` (raw or zstd) and return what it cost.

    ``machine`` gives the boot-time state to restore on; by default the machine the image was
    made on (recorded in its header). With ``key`` the image must be signed with it (HMAC);
    every image error is then an :class:`~swsim.errors.AuthError`. Every check (block CRCs,
    digest, MAC) passes before the final copies. ``checks``, if given, is filled with what was
    checked. Raises :class:`swsim.errors.SwsimError` subclasses.
    """
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})")
    with auth_failures(key):
        return _restore(stream, strategy, machine, allocator, seed, key, checks)


def _restore(
    stream: BinaryIO,
    strategy: str,
    machine: Machine | None,
    allocator: str,
    seed: int,
    key: bytes | None,
    checks: ImageChecks | None,
) -> RestoreStats:
    image = open_checked_image(stream, key, checks)
    try:
        return _restore_checked(image, strategy, machine, allocator, seed)
    except (MachineMismatch, RestoreNoMemory):
        if key is not None:
            image.authenticate_rest()  # forged metadata is an authentication failure
        raise


def _restore_checked(
    image: CheckedImage,
    strategy: str,
    machine: Machine | None,
    allocator: str,
    seed: int,
) -> RestoreStats:
    header = image.header
    target = header.machine if machine is None else header.machine.with_boot_of(machine)
    if machine is not None:
        check_header(header, machine)
    stats = RestoreStats(
        strategy=strategy,
        allocator=allocator,
        image_pages=header.image_pages,
        meta_pages=header.nr_meta_pages,
        data_pages=header.nr_data_pages,
    )
    ctx = ResumeContext(target, stats, allocator, seed)
    handle = SnapshotWriteHandle(STRATEGIES[strategy](ctx))
    first = handle.snapshot_write_next()
    assert first is not None
    first[:] = np.frombuffer(image.header_page, dtype=np.uint8)
    for page in image.iter_meta_pages():
        buf = handle.snapshot_write_next()
        assert buf is not None
        buf[:] = np.frombuffer(page, dtype=np.uint8)
    data_digest = hashlib.sha256()
    for batch in image.iter_data():
        data_digest.update(batch.reshape(-1).data)
        for page in batch:
            buf = handle.snapshot_write_next()
            assert buf is not None
            buf[:] = page
    if handle.snapshot_write_next() is not None:
        raise AssertionError("handle wants more pages than the image holds")
    # Everything is checked before the final copies: a bad image never reaches copy_pages.
    image.finish(lambda index: int(handle.pfns[index]))
    orig, address = handle.strategy.restore_pblist()
    ctx.memory.copy_pages(orig, address)
    stats.copies = len(orig)
    stats.verified = verify_memory(ctx, handle.pfns, data_digest.digest())
    return stats

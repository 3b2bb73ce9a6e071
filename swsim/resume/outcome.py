"""What a restore did with each page frame: one :class:`FrameOutcome` per frame (``swsim map``).

The strategies already know where every image page went: ``get_buffer()`` gives a page its own
frame (loaded directly) or a safe page, which it links into the restore list (``pbe->address``;
``--trace`` prints the same as ``direct``/``safe``). After a restore the strategy's restore list
says it all: an image pfn whose pbe has an address was copied, that address was a safe page,
every other image pfn was loaded directly. ``eat`` also says which frames it ate. The boot
state says which frames the boot kernel used or reserved; the boot context, every frame handed
out. This module turns that into one byte per frame, so nothing re-derives it.

A frame has one outcome, the first that applies, in this order: image page loaded directly,
eaten, image page copied, safe page used, other allocation (the strategy's buffer, page
directories, bitmaps, pbe pages, preallocated pages left unused), boot kernel, reserved, free.
``eat`` eats free image frames and later copies their pages into them: those show as eaten.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from swsim.kernel.types import StateArray
from swsim.resume.restore import RestoreRun


class FrameOutcome(IntEnum):
    """What happened to a frame during a restore (the values are the bytes of the array)."""

    FREE = 0
    RESERVED = 1
    BOOT_KERNEL = 2
    ALLOCATED = 3
    SAFE = 4
    COPIED = 5
    EATEN = 6
    DIRECT = 7

    @property
    def label(self) -> str:
        """The words a legend uses."""
        return OUTCOME_LABELS[self]


OUTCOME_LABELS: dict[FrameOutcome, str] = {
    FrameOutcome.DIRECT: "image page loaded directly",
    FrameOutcome.EATEN: "eaten (image frame, copied into at the end)",
    FrameOutcome.COPIED: "image page copied at the end",
    FrameOutcome.SAFE: "safe page used (copied from)",
    FrameOutcome.ALLOCATED: "other allocation (buffer, directories, bitmaps, pbes)",
    FrameOutcome.BOOT_KERNEL: "boot kernel",
    FrameOutcome.RESERVED: "reserved",
    FrameOutcome.FREE: "free",
}


def frame_outcomes(run: RestoreRun) -> StateArray:
    """One :class:`FrameOutcome` per frame of the restoring machine, for a finished restore
    (``run.strategy`` set, as :func:`swsim.resume.restore.restore_each` leaves it)."""
    strategy = run.strategy
    if strategy is None:
        raise ValueError("the restore does not carry its strategy")
    ctx = run.ctx
    frames = ctx.frames
    out: StateArray = np.full(frames, FrameOutcome.FREE, dtype=np.uint8)
    for start, end in ctx.machine.boot_reserved:
        out[start:end] = FrameOutcome.RESERVED
    for start, end in ctx.machine.boot_used:
        out[start:end] = FrameOutcome.BOOT_KERNEL

    def mark(pfns: np.ndarray, outcome: FrameOutcome) -> None:
        out[pfns[pfns < frames]] = outcome  # phantom frames (ENOMEM) lie above memory

    mark(ctx.allocated_pfns(), FrameOutcome.ALLOCATED)
    orig, address = strategy.restore_pblist()
    mark(address, FrameOutcome.SAFE)
    mark(orig, FrameOutcome.COPIED)
    mark(strategy.frames_eaten(), FrameOutcome.EATEN)
    copied = np.zeros(frames, dtype=bool)
    copied[orig] = True
    pfns = run.pfns
    mark(pfns[~copied[pfns]], FrameOutcome.DIRECT)
    return out


def outcome_counts(outcomes: StateArray) -> dict[FrameOutcome, int]:
    """Frames per outcome, every outcome listed (in legend order: direct first)."""
    counts = np.bincount(outcomes, minlength=len(FrameOutcome))
    return {outcome: int(counts[outcome]) for outcome in sorted(FrameOutcome, reverse=True)}

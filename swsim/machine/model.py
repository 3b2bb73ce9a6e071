"""The simulated machine: page frames at suspend time and at resume (boot) time.

At suspend each frame is *saveable* (it goes into the image), *nosave* (never saved: firmware
holes, the kernel's ``__nosave`` region) or free. At resume each frame is *used* by the boot
kernel, *reserved*, or free (the page allocator may hand it out). pfn ranges are half-open.
A machine is written as a machine file by :meth:`Machine.to_json` and read back, strictly, by
:func:`swsim.machine.file.load_machine` / :func:`~swsim.machine.file.parse_machine` (JSON,
``swsim-machine/1``, docs/machine-format.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from swsim.errors import InvalidValue, MachineError
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.frame_bits import FrameBits
from swsim.kernel.types import PfnArray, StateArray
from swsim.machine.classes import SuspendClasses, merge_ranges
from swsim.machine.ranges import (
    Ranges,
    check_disjoint,
    parse_ranges,
    ranges_len,
    ranges_pfns,
)

MACHINE_FORMAT = "swsim-machine/1"
#: Version 2 adds the suspend-time memory classes (:mod:`swsim.machine.classes`).
MACHINE_FORMAT_V2 = "swsim-machine/2"
#: The largest machine swsim simulates: 2^28 frames of 4 KiB, 1 TiB. Per-frame state is
#: allocated from ``frames``, so a machine file or an image header is trusted up to this.
MAX_FRAMES = 1 << 28
#: Page contents are drawn from a 64-bit seed.
CONTENT_SEED_MAX = 2**64 - 1

#: Boot-time frame states, as stored in :meth:`Machine.boot_state`.
FRAME_FREE = 0
FRAME_USED = 1
FRAME_RESERVED = 2


@dataclass(frozen=True)
class ContentSpec:
    """How synthetic page contents are drawn: fractions of all-zero and text-like pages.

    The rest are random (incompressible) pages. Contents depend only on (seed, pfn).
    """

    seed: int = 2006
    zero: float = 0.25
    text: float = 0.45

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not 0 <= self.seed <= CONTENT_SEED_MAX:
            raise InvalidValue("seed", f"must be an integer from 0 to {CONTENT_SEED_MAX}")
        if not (0.0 <= self.zero <= 1.0 and 0.0 <= self.text <= 1.0 and self.zero + self.text <= 1):
            raise MachineError("zero and text fractions must lie in [0, 1] and sum to at most 1")


@dataclass(frozen=True)
class Machine:
    """N page frames and their suspend-time and boot-time states."""

    frames: int
    saveable: Ranges
    nosave: Ranges = ()
    boot_used: Ranges = ()
    boot_reserved: Ranges = ()
    content: ContentSpec = field(default_factory=ContentSpec)
    name: str = "custom"
    page_size: int = PAGE_SIZE
    #: suspend-time memory classes (machine file version 2); None: every saveable page is
    #: kernel memory that nothing can free (version 1)
    classes: SuspendClasses | None = None

    def __post_init__(self) -> None:
        if self.page_size != PAGE_SIZE:
            raise MachineError(f"page_size {self.page_size} is not supported (only {PAGE_SIZE})")
        if not 0 < self.frames <= MAX_FRAMES:
            raise MachineError(
                f"frames must be a number of page frames from 1 to {MAX_FRAMES} (1 TiB)"
            )
        for where, rs in (
            ("suspend.nosave", self.nosave),
            ("boot.used", self.boot_used),
            ("boot.reserved", self.boot_reserved),
        ):
            parse_ranges([list(r) for r in rs], where, self.frames)
        if self.classes is not None:  # first, so that a fault names the class (version 2)
            self._check_classes(self.classes)
        parse_ranges([list(r) for r in self.saveable], "suspend.saveable", self.frames)
        check_disjoint({"saveable": self.saveable, "nosave": self.nosave}, "suspend")
        check_disjoint({"used": self.boot_used, "reserved": self.boot_reserved}, "boot")

    def _check_classes(self, classes: SuspendClasses) -> None:
        for name, rs in classes.by_name().items():
            parse_ranges([list(r) for r in rs], f"suspend.{name}", self.frames)
        check_disjoint({**classes.by_name(), "nosave": self.nosave}, "suspend")
        if classes.saveable() != merge_ranges(list(self.saveable)):
            raise MachineError("suspend: the classes do not cover exactly the saveable frames")
        if classes.swap_pages < 0 or classes.reserve_pages < 0:
            raise MachineError("suspend: swap_pages and reserve_pages must not be negative")

    # -- derived views -------------------------------------------------------------------
    @property
    def nr_saveable(self) -> int:
        """Frames saved in the image."""
        return ranges_len(self.saveable)

    @property
    def suspend_classes(self) -> SuspendClasses:
        """The classes of the saveable frames (version 1 machines: all kernel, no swap)."""
        return self.classes or SuspendClasses(kernel=self.saveable)

    @property
    def nr_suspend_free(self) -> int:
        """Frames free at suspend: neither saveable nor nosave."""
        return self.frames - self.nr_saveable - ranges_len(self.nosave)

    def saveable_pfns(self) -> PfnArray:
        """The pfns the suspend side saves, increasing (the order it walks the zones)."""
        return ranges_pfns(self.saveable)

    def boot_state(self) -> StateArray:
        """One byte per frame: FRAME_FREE, FRAME_USED or FRAME_RESERVED at resume (a view for
        tests and maps: a restore asks :meth:`boot_state_of` and :meth:`boot_free_bits`)."""
        state = np.zeros(self.frames, dtype=np.uint8)
        for kind, ranges in ((FRAME_USED, self.boot_used), (FRAME_RESERVED, self.boot_reserved)):
            for start, end in ranges:  # no mask as large as memory
                state[start:end] = kind
        return state

    def boot_state_of(self, pfns: PfnArray) -> StateArray:
        """The boot state of each of ``pfns`` (as :meth:`boot_state` holds it), looked up in
        the boot ranges: no array as large as memory."""
        bounds, states = self._boot_steps
        found: StateArray = states[np.searchsorted(bounds, pfns, side="right")]
        return found

    def first_reserved(self, pfns: PfnArray) -> int:
        """The first of increasing ``pfns`` that is reserved at boot, or -1: a bisection per
        reserved range, not a lookup per pfn."""
        found = -1
        for start, end in self.boot_reserved:
            at = int(np.searchsorted(pfns, start))
            if at < len(pfns) and pfns[at] < end and (found < 0 or pfns[at] < found):
                found = int(pfns[at])
        return found

    @cached_property
    def _boot_steps(self) -> tuple[PfnArray, StateArray]:
        """The boot state as a step function: ``states[i]`` holds from ``bounds[i - 1]`` up
        to ``bounds[i]`` (free before the first bound and from the last)."""
        tagged = [(start, end, FRAME_USED) for start, end in self.boot_used]
        tagged += [(start, end, FRAME_RESERVED) for start, end in self.boot_reserved]
        starts = np.array([t[0] for t in tagged], dtype=np.int64)
        # sorted in Python: np.unique would import numpy.ma (15 ms of every restore's start)
        bounds = np.array(sorted({bound for t in tagged for bound in t[:2]}), dtype=np.int64)
        states = np.zeros(len(bounds) + 1, dtype=np.uint8)
        # the ranges are disjoint: a bound that ends one range and starts another takes the
        # state of the one it starts
        states[np.searchsorted(bounds, starts) + 1] = [t[2] for t in tagged]
        return bounds, states

    def boot_free_bits(self) -> FrameBits:
        """A bit per frame, set where the frame is free at resume (``boot_state() ==
        FRAME_FREE``), built from the ranges: 32 MiB for a 1 TiB machine."""
        bits = FrameBits(self.frames)
        bits[0 : self.frames] = True
        for start, end in (*self.boot_used, *self.boot_reserved):
            bits[start:end] = False
        return bits

    @property
    def nr_boot_free(self) -> int:
        """Frames free at resume (neither used by the boot kernel nor reserved)."""
        return self.frames - ranges_len(self.boot_used) - ranges_len(self.boot_reserved)

    def identity(self) -> bytes:
        """16 bytes naming the suspend-time machine: frames, page size and its memory map."""
        key = json.dumps(
            [self.frames, self.page_size, self.saveable, self.nosave], separators=(",", ":")
        )
        return hashlib.sha256(key.encode()).digest()[:16]

    def with_boot_of(self, other: Machine) -> Machine:
        """This machine's suspend state with ``other``'s boot state (``restore --machine``)."""
        return replace(self, boot_used=other.boot_used, boot_reserved=other.boot_reserved)

    # -- the machine file (read by swsim/machine/file.py) ----------------------------------
    def to_json(self) -> dict[str, Any]:
        """The machine file as a JSON object: the keys the schema in :mod:`swsim.machine.file`
        declares, every one written; ``swsim-machine/2`` (the classes instead of
        ``saveable``) when the machine has classes, else ``swsim-machine/1``."""

        def rl(rs: Ranges) -> list[list[int]]:
            return [[s, e] for s, e in rs]

        suspend: dict[str, Any] = {"saveable": rl(self.saveable), "nosave": rl(self.nosave)}
        if self.classes is not None:
            suspend = {"nosave": rl(self.nosave)}
            suspend.update({name: rl(rs) for name, rs in self.classes.by_name().items()})
            suspend["swap_pages"] = self.classes.swap_pages
            suspend["reserve_pages"] = self.classes.reserve_pages
        return {
            "format": MACHINE_FORMAT if self.classes is None else MACHINE_FORMAT_V2,
            "name": self.name,
            "page_size": self.page_size,
            "frames": self.frames,
            "suspend": suspend,
            "boot": {"used": rl(self.boot_used), "reserved": rl(self.boot_reserved)},
            "content": {
                "seed": self.content.seed,
                "zero": self.content.zero,
                "text": self.content.text,
            },
        }

    def dumps(self) -> str:
        """The machine file as compact JSON text."""
        return json.dumps(self.to_json(), separators=(",", ":"))

"""The simulated machine: page frames at suspend time and at resume (boot) time.

At suspend each frame is *saveable* (it goes into the image), *nosave* (never saved: firmware
holes, the kernel's ``__nosave`` region) or free. At resume each frame is *used* by the boot
kernel, *reserved*, or free (the page allocator may hand it out). Machine files are JSON,
schema ``swsim-machine/1`` (see docs/machine-format.md); pfn ranges are half-open.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from swsim.errors import MachineError
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PfnArray, StateArray
from swsim.machine.ranges import (
    Ranges,
    check_disjoint,
    parse_ranges,
    ranges_len,
    ranges_pfns,
)

MACHINE_FORMAT = "swsim-machine/1"

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
        if not (0.0 <= self.zero <= 1.0 and 0.0 <= self.text <= 1.0 and self.zero + self.text <= 1):
            raise MachineError(
                "content: zero and text fractions must lie in [0, 1] and sum to at most 1"
            )


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

    def __post_init__(self) -> None:
        if self.page_size != PAGE_SIZE:
            raise MachineError(f"page_size {self.page_size} is not supported (only {PAGE_SIZE})")
        if self.frames <= 0:
            raise MachineError("frames must be a positive number of page frames")
        for where, rs in (
            ("suspend.saveable", self.saveable),
            ("suspend.nosave", self.nosave),
            ("boot.used", self.boot_used),
            ("boot.reserved", self.boot_reserved),
        ):
            parse_ranges([list(r) for r in rs], where, self.frames)
        check_disjoint({"saveable": self.saveable, "nosave": self.nosave}, "suspend")
        check_disjoint({"used": self.boot_used, "reserved": self.boot_reserved}, "boot")

    # -- derived views -------------------------------------------------------------------
    @property
    def nr_saveable(self) -> int:
        """Frames saved in the image."""
        return ranges_len(self.saveable)

    def saveable_pfns(self) -> PfnArray:
        """The pfns the suspend side saves, increasing (the order it walks the zones)."""
        return ranges_pfns(self.saveable)

    def boot_state(self) -> StateArray:
        """One byte per frame: FRAME_FREE, FRAME_USED or FRAME_RESERVED at resume."""
        state = np.zeros(self.frames, dtype=np.uint8)
        for kind, ranges in ((FRAME_USED, self.boot_used), (FRAME_RESERVED, self.boot_reserved)):
            for start, end in ranges:  # no mask as large as memory
                state[start:end] = kind
        return state

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

    # -- JSON ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The machine file (``swsim-machine/1``) as a JSON object."""
        def rl(rs: Ranges) -> list[list[int]]:
            return [[s, e] for s, e in rs]

        return {
            "format": MACHINE_FORMAT,
            "name": self.name,
            "page_size": self.page_size,
            "frames": self.frames,
            "suspend": {"saveable": rl(self.saveable), "nosave": rl(self.nosave)},
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

    @classmethod
    def from_json(cls, data: object, where: str = "machine") -> Machine:
        """A machine from a parsed machine file; every problem is a :class:`MachineError`
        naming ``where``."""
        if not isinstance(data, dict):
            raise MachineError(f"{where}: expected a JSON object")
        if data.get("format") != MACHINE_FORMAT:
            raise MachineError(f"{where}: \"format\" must be \"{MACHINE_FORMAT}\"")
        frames = data.get("frames")
        if not isinstance(frames, int) or isinstance(frames, bool) or frames <= 0:
            raise MachineError(f"{where}: \"frames\" must be a positive integer")
        page_size = data.get("page_size", PAGE_SIZE)
        if page_size != PAGE_SIZE:
            raise MachineError(f"{where}: page_size {page_size!r} is not supported (only 4096)")
        suspend = data.get("suspend")
        boot = data.get("boot", {})
        if not isinstance(suspend, dict) or not isinstance(boot, dict):
            raise MachineError(f"{where}: \"suspend\" and \"boot\" must be JSON objects")
        content = data.get("content", {})
        if not isinstance(content, dict):
            raise MachineError(f"{where}: \"content\" must be a JSON object")
        try:
            spec = ContentSpec(
                seed=int(content.get("seed", ContentSpec.seed)),
                zero=float(content.get("zero", ContentSpec.zero)),
                text=float(content.get("text", ContentSpec.text)),
            )
        except (TypeError, ValueError) as exc:
            raise MachineError(f"{where}: content: {exc}") from None
        name = data.get("name", "custom")

        def ranges(state: dict[str, Any], group: str, key: str) -> Ranges:
            return parse_ranges(state.get(key, []), f"{where}: {group}.{key}", frames)

        return cls(
            frames=frames,
            saveable=ranges(suspend, "suspend", "saveable"),
            nosave=ranges(suspend, "suspend", "nosave"),
            boot_used=ranges(boot, "boot", "used"),
            boot_reserved=ranges(boot, "boot", "reserved"),
            content=spec,
            name=str(name),
        )

    @classmethod
    def loads(cls, text: str | bytes, where: str = "machine") -> Machine:
        """A machine from machine-file text."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MachineError(f"{where}: not valid JSON ({exc})") from None
        return cls.from_json(data, where)

    @classmethod
    def load(cls, path: str | Path) -> Machine:
        """A machine from the machine file at ``path``."""
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise MachineError(f"cannot read machine file {path}: {exc.strerror}") from None
        return cls.loads(text, where=str(path))

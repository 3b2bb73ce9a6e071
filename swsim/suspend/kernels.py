"""The suspend models by kernel (``snapshot --kernel``), ``image_size``, and :func:`suspend`.

``SUSPEND_KERNELS`` names each model: ``none`` (no suspend-side model: every saveable page is
saved, as swsim did before it modelled the suspend side), ``2.6.17`` (the seed's kernel,
:mod:`swsim.suspend.swsusp`), ``6.1`` and ``6.12`` (:mod:`swsim.suspend.preallocate`; 6.12
saves zero pages as flagged pfns, 6.1 copies them), ``tuxonice`` (:mod:`swsim.suspend.tuxonice`).
:func:`suspend` runs one on a machine and returns its report and the :class:`Snapshot` the
image writer takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from swsim.errors import InvalidValue, SuspendNoMemory, choose
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.model import Machine
from swsim.machine.ranges import ranges_pfns
from swsim.suspend.memory import SuspendMemory
from swsim.suspend.preallocate import suspend_6x
from swsim.suspend.report import SuspendReport
from swsim.suspend.snapshot import Snapshot, take_snapshot
from swsim.suspend.swsusp import suspend_2_6_17
from swsim.suspend.tuxonice import suspend_tuxonice

#: How each kernel saves all-zero pages: flagged pfns (``skip``, v6.3+) or data (``store``).
KERNEL_ZERO_PAGES = {"2.6.17": "store", "6.1": "store", "6.12": "skip", "tuxonice": "store"}
#: Every ``--kernel`` value, ``none`` first.
SUSPEND_KERNELS = ("none", *KERNEL_ZERO_PAGES)

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class ImageSize:
    """An ``image_size`` as given: pages, bytes or a percentage of RAM."""

    value: float
    unit: str  # "pages", "bytes" or "percent"

    def to_bytes(self, totalram_pages: int) -> int:
        """The size in bytes, as /sys/power/image_size holds it."""
        if self.unit == "pages":
            return int(self.value) * PAGE_SIZE
        if self.unit == "percent":
            return int(totalram_pages * self.value / 100) * PAGE_SIZE
        return int(self.value)


def parse_image_size(text: str) -> ImageSize:
    """``N`` pages, ``N`` with a unit (``B``, ``K``/``KiB``, ``M``/``MiB``, ``G``/``GiB``, powers
    of 1024) or ``N%`` of RAM (0 to 100)."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidValue(
            "image_size", f"{text!r} is not a number of pages, a size (500M) or a percentage "
            "(40%)"
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        if number > 100:
            raise InvalidValue("image_size", f"{text!r} is more than 100% of RAM")
        return ImageSize(number, "percent")
    if unit not in _UNITS:
        raise InvalidValue("image_size", f"{text!r} has an unknown unit {match.group(2)!r}")
    if unit == "" and "." not in match.group(1):
        return ImageSize(number, "pages")
    if unit == "" or number * _UNITS[unit] >= 1 << 63:
        raise InvalidValue("image_size", f"{text!r} is not a whole number of pages or bytes")
    return ImageSize(number * _UNITS[unit], "bytes")


@dataclass
class SuspendResult:
    """A suspend: its report and the snapshot it made (None when it failed)."""

    report: SuspendReport
    snapshot: Snapshot | None
    #: TuxOnIce: the snapshot of pageset 1 alone (what the atomic restore loads)
    pageset1: Snapshot | None = None


def suspend(
    machine: Machine,
    kernel: str = "none",
    image_size: ImageSize | None = None,
    zero_pages: str = "skip",
) -> SuspendResult:
    """Suspend ``machine`` with ``kernel``'s model; ``zero_pages`` applies to ``none`` only.

    The report says whether the atomic copy fits; :func:`suspend_or_fail` raises when not.
    """
    choose("kernel", kernel, dict.fromkeys(SUSPEND_KERNELS), SUSPEND_KERNELS)
    mem = SuspendMemory(machine)
    totalram = mem.saveable() + mem.free
    size = None if image_size is None else image_size.to_bytes(totalram)
    if kernel == "none":
        snapshot = take_snapshot(machine, zero_pages)
        report = SuspendReport("none", saveable_before=mem.saveable(), free_before=mem.free)
        report.close(mem)
        report.image_pages = report.copied = len(snapshot.pfns)
        report.zero_pages = snapshot.nr_zero_pages
        return SuspendResult(report, snapshot)
    made: dict[str, Snapshot] = {}

    def zero_pages_of(after: Machine) -> int:
        made["snapshot"] = take_snapshot(after, "skip", kernel)
        return made["snapshot"].nr_zero_pages

    run: dict[str, Callable[[], SuspendReport]] = {
        "2.6.17": lambda: suspend_2_6_17(mem, size),
        "6.1": lambda: suspend_6x(mem, size, "6.1", None),
        "6.12": lambda: suspend_6x(mem, size, "6.12", zero_pages_of),
        "tuxonice": lambda: suspend_tuxonice(mem, size),
    }
    report = run[kernel]()
    if not report.fits:
        return SuspendResult(report, None)
    after = mem.machine_after()
    if after.nr_saveable == 0:  # the kernel would refuse to resume it (snapshot_image_loaded())
        report.fail("nothing left to save: every saveable page was freed (an empty image)")
        return SuspendResult(report, None)
    snapshot = made.get("snapshot") or take_snapshot(after, KERNEL_ZERO_PAGES[kernel], kernel)
    pageset1 = None
    if kernel == "tuxonice":  # pageset 1: the kernel class (TuxOnIce stores zero pages)
        pfns = ranges_pfns(after.suspend_classes.kernel)
        pageset1 = Snapshot(after, pfns, np.zeros(len(pfns), dtype=bool), kernel)
    return SuspendResult(report, snapshot, pageset1)


def suspend_or_fail(
    machine: Machine,
    kernel: str = "none",
    image_size: ImageSize | None = None,
    zero_pages: str = "skip",
) -> tuple[SuspendReport, Snapshot]:
    """:func:`suspend`'s report and snapshot, raising :class:`SuspendNoMemory` when the copy
    does not fit."""
    result = suspend(machine, kernel, image_size, zero_pages)
    if result.snapshot is None:
        raise SuspendNoMemory(kernel, result.report.error or "out of memory", result.report)
    return result.report, result.snapshot

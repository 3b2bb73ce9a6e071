"""The whole round trip (``swsim cycle``): suspend with each kernel, resume with each strategy.

For each suspend model (:mod:`swsim.suspend.kernels`) the machine is suspended; when the atomic
copy fits, its image (header and metadata only: counts need no data) is restored with every
strategy in one pass (:func:`swsim.runs.compare.compare`). TuxOnIce's image is resumed as
TuxOnIce resumes it: the strategies restore pageset 1 (the atomically copied part), and the
resumed kernel then reads pageset 2 straight back into its frames (``read_after``, no copy).
Each row says whether that (suspend kernel, resume strategy) pair takes the machine through
hibernation and back, and at what cost.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swsim.image.source import open_image
from swsim.image.writer import WriteOptions, write_snapshot
from swsim.machine.model import Machine
from swsim.resume.restore import RestoreOptions
from swsim.resume.stats import RestoreStats
from swsim.resume.strategies import STRATEGIES
from swsim.runs.compare import compare
from swsim.suspend.kernels import SUSPEND_KERNELS, ImageSize, suspend
from swsim.suspend.report import SuspendReport


@dataclass
class CycleRow:
    """One (suspend kernel, resume strategy) pair; ``strategy`` None when the suspend failed."""

    kernel: str
    suspend: SuspendReport
    strategy: str | None = None
    resume: RestoreStats | None = None
    #: TuxOnIce: pageset 2 pages the resumed kernel reads back into place (no copy)
    read_after: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Did the machine get through hibernation and back?"""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """The row as JSON: kernel, strategy, ok, error, the suspend and resume counts."""
        return {
            "kernel": self.kernel,
            "strategy": self.strategy,
            "ok": self.ok,
            "error": self.error,
            "read_after": self.read_after,
            "suspend": self.suspend.to_json(),
            "resume": None if self.resume is None else self.resume.to_json(),
        }


def cycle(
    machine: Machine,
    kernels: Sequence[str] = (),
    strategies: Sequence[str] = (),
    image_size: ImageSize | None = None,
    options: RestoreOptions | None = None,
) -> list[CycleRow]:
    """Suspend ``machine`` with each of ``kernels`` (default: all, ``none`` first) and
    resume each image with each of ``strategies`` (default: all)."""
    rows: list[CycleRow] = []
    for kernel in kernels or SUSPEND_KERNELS:
        result = suspend(machine, kernel, image_size)
        if result.snapshot is None:
            rows.append(CycleRow(kernel, result.report, error=f"suspend: {result.report.error}"))
            continue
        atomic = result.pageset1 if result.pageset1 is not None else result.snapshot
        read_after = len(result.snapshot.pfns) - len(atomic.pfns)
        if len(atomic.pfns) == 0:  # TuxOnIce with no pageset 1: nothing to restore atomically
            names = list(dict.fromkeys(strategies or STRATEGIES))
            rows += [CycleRow(kernel, result.report, name, None, read_after) for name in names]
            continue
        image = io.BytesIO()
        write_snapshot(atomic, image, WriteOptions(no_data=True))
        image.seek(0)
        for row in compare(open_image(image), options, strategies):
            error = None if row.error is None else f"resume: {row.error}"
            rows.append(
                CycleRow(kernel, result.report, row.strategy, row.stats, read_after, error)
            )
    return rows

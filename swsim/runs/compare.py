"""``swsim compare``: one image restored once per strategy, side by side.

The input is read once into memory, so it can come from a pipe; every strategy restores the
same bytes on a fresh boot-time machine. ``claim`` gives the lower bound on copies; each row
carries its excess over it. A strategy that runs out of memory is a row with its error, not
the end of the comparison; an image that is bad is an error for all, raised as such.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from swsim.errors import RestoreNoMemory, UsageError
from swsim.machine.model import Machine
from swsim.resume.restore import restore_image
from swsim.resume.context import RestoreStats
from swsim.resume.strategies import STRATEGIES

#: The strategy whose copies are the lower bound.
BOUND_STRATEGY = "claim"


@dataclass
class CompareRow:
    strategy: str
    stats: RestoreStats | None
    #: copies beyond claim's (None when either restore failed)
    excess_copies: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"strategy": self.strategy}
        if self.stats is not None:
            data.update(self.stats.to_json())
        data["excess_copies"] = self.excess_copies
        data["error"] = self.error
        return data


def _restore_one(
    image: bytes,
    strategy: str,
    machine: Machine | None,
    allocator: str | None,
    seed: int,
    key: bytes | None,
    page_by_page: bool,
    no_data: bool,
) -> CompareRow:
    try:
        stats = restore_image(
            io.BytesIO(image), strategy, machine, allocator, seed, key,
            page_by_page=page_by_page, no_data=no_data,
        )
    except RestoreNoMemory as exc:
        return CompareRow(strategy, None, error=f"ENOMEM: {exc.missing} page(s) missing")
    return CompareRow(strategy, stats)


def compare_image(
    image: bytes,
    strategies: list[str] | None = None,
    machine: Machine | None = None,
    allocator: str | None = None,
    seed: int = 0,
    key: bytes | None = None,
    page_by_page: bool = False,
    no_data: bool = False,
) -> list[CompareRow]:
    """Restore ``image`` with each strategy (all by default, in registry order)."""
    names = list(strategies) if strategies else list(STRATEGIES)
    for name in names:
        if name not in STRATEGIES:
            raise UsageError(f"unknown strategy {name!r} (choose from: {', '.join(STRATEGIES)})")
    names = list(dict.fromkeys(names))
    mode = (key, page_by_page, no_data)
    rows = [_restore_one(image, name, machine, allocator, seed, *mode) for name in names]
    bound = next((r for r in rows if r.strategy == BOUND_STRATEGY), None)
    if bound is None:
        bound = _restore_one(image, BOUND_STRATEGY, machine, allocator, seed, *mode)
    if bound.stats is not None:
        for row in rows:
            if row.stats is not None:
                row.excess_copies = row.stats.copies - bound.stats.copies
    return rows

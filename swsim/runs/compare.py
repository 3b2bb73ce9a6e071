"""Every strategy on one image, side by side (``swsim compare``).

The image is read once (so it can come from a pipe, and it is never held in memory whole):
:func:`swsim.resume.restore.iter_restores` feeds each page to every strategy, each on a fresh
boot-time machine. ``claim`` gives the lower bound on copies; each row carries its excess over
it. A strategy that runs out of memory is a row with its error, not the end of the comparison;
an image that is bad is an error for all, raised as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from swsim.errors import RestoreNoMemory, choose
from swsim.image.source import ImageSource
from swsim.resume.readers import READERS
from swsim.resume.restore import RestoreOptions, iter_restores
from swsim.resume.stats import RestoreStats
from swsim.resume.strategies import STRATEGIES

#: The strategy whose copies are the lower bound.
BOUND_STRATEGY = "claim"


@dataclass
class CompareRow:
    """One strategy's counts; on ENOMEM, ``error`` says so and ``stats`` are the counts when it
    ran out (``missing`` filled), None only where nothing was counted."""

    strategy: str
    stats: RestoreStats | None
    #: copies beyond claim's (None when either restore failed)
    excess_copies: int | None = None
    error: str | None = None
    #: on ENOMEM: the frames the machine lacked (the error's count)
    missing: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object: the strategy, its counts, its excess copies, its error.

        Every row has every key, whatever happened (null where there is no value)."""
        data: dict[str, Any] = {f.name: None for f in fields(RestoreStats)}
        if self.stats is not None:
            data.update(self.stats.to_json())
        data["strategy"] = self.strategy
        data["excess_copies"] = self.excess_copies
        data["error"] = self.error
        return data


def default_strategies(reader: str | None) -> list[str]:
    """Every strategy, or with ``reader`` those whose kernel's swap.c has it (2.6.17 has no
    compressed reader)."""
    if reader is None:
        return list(STRATEGIES)
    kernels = choose("reader", reader, READERS).kernels
    return [name for name, cls in STRATEGIES.items() if cls.swap_kernel in kernels]


def compare(
    source: ImageSource,
    options: RestoreOptions | None = None,
    strategies: Sequence[str] = (),
) -> list[CompareRow]:
    """Restore the image of ``source`` with each of ``strategies`` (by default those
    :func:`default_strategies` gives, in registry order), in one pass; ``options.strategy`` is
    not used. ``claim`` runs as well when it is not asked for, to measure the excess copies
    against."""
    options = options if options is not None else RestoreOptions()
    names = list(dict.fromkeys(strategies or default_strategies(options.reader)))
    run = names if BOUND_STRATEGY in names else [*names, BOUND_STRATEGY]
    results: dict[str, RestoreStats | RestoreNoMemory] = {}
    for name, done in zip(run, iter_restores(source, options, run), strict=True):
        results[name] = done if isinstance(done, RestoreNoMemory) else done.stats
        del done  # only the counts are kept: a restore's memory goes before the next finishes
    rows = []
    for name in names:
        result = results[name]
        if isinstance(result, RestoreNoMemory):
            error = (str(result) if result.phase == "replay"
                     else f"ENOMEM: {result.missing} page(s) missing")
            rows.append(CompareRow(name, result.stats, error=error, missing=result.missing))
        else:
            rows.append(CompareRow(name, result))
    bound = results[BOUND_STRATEGY]
    if not isinstance(bound, RestoreNoMemory):
        for row in rows:
            if row.stats is not None and row.error is None:
                row.excess_copies = row.stats.copies - bound.copies
    return rows

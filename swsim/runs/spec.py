"""Sweep spec files: a grid in TOML (schema ``swsim-sweep/1``, docs/sweep.md).

::

    format = "swsim-sweep/1"          # optional
    strategy = "all"                  # or ["eat", "safe-list"]
    [grid]
    frames = ["256Mi", "1Gi", "4Gi"]
    saved_fraction = "0.2:0.9:0.05"   # start:stop:step, both ends included
    allocator = ["buddy", "ascending"]
    seeds = 5                         # seeds 1 to 5 (or seed = [3, 7])

Every key of ``[grid]`` is an axis of :data:`swsim.runs.grid.AXES` (or ``seeds``); a key swsim
does not know is refused with the closest one it knows, never ignored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from swsim.errors import InvalidValue, UsageError
from swsim.runs.grid import STRATEGY_KEY, Grid, did_you_mean, make_grid

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPEC_FORMAT = "swsim-sweep/1"
#: The keys a spec file may hold at its top level.
TOP_KEYS = ("format", STRATEGY_KEY, "grid")


def parse_spec(text: str, where: str = "spec") -> dict[str, object]:
    """The grid of a spec file as a flat spec (axis names, ``seeds``, ``strategy``)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML ({exc})") from None
    for key in data:
        if key not in TOP_KEYS:
            raise UsageError(f"{where}: unknown key {key!r}{did_you_mean(key, TOP_KEYS)}")
    if data.get("format", SPEC_FORMAT) != SPEC_FORMAT:
        raise UsageError(f"{where}: \"format\" must be \"{SPEC_FORMAT}\"")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise UsageError(f"{where}: [grid] must be a table")
    flat: dict[str, object] = dict(grid)
    if STRATEGY_KEY in data:
        flat[STRATEGY_KEY] = data[STRATEGY_KEY]
    return flat


def load_spec(path: str) -> dict[str, object]:
    """:func:`parse_spec` of the file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read spec file {path}: {reason}") from None
    return parse_spec(text, where=path)


def grid_from_spec(spec: dict[str, object], where: str) -> Grid:
    """:func:`~swsim.runs.grid.make_grid`, with a bad value worded for the file it is in."""
    try:
        return make_grid(spec, where)
    except InvalidValue as exc:
        raise UsageError(f"{where}: {exc.param} {exc.detail}") from None

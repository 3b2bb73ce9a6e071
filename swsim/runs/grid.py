"""A sweep's grid: the axes a point is made of, their values, and the points they expand to.

An :class:`Axis` is one input of a point: a machine generation parameter (``frames``,
``saved_fraction``, the boot footprint's sizes, the content mix, the layout ``seed``), a
suspend-side model option (``zero_pages_mode``: how the image stores zero pages) or a
resume-side one (``allocator``, ``allocator_seed``). Each axis is at once a command-line
option (``--saved-fraction``), a key of the spec file (docs/sweep.md) and a column of the
results. :data:`AXES` is the registry: a new axis (the suspend side's ``--kernel`` model, say)
is one line there, naming the stage it feeds and the keyword it is passed as
(:mod:`swsim.runs.point` passes machine axes to :func:`~swsim.runs.point.point_machine`,
suspend axes to :func:`~swsim.runs.point.point_snapshot` (the suspend side's
``take_snapshot``), resume axes to :class:`~swsim.resume.restore.RestoreOptions`).

A :class:`Grid` holds a tuple of values per axis and the strategies to run; its points are the
cartesian product of the axes in registry order (the last axis varies fastest). Every strategy
runs on every point, in one pass over the point's image.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

from swsim.errors import InvalidValue, UsageError
from swsim.kernel.constants import PAGE_SIZE
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.strategies import STRATEGIES
from swsim.suspend.kernels import SUSPEND_KERNELS, parse_image_size
from swsim.suspend.snapshot import ZERO_PAGES_MODES

#: One value of an axis, as it goes into a row.
Value = int | float | str
#: Which part of a point an axis feeds.
Stage = Literal["machine", "suspend", "resume"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_frames(text: str) -> int:
    """Page frames from ``262144`` (frames) or a memory size: ``256Mi``, ``1Gi``, ``4GiB``."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("expected a number of frames or a size such as 256Mi, 1Gi")
    number, unit = match.group(1), (match.group(2) or "")
    if not unit:
        if "." in number:
            raise ValueError("a number of frames is a whole number")
        frames = int(number)
    else:
        size = Decimal(number) * _UNITS[unit[0].upper()]
        if size % PAGE_SIZE:
            raise ValueError(f"{text} is not a whole number of {PAGE_SIZE}-byte pages")
        frames = int(size) // PAGE_SIZE
    if frames < 1024:
        raise ValueError("at least 1024 frames (4 MiB)")
    return frames


def _int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return parse


def _fraction(low_open: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
            raise ValueError("must lie in (0, 1]" if low_open else "must lie in [0, 1]")
        return value

    return parse


def _choice(names: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in names:
            raise ValueError(f"{text!r} is not one of {', '.join(names)}")
        return text

    return parse


#: The ``image_size`` axis's value for "the suspend kernel's own default".
DEFAULT_IMAGE_SIZE = "default"


def _image_size(text: str) -> str:
    """An ``image_size`` as ``snapshot --image-size`` takes it, or ``default``."""
    if text != DEFAULT_IMAGE_SIZE:
        try:
            parse_image_size(text)
        except InvalidValue as exc:
            raise ValueError(exc.detail) from None
    return text


@dataclass(frozen=True)
class Axis:
    """One input of a sweep point (see the module docstring)."""

    #: the column, the spec key and (dashed) the option: ``saved_fraction``, ``--saved-fraction``
    name: str
    #: which part of the point it feeds
    stage: Stage
    #: the keyword it is passed as to that stage
    keyword: str
    #: one value from its text (raises ValueError with the reason)
    parse: Callable[[str], Value]
    #: the value when the sweep does not vary it
    default: Value
    #: one line for ``--help`` and docs/sweep.md
    help: str
    #: whether ``start:stop:step`` ranges are allowed (numbers)
    numeric: bool = True

    @property
    def option(self) -> str:
        """The command-line option: ``--saved-fraction``."""
        return "--" + self.name.replace("_", "-")


#: Every axis, in the order of the columns and of the grid's nesting (the last varies fastest).
AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("frames", "machine", "frames", parse_frames, 262144,
         "page frames, or a size: 256Mi, 1Gi, 4Gi"),
    Axis("saved_fraction", "machine", "saved_fraction", _fraction(True), 0.4,
         "fraction of memory saved in the image"),
    Axis("load_address_mib", "machine", "load_address_mib", _int(1), 2,
         "kernel load address, MiB (CONFIG_PHYSICAL_START)"),
    Axis("kernel_mib", "machine", "kernel_mib", _int(0), 32, "kernel image size, MiB"),
    Axis("early_mib", "machine", "early_mib", _int(0), 8,
         "early boot allocations above the kernel image, MiB"),
    Axis("struct_page_bytes", "machine", "struct_page_bytes", _int(0), 64,
         "bytes of mem_map per frame"),
    Axis("content_zero", "machine", "content_zero", _fraction(False), 0.25,
         "fraction of all-zero pages"),
    Axis("content_text", "machine", "content_text", _fraction(False), 0.45,
         "fraction of text-like pages (the rest are random)"),
    Axis("zero_pages_mode", "suspend", "zero_pages", _choice(ZERO_PAGES_MODES), "skip",
         "skip: zero pages are flagged metadata entries (v6.6+); store: data pages",
         numeric=False),
    Axis("suspend_kernel", "suspend", "kernel", _choice(SUSPEND_KERNELS), "none",
         "the suspend side that makes the image (snapshot --kernel; docs/suspend.md)",
         numeric=False),
    Axis("image_size", "suspend", "image_size", _image_size, DEFAULT_IMAGE_SIZE,
         "its image_size: pages, a size (500M) or a percentage of RAM (40%); default: the "
         "kernel's", numeric=False),
    Axis("allocator", "resume", "allocator", _choice(list(ALLOCATORS)), "buddy",
         "boot-time page allocator", numeric=False),
    Axis("allocator_seed", "resume", "seed", _int(0), 0, "seed of the random allocator"),
    Axis("seed", "machine", "seed", _int(0), 1, "layout and content seed of the machine"),
)}

#: Spec keys and options that are not axes: the strategies, and ``seeds N`` (seeds 1 to N).
STRATEGY_KEY = "strategy"
SEEDS_KEY = "seeds"


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _range(axis: Axis, text: str) -> list[Value]:
    """``start:stop:step``, both ends included: ``0.2:0.9:0.05`` is 15 values."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError("a range is start:stop:step")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ValueError("a range is start:stop:step, three numbers") from None
    if step <= 0 or stop < start:
        raise ValueError("a range needs start <= stop and a positive step")
    count = int((stop - start) / step) + 1
    if count > 1_000_000:
        raise ValueError("a range of more than 1,000,000 values")
    return [axis.parse(str(start + i * step)) for i in range(count)]


def parse_values(axis: Axis, spec: object) -> tuple[Value, ...]:
    """The values of ``axis`` from a spec value: a scalar, a list, ``a,b,c`` or
    ``start:stop:step`` (numbers); every problem is an :class:`InvalidValue` of the axis."""
    items = spec if isinstance(spec, list) else [spec]
    values: list[Value] = []
    try:
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise ValueError(f"{item!r} is not a number or a string")
            for part in str(item).split(",") if isinstance(item, str) else [item]:
                text = str(part).strip()
                if axis.numeric and text.count(":") == 2:
                    values.extend(_range(axis, text))
                else:
                    values.append(axis.parse(text))
    except ValueError as exc:
        raise InvalidValue(axis.name, f"{exc}") from None
    if not values:
        raise InvalidValue(axis.name, "has no values")
    return tuple(dict.fromkeys(values))


def parse_strategies(spec: object) -> tuple[str, ...]:
    """Strategies from ``all``, a name, ``a,b`` or a list."""
    items = spec if isinstance(spec, list) else [spec]
    names: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name == "all":
                names.extend(STRATEGIES)
            elif name in STRATEGIES:
                names.append(name)
            else:
                raise InvalidValue(
                    "strategy", f"{name!r} is not one of all, {', '.join(STRATEGIES)}"
                    + did_you_mean(name, list(STRATEGIES))
                )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Point:
    """One point of a grid: a value per axis (in :data:`AXES` order)."""

    values: tuple[Value, ...]

    def __getitem__(self, name: str) -> Value:
        return self.values[list(AXES).index(name)]

    def as_dict(self) -> dict[str, Value]:
        """The inputs by axis name, in column order."""
        return dict(zip(AXES, self.values, strict=True))

    def stage(self, stage: Stage) -> dict[str, Value]:
        """The values of the axes feeding ``stage``, by keyword."""
        return {
            axis.keyword: value
            for axis, value in zip(AXES.values(), self.values, strict=True)
            if axis.stage == stage
        }


@dataclass(frozen=True)
class Grid:
    """Values per axis (the defaults where a sweep does not vary an axis) and the strategies."""

    values: Mapping[str, tuple[Value, ...]] = field(default_factory=dict)
    strategies: tuple[str, ...] = tuple(STRATEGIES)

    def axis_values(self, name: str) -> tuple[Value, ...]:
        """The values of axis ``name`` (its default alone when not given)."""
        return self.values.get(name) or (AXES[name].default,)

    def __len__(self) -> int:
        count = 1
        for name in AXES:
            count *= len(self.axis_values(name))
        return count

    def points(self) -> Iterator[Point]:
        """Every point, the last axis varying fastest (lazily: a grid may be large)."""
        for values in itertools.product(*(self.axis_values(name) for name in AXES)):
            yield Point(values)


def make_grid(spec: Mapping[str, object], where: str = "sweep") -> Grid:
    """A grid from a spec: axis names (or ``seeds``, ``strategy``) to values.

    An unknown key is a :class:`~swsim.errors.UsageError` naming ``where`` with "did you mean".
    """
    values: dict[str, tuple[Value, ...]] = {}
    strategies: tuple[str, ...] = tuple(STRATEGIES)
    known = [*AXES, SEEDS_KEY, STRATEGY_KEY]
    for key, spec_value in spec.items():
        if key == STRATEGY_KEY:
            strategies = parse_strategies(spec_value)
        elif key == SEEDS_KEY:
            if isinstance(spec_value, bool) or not isinstance(spec_value, int) or spec_value < 1:
                raise InvalidValue("seeds", "must be a positive whole number (seeds 1 to N)")
            if "seed" in spec:
                raise UsageError(f"{where}: give seeds or seed, not both")
            values["seed"] = tuple(range(1, spec_value + 1))
        elif key in AXES:
            values[key] = parse_values(AXES[key], spec_value)
        else:
            raise UsageError(f"{where}: unknown key {key!r}{did_you_mean(key, known)}")
    return Grid(values, strategies)

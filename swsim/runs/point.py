"""One sweep point: its machine, its image (counts only), every strategy in one pass, its rows.

A point runs in the calling process: the machine is generated
(:func:`swsim.machine.presets.generate_machine`), its image is the metadata-only image ``swsim
snapshot --no-data`` writes, handed over in memory
(:class:`~swsim.image.snapshot_source.SnapshotSource`), and :func:`swsim.runs.compare.compare`
restores it with every strategy in one pass, counts only. So each row holds exactly what
``swsim compare --no-data --json`` prints for the image ``swsim snapshot --no-data`` writes of
that machine (the resume side's counts do not depend on the data: docs/commands.md,
``--no-data``); the tests check it against the commands.

A row is a flat dict: the point's inputs (:data:`swsim.runs.grid.AXES`), the strategy, every
count of :class:`~swsim.resume.stats.RestoreStats` and its per-zone counts, the excess copies
over ``claim``, the error of a strategy that ran out of memory, the swsim version and the
seconds the point took (its whole pass, the same on each of its rows).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from swsim import __version__
from swsim.errors import SuspendNoMemory
from swsim.image.snapshot_source import SnapshotSource
from swsim.image.writer import WriteOptions
from swsim.machine.footprint import BootFootprint
from swsim.machine.model import ContentSpec, Machine
from swsim.machine.presets import generate_machine
from swsim.resume.restore import RestoreOptions
from swsim.runs.compare import CompareRow, compare
from swsim.runs.grid import AXES, DEFAULT_IMAGE_SIZE, Point, Value
from swsim.suspend.kernels import parse_image_size, suspend_or_fail
from swsim.suspend.snapshot import Snapshot, take_snapshot

#: RestoreStats counts that become columns (``zones`` is flattened, see ZONE_COLUMNS).
COUNT_COLUMNS = (
    "image_pages", "meta_pages", "data_pages", "zero_pages", "allocations", "frees", "eaten",
    "unsafe_kept", "direct", "copies", "peak_pages", "missing",
)
ZONES = ("DMA", "DMA32", "Normal")
ZONE_COUNTS = ("image_pages", "zero_pages", "direct", "copies", "allocations")
#: Per-zone counts as columns: ``dma32_copies`` (0 for a zone the machine does not have).
ZONE_COLUMNS = tuple(f"{zone.lower()}_{count}" for zone in ZONES for count in ZONE_COUNTS)
#: Every column of a results file, in order.
COLUMNS: tuple[str, ...] = (
    *AXES, "strategy", *COUNT_COLUMNS, "excess_copies", "error", *ZONE_COLUMNS,
    "swsim_version", "seconds",
)
#: The columns that say which point and strategy a row is of (what ``--resume`` matches).
KEY_COLUMNS: tuple[str, ...] = (*AXES, "strategy")

Row = dict[str, Any]


def point_machine(
    frames: int,
    saved_fraction: float,
    load_address_mib: int,
    kernel_mib: int,
    early_mib: int,
    struct_page_bytes: int,
    content_zero: float,
    content_text: float,
    seed: int,
) -> Machine:
    """The machine of a point: ``swsim machine --generate`` with these options, and the
    content mix."""
    footprint = BootFootprint.from_mib(load_address_mib, kernel_mib, early_mib, struct_page_bytes)
    content = ContentSpec(seed=seed, zero=content_zero, text=content_text)
    return generate_machine(frames, saved_fraction, footprint, seed, content=content)


def point_snapshot(
    machine: Machine,
    zero_pages: str = "skip",
    kernel: str = "none",
    image_size: str = DEFAULT_IMAGE_SIZE,
) -> Snapshot:
    """The suspend side of a point: what ``kernel``'s suspend model saves of ``machine``
    (:func:`swsim.suspend.kernels.suspend`, as ``swsim snapshot --kernel``); raises
    :class:`~swsim.errors.SuspendNoMemory` when its atomic copy does not fit."""
    if kernel == "none":
        return take_snapshot(machine, zero_pages)
    size = None if image_size == DEFAULT_IMAGE_SIZE else parse_image_size(image_size)
    return suspend_or_fail(machine, kernel, size, zero_pages)[1]


def point_source(point: Point) -> SnapshotSource:
    """The point's image, header and metadata only (``swsim snapshot --no-data``), in memory."""
    machine = point_machine(**point.stage("machine"))  # type: ignore[arg-type]
    snapshot = point_snapshot(machine, **point.stage("suspend"))  # type: ignore[arg-type]
    return SnapshotSource(snapshot, WriteOptions(no_data=True))


def run_point(point: Point, strategies: Sequence[str]) -> list[Row]:
    """The rows of ``point``: one per strategy, in the order given."""
    started = time.perf_counter()
    options = RestoreOptions(no_data=True, **point.stage("resume"))  # type: ignore[arg-type]
    try:
        results = compare(point_source(point), options, strategies)
    except SuspendNoMemory as exc:  # no image: every strategy's row says why
        results = [CompareRow(name, None, error=str(exc)) for name in strategies]
    seconds = round(time.perf_counter() - started, 6)
    inputs: dict[str, Value] = point.as_dict()
    rows = []
    for result in results:
        row: Row = {**inputs, "strategy": result.strategy}
        stats = result.stats
        for column in COUNT_COLUMNS:
            row[column] = getattr(stats, column) if stats is not None else None
        if stats is None:
            row["missing"] = result.missing
        row["excess_copies"] = result.excess_copies
        row["error"] = result.error
        for zone in ZONES:
            counts = stats.zones.get(zone, {}) if stats is not None else None
            for count in ZONE_COUNTS:
                column = f"{zone.lower()}_{count}"
                row[column] = None if counts is None else counts.get(count, 0)
        row["swsim_version"] = __version__
        row["seconds"] = seconds
        rows.append(row)
    return rows

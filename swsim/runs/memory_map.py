"""A picture of a restore: a cell per frame (or per group of frames), coloured by its outcome.

:func:`memory_maps` restores an image with one or more strategies in one pass and keeps each
restore's :func:`~swsim.resume.outcome.frame_outcomes`. :func:`cells` groups the frames into
cells (a cell shows the outcome most of its frames had; on a tie, the one listed first in the
legend), :func:`ascii_map` draws them as text and :func:`draw_maps` as a PNG, SVG or PDF with
matplotlib (the ``swsim[plot]`` extra), side by side when there are several.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from swsim.errors import RestoreNoMemory, UsageError
from swsim.image.source import ImageSource
from swsim.kernel.types import StateArray
from swsim.resume.outcome import OUTCOME_LABELS, FrameOutcome, frame_outcomes, outcome_counts
from swsim.resume.restore import RestoreOptions, restore_each
from swsim.resume.stats import RestoreStats

#: The character of each outcome in :func:`ascii_map`.
ASCII_CHARS: dict[FrameOutcome, str] = {
    FrameOutcome.DIRECT: "=", FrameOutcome.EATEN: "E", FrameOutcome.COPIED: "C",
    FrameOutcome.SAFE: "s", FrameOutcome.ALLOCATED: "a", FrameOutcome.BOOT_KERNEL: "K",
    FrameOutcome.RESERVED: "#", FrameOutcome.FREE: ".",
}
#: The colour of each outcome in pictures.
COLOURS: dict[FrameOutcome, str] = {
    FrameOutcome.DIRECT: "#2e9e44", FrameOutcome.EATEN: "#d62728", FrameOutcome.COPIED: "#ff9f1c",
    FrameOutcome.SAFE: "#1f77b4", FrameOutcome.ALLOCATED: "#9467bd",
    FrameOutcome.BOOT_KERNEL: "#444444", FrameOutcome.RESERVED: "#111111",
    FrameOutcome.FREE: "#eeeeee",
}
#: Picture formats by extension.
PICTURE_FORMATS = (".png", ".svg", ".pdf")


@dataclass
class MemoryMap:
    """One strategy's restore, frame by frame."""

    strategy: str
    stats: RestoreStats
    #: a :class:`FrameOutcome` per frame
    outcomes: StateArray

    @property
    def counts(self) -> dict[FrameOutcome, int]:
        """Frames per outcome, in legend order."""
        return outcome_counts(self.outcomes)


def memory_maps(
    source: ImageSource, options: RestoreOptions, strategies: Sequence[str]
) -> list[MemoryMap]:
    """Restore the image with each of ``strategies`` in one pass; each one's map. A strategy
    that runs out of memory raises its :class:`~swsim.errors.RestoreNoMemory`: there is no
    restore to draw."""
    maps = []
    for result in restore_each(source, options, strategies):
        if isinstance(result, RestoreNoMemory):
            raise result.with_traceback(None)
        maps.append(MemoryMap(result.stats.strategy, result.stats, frame_outcomes(result)))
    return maps


def cells(outcomes: StateArray, frames_per_cell: int) -> StateArray:
    """The outcome of each cell of ``frames_per_cell`` frames: most of its frames' (ties: the
    outcome listed first in the legend). The last cell may be short."""
    if frames_per_cell == 1:
        return outcomes
    nr_cells = -(-len(outcomes) // frames_per_cell)
    cell_of = np.arange(len(outcomes)) // frames_per_cell
    kinds = len(FrameOutcome)
    counts = np.bincount(cell_of * kinds + outcomes, minlength=nr_cells * kinds)
    # reversed, so that argmax's first maximum is the outcome listed first (highest value)
    best = counts.reshape(nr_cells, kinds)[:, ::-1].argmax(axis=1)
    result: StateArray = (kinds - 1 - best).astype(np.uint8)
    return result


def frames_per_cell(frames: int, columns: int, max_rows: int) -> int:
    """The smallest group of frames that draws ``frames`` in ``columns`` by at most
    ``max_rows``."""
    return max(1, -(-frames // (columns * max_rows)))


def ascii_map(memory: MemoryMap, columns: int = 64, max_rows: int = 32) -> str:
    """The map as text: a character per cell, a row per ``columns`` cells, then the legend."""
    frames = len(memory.outcomes)
    per_cell = frames_per_cell(frames, columns, max_rows)
    chars = np.array([ASCII_CHARS[FrameOutcome(v)] for v in range(len(FrameOutcome))])
    drawn = chars[cells(memory.outcomes, per_cell)]
    lines = [
        f"{memory.strategy}: {frames} frames, "
        + ("1 frame" if per_cell == 1 else f"{per_cell} frames") + " per cell, pfn 0 top left"
    ]
    for start in range(0, len(drawn), columns):
        pfn = start * per_cell
        lines.append(f"{pfn:>9} " + "".join(drawn[start : start + columns]))
    for outcome, count in memory.counts.items():
        lines.append(f"  {ASCII_CHARS[outcome]}  {count:>9,}  {OUTCOME_LABELS[outcome]}")
    return "\n".join(lines) + "\n"


def picture_format(path: str) -> str:
    """``png``, ``svg`` or ``pdf`` from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix not in PICTURE_FORMATS:
        raise UsageError(f"cannot tell the picture format of {path}: name it .png, .svg or .pdf")
    return suffix[1:]


def save_figure(fig: Any, path: str, fmt: str) -> None:
    """Write a matplotlib figure to ``path`` (one line on failure) and close it."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, format=fmt, dpi=100)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def draw_maps(maps: Sequence[MemoryMap], path: str, columns: int = 512) -> None:
    """The maps side by side in one picture at ``path`` (PNG, SVG or PDF by extension), each
    with its legend and counts."""
    from swsim.runs.rows import require

    fmt = picture_format(path)
    require("matplotlib", "drawing a picture", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    colours = ListedColormap([COLOURS[FrameOutcome(v)] for v in range(len(FrameOutcome))])
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 6.2), squeeze=False)
    for ax, memory in zip(axes[0], maps, strict=True):
        frames = len(memory.outcomes)
        per_cell = frames_per_cell(frames, columns, columns)
        grid = cells(memory.outcomes, per_cell)
        rows = -(-len(grid) // columns)
        padded = np.full(rows * columns, FrameOutcome.FREE, dtype=np.uint8)
        padded[: len(grid)] = grid
        ax.imshow(padded.reshape(rows, columns), cmap=colours, vmin=0,
                  vmax=len(FrameOutcome) - 1, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        stats = memory.stats
        ax.set_title(f"{memory.strategy}: {stats.copies:,} copies, {stats.allocations:,} "
                     f"allocations", fontsize=9)
        unit = "frame" if per_cell == 1 else f"{per_cell} frames"
        ax.set_xlabel(f"{frames:,} frames, a cell per {unit}, pfn 0 top left", fontsize=7)
        handles = [
            Patch(color=COLOURS[o], label=f"{OUTCOME_LABELS[o]}: {n:,}")
            for o, n in memory.counts.items() if n
        ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06),
                  fontsize=6.5, frameon=False)
    fig.tight_layout()
    save_figure(fig, path, fmt)

"""A sweep: every point of a grid run on a backend, its rows written as they come (``swsim sweep``).

The points still to run are those of the grid without a row for every strategy in the
results file (``resume``: :func:`swsim.runs.rows.open_sink` reads the keys already there).
Each point's rows are written and flushed as soon as it is done, so an interruption, a failing
worker or a lost scheduler leaves every finished point in the file, and a resumed sweep skips
them. Progress is reported per point through :mod:`swsim.progress`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from swsim.progress import ProgressFactory, no_progress
from swsim.runs.backends import Backend
from swsim.runs.grid import Grid, Point
from swsim.runs.point import Row
from swsim.runs.rows import RowKey, RowSink, cell, row_key


@dataclass
class SweepResult:
    """What a sweep did."""

    #: points run now, and points skipped because the results file had them (``--resume``)
    points_run: int = 0
    points_skipped: int = 0
    rows_written: int = 0
    seconds: float = 0.0

    @property
    def points_per_second(self) -> float:
        """Points run per second of the sweep."""
        return self.points_run / self.seconds if self.seconds > 0 else 0.0


def point_done(point: Point, strategies: tuple[str, ...], done: set[RowKey]) -> bool:
    """Whether the results already hold a row of ``point`` for every strategy."""
    inputs = tuple(cell(value) for value in point.values)
    return all((*inputs, name) in done for name in strategies)


def points_to_run(grid: Grid, done: set[RowKey]) -> Iterator[Point]:
    """The points of ``grid`` not already done, in grid order (lazily)."""
    for point in grid.points():
        if not done or not point_done(point, grid.strategies, done):
            yield point


def run_sweep(
    grid: Grid,
    backend: Backend,
    sink: RowSink,
    done: set[RowKey] | None = None,
    progress: ProgressFactory = no_progress,
) -> SweepResult:
    """Run the points of ``grid`` not in ``done`` on ``backend`` and write their rows to
    ``sink`` point by point. The sink is closed, complete only if every point ran."""
    done = done or set()
    result = SweepResult()
    total = len(grid)
    todo = total if not done else sum(1 for _ in points_to_run(grid, done))
    result.points_skipped = total - todo
    started = time.perf_counter()
    complete = False
    try:
        with progress("sweep", todo) as advance:
            rows: list[Row]
            for rows in backend.run(points_to_run(grid, done), grid.strategies):
                if done:  # a point resumed with more strategies: only the rows it lacked
                    rows = [row for row in rows if row_key(row) not in done]
                sink.write(rows)
                result.points_run += 1
                result.rows_written += len(rows)
                if advance:
                    advance(1)
        complete = True
    finally:
        result.seconds = time.perf_counter() - started
        backend.close()
        sink.close(complete)
    return result

"""Progress bars on stderr for long snapshots and restores: pages, MB/s, time left.

Shown only when stderr is a terminal (or ``SWSIM_PROGRESS=1`` forces them, ``0`` hides them)
and the image is large enough to take a while; stdout is never touched, so pipelines stay
clean. The library reports progress through a plain callback (:mod:`swsim.progress`), so it
knows nothing of rich; rich is loaded here only when a bar is shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from swsim.kernel.constants import PAGE_SIZE
from swsim.progress import Advance

#: Images of fewer pages (256 MiB) finish too fast for a bar to help.
MIN_PAGES = 65536


def wanted() -> bool:
    """Whether bars are shown: ``SWSIM_PROGRESS`` if set, else whether stderr is a terminal."""
    forced = os.environ.get("SWSIM_PROGRESS")
    if forced is not None:
        return forced not in ("", "0")
    return sys.stderr.isatty()


@contextlib.contextmanager
def page_progress(description: str, total_pages: int) -> Iterator[Advance | None]:
    """A callback advancing a bar of ``total_pages`` pages on stderr, or None (no bar): a
    :data:`swsim.progress.ProgressFactory`."""
    if total_pages < MIN_PAGES or not wanted():
        yield None
        return
    with _page_bar(description, total_pages) as advance:
        yield advance


def _megabytes_per_second(pages_per_second: float | None) -> str:
    """The rate of pages as MB/s of image data."""
    if pages_per_second is None:
        return "     - MB/s"
    return f"{pages_per_second * PAGE_SIZE / 1e6:6.0f} MB/s"


def _points_per_second(points_per_second: float | None) -> str:
    """The rate of sweep points."""
    return "    - points/s" if points_per_second is None else f"{points_per_second:7.1f} points/s"


@contextlib.contextmanager
def _page_bar(description: str, total_pages: int) -> Iterator[Advance]:
    """A bar of pages (MB/s)."""
    with _bar(description, total_pages, "pages", _megabytes_per_second) as advance:
        yield advance


@contextlib.contextmanager
def point_progress(description: str, total_points: int) -> Iterator[Advance | None]:
    """A bar of sweep points on stderr (points done, points per second, time left), or None:
    a :data:`swsim.progress.ProgressFactory` counting points instead of pages."""
    if total_points < 2 or not wanted():
        yield None
        return
    with _bar(description, total_points, "points", _points_per_second) as advance:
        yield advance


@contextlib.contextmanager
def _bar(
    description: str, total: int, unit: str, rate: Callable[[float | None], str]
) -> Iterator[Advance]:
    """The bar itself, drawn with rich (loaded only now, so quiet runs never load it): ``total``
    ``unit``s, their rate worded by ``rate``, and the time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """The task's rate, worded by ``rate``."""

        def render(self, task: Task) -> Text:
            return Text(rate(task.finished_speed or task.speed), style="progress.data.speed")

    console = Console(stderr=True, force_terminal=os.environ.get("SWSIM_PROGRESS") == "1")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn(unit), Rate(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda count: bar.advance(task, count)

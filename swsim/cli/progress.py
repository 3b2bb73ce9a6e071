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
from collections.abc import Iterator

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


@contextlib.contextmanager
def _page_bar(description: str, total_pages: int) -> Iterator[Advance]:
    """The bar itself, drawn with rich (loaded only now, so quiet runs never load it)."""
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

    class MegabytesPerSecond(ProgressColumn):
        """The rate of pages as MB/s of image data."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("     - MB/s", style="progress.data.speed")
            return Text(f"{speed * PAGE_SIZE / 1e6:6.0f} MB/s", style="progress.data.speed")

    console = Console(stderr=True, force_terminal=os.environ.get("SWSIM_PROGRESS") == "1")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("pages"), MegabytesPerSecond(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total_pages)
        yield lambda nr_pages: bar.advance(task, nr_pages)


@contextlib.contextmanager
def point_progress(description: str, total_points: int) -> Iterator[Advance | None]:
    """A bar of sweep points on stderr (points done, points per second, time left), or None:
    a :data:`swsim.progress.ProgressFactory` counting points instead of pages."""
    if total_points < 2 or not wanted():
        yield None
        return
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

    class PointsPerSecond(ProgressColumn):
        """The rate of points."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            text = "    - points/s" if speed is None else f"{speed:7.1f} points/s"
            return Text(text, style="progress.data.speed")

    console = Console(stderr=True, force_terminal=os.environ.get("SWSIM_PROGRESS") == "1")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("points"), PointsPerSecond(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total_points)
        yield lambda nr_points: bar.advance(task, nr_points)

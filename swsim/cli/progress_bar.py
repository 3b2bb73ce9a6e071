"""The progress bar itself, drawn with rich on stderr; :mod:`swsim.cli.progress` decides whether
one is shown and imports this module only then, so quiet runs never load rich."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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

from swsim.kernel.constants import PAGE_SIZE
from swsim.progress import Advance


class MegabytesPerSecond(ProgressColumn):
    """The rate of pages as MB/s of image data."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("     - MB/s", style="progress.data.speed")
        return Text(f"{speed * PAGE_SIZE / 1e6:6.0f} MB/s", style="progress.data.speed")


@contextlib.contextmanager
def page_bar(description: str, total_pages: int) -> Iterator[Advance]:
    """A bar of ``total_pages`` pages on stderr; yields the callback that advances it."""
    console = Console(stderr=True, force_terminal=os.environ.get("SWSIM_PROGRESS") == "1")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("pages"), MegabytesPerSecond(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total_pages)
        yield lambda nr_pages: bar.advance(task, nr_pages)

"""Progress bars on stderr for long snapshots and restores: pages, MB/s, time left.

Shown only when stderr is a terminal (or ``SWSIM_PROGRESS=1`` forces them, ``0`` hides them)
and the image is large enough to take a while; stdout is never touched, so pipelines stay
clean. The library reports progress through a plain callback (``advance(nr_pages)``), so it
knows nothing of rich; this module decides whether a bar is shown and loads rich
(:mod:`swsim.cli.progress_bar`) only when one is.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from swsim.progress import Advance

#: Images of fewer pages (256 MiB) finish too fast for a bar to help.
MIN_PAGES = 65536


def wanted() -> bool:
    forced = os.environ.get("SWSIM_PROGRESS")
    if forced is not None:
        return forced not in ("", "0")
    return sys.stderr.isatty()


@contextlib.contextmanager
def page_progress(description: str, total_pages: int) -> Iterator[Advance | None]:
    """A callback advancing a bar of ``total_pages`` pages on stderr, or None (no bar)."""
    if total_pages < MIN_PAGES or not wanted():
        yield None
        return
    from swsim.cli.progress_bar import page_bar

    with page_bar(description, total_pages) as advance:
        yield advance

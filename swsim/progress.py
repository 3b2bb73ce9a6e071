"""How the library reports progress without knowing how it is shown (:mod:`swsim.cli.progress`
shows it).

A :data:`ProgressFactory` is called as ``progress(description, total_pages)`` and gives a
context manager yielding ``advance(nr_pages)``, or None when nothing is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int], AbstractContextManager[Advance | None]]


def no_progress(description: str, total_pages: int) -> AbstractContextManager[Advance | None]:
    """The default: no progress shown."""
    return contextlib.nullcontext(None)

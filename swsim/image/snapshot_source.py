"""A snapshot's image for counting, straight from memory: an :class:`ImageSource` without bytes.

``swsim sweep`` restores thousands of images counts only. :class:`SnapshotSource` gives the
resume side what opening the image that ``write_image(machine, out,
WriteOptions(no_data=True))`` writes of a snapshot would give (the same
:class:`~swsim.image.info.ImageInfo`, header page and metadata pages), without packing the
image into bytes, hashing it and reading it back. There is nothing to check: the image never
left memory (``checks`` stays empty, ``finish()`` checks nothing).
tests/runs/test_sweep.py checks that the counts equal ``swsim compare --no-data`` of the
written image.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import Any

from swsim.image.checks import ImageChecks
from swsim.image.writer import SwsimLayout, WriteOptions, header_flags
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray
from swsim.suspend.snapshot import Snapshot


class SnapshotSource:
    """The metadata-only image of ``snapshot`` written with ``options`` (an ``ImageSource``)."""

    def __init__(self, snapshot: Snapshot, options: WriteOptions | None = None) -> None:
        options = options or WriteOptions()
        layout = SwsimLayout(snapshot, header_flags(replace(options, no_data=True, key=None)))
        self._header = layout.header
        self.info = layout.header.info()
        self.header_page = layout.header_page()
        self._meta = layout.meta_pages(0, layout.nr_meta_pages)
        self.checks = ImageChecks()
        self.keyed = False

    def describe(self) -> dict[str, Any]:
        """The header's fields."""
        return self._header.describe()

    def iter_meta_pages(self) -> Iterator[bytes]:
        """The metadata pages, in order."""
        meta = self._meta
        for start in range(0, len(meta), PAGE_SIZE):
            yield meta[start : start + PAGE_SIZE]

    def iter_data(self) -> Generator[PageArray, None, None]:
        """No data pages: the image is metadata only."""
        yield from ()

    def finish(self, pfn_of: Callable[[int], int]) -> ImageChecks:
        """Nothing to check: the image never left memory."""
        return self.checks

    def authenticate_rest(self) -> None:
        """Nothing to authenticate (no key)."""

    def close(self) -> None:
        """Nothing to stop."""

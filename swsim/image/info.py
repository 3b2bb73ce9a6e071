"""What any image tells the resume side before its data: the neutral :class:`ImageInfo`.

The numbers of ``struct swsusp_info`` that ``load_header()`` and ``prepare_image()`` use, in
words no format owns, so that the resume side and the strategies never see a format's header
class: the swsim image fills it from its header page, and the kernel's own formats will fill it
from theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from swsim.machine.model import Machine


@dataclass(frozen=True)
class ImageInfo:
    """An image's page counts and encoding, as read (and checked) from its header."""

    #: which format the image is in (``swsim``, ``linux-swap``, ``snapshot-stream``)
    format: str
    #: page frames of the machine the image was made on (``num_physpages``; for a kernel image
    #: the frames of the machine it implies, :mod:`swsim.machine.from_image`)
    num_physpages: int
    #: metadata entries: every image page, zero pages included (kernel: ``nr_copy_pages`` +
    #: ``nr_zero_pages`` on v6.6+)
    image_pages: int
    nr_meta_pages: int
    #: image pages that have a data page (all of them unless zero pages are left out)
    nr_data_pages: int
    #: metadata entries may carry ENCODED_PFN_ZERO_FLAG (v6.6+ zero pages)
    zero_page_flags: bool = False
    #: False for a metadata-only image (``snapshot --no-data``): no data page is stored
    has_data: bool = True
    #: the suspend-time machine, when the image records it (swsim images do)
    machine: Machine | None = None
    #: the suspend model that made the image (``none``: no model, or not recorded)
    suspend_kernel: str = "none"
    #: the kernel reader its format implies (a swap image's flags: ``swap``, ``swap-lzo``,
    #: ``swap-lz4``); None for a snapshot stream such as swsim's (read by snapshot.c alone)
    swap_reader: str | None = None
    #: swap pages the image's swap map lists (header, then metadata and data, compressed or
    #: not), when the format has a swap map; the swap readers count their map pages from it
    swap_pages: int | None = None

    @property
    def nr_zero_pages(self) -> int:
        """Image pages stored as a flagged metadata entry only (no data page)."""
        return self.image_pages - self.nr_data_pages

    @property
    def nr_stored_pages(self) -> int:
        """Data pages present in the stream: none in a metadata-only image."""
        return self.nr_data_pages if self.has_data else 0

"""What a restore cost: the counts a strategy fills and the report renders."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RestoreStats:
    """What a restore cost. Strategies fill it; the report renders it; nothing here prints."""

    strategy: str
    allocator: str
    #: the image reader (``--reader``: snapshot, swap, swap-lzo, swap-lz4)
    reader: str = "snapshot"
    image_pages: int = 0
    meta_pages: int = 0
    data_pages: int = 0
    #: image pages stored as flagged metadata only (ENCODED_PFN_ZERO_FLAG), memset at restore
    zero_pages: int = 0
    #: every page obtained from the allocator (eaten and later-freed pages included)
    allocations: int = 0
    frees: int = 0
    #: pages the image reader (swap.c) took from the allocator, also counted in allocations
    reader_pages: int = 0
    #: unsafe pages allocated, held so the allocator would not return them, then freed
    eaten: int = 0
    #: unsafe pages allocated and kept: their own image page is loaded straight into them
    unsafe_kept: int = 0
    #: data pages read straight into their original frame
    direct: int = 0
    #: the restore list's length: pages copied to their original frame at the end
    copies: int = 0
    #: the most pages held from the allocator at any one moment
    peak_pages: int = 0
    #: frames the machine lacked for the restore to succeed (0 when it succeeded)
    missing: int = 0
    #: every image pfn holds exactly its page (None: --no-data, nothing was loaded)
    verified: bool | None = False
    #: counts only: the data pages were not loaded (``--no-data``)
    no_data: bool = False
    #: per zone (DMA, DMA32, Normal): image_pages, zero_pages, direct, copies, allocations
    zones: dict[str, dict[str, int]] = field(default_factory=dict)
    #: notes for the user (``replay``: a model took fewer pages than the file holds); not in
    #: the JSON
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The counts as a JSON object, in field order (``notes`` left out)."""
        data = asdict(self)
        del data["notes"]
        return data

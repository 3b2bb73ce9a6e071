"""``swsim inspect``: what an image holds, without restoring it.

Header fields (``struct swsusp_info``, swsim edition), a metadata summary (image pages per
zone, zero pages, the pfn ranges) and the digest check of the trailer. Reads the stream once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np

from swsim.constants import PFNS_PER_META_PAGE
from swsim.errors import ImageError
from swsim.image import FLAG_ZERO_PAGES, ImageReader, decode_meta_page
from swsim.ranges import mask_ranges
from swsim.zones import pages_per_zone

#: pfn ranges listed in full; beyond that only their number is given.
MAX_RANGES_SHOWN = 16


@dataclass
class ImageSummary:
    version: int
    flags: int
    zero_page_encoding: bool
    release: str
    machine: str
    identity: str
    num_physpages: int
    cpus: int
    image_pages: int
    nr_meta_pages: int
    nr_data_pages: int
    nr_zero_pages: int
    pages: int
    size: int
    pages_per_zone: dict[str, int] = field(default_factory=dict)
    zero_pages_per_zone: dict[str, int] = field(default_factory=dict)
    nr_pfn_ranges: int = 0
    pfn_ranges: list[list[int]] = field(default_factory=list)
    lowest_pfn: int | None = None
    highest_pfn: int | None = None
    digest_ok: bool = False
    digest_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inspect_image(stream: BinaryIO) -> ImageSummary:
    """Summarise the image read from ``stream``; a bad digest is reported, not raised."""
    reader = ImageReader(stream)
    header = reader.header
    pfns = np.zeros(header.image_pages, dtype=np.int64)
    zero = np.zeros(header.image_pages, dtype=bool)
    for index, page in enumerate(reader.iter_meta_pages()):
        start = index * PFNS_PER_META_PAGE
        count = min(PFNS_PER_META_PAGE, header.image_pages - start)
        pfns[start : start + count], zero[start : start + count] = decode_meta_page(page, count)
    frames = header.num_physpages
    in_range = (pfns >= 0) & (pfns < frames)
    mask = np.zeros(frames, dtype=bool)
    mask[pfns[in_range]] = True
    ranges = mask_ranges(mask)
    summary = ImageSummary(
        version=header.version,
        flags=header.flags,
        zero_page_encoding=bool(header.flags & FLAG_ZERO_PAGES),
        release=header.release,
        machine=header.machine.name,
        identity=header.identity.hex(),
        num_physpages=frames,
        cpus=header.cpus,
        image_pages=header.image_pages,
        nr_meta_pages=header.nr_meta_pages,
        nr_data_pages=header.nr_data_pages,
        nr_zero_pages=int(zero.sum()),
        pages=header.pages,
        size=header.size,
        pages_per_zone=pages_per_zone(pfns, frames),
        zero_pages_per_zone=pages_per_zone(pfns[zero], frames),
        nr_pfn_ranges=len(ranges),
        pfn_ranges=[[s, e] for s, e in ranges[:MAX_RANGES_SHOWN]],
        lowest_pfn=int(pfns.min()) if len(pfns) else None,
        highest_pfn=int(pfns.max()) if len(pfns) else None,
    )
    try:
        for _ in reader.iter_data():
            pass
        reader.check_trailer()
        summary.digest_ok = True
    except ImageError as exc:
        summary.digest_error = str(exc)
    return summary

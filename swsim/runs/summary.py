"""``swsim inspect``: what an image holds and whether it is intact, without restoring it.

Header fields (``struct swsusp_info``, swsim edition) and the digest algorithm its flags
select, a metadata summary (image pages per zone, zero pages, the pfn ranges) and every check
that needs no target machine: block CRCs, the trailer digest and, with a key, the HMAC. Reads
the stream once, raw or zstd, through :func:`swsim.image.reader.open_checked_image`. A failed check
is reported in the summary (``verified`` false, ``error``); with ``strict`` (``--verify``) the
pfns are also checked like a restore checks them (in range, strictly increasing) and the first
problem is raised instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np

from swsim.kernel.constants import FLAG_ZERO_PAGES, PFNS_PER_META_PAGE
from swsim.image.digest import digest_for_flags
from swsim.errors import AuthError, ImageError, SwsimError
from swsim.image.header import decode_meta_page
from swsim.image.checks import check_pfns
from swsim.machine.ranges import mask_ranges
from swsim.image.reader import auth_failures, open_checked_image
from swsim.kernel.zones import pages_per_zone

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
    #: the trailer digest's algorithm (``--digest`` name: ``xxh3`` or ``sha256``)
    digest_algorithm: str
    pages_per_zone: dict[str, int] = field(default_factory=dict)
    zero_pages_per_zone: dict[str, int] = field(default_factory=dict)
    nr_pfn_ranges: int = 0
    pfn_ranges: list[list[int]] = field(default_factory=list)
    lowest_pfn: int | None = None
    highest_pfn: int | None = None
    compressed: bool = False
    signed: bool = False
    block_checksums: bool = False
    authenticated: bool = False
    verified: bool = False
    error: str | None = None
    #: the failed check as raised (ImageError, or AuthError with a key); not in the JSON
    failure: SwsimError | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["failure"]
        return data


def inspect_image(
    stream: BinaryIO, key: bytes | None = None, strict: bool = False
) -> ImageSummary:
    """Summarise and check the image read from ``stream``.

    A header that cannot be trusted raises (:class:`ImageError`, or :class:`AuthError` with a
    key). Later failures are recorded in the summary, or raised when ``strict``.
    """
    with auth_failures(key):
        image = open_checked_image(stream, key)
    header = image.header
    pfns = np.zeros(header.image_pages, dtype=np.int64)
    zero = np.zeros(header.image_pages, dtype=bool)
    summary = None
    try:
        with auth_failures(key):
            for index, page in enumerate(image.iter_meta_pages()):
                start = index * PFNS_PER_META_PAGE
                count = min(PFNS_PER_META_PAGE, header.image_pages - start)
                chunk, chunk_zero = decode_meta_page(page, count)
                if strict:
                    check_pfns(chunk, int(pfns[start - 1]) if start else -1, header.num_physpages)
                pfns[start : start + count], zero[start : start + count] = chunk, chunk_zero
            summary = _summary(header, pfns, zero)
            for _ in image.iter_data():
                pass
            data_pfns = pfns[~zero]
            image.finish(lambda index: int(data_pfns[index]))
            summary.verified = True
    except (ImageError, AuthError) as exc:
        if strict or summary is None:
            raise
        summary.error = str(exc)
        summary.failure = exc
    for name, value in image.checks.to_json().items():
        setattr(summary, name, value)
    return summary


def _summary(header: Any, pfns: np.ndarray, zero: np.ndarray) -> ImageSummary:
    frames = header.num_physpages
    in_range = (pfns >= 0) & (pfns < frames)
    mask = np.zeros(frames, dtype=bool)
    mask[pfns[in_range]] = True
    ranges = mask_ranges(mask)
    return ImageSummary(
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
        digest_algorithm=digest_for_flags(header.flags).name,
        pages_per_zone=pages_per_zone(pfns[in_range], frames),
        zero_pages_per_zone=pages_per_zone(pfns[in_range & zero], frames),
        nr_pfn_ranges=len(ranges),
        pfn_ranges=[[s, e] for s, e in ranges[:MAX_RANGES_SHOWN]],
        lowest_pfn=int(pfns.min()) if len(pfns) else None,
        highest_pfn=int(pfns.max()) if len(pfns) else None,
    )

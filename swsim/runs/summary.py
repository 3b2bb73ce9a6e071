"""What an image holds and whether it is intact, without restoring it (``swsim inspect``).

The format's header fields (for a swsim image: ``struct swsusp_info``, swsim edition, and the
digest algorithm its flags select), a metadata summary (image pages per zone, zero pages, the
pfn ranges) and every check that needs no target machine: block CRCs, the trailer digest and,
with a key, the HMAC. Reads the image once, through its
:class:`~swsim.image.source.ImageSource`. A failed check is reported in the summary
(``verified`` false, ``error``); with ``strict`` (``--verify``) the pfns are also checked like a
restore checks them (in range, strictly increasing) and the first problem is raised instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swsim.errors import AuthError, ImageError, SwsimError
from swsim.image.auth import auth_failures
from swsim.image.checks import check_pfns
from swsim.image.meta import decode_meta_page
from swsim.image.source import ImageSource
from swsim.kernel.constants import PFNS_PER_META_PAGE
from swsim.kernel.types import BoolArray, PfnArray
from swsim.kernel.zones import pages_per_zone
from swsim.machine.ranges import mask_ranges


@dataclass
class ImageSummary:
    """An image's header fields, what its metadata holds, and what its checks found."""

    #: the format's header fields (:meth:`ImageSource.describe`), ``nr_zero_pages`` counted
    #: in the metadata
    header: dict[str, Any]
    pages_per_zone: dict[str, int] = field(default_factory=dict)
    zero_pages_per_zone: dict[str, int] = field(default_factory=dict)
    nr_pfn_ranges: int = 0
    pfn_ranges: list[list[int]] = field(default_factory=list)
    lowest_pfn: int | None = None
    highest_pfn: int | None = None
    #: what was checked (:meth:`swsim.image.checks.ImageChecks.to_json`)
    checks: dict[str, bool] = field(default_factory=dict)
    verified: bool = False
    error: str | None = None
    #: the failed check as raised (ImageError, or AuthError with a key); not in the JSON
    failure: SwsimError | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The summary as one flat JSON object: header fields, metadata summary, checks."""
        return {
            **self.header,
            "pages_per_zone": self.pages_per_zone,
            "zero_pages_per_zone": self.zero_pages_per_zone,
            "nr_pfn_ranges": self.nr_pfn_ranges,
            "pfn_ranges": self.pfn_ranges,
            "lowest_pfn": self.lowest_pfn,
            "highest_pfn": self.highest_pfn,
            **self.checks,
            "verified": self.verified,
            "error": self.error,
        }


def summarize_image(source: ImageSource, strict: bool = False) -> ImageSummary:
    """Summarise and check the image of ``source``.

    A header that cannot be trusted has raised already (opening the source). Later failures are
    recorded in the summary, or raised when ``strict``.
    """
    info = source.info
    pfns = np.zeros(info.image_pages, dtype=np.int64)
    zero = np.zeros(info.image_pages, dtype=bool)
    summary = None
    try:
        with auth_failures(source.keyed):
            for index, page in enumerate(source.iter_meta_pages()):
                start = index * PFNS_PER_META_PAGE
                count = min(PFNS_PER_META_PAGE, info.image_pages - start)
                chunk, chunk_zero = decode_meta_page(page, count)
                if strict:
                    check_pfns(chunk, int(pfns[start - 1]) if start else -1, info.num_physpages)
                pfns[start : start + count], zero[start : start + count] = chunk, chunk_zero
            summary = _summary(source, pfns, zero)
            for _ in source.iter_data():
                pass
            data_pfns = pfns[~zero]
            source.finish(lambda index: int(data_pfns[index]))
            summary.verified = True
    except (ImageError, AuthError) as exc:
        if strict or summary is None:
            raise
        summary.error = str(exc)
        summary.failure = exc.with_traceback(None)
    finally:
        source.close()
    summary.checks = source.checks.to_json()
    return summary


def _summary(source: ImageSource, pfns: PfnArray, zero: BoolArray) -> ImageSummary:
    frames = source.info.num_physpages
    in_range = (pfns >= 0) & (pfns < frames)
    mask = np.zeros(frames, dtype=bool)
    mask[pfns[in_range]] = True
    ranges = mask_ranges(mask)
    header = source.describe()
    header["nr_zero_pages"] = int(zero.sum())
    return ImageSummary(
        header=header,
        pages_per_zone=pages_per_zone(pfns[in_range], frames),
        zero_pages_per_zone=pages_per_zone(pfns[in_range & zero], frames),
        nr_pfn_ranges=len(ranges),
        pfn_ranges=[[s, e] for s, e in ranges],
        lowest_pfn=int(pfns.min()) if len(pfns) else None,
        highest_pfn=int(pfns.max()) if len(pfns) else None,
    )

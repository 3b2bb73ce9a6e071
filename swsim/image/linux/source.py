"""Reading a kernel image: the :class:`ImageSource` of a swap device or a /dev/snapshot stream.

Opening reads and checks, before anything is allocated from their numbers: the signature page
(swap device: ``swsusp_header`` at page ``resume_offset``, its flags and the whole swap map),
the header page (``struct swsusp_info``, x86-64's ``restore_data_record``) and every metadata
page. The metadata is needed up front: the pfns say how many image pages there are (on 6.3+
``image_pages`` counts only the stored ones) and make the image's machine
(:func:`swsim.machine.from_image.image_machine`, with its documented default boot state).

Both metadata encodings are read by one rule: entries up to ``BM_END_OF_MAP`` (or the end of
the metadata pages), bit 63 flagging a zero page with no data page (6.3+; a 6.1 image has no
flag set, and every pfn a data page). The entries that are not zero pages must number
``image_pages``, and the metadata pages ``DIV_ROUND_UP(8 * entries, 4096)``.

:meth:`KernelImage.finish` checks what only the end can show: no map entry or decoded page left
over (the page stream), and the CRC32 stored in ``swsusp_header`` against the one computed
over every chunk (the kernel's "Invalid image CRC32!").
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from swsim.errors import ImageError
from swsim.image.checks import ImageChecks
from swsim.image.format import MAX_FRAMES
from swsim.image.info import ImageInfo
from swsim.image.linux.chunks import codec_for_flags
from swsim.image.linux.device import SwapDevice
from swsim.image.linux.layout import (
    BM_END_OF_MAP,
    HIBERNATE_SIG,
    KNOWN_SF_FLAGS,
    SF_CRC32_MODE,
    SWAP_INFO,
    SWAP_INFO_OFFSET,
    SWAP_SIGS,
    UNC_PAGES,
    SwsuspHeader,
    SwsuspInfo,
    flag_names,
)
from swsim.image.linux.pages import PageStream, StreamPages, SwapPages
from swsim.image.linux.swapmap import walk_swap_map
from swsim.image.reader import CountingInput
from swsim.kernel.constants import (
    ENCODED_PFN_MASK,
    ENCODED_PFN_ZERO_FLAG,
    PAGE_SIZE,
    PFNS_PER_META_PAGE,
    div_round_up,
)
from swsim.kernel.types import BoolArray, PageArray, PfnArray, WordArray
from swsim.machine.from_image import image_machine

#: ``ImageInfo.format`` of the two kernel formats.
LINUX_SWAP = "linux-swap"
SNAPSHOT_STREAM = "snapshot-stream"
#: Pages read per batch by :meth:`KernelImage.iter_data`.
READ_BATCH_PAGES = 1024


def decode_kernel_meta(words: WordArray, image_pages: int) -> tuple[PfnArray, BoolArray]:
    """``unpack_orig_pfns()`` over every metadata page: the pfns and which are zero pages.

    Entries run to ``BM_END_OF_MAP`` or the end of the pages; the rest must be zeros (the
    kernel clears each page first). Refuses counts that disagree with ``image_pages`` and
    pfns that are not strictly increasing.
    """
    ends = np.flatnonzero(words == np.uint64(BM_END_OF_MAP))
    count = int(ends[0]) if len(ends) else len(words)
    if words[count + 1 :].any():
        raise ImageError("corrupted image: non-zero metadata after the end-of-map marker")
    if div_round_up(count * 8, PAGE_SIZE) != div_round_up(len(words) * 8, PAGE_SIZE):
        raise ImageError(
            f"corrupted image: {count} metadata entries do not fill the "
            f"{len(words) // PFNS_PER_META_PAGE} metadata pages swsusp_info implies"
        )
    raw = words[:count]
    zero = (raw & np.uint64(ENCODED_PFN_ZERO_FLAG)) != 0
    pfns = (raw & np.uint64(ENCODED_PFN_MASK)).astype(np.int64)
    stored = count - int(zero.sum())
    if stored != image_pages:
        raise ImageError(
            f"corrupted image: the metadata lists {stored} stored pages, swsusp_info."
            f"image_pages says {image_pages}"
        )
    if count and (pfns[-1] >= MAX_FRAMES or not (np.diff(pfns) > 0).all()):
        raise ImageError("corrupted image: metadata pfns are not strictly increasing in range")
    return pfns, zero


class KernelImage:
    """A kernel image being read: the kernel formats' :class:`ImageSource`."""

    def __init__(
        self, fmt: str, header_page: bytes, pages: PageStream, max_pages: int,
        checks: ImageChecks | None, codec: str = "none", crc_mode: bool = False,
    ) -> None:
        self.format = fmt
        self.header_page = header_page
        self.keyed = False
        self._pages = pages
        self.swsusp_info = info = SwsuspInfo.unpack(header_page)
        if info.num_physpages > MAX_FRAMES:
            raise ImageError(
                f"corrupted image: num_physpages {info.num_physpages} is beyond the largest "
                f"machine swsim simulates ({MAX_FRAMES})"
            )
        info.check(max_pages)
        nr_meta = info.nr_meta_pages
        if nr_meta > div_round_up((info.num_physpages + 1) * 8, PAGE_SIZE) + 1:
            raise ImageError(
                f"corrupted image: {nr_meta} metadata pages for {info.num_physpages} frames"
            )
        meta = pages.read(nr_meta, "metadata pages")
        self._meta = [meta[i * PAGE_SIZE : (i + 1) * PAGE_SIZE] for i in range(nr_meta)]
        pfns, zero = decode_kernel_meta(np.frombuffer(meta, dtype="<u8"), info.image_pages)
        self.pfns, self.zero = pfns, zero
        machine = image_machine(pfns, zero, info.num_physpages)
        self.info = ImageInfo(
            format=fmt,
            num_physpages=machine.frames,
            image_pages=len(pfns),
            nr_meta_pages=nr_meta,
            nr_data_pages=info.image_pages,
            zero_page_flags=bool(zero.any()),
            machine=machine,
        )
        self.checks = checks if checks is not None else ImageChecks()
        self.checks.codec = codec
        self.checks.block_checksums = crc_mode
        self._crc_mode = crc_mode
        self._described: dict[str, Any] = {}
        #: filled by the swap format: the signature page's fields and where the image lies
        self.device_fields: dict[str, Any] = {}
        self.stored_crc32 = 0

    def describe(self) -> dict[str, Any]:
        """Every header field for ``swsim inspect``: format, layout, flags, compression and
        CRC32 (those known only once the data is read are filled in by :meth:`finish`),
        counts, where the image lies on the device, the arch header."""
        info = self.swsusp_info
        nr_zero = int(self.zero.sum())
        fields: dict[str, Any] = {
            "format": self.format,
            "kernel_layout": "6.3+ (zero pages flagged in the metadata)" if nr_zero else
            "6.1 (every pfn has a data page; also 6.3+ without zero pages)",
            **self.device_fields,
            **{k: v for k, v in info.describe().items() if k != "arch"},
            "nr_image_pfns": len(self.pfns),
            "nr_data_pages": info.image_pages,
            "nr_zero_pages": nr_zero,
            "frames": self.info.num_physpages,
            "kernel_log": {
                "pages_copied": info.image_pages,
                "zero_pages": nr_zero,
                "pages_saved": info.pages - 1,
                "kbytes_written": (info.pages - 1) * 4,
            },
            "arch": info.describe()["arch"],
        }
        self._described = fields
        return fields

    def iter_meta_pages(self) -> Iterator[bytes]:
        """The metadata pages (read and checked when the image was opened)."""
        return iter(self._meta)

    def iter_data(self) -> Generator[PageArray, None, None]:
        """The data pages in batches of up to :data:`READ_BATCH_PAGES`, read into one reused
        buffer (each batch is valid until the next is asked for)."""
        total = self.swsusp_info.image_pages
        buffer = np.empty((min(READ_BATCH_PAGES, total), PAGE_SIZE), dtype=np.uint8)
        for start in range(0, total, READ_BATCH_PAGES):
            count = min(READ_BATCH_PAGES, total - start)
            batch = buffer[:count]
            data = self._pages.read(count, f"data pages from {start}")
            batch.reshape(-1)[:] = np.frombuffer(data, dtype=np.uint8)
            yield batch

    def finish(self, pfn_of: Callable[[int], int]) -> ImageChecks:
        """Nothing left over, and the CRC32 (with ``SF_CRC32_MODE``) as stored."""
        self._pages.finish()
        if isinstance(self._pages, SwapPages):
            pages = self._pages
            computed = pages.crc32
            fields = self._described or self.describe()
            if pages.nr_chunks:
                uncompressed = self.swsusp_info.pages - 1
                fields["compression"] = {
                    **fields.get("compression", {}),
                    "chunks": pages.nr_chunks,
                    "uncompressed_bytes": uncompressed * PAGE_SIZE,
                    "compressed_bytes": pages.compressed_bytes,
                    "device_pages": pages.stored_pages - 1,
                    "ratio": round(pages.compressed_bytes / (uncompressed * PAGE_SIZE), 4),
                }
                fields["kernel_log"]["compressed_kbytes"] = pages.compressed_bytes // 1024
            if self._crc_mode:
                fields["crc32_computed"] = f"0x{computed:08x}"
                if computed != self.stored_crc32:
                    raise ImageError(
                        f"corrupted image: Invalid image CRC32! (stored 0x{self.stored_crc32:08x}"
                        f", computed 0x{computed:08x})"
                    )
        return self.checks

    def authenticate_rest(self) -> None:
        """Kernel images are never signed: nothing to authenticate."""

    def close(self) -> None:
        """Let go of the device (its spooled copy, if any)."""
        if isinstance(self._pages, SwapPages):
            self._pages.device.close()


def _refuse_key(key: bytes | None) -> None:
    if key is not None:
        raise ImageError("the image is not signed: the kernel's formats carry no HMAC")


def open_snapshot_stream(
    data: CountingInput, first_page: bytes, key: bytes | None, checks: ImageChecks | None
) -> KernelImage:
    """A /dev/snapshot stream (``snapshot_read_next()``'s pages), read front to back."""
    _refuse_key(key)
    # a compressed stream may not expand past the pages its header declares (checked next)
    data.set_limit(SwsuspInfo.unpack(first_page).pages * PAGE_SIZE)
    return KernelImage(SNAPSHOT_STREAM, first_page, StreamPages(data), 2 * MAX_FRAMES + 1,
                       checks, codec=data.codec)


def open_linux_swap(
    data: CountingInput, first_page: bytes, key: bytes | None, checks: ImageChecks | None,
    resume_offset: int = 0,
) -> KernelImage:
    """The image on a swap device whose signature page is page ``resume_offset``."""
    _refuse_key(key)
    device = SwapDevice.open(data.origin, data, first_page)
    try:
        return _open_device(device, checks, resume_offset)
    except BaseException:
        device.close()
        raise


def _open_device(device: SwapDevice, checks: ImageChecks | None, resume_offset: int) -> KernelImage:
    if resume_offset >= device.nr_pages:
        raise ImageError(
            f"resume offset {resume_offset} is past the end of the device ({device.nr_pages} "
            "pages)"
        )
    page = device.read_pages(resume_offset, 1)
    header = SwsuspHeader.unpack(page)
    if header.sig != HIBERNATE_SIG:
        if header.sig in SWAP_SIGS:
            raise ImageError(
                f"a swap area with no hibernation image (signature {header.sig.decode()} at "
                f"page {resume_offset})"
            )
        raise ImageError(f"no swap signature at page {resume_offset} (the resume offset)")
    unknown = header.flags & ~KNOWN_SF_FLAGS
    if unknown:
        raise ImageError(f"unsupported image: unknown swsusp_header flags 0x{unknown:x}")
    codec = codec_for_flags(header.flags)
    swap_map = walk_swap_map(device, header.image)
    pages = SwapPages(device, swap_map.entries, codec)
    header_page = pages.read_header()
    max_pages = 1 + (len(swap_map.entries) - 1) * (UNC_PAGES if codec.chunked else 1)
    crc_mode = bool(header.flags & SF_CRC32_MODE)
    image = KernelImage(LINUX_SWAP, header_page, pages, max_pages, checks, codec.name, crc_mode)
    image.stored_crc32 = header.crc32
    # swsusp_read() reads it through swap.c, with the reader its flags choose
    image.info = replace(
        image.info, swap_reader="swap" if codec.name == "none" else f"swap-{codec.name}",
        swap_pages=len(swap_map.entries),
    )
    used = np.sort(np.concatenate([swap_map.map_pages, swap_map.entries]))
    version, last_page, _, uuid = SWAP_INFO.unpack_from(page, SWAP_INFO_OFFSET)
    image.device_fields = {
        "flags": header.flags,
        "flag_names": flag_names(header.flags),
        "compression": {"algorithm": codec.name},
        "crc32_stored": f"0x{header.crc32:08x}" if crc_mode else None,
        "crc32_computed": None,
        "hw_sig": f"0x{header.hw_sig:08x}",
        "device": {
            "access": device.access,
            "pages": device.nr_pages,
            "resume_offset": resume_offset,
            "orig_sig": header.orig_sig.rstrip(b"\0").decode(errors="replace"),
            "swap_version": version,
            "swap_last_page": last_page,
            "swap_uuid": uuid.hex(),
            "first_map_page": header.image,
            "map_pages": len(swap_map.map_pages),
            "image_swap_pages": len(swap_map.entries),
            "lowest_swap_page": int(used[0]),
            "highest_swap_page": int(used[-1]),
            "extents": int(np.count_nonzero(np.diff(used) != 1)) + 1,
        },
    }
    return image

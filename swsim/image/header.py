"""The header page: ``struct swsusp_info``, swsim edition (docs/image-format.md, page 0).

:meth:`ImageHeader.unpack` is the one place a header is validated: magic, version, its CRC,
the consistency of its counts, the flags this swsim knows, the size bound and the machine
description, in that order; everything after it trusts the header's numbers.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

from swsim import __version__
from swsim.errors import ImageError, MachineError
from swsim.image.digest import digest_for_flags
from swsim.image.format import (
    FLAG_NAMES,
    FLAG_NO_DATA,
    FLAG_ZERO_PAGES,
    FORMAT_VERSION,
    HEADER,
    HEADER_CRC_OFFSET,
    IMAGE_MAGIC,
    KNOWN_FLAGS,
    MACHINE_DESC_MAX,
    MACHINE_DESC_OFFSET,
    MAX_FRAMES,
    header_zero_ranges,
)
from swsim.image.info import ImageInfo
from swsim.kernel.constants import PAGE_SIZE, nr_meta_pages
from swsim.machine.file import parse_machine
from swsim.machine.model import Machine

#: ``ImageInfo.format`` of a swsim image.
FORMAT_NAME = "swsim"
#: The release string records the suspend model after this marker (the kernel records its
#: own release in ``struct swsusp_info``'s ``uts``).
SUSPEND_MARKER = " suspend="


def suspend_kernel_of(release: str) -> str:
    """The suspend model a release string names (``none`` for images before it was recorded)."""
    _, found, kernel = release.partition(SUSPEND_MARKER)
    return kernel if found and kernel else "none"


@dataclass(frozen=True)
class ImageHeader:
    """The header page: what ``load_header()`` / ``check_header()`` look at."""

    num_physpages: int
    image_pages: int
    nr_meta_pages: int
    nr_data_pages: int
    machine: Machine
    identity: bytes
    flags: int = 0
    cpus: int = 1
    release: str = f"swsim {__version__}"
    version: int = FORMAT_VERSION

    @property
    def pages(self) -> int:
        """``pages`` of struct swsusp_info: header + metadata + data pages."""
        return 1 + self.nr_meta_pages + self.nr_data_pages

    @property
    def size(self) -> int:
        """``image_size`` of struct swsusp_info: ``pages`` in bytes."""
        return self.pages * PAGE_SIZE

    @property
    def nr_stored_pages(self) -> int:
        """Data pages present in the stream: none in a ``--no-data`` image."""
        return 0 if self.flags & FLAG_NO_DATA else self.nr_data_pages

    @property
    def stream_pages(self) -> int:
        """Pages before swsim's tail (checksum pages, trailer): ``pages`` unless ``--no-data``."""
        return 1 + self.nr_meta_pages + self.nr_stored_pages

    @property
    def nr_zero_pages(self) -> int:
        """Image pages stored as a flagged metadata entry only (no data page)."""
        return self.image_pages - self.nr_data_pages

    @property
    def suspend_kernel(self) -> str:
        """The suspend model that made the image (``none``: no model)."""
        return suspend_kernel_of(self.release)

    @classmethod
    def for_machine(
        cls, machine: Machine, image_pages: int, flags: int = 0, nr_zero_pages: int = 0,
        suspend_kernel: str = "none",
    ) -> ImageHeader:
        """The header of an image of ``image_pages`` pages of ``machine``, made by the
        suspend model ``suspend_kernel``."""
        if nr_zero_pages:
            flags |= FLAG_ZERO_PAGES
        release = f"swsim {__version__}"
        if suspend_kernel != "none":
            release += SUSPEND_MARKER + suspend_kernel
        return cls(
            release=release,
            num_physpages=machine.frames,
            image_pages=image_pages,
            nr_meta_pages=nr_meta_pages(image_pages),
            nr_data_pages=image_pages - nr_zero_pages,
            machine=machine,
            identity=machine.identity(),
            flags=flags,
        )

    def info(self) -> ImageInfo:
        """The neutral view the resume side reads."""
        return ImageInfo(
            format=FORMAT_NAME,
            num_physpages=self.num_physpages,
            image_pages=self.image_pages,
            nr_meta_pages=self.nr_meta_pages,
            nr_data_pages=self.nr_data_pages,
            zero_page_flags=bool(self.flags & FLAG_ZERO_PAGES),
            has_data=not self.flags & FLAG_NO_DATA,
            machine=self.machine,
            suspend_kernel=self.suspend_kernel,
        )

    def describe(self) -> dict[str, Any]:
        """The header's fields for ``swsim inspect``, in the order it shows them."""
        return {
            "version": self.version,
            "flags": self.flags,
            "flag_names": [name for bit, name in FLAG_NAMES.items() if self.flags & bit],
            "zero_page_encoding": bool(self.flags & FLAG_ZERO_PAGES),
            "release": self.release,
            "suspend_kernel": self.suspend_kernel,
            "machine": self.machine.name,
            "identity": self.identity.hex(),
            "num_physpages": self.num_physpages,
            "cpus": self.cpus,
            "image_pages": self.image_pages,
            "nr_meta_pages": self.nr_meta_pages,
            "nr_data_pages": self.nr_data_pages,
            "nr_zero_pages": self.nr_zero_pages,
            "pages": self.pages,
            "size": self.size,
            "digest_algorithm": digest_for_flags(self.flags).name,
        }

    def pack(self) -> bytes:
        """The header page, its CRC32 in its last four bytes."""
        desc = zlib.compress(self.machine.dumps().encode(), 9)
        if len(desc) > MACHINE_DESC_MAX:
            raise MachineError(
                f"machine description too large for the image header "
                f"({len(desc)} bytes compressed, at most {MACHINE_DESC_MAX})"
            )
        page = bytearray(PAGE_SIZE)
        HEADER.pack_into(
            page, 0, IMAGE_MAGIC, self.version, PAGE_SIZE, self.num_physpages,
            self.image_pages, self.pages, self.size, self.nr_meta_pages, self.nr_data_pages,
            self.flags, self.cpus, self.identity, len(desc), self.release.encode()[:64],
        )
        page[MACHINE_DESC_OFFSET : MACHINE_DESC_OFFSET + len(desc)] = desc
        struct.pack_into("<I", page, HEADER_CRC_OFFSET, zlib.crc32(page))
        return bytes(page)

    @classmethod
    def unpack(cls, page: bytes) -> ImageHeader:
        """Parse and check a header page; every inconsistency is an :class:`ImageError`."""
        if len(page) < PAGE_SIZE:
            raise ImageError("truncated image: the header page is incomplete")
        if page[:8] != IMAGE_MAGIC:
            raise ImageError("not an swsim image (bad magic in the header page)")
        (_, version, page_size, num_physpages, image_pages, pages, size, meta, data, flags,
         cpus, identity, desc_len, release) = HEADER.unpack_from(page, 0)
        if version != FORMAT_VERSION:
            raise ImageError(f"unsupported image format version {version} (this swsim reads 1)")
        (crc,) = struct.unpack_from("<I", page, HEADER_CRC_OFFSET)
        if zlib.crc32(bytes(page[:HEADER_CRC_OFFSET]) + b"\0\0\0\0") != crc:
            raise ImageError("corrupted image: header checksum mismatch")
        if page_size != PAGE_SIZE:
            raise ImageError(f"image page size {page_size} is not {PAGE_SIZE}")
        data_ok = data <= image_pages if flags & FLAG_ZERO_PAGES else data == image_pages
        if meta != nr_meta_pages(image_pages) or not data_ok:
            raise ImageError(
                f"corrupted image: header counts disagree ({image_pages} image pages, "
                f"{meta} metadata pages, {data} data pages)"
            )
        if pages != 1 + meta + data or size != pages * PAGE_SIZE:
            raise ImageError("corrupted image: header pages/size fields disagree")
        if image_pages > num_physpages:
            raise ImageError("corrupted image: more image pages than page frames")
        if not 0 < desc_len <= MACHINE_DESC_MAX:
            raise ImageError("corrupted image: bad machine description length")
        for start, end in header_zero_ranges(desc_len):
            if any(page[start:end]):
                raise ImageError(
                    f"corrupted image: non-zero bytes in the header's unused bytes {start}-"
                    f"{end - 1}"
                )
        text, nul, padding = bytes(release).partition(b"\0")
        if any(padding):
            raise ImageError("corrupted image: the header's release field is not NUL-padded")
        try:
            desc = zlib.decompress(page[MACHINE_DESC_OFFSET : MACHINE_DESC_OFFSET + desc_len])
            machine = parse_machine(desc, where="image machine description")
        except (zlib.error, MachineError) as exc:
            raise ImageError(f"corrupted image: bad machine description ({exc})") from None
        if machine.frames != num_physpages or machine.identity() != identity:
            raise ImageError("corrupted image: machine description does not match the header")
        unknown = flags & ~KNOWN_FLAGS
        if unknown:
            raise ImageError(f"unsupported image: unknown header flags 0x{unknown:x}")
        if num_physpages > MAX_FRAMES:
            raise ImageError(
                f"corrupted image: {num_physpages} page frames is beyond the largest machine "
                f"swsim simulates ({MAX_FRAMES})"
            )
        if image_pages == 0:
            raise ImageError("corrupted image: it holds no pages")
        return cls(
            num_physpages=num_physpages, image_pages=image_pages, nr_meta_pages=meta,
            nr_data_pages=data, machine=machine, identity=identity, flags=flags, cpus=cpus,
            release=text.decode(errors="replace"), version=version,
        )

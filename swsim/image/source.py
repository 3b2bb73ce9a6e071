"""The seam between an image and the resume side: :class:`ImageSource` and :func:`open_image`.

An image source is an image being read once, front to back: its :class:`ImageInfo`, its header
page as stored, its metadata pages, its data pages (read into buffers the caller may supply),
and the checks that ran. The resume side, the strategies and the runs read images only through
it, so a second format plugs in here without touching them.

:func:`open_image` recognises the codec by its magic (:mod:`swsim.image.codecs`), then the
format by the magic of its first page (:data:`FORMATS`). Nothing is allocated from an image's
numbers before its header has been validated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from swsim.errors import ImageError
from swsim.image.auth import auth_failures
from swsim.image.checks import ImageChecks
from swsim.image.codecs import open_image_stream
from swsim.image.codecs.base import read_head
from swsim.image.format import IMAGE_MAGIC
from swsim.image.info import ImageInfo
from swsim.image.reader import CountingInput, SwsimImage
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray


class DataBatches(Protocol):
    """An image's data pages in batches, read ahead (close it to stop early)."""

    def __iter__(self) -> Iterator[PageArray]:
        """Itself."""

    def __next__(self) -> PageArray:
        """The next batch; the previous one may be overwritten from now on."""

    def close(self) -> None:
        """Stop reading (idempotent)."""


class ImageSource(Protocol):
    """An image being read front to back (see the module docstring)."""

    #: the image's page counts and encoding, from its validated header
    info: ImageInfo
    #: what has been checked so far (codec, signature, block CRCs, authentication)
    checks: ImageChecks
    #: whether a key was given: then every image error is an authentication failure
    keyed: bool
    #: page 0 as stored, for the handle's buffer
    header_page: bytes

    def describe(self) -> dict[str, Any]:
        """The format's header fields, in the order ``swsim inspect`` shows them."""

    def iter_meta_pages(self) -> Iterator[bytes]:
        """The ``info.nr_meta_pages`` metadata pages, in order (after the header page)."""

    def iter_data(self) -> DataBatches:
        """The data pages in ``(n, PAGE_SIZE)`` batches, each checked as it is read and valid
        until the next is asked for (a small ring of buffers is reused: nothing is kept)."""

    def finish(self, pfn_of: Callable[[int], int]) -> ImageChecks:
        """After the data: every remaining check (``pfn_of(i)``: data page ``i``'s pfn)."""

    def authenticate_rest(self) -> None:
        """Read the rest unprocessed and check it is authentic (with a key)."""

    def close(self) -> None:
        """Stop what reading started (threads); the pass that read the source calls it."""


#: ``open(input, first_page, key, checks)``: the source of an image in one format.
FormatOpener = Callable[[CountingInput, bytes, "bytes | None", "ImageChecks | None"], ImageSource]


@dataclass(frozen=True)
class ImageFormat:
    """An image format: the magic its first page holds, where, and how to read it."""

    name: str
    magic: bytes
    offset: int
    open: FormatOpener

    def recognises(self, first_page: bytes) -> bool:
        """Whether ``first_page`` (a whole page) carries this format's magic."""
        return len(first_page) == PAGE_SIZE and (
            first_page[self.offset : self.offset + len(self.magic)] == self.magic
        )


def _linux_swap(
    data: CountingInput, first_page: bytes, key: bytes | None, checks: ImageChecks | None,
    resume_offset: int = 0,
) -> ImageSource:
    """A swap device holding a kernel image (:mod:`swsim.image.linux`, loaded when needed)."""
    from swsim.image.linux.source import open_linux_swap

    return open_linux_swap(data, first_page, key, checks, resume_offset)


def _snapshot_stream(
    data: CountingInput, first_page: bytes, key: bytes | None, checks: ImageChecks | None
) -> ImageSource:
    """A /dev/snapshot stream (:mod:`swsim.image.linux`, loaded when needed)."""
    from swsim.image.linux.source import open_snapshot_stream

    return open_snapshot_stream(data, first_page, key, checks)


#: Every image format swsim reads, tried in order on the first page: swsim's own; a swap
#: device with a kernel image (``S1SUSPEND``), or a swap area without one (``_linux_swap`` says
#: so); a /dev/snapshot stream (x86-64's ``RESTORE_MAGIC`` at offset 24 of its header page).
FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("swsim", IMAGE_MAGIC, 0, SwsimImage),
    ImageFormat("linux-swap", b"S1SUSPEND\0", PAGE_SIZE - 10, _linux_swap),
    ImageFormat("swap-area", b"SWAPSPACE2", PAGE_SIZE - 10, _linux_swap),
    ImageFormat("swap-area-v1", b"SWAP-SPACE", PAGE_SIZE - 10, _linux_swap),
    ImageFormat("snapshot-stream", (0x23456789ABCDEF02).to_bytes(8, "little"), 24,
                _snapshot_stream),
)


def open_image(
    stream: BinaryIO, key: bytes | None = None, checks: ImageChecks | None = None,
    resume_offset: int = 0,
) -> ImageSource:
    """Start reading the image in ``stream`` (any codec, any format): its header is read and
    validated. With ``key`` the image must be signed with it, and every error is an
    :class:`~swsim.errors.AuthError`. ``checks``, if given, is the record filled as the checks
    pass (else ``source.checks`` is a new one). ``resume_offset`` (the kernel's
    ``resume_offset=``, in pages): ``stream`` is a swap device whose signature page is there."""
    with auth_failures(key is not None):
        data = CountingInput(open_image_stream(stream))
        if data.codec == "none":
            data.origin = stream
        first_page = read_head(data, PAGE_SIZE)
        if resume_offset:
            return _linux_swap(data, first_page, key, checks, resume_offset)
        for image_format in FORMATS:
            if image_format.recognises(first_page):
                return image_format.open(data, first_page, key, checks)
        raise _not_an_image(first_page)


def _not_an_image(first_page: bytes) -> ImageError:
    """Why no format recognises ``first_page``: a bad magic, or a stream too short to tell."""
    if len(first_page) == PAGE_SIZE:
        return ImageError(
            "not an swsim image (bad magic in the header page), nor a kernel image (no "
            "S1SUSPEND signature at page 0; --resume-offset N reads it at page N)"
        )
    if first_page and not IMAGE_MAGIC.startswith(first_page[: len(IMAGE_MAGIC)]):
        return ImageError("not an swsim image (too short, and no swsim magic)")
    return ImageError(
        f"truncated image: stream ended in the header page ({len(first_page)} of {PAGE_SIZE} "
        "bytes read)"
    )

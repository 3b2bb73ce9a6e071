"""What every codec provides: an :class:`ImageInput` to read an image through, and a writer.

Readers never seek: a codec is recognised by the magic at the start of the stream, and the
bytes read to sniff it are handed to the codec's reader to be given out first, so files and
pipes behave the same. Every reader offers ``read(n)`` and ``readinto(buffer)``, which fills the
caller's buffer directly (no intermediate copy of the bulk).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeAlias, cast

from swsim.errors import InvalidValue
from swsim.kernel.types import PageArray

#: What ``readinto`` fills: a writable, C-contiguous buffer.
WritableBuffer: TypeAlias = bytearray | memoryview | PageArray


class Readable(Protocol):
    """Anything with ``read(n)``: a binary stream, or an :class:`ImageInput`."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; empty at the end."""


class ImageInput(Protocol):
    """The decoded bytes of an image: ``read(n)``, ``readinto`` and a bound on their total."""

    #: the codec's name (``none``, ``zstd``)
    codec: str

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer only at the end; -1: all)."""

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer``; fewer bytes only at the end, 0 at the end."""

    def set_limit(self, nbytes: int) -> None:
        """Refuse to produce more than ``nbytes`` in all (the size the image header declares)."""


@dataclass(frozen=True)
class Codec:
    """One way an image may be stored: its name, its magic, its levels, its reader and writer."""

    #: ``--compress`` value, and ``ImageChecks.codec``
    name: str
    #: the bytes a stream in this codec starts with (empty: the raw image, the fallback)
    magic: bytes
    #: compression levels it takes
    levels: range
    #: ``open_input(head, stream)``: read ``stream``, whose first bytes ``head`` were sniffed
    open_input: Callable[[bytes, BinaryIO], ImageInput]
    #: ``open_output(out, level, threads)``: a stream whose bytes reach ``out`` encoded
    open_output: Callable[[BinaryIO, int, int], AbstractContextManager[BinaryIO]]
    #: the most worker threads its writer takes (0: it has none)
    max_threads: int = 0
    #: whether the first bytes of a stream are this codec's (default: they start with
    #: ``magic``); zstd also begins with a skippable frame's magic
    starts: Callable[[bytes], bool] | None = None

    def recognises(self, head: bytes) -> bool:
        """Whether a stream beginning with ``head`` is in this codec (never for the raw one)."""
        if self.starts is not None:
            return self.starts(head)
        return bool(self.magic) and head.startswith(self.magic)

    def check_options(self, level: int, threads: int) -> None:
        """Refuse a level this codec does not take, or a number of threads outside
        0..``max_threads``."""
        if level not in self.levels:
            raise InvalidValue(
                "level", f"must be between {self.levels.start} and {self.levels.stop - 1}"
            )
        if not 0 <= threads <= self.max_threads:
            if not self.max_threads:
                raise InvalidValue("threads", f"must be 0 ({self.name} has no worker threads)")
            raise InvalidValue(
                "threads", f"must be between 0 (no worker threads) and {self.max_threads}"
            )


def fill_buffer(readinto: Callable[[memoryview], int | None], view: memoryview) -> int:
    """Call ``readinto`` until ``view`` is full or it gives nothing; the bytes written."""
    got = 0
    while got < len(view):
        count = readinto(view[got:])
        if not count:
            break
        got += count
    return got


def byte_view(buffer: WritableBuffer) -> memoryview:
    """A flat writable byte view of ``buffer`` (a bytearray, memoryview, numpy array...)."""
    # numpy's stubs declare ndarray's buffer protocol (__buffer__) for Python 3.12+ only
    return memoryview(cast(bytearray, buffer)).cast("B")


def read_head(stream: Readable, nbytes: int) -> bytes:
    """The next ``nbytes`` of ``stream`` (fewer only if it ends first)."""
    head = b""
    while len(head) < nbytes:
        chunk = stream.read(nbytes - len(head))
        if not chunk:
            break
        head += chunk
    return head

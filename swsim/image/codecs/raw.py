"""The raw image, stored as it is (``--compress none``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from swsim.image.codecs.base import Codec, WritableBuffer, byte_view, fill_buffer
from swsim.image.codecs.zstd import ZSTD_LEVELS


class RawImageReader:
    """The input unchanged, with the bytes read to sniff the magic pushed back in front."""

    codec = "none"

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream
        self._stream_readinto: Callable[[memoryview], int | None] = getattr(
            stream, "readinto", self._copy_into
        )

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (the pushed-back head first; -1: all)."""
        if not self._head:
            return self._stream.read(size)
        head = self._head
        if 0 <= size < len(head):
            self._head = head[size:]
            return head[:size]
        self._head = b""
        if size == len(head):
            return head
        return head + (self._stream.read(-1 if size < 0 else size - len(head)) or b"")

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer`` from the input (the pushed-back head first); 0 only at its end."""
        view = byte_view(buffer)
        got = min(len(self._head), len(view))
        view[:got] = self._head[:got]
        self._head = self._head[got:]
        return got + fill_buffer(self._stream_readinto, view[got:])

    def _copy_into(self, view: memoryview) -> int:
        """``readinto`` for a stream that only has ``read``."""
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)

    @property
    def pending(self) -> int:
        """Bytes read to sniff the magic and not handed out yet."""
        return len(self._head)

    def set_limit(self, nbytes: int) -> None:
        """A raw reader asks for exact byte counts already; nothing to bound."""


@contextlib.contextmanager
def raw_output(out: BinaryIO, level: int, threads: int) -> Iterator[BinaryIO]:
    """``out`` itself."""
    yield out


#: The raw image. It compresses nothing, but takes the levels zstd takes (and ignores them),
#: so that a ``--level`` valid for the default compressor stays valid with ``--compress none``.
RAW = Codec("none", b"", ZSTD_LEVELS, RawImageReader, raw_output)

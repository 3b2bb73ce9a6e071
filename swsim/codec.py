"""zstd compression of whole images: detection by magic, a bounded decompressing reader, a writer.

A compressed image is a standard zstd stream (one or more frames) of the raw image, so
``zstd -d`` turns it into a raw image and ``zstd`` turns a raw image into a compressed one.
The kernel compresses differently (kernel/power/swap.c: LZO or LZ4 blocks of ``UNC_PAGES`` =
32 pages, each with a length header); swsim compresses the whole stream so that standard tools
interoperate.

Readers never seek: the magic is sniffed from the first bytes and pushed back, so files and
pipes behave the same. python-zstandard's streaming readers return short output on truncated
input without raising; :class:`ZstdImageReader` drives a ``decompressobj`` itself and raises
:class:`~swsim.errors.ImageError` when the input ends inside a frame. It also bounds what it
produces: each step feeds at most :data:`FEED_BYTES` compressed bytes (at most
``FEED_BYTES * 32768`` bytes out, a zstd block expands at most 128 KiB from 4 bytes), the
window a frame may ask for is capped at :data:`MAX_WINDOW_SIZE`, and once the image header
is known, :meth:`ZstdImageReader.set_limit` caps the total at the size the header declares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import zstandard

from swsim.errors import ImageError, UsageError

#: The zstd frame magic number 0xFD2FB528, little-endian.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Skippable frames: magic 0x184D2A50..0x184D2A5F, then a u32 length.
_SKIPPABLE_HIGH = b"\x2a\x4d\x18"
#: Compressed bytes fed to the decompressor per step before the header's size is known: at most
#: FEED_BYTES * MAX_EXPANSION = 64 MiB out of one step.
FEED_BYTES = 2048
#: The most a zstd stream can expand (a 4-byte RLE block gives 128 KiB).
MAX_EXPANSION = 32768
#: The largest step once the header's size bounds the output (see ``_feed_size``).
MAX_FEED_BYTES = 1 << 20
#: Largest window a frame may require (zstd's own default limit for decompression, 128 MiB).
MAX_WINDOW_SIZE = 1 << 27
#: What ``--compress`` accepts.
COMPRESSORS = ("none", "zstd")
MIN_LEVEL = 1
MAX_LEVEL = 22


class ImageInput(Protocol):
    """What an image reader needs from its input: ``read(n)`` and a total bound."""

    compressed: bool

    def read(self, size: int = -1) -> bytes: ...

    def set_limit(self, nbytes: int) -> None: ...


class RawImageReader:
    """The input unchanged, with the bytes read to sniff the magic pushed back in front."""

    compressed = False

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
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

    def set_limit(self, nbytes: int) -> None:
        """A raw reader asks for exact byte counts already; nothing to bound."""


class ZstdImageReader:
    """Decompress a zstd stream on the fly, refusing truncation, garbage and oversized output."""

    compressed = True

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._stream = stream
        self._pending = head  # compressed bytes read but not yet fed
        self._dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
        self._dobj = self._dctx.decompressobj()
        self._out = bytearray()
        self._produced = 0
        self._limit: int | None = None
        self._finished = False

    def set_limit(self, nbytes: int) -> None:
        """Refuse to decompress more than ``nbytes`` in total (the header's declared size)."""
        self._limit = nbytes
        self._check_limit()

    def _check_limit(self) -> None:
        if self._limit is not None and self._produced > self._limit:
            raise ImageError(
                "corrupted image: the zstd stream decompresses to more than the "
                f"{self._limit} bytes its header declares"
            )

    def _feed_size(self) -> int:
        """Compressed bytes for the next step: with a limit, as many as cannot expand beyond
        what the limit still allows (by more than one minimal step)."""
        if self._limit is None:
            return FEED_BYTES
        room = max(self._limit - self._produced, 0) // MAX_EXPANSION
        return max(FEED_BYTES, min(MAX_FEED_BYTES, room))

    def _fill(self, size: int) -> None:
        while len(self._out) < size and not self._finished:
            feed = self._feed_size()
            if not self._pending:
                self._pending = self._stream.read(feed)
                if not self._pending:
                    self._at_eof()
                    return
            if self._dobj.eof:
                self._next_frame()
                continue
            chunk, self._pending = self._pending[:feed], self._pending[feed:]
            try:
                data = self._dobj.decompress(chunk)
            except zstandard.ZstdError as exc:
                raise ImageError(f"corrupted compressed image ({exc})") from None
            if self._dobj.eof:
                self._pending = self._dobj.unused_data + self._pending
            self._out += data
            self._produced += len(data)
            self._check_limit()

    def _next_frame(self) -> None:
        """After a frame: another frame, a skippable frame, or garbage."""
        while len(self._pending) < 8:
            more = self._stream.read(FEED_BYTES)
            if not more:
                break
            self._pending += more
        if self._pending[:4] == ZSTD_MAGIC:
            self._dobj = self._dctx.decompressobj()
            return
        if self._pending[1:4] == _SKIPPABLE_HIGH and self._pending[0] & 0xF0 == 0x50:
            skip = 8 + int.from_bytes(self._pending[4:8], "little")
            while len(self._pending) < skip:
                more = self._stream.read(FEED_BYTES)
                if not more:
                    raise ImageError("truncated image: the zstd stream ends in a skippable frame")
                self._pending += more
            self._pending = self._pending[skip:]
            if not self._pending:
                self._pending = self._stream.read(FEED_BYTES)
                if not self._pending:
                    self._finished = True
            return
        raise ImageError("corrupted image: unexpected bytes after the end of the zstd frame")

    def _at_eof(self) -> None:
        if not self._dobj.eof:
            raise ImageError("truncated image: the zstd stream ends in the middle of a frame")
        self._finished = True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            while not self._finished:
                self._fill(len(self._out) + FEED_BYTES)
            size = len(self._out)
        self._fill(size)
        data = bytes(self._out[:size])
        del self._out[:size]
        return data


def _read_head(stream: BinaryIO, nbytes: int) -> bytes:
    head = b""
    while len(head) < nbytes:
        chunk = stream.read(nbytes - len(head))
        if not chunk:
            break
        head += chunk
    return head


def open_image_stream(stream: BinaryIO) -> ImageInput:
    """The raw image bytes of ``stream``, decompressing it if it starts with the zstd magic."""
    head = _read_head(stream, len(ZSTD_MAGIC))
    if head == ZSTD_MAGIC:
        return ZstdImageReader(head, stream)
    return RawImageReader(head, stream)


def check_compress_options(compress: str, level: int, threads: int) -> None:
    """``--compress/--level/--threads``: a usage error for values zstd cannot take."""
    if compress not in COMPRESSORS:
        raise UsageError(f"unknown compressor {compress!r} (choose from: {', '.join(COMPRESSORS)})")
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise UsageError(f"--level must be between {MIN_LEVEL} and {MAX_LEVEL}")
    if threads < 0:
        raise UsageError("--threads must be 0 (no worker threads) or more")


@contextlib.contextmanager
def compressed_output(
    out: BinaryIO, compress: str = "zstd", level: int = 3, threads: int = 0
) -> Iterator[BinaryIO]:
    """A stream whose bytes reach ``out`` zstd-compressed (``compress='none'``: ``out`` itself).

    The frame is finished (with its content checksum) only when the block completes, so an
    interrupted write never leaves a complete-looking frame.
    """
    check_compress_options(compress, level, threads)
    if compress == "none":
        yield out
        return
    cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    writer = cctx.stream_writer(out, closefd=False)
    yield writer  # type: ignore[misc]
    writer.flush(zstandard.FLUSH_FRAME)
    writer.close()

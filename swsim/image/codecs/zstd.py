"""zstd compression of whole images: a checked decompressing reader and a writer.

A compressed image is a standard zstd stream (one or more frames) of the raw image, so
``zstd -d`` turns it into a raw image and ``zstd`` turns a raw image into a compressed one.
The kernel compresses differently (kernel/power/swap.c: LZO or LZ4 blocks of ``UNC_PAGES`` =
32 pages, each with a length header); swsim compresses the whole stream so that standard tools
interoperate.

:class:`ZstdImageReader` pulls from python-zstandard's ``stream_reader``, so what it
decompresses is bounded by what its caller asks for; the compressed bytes pass through a
:class:`~swsim.image.codecs.zstd_frames.FrameWalker` on their way in (that module says why).
The window a frame may ask for is capped at :data:`MAX_WINDOW_SIZE`, and once the image header
is known, :meth:`ZstdImageReader.set_limit` caps the total output at the size the header
declares: a frame header declaring more, or a single byte beyond it, is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO, cast

import zstandard

from swsim.errors import ImageError
from swsim.image.codecs.base import Codec, WritableBuffer, byte_view, fill_buffer
from swsim.image.codecs.zstd_frames import ZSTD_MAGIC, FrameWalker, starts_zstd_stream, too_long

#: Compressed bytes the decompressor asks its source for at a time (eight zstd blocks: each
#: chunk costs the decompressing thread a few Python steps and, read ahead, a hand-over between
#: threads; 1 MiB chunks took 0.03 s less of its CPU than 256 KiB ones for the 1 GiB image).
READ_SIZE = 1 << 20
#: Compressed chunks read ahead of the decompressor (:meth:`ZstdImageReader.read_ahead`): 4 MiB.
READ_AHEAD_CHUNKS = 4
#: Bytes per step of ``read()`` without a size.
READ_ALL_CHUNK = 1 << 20
#: Largest window a frame may require (zstd's own default limit for decompression, 128 MiB).
MAX_WINDOW_SIZE = 1 << 27
#: zstd's compression levels.
ZSTD_LEVELS = range(1, 23)
#: The most worker threads libzstd uses (ZSTDMT_NBWORKERS_MAX on 64-bit systems; it silently
#: uses that many for any larger request, and Python's C int overflows beyond 2**31).
ZSTD_MAX_THREADS = 256


class _WalkedSource:
    """The compressed input as the decompressor pulls it: the sniffed head first, then the
    stream, every byte through a :class:`FrameWalker`.

    From :meth:`read_ahead` on, the stream's chunks are read on a thread of their own (the
    walker still sees them here, in order, as the decompressor asks for them).
    """

    def __init__(self, head: bytes, stream: BinaryIO, walker: FrameWalker) -> None:
        self._head = head
        self._stream = stream
        self._walker = walker
        self._ahead: Iterator[bytes] | None = None
        self._close: Callable[[], None] | None = None

    def read(self, size: int) -> bytes:
        if self._head:
            data, self._head = self._head, b""
        elif self._ahead is not None:
            data = next(self._ahead, b"")  # READ_SIZE, the size the decompressor asks for
        else:
            data = self._stream.read(size)
        if data:
            self._walker.feed(data)
        else:
            self._walker.finish()
        return data

    def read_ahead(self) -> None:
        """Read the rest of a regular file on a thread, :data:`READ_AHEAD_CHUNKS` ahead.

        A file's read cannot block for good (a pipe's can, and :meth:`close` would wait for
        it), so only a regular file is read ahead."""
        try:
            regular = stat.S_ISREG(os.fstat(self._stream.fileno()).st_mode)
        except (OSError, ValueError, AttributeError):  # no descriptor
            regular = False
        if self._ahead is None and regular:
            from swsim.image.worker import read_ahead

            chunks = read_ahead(iter(partial(self._stream.read, READ_SIZE), b""),
                                depth=READ_AHEAD_CHUNKS)
            self._ahead, self._close = chunks, chunks.close

    def close(self) -> None:
        """Stop the reading thread, if any (idempotent): the stream reads as ended."""
        if self._close is not None:
            self._close()
            self._ahead = iter(())


class ZstdImageReader:
    """Decompress a zstd stream on the fly, refusing truncation, garbage and oversized output."""

    codec = "zstd"

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._walker = FrameWalker()
        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
        self._source = _WalkedSource(head, stream, self._walker)
        self._reader = dctx.stream_reader(
            cast(BinaryIO, self._source),
            read_size=READ_SIZE,
            read_across_frames=True,
            closefd=False,
        )
        self._produced = 0
        self._limit: int | None = None
        self._ended = False  # the stream is known to end at the limit

    def read_ahead(self) -> None:
        """From now on read the compressed file on a thread of its own, so that reading it
        (a copy out of the page cache) and decompressing run on two cores; a stream that is no
        regular file is read as before. :meth:`close` stops that thread."""
        self._source.read_ahead()

    def close(self) -> None:
        """Stop the thread :meth:`read_ahead` started (idempotent); the rest of the image can
        be read no further."""
        self._source.close()

    def set_limit(self, nbytes: int) -> None:
        """Refuse to decompress more than ``nbytes`` in total (the header's declared size)."""
        if self._produced > nbytes:
            raise too_long(nbytes)
        self._limit = nbytes
        self._walker.set_limit(nbytes)

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer`` with decompressed bytes; 0 only at the end of the stream."""
        view = byte_view(buffer)
        with _zstd_errors():
            got = fill_buffer(self._reader.readinto, view[: self._room(len(view))])
        self._count(got)
        return got

    def read(self, size: int = -1) -> bytes:
        """``size`` decompressed bytes (fewer only at the end of the stream; -1: all)."""
        if size < 0:
            return b"".join(iter(partial(self.read, READ_ALL_CHUNK), b""))
        room = self._room(size)
        with _zstd_errors():
            data: bytes = self._reader.read(room) if room else b""
        self._count(len(data))
        if 0 < len(data) < room:  # the input has ended; the decompressor may hold more
            data += self.read(room - len(data))
        return data

    def _room(self, size: int) -> int:
        """How many of ``size`` bytes asked for may be produced: up to the limit."""
        return size if self._limit is None else min(size, self._limit - self._produced)

    def _count(self, nbytes: int) -> None:
        """``nbytes`` more were handed out; at the limit the stream must end (one more byte
        is refused, and reading on to the end of the input lets the walker check the last
        frame)."""
        self._produced += nbytes
        if self._produced == self._limit and not self._ended:
            with _zstd_errors():
                if self._reader.read(1):
                    raise too_long(self._produced)
            self._ended = True
            walker = self._walker
            if walker.all_declared and walker.declared != self._produced:
                raise ImageError(
                    "corrupted compressed image (its zstd frames declare "
                    f"{walker.declared} bytes of content, they hold {self._produced})"
                )


@contextlib.contextmanager
def _zstd_errors() -> Iterator[None]:
    """python-zstandard's errors as :class:`ImageError`."""
    try:
        yield
    except zstandard.ZstdError as exc:
        raise ImageError(f"corrupted compressed image ({exc})") from None


@contextlib.contextmanager
def zstd_output(out: BinaryIO, level: int, threads: int) -> Iterator[BinaryIO]:
    """A stream whose bytes reach ``out`` zstd-compressed (with a content checksum).

    The frame is finished only when the block completes, so an interrupted write never leaves
    a complete-looking frame. libzstd failing to allocate its buffers (many ``threads`` under a
    memory limit) is a :class:`MemoryError`.
    """
    try:
        cctx = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        writer = cctx.stream_writer(out, closefd=False)
        stream = cast(BinaryIO, writer)
        yield stream
        stream.close()  # ends the frame (flushing it first would start an empty second one)
    except zstandard.ZstdError as exc:
        if "memory" not in str(exc):
            raise
        raise MemoryError(
            f"zstd at level {level} with {threads} worker thread(s) could not allocate its "
            "buffers"
        ) from None


ZSTD = Codec(
    "zstd", ZSTD_MAGIC, ZSTD_LEVELS, ZstdImageReader, zstd_output, ZSTD_MAX_THREADS,
    starts_zstd_stream,
)

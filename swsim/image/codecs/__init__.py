"""zstd compression of whole images: detection by magic, a checked decompressing reader, a writer.

A compressed image is a standard zstd stream (one or more frames) of the raw image, so
``zstd -d`` turns it into a raw image and ``zstd`` turns a raw image into a compressed one.
The kernel compresses differently (kernel/power/swap.c: LZO or LZ4 blocks of ``UNC_PAGES`` =
32 pages, each with a length header); swsim compresses the whole stream so that standard tools
interoperate.

Readers never seek: the magic is sniffed from the first bytes and pushed back, so files and
pipes behave the same. Both readers offer ``read(n)`` and ``readinto(buffer)``, which fills the
caller's buffer directly (no intermediate copy of the bulk).

:class:`ZstdImageReader` pulls from python-zstandard's ``stream_reader``, so what it
decompresses is bounded by what its caller asks for. That reader returns short output, without
raising, when the input ends inside a frame (a file cut by a few bytes loses only the content
checksum), so the compressed bytes pass through a :class:`_FrameWalker` on their way in: it
follows the frame structure (RFC 8878: frame headers, block headers, checksums, skippable
frames) and raises :class:`~swsim.errors.ImageError` on a stream that ends inside a frame or
goes on with bytes that are no frame. The window a frame may ask for is capped at
:data:`MAX_WINDOW_SIZE`, and once the image header is known,
:meth:`ZstdImageReader.set_limit` caps the total output at the size the header declares: a
frame header declaring more, or a single byte beyond it, is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import BinaryIO, Protocol, TypeAlias, cast

import numpy as np
import zstandard

from swsim.errors import ImageError, UsageError

#: What ``readinto`` fills: a writable, C-contiguous buffer.
WritableBuffer: TypeAlias = bytearray | memoryview | np.ndarray

#: The zstd frame magic number 0xFD2FB528, little-endian.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Skippable frames: magic 0x184D2A50..0x184D2A5F, then a u32 length.
_SKIPPABLE_HIGH = b"\x2a\x4d\x18"
#: Compressed bytes the decompressor asks its source for at a time (two zstd blocks: large
#: enough that the Python calls cost nothing, small enough to stay in cache).
READ_SIZE = 1 << 18
#: Bytes per step of ``read()`` without a size.
READ_ALL_CHUNK = 1 << 20
#: Largest window a frame may require (zstd's own default limit for decompression, 128 MiB).
MAX_WINDOW_SIZE = 1 << 27
#: What ``--compress`` accepts.
COMPRESSORS = ("none", "zstd")
MIN_LEVEL = 1
MAX_LEVEL = 22


class ImageInput(Protocol):
    """What an image reader needs from its input: ``read(n)``, ``readinto`` and a total bound."""

    compressed: bool

    def read(self, size: int = -1) -> bytes: ...

    def readinto(self, buffer: WritableBuffer) -> int: ...

    def set_limit(self, nbytes: int) -> None: ...


def fill_buffer(readinto: Callable[[memoryview], int | None], view: memoryview) -> int:
    """Call ``readinto`` until ``view`` is full or it gives nothing; the bytes written."""
    got = 0
    while got < len(view):
        count = readinto(view[got:])
        if not count:
            break
        got += count
    return got


def _byte_view(buffer: WritableBuffer) -> memoryview:
    """A flat writable byte view of ``buffer`` (a bytearray, memoryview, numpy array...)."""
    # numpy's stubs declare ndarray's buffer protocol (__buffer__) for Python 3.12+ only
    return memoryview(cast(bytearray, buffer)).cast("B")


class RawImageReader:
    """The input unchanged, with the bytes read to sniff the magic pushed back in front."""

    compressed = False

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream
        self._stream_readinto: Callable[[memoryview], int | None] = getattr(
            stream, "readinto", self._copy_into
        )

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

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer`` from the input (the pushed-back head first); 0 only at its end."""
        view = _byte_view(buffer)
        got = min(len(self._head), len(view))
        view[:got] = self._head[:got]
        self._head = self._head[got:]
        return got + fill_buffer(self._stream_readinto, view[got:])

    def _copy_into(self, view: memoryview) -> int:
        """``readinto`` for a stream that only has ``read``."""
        data = self._stream.read(len(view))
        view[: len(data)] = data
        return len(data)

    def set_limit(self, nbytes: int) -> None:
        """A raw reader asks for exact byte counts already; nothing to bound."""


def _too_long(limit: int) -> ImageError:
    """The error for a stream that decompresses to more than ``limit`` bytes."""
    return ImageError(
        "corrupted image: the zstd stream decompresses to more than the "
        f"{limit} bytes its header declares"
    )


def _skippable_magic_start(data: bytes) -> bool:
    """Whether ``data`` (1 to 4 bytes) begins a skippable frame's magic 0x184D2A5?."""
    return data[0] & 0xF0 == 0x50 and _SKIPPABLE_HIGH.startswith(data[1:4])


def _magic_start(data: bytes) -> bool:
    """Whether ``data`` (1 to 4 bytes) begins a zstd or a skippable frame's magic."""
    return ZSTD_MAGIC.startswith(data) or _skippable_magic_start(data)


class _FrameWalker:
    """Follows the frames of a zstd stream (RFC 8878) as its bytes pass, chunk by chunk.

    It reads the headers (frame magic, descriptor and header fields, 3-byte block headers,
    skippable frame sizes) and steps over the rest (block contents, checksums, skippable
    payloads) without looking at it: a few Python steps per block, whatever the chunk sizes.
    """

    def __init__(self) -> None:
        self._skip = 0  # bytes to step over before the next field
        self._want = len(ZSTD_MAGIC)  # size of the next field
        self._field = b""  # the bytes of the next field seen so far
        self._step: Callable[[bytes], None] = self._magic  # parses the field
        self._checksum = False  # whether the current frame ends with a content checksum
        self._size_bytes = 0  # size of its Frame_Content_Size field
        #: the sum of the content sizes the frame headers seen declare
        self.declared = 0
        #: the most the whole stream may decompress to (None: no bound yet)
        self.limit: int | None = None

    def feed(self, data: bytes) -> None:
        """Walk over the next compressed bytes (an :class:`ImageError` if they are no zstd)."""
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                taken = min(self._skip, end - pos)
                self._skip -= taken
            elif self._step == self._block and not self._field and end - pos >= 3:
                pos = self._blocks(data, pos, end)
                continue
            else:
                taken = min(self._want - len(self._field), end - pos)
                self._field += data[pos : pos + taken]
                if len(self._field) == self._want:
                    field, self._field = self._field, b""
                    self._step(field)
            pos += taken
        if self._field and self._step == self._magic and not _magic_start(self._field):
            raise self._garbage()

    @property
    def at_frame_boundary(self) -> bool:
        """Whether the bytes walked so far end exactly where a frame ended (or began)."""
        return self._step == self._magic and not self._skip and not self._field

    def finish(self) -> None:
        """The input ended: refuse it unless it ended at a frame boundary."""
        if not self.at_frame_boundary:
            raise ImageError("truncated image: the zstd stream ends in the middle of a frame")

    def set_limit(self, nbytes: int) -> None:
        """Refuse frame headers declaring more than ``nbytes`` of content in all."""
        self.limit = nbytes
        self._check_declared()

    def _check_declared(self) -> None:
        if self.limit is not None and self.declared > self.limit:
            raise _too_long(self.limit)

    def _expect(self, nbytes: int, step: Callable[[bytes], None], skip: int = 0) -> None:
        """Step over ``skip`` bytes, then hand the next ``nbytes`` to ``step``."""
        self._skip = skip
        self._want = nbytes
        self._step = step

    @staticmethod
    def _garbage() -> ImageError:
        return ImageError("corrupted image: unexpected bytes after the end of the zstd frame")

    def _magic(self, field: bytes) -> None:
        if field == ZSTD_MAGIC:
            self._expect(1, self._descriptor)
        elif _skippable_magic_start(field):
            self._expect(4, self._skippable_size)
        else:
            raise self._garbage()

    def _skippable_size(self, field: bytes) -> None:
        self._expect(len(ZSTD_MAGIC), self._magic, skip=int.from_bytes(field, "little"))

    def _descriptor(self, field: bytes) -> None:
        """Frame_Header_Descriptor: the sizes of the header fields that follow it."""
        descriptor = field[0]
        if descriptor & 0x08:
            raise ImageError("corrupted compressed image (reserved bit set in a zstd frame header)")
        single_segment = descriptor >> 5 & 1
        self._checksum = bool(descriptor & 0x04)
        self._size_bytes = (single_segment, 2, 4, 8)[descriptor >> 6]
        window_bytes = 1 - single_segment
        dictionary_bytes = (0, 1, 2, 4)[descriptor & 0x03]
        # never 0: without Single_Segment_flag there is a Window_Descriptor, with it a size
        self._expect(window_bytes + dictionary_bytes + self._size_bytes, self._header_fields)

    def _header_fields(self, field: bytes) -> None:
        """Window_Descriptor, Dictionary_ID, Frame_Content_Size: only the last one matters."""
        if self._size_bytes:
            size = int.from_bytes(field[-self._size_bytes :], "little")
            self.declared += size + 256 if self._size_bytes == 2 else size
            self._check_declared()
        self._expect(3, self._block)

    def _block(self, field: bytes) -> None:
        """Block_Header: Last_Block, Block_Type, Block_Size; then the block's content."""
        header = int.from_bytes(field, "little")
        content = _block_content(header)
        if header & 1:
            self._expect(len(ZSTD_MAGIC), self._magic, skip=content + 4 * self._checksum)
        else:
            self._expect(3, self._block, skip=content)

    def _blocks(self, data: bytes, pos: int, end: int) -> int:
        """:meth:`_block` for the block headers lying whole in ``data`` from ``pos`` on, in
        one loop (most of a stream's walking); returns where it stopped."""
        while end - pos >= 3:
            header = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
            content = _block_content(header)
            pos += 3
            if header & 1 or end - pos < content:
                self._block(data[pos - 3 : pos])
                return pos
            pos += content
        return pos


def _block_content(header: int) -> int:
    """The bytes a zstd block with this 3-byte header holds after it (an RLE block: one)."""
    block_type = header >> 1 & 0x03
    if block_type == 3:
        raise ImageError("corrupted compressed image (reserved zstd block type)")
    return 1 if block_type == 1 else header >> 3


class _WalkedSource:
    """The compressed input as the decompressor pulls it: the sniffed head first, then the
    stream, every byte through a :class:`_FrameWalker`."""

    def __init__(self, head: bytes, stream: BinaryIO, walker: _FrameWalker) -> None:
        self._head = head
        self._stream = stream
        self._walker = walker

    def read(self, size: int) -> bytes:
        data = self._head or self._stream.read(size)
        self._head = b""
        if data:
            self._walker.feed(data)
        else:
            self._walker.finish()
        return data


class ZstdImageReader:
    """Decompress a zstd stream on the fly, refusing truncation, garbage and oversized output."""

    compressed = True

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._walker = _FrameWalker()
        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
        self._reader = dctx.stream_reader(
            cast(BinaryIO, _WalkedSource(head, stream, self._walker)),
            read_size=READ_SIZE,
            read_across_frames=True,
            closefd=False,
        )
        self._produced = 0
        self._limit: int | None = None
        self._ended = False  # the stream is known to end at the limit

    def set_limit(self, nbytes: int) -> None:
        """Refuse to decompress more than ``nbytes`` in total (the header's declared size)."""
        if self._produced > nbytes:
            raise _too_long(nbytes)
        self._limit = nbytes
        self._walker.set_limit(nbytes)

    def readinto(self, buffer: WritableBuffer) -> int:
        """Fill ``buffer`` with decompressed bytes; 0 only at the end of the stream."""
        view = _byte_view(buffer)
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
                    raise _too_long(self._produced)
            self._ended = True


@contextlib.contextmanager
def _zstd_errors() -> Iterator[None]:
    """python-zstandard's errors as :class:`ImageError`."""
    try:
        yield
    except zstandard.ZstdError as exc:
        raise ImageError(f"corrupted compressed image ({exc})") from None


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

"""Following a zstd stream's frames as its compressed bytes pass (RFC 8878), and why.

python-zstandard's ``stream_reader`` returns short output, without raising, when its input ends
inside a frame: a compressed image cut by a few bytes would lose only its content checksum, and
a cut inside a block would read as a short image whose error names the wrong cause. So every
compressed byte passes through a :class:`FrameWalker` on its way to the decompressor: it follows
the frame structure (frame headers, block headers, checksums, skippable frames), stepping over
block contents without looking at them (a few Python steps per 128 KiB block), and raises
:class:`~swsim.errors.ImageError` on a stream that ends inside a frame or goes on with bytes
that are no frame. It also sums the content sizes the frame headers declare, so that a header
declaring more than the image may hold is refused before anything is decompressed.

It is also where swsim is as strict as the zstd format where libzstd's streaming decoder is
not: a frame whose last block is empty ends without libzstd comparing what it decoded with
the frame's Frame_Content_Size (``zstd -t`` refuses such a frame; python-zstandard's stream
reader passes it). The walker knows the size of raw and RLE blocks without decoding them, so
for a frame made only of those (swsim's own writer's empty frames, ``zstd`` on incompressible
data) it compares the content size field with the blocks; a frame with compressed blocks and
a non-empty last block is checked by libzstd; and the whole stream, when every frame declares
its size, must decompress to exactly the sum (:attr:`FrameWalker.all_declared`,
:class:`~swsim.image.codecs.zstd.ZstdImageReader`). What is left unchecked: a stream of several
frames with compressed blocks, each ending in an empty block, whose content sizes are wrong
and add up right.
"""

from __future__ import annotations

from collections.abc import Callable

from swsim.errors import ImageError

#: The zstd frame magic number 0xFD2FB528, little-endian.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Skippable frames: magic 0x184D2A50..0x184D2A5F, then a u32 length.
_SKIPPABLE_HIGH = b"\x2a\x4d\x18"


def too_long(limit: int) -> ImageError:
    """The error for a stream that decompresses to more than ``limit`` bytes."""
    return ImageError(
        "corrupted image: the zstd stream decompresses to more than the "
        f"{limit} bytes its header declares"
    )


def _skippable_magic_start(data: bytes) -> bool:
    """Whether ``data`` (1 to 4 bytes) begins a skippable frame's magic 0x184D2A5?."""
    return data[0] & 0xF0 == 0x50 and _SKIPPABLE_HIGH.startswith(data[1:4])


def starts_zstd_stream(head: bytes) -> bool:
    """Whether ``head`` (4 bytes or more) begins a zstd stream: a zstd frame, or a skippable
    frame (``zstd -d`` accepts a stream that begins with one; so does swsim)."""
    return head.startswith(ZSTD_MAGIC) or (len(head) >= 4 and _skippable_magic_start(head))


def _magic_start(data: bytes) -> bool:
    """Whether ``data`` (1 to 4 bytes) begins a zstd or a skippable frame's magic."""
    return ZSTD_MAGIC.startswith(data) or _skippable_magic_start(data)


class FrameWalker:
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
        self._content_size: int | None = None  # its Frame_Content_Size, if it has one
        self._known = 0  # bytes its raw and RLE blocks decode to
        self._opaque = False  # whether it has a compressed block (whose size only libzstd knows)
        #: the sum of the content sizes the frame headers seen declare
        self.declared = 0
        #: whether every frame seen declares its content size (then ``declared`` is exact)
        self.all_declared = True
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
            raise too_long(self.limit)

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
        self._content_size = None
        self._known = 0
        self._opaque = False
        if self._size_bytes:
            size = int.from_bytes(field[-self._size_bytes :], "little")
            self._content_size = size + 256 if self._size_bytes == 2 else size
            self.declared += self._content_size
            self._check_declared()
        else:
            self.all_declared = False
        self._expect(3, self._block)

    def _block(self, field: bytes) -> None:
        """Block_Header: Last_Block, Block_Type, Block_Size; then the block's content."""
        header = int.from_bytes(field, "little")
        content = self._block_content(header)
        if header & 1:
            self._check_content_size()
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
            self._count_block(header)
            pos += content
        return pos

    def _block_content(self, header: int) -> int:
        """:func:`_block_content`, counting what the block decodes to."""
        content = _block_content(header)
        self._count_block(header)
        return content

    def _count_block(self, header: int) -> None:
        """Add a raw or RLE block's decoded size to the frame's (Block_Size, either way)."""
        if header >> 1 & 0x03 == 2:
            self._opaque = True
        else:
            self._known += header >> 3

    def _check_content_size(self) -> None:
        """At a frame's last block: a frame of raw and RLE blocks only must hold what its
        Frame_Content_Size says (RFC 8878 3.1.1.1.4)."""
        if self._content_size is not None and not self._opaque:
            if self._known != self._content_size:
                raise ImageError(
                    "corrupted compressed image (a zstd frame declares "
                    f"{self._content_size} bytes of content, its blocks hold {self._known})"
                )


def _block_content(header: int) -> int:
    """The bytes a zstd block with this 3-byte header holds after it (an RLE block: one)."""
    block_type = header >> 1 & 0x03
    if block_type == 3:
        raise ImageError("corrupted compressed image (reserved zstd block type)")
    return 1 if block_type == 1 else header >> 3



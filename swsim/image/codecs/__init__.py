"""How an image is stored: a registry of codecs keyed by their magic.

A reader sniffs the first bytes of a stream and picks the codec whose magic they start with,
else reads the image raw (:func:`open_image_stream`); a writer encodes with the codec named
(:func:`compressed_output`). Adding a codec (lz4, lzo...) is one module defining a
:class:`~swsim.image.codecs.base.Codec` and one line in :data:`CODECS`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import BinaryIO

from swsim.errors import choose
from swsim.image.codecs.base import Codec, ImageInput, read_head
from swsim.image.codecs.raw import RAW
from swsim.image.codecs.zstd import ZSTD

#: Every codec by name (``--compress``), the raw one first.
CODECS: dict[str, Codec] = {codec.name: codec for codec in (RAW, ZSTD)}
#: Bytes to sniff to recognise any codec's magic.
_SNIFF = max(len(codec.magic) for codec in CODECS.values())


def codec_by_name(name: str) -> Codec:
    """The codec called ``name`` (an :class:`~swsim.errors.UnknownChoice` if none is)."""
    return choose("compressor", name, CODECS)


def open_image_stream(stream: BinaryIO) -> ImageInput:
    """The image bytes of ``stream``, decoded by the codec whose magic it starts with."""
    head = read_head(stream, _SNIFF)
    for codec in CODECS.values():
        if codec.recognises(head):
            return codec.open_input(head, stream)
    return RAW.open_input(head, stream)


def check_compress_options(compress: str, level: int, threads: int) -> None:
    """A usage error for a codec, level or thread count the codec cannot take."""
    codec_by_name(compress).check_options(level, threads)


def compressed_output(
    out: BinaryIO, compress: str = "zstd", level: int = 3, threads: int = 0
) -> AbstractContextManager[BinaryIO]:
    """A stream whose bytes reach ``out`` encoded with ``compress`` (``none``: ``out``)."""
    codec = codec_by_name(compress)
    codec.check_options(level, threads)
    return codec.open_output(out, level, threads)

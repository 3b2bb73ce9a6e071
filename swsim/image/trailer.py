"""The trailer page: the digest of every byte before it and, when signed, the HMAC.

Every byte of it is checked (:func:`check_trailer`), so no byte of an image can change
unnoticed: the fields, the digest algorithm against the header's flags, the digest, the zero
rest of the digest field, and zero padding after the MAC field.
"""

from __future__ import annotations

from swsim.errors import ImageError
from swsim.image.digest import DigestAlgorithm, digest_title
from swsim.image.format import (
    FORMAT_VERSION,
    MAC_SIZE,
    TRAILER,
    TRAILER_MAC_OFFSET,
    TRAILER_MAGIC,
)
from swsim.kernel.constants import PAGE_SIZE


def pack_trailer(algo: DigestAlgorithm, digest: bytes, pages: int, mac: bytes = b"") -> bytes:
    """The trailer page: ``algo``'s digest of everything before it (zero-padded to the
    digest field), then the MAC of a signed image."""
    assert len(digest) == algo.size, "a digest of the algorithm the trailer names"
    page = bytearray(PAGE_SIZE)
    TRAILER.pack_into(page, 0, TRAILER_MAGIC, FORMAT_VERSION, algo.trailer_id, pages, digest)
    page[TRAILER_MAC_OFFSET : TRAILER_MAC_OFFSET + len(mac)] = mac
    return bytes(page)


def check_trailer(algo: DigestAlgorithm, page: bytes, digest: bytes, pages: int) -> bytes:
    """Check the trailer page against ``algo``'s digest computed while reading; return its MAC
    field (which :func:`swsim.image.auth.check_mac` checks)."""
    if len(page) < PAGE_SIZE:
        raise ImageError("truncated image: the trailer page is missing or incomplete")
    magic, version, trailer_id, covered, stored = TRAILER.unpack_from(page, 0)
    if magic != TRAILER_MAGIC or version != FORMAT_VERSION:
        raise ImageError("corrupted image: bad trailer page")
    if trailer_id != algo.trailer_id:
        raise ImageError(
            f"corrupted image: bad trailer page (digest algorithm {digest_title(trailer_id)}, "
            f"but the header flags say {algo.title})"
        )
    if covered != pages:
        raise ImageError("corrupted image: trailer page count does not match the header")
    if stored[: algo.size] != digest:
        raise ImageError("corrupted image: digest mismatch (the image was changed or damaged)")
    if any(stored[algo.size :]):
        raise ImageError(f"corrupted image: non-zero bytes after the {algo.title} digest")
    if any(page[TRAILER_MAC_OFFSET + MAC_SIZE :]):
        raise ImageError("corrupted image: non-zero padding in the trailer page")
    return bytes(page[TRAILER_MAC_OFFSET : TRAILER_MAC_OFFSET + MAC_SIZE])

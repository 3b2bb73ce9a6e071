"""The trailer digest: which hash covers every byte before the trailer page.

The digest is unkeyed: anyone who changes an image can recompute it, so it only detects
accidental damage (a bad disk, a truncated copy, a flipped bit). For that a fast
non-cryptographic 128-bit hash is as good as SHA-256 (zstd's own content checksum is XXH64);
authenticity is the HMAC-SHA256 of a signed image (:mod:`swsim.image.auth`), which does not
depend on the digest. So swsim writes XXH3-128 by default (it runs at memory speed, many times
faster than SHA-256) and still reads and writes SHA-256 images.

The reader must know the algorithm before the first byte after the header, and the trailer
comes last, so the header says it: flag ``FLAG_DIGEST_XXH3`` set means XXH3-128, clear means
SHA-256 (every image written before XXH3-128 existed). The trailer's algorithm field repeats it
and must agree. The trailer's digest field is ``DIGEST_FIELD_SIZE`` bytes whatever the
algorithm: a shorter digest fills its start and the rest must be zero
(:mod:`swsim.image.format`, docs/image-format.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import xxhash

from swsim.errors import choose
from swsim.image.format import FLAG_DIGEST_XXH3

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

class Hasher(Protocol):
    """What a digest needs of a hash object (``hashlib`` and ``xxhash`` objects have it)."""

    def update(self, data: ReadableBuffer, /) -> None:
        """Feed bytes, a memoryview or a C-contiguous uint8 array, in stream order.

        Any object with the buffer protocol works (typed like ``hashlib``'s ``update``; type
        checkers see numpy arrays as buffers when targeting Python 3.12 or later).
        """

    def digest(self) -> bytes:
        """The digest of everything fed so far."""


@dataclass(frozen=True)
class DigestAlgorithm:
    """One trailer digest algorithm, as the header, the trailer and the CLI name it."""

    #: ``swsim snapshot --digest`` value
    name: str
    #: human name (``swsim inspect``, error messages)
    title: str
    #: the trailer's algorithm field
    trailer_id: int
    #: bytes of the digest (at most :data:`DIGEST_FIELD_SIZE`)
    size: int
    #: header flags that select this algorithm (0: none, the SHA-256 of older images)
    header_flags: int
    factory: Callable[[], Hasher]

    def new(self) -> Hasher:
        """A fresh hash object."""
        return self.factory()


SHA256 = DigestAlgorithm("sha256", "SHA-256", 1, 32, 0, hashlib.sha256)
XXH3_128 = DigestAlgorithm("xxh3", "XXH3-128", 2, 16, FLAG_DIGEST_XXH3, xxhash.xxh3_128)
#: By ``--digest`` name, the default first.
DIGESTS: dict[str, DigestAlgorithm] = {algo.name: algo for algo in (XXH3_128, SHA256)}
DEFAULT_DIGEST = XXH3_128.name


def digest_by_name(name: str) -> DigestAlgorithm:
    """The algorithm called ``name`` (a usage error if there is none)."""
    return choose("digest", name, DIGESTS)


def digest_for_flags(flags: int) -> DigestAlgorithm:
    """The algorithm a header's flags select: XXH3-128 with FLAG_DIGEST_XXH3, else SHA-256."""
    return XXH3_128 if flags & FLAG_DIGEST_XXH3 else SHA256


def digest_title(trailer_id: int) -> str:
    """How to name a trailer's algorithm field in a message, known or not."""
    for algo in DIGESTS.values():
        if algo.trailer_id == trailer_id:
            return algo.title
    return f"unknown algorithm {trailer_id}"

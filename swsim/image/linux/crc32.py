"""The kernel's ``crc32_le(0, ...)`` as swap.c uses it for ``SF_CRC32_MODE``.

``crc32_le`` is the reflected CRC-32 (polynomial 0xEDB88320) *without* the pre- and
post-inversion zlib's ``crc32`` applies; swap.c starts it at 0 and runs it over the
uncompressed bytes of every chunk in order (not the header page). With zlib:
``crc32_le(crc, data) = zlib.crc32(data, crc ^ 0xffffffff) ^ 0xffffffff``.
"""

from __future__ import annotations

import zlib

_MASK = 0xFFFFFFFF


def crc32_le(crc: int, data: bytes | memoryview) -> int:
    """``crc32_le(crc, data, len)`` of lib/crc32.c (no inversion before or after)."""
    return zlib.crc32(data, crc ^ _MASK) ^ _MASK

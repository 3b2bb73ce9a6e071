"""Signed images: HMAC-SHA256 over every byte before the trailer page, keyed by a key file.

The kernel authenticates nothing (that is why lockdown disables hibernation; the 2021-2022
proposals by Matthew Garrett and Evan Green sealed a key in the TPM and were not merged).
swsim models the simplest sound scheme: a signed image sets header flag ``FLAG_SIGNED`` and
stores ``HMAC-SHA256(key, header .. last page before the trailer)`` in the trailer at
``TRAILER_MAC_OFFSET`` (:mod:`swsim.image.format`). With a key, reading refuses an unsigned
image, a wrong key, or any changed byte (exit 6); without one a signed image still restores and
is reported as not authenticated. An unsigned image must have an all-zero MAC field, so no byte
of any image goes unchecked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from typing import BinaryIO

from swsim.errors import AuthError, ImageError, UsageError
from swsim.image.format import FLAG_SIGNED

#: A key file holds raw bytes; fewer than this many is refused as too weak.
MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 1 << 16


def load_key(path: str) -> bytes:
    """The key in the file at ``path`` (raw bytes, used as they are; a usage error if unusable)."""
    try:
        with open(path, "rb") as stream:
            return read_key(stream, f"key file {path}")
    except OSError as exc:
        raise UsageError(f"cannot read key file {path}: {exc.strerror}") from None


def read_key(stream: BinaryIO, where: str) -> bytes:
    """The key held in ``stream`` (a key file, or standard input); ``where`` names it."""
    key = stream.read(MAX_KEY_BYTES + 1)
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"{where} holds {len(key)} byte(s): at least {MIN_KEY_BYTES} are needed")
    if len(key) > MAX_KEY_BYTES:
        raise UsageError(f"{where} is larger than {MAX_KEY_BYTES} bytes")
    return key


def new_mac(key: bytes) -> hmac.HMAC:
    """A fresh HMAC-SHA256 to feed every image byte before the trailer."""
    return hmac.new(key, digestmod=hashlib.sha256)


def is_signed(flags: int) -> bool:
    """Whether a header's flags say the trailer carries an HMAC."""
    return bool(flags & FLAG_SIGNED)


def require_signed(flags: int) -> None:
    """With a key, an unsigned image is refused at once, before anything is allocated."""
    if not is_signed(flags):
        raise AuthError("authentication failed: the image is not signed (no HMAC)")


def check_mac(flags: int, stored: bytes, mac: hmac.HMAC | None) -> bool:
    """Check the trailer's MAC field; return True when the image was authenticated.

    ``mac`` is the HMAC fed with every byte before the trailer, or None without a key.
    """
    if not is_signed(flags):
        if any(stored):
            raise ImageError("corrupted image: MAC field set in an unsigned image's trailer")
        if mac is not None:
            require_signed(flags)
        return False
    if mac is None:
        return False
    if not hmac.compare_digest(mac.digest(), stored):
        raise AuthError(
            "authentication failed: HMAC mismatch (wrong key, or the image was changed)"
        )
    return True


@contextlib.contextmanager
def auth_failures(keyed: bool) -> Iterator[None]:
    """With a key, an image that is not intact is not authentic: ImageError becomes exit 6."""
    try:
        yield
    except ImageError as exc:
        if not keyed:
            raise
        raise AuthError(f"authentication failed: {exc}") from None

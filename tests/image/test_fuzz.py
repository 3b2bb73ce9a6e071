"""Fuzzing: mutated raw, signed and compressed images never verify, never crash.

Most examples run the library's ``restore_image`` in-process (fast); a smaller number go
through the real CLI. ``SWSIM_FUZZ_EXAMPLES`` sets the size (default keeps CI under a minute;
``make fuzz`` runs many more). Examples are derandomized, so every run tries the same inputs.

The oracle: an image whose bytes changed fails, with a documented exit code, unless the change
was *re-sealed* (header CRC, block CRCs and digest recomputed, as a forger would), in which
case it may restore as another image, and must then verify. With the key, every change fails
with exit 6, re-sealed or not.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swsim.kernel.constants import PAGE_SIZE
from swsim.errors import EXIT_AUTH, EXIT_CODES, SwsimError
from swsim.runs.summary import inspect_image
from swsim.resume.restore import restore_image
from tests.conftest import run_swsim
from tests.imagetools import (
    DATA_OFFSET,
    FLAGS_OFFSET,
    IMAGE_PAGES_OFFSET,
    KEY,
    META_OFFSET,
    NUM_PHYSPAGES_OFFSET,
    PAGES_OFFSET,
    SIZE_OFFSET,
    make_image,
    reseal,
    set_header_field,
)

EXAMPLES = int(os.environ.get("SWSIM_FUZZ_EXAMPLES", "400"))
CLI_EXAMPLES = max(4, EXAMPLES // 15)
#: What a bad image may exit with without a key: bad image, ENOMEM (forged pfns), mismatch.
UNKEYED_FAILURES = {3, 4, 5}

RAW = make_image()
SIGNED = make_image(key=KEY)

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLI_FUZZ = settings(FUZZ, max_examples=CLI_EXAMPLES)

HEADER_FIELDS = [
    ("<Q", NUM_PHYSPAGES_OFFSET),
    ("<Q", IMAGE_PAGES_OFFSET),
    ("<Q", PAGES_OFFSET),
    ("<Q", SIZE_OFFSET),
    ("<Q", META_OFFSET),
    ("<Q", DATA_OFFSET),
    ("<I", FLAGS_OFFSET),
]


@dataclass(frozen=True)
class Mutation:
    """One edit of an image; ``sealed`` edits recompute every unkeyed checksum afterwards."""

    kind: str
    args: tuple[int, ...]
    sealed: bool = False

    def apply(self, image: bytes, key: bytes | None = None) -> bytes:
        data = bytearray(image)
        a = self.args
        if self.kind == "flip":
            data[a[0] % len(data)] ^= a[1]
        elif self.kind == "truncate":
            del data[a[0] % len(data) :]
        elif self.kind == "insert":
            offset = a[0] % len(data)
            data[offset:offset] = bytes([a[1]]) * a[2]
        elif self.kind == "delete":
            offset = a[0] % len(data)
            del data[offset : offset + a[1]]
        elif self.kind == "swap":
            nr_pages = max(1, len(data) // PAGE_SIZE)
            first, second = (x % nr_pages * PAGE_SIZE for x in a)
            page = data[first : first + PAGE_SIZE]
            data[first : first + PAGE_SIZE] = data[second : second + PAGE_SIZE]
            data[second : second + PAGE_SIZE] = page
        elif self.kind == "header":
            fmt, offset = HEADER_FIELDS[a[0] % len(HEADER_FIELDS)]
            limit = 1 << (32 if fmt == "<I" else 64)
            data = bytearray(set_header_field(bytes(data), fmt, offset, a[1] % limit))
        elif self.kind == "pfn":
            at = (PAGE_SIZE + 8 * (a[0] % 96)) % max(1, len(data) - 8)
            data[at : at + 8] = (a[1] % (1 << 64)).to_bytes(8, "little")
        elif self.kind == "data":
            data[((2 + a[0] % 92) * PAGE_SIZE + a[1] % PAGE_SIZE) % len(data)] ^= 1 + a[2] % 255
        out = bytes(data)
        # A forger re-seals; with a key they cannot recompute the HMAC, so they keep the old one.
        return reseal(out) if self.sealed else out


offsets = st.integers(min_value=0, max_value=len(RAW) + 100)
mutations = st.one_of(
    st.builds(lambda o, m: Mutation("flip", (o, m)), offsets, st.integers(1, 255)),
    st.builds(lambda o: Mutation("truncate", (o,)), offsets),
    st.builds(lambda o, b, n: Mutation("insert", (o, b, n)), offsets, st.integers(0, 255),
              st.sampled_from([1, 8, PAGE_SIZE])),
    st.builds(lambda o, n: Mutation("delete", (o, n)), offsets, st.sampled_from([1, 8, PAGE_SIZE])),
    st.builds(lambda a, b: Mutation("swap", (a, b)), st.integers(0, 200), st.integers(0, 200)),
    st.builds(lambda f, v, s: Mutation("header", (f, v), s), st.integers(0, 6),
              st.one_of(st.integers(0, 300), st.integers(0, 1 << 64)), st.booleans()),
    st.builds(lambda i, v, s: Mutation("pfn", (i, v), s), st.integers(0, 95),
              st.one_of(st.integers(0, 140), st.integers(0, 1 << 64)), st.booleans()),
    st.builds(lambda p, o, x: Mutation("data", (p, o, x), True), st.integers(0, 91),
              st.integers(0, 4095), st.integers(0, 254)),
)


def outcome(image: bytes, key: bytes | None = None) -> int:
    """Restore in-process: 0 and a verified restore, or the error's exit code."""
    try:
        stats = restore_image(io.BytesIO(image), key=key)
    except SwsimError as exc:
        assert str(exc) and "\n" not in str(exc)
        return exc.exit_code
    assert stats.verified
    return 0


def decompresses_to(packed: bytes) -> bytes | None:
    """What ``zstd -d`` would make of ``packed`` (None: it would refuse it)."""
    dctx = zstandard.ZstdDecompressor()
    try:
        out = b""
        rest = packed
        while rest:
            dobj = dctx.decompressobj()
            out += dobj.decompress(rest)
            if not dobj.eof:
                return None
            rest = dobj.unused_data
        return out
    except zstandard.ZstdError:
        return None


@FUZZ
@given(mutations)
def test_a_mutated_raw_image_fails_cleanly_unless_resealed(mutation: Mutation) -> None:
    mutated = mutation.apply(RAW)
    code = outcome(mutated)
    if mutated == RAW:
        assert code == 0
    elif not mutation.sealed:
        assert code in UNKEYED_FAILURES, mutation
    else:
        assert code in UNKEYED_FAILURES | {0}


@FUZZ
@given(mutations)
def test_with_the_key_every_changed_byte_is_an_authentication_failure(
    mutation: Mutation,
) -> None:
    mutated = mutation.apply(SIGNED)
    code = outcome(mutated, KEY)
    assert code == (0 if mutated == SIGNED else EXIT_AUTH), mutation


@FUZZ
@given(mutations, st.booleans())
def test_a_mutated_compressed_image_fails_cleanly(mutation: Mutation, before: bool) -> None:
    """Mutate the raw image and compress it, or compress and mutate the zstd stream."""
    packed = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(RAW)
    if before:
        mutated = zstandard.ZstdCompressor(level=1).compress(mutation.apply(RAW))
        raw = mutation.apply(RAW)
    else:
        mutated = mutation.apply(packed)
        raw = decompresses_to(mutated) or b""
    code = outcome(mutated)
    if raw == RAW:
        assert code == 0
    elif not (before and mutation.sealed):
        assert code in UNKEYED_FAILURES, mutation


@FUZZ
@given(mutations)
def test_inspect_verify_never_passes_a_changed_unsealed_image(mutation: Mutation) -> None:
    mutated = mutation.apply(SIGNED)
    try:
        inspect_image(io.BytesIO(mutated), KEY, strict=True)
    except SwsimError as exc:
        assert exc.exit_code == EXIT_AUTH
    else:
        assert mutated == SIGNED


@CLI_FUZZ
@given(mutation=mutations, variant=st.sampled_from(["raw", "zstd", "key"]))
def test_the_real_cli_never_shows_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, mutation: Mutation, variant: str
) -> None:
    base = SIGNED if variant == "key" else RAW
    mutated = mutation.apply(base)
    if variant == "zstd":
        mutated = zstandard.ZstdCompressor(level=1).compress(mutated)
    args = ["restore", "-", "--json"]
    if variant == "key":
        keyfile: Path = tmp_path_factory.mktemp("key") / "key"
        keyfile.write_bytes(KEY)
        args += ["--key-file", str(keyfile)]
    proc = run_swsim(*args, input=mutated)
    assert b"Traceback" not in proc.stderr
    assert proc.returncode in EXIT_CODES
    changed = mutation.apply(base) != base
    if proc.returncode == 0:
        assert json.loads(proc.stdout)["verified"] is True
        assert not changed or (mutation.sealed and variant != "key")
    else:
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("swsim: error: "), lines
        assert changed
        if variant == "key":
            assert proc.returncode == EXIT_AUTH

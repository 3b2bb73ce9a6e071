"""Fuzzing: mutated raw, signed and compressed images never verify, never crash.

These examples run the library's restore and inspect in-process (fast); a smaller number go
through the real CLI (tests/cli/test_fuzz.py). ``SWSIM_FUZZ_EXAMPLES`` sets the size (default
keeps CI under a minute; ``make fuzz`` runs many more). Examples are derandomized, so every run
tries the same inputs.

The oracle: an image whose bytes changed fails, with a documented exit code, unless the change
was *re-sealed* (header CRC, block CRCs and digest recomputed, as a forger would), in which
case it may restore as another image, and must then verify. With the key, every change fails
with exit 6, re-sealed or not.
"""

from __future__ import annotations

import zstandard
from hypothesis import given
from hypothesis import strategies as st

from swsim.errors import EXIT_AUTH, SwsimError
from tests.campaign import tally
from tests.helpers import outcome, summarize
from tests.imagetools import (
    FUZZ_EXAMPLES,
    KEY,
    RAW,
    SIGNED,
    Mutation,
    decompresses_to,
    fuzz_settings,
    mutations,
)

#: What a bad image may exit with without a key: bad image, ENOMEM (forged pfns), mismatch.
UNKEYED_FAILURES = {3, 4, 5}

FUZZ = fuzz_settings(FUZZ_EXAMPLES)


def record(
    kind: str, mutation: Mutation, code: int, changed: bool, *, keyed: bool = False,
    sealed: bool | None = None,
) -> None:
    """Count the case in the campaign's ledger (tests/campaign/tally.py): a changed image
    restored is a failure unless resealed without a key (it is then another, consistent
    image)."""
    sealed = mutation.sealed if sealed is None else sealed
    if code != 0:
        tally.record(kind, tally.of_code(code))
    elif not changed:
        tally.record(kind, "ok")
    elif sealed and not keyed:
        tally.record(kind, "ok, resealed")
    else:
        tally.record(kind, "VERIFIED MUTATION")


@FUZZ
@given(mutations)
def test_a_mutated_raw_image_fails_cleanly_unless_resealed(mutation: Mutation) -> None:
    mutated = mutation.apply(RAW)
    code = outcome(mutated)
    record("library: raw image", mutation, code, mutated != RAW)
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
    record("library: signed image, key", mutation, code, mutated != SIGNED, keyed=True)
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
    record("library: zstd image", mutation, code, raw != RAW, sealed=before and mutation.sealed)
    if raw == RAW:
        assert code == 0
    elif not (before and mutation.sealed):
        assert code in UNKEYED_FAILURES, mutation


@FUZZ
@given(mutations)
def test_inspect_verify_never_passes_a_changed_unsealed_image(mutation: Mutation) -> None:
    mutated = mutation.apply(SIGNED)
    try:
        summarize(mutated, KEY, strict=True)
    except SwsimError as exc:
        record("library: inspect --verify, key", mutation, exc.exit_code, True, keyed=True)
        assert exc.exit_code == EXIT_AUTH
    else:
        record("library: inspect --verify, key", mutation, 0, mutated != SIGNED, keyed=True)
        assert mutated == SIGNED

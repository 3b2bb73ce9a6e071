"""Fuzzing through the real CLI: a mutated image never makes ``python -m swsim`` print a
traceback, and every exit is a documented code with one error line.

These run as real processes (the interpreter's own traceback printing is what is tested); the
library fuzz tests (tests/image/test_fuzz.py) run many more examples in-process.
``SWSIM_FUZZ_EXAMPLES`` sets the size, as there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from swsim.errors import EXIT_AUTH, EXIT_CODES
from tests.campaign import tally
from tests.helpers import run_swsim
from tests.imagetools import FUZZ_EXAMPLES, KEY, RAW, SIGNED, Mutation, fuzz_settings, mutations

CLI_EXAMPLES = max(4, FUZZ_EXAMPLES // 15)

CLI_FUZZ = fuzz_settings(CLI_EXAMPLES)


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
    changed = mutation.apply(base) != base
    if b"Traceback" in proc.stderr:
        name = "TRACEBACK"
    elif proc.returncode == 0 and changed:
        name = "ok, resealed" if mutation.sealed and variant != "key" else "VERIFIED MUTATION"
    else:
        name = tally.of_code(proc.returncode)
    tally.record(f"cli: {variant} image", name)
    assert b"Traceback" not in proc.stderr
    assert proc.returncode in EXIT_CODES
    if proc.returncode == 0:
        assert json.loads(proc.stdout)["verified"] is True
        assert not changed or (mutation.sealed and variant != "key")
    else:
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("swsim: error: "), lines
        assert changed
        if variant == "key":
            assert proc.returncode == EXIT_AUTH

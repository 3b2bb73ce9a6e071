"""SIGINT, SIGTERM and SIGHUP at random (seeded) moments: one line, 130 / 143 / 129, the old
output kept and no temporary file left; or, when the signal comes too late, a complete output
and exit 0 (issue 14, item 2).

Each run is a real process whose SIGINT is at its default disposition (:func:`run_hostile`),
signalled a seeded random time after it has imported ``swsim.cli.fileio``, the first module
``main()`` imports once its handlers are in place: the moments cover the rest of the imports
(click, numpy, zstandard, the command), the work and the exit. (Before that point Python's own
start-up runs, which no program of Python's can word: docs/exit-codes.md.)
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from swsim.image.writer import WriteOptions, write_image
from tests.campaign import tally
from tests.campaign.hostile import judge, run_hostile, stray_files
from tests.helpers import run_cli, swsim_env, tiny_machine
from tests.imagetools import FUZZ_EXAMPLES

#: Big enough (3,000 pages, 12 MB) that a signal often lands in the middle of the work.
MACHINE = tiny_machine(4096, ((256, 3256),), used=((3500, 3600),), reserved=((0, 256),))
OLD = b"the previous output, which must survive\n"
#: Runs per signal: a few in ``make test``, many more in ``make fuzz``.
CASES = max(4, FUZZ_EXAMPLES // 50)
MESSAGES = {
    signal.SIGINT: "swsim: interrupted",
    signal.SIGTERM: "swsim: terminated (SIGTERM)",
    signal.SIGHUP: "swsim: hung up (SIGHUP)",
}
COMMANDS = {
    "snapshot -o FILE": ["snapshot", "--machine", "m.json", "-o", "out"],
    "snapshot zstd -o FILE": ["snapshot", "--machine", "m.json", "--compress=zstd", "-o", "out"],
    "snapshot to a pipe": ["snapshot", "--machine", "m.json"],
    "restore --trace FILE": ["restore", "img", "--trace", "out", "--json"],
    "restore - (stdin)": ["restore", "-", "--json"],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals")
    (path / "m.json").write_text(MACHINE.dumps())
    image = io.BytesIO()
    write_image(MACHINE, image, WriteOptions())
    (path / "img").write_bytes(image.getvalue())
    trace = run_cli("restore", "img", "--trace", "trace.ref", "--json", cwd=path)
    assert trace.returncode == 0, trace.stderr
    return path


def complete(workdir: Path, label: str, stdout: bytes) -> bool:
    """Whether the output of a run that ended normally is whole."""
    image = (workdir / "img").read_bytes()
    if label == "snapshot to a pipe":
        return stdout == image
    out = (workdir / "out").read_bytes()
    if label.startswith("snapshot zstd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(out) == image
    if label == "restore - (stdin)":
        return json.loads(stdout)["verified"] is True
    if label.startswith("restore"):
        return out == (workdir / "trace.ref").read_bytes()
    return out == image


@pytest.mark.parametrize("sig", list(MESSAGES), ids=[s.name for s in MESSAGES])
def test_a_stop_signal_at_a_random_moment(workdir: Path, sig: signal.Signals) -> None:
    rng = random.Random(f"signals-{sig.name}")
    for case in range(CASES):
        label = rng.choice(sorted(COMMANDS))
        after = rng.uniform(0.0, 1.2)
        (workdir / "out").write_bytes(OLD)
        stdin = workdir / "img" if label == "restore - (stdin)" else None
        run = run_hostile(COMMANDS[label], workdir, stdin_file=stdin, send=sig, after=after,
                          wait_for_import="swsim.cli.fileio")
        outcome = judge(run, expect_codes={0, 128 + sig})
        if stray_files(workdir):
            outcome = "STRAY FILE"
        tally.record(f"signal {sig.name}: {label}", outcome)
        where = (case, label, after, run.returncode, run.lines)
        assert outcome in ("ok", f"exit {128 + sig}"), where
        if run.returncode == 0:
            assert complete(workdir, label, run.stdout), where
        else:  # the old output, or (the signal came after the rename) the new one, whole
            assert run.lines == [MESSAGES[sig]], where
            if label not in ("snapshot to a pipe", "restore - (stdin)"):
                assert (workdir / "out").read_bytes() == OLD or complete(workdir, label, b""), where


SWALLOWED_STOP = """
import os, signal, sys, weakref
from swsim.cli import main as entry

class Owner:
    pass

run = entry._run

def run_with_a_stop_in_a_callback(args):
    # the signal's handler runs inside a weakref callback, where Python can only print
    # "Exception ignored" (as when SIGTERM lands in the import system's module-lock callback)
    owner = Owner()
    ref = weakref.ref(owner, lambda _: os.kill(os.getpid(), signal.SIGTERM) or sum(range(99)))
    del owner
    run(args)

entry._run = run_with_a_stop_in_a_callback
sys.argv = ["swsim", "--version"]
entry.main()
"""


def test_a_stop_python_swallows_still_ends_the_run_as_stopped() -> None:
    """A stop signal handled inside a weakref callback cannot unwind the run; the run ends
    whole, then exits 143 with its one line, and no "Exception ignored" traceback."""
    proc = subprocess.run([sys.executable, "-c", SWALLOWED_STOP], capture_output=True,
                          env=swsim_env(), check=False)
    assert proc.returncode == 143
    assert proc.stderr.decode().splitlines() == ["swsim: terminated (SIGTERM)"]

"""Closed standard streams, memory limits and huge numbers: one line and a documented exit
code, never a traceback, never a silent success (issue 14, items 3 and 7).

Closed streams and memory limits need real processes (:func:`run_hostile` closes the
descriptors and sets ``RLIMIT_AS`` in the child, as ``<&-`` and ``prlimit --as`` do); option
values run in-process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swsim.errors import EXIT_UNEXPECTED, EXIT_USAGE
from tests.campaign import tally
from tests.campaign.hostile import judge, run_hostile, stray_files
from tests.helpers import run_cli
from tests.imagetools import SMALL, make_image

IMAGE = make_image(SMALL, zero_pages="skip")
#: An address-space limit every run on SMALL fits in (python, numpy, zstd: about 150 MB).
LIMIT_AS = 512 << 20
#: ... and the resident memory such a run needs, at most.
FITS_KIB = 256 << 10


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streams")
    (path / "m.json").write_text(SMALL.dumps())
    (path / "img").write_bytes(IMAGE)
    (path / "somedir").mkdir()
    return path


CLOSED_STREAMS = [
    # (closed descriptors, arguments, exit code, the error line)
    ((0,), ["restore", "-"], EXIT_USAGE, "cannot read standard input: it is closed"),
    ((0,), ["inspect", "-"], EXIT_USAGE, "cannot read standard input: it is closed"),
    ((0,), ["compare", "-", "--json"], EXIT_USAGE, "cannot read standard input: it is closed"),
    ((1,), ["snapshot", "--machine", "m.json"], EXIT_USAGE,
     "cannot write standard output: it is closed"),
    ((1,), ["restore", "img", "--json"], EXIT_USAGE, "cannot write standard output: it is closed"),
    ((1,), ["restore", "img"], EXIT_USAGE, "cannot write standard output: it is closed"),
    ((1,), ["compare", "img", "--json"], EXIT_USAGE, "cannot write standard output: it is closed"),
    ((1,), ["inspect", "img"], EXIT_USAGE, "cannot write standard output: it is closed"),
    ((1,), ["machine", "--preset", "default"], EXIT_USAGE,
     "cannot write standard output: it is closed"),
    ((0, 1), ["restore", "-", "--json"], EXIT_USAGE, "cannot read standard input: it is closed"),
    # what does not need the closed stream runs as usual
    ((1,), ["snapshot", "--machine", "m.json", "-o", "out.img"], 0, None),
    ((0,), ["restore", "img", "--trace", "t.txt", "--no-data", "--strategy", "claim"], None, None),
]


@pytest.mark.parametrize(("close", "args", "code", "line"), CLOSED_STREAMS,
                         ids=[f"{c} {' '.join(a)}" for c, a, _, _ in CLOSED_STREAMS])
def test_a_closed_standard_stream(
    workdir: Path, close: tuple[int, ...], args: list[str], code: int | None, line: str | None
) -> None:
    run = run_hostile(args, workdir, close=close)
    outcome = tally.record("closed standard stream", judge(run))
    assert stray_files(workdir) == []
    if code is None:  # stdout is open: the report is printed, stdin is not needed
        assert outcome == "ok", run.lines
        return
    assert run.returncode == code, run.lines
    assert run.lines == ([f"swsim: error: {line}"] if line else []), run.lines
    if code == 0:
        assert (workdir / "out.img").read_bytes() == IMAGE


def test_a_closed_standard_error_keeps_the_exit_code(workdir: Path) -> None:
    run = run_hostile(["restore", "missing.img"], workdir, close=(2,))
    tally.record("closed standard stream", tally.of_code(run.returncode))
    assert run.returncode == EXIT_USAGE
    ok = run_hostile(["restore", "img", "--json"], workdir, close=(2,))
    assert ok.returncode == 0 and json.loads(ok.stdout)["verified"] is True


def test_a_directory_as_standard_input_is_refused_by_python_itself(workdir: Path) -> None:
    """``swsim restore - < somedir``: the interpreter refuses before swsim runs (exit 1, its
    own lines: docs/exit-codes.md). An IMAGE argument that is a directory is swsim's to word."""
    run = run_hostile(["restore", "-"], workdir, stdin_file=workdir / "somedir")
    tally.record("closed standard stream", tally.of_code(run.returncode))
    assert run.returncode == EXIT_UNEXPECTED
    assert "<stdin> is a directory, cannot continue" in run.stderr.decode()
    proc = run_cli("restore", "somedir", cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot read somedir: Is a directory"
    ]


MEMORY_RUNS = [
    (["restore", "img", "--json"], 0),
    (["compare", "img", "--json"], 0),
    (["snapshot", "--machine", "m.json", "--compress=zstd", "--threads", "2", "-o", "o.zst"], 0),
    (["inspect", "img", "--json"], 0),
]


@pytest.mark.parametrize(("args", "code"), MEMORY_RUNS, ids=[" ".join(a) for a, _ in MEMORY_RUNS])
def test_runs_fit_an_address_space_limit(workdir: Path, args: list[str], code: int) -> None:
    run = run_hostile(args, workdir, limit_as=LIMIT_AS)
    outcome = tally.record("memory limit (prlimit --as)", judge(run, fits_kib=FITS_KIB))
    assert outcome == tally.of_code(code), (run.lines, run.maxrss_kib)


def test_many_zstd_threads_under_a_memory_limit_is_one_line(workdir: Path) -> None:
    run = run_hostile(["snapshot", "--machine", "m.json", "--compress=zstd", "--threads", "256",
                       "-o", "x.zst"], workdir, limit_as=LIMIT_AS)
    tally.record("memory limit (prlimit --as)", judge(run))
    assert run.returncode == EXIT_UNEXPECTED
    assert run.lines == ["swsim: error: out of host memory: zstd at level 3 with 256 worker "
                         "thread(s) could not allocate its buffers"]
    assert stray_files(workdir) == [] and not (workdir / "x.zst").exists()


HUGE = ["-1", str(2**64), str(10**30), str(-(2**70))]
BAD_VALUES = [
    *(["snapshot", "--machine", "m.json", "-o", "x", "--seed", v] for v in HUGE),
    *(["restore", "img", "--seed", v] for v in HUGE),
    *(["compare", "img", "--seed", v] for v in HUGE),
    *(["machine", "--generate", "--seed", v] for v in HUGE),
    ["snapshot", "--machine", "m.json", "-o", "x", "--compress=zstd", "--threads", str(2**40)],
    ["snapshot", "--machine", "m.json", "-o", "x", "--compress=zstd", "--threads", "257"],
    ["snapshot", "--machine", "m.json", "-o", "x", "--compress=zstd", "--threads", "-1"],
    ["snapshot", "--machine", "m.json", "-o", "x", "--compress=zstd", "--level", str(2**70)],
    ["snapshot", "--machine", "m.json", "-o", "x", "--level", "3"],
    ["snapshot", "--machine", "m.json", "-o", "x", "--threads", "2"],
    ["snapshot", "--machine", "m.json", "-o", "x", "--compress=none", "--level", "3"],
    ["restore", "img", "--trace", ""],
    ["snapshot", "--machine", "m.json", "-o", ""],
    ["machine", "--preset", "default", "-o", ""],
    ["restore", "img", "--trace", "-"],
]


@pytest.mark.parametrize("args", BAD_VALUES, ids=" ".join)
def test_a_bad_or_huge_value_is_one_line(workdir: Path, args: list[str]) -> None:
    proc = run_cli(*args, cwd=workdir)
    lines = proc.stderr.decode().splitlines()
    tally.record("huge number, option doing nothing", tally.of_code(proc.returncode))
    assert proc.returncode == EXIT_USAGE, lines
    assert len(lines) == 1 and lines[0].startswith("swsim: error: "), lines
    assert not (workdir / "x").exists()


@pytest.mark.parametrize("seed", ["0", str(2**64 - 1)])
def test_snapshot_and_restore_take_the_same_seeds(workdir: Path, seed: str) -> None:
    snap = run_cli("snapshot", "--machine", "m.json", "-o", "s.img", "--seed", seed, cwd=workdir)
    assert snap.returncode == 0, snap.stderr
    proc = run_cli("restore", "s.img", "--seed", seed, "--allocator", "random", "--json",
                   cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verified"] is True

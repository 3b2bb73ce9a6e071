"""Test helpers: tiny machines, in-memory images, restores in one call, and the CLI run in-process
(:func:`run_cli`) or as a real process (:func:`run_swsim`).

Test modules import from here (and from :mod:`tests.imagetools`), never from ``conftest.py``
or from one another.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from swsim.errors import SwsimError
from swsim.image.source import ImageSource, open_image
from swsim.image.writer import WriteOptions, write_image
from swsim.machine.model import ContentSpec, Machine
from swsim.resume.restore import RestoreOptions, restore_run
from swsim.resume.strategies.base import Strategy
from swsim.resume.strategies.safe_list import SafeList
from swsim.runs.summary import ImageSummary, summarize_image

if TYPE_CHECKING:
    from swsim.image.checks import ImageChecks
    from swsim.kernel.types import PfnArray
    from swsim.resume.context import ResumeContext
    from swsim.resume.stats import RestoreStats

#: The checkout: the directory holding swsim/, tests/ and docs/.
ROOT = Path(__file__).resolve().parents[1]


# -- machines and images ----------------------------------------------------------------------
def tiny_machine(
    frames: int,
    saveable: tuple[tuple[int, int], ...],
    used: tuple[tuple[int, int], ...] = (),
    reserved: tuple[tuple[int, int], ...] = (),
    seed: int = 7,
) -> Machine:
    """A machine of ``frames`` frames: ``reserved`` is both reserved at boot and nosave."""
    return Machine(
        frames=frames,
        saveable=saveable,
        boot_used=used,
        boot_reserved=reserved,
        nosave=reserved,
        content=ContentSpec(seed=seed),
        name="tiny",
    )


def image_bytes(machine: Machine, options: WriteOptions | None = None) -> bytes:
    """The image of ``machine`` as :func:`swsim.image.writer.write_image` writes it (with
    ``options``, by default the defaults)."""
    out = io.BytesIO()
    write_image(machine, out, options or WriteOptions())
    return out.getvalue()


def image_bytes_zero(machine: Machine, zero_pages: str) -> bytes:
    """The image of ``machine`` with zero pages ``skip``-ped or ``store``-d."""
    return image_bytes(machine, WriteOptions(zero_pages=zero_pages))


def random_machine(
    draw: Callable[..., Any], max_frames: int = 2048, zero: float | None = None
) -> Machine:
    """A small machine drawn by hypothesis (``draw`` is ``st.data().draw`` or a composite's).

    Segments of memory are saved, saved and used by the boot kernel, free, used or reserved
    (never saved); a free tail of twice the image plus room for the bitmaps is added on top, so
    every strategy has the memory it needs.
    """
    from hypothesis import strategies as st

    d = draw
    frames = d(st.integers(64, max_frames))
    cuts = sorted(set(d(st.lists(st.integers(1, frames - 1), max_size=10))))
    bounds = [0, *cuts, frames]
    saveable: list[tuple[int, int]] = []
    used: list[tuple[int, int]] = []
    reserved: list[tuple[int, int]] = []
    kinds = st.sampled_from(["save", "save_used", "free", "used", "reserved"])
    for start, end in zip(bounds, bounds[1:], strict=False):
        kind = d(kinds)
        if kind.startswith("save"):
            saveable.append((start, end))
        if kind in ("save_used", "used"):
            used.append((start, end))
        if kind == "reserved":
            reserved.append((start, end))
    if not saveable:
        saveable.append((bounds[0], bounds[1]))
        if reserved and reserved[0][0] == 0:
            reserved.pop(0)
    nr_saved = sum(e - s for s, e in saveable)
    total = frames + 2 * nr_saved + 256
    zero_fraction = d(st.sampled_from([0.0, 0.3, 1.0])) if zero is None else zero
    machine = Machine(
        frames=total,
        saveable=tuple(saveable),
        boot_used=tuple(used),
        boot_reserved=tuple(reserved),
        nosave=tuple(reserved),
        content=ContentSpec(seed=d(st.integers(0, 2**16)), zero=zero_fraction, text=0.0),
        name="random",
    )
    if zero is None and zero_fraction == 1.0:
        machine = replace(machine, content=replace(machine.content, zero=0.999))
    return with_a_data_page(machine)


def with_a_data_page(machine: Machine) -> Machine:
    """``machine``, or if every saved page of it is zero the same with no zero page: a kernel
    refuses an image with no data page at all (``load_image()``: -ENODATA,
    tests/image/test_zero_pages.py), and random machines are drawn to restore."""
    from swsim.machine.content import KIND_ZERO, page_kinds

    if (page_kinds(machine.content, machine.saveable_pfns()) == KIND_ZERO).all():
        return replace(machine, content=replace(machine.content, zero=0.0))
    return machine


# -- the library in one call ----------------------------------------------------------------
def _stream(image: bytes | BinaryIO) -> BinaryIO:
    return io.BytesIO(image) if isinstance(image, bytes | bytearray) else image


def open_source(
    image: bytes | BinaryIO, key: bytes | None = None, checks: ImageChecks | None = None
) -> ImageSource:
    """:func:`swsim.image.source.open_image` of an image in memory or a stream."""
    return open_image(_stream(image), key, checks)


def restore_with_context(
    image: bytes | BinaryIO,
    strategy: str = "safe-list",
    *,
    key: bytes | None = None,
    checks: ImageChecks | None = None,
    **options: Any,
) -> tuple[RestoreStats, ResumeContext, PfnArray]:
    """Open and restore ``image`` with ``strategy``: its counts, boot context and image pfns.

    ``options`` are :class:`~swsim.resume.restore.RestoreOptions` fields. Opening is part of
    the call, so a bad header raises here, as a restore would.
    """
    source = open_source(image, key, checks)
    run = restore_run(source, RestoreOptions(strategy=strategy, **options))
    return run.stats, run.ctx, run.pfns


def restore_image(
    image: bytes | BinaryIO,
    strategy: str = "safe-list",
    *,
    key: bytes | None = None,
    checks: ImageChecks | None = None,
    **options: Any,
) -> RestoreStats:
    """:func:`restore_with_context`, the counts only."""
    return restore_with_context(image, strategy, key=key, checks=checks, **options)[0]


def summarize(
    image: bytes | BinaryIO, key: bytes | None = None, strict: bool = False
) -> ImageSummary:
    """Open and summarise ``image`` (what ``swsim inspect`` shows)."""
    return summarize_image(open_source(image, key), strict=strict)


# -- the command line ---------------------------------------------------------------------------
@dataclass
class CliResult:
    """What a run of the CLI left, like :class:`subprocess.CompletedProcess`."""

    args: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes


@contextlib.contextmanager
def _working_directory(cwd: Path | None) -> Iterator[None]:
    if cwd is None:
        yield
        return
    old = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(old)


def run_cli(
    *args: str,
    input: bytes | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str | None] | None = None,
) -> CliResult:
    """Run ``swsim ARGS`` in this process: :func:`swsim.cli.main.main` inside click's
    ``CliRunner().isolation()``, with ``input`` on stdin and stdout and stderr captured, in
    ``cwd``. Standard output goes to one ``BytesIO`` (isolation's own copies every byte into a
    second, mixed stream: seconds for an image of hundreds of MB).

    The environment is this process's with ``COLUMNS=120`` (as :func:`run_swsim` sets it),
    ``SWSIM_PROGRESS`` unset and ``env`` on top (a value of None unsets a variable); it is
    restored afterwards, as is the working directory. An exception that escapes ``main()`` (a
    bug: the real command would print a traceback and exit 1) propagates to the test.
    """
    from click.testing import CliRunner

    from swsim.cli.main import main

    overrides: dict[str, str | None] = {
        "COLUMNS": "120",
        "SWSIM_PROGRESS": None,
        # main() sets it for numpy's sake; listed so that isolation() puts it back after.
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    overrides.update(env or {})
    argv = list(args)
    stdout = io.BytesIO()
    with (
        _working_directory(cwd),
        CliRunner().isolation(input=input, env=overrides) as (_, stderr, _),
    ):
        sys.stdout = io.TextIOWrapper(stdout, encoding="utf-8")  # isolation() restores it
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                sys.stderr.write(f"{exc.code}\n")
                code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return CliResult(argv, code, stdout.getvalue(), stderr.getvalue())


def assert_one_line_error(
    proc: CliResult | subprocess.CompletedProcess[bytes], code: int, text: str
) -> None:
    """The run failed with ``code`` and one line on stderr holding ``text``, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert text in err, err


def run_swsim(
    *args: str, input: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m swsim ARGS`` as a real process (this checkout's code).

    For what only a real process shows (the interpreter's own traceback, signals, pipes between
    processes, file descriptors, imports at startup); everything else runs :func:`run_cli`.
    """
    return subprocess.run(
        [sys.executable, "-m", "swsim", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        env=swsim_env(COLUMNS="120"),
        timeout=300,
    )


def swsim_env(**extra: str) -> dict[str, str]:
    """The environment a real ``python -m swsim`` process of this checkout runs in."""
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


class MisplacingSafeList(SafeList):
    """A broken strategy: the last image page goes into a safe page that is never linked
    (batched too: ``get_buffers`` goes through ``get_buffer``). Register it under its name
    with ``monkeypatch.setitem(STRATEGIES, "misplacing", MisplacingSafeList)``."""

    name = "misplacing"

    def get_buffer(self, index: int, pfn: int) -> int:
        if index == self.nr_copy_pages - 1:
            return self.ctx.get_zeroed_page()
        return super().get_buffer(index, pfn)

    def get_buffers(self, start: int, stop: int, pfns: PfnArray) -> PfnArray:
        return Strategy.get_buffers(self, start, stop, pfns)


def outcome(image: bytes, key: bytes | None = None) -> int:
    """Restore in-process: 0 and a verified restore, or the error's exit code."""
    try:
        stats = restore_image(image, key=key)
    except SwsimError as exc:
        assert str(exc) and "\n" not in str(exc)
        return exc.exit_code
    assert stats.verified
    return 0


#: ``python -m swsim``, writing the process's own peak resident memory (VmHWM, KiB) to the
#: file ``$SWSIM_TEST_HWM`` at exit. Not ``wait4()``'s ``ru_maxrss``: a child forked from
#: pytest inherits the forking process's high-water mark across exec, so after a few hundred
#: tests it reports pytest's peak, not swsim's.
PEAK_RSS_WRAPPER = """
import atexit, os, runpy, sys
def peak():
    with open('/proc/self/status') as status:
        line = next(line for line in status if line.startswith('VmHWM:'))
    with open(os.environ['SWSIM_TEST_HWM'], 'w') as out:
        out.write(line.split()[1])
atexit.register(peak)
sys.argv[0] = 'swsim'
runpy.run_module('swsim', run_name='__main__', alter_sys=True)
"""

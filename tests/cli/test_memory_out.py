"""``--memory-out``: the suspended and the restored memory as sparse files, compared with ``cmp``.

``snapshot --memory-out`` writes the saved pages at ``pfn * 4096``, ``restore --memory-out`` the
memory after the final copies the same way (image frames only, every other frame a hole), so
that ``cmp`` (a tool nobody here wrote) proves a restore end to end; and it tells a strategy that
misplaces one page from one that does not.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from swsim.errors import EXIT_BAD_IMAGE, EXIT_USAGE
from swsim.kernel.constants import PAGE_SIZE
from swsim.machine.memory_file import MemoryFile
from swsim.resume.restore import RestoreOptions, restore_run
from swsim.resume.strategies import STRATEGIES
from swsim.suspend.snapshot import take_snapshot
from tests.helpers import MisplacingSafeList, image_bytes, open_source, run_cli, tiny_machine
from tests.imagetools import SMALL

CMP = shutil.which("cmp") or "/usr/bin/cmp"
#: room enough for every strategy; frames the boot kernel uses among the saved ones
MACHINE = tiny_machine(8192, ((100, 1400), (2000, 2300)), used=((300, 600),),
                       reserved=((0, 32),))


def cmp(a: Path, b: Path) -> bool:
    """Whether ``cmp`` finds the two files equal."""
    return subprocess.run([CMP, "-s", str(a), str(b)], check=False).returncode == 0


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "small.json").write_text(json.dumps(SMALL.to_json()))
    (tmp_path / "machine.json").write_text(json.dumps(MACHINE.to_json()))
    return tmp_path


def test_cmp_proves_every_strategy_restores_the_suspended_memory(workdir: Path) -> None:
    proc = run_cli("snapshot", "--machine", "machine.json", "--compress=zstd", "-o", "img.zst",
                   "--memory-out", "suspended.mem", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    suspended = workdir / "suspended.mem"
    assert suspended.stat().st_size == MACHINE.frames * PAGE_SIZE
    for strategy in STRATEGIES:
        for mode in ([], ["--page-by-page"]):
            proc = run_cli("restore", "img.zst", "--strategy", strategy, *mode, "--json",
                           "--memory-out", "restored.mem", cwd=workdir)
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout)["verified"] is True
            assert cmp(suspended, workdir / "restored.mem"), (strategy, mode)


def test_the_memory_file_is_sparse(workdir: Path) -> None:
    proc = run_cli("snapshot", "--machine", "machine.json", "-o", "img",
                   "--memory-out", "suspended.mem", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("restore", "img", "--memory-out", "restored.mem", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    image_pages = json.loads(proc.stdout)["image_pages"]
    for name in ("suspended.mem", "restored.mem"):
        stat = os.stat(workdir / name)
        assert stat.st_size == MACHINE.frames * PAGE_SIZE
        # holes: the blocks allocated hold about the image pages, not the whole memory
        assert stat.st_blocks * 512 < image_pages * PAGE_SIZE + (1 << 20) < stat.st_size, name


def test_a_strategy_that_misplaces_one_page_fails_verification_and_cmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STRATEGIES, "misplacing", MisplacingSafeList)
    # no zero pages: the misplaced last page is data that differs from zeros
    machine = replace(MACHINE, content=replace(MACHINE.content, zero=0.0))
    image = image_bytes(machine)
    with open(tmp_path / "suspended.mem", "w+b") as out:
        take_snapshot(machine).write_memory(MemoryFile(out.fileno(), machine.frames))
    for strategy, verified in (("safe-list", True), ("misplacing", False)):
        for page_by_page in (False, True):
            with open(tmp_path / "restored.mem", "w+b") as out:
                run = restore_run(open_source(io.BytesIO(image)), RestoreOptions(
                    strategy=strategy, page_by_page=page_by_page, memory_out=out))
            assert run.stats.verified is verified
            assert cmp(tmp_path / "suspended.mem", tmp_path / "restored.mem") is verified


def test_memory_out_refuses_standard_output_and_counts_only(workdir: Path) -> None:
    assert run_cli("snapshot", "--machine", "small.json", "-o", "img", cwd=workdir).returncode == 0
    for args in (["restore", "img", "--memory-out", "-"],
                 ["restore", "img", "--no-data", "--memory-out", "m"],
                 ["snapshot", "--machine", "small.json", "-o", "x", "--memory-out", "-"]):
        proc = run_cli(*args, cwd=workdir)
        assert proc.returncode == EXIT_USAGE, args
        assert b"Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (workdir / "m").exists() and not (workdir / "x").exists()


def test_a_bad_image_leaves_no_memory_file(workdir: Path) -> None:
    assert run_cli("snapshot", "--machine", "small.json", "-o", "img", cwd=workdir).returncode == 0
    (workdir / "cut").write_bytes((workdir / "img").read_bytes()[:-PAGE_SIZE * 3])
    proc = run_cli("restore", "cut", "--memory-out", "m", cwd=workdir)
    assert proc.returncode == EXIT_BAD_IMAGE
    assert sorted(p.name for p in workdir.iterdir()) == ["cut", "img", "machine.json",
                                                         "small.json"]


def test_memory_out_refuses_a_fifo_and_leaves_it_a_fifo(workdir: Path) -> None:
    """A FIFO (or a device) is written in place, never replaced; it cannot take writes at
    offsets, so --memory-out refuses it up front: one line, exit 2, and it is still a FIFO."""
    assert run_cli("snapshot", "--machine", "small.json", "-o", "img", cwd=workdir).returncode == 0
    fifo = workdir / "memory.fifo"
    os.mkfifo(fifo)
    for args in (["restore", "img", "--memory-out", str(fifo)],
                 ["snapshot", "--machine", "small.json", "-o", "y", "--memory-out", str(fifo)]):
        proc = run_cli(*args, cwd=workdir)
        assert proc.returncode == EXIT_USAGE, args
        assert proc.stderr.decode().strip().endswith("not as a stream)")
        assert len(proc.stderr.splitlines()) == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not (workdir / "y").exists()

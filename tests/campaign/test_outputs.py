"""Outputs are written into what they name, never replaced by a plain file (issue 14, item 1).

Regular files and new paths are replaced atomically (tests/cli/test_nothing_lost.py); a symbolic
link is followed; devices, FIFOs and open files (/proc/self/fd/N, /dev/stdout, a shell's
``>(...)``) are written in place. Device nodes and FIFOs are made in a temporary directory
(``mknod``, ``mkfifo``), never in the real /dev; /dev/stdout is stood in for by a link in that
directory to /proc/self/fd/1, which is what /dev/stdout is.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from swsim.errors import EXIT_USAGE
from tests.campaign import tally
from tests.campaign.hostile import judge, run_hostile, stray_files
from tests.helpers import run_cli, swsim_env
from tests.imagetools import SMALL, make_image

IMAGE = make_image(SMALL, zero_pages="skip")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs CAP_MKNOD (root)")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "m.json").write_text(SMALL.dumps())
    return tmp_path


def snapshot_to(workdir: Path, target: str) -> int:
    proc = run_cli("snapshot", "--machine", "m.json", "-o", target, cwd=workdir)
    outcome = "ok" if proc.returncode == 0 else tally.of_code(proc.returncode)
    tally.record("output: device, FIFO, link", outcome)
    return proc.returncode


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(path.lstat().st_mode)


@ROOT_ONLY
def test_a_character_device_is_written_not_replaced(workdir: Path) -> None:
    null = workdir / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert snapshot_to(workdir, "null") == 0
    assert is_char_device(null)
    assert stray_files(workdir) == []


@ROOT_ONLY
def test_a_full_device_is_one_line_and_stays_a_device(workdir: Path) -> None:
    full = workdir / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    proc = run_cli("snapshot", "--machine", "m.json", "-o", "full", cwd=workdir)
    tally.record("output: device, FIFO, link", tally.of_code(proc.returncode))
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot write full: No space left on device"
    ]
    assert is_char_device(full)
    assert stray_files(workdir) == []


def read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def reader() -> None:
        with path.open("rb") as fifo:
            into.append(fifo.read())

    thread = threading.Thread(target=reader)
    thread.start()
    return thread


def test_a_fifo_is_written_into(workdir: Path) -> None:
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = read_fifo(fifo, got)
    assert snapshot_to(workdir, "fifo") == 0
    thread.join(timeout=60)
    assert got == [IMAGE]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert stray_files(workdir) == []


def test_a_trace_into_a_fifo(workdir: Path) -> None:
    (workdir / "img").write_bytes(IMAGE)
    fifo = workdir / "trace"
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = read_fifo(fifo, got)
    proc = run_cli("restore", "img", "--trace", "trace", "--json", cwd=workdir)
    thread.join(timeout=60)
    tally.record("output: device, FIFO, link", tally.of_code(proc.returncode))
    assert proc.returncode == 0, proc.stderr
    lines = got[0].decode().splitlines()
    assert lines[0].startswith("# index") and len(lines) == 1 + SMALL.nr_saveable
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_is_followed_and_its_target_replaced(workdir: Path) -> None:
    (workdir / "real.img").write_bytes(b"old")
    (workdir / "sub").mkdir()
    (workdir / "sub" / "link").symlink_to("../real.img")
    (workdir / "chain").symlink_to("sub/link")
    assert snapshot_to(workdir, "chain") == 0
    assert (workdir / "chain").is_symlink() and (workdir / "sub" / "link").is_symlink()
    assert (workdir / "real.img").read_bytes() == IMAGE
    assert stray_files(workdir) == [] and stray_files(workdir / "sub") == []


def test_a_dangling_symlink_creates_its_target(workdir: Path) -> None:
    (workdir / "link").symlink_to("new.img")
    assert snapshot_to(workdir, "link") == 0
    assert (workdir / "link").is_symlink()
    assert (workdir / "new.img").read_bytes() == IMAGE


def test_a_symlink_loop_is_one_line(workdir: Path) -> None:
    (workdir / "a").symlink_to("b")
    (workdir / "b").symlink_to("a")
    proc = run_cli("snapshot", "--machine", "m.json", "-o", "a", cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot write a: Too many levels of symbolic links"
    ]


@pytest.mark.parametrize("stdout_is", ["pipe", "file"])
@pytest.mark.parametrize("name", ["/proc/self/fd/1", "my-stdout"])
def test_standard_output_by_name_is_written_in_place(
    workdir: Path, name: str, stdout_is: str
) -> None:
    """``-o /dev/stdout`` as the name of an open file: to a pipe, or to a file the shell opened
    (appended to, so ``>>`` keeps what was there). ``my-stdout`` links to /proc/self/fd/1, as
    /dev/stdout does."""
    (workdir / "my-stdout").symlink_to("/proc/self/fd/1")
    args = ["snapshot", "--machine", "m.json", "-o", name]
    if stdout_is == "pipe":
        run = run_hostile(args, workdir)
        assert judge(run) == tally.record("output: /proc/self/fd, >(...)", "ok"), run.lines
        assert run.stdout == IMAGE
    else:
        out = workdir / "out.img"
        out.write_bytes(b"kept>")
        with out.open("ab") as append:
            proc = subprocess.run([sys.executable, "-m", "swsim", *args], cwd=workdir,
                                  env=swsim_env(), stdout=append, stderr=subprocess.PIPE)
        tally.record("output: /proc/self/fd, >(...)", tally.of_code(proc.returncode))
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == b"kept>" + IMAGE
    assert (workdir / "my-stdout").is_symlink()
    assert stray_files(workdir) == []


def test_process_substitution(workdir: Path) -> None:
    script = (f"{sys.executable} -m swsim snapshot --machine m.json -o >(cat > got.img); "
              "wait; sleep 0.2")
    proc = subprocess.run(["bash", "-c", script], cwd=workdir, env=swsim_env(),
                          capture_output=True, timeout=120)
    tally.record("output: /proc/self/fd, >(...)", tally.of_code(proc.returncode))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert (workdir / "got.img").read_bytes() == IMAGE


def test_a_directory_is_refused(workdir: Path) -> None:
    (workdir / "d").mkdir()
    proc = run_cli("snapshot", "--machine", "m.json", "-o", "d", cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == ["swsim: error: cannot write d: it is a directory"]

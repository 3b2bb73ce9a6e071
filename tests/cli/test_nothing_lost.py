"""Outputs are all or nothing: full disks, Ctrl-C and closed pipes never leave a partial file."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swsim.cli.fileio import atomic_output
from swsim.errors import EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from tests.helpers import run_cli, swsim_env

OLD = b"an older image that must survive\n"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_a_full_disk_is_a_usage_error_and_the_old_file_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.img"
    target.write_bytes(OLD)
    with pytest.raises(UsageError, match="No space left on device"):  # noqa: PT012
        with atomic_output(str(target)) as stream:
            stream.write(b"x" * 10)

            def full(data: bytes) -> int:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(stream, "write", full)
            stream.write(b"more")
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def _limit_file_size() -> None:
    """In the child: files may not grow beyond 64 KiB (EFBIG instead of SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))


def test_a_real_write_failure_through_the_cli_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "out.img").write_bytes(OLD)
    env = swsim_env()
    proc = subprocess.run(
        [sys.executable, "-m", "swsim", "snapshot", "--preset", "default", "-o", "out.img"],
        cwd=tmp_path, env=env, capture_output=True, preexec_fn=_limit_file_size, timeout=120,
    )
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot write out.img: File too large"
    ]
    assert (tmp_path / "out.img").read_bytes() == OLD
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_standard_output_on_a_full_device_is_one_clear_line() -> None:
    with open("/dev/full", "wb") as full:
        env = swsim_env()
        proc = subprocess.run(
            [sys.executable, "-m", "swsim", "snapshot", "--compress=zstd"],
            stdout=full, stderr=subprocess.PIPE, env=env, timeout=120,
        )
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot write standard output: No space left on device"
    ]


@pytest.mark.parametrize("options", [(), ("--compress=zstd", "--level=1")])
def test_a_closed_pipe_ends_quietly(swsim_cmd: list[str], options: tuple[str, ...]) -> None:
    env = swsim_env()
    writer = subprocess.Popen(
        [*swsim_cmd, "snapshot", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env,
    )
    assert writer.stdout is not None and writer.stderr is not None
    head = subprocess.run(["head", "-c", "100"], stdin=writer.stdout, capture_output=True)
    writer.stdout.close()
    stderr = writer.stderr.read()
    assert writer.wait(timeout=120) == 141
    assert len(head.stdout) == 100
    assert stderr == b""


def test_ctrl_c_while_writing_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, swsim_cmd: list[str]
) -> None:
    target = tmp_path / "out.img"
    target.write_bytes(OLD)
    env = swsim_env()
    proc = subprocess.Popen(
        [*swsim_cmd, "snapshot", "--preset", "default", "--compress=zstd", "--level=19",
         "-o", "out.img"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert leftovers(tmp_path), "the snapshot never started writing"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED
    assert stderr.decode().splitlines() == ["swsim: interrupted"]
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_a_failed_restore_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    proc = run_cli("restore", "missing.img", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.decode().splitlines() == [
        "swsim: error: cannot read missing.img: No such file or directory"
    ]

"""Shared fixtures: tiny machines, in-memory images, and the CLI run as a real process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swsim.machine import ContentSpec, Machine
from swsim.snapshot import write_image

ROOT = Path(__file__).resolve().parents[1]


def image_bytes(machine: Machine) -> bytes:
    out = io.BytesIO()
    write_image(machine, out)
    return out.getvalue()


def tiny_machine(
    frames: int,
    saveable: tuple[tuple[int, int], ...],
    used: tuple[tuple[int, int], ...] = (),
    reserved: tuple[tuple[int, int], ...] = (),
    seed: int = 7,
) -> Machine:
    return Machine(
        frames=frames,
        saveable=saveable,
        boot_used=used,
        boot_reserved=reserved,
        nosave=reserved,
        content=ContentSpec(seed=seed),
        name="tiny",
    )


def run_swsim(
    *args: str, input: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m swsim ARGS`` as a real process (this checkout's code)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "swsim", *args],
        input=input,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture
def swsim_cmd() -> list[str]:
    """The argv prefix that runs this checkout's swsim, for shell pipelines."""
    return [sys.executable, "-m", "swsim"]

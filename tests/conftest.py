"""Shared fixtures: tiny machines, in-memory images, and the CLI run as a real process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swsim.machine.model import ContentSpec, Machine
from swsim.suspend.handle import write_image

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


def random_machine(draw: object, max_frames: int = 2048, zero: float | None = None) -> Machine:
    """A small machine drawn by hypothesis (``draw`` is ``st.data().draw`` or a composite's).

    Segments of memory are saved, saved and used by the boot kernel, free, used or reserved
    (never saved); a free tail of twice the image plus room for the bitmaps is added on top, so
    every strategy has the memory it needs.
    """
    from hypothesis import strategies as st

    d = draw  # type: ignore[assignment]
    frames = d(st.integers(64, max_frames))  # type: ignore[operator]
    cuts = sorted(set(d(st.lists(st.integers(1, frames - 1), max_size=10))))  # type: ignore[operator]
    bounds = [0, *cuts, frames]
    saveable: list[tuple[int, int]] = []
    used: list[tuple[int, int]] = []
    reserved: list[tuple[int, int]] = []
    kinds = st.sampled_from(["save", "save_used", "free", "used", "reserved"])
    for start, end in zip(bounds, bounds[1:], strict=False):
        kind = d(kinds)  # type: ignore[operator]
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
    zero_fraction = d(st.sampled_from([0.0, 0.3, 1.0])) if zero is None else zero  # type: ignore[operator]
    return Machine(
        frames=total,
        saveable=tuple(saveable),
        boot_used=tuple(used),
        boot_reserved=tuple(reserved),
        nosave=tuple(reserved),
        content=ContentSpec(seed=d(st.integers(0, 2**16)), zero=zero_fraction, text=0.0),  # type: ignore[operator]
        name="random",
    )


def image_bytes_zero(machine: Machine, zero_pages: str) -> bytes:
    out = io.BytesIO()
    write_image(machine, out, zero_pages)
    return out.getvalue()

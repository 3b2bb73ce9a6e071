"""``swsim map``: each frame's outcome on a tiny machine, checked against ``restore --trace``
and the counts, the cells of a large machine, and the pictures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from swsim.image.writer import WriteOptions
from swsim.machine.presets import get_preset
from swsim.resume.outcome import FrameOutcome, frame_outcomes, outcome_counts
from swsim.resume.restore import RestoreOptions, restore_each
from swsim.runs.memory_map import ASCII_CHARS, ascii_map, cells, memory_maps
from tests.helpers import image_bytes, open_source, run_cli, tiny_machine

#: 256 frames: image [8, 60) and [140, 180); the boot kernel uses [20, 30) (image frames, to
#: be copied) and [200, 210); [0, 4) reserved.
MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30), (200, 210)),
                       reserved=((0, 4),))
IMAGE = image_bytes(MACHINE)


def trace_of(tmp_path: Path, strategy: str) -> list[tuple[int, int, str]]:
    """(pfn, frame, direct|safe) per image page, from ``swsim restore --trace``."""
    (tmp_path / "img").write_bytes(IMAGE)
    out = run_cli("restore", "img", "--strategy", strategy, "--allocator", "ascending",
                  "--trace", "t.tsv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "t.tsv").read_text().splitlines()[1:]
    return [(int(f[1]), int(f[3]), f[4]) for f in (line.split("\t") for line in lines)]


@pytest.mark.parametrize("strategy", ["eat", "safe-list", "bitmap", "claim"])
def test_each_frame_outcome_agrees_with_the_trace_and_the_counts(
    tmp_path: Path, strategy: str
) -> None:
    options = RestoreOptions(strategy=strategy, allocator="ascending")
    (run,) = restore_each(open_source(IMAGE), options, [strategy])
    assert not isinstance(run, Exception)
    outcomes = frame_outcomes(run)
    stats = run.stats
    assert len(outcomes) == 256
    for pfn, frame, load in trace_of(tmp_path, strategy):
        if load == "direct":
            assert outcomes[pfn] == FrameOutcome.DIRECT
        else:
            assert outcomes[pfn] in (FrameOutcome.COPIED, FrameOutcome.EATEN)
            assert outcomes[frame] == FrameOutcome.SAFE
    counts = outcome_counts(outcomes)
    assert counts[FrameOutcome.DIRECT] == stats.direct
    assert counts[FrameOutcome.COPIED] + counts[FrameOutcome.EATEN] == stats.copies
    assert counts[FrameOutcome.SAFE] == stats.copies
    assert counts[FrameOutcome.EATEN] == stats.eaten
    assert counts[FrameOutcome.RESERVED] == 4
    assert counts[FrameOutcome.BOOT_KERNEL] == 10  # [200, 210); [20, 30) are copied into
    assert (outcomes[20:30] == FrameOutcome.COPIED).all()
    free = outcomes == FrameOutcome.FREE
    assert not np.isin(np.flatnonzero(free), run.ctx.allocated_pfns()).any()
    assert sum(counts.values()) == 256


def test_rafael_2006_eat_eats_the_frames_safe_list_loads_directly() -> None:
    """The seed's story in one assertion: under eat, the 89,999 free original frames met are
    eaten (and every page copied); under safe-list the same frames (and the buffer page's) are
    loaded directly."""
    image = image_bytes(get_preset("rafael-2006"), WriteOptions(no_data=True))
    eat, safe_list = memory_maps(open_source(image), RestoreOptions(), ["eat", "safe-list"])
    eaten = eat.outcomes == FrameOutcome.EATEN
    direct = safe_list.outcomes == FrameOutcome.DIRECT
    assert eaten.sum() == 89_999 and direct.sum() == 90_000
    assert not (eat.outcomes == FrameOutcome.DIRECT).any()
    assert (direct[eaten]).all()
    assert (eat.outcomes[direct & ~eaten] == FrameOutcome.COPIED).all()  # the buffer page
    assert (safe_list.outcomes[4096:14096] == FrameOutcome.COPIED).all()  # the boot kernel's


def test_a_cell_shows_what_most_of_its_frames_had() -> None:
    D, C, F, R = (FrameOutcome.DIRECT, FrameOutcome.COPIED, FrameOutcome.FREE,
                  FrameOutcome.RESERVED)
    frames = np.array([F, F, D, D, D, C, C, R, F, F], dtype=np.uint8)
    # a tie (2 free, 2 direct) goes to the outcome listed first in the legend: direct
    assert cells(frames, 4).tolist() == [D, C, F]
    assert cells(frames, 1).tolist() == frames.tolist()


def test_the_ascii_map_draws_every_frame_and_the_legend() -> None:
    (memory,) = memory_maps(open_source(IMAGE), RestoreOptions(allocator="ascending"),
                            ["safe-list"])
    text = ascii_map(memory, columns=64)
    lines = text.splitlines()
    assert lines[0] == "safe-list: 256 frames, 1 frame per cell, pfn 0 top left"
    rows = ["".join(ASCII_CHARS[FrameOutcome(o)] for o in memory.outcomes[r:r + 64])
            for r in range(0, 256, 64)]
    assert lines[1:5] == [f"{r * 64:>9} {row}" for r, row in enumerate(rows)]
    assert lines[1][10:14] == "####"
    assert lines[1][10 + 20 : 10 + 30] == "C" * 10 and lines[4][10 + 8 : 10 + 18] == "K" * 10
    assert f"  =  {memory.stats.direct:>9,}  image page loaded directly" in lines


def test_map_command_ascii_and_pictures(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(IMAGE)
    text = run_cli("map", "img", "--strategy", "eat", "--ascii", "--allocator", "ascending",
                   cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.decode().startswith("eat: 256 frames")
    for name, magic in (("m.png", b"\x89PNG"), ("m.svg", b"<?xml"), ("m.pdf", b"%PDF")):
        out = run_cli("map", "img", "--strategy", "eat", "--strategy", "safe-list", "-o", name,
                      cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout == b""
        assert (tmp_path / name).read_bytes().startswith(magic)


def test_map_bad_output_and_missing_extra_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "img").write_bytes(IMAGE)
    bad = run_cli("map", "img", "-o", "m.txt", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.decode().splitlines() == [
        "swsim: error: cannot tell the picture format of m.txt: name it .png, .svg or .pdf"]
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    missing = run_cli("map", "img", "-o", "m.png", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.decode().splitlines() == [
        "swsim: error: drawing a picture needs matplotlib: pip install 'swsim[plot]'"]
    assert not (tmp_path / "m.png").exists()

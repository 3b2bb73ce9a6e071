"""Fidelity fixes found by an independent model of the 6.x code (issue 11 part 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swsim.image.writer import WriteOptions
from swsim.kernel.memory_bitmap import bitmap_cost, create_mem_extents
from swsim.kernel.zones import machine_zones, pages_per_zone
from swsim.machine.model import ContentSpec, Machine
from tests.helpers import image_bytes, run_cli, tiny_machine


def test_x86_zone_dma_starts_at_pfn_1_and_the_bitmap_extent_follows() -> None:
    assert machine_zones(65498)[0].start_pfn == 1  # as a real 6.1 /proc/zoneinfo says
    assert create_mem_extents(machine_zones(32769)) == [(1, 32769)]
    assert bitmap_cost(machine_zones(32769)) == 2  # one leaf and its chain page, not 4
    assert bitmap_cost(machine_zones(32770)) == 4
    assert pages_per_zone(np.array([0, 1, 4096]), 8192) == {"DMA": 2, "DMA32": 1}


def test_trace_with_no_data_lists_every_page(tmp_path: Path) -> None:
    machine = Machine(frames=4096, saveable=((64, 900), (1500, 1700)), boot_used=((100, 200),),
                      content=ContentSpec(seed=5, zero=0.3, text=0.3))
    for option, image in (("--no-data", image_bytes(machine)),
                          (None, image_bytes(machine, WriteOptions(no_data=True)))):
        path = tmp_path / "img"
        path.write_bytes(image)
        trace = tmp_path / "trace"
        args = ["restore", str(path), "--strategy", "bitmap", "--trace", str(trace)]
        result = run_cli(*args, *([option] if option else []))
        assert result.returncode == 0, result.stderr
        lines = trace.read_text().splitlines()[1:]
        assert [int(line.split("\t")[0]) for line in lines] == list(range(1036))
        full = tmp_path / "full"
        run_cli("restore", str(tmp_path / "img"), "--strategy", "bitmap", "--trace", str(full))
        if option:  # the same image with its data: the same placement, page by page
            assert full.read_text().splitlines()[1:] == lines


def test_a_tiny_machine_saved_from_pfn_0_still_restores() -> None:
    machine = tiny_machine(2048, ((0, 300),), used=((100, 150),))
    result = run_cli("restore", "-", "--strategy", "bitmap", input=image_bytes(machine))
    assert result.returncode == 0, result.stderr

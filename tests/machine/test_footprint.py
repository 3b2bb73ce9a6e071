"""The boot footprint of generated machines: kernel at its load address, mem_map on top."""

from __future__ import annotations

import json

import pytest

from swsim.errors import UsageError
from swsim.machine.footprint import MIB, BootFootprint, place_footprint
from swsim.machine.model import FRAME_RESERVED, FRAME_USED
from swsim.machine.presets import generate_machine
from tests.helpers import run_cli


def test_footprint_places_each_part() -> None:
    fp = BootFootprint(load_address=16 * MIB, kernel_size=40 * MIB + 1, early_size=4 * MIB)
    place = place_footprint(1 << 18, fp)
    assert place.low_reserved == (0, 256)
    assert place.kernel == (4096, 4096 + 10241)  # 40 MiB and one byte: one more frame
    assert place.early == (14337, 14337 + 1024)
    assert place.mem_map == ((1 << 18) - 4096, 1 << 18)  # 64 bytes x 2^18 frames = 16 MiB


def test_generated_machine_saves_and_uses_the_kernel_and_mem_map() -> None:
    fp = BootFootprint(load_address=16 * MIB, kernel_size=8 * MIB, early_size=2 * MIB)
    machine = generate_machine(1 << 16, 0.3, fp, seed=5)
    state = machine.boot_state()
    saved = set(machine.saveable_pfns().tolist())
    kernel = range(4096, 4096 + 2048)
    mem_map = range((1 << 16) - 1024, 1 << 16)
    for pfn in (*kernel, *mem_map):
        assert pfn in saved and state[pfn] == FRAME_USED
    assert all(state[pfn] == FRAME_USED for pfn in range(6144, 6144 + 512))
    assert (state[:256] == FRAME_RESERVED).all()
    assert abs(machine.nr_saveable - 0.3 * (1 << 16)) <= 1


def test_bad_footprints_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        BootFootprint(load_address=4096)
    proc = run_cli("machine", "--generate", "--preset", "default")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


def test_cli_generate_writes_a_machine_with_the_sizes_asked() -> None:
    proc = run_cli("machine", "--generate", "--frames", "32768", "--load-address-mib", "4",
                     "--kernel-mib", "4", "--early-mib", "1", "--struct-page-bytes", "128")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    used = data["boot"]["used"]
    assert used == [[1024, 1024 + 1024 + 256], [32768 - 1024, 32768]]

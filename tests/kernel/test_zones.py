"""Zones: DMA is the first 16 MiB, DMA32 runs to 4 GiB; per-zone counts in the report."""

from __future__ import annotations

import io
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.kernel.zones import machine_zones, pages_per_zone, runs_per_zone
from tests.helpers import image_bytes_zero, restore_image, run_cli, tiny_machine


def test_zone_boundaries_are_16_mib_and_4_gib() -> None:
    zones = machine_zones((8 << 30) // 4096)
    assert [(z.name, z.start_pfn, z.end_pfn) for z in zones] == [
        ("DMA", 1, 4096), ("DMA32", 4096, 1 << 20), ("Normal", 1 << 20, 1 << 21)
    ]
    assert [z.name for z in machine_zones(5000)] == ["DMA", "DMA32"]
    assert [z.name for z in machine_zones(4096)] == ["DMA"]


def test_per_zone_counts_add_up_and_place_the_copies() -> None:
    # Image [3000, 6000): 1096 pages in DMA, 1904 in DMA32; the boot kernel uses [5000, 5500).
    machine = tiny_machine(16384, ((3000, 6000),), used=((5000, 5500),))
    image = image_bytes_zero(machine, "skip")
    stats = restore_image(io.BytesIO(image), "claim")
    zones = stats.zones
    assert zones["DMA"]["image_pages"] == 1096 and zones["DMA32"]["image_pages"] == 1904
    assert zones["DMA"]["copies"] == 0 and zones["DMA32"]["copies"] == 500
    for strategy in ("eat", "safe-list", "bitmap"):
        stats = restore_image(io.BytesIO(image), strategy)
        for key in ("copies", "direct", "zero_pages", "allocations"):
            assert sum(z[key] for z in stats.zones.values()) == getattr(stats, key), key


def test_restore_json_carries_the_zones() -> None:
    image = image_bytes_zero(tiny_machine(8192, ((100, 5000),)), "skip")
    proc = run_cli("restore", "-", "--json", "--strategy", "bitmap", input=image)
    data = json.loads(proc.stdout)
    assert set(data["zones"]) == {"DMA", "DMA32"}
    assert data["zones"]["DMA"]["image_pages"] == 4096 - 100


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 1 << 21), st.lists(st.tuples(st.integers(0, 1 << 21),
                                                   st.integers(0, 5000)), max_size=30))
def test_runs_per_zone_counts_the_frames_of_the_runs(
    frames: int, runs: list[tuple[int, int]]
) -> None:
    """Allocations per zone from runs of frames: as counting every frame (pfn 0 in DMA,
    frames above memory, phantom frames, in none)."""
    starts = np.array([start for start, _ in runs], dtype=np.int64)
    lengths = np.array([length for _, length in runs], dtype=np.int64)
    pfns = np.concatenate([np.arange(s, s + n) for s, n in runs] or [np.zeros(0)]).astype(
        np.int64)
    assert runs_per_zone(starts, lengths, frames) == pages_per_zone(pfns, frames)

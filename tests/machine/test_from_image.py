"""The machine an image implies, and its documented default boot state."""

from __future__ import annotations

import numpy as np

from swsim.machine.from_image import (
    KERNEL_FOOTPRINT,
    SMALL_FOOTPRINT,
    default_footprint,
    image_machine,
)
from swsim.machine.model import FRAME_RESERVED, FRAME_USED


def test_a_256_mib_pc_image_gets_the_debian_kernel_footprint() -> None:
    # as the real images: 65403 present pages, pfns up to 65500, low memory saved from pfn 1
    pfns = np.concatenate([np.arange(1, 159), np.arange(4096, 9000), np.arange(65000, 65501)])
    zero = np.zeros(len(pfns), dtype=bool)
    zero[::4] = True
    machine = image_machine(pfns, zero, 65403)
    assert machine.frames == 65501
    assert machine.saveable_pfns().tolist() == pfns.tolist()
    assert machine.nosave == ((0, 1), (0x9F, 0x100))
    state = machine.boot_state()
    assert state[0] == FRAME_RESERVED and (state[0x9F:0x100] == FRAME_RESERVED).all()
    assert (state[1:0x9F] != FRAME_RESERVED).all()
    # the kernel at 16 MiB for 46 MiB, early allocations 8 MiB above, mem_map at the top
    assert (state[4096 : 4096 + 46 * 256 + 8 * 256] == FRAME_USED).all()
    assert (state[65501 - 65501 * 64 // 4096 - 1 :] == FRAME_USED).all()
    assert default_footprint(65501) == KERNEL_FOOTPRINT
    assert abs(machine.content.zero - 0.25) < 0.01


def test_a_small_machine_keeps_only_mem_map_and_never_reserves_a_saved_frame() -> None:
    pfns = np.arange(0, 600)  # pfn 0 and the ISA hole saved: not reserved then
    machine = image_machine(pfns, np.zeros(600, dtype=bool), 2048)
    assert default_footprint(2048) == SMALL_FOOTPRINT
    assert machine.frames == 2048 and machine.boot_reserved == ()
    assert machine.boot_used == ((2048 - 32, 2048),)


def test_a_huge_claimed_machine_costs_nothing_to_describe() -> None:
    # a (hostile) header claiming 2**28 frames: ranges come from the pfns, no frame array
    import tracemalloc

    tracemalloc.start()
    machine = image_machine(np.array([5, 6, 7, 1 << 27]), np.zeros(4, dtype=bool), 1 << 28)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert machine.saveable == ((5, 8), (1 << 27, (1 << 27) + 1))
    assert peak < 1 << 20

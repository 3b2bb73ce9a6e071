"""A machine's boot or suspend state from a real kernel's memory (``swsim machine
--boot-kpageflags``, ``--suspend-kpageflags``, ``--from-host``).

The frame states come from :func:`swsim.machine.kpageflags.frame_states` (the one place the
flags are read); this module says where each state goes in a :class:`Machine`:

| kpageflags state | boot part | suspend part |
| --- | --- | --- |
| free (KPF_BUDDY) | free | not saved |
| used | used | saveable |
| reserved (KPF_RESERVED, in RAM) | used | saveable |
| hole (KPF_NOPAGE, or outside System RAM) | reserved | nosave |

Kernel-reserved RAM (the kernel image, mem_map, memblock) is saved by ``saveable_page()``
(a PageReserved page is skipped only when it is not mapped or is nosave) and, at resume, is
simply not free: its image pages are copied, as for any used frame. swsim's boot "reserved" is
stricter (no image page may live there: "Memory map mismatch"), which is what a hole is. The
e820 gaps become nosave as ``e820__register_nosave_regions()`` makes them.
"""

from __future__ import annotations

from dataclasses import replace

from swsim.errors import MachineError
from swsim.machine.kpageflags import (
    KPF_STATE_FREE,
    KPF_STATE_HOLE,
    KpageflagsDump,
)
from swsim.machine.model import Machine
from swsim.machine.page_classes import classes_from_kpageflags
from swsim.machine.ranges import Ranges, mask_ranges


def memory_ranges(dump: KpageflagsDump) -> tuple[Ranges, Ranges]:
    """The frames in use (used or kernel-reserved) and the holes of a dump, as ranges: the
    boot part's used and reserved, or the suspend part's saveable and nosave."""
    state = dump.frame_states()
    return (
        mask_ranges((state != KPF_STATE_FREE) & (state != KPF_STATE_HOLE)),
        mask_ranges(state == KPF_STATE_HOLE),
    )


def machine_from_memory(
    base: Machine | None,
    boot: KpageflagsDump | None = None,
    suspend: KpageflagsDump | None = None,
    name: str = "real",
) -> Machine:
    """``base`` (None: an empty machine) with its boot and/or suspend part replaced by a real
    kernel's memory. Every part must have the same number of frames."""
    dumps = [d for d in (suspend, boot) if d is not None]
    frames = {d.frames for d in dumps}
    if base is not None:
        frames.add(base.frames)
    if len(frames) > 1:
        raise MachineError(
            "the machine and the memory copies differ in size: "
            + ", ".join(str(f) for f in sorted(frames)) + " frames"
        )
    if base is None:
        if not dumps:
            raise MachineError("no machine and no memory copy to build one from")
        base = Machine(frames=frames.pop(), saveable=(), name=name)
    if suspend is not None:
        saveable, nosave = memory_ranges(suspend)
        classes = classes_from_kpageflags(suspend)  # no swap: edit swap_pages in the file
        base = replace(base, saveable=saveable, nosave=nosave, classes=classes)
    if boot is not None:
        used, holes = memory_ranges(boot)
        base = replace(base, boot_used=used, boot_reserved=holes)
    return base

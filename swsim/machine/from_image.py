"""A machine from an image's pfns (``swsim machine --from-image``, real kernel images).

An image tells which frames were saved, and how many page frames its machine had
(``num_physpages``), but not what the boot kernel holds at resume. :func:`image_machine` makes
the machine an image implies, through :class:`~swsim.machine.model.Machine`'s own constructor:

* ``frames``: ``num_physpages``, or the highest image pfn + 1 if that is more (a real x86 PC
  has holes: ``num_physpages`` counts present pages, 65403 on a 256 MiB QEMU guest whose
  highest pfn is 65500);
* suspend state: the image pfns are saveable (zero pages included); the x86 PC's firmware
  holes (pfn 0 and pfns 0x9f-0xff, "Marking nosave pages" in the kernel log) are nosave,
  unless the image saved them;
* boot state, the documented default footprint (:data:`KERNEL_FOOTPRINT`): the same holes
  reserved; a Debian 6.x x86-64 kernel used at its 16 MiB load address (46 MiB: code, data,
  init and bss as the kernel's "Memory:" line counts them), 8 MiB of early allocations above it,
  and ``mem_map`` (64 bytes per frame) at the top of memory. On a machine where that would
  take more than half the memory (under 140 MiB), only ``mem_map``.
  ``--machine FILE`` replaces this boot state with the file's ``boot`` part.
* content: the image's share of zero pages (the rest as the content model's defaults).
"""

from __future__ import annotations

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import BoolArray, PfnArray
from swsim.machine.footprint import MIB, BootFootprint, place_footprint
from swsim.machine.model import ContentSpec, Machine
from swsim.machine.ranges import Range, mask_ranges

#: The boot kernel of the default boot state: Debian 6.x x86-64 (CONFIG_PHYSICAL_START 16 MiB).
KERNEL_FOOTPRINT = BootFootprint(
    load_address=16 * MIB, kernel_size=46 * MIB, early_size=8 * MIB, struct_page_bytes=64
)
#: What a machine too small for :data:`KERNEL_FOOTPRINT` keeps: ``mem_map`` only.
SMALL_FOOTPRINT = BootFootprint(load_address=1 * MIB, kernel_size=0, early_size=0)
#: x86 PC firmware holes, never saved and reserved at boot: pfn 0, and 0x9f-0xff.
PC_HOLES: tuple[Range, ...] = ((0, 1), (0x9F, 0x100))
#: ``Machine.name`` of a machine made from an image (restores with the default allocator).
FROM_IMAGE_NAME = "from-image"


def default_footprint(frames: int) -> BootFootprint:
    """The boot footprint of the default boot state on ``frames`` frames."""
    kernel = KERNEL_FOOTPRINT
    needed = kernel.load_address + kernel.kernel_size + kernel.early_size
    return kernel if needed <= frames * PAGE_SIZE // 2 else SMALL_FOOTPRINT


def image_machine(
    pfns: PfnArray, zero: BoolArray, num_physpages: int, name: str = FROM_IMAGE_NAME
) -> Machine:
    """The machine an image of ``pfns`` (increasing; ``zero``: which are zero pages) made on
    ``num_physpages`` frames implies, with the default boot state (module docstring)."""
    highest = int(pfns[-1]) + 1 if len(pfns) else 0
    frames = max(num_physpages, highest, 1)
    # ranges from the pfns themselves: nothing as large as the machine is allocated
    saveable: tuple[Range, ...] = ()
    if len(pfns):
        breaks = np.flatnonzero(np.diff(pfns) != 1) + 1
        starts = pfns[np.concatenate([[0], breaks])]
        ends = pfns[np.concatenate([breaks - 1, [len(pfns) - 1]])] + 1
        saveable = tuple((int(s), int(e)) for s, e in zip(starts, ends, strict=True))
    holes: list[Range] = []
    for start, end in PC_HOLES:
        if start >= frames:
            continue
        end = min(end, frames)
        mask = np.ones(end - start, dtype=bool)
        inside = pfns[(pfns >= start) & (pfns < end)]
        mask[inside - start] = False
        holes.extend((start + s, start + e) for s, e in mask_ranges(mask))
    place = place_footprint(frames, default_footprint(frames))
    # the footprint lies at 1 MiB and above, the holes below: they never overlap
    used = tuple(r for r in (place.kernel, place.early, place.mem_map) if r[1] > r[0])
    share = float(zero.mean()) if len(zero) else 0.0
    content = ContentSpec(zero=share, text=min(ContentSpec.text, 1.0 - share))
    return Machine(
        frames=frames,
        saveable=saveable,
        nosave=tuple(holes),
        boot_used=_merged(used),
        boot_reserved=tuple(holes),
        content=content,
        name=name,
    )


def _merged(ranges: tuple[Range, ...]) -> tuple[Range, ...]:
    """Sorted ranges with touching ones joined (the kernel, its early allocations...)."""
    out: list[Range] = []
    for start, end in ranges:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)

"""Built-in machines (``--preset NAME``).

``rafael-2006`` reconstructs the box of the seed patch (x86-64, 1 GiB, an image of 100000
pages). ``default`` is a generated 1 GiB machine whose saved pages are scattered over memory
as on a machine that has been running for a while. README.md ("Preset assumptions") and
docs/footprint.md state the assumptions.

Each machine restores by default with the ``buddy`` allocator, except where a preset documents
another in :data:`PRESET_ALLOCATORS`: ``rafael-2006`` keeps ``ascending``, under which it gives
the seed's figures (eat 191178 allocations / 100000 copies, safe-list 101179 / 10000). Under
``buddy`` its DMA32 zone is used before its DMA zone, so the 3840 image pages of DMA (pfns 256 to
4095) are met last and safe-list copies 13840 pages.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from swsim.errors import UsageError, choose
from swsim.machine.classes import SuspendClasses
from swsim.machine.model import ContentSpec, Machine
from swsim.machine.ranges import Range, Ranges

if TYPE_CHECKING:
    from swsim.machine.footprint import BootFootprint

GIB_FRAMES = (1 << 30) // 4096  # 262144
#: x86 keeps the first MiB (real-mode area, BIOS data, VGA hole) out of the page allocator.
LOW_RESERVED: Ranges = ((0, 256),)


def rafael_2006() -> Machine:
    """The seed's box: 1 GiB x86-64, an image of 100000 pages in low memory.

    The image occupies pfns [256, 100256) (the suspended system used memory bottom-up). The
    boot kernel, with its early allocations, uses 10000 frames inside that span, [4096, 14096),
    and its ``mem_map`` and page tables 4096 frames at the top of memory; the first MiB is
    reserved. So 90000 original frames are free at resume: the page allocator (ascending, as a
    freshly booted buddy allocator hands out low frames first) meets them before any safe frame.
    """
    return Machine(
        frames=GIB_FRAMES,
        saveable=((256, 100256),),
        nosave=LOW_RESERVED,
        boot_used=((4096, 14096), (GIB_FRAMES - 4096, GIB_FRAMES)),
        boot_reserved=LOW_RESERVED,
        content=ContentSpec(seed=2006),
        name="rafael-2006",
    )


def nigel_2006() -> Machine:
    """Nigel's question: the seed's box with an image of 60% of RAM, 3/4 of it on the LRU.

    1 GiB; the saved memory is the 157286 frames [256, 157542) (60% of 262144): kernel memory
    (slab, page tables, the kernel) [256, 40256), anonymous memory [40256, 90256), clean page
    cache [90256, 147542), dirty page cache [147542, 157542); 1 GiB of swap. The boot kernel
    uses what it uses in ``rafael-2006``. ``safe-list`` restores the whole image; 2.6.17's suspend
    side cannot make it (it shrinks it below half of memory), 6.x shrinks it to ``image_size``,
    TuxOnIce saves it whole (README, "Nigel's question").
    """
    classes = SuspendClasses(
        kernel=((256, 40256),),
        anon=((40256, 90256),),
        file_clean=((90256, 147542),),
        file_dirty=((147542, 157542),),
        swap_pages=GIB_FRAMES,
    )
    return Machine(
        frames=GIB_FRAMES,
        saveable=((256, 157542),),
        nosave=LOW_RESERVED,
        boot_used=((4096, 14096), (GIB_FRAMES - 4096, GIB_FRAMES)),
        boot_reserved=LOW_RESERVED,
        content=ContentSpec(seed=2006),
        name="nigel-2006",
        classes=classes,
    )


def generate_machine(
    frames: int = GIB_FRAMES,
    saveable_fraction: float = 0.40,
    footprint: BootFootprint | None = None,
    seed: int = 1,
    name: str = "generated",
    content: ContentSpec | None = None,
) -> Machine:
    """A machine whose saved memory is scattered in extents of 64 to 4096 frames (``content``:
    its pages' contents, by default those of ``ContentSpec(seed=seed)``).

    Above 4 GiB the extents grow with memory (64 to 4096 frames per 4 GiB), so that a machine
    of any size has a few hundred extents and its description fits in the image header.

    Boot footprint (:mod:`swsim.machine.footprint`): the first MiB reserved; the kernel image at its
    load address in both the suspended and the boot kernel, so those frames are saved and also
    used at resume; ``mem_map`` (64 bytes per frame) at the top of memory, likewise; and the
    early boot allocations just above the kernel image (used at resume, saved or not).
    """
    # Loaded here: restoring an image on its own machine, the common case, never generates one.
    from swsim.machine.footprint import BootFootprint, place_footprint

    if not 0.0 < saveable_fraction <= 1.0:
        raise UsageError("the saved fraction must lie in (0, 1]")
    rng = random.Random(seed)
    place = place_footprint(frames, footprint or BootFootprint())
    kernel, mem_map, early = place.kernel, place.mem_map, place.early
    low = place.low_reserved[1]
    saveable: list[Range] = [r for r in (kernel, mem_map) if r[1] > r[0]]
    budget = int(frames * saveable_fraction) - sum(e - s for s, e in saveable)
    pfn = kernel[1]
    scale = max(1, frames >> 20)
    # Saved and free extents; each is saved with the share of the budget still to place in
    # the span still to walk, so the saved total lands on the budget.
    while pfn < mem_map[0] and budget > 0:
        length = min(rng.randint(64, 4096) * scale, mem_map[0] - pfn, budget)
        if rng.random() < budget / (mem_map[0] - pfn):
            saveable.append((pfn, pfn + length))
            budget -= length
        pfn += length
    merged: list[Range] = []
    for s, e in sorted(saveable):
        if merged and merged[-1][1] == s:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    used = [r for r in (kernel, early, mem_map) if r[1] > r[0]]
    return Machine(
        frames=frames,
        saveable=tuple(merged),
        nosave=((0, low),),
        boot_used=_merge(used),
        boot_reserved=((0, low),),
        content=content if content is not None else ContentSpec(seed=seed),
        name=name,
        classes=generated_classes(frames, saveable, (kernel, mem_map), seed),
    )


#: The classes of a generated machine's scattered extents, and their weights (docs/footprint.md).
GENERATED_CLASS_WEIGHTS = {"kernel": 0.15, "anon": 0.40, "file_clean": 0.35, "file_dirty": 0.10}


def generated_classes(
    frames: int, extents: list[Range], kernel_ranges: tuple[Range, ...], seed: int
) -> SuspendClasses:
    """Plausible classes for a generated machine's saved extents: the kernel image and
    ``mem_map`` are kernel memory; each other extent is kernel (slab, page tables), anonymous,
    clean or dirty page cache by :data:`GENERATED_CLASS_WEIGHTS`; swap as large as memory.

    Drawn from their own generator, so the layout of a seed is the one it was before classes.
    """
    rng = random.Random(f"classes-{seed}")
    names, weights = list(GENERATED_CLASS_WEIGHTS), list(GENERATED_CLASS_WEIGHTS.values())
    by_class: dict[str, list[Range]] = {name: [] for name in names}
    for extent in sorted(extents):
        name = "kernel" if extent in kernel_ranges else rng.choices(names, weights)[0]
        by_class[name].append(extent)
    return SuspendClasses(
        **{name: _merge(rs) for name, rs in by_class.items()},  # type: ignore[arg-type]
        swap_pages=frames,
    )


def _merge(ranges: list[Range]) -> Ranges:
    out: list[Range] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return tuple(out)


def default_machine() -> Machine:
    """1 GiB, 40% of it saved, scattered; the machine ``swsim snapshot`` uses with no option."""
    return generate_machine(name="default")


#: The allocator a restore uses unless ``--allocator`` says otherwise.
DEFAULT_ALLOCATOR = "buddy"
#: Presets whose documented figures are with another allocator than DEFAULT_ALLOCATOR.
PRESET_ALLOCATORS: dict[str, str] = {"rafael-2006": "ascending", "nigel-2006": "ascending"}


def default_allocator(machine: Machine) -> str:
    """The allocator a restore on ``machine`` uses by default (by the machine's name)."""
    return PRESET_ALLOCATORS.get(machine.name, DEFAULT_ALLOCATOR)


PRESETS: dict[str, Callable[[], Machine]] = {
    "default": default_machine,
    "rafael-2006": rafael_2006,
    "nigel-2006": nigel_2006,
}


def get_preset(name: str) -> Machine:
    """The built-in machine called ``name``."""
    return choose("preset", name, PRESETS, sorted(PRESETS))()

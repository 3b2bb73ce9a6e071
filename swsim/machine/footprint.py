"""The boot kernel's footprint in a generated machine: which frames it holds at resume.

Three parts, each sized in bytes and rounded up to whole frames:

* the kernel image (text, data, bss) at its physical load address (``CONFIG_PHYSICAL_START``:
  2 MiB on the x86-64 kernels of 2006, 16 MiB on today's defconfig). The suspended kernel was the
  same kernel, so those frames are also saved in the image: they always need a copy;
* the ``struct page`` array (``mem_map``, 64 bytes per frame on x86-64) at the top of memory,
  where memblock allocates top-down: also saved, also copied;
* early boot allocations (page tables, memblock reservations, the initrd's unpacked pages)
  just above the kernel image.

The first MiB is reserved (real-mode area, BIOS data, VGA hole), saved by no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from swsim.errors import UsageError
from swsim.kernel.constants import PAGE_SIZE, div_round_up
from swsim.machine.ranges import Range

MIB = 1 << 20
#: x86 keeps the first MiB out of the page allocator.
LOW_RESERVED_BYTES = 1 * MIB
#: ``struct page`` on x86-64.
STRUCT_PAGE_BYTES = 64


@dataclass(frozen=True)
class BootFootprint:
    """Sizes of the boot kernel's footprint (bytes); the defaults are the ``default`` preset's."""

    load_address: int = 2 * MIB
    kernel_size: int = 32 * MIB
    early_size: int = 8 * MIB
    struct_page_bytes: int = STRUCT_PAGE_BYTES

    @classmethod
    def from_mib(
        cls, load_address_mib: int, kernel_mib: int, early_mib: int, struct_page_bytes: int
    ) -> BootFootprint:
        """The footprint ``machine --generate`` takes: sizes in MiB, ``mem_map`` per frame."""
        return cls(
            load_address=load_address_mib * MIB, kernel_size=kernel_mib * MIB,
            early_size=early_mib * MIB, struct_page_bytes=struct_page_bytes,
        )

    def __post_init__(self) -> None:
        if self.load_address < LOW_RESERVED_BYTES or self.load_address % PAGE_SIZE:
            raise UsageError("the kernel load address must be page aligned and at least 1 MiB")
        if min(self.kernel_size, self.early_size, self.struct_page_bytes) < 0:
            raise UsageError("footprint sizes must not be negative")


def _mib(nr_bytes: int) -> str:
    return f"{nr_bytes / MIB:,.6g} MiB"


@dataclass(frozen=True)
class FootprintRanges:
    """Where each part of the boot footprint lies, as pfn ranges."""

    low_reserved: Range
    kernel: Range
    early: Range
    mem_map: Range


def place_footprint(frames: int, footprint: BootFootprint) -> FootprintRanges:
    """Where each part lies on a machine of ``frames`` frames (clipped; may be empty).

    A part larger than the whole memory is refused: clipped, it would silently describe
    another footprint than the one asked for.
    """
    memory = frames * PAGE_SIZE
    for part, size in (
        ("the kernel image", footprint.kernel_size),
        ("the early boot allocations", footprint.early_size),
        ("mem_map", frames * footprint.struct_page_bytes),
    ):
        if size > memory:
            raise UsageError(
                f"{part} ({_mib(size)}) is larger than the machine's memory ({_mib(memory)})"
            )
    low = div_round_up(LOW_RESERVED_BYTES, PAGE_SIZE)
    mem_map_pages = div_round_up(frames * footprint.struct_page_bytes, PAGE_SIZE)
    kernel_start = min(footprint.load_address // PAGE_SIZE, frames)
    kernel_end = min(kernel_start + div_round_up(footprint.kernel_size, PAGE_SIZE), frames)
    mem_map_start = max(frames - mem_map_pages, kernel_end)
    early_end = min(kernel_end + div_round_up(footprint.early_size, PAGE_SIZE), mem_map_start)
    if kernel_end - kernel_start <= 0 and footprint.kernel_size:
        raise UsageError("the kernel image does not fit in the machine's memory")
    return FootprintRanges(
        low_reserved=(0, min(low, frames)),
        kernel=(kernel_start, kernel_end),
        early=(kernel_end, early_end),
        mem_map=(mem_map_start, frames),
    )

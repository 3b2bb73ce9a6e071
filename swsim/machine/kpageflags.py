"""Real memory: copies of /proc/kpageflags, /proc/zoneinfo and /proc/iomem, read into frames.

This module is the one place swsim parses a /proc/kpageflags dump (8 bytes per pfn, little
endian, raw or zstd-compressed). It exposes the raw flags (:attr:`KpageflagsDump.flags`, one
uint64 per pfn) for whoever derives page classes from the LRU/ANON/SLAB bits, and the one
mapping of flags to the frame states a :class:`~swsim.machine.model.Machine` holds
(:func:`frame_states`):

* **hole** (``KPF_NOPAGE``: no struct page; or, with an iomem copy, a frame not wholly inside a
  top-level "System RAM" range);
* **free** (``KPF_BUDDY``: the kernel sets it on *every* page of a free buddy block, not only its
  head, so free frames are exactly the BUDDY ones);
* **reserved** (``KPF_RESERVED``, bit 32, one of the kernel-internal bits of
  include/linux/kernel-page-flags.h that /proc/kpageflags exports all the same): PG_reserved,
  the kernel image, mem_map, memblock allocations, firmware areas inside RAM;
* **used**: everything else.

A machine file's boot-time "reserved" means something else (no image page may live there):
:mod:`swsim.machine.real_memory` maps kernel-reserved RAM to boot "used" and holes to boot
"reserved".

Bit numbers and names are those of include/uapi/linux/kernel-page-flags.h (bits 0-26) and
include/linux/kernel-page-flags.h (32-42), as of v6.12 (bit 34 was ``KPF_MAPPEDTODISK`` before
v6.10, ``KPF_OWNER_2`` since). docs/readers.md ("Real memory") tabulates them.

Departures: pages on the per-cpu free lists (``struct per_cpu_pages``) are free but carry no
BUDDY bit, and nothing in /proc/kpageflags tells them from used pages: they count as used (the
zoneinfo copy's ``count:`` lines give how many there were; :attr:`ZoneInfo.pcp_pages`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swsim.errors import UsageError
from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import BoolArray, StateArray, WordArray
from swsim.machine.ranges import Ranges, ranges_mask

# include/uapi/linux/kernel-page-flags.h
KPF_LOCKED = 0
KPF_ERROR = 1
KPF_REFERENCED = 2
KPF_UPTODATE = 3
KPF_DIRTY = 4
KPF_LRU = 5
KPF_ACTIVE = 6
KPF_SLAB = 7
KPF_WRITEBACK = 8
KPF_RECLAIM = 9
KPF_BUDDY = 10
KPF_MMAP = 11
KPF_ANON = 12
KPF_SWAPCACHE = 13
KPF_SWAPBACKED = 14
KPF_COMPOUND_HEAD = 15
KPF_COMPOUND_TAIL = 16
KPF_HUGE = 17
KPF_UNEVICTABLE = 18
KPF_HWPOISON = 19
KPF_NOPAGE = 20
KPF_KSM = 21
KPF_THP = 22
KPF_OFFLINE = 23
KPF_ZERO_PAGE = 24
KPF_IDLE = 25
KPF_PGTABLE = 26
# include/linux/kernel-page-flags.h ("kernel hacking assistances", exported all the same)
KPF_RESERVED = 32
KPF_MLOCKED = 33
KPF_OWNER_2 = 34  # KPF_MAPPEDTODISK before v6.10
KPF_PRIVATE = 35
KPF_PRIVATE_2 = 36
KPF_OWNER_PRIVATE = 37
KPF_ARCH = 38
KPF_UNCACHED = 39
KPF_SOFTDIRTY = 40
KPF_ARCH_2 = 41
KPF_ARCH_3 = 42

#: Every KPF_* bit by name, in bit order (docs/readers.md lists them).
KPF_NAMES: dict[int, str] = dict(
    sorted((value, name) for name, value in globals().items() if name.startswith("KPF_"))
)

#: Frame states :func:`frame_states` returns. The first three are the values of
#: ``swsim.machine.model.FRAME_FREE/USED/RESERVED``; a hole is reserved to the boot kernel.
KPF_STATE_FREE = 0
KPF_STATE_USED = 1
KPF_STATE_RESERVED = 2
KPF_STATE_HOLE = 3

#: Bytes per pfn in /proc/kpageflags.
KPAGEFLAGS_ENTRY = 8
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: The largest dump read (16 TiB of memory at 4 KiB pages): a bound on hostile zstd input.
MAX_KPAGEFLAGS_BYTES = (16 << 40) // PAGE_SIZE * KPAGEFLAGS_ENTRY


def kpf_set(flags: WordArray, bit: int) -> BoolArray:
    """Which pfns have ``KPF_<bit>`` set."""
    mask: BoolArray = (flags >> np.uint64(bit)) & np.uint64(1) != 0
    return mask


def decode_kpageflags(data: bytes, where: str = "kpageflags") -> WordArray:
    """A /proc/kpageflags copy (raw, or a zstd stream of it) as one uint64 per pfn."""
    if data[:4] == _ZSTD_MAGIC:
        import zstandard

        chunks, size = [], 0
        try:
            with zstandard.ZstdDecompressor().stream_reader(data) as reader:
                while chunk := reader.read(1 << 22):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_KPAGEFLAGS_BYTES:
                        raise UsageError(
                            f"{where}: more than {MAX_KPAGEFLAGS_BYTES} bytes decompressed"
                        )
        except zstandard.ZstdError as exc:
            raise UsageError(f"{where}: bad zstd stream ({exc})") from None
        data = b"".join(chunks)
    if not data or len(data) % KPAGEFLAGS_ENTRY:
        raise UsageError(
            f"{where}: {len(data)} bytes is not a /proc/kpageflags copy "
            f"({KPAGEFLAGS_ENTRY} bytes per pfn)"
        )
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)


@dataclass(frozen=True)
class ZoneInfo:
    """One populated zone of a /proc/zoneinfo copy."""

    name: str
    start_pfn: int
    spanned: int
    present: int
    managed: int
    #: ``pages free`` (NR_FREE_PAGES: the pages in the buddy free lists)
    nr_free_pages: int
    #: pages on the per-cpu lists (the pagesets' ``count:``): free, but not BUDDY
    pcp_pages: int

    @property
    def end_pfn(self) -> int:
        """``zone_end_pfn()``: start_pfn + spanned."""
        return self.start_pfn + self.spanned


_ZONE_RE = re.compile(r"^Node\s+(\d+),\s+zone\s+(\S+)", re.M)


def parse_zoneinfo(text: str, where: str = "zoneinfo") -> tuple[ZoneInfo, ...]:
    """The populated zones (``spanned`` > 0) of a /proc/zoneinfo copy, in pfn order."""
    heads = list(_ZONE_RE.finditer(text))
    if not heads:
        raise UsageError(f"{where}: not a /proc/zoneinfo copy (no 'Node N, zone NAME' line)")
    zones = []
    for head, nxt in zip(heads, [*heads[1:], None], strict=True):
        body = text[head.end() : nxt.start() if nxt else len(text)]

        def field(key: str, body: str = body, zone: str = head.group(2)) -> int:
            found = re.search(rf"^\s*{key}\s*:?\s+(\d+)", body, re.M)
            if found is None:
                raise UsageError(f"{where}: zone {zone} has no '{key}' line")
            return int(found.group(1))

        spanned = field("spanned")
        if not spanned:
            continue
        zones.append(ZoneInfo(
            name=head.group(2), start_pfn=field("start_pfn"), spanned=spanned,
            present=field("present"), managed=field("managed"),
            nr_free_pages=field("pages free"),
            pcp_pages=sum(int(n) for n in re.findall(r"^\s*count:\s+(\d+)", body, re.M)),
        ))
    return tuple(sorted(zones, key=lambda zone: zone.start_pfn))


_IOMEM_RE = re.compile(r"^([0-9a-fA-F]+)-([0-9a-fA-F]+) : System RAM\s*$", re.M)


def parse_iomem(text: str, where: str = "iomem") -> Ranges:
    """The frames wholly inside top-level "System RAM" ranges of a /proc/iomem copy.

    As root, /proc/iomem shows addresses; as another user every address reads 0, which is
    refused. A frame partly covered (``0009fc00`` ends RAM inside pfn 0x9f) is not RAM, as
    e820's ``PFN_UP(start)`` to ``PFN_DOWN(end)`` rounding has it.
    """
    ranges = []
    for match in _IOMEM_RE.finditer(text):
        start, last = int(match.group(1), 16), int(match.group(2), 16)
        first_pfn = -(-start // PAGE_SIZE)
        end_pfn = (last + 1) // PAGE_SIZE
        if end_pfn > first_pfn:
            ranges.append((first_pfn, end_pfn))
    if not ranges:
        raise UsageError(f"{where}: no 'System RAM' range with addresses (read it as root)")
    return tuple(sorted(ranges))


@dataclass(frozen=True)
class KpageflagsDump:
    """A /proc/kpageflags copy with the /proc/zoneinfo and /proc/iomem copies that came with it.

    ``flags`` holds one uint64 per pfn, from pfn 0; ``zones`` and ``ram`` are empty when those
    copies were not given.
    """

    flags: WordArray
    zones: tuple[ZoneInfo, ...] = ()
    ram: Ranges = ()

    @property
    def frames(self) -> int:
        """The machine's page frames: the end of the last zone when zoneinfo was given (the
        kernel's max_pfn; the dump may run further), else every pfn of the dump."""
        if self.zones:
            return max(zone.end_pfn for zone in self.zones)
        return len(self.flags)

    def flag(self, bit: int) -> BoolArray:
        """Which of the :attr:`frames` pfns have ``KPF_<bit>``."""
        return kpf_set(self.flags[: self.frames], bit)

    def frame_states(self) -> StateArray:
        """:func:`frame_states` of this dump."""
        return frame_states(self.flags[: self.frames], self.ram)

    def free_check(self) -> str | None:
        """None when the BUDDY pages of each zone are its ``pages free`` (as in a consistent
        copy), else a note naming the first zone that differs."""
        buddy = self.flag(KPF_BUDDY)
        for zone in self.zones:
            counted = int(buddy[zone.start_pfn : zone.end_pfn].sum())
            if counted != zone.nr_free_pages:
                return (
                    f"zone {zone.name}: {counted} KPF_BUDDY pages in kpageflags, "
                    f"{zone.nr_free_pages} free pages in zoneinfo (copies of different moments?)"
                )
        return None


def frame_states(flags: WordArray, ram: Ranges = ()) -> StateArray:
    """Each pfn's state from its flags: KPF_STATE_HOLE, _FREE, _RESERVED or _USED.

    Hole first (``KPF_NOPAGE``, or outside ``ram`` when the iomem copy gave it), then free
    (``KPF_BUDDY``), then reserved (``KPF_RESERVED``); everything else is used.
    """
    state = np.full(len(flags), KPF_STATE_USED, dtype=np.uint8)
    state[kpf_set(flags, KPF_RESERVED)] = KPF_STATE_RESERVED
    state[kpf_set(flags, KPF_BUDDY)] = KPF_STATE_FREE
    hole = kpf_set(flags, KPF_NOPAGE)
    if ram:
        hole |= ~ranges_mask(((s, min(e, len(flags))) for s, e in ram if s < len(flags)),
                             len(flags))
    state[hole] = KPF_STATE_HOLE
    return state


def _read(path: str | Path, what: str) -> bytes:
    """The whole file, read in chunks that are whole multiples of 8 bytes (/proc/kpageflags
    refuses any other read size with EINVAL)."""
    try:
        with open(path, "rb", buffering=0) as raw:
            return b"".join(iter(lambda: raw.read(1 << 20), b""))
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_kpageflags(
    path: str | Path, zoneinfo: str | Path | None = None, iomem: str | Path | None = None
) -> KpageflagsDump:
    """A dump from files: the /proc/kpageflags copy at ``path`` (raw or zstd) and, when given,
    copies of /proc/zoneinfo and /proc/iomem taken at the same moment."""
    flags = decode_kpageflags(_read(path, "kpageflags copy"), str(path))
    zones: tuple[ZoneInfo, ...] = ()
    ram: Ranges = ()
    if zoneinfo is not None:
        text = _read(zoneinfo, "zoneinfo copy").decode("utf-8", "replace")
        zones = parse_zoneinfo(text, str(zoneinfo))
        end = max(zone.end_pfn for zone in zones)
        if end > len(flags):
            raise UsageError(
                f"{path}: {len(flags)} pfns, but the zones in {zoneinfo} run to pfn {end}"
            )
    if iomem is not None:
        ram = parse_iomem(_read(iomem, "iomem copy").decode("utf-8", "replace"), str(iomem))
    return KpageflagsDump(flags, zones, ram)


#: Where --from-host reads this machine's memory.
HOST_KPAGEFLAGS = "/proc/kpageflags"
HOST_ZONEINFO = "/proc/zoneinfo"
HOST_IOMEM = "/proc/iomem"


def read_host() -> KpageflagsDump:
    """This machine's memory now: /proc/kpageflags, /proc/zoneinfo, /proc/iomem (as root)."""
    return read_kpageflags(HOST_KPAGEFLAGS, HOST_ZONEINFO, HOST_IOMEM)

"""Real memory: /proc/kpageflags copies read into frame states and machine files.

The data set in tests/data/real/dump-6.1-suspend/ is a real 6.1.192 kernel's /proc/kpageflags
(zstd), /proc/zoneinfo and /proc/iomem, taken at one moment under QEMU (-m 256) just before it
hibernated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zstandard

from swsim.errors import MachineError, UsageError
from swsim.machine.file import load_machine
from swsim.machine.kpageflags import (
    KPF_ANON,
    KPF_BUDDY,
    KPF_LRU,
    KPF_NAMES,
    KPF_NOPAGE,
    KPF_RESERVED,
    KPF_SLAB,
    KPF_STATE_FREE,
    KPF_STATE_HOLE,
    KPF_STATE_RESERVED,
    KPF_STATE_USED,
    KpageflagsDump,
    decode_kpageflags,
    frame_states,
    parse_iomem,
    read_kpageflags,
)
from swsim.machine.model import FRAME_FREE, FRAME_RESERVED, FRAME_USED, Machine
from swsim.machine.presets import get_preset
from swsim.machine.real_memory import machine_from_memory
from tests.helpers import ROOT, run_cli

DUMP = ROOT / "tests" / "data" / "real" / "dump-6.1-suspend"


def dump61() -> KpageflagsDump:
    return read_kpageflags(DUMP / "kpageflags.zst", DUMP / "zoneinfo", DUMP / "iomem")


def flags_of(*bits_per_pfn: tuple[int, ...]) -> np.ndarray:
    return np.array([sum(1 << b for b in bits) for bits in bits_per_pfn], dtype=np.uint64)


def test_bit_numbers_are_the_kernel_headers() -> None:
    assert (KPF_LRU, KPF_SLAB, KPF_BUDDY, KPF_ANON, KPF_NOPAGE, KPF_RESERVED) == (
        5, 7, 10, 12, 20, 32)
    assert KPF_NAMES[10] == "KPF_BUDDY" and KPF_NAMES[32] == "KPF_RESERVED"
    assert not any(name.startswith("KPF_STATE") for name in KPF_NAMES.values())


def test_raw_and_zstd_copies_read_alike() -> None:
    flags = flags_of((KPF_BUDDY,), (KPF_LRU, KPF_ANON), (KPF_RESERVED,), (KPF_NOPAGE,))
    raw = flags.astype("<u8").tobytes()
    assert (decode_kpageflags(raw) == flags).all()
    assert (decode_kpageflags(zstandard.ZstdCompressor().compress(raw)) == flags).all()


@pytest.mark.parametrize("data", [b"", b"1234567", b"\x28\xb5\x2f\xfd garbage"])
def test_a_bad_copy_is_one_usage_error(data: bytes) -> None:
    with pytest.raises(UsageError):
        decode_kpageflags(data)


def test_states_hole_then_free_then_reserved_then_used() -> None:
    flags = flags_of(
        (KPF_BUDDY,), (KPF_LRU, KPF_ANON), (KPF_RESERVED,), (KPF_NOPAGE,), (KPF_SLAB,),
        (KPF_BUDDY,),
    )
    assert frame_states(flags).tolist() == [
        KPF_STATE_FREE, KPF_STATE_USED, KPF_STATE_RESERVED, KPF_STATE_HOLE, KPF_STATE_USED,
        KPF_STATE_FREE,
    ]
    # With the iomem copy, the frames outside System RAM are holes whatever their flags.
    assert frame_states(flags, ram=((1, 5),)).tolist() == [
        KPF_STATE_HOLE, KPF_STATE_USED, KPF_STATE_RESERVED, KPF_STATE_HOLE, KPF_STATE_USED,
        KPF_STATE_HOLE,
    ]


def test_iomem_rounds_partial_frames_out_of_ram() -> None:
    text = (DUMP / "iomem").read_text()
    assert parse_iomem(text) == ((1, 0x9F), (0x100, 0xFFDA))
    with pytest.raises(UsageError):
        parse_iomem("00000000-00000000 : System RAM\n")  # read by a user: addresses hidden


def test_real_61_dump_matches_its_zoneinfo() -> None:
    dump = dump61()
    assert len(dump.flags) == 65536
    assert dump.frames == 65498  # the end of DMA32, the kernel's max_pfn
    assert [(z.name, z.start_pfn) for z in dump.zones] == [("DMA", 1), ("DMA32", 4096)]
    # KPF_BUDDY is set on every page of a free block: their count is each zone's pages free.
    assert dump.free_check() is None
    assert int(dump.flag(KPF_BUDDY).sum()) == 3808 + 37915
    states = np.bincount(dump.frame_states(), minlength=4)
    assert states.tolist() == [41723, 10959, 12718, 98]
    # The holes are pfn 0 and the legacy area 0x9f to 0xff (iomem: not System RAM).
    assert np.flatnonzero(dump.frame_states() == KPF_STATE_HOLE).tolist() == [
        0, *range(0x9F, 0x100)]


def test_a_shifted_zoneinfo_breaks_the_free_check() -> None:
    dump = dump61()
    flags = dump.flags.copy()
    flags[70000 // 2] ^= np.uint64(1 << KPF_BUDDY)
    assert "zone DMA32" in str(KpageflagsDump(flags, dump.zones, dump.ram).free_check())


def test_boot_and_suspend_parts_of_a_machine() -> None:
    dump = dump61()
    machine = machine_from_memory(None, boot=dump, suspend=dump)
    states = dump.frame_states()
    boot = machine.boot_state()
    assert ((boot == FRAME_FREE) == (states == KPF_STATE_FREE)).all()
    assert ((boot == FRAME_RESERVED) == (states == KPF_STATE_HOLE)).all()
    # kernel-reserved RAM is not free at boot and is saved (saveable_page())
    assert (boot[states == KPF_STATE_RESERVED] == FRAME_USED).all()
    assert machine.nr_saveable == 10959 + 12718
    saveable = np.zeros(machine.frames, dtype=bool)
    saveable[machine.saveable_pfns()] = True
    assert not saveable[states == KPF_STATE_FREE].any()


def test_boot_copy_over_a_machine_of_the_same_size_keeps_its_suspend_part() -> None:
    dump = dump61()
    base = Machine(frames=dump.frames, saveable=((300, 4000),), name="base")
    machine = machine_from_memory(base, boot=dump)
    assert machine.saveable == base.saveable
    assert machine.nr_boot_free == 41723
    with pytest.raises(MachineError, match="65498, 262144"):
        machine_from_memory(get_preset("rafael-2006"), boot=dump)


def test_cli_machine_from_two_copies(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    copy = str(DUMP / "kpageflags.zst")
    result = run_cli(
        "machine", "--boot-kpageflags", copy, "--suspend-kpageflags", copy,
        "--zoneinfo", str(DUMP / "zoneinfo"), "--iomem", str(DUMP / "iomem"), "-o", str(out),
    )
    assert result.returncode == 0, result.stderr
    machine = load_machine(out)
    assert machine.frames == 65498 and machine.nr_boot_free == 41723
    assert json.loads(out.read_text())["suspend"]["nosave"] == [[0, 1], [159, 256]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zoneinfo", "x"], b"--zoneinfo and --iomem go with"),
        (["--boot-kpageflags", "/nonexistent"], b"cannot read kpageflags copy"),
        (["--from-host", "--suspend-kpageflags", "x"], b"both set the suspend part"),
        (["--boot-kpageflags", str(DUMP / "zoneinfo")], b"is not a /proc/kpageflags copy"),
    ],
)
def test_cli_bad_copies_are_one_line_exit_2(args: list[str], message: bytes) -> None:
    result = run_cli("machine", *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count(b"\n") == 1

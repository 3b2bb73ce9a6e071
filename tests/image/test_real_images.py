"""Real images a real kernel wrote (tests/data/real/, made by tools/real-images), checked against
the kernel's own log of writing them: swsim's reading, the independent reader's, and restores.

Each ``NAME.swap.zst`` (a zstd of the swap device) has ``NAME.hibernate.log`` beside it (the
serial console of the boot that wrote it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import zstandard

from tests.helpers import ROOT, run_cli
from tests.kernel_spec_reader import read_swap_device
from tests.kerneltools import mutations

#: The committed fixtures, or (``SWSIM_REAL_DIR``, as ``make test-qemu`` sets it) images just made.
REAL = Path(os.environ.get("SWSIM_REAL_DIR", ROOT / "tests" / "data" / "real"))
IMAGES = sorted(REAL.glob("*.swap.zst"))

#: The kernel's lines (kernel/power/snapshot.c, swap.c) and the inspect --json keys they match.
LOG_LINES = {
    "pages_copied": r"Image created \((\d+) pages copied",
    "zero_pages": r"Image created \(\d+ pages copied, (\d+) zero pages\)",
    "pages_saved": r"(?:Compressing and saving image data|Saving image data pages) \((\d+) pages\)",
    "kbytes_written": r"Wrote (\d+) kbytes",
    "compressed_kbytes": r"Image size after compression: (\d+) kbytes",
}


def kernel_log(image: Path) -> dict[str, int]:
    """The figures the kernel printed while writing ``image``."""
    text = image.with_name(image.name.replace(".swap.zst", ".hibernate.log")).read_text(
        errors="replace"
    )
    found = {}
    for key, pattern in LOG_LINES.items():
        match = re.search(pattern, text)
        if match:
            found[key] = int(match.group(1))
    need = re.search(r"Need to copy (\d+) pages", text)
    assert need, "no 'Need to copy' line"
    found["need_to_copy"] = int(need.group(1))
    return found


def resume_log(image: Path) -> str:
    """The serial console of the boot that resumed from a copy of ``image``."""
    return image.with_name(image.name.replace(".swap.zst", ".resume.log")).read_text(
        errors="replace"
    )


def test_there_are_real_images_with_their_logs() -> None:
    assert IMAGES, f"no real images under {REAL}"
    for image in IMAGES:
        assert kernel_log(image)["pages_saved"] > 0


@pytest.mark.parametrize("image", IMAGES, ids=[p.name for p in IMAGES])
def test_inspect_equals_the_kernels_log(image: Path) -> None:
    result = run_cli("inspect", str(image), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    log = kernel_log(image)
    assert info["verified"] is True
    device = zstandard.ZstdDecompressor().stream_reader(image.open("rb")).read()
    assert info["device"]["access"] == "spooled to a temporary file"  # sparse: zeros skipped
    assert info["device"]["pages"] * 4096 == len(device)
    assert info["nr_image_pfns"] == log["need_to_copy"]
    assert info["kernel_log"]["pages_copied"] == log["pages_copied"]
    assert info["kernel_log"]["zero_pages"] == log.get("zero_pages", 0)
    assert info["kernel_log"]["pages_saved"] == log["pages_saved"]
    assert info["kernel_log"]["kbytes_written"] == log["kbytes_written"]
    if "compressed_kbytes" in log:  # 6.9+ prints it
        assert info["kernel_log"]["compressed_kbytes"] == log["compressed_kbytes"]
    if "CRC32" in info["flag_names"]:  # the kernel resumed from it: its CRC check passed
        assert info["crc32_stored"] == info["crc32_computed"]
        assert "Image loading done" in resume_log(image)


@pytest.mark.parametrize("image", IMAGES, ids=[p.name for p in IMAGES])
def test_the_independent_reader_agrees(image: Path) -> None:
    device = zstandard.ZstdDecompressor().stream_reader(image.open("rb")).read()
    spec = read_swap_device(device)
    log = kernel_log(image)
    assert spec.image_pages == log["pages_copied"]
    assert spec.pages - 1 == log["pages_saved"]
    assert len(spec.pfns) == log["need_to_copy"]
    assert sum(spec.zero) == log.get("zero_pages", 0)
    assert spec.crc_computed == spec.crc_stored


@pytest.mark.parametrize("image", IMAGES, ids=[p.name for p in IMAGES])
def test_compare_restores_every_strategy_on_the_real_pfns(image: Path) -> None:
    result = run_cli("compare", str(image), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["strategies"]
    assert {row["strategy"] for row in rows} == {"eat", "safe-list", "bitmap", "claim"}
    for row in rows:
        assert row["verified"] is True, row
        assert row["image_pages"] == kernel_log(image)["need_to_copy"]


@pytest.mark.parametrize("image", IMAGES, ids=[p.name for p in IMAGES])
def test_mutations_of_a_real_image_are_one_line_and_exit_3(image: Path, tmp_path: Path) -> None:
    device = zstandard.ZstdDecompressor().stream_reader(image.open("rb")).read()
    for name, bad in mutations(device).items():
        path = tmp_path / "bad.swap"
        path.write_bytes(bad)
        result = run_cli("inspect", str(path), "--json")
        assert result.returncode == 3, (name, result.stderr)
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in lines[0], (name, lines)
        assert b'"verified": true' not in result.stdout, name


@pytest.mark.parametrize("image", IMAGES[-1:], ids=[p.name for p in IMAGES[-1:]])
def test_machine_from_image_is_the_default_boot_state(image: Path, tmp_path: Path) -> None:
    made = run_cli("machine", "--from-image", str(image), "-o", str(tmp_path / "m.json"))
    assert made.returncode == 0, made.stderr
    machine = json.loads((tmp_path / "m.json").read_text())
    assert machine["frames"] == max(json.loads(run_cli("inspect", str(image), "--json").stdout)
                                     [k] for k in ("num_physpages", "frames"))
    given = run_cli("restore", str(image), "--machine", str(tmp_path / "m.json"), "--json")
    default = run_cli("restore", str(image), "--json")
    assert given.returncode == default.returncode == 0
    given_report, default_report = json.loads(given.stdout), json.loads(default.stdout)
    assert given_report.pop("boot_state") == "--machine/--preset"
    assert default_report.pop("boot_state") == "default footprint (docs/kernel-formats.md)"
    assert given_report == default_report

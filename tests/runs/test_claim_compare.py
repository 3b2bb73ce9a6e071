"""``claim`` is the lower bound on copies; ``compare`` and ``inspect`` on files and pipes."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swsim.image.source import open_image
from swsim.machine.model import FRAME_USED
from swsim.resume.strategies import STRATEGIES
from swsim.runs.compare import compare
from tests.helpers import image_bytes_zero, random_machine, restore_image, run_cli, tiny_machine


def _boot_used_image_pfns(machine: object) -> int:
    pfns = machine.saveable_pfns()  # type: ignore[attr-defined]
    return int((machine.boot_state()[pfns] == FRAME_USED).sum())  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None)
@given(st.data(), st.sampled_from(["ascending", "descending", "random", "buddy"]))
def test_claim_copies_exactly_the_pages_whose_frames_the_boot_kernel_uses(
    data: st.DataObject, allocator: str
) -> None:
    machine = random_machine(data.draw)
    image = image_bytes_zero(machine, data.draw(st.sampled_from(["skip", "store"])))
    claim = restore_image(io.BytesIO(image), "claim", allocator=allocator, seed=3)
    assert claim.verified
    assert claim.copies == _boot_used_image_pfns(machine)
    for name in STRATEGIES:
        other = restore_image(io.BytesIO(image), name, allocator=allocator, seed=3)
        assert other.verified
        assert other.copies >= claim.copies, name


def test_an_image_clear_of_the_boot_kernel_needs_no_copy_under_claim() -> None:
    machine = tiny_machine(4096, ((1000, 2000),), used=((0, 900),))
    stats = restore_image(io.BytesIO(image_bytes_zero(machine, "skip")), "claim")
    assert stats.copies == 0 and stats.direct == 1000 and stats.verified


def test_compare_gives_the_numbers_of_separate_restores() -> None:
    machine = tiny_machine(8192, ((200, 3000), (4000, 5000)), used=((1000, 1500), (6000, 6100)))
    image = image_bytes_zero(machine, "skip")
    rows = compare(open_image(io.BytesIO(image)))
    assert [r.strategy for r in rows] == list(STRATEGIES)
    claim_copies = restore_image(io.BytesIO(image), "claim").copies
    for row in rows:
        alone = restore_image(io.BytesIO(image), row.strategy)
        assert row.stats == alone
        assert row.excess_copies == alone.copies - claim_copies


def test_compare_cli_on_stdin_matches_separate_restore_commands() -> None:
    image = image_bytes_zero(tiny_machine(8192, ((300, 2500),), used=((1000, 1200),)), "skip")
    proc = run_cli("compare", "-", "--json", input=image)
    assert proc.returncode == 0, proc.stderr
    rows = {r["strategy"]: r for r in json.loads(proc.stdout)["strategies"]}
    assert set(rows) == set(STRATEGIES)
    for name in STRATEGIES:
        alone = run_cli("restore", "-", "--json", "--strategy", name, input=image)
        single = json.loads(alone.stdout)
        for key in ("allocations", "eaten", "direct", "copies", "peak_pages", "verified"):
            assert rows[name][key] == single[key], (name, key)
    assert rows["claim"]["excess_copies"] == 0
    assert rows["eat"]["excess_copies"] == rows["eat"]["copies"] - rows["claim"]["copies"]


def test_compare_cli_strategy_option_is_repeatable_and_table_lists_them() -> None:
    image = image_bytes_zero(tiny_machine(8192, ((300, 2500),), used=((1000, 1200),)), "skip")
    proc = run_cli("compare", "-", "--strategy", "bitmap", "--strategy", "eat", input=image)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "bitmap" in out and "eat" in out and "safe-list" not in out
    assert "excess copies over claim" in out


def test_compare_reports_a_strategy_that_runs_out_of_memory_and_goes_on() -> None:
    # 60% of memory saved, most of it free at boot: eat needs about twice the image.
    machine = tiny_machine(10000, ((100, 6100),), used=((6100, 6300),))
    image = image_bytes_zero(machine, "skip")
    rows = {r.strategy: r for r in compare(open_image(io.BytesIO(image)))}
    eat = rows["eat"]
    assert eat.error == "ENOMEM: 2236 page(s) missing" and eat.excess_copies is None
    assert eat.stats is not None and eat.stats.missing == 2236 and not eat.stats.verified
    assert rows["safe-list"].stats is not None and rows["safe-list"].stats.verified


def test_inspect_reports_header_zones_zero_pages_and_digest() -> None:
    machine = tiny_machine(1 << 13, ((3000, 5000), (6000, 6500)))
    image = image_bytes_zero(machine, "skip")
    proc = run_cli("inspect", "-", "--json", input=image)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["image_pages"] == 2500
    assert info["pages_per_zone"] == {"DMA": 1096, "DMA32": 1404}
    assert info["nr_pfn_ranges"] == 2 and info["pfn_ranges"] == [[3000, 5000], [6000, 6500]]
    assert info["nr_zero_pages"] == info["image_pages"] - info["nr_data_pages"] > 0
    assert sum(info["zero_pages_per_zone"].values()) == info["nr_zero_pages"]
    assert info["verified"] is True


def test_inspect_exits_3_on_a_changed_data_byte() -> None:
    image = bytearray(image_bytes_zero(tiny_machine(4096, ((300, 900),)), "store"))
    image[3 * 4096 + 17] ^= 0xFF
    proc = run_cli("inspect", "-", input=bytes(image))
    assert proc.returncode == 3
    assert b"digest" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def preset_image(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``swsim snapshot --preset NAME -o FILE``, once per preset for the whole module."""
    files: dict[str, Path] = {}

    def snapshot(preset: str) -> Path:
        if preset not in files:
            path = tmp_path_factory.mktemp("preset") / "img"
            assert run_cli("snapshot", "--preset", preset, "-o", str(path)).returncode == 0
            files[preset] = path
        return files[preset]

    return snapshot


@pytest.mark.parametrize("preset", ["default", "rafael-2006"])
def test_done_when_compare_on_the_presets_shows_all_strategies(
    preset: str, preset_image: Callable[[str], Path]
) -> None:
    path = preset_image(preset)
    proc = run_cli("compare", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["strategies"]
    assert {r["strategy"] for r in rows} >= {"eat", "safe-list", "bitmap", "claim"}
    assert all(r["verified"] for r in rows)
    assert min(r["excess_copies"] for r in rows) == 0
    assert np.all([r["excess_copies"] >= 0 for r in rows])


def test_rafael_2006_keeps_the_seed_figures_with_its_documented_allocator(
    preset_image: Callable[[str], Path],
) -> None:
    """The seed: about 90000 copies and 90000 allocations saved for an image of 100000 pages."""
    path = preset_image("rafael-2006")
    proc = run_cli("compare", str(path), "--json", "--strategy", "eat", "--strategy", "safe-list")
    data = json.loads(proc.stdout)
    assert data["allocator"] == "ascending"
    rows = {r["strategy"]: r for r in data["strategies"]}
    assert (rows["eat"]["allocations"], rows["eat"]["copies"]) == (191178, 100000)
    assert (rows["safe-list"]["allocations"], rows["safe-list"]["copies"]) == (101179, 10000)
    # 10000 frames of the image are used by the boot kernel: claim's bound.
    assert rows["safe-list"]["excess_copies"] == 0

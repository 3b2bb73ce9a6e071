"""``snapshot --kernel/--image-size/--json``, ``cycle`` and ``compare`` on the command line:
reports, the kernel recorded in the image, and bad input as one line with its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swsim.machine.presets import get_preset
from tests.helpers import run_cli


@pytest.fixture
def nigel(tmp_path: Path) -> Path:
    """nigel-2006 as a machine file in ``tmp_path``."""
    path = tmp_path / "m.json"
    path.write_text(get_preset("nigel-2006").dumps())
    return path


def test_snapshot_json_report_and_the_kernel_recorded(tmp_path: Path) -> None:
    out = tmp_path / "img"
    proc = run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "6.12", "--image-size",
                   "40%", "--no-data", "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kernel"] == "6.12" and report["fits"] is True
    assert report["image_pages"] == report["saveable_after"] == 104755
    assert set(report) >= {"freed", "swapped_out", "allocated", "copied", "zero_pages",
                           "peak_pages", "free_after", "messages"}
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    assert info["suspend_kernel"] == "6.12" and info["image_pages"] == 104755
    compared = json.loads(run_cli("compare", str(out), "--json").stdout)
    assert compared["suspend_kernel"] == "6.12"


def test_snapshot_prints_the_kernel_messages_on_stderr(tmp_path: Path) -> None:
    proc = run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "2.6.17", "--no-data",
                   "-o", str(tmp_path / "img"))
    assert proc.returncode == 0
    assert b"PM: swsusp: Need to copy 126739 pages" in proc.stderr


def test_a_suspend_that_cannot_fit_is_one_line_exit_4_and_no_file(tmp_path: Path) -> None:
    # rafael-2006 squeezed: 200000 of 262144 frames saved, all kernel memory.
    machine = get_preset("rafael-2006")
    full = machine.to_json()
    full["suspend"]["saveable"] = [[256, 200256]]
    path = tmp_path / "full.json"
    path.write_text(json.dumps(full))
    out = tmp_path / "img"
    for kernel in ("2.6.17", "6.12", "tuxonice"):
        proc = run_cli("snapshot", "--machine", str(path), "--kernel", kernel, "-o", str(out))
        assert proc.returncode == 4, proc.stderr
        assert proc.stderr.decode().count("\n") == 1
        assert not out.exists()


@pytest.mark.parametrize("size", ["abc", "-5", "150%", "12 parsecs", "1.5"])
def test_an_impossible_image_size_is_one_line_exit_2(tmp_path: Path, size: str) -> None:
    out = tmp_path / "img"
    proc = run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "6.12", "--image-size", size,
                   "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("swsim: error: --image-size")
    assert proc.stderr.decode().count("\n") == 1
    assert not out.exists()


def test_json_needs_a_file_and_image_size_needs_a_kernel() -> None:
    assert run_cli("snapshot", "--kernel", "6.12", "--json").returncode == 2
    assert run_cli("snapshot", "--image-size", "40%", "-o", "x").returncode == 2


def test_cycle_json_rows(nigel: Path) -> None:
    proc = run_cli("cycle", "--machine", str(nigel), "--kernel", "none", "--kernel", "tuxonice",
                   "--strategy", "eat", "--strategy", "safe-list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {(r["kernel"], r["strategy"]): r for r in json.loads(proc.stdout)["rows"]}
    assert not rows[("none", "eat")]["ok"]
    assert rows[("none", "safe-list")]["ok"]
    assert rows[("tuxonice", "eat")]["ok"] and rows[("tuxonice", "eat")]["read_after"] == 117286


def test_cycle_table(nigel: Path) -> None:
    proc = run_cli("cycle", "--machine", str(nigel), "--strategy", "safe-list")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for kernel in ("none", "2.6.17", "6.1", "6.12", "tuxonice"):
        assert kernel in text
    assert "117,286" in text


def test_compare_names_the_suspend_side_that_made_the_image(tmp_path: Path) -> None:
    out = tmp_path / "img"
    assert run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "tuxonice", "--no-data",
                   "-o", str(out)).returncode == 0
    table = run_cli("compare", str(out), "--strategy", "safe-list").stdout.decode()
    assert "made by the tuxonice suspend side" in " ".join(table.split())


def test_restoring_a_tuxonice_image_file_says_it_is_restored_whole(tmp_path: Path) -> None:
    out = tmp_path / "img"
    assert run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "tuxonice", "--no-data",
                   "-o", str(out)).returncode == 0
    proc = run_cli("restore", str(out), "--json")
    assert proc.returncode == 0
    assert b"restored whole and atomically" in proc.stderr
    assert json.loads(proc.stdout)["image_pages"] == 157286

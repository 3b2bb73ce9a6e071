"""The CLI: pipes, files, machines, and every user error.

Run in-process (tests.helpers.run_cli) except where a real process is what is tested: a pipe
between two processes, ``python -m swsim`` itself, and Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from swsim.machine.file import load_machine
from swsim.machine.model import Machine
from swsim.machine.presets import generate_machine, get_preset
from tests.helpers import (
    assert_one_line_error,
    image_bytes,
    run_cli,
    run_swsim,
    swsim_env,
    tiny_machine,
)

MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30),), reserved=((0, 4),))


@pytest.fixture
def machine_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.json"
    path.write_text(MACHINE.dumps())
    return path


@pytest.fixture
def image_file(tmp_path: Path, machine_file: Path) -> Path:
    path = tmp_path / "img.swsim"
    proc = run_cli("snapshot", "--machine", str(machine_file), "-o", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def test_snapshot_file_equals_snapshot_stdout(image_file: Path, machine_file: Path) -> None:
    proc = run_cli("snapshot", "--machine", str(machine_file), "-o", "-")
    assert proc.returncode == 0
    assert proc.stdout == image_file.read_bytes() == image_bytes(MACHINE)


def test_real_pipe_snapshot_into_restore(swsim_cmd: list[str], machine_file: Path) -> None:
    env = swsim_env()
    snap = subprocess.Popen([*swsim_cmd, "snapshot", "--machine", str(machine_file), "-o", "-"],
                            stdout=subprocess.PIPE, env=env)
    rest = subprocess.run([*swsim_cmd, "restore", "-", "--strategy=eat", "--json"],
                          stdin=snap.stdout, capture_output=True, env=env, timeout=120)
    assert snap.stdout is not None
    snap.stdout.close()
    assert snap.wait() == 0
    assert rest.returncode == 0, rest.stderr
    data = json.loads(rest.stdout)
    for key in ("strategy", "image_pages", "allocations", "eaten", "direct", "copies",
                "peak_pages", "verified"):
        assert key in data
    assert data["strategy"] == "eat" and data["verified"] is True
    assert data["copies"] == data["image_pages"] == MACHINE.nr_saveable


def test_restore_prints_a_table_by_default(image_file: Path) -> None:
    proc = run_cli("restore", str(image_file), "--strategy=safe-list")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    assert "safe-list" in out and "pages loaded directly" in out


def test_machine_command_round_trips_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "rafael.json"
    assert run_cli("machine", "--preset", "rafael-2006", "-o", str(path)).returncode == 0
    assert load_machine(path) == get_preset("rafael-2006")
    data = json.loads(path.read_text())
    assert data["format"] == "swsim-machine/1" and data["frames"] == 262144
    assert data["suspend"]["saveable"] == [[256, 100256]]


def test_python_dash_m_swsim_works() -> None:
    proc = run_swsim("--version")  # a real process: python -m swsim itself
    assert proc.returncode == 0 and b"swsim" in proc.stdout


# -- bad images ------------------------------------------------------------------------
def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"hello world\n" * 1000)
    assert_one_line_error(run_cli("restore", str(path)), 3, "not an swsim image")
    path.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")  # shorter than a page
    assert_one_line_error(run_cli("inspect", str(path)), 3, "not an swsim image")


def test_truncated_image(image_file: Path) -> None:
    data = image_file.read_bytes()
    for cut in (100, 4096 + 10, len(data) - 4096 - 1, len(data) - 1):
        proc = run_cli("restore", "-", input=data[:cut])
        assert_one_line_error(proc, 3, "truncated")


def test_corrupted_data_page_is_caught_by_its_block_checksum(image_file: Path) -> None:
    data = bytearray(image_file.read_bytes())
    data[3 * 4096 + 77] ^= 0x40  # a data page
    assert_one_line_error(run_cli("restore", "-", input=bytes(data)), 3, "CRC32 mismatch")


def test_corrupted_header_is_caught_by_its_checksum(image_file: Path) -> None:
    data = bytearray(image_file.read_bytes())
    data[20] ^= 1
    assert_one_line_error(run_cli("restore", "-", input=bytes(data)), 3, "header")


def test_image_on_a_machine_of_another_size(image_file: Path) -> None:
    proc = run_cli("restore", str(image_file), "--preset", "rafael-2006")
    assert_one_line_error(proc, 5, "Image mismatch: memory size")


def test_image_pfn_reserved_on_the_chosen_machine(image_file: Path, tmp_path: Path) -> None:
    other = Machine(frames=256, saveable=((20, 30),), boot_reserved=((0, 10),))
    path = tmp_path / "other.json"
    path.write_text(other.dumps())
    proc = run_cli("restore", str(image_file), "--machine", str(path))
    assert_one_line_error(proc, 5, "reserved")


def test_not_enough_memory_names_the_strategy_and_the_missing_pages(tmp_path: Path) -> None:
    tight = tiny_machine(64, ((1, 40),), reserved=((0, 1),))  # 39 pages, 63 free frames
    path = tmp_path / "tight.swsim"
    path.write_bytes(image_bytes(tight))
    proc = run_cli("restore", str(path), "--strategy=eat")
    assert_one_line_error(proc, 4, "strategy eat")
    assert b"more page(s) needed" in proc.stderr
    assert run_cli("restore", str(path), "--strategy=safe-list").returncode == 0


# -- bad machines and options ----------------------------------------------------------
@pytest.mark.parametrize(
    "doc, text",
    [
        ({"format": "swsim-machine/1", "frames": 100,
          "suspend": {"saveable": [[0, 50], [40, 60]]}}, "overlaps"),
        ({"format": "swsim-machine/1", "frames": 100,
          "suspend": {"saveable": [[0, 150]]}}, "outside"),
        ({"format": "swsim-machine/1", "frames": 100, "suspend": {"saveable": [[0, 10]]},
          "boot": {"used": [[5, 9]], "reserved": [[8, 12]]}}, "overlaps"),
        ({"format": "nope", "frames": 100, "suspend": {}}, "format"),
        ({"format": "swsim-machine/1", "frames": 100, "suspend": {"saveable": [[5, 5]]}},
         "empty"),
    ],
)
def test_bad_machine_files(tmp_path: Path, doc: dict, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert_one_line_error(run_cli("snapshot", "--machine", str(path), "-o", "-"), 2, text)


def test_machine_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    assert_one_line_error(run_cli("snapshot", "--machine", str(path), "-o", "-"), 2, "JSON")


def test_missing_image_file() -> None:
    assert_one_line_error(run_cli("restore", "/nonexistent/img"), 2, "cannot read")


# -- nothing half-written --------------------------------------------------------------
def test_failed_snapshot_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "keep.swsim"
    target.write_bytes(b"precious")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    proc = run_cli("snapshot", "--machine", str(bad), "-o", str(target))
    assert proc.returncode == 2
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "keep.swsim"]


def test_interrupted_snapshot_leaves_no_file(tmp_path: Path, swsim_cmd: list[str]) -> None:
    # 8 GiB of memory, a 3 GiB image: long enough to be interrupted while it is written.
    big = generate_machine(frames=1 << 21, saveable_fraction=0.4)
    machine = tmp_path.parent / "big-machine.json"
    machine.write_text(big.dumps())
    target = tmp_path / "big.swsim"
    env = swsim_env()
    proc = subprocess.Popen([*swsim_cmd, "snapshot", "--machine", str(machine), "-o", str(target)],
                            env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []

"""Where a machine (and a key) comes from on the command line: a file, standard input (``-``),
a generated machine; options that would do nothing are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swsim.errors import EXIT_AUTH, EXIT_OK, EXIT_USAGE
from swsim.machine.file import parse_machine
from tests.helpers import assert_one_line_error, image_bytes, run_cli, swsim_env, tiny_machine
from tests.imagetools import KEY

MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30),), reserved=((0, 4),))
SMALL_GENERATE = ["--generate", "--frames", "4096", "--kernel-mib", "2", "--early-mib", "1"]


def test_machine_from_standard_input_gives_the_same_image_as_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(MACHINE.dumps())
    from_file = run_cli("snapshot", "--machine", str(tmp_path / "m.json"), "-o", "-")
    from_stdin = run_cli("snapshot", "--machine", "-", "-o", "-", input=MACHINE.dumps().encode())
    assert from_file.returncode == from_stdin.returncode == EXIT_OK, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout == image_bytes(MACHINE)


def test_generate_piped_into_snapshot_in_real_processes(tmp_path: Path) -> None:
    swsim = [sys.executable, "-m", "swsim"]
    env = swsim_env()
    generate = subprocess.Popen(
        [*swsim, "machine", *SMALL_GENERATE, "-o", "-"], stdout=subprocess.PIPE, env=env
    )
    snapshot = subprocess.run(
        [*swsim, "snapshot", "--machine", "-", "-o", str(tmp_path / "img")],
        stdin=generate.stdout, capture_output=True, env=env, timeout=300,
    )
    assert generate.stdout is not None
    generate.stdout.close()
    assert generate.wait(timeout=300) == 0
    assert snapshot.returncode == 0, snapshot.stderr
    inspect = run_cli("inspect", str(tmp_path / "img"), "--json")
    assert json.loads(inspect.stdout)["num_physpages"] == 4096


def test_restore_and_machine_take_a_machine_from_standard_input(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(image_bytes(MACHINE))
    text = MACHINE.dumps().encode()
    proc = run_cli("restore", str(tmp_path / "img"), "--machine", "-", "--json", input=text)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert json.loads(proc.stdout)["verified"] is True
    proc = run_cli("machine", "--machine", "-", input=text)
    assert parse_machine(proc.stdout) == MACHINE


def test_a_bad_machine_on_standard_input_is_one_line() -> None:
    proc = run_cli("snapshot", "--machine", "-", "-o", "-", input=b'{"format": 1}')
    assert_one_line_error(proc, EXIT_USAGE, "standard input (--machine): \"format\" must be")


@pytest.mark.parametrize("option", ["--machine", "--key-file"])
def test_an_empty_file_name_is_refused(option: str, tmp_path: Path) -> None:
    proc = run_cli("snapshot", option, "", "-o", str(tmp_path / "img"))
    assert_one_line_error(proc, EXIT_USAGE, f"{option} needs a file name")
    assert not (tmp_path / "img").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["restore", "-", "--machine", "-"], "IMAGE and --machine cannot both read standard"),
        (["compare", "-", "--key-file", "-"], "IMAGE and --key-file cannot both read standard"),
        (["snapshot", "--machine", "-", "--key-file", "-", "-o", "x"],
         "--machine and --key-file cannot both read standard input"),
    ],
)
def test_standard_input_feeds_one_input(args: list[str], expected: str) -> None:
    proc = run_cli(*args, input=MACHINE.dumps().encode())
    assert_one_line_error(proc, EXIT_USAGE, expected)


def test_key_from_standard_input_signs_and_checks(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(MACHINE.dumps())
    (tmp_path / "key").write_bytes(KEY)
    signed = run_cli("snapshot", "--machine", str(tmp_path / "m.json"), "--key-file", "-",
                     "-o", str(tmp_path / "img"), input=KEY)
    assert signed.returncode == EXIT_OK, signed.stderr
    proc = run_cli("restore", str(tmp_path / "img"), "--key-file", str(tmp_path / "key"),
                   "--json")
    assert json.loads(proc.stdout)["authenticated"] is True
    proc = run_cli("restore", str(tmp_path / "img"), "--key-file", "-", "--json", input=KEY)
    assert json.loads(proc.stdout)["authenticated"] is True
    wrong = run_cli("inspect", str(tmp_path / "img"), "--key-file", "-", input=b"x" * 32)
    assert wrong.returncode == EXIT_AUTH
    short = run_cli("restore", str(tmp_path / "img"), "--key-file", "-", input=b"short")
    assert_one_line_error(short, EXIT_USAGE, "standard input (--key-file) holds 5 byte(s)")


@pytest.mark.parametrize(
    "option",
    [["--frames", "4096"], ["--saved-fraction", "0.5"], ["--load-address-mib", "4"],
     ["--kernel-mib", "4"], ["--early-mib", "4"], ["--struct-page-bytes", "32"],
     ["--seed", "3"]],
    ids=lambda option: option[0],
)
def test_generate_options_without_generate_are_refused(option: list[str]) -> None:
    for base in ([], ["--preset", "rafael-2006"]):
        proc = run_cli("machine", *base, *option)
        assert_one_line_error(proc, EXIT_USAGE, f"{option[0]} needs --generate")
    proc = run_cli("machine", *SMALL_GENERATE, *option)
    assert proc.returncode == EXIT_OK, proc.stderr


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--kernel-mib", "17"], "the kernel image (17 MiB) is larger than the machine's memory"),
        (["--early-mib", "100"], "the early boot allocations (100 MiB) is larger than"),
        (["--struct-page-bytes", "4097"], "mem_map (16.0039 MiB) is larger than the machine's"),
    ],
)
def test_footprint_parts_larger_than_memory_are_refused(
    option: list[str], expected: str
) -> None:
    proc = run_cli("machine", "--generate", "--frames", "4096", "--kernel-mib", "2", *option)
    assert_one_line_error(proc, EXIT_USAGE, expected)
    assert "(16 MiB)" in proc.stderr.decode()

"""The kernel's formats on the command line: snapshot, inspect, restore, compare, machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from tests.helpers import run_cli, run_swsim
from tests.kerneltools import MACHINE, kernel_image, mutations, shifted


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kernel")
    (path / "m.json").write_text(MACHINE.dumps())
    return path


def one_line_error(result_stderr: bytes) -> str:
    lines = result_stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(("compress", "kernel_format"), [("lz4", "6.12"), ("lzo", "6.1")])
def test_snapshot_linux_swap_then_inspect_restore_compare(
    workdir: Path, compress: str, kernel_format: str
) -> None:
    image = workdir / f"{compress}.swap"
    made = run_cli("snapshot", "--machine", "m.json", "--format", "linux-swap", "--compress",
                   compress, "--kernel-format", kernel_format, "-o", str(image), cwd=workdir)
    assert made.returncode == 0, made.stderr
    shown = run_cli("inspect", str(image), "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["format"] == "linux-swap" and info["verified"] is True
    assert info["compression"]["algorithm"] == compress
    assert info["crc32_stored"] == info["crc32_computed"]
    assert info["nr_image_pfns"] == MACHINE.nr_saveable
    assert (info["nr_zero_pages"] > 0) == (kernel_format == "6.12")
    assert info["kernel_log"]["pages_saved"] == info["pages"] - 1
    restored = run_cli("restore", str(image), "--machine", "m.json", "--json", cwd=workdir)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"] is True
    assert json.loads(restored.stdout)["boot_state"] == "--machine/--preset"
    compared = run_cli("compare", str(image), "--json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["boot_state"].startswith("default footprint")


def test_snapshot_stream_pipes_into_restore(workdir: Path) -> None:
    stream = run_cli("snapshot", "--machine", "m.json", "--format", "snapshot-stream", "-o", "-",
                     cwd=workdir)
    assert stream.returncode == 0, stream.stderr
    restored = run_cli("restore", "-", "--json", input=stream.stdout)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["verified"] is True


def test_a_zst_of_a_device_and_stdin_are_spooled(workdir: Path) -> None:
    packed = workdir / "dev.swap.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(kernel_image(compress="lz4")))
    shown = run_cli("inspect", str(packed), "--json")
    assert json.loads(shown.stdout)["device"]["access"] == "spooled to a temporary file"
    piped = run_cli("inspect", "-", "--json", input=kernel_image(compress="lzo"))
    assert json.loads(piped.stdout)["verified"] is True


def test_machine_from_image_gives_the_images_pfns(workdir: Path) -> None:
    image = workdir / "plain.swap"
    image.write_bytes(kernel_image())
    made = run_cli("machine", "--from-image", str(image), "-o", "from.json", cwd=workdir)
    assert made.returncode == 0, made.stderr
    machine = json.loads((workdir / "from.json").read_text())
    assert machine["frames"] == MACHINE.frames
    assert machine["suspend"]["saveable"] == [list(r) for r in MACHINE.saveable]
    restored = run_cli("restore", str(image), "--machine", "from.json", "--json", cwd=workdir)
    assert json.loads(restored.stdout)["verified"] is True
    both = run_cli("machine", "--from-image", str(image), "--preset", "default")
    assert both.returncode == 2


@pytest.mark.parametrize("name", list(mutations(kernel_image(compress="lz4"))))
@pytest.mark.parametrize("command", ["inspect", "restore"])
def test_every_mutation_is_one_line_and_exit_3(workdir: Path, name: str, command: str) -> None:
    path = workdir / "bad.swap"
    path.write_bytes(mutations(kernel_image(compress="lz4"))[name])
    args = [command, str(path), "--json"] + (["--machine", "m.json"] if command == "restore"
                                             else [])
    result = run_cli(*args, cwd=workdir)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "error" in one_line_error(result.stderr)
    assert b'"verified": true' not in result.stdout


def test_offsets_and_swap_areas_get_one_line(workdir: Path) -> None:
    path = workdir / "ok.swap"
    image = kernel_image()
    path.write_bytes(image)
    past = run_cli("inspect", str(path), "--resume-offset", "100000")
    assert past.returncode == 3
    assert "past the end of the device" in one_line_error(past.stderr)
    (workdir / "empty.swap").write_bytes(image[:4086] + b"SWAPSPACE2" + image[4096:])
    empty = run_cli("inspect", str(workdir / "empty.swap"))
    assert empty.returncode == 3
    assert "a swap area with no hibernation image" in one_line_error(empty.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--compress", "lz4"], "needs --format linux-swap"),
        (["--format", "linux-swap", "--compress", "zstd"], "compressor"),
        (["--format", "linux-swap", "--compress", "lz4", "--kernel-format", "6.1"], "6.9"),
        (["--format", "snapshot-stream", "--compress", "lzo"], "is for --format linux-swap"),
        (["--format", "linux-swap", "--no-data"], "--no-data"),
    ],
)
def test_snapshot_refuses_what_no_kernel_writes(
    workdir: Path, args: list[str], message: str
) -> None:
    result = run_cli("snapshot", "--machine", "m.json", "-o", "x.img", *args, cwd=workdir)
    assert result.returncode == 2
    assert message in one_line_error(result.stderr)
    assert not (workdir / "x.img").exists()


def test_a_key_refuses_a_kernel_image_which_is_never_signed(workdir: Path) -> None:
    (workdir / "key.bin").write_bytes(bytes(range(32)))
    (workdir / "k.swap").write_bytes(kernel_image(compress="lzo"))
    result = run_cli("restore", "k.swap", "--key-file", "key.bin", "--machine", "m.json",
                     cwd=workdir)
    assert result.returncode == 6
    assert "not signed" in one_line_error(result.stderr)


def test_resume_offset_on_the_command_line(workdir: Path) -> None:
    (workdir / "offset.swap").write_bytes(shifted(kernel_image(compress="lz4"), 3))
    result = run_cli("inspect", "offset.swap", "--resume-offset", "3", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["verified"] is True and info["device"]["resume_offset"] == 3
    plain = run_cli("inspect", "offset.swap", cwd=workdir)
    assert plain.returncode == 3 and "--resume-offset" in one_line_error(plain.stderr)


def test_a_swap_device_written_to_a_pipe_is_whole(workdir: Path) -> None:
    # a pipe cannot seek back to page 0: the device is made in a temporary file, then copied
    made = run_swsim("snapshot", "--machine", "m.json", "--format", "linux-swap", "--compress",
                     "lz4", "-o", "-", cwd=workdir)
    assert made.returncode == 0, made.stderr
    assert made.stdout == kernel_image(compress="lz4")
    shown = run_cli("inspect", "-", "--json", input=made.stdout)
    assert json.loads(shown.stdout)["verified"] is True

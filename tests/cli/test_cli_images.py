"""Compressed, signed and bad images through the CLI (in-process), with the real ``zstd`` tool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from swsim.errors import EXIT_AUTH, EXIT_BAD_IMAGE, EXIT_CODES, EXIT_USAGE
from swsim.kernel.constants import PAGE_SIZE
from tests.helpers import CliResult, run_cli
from tests.imagetools import KEY, OTHER_KEY, SMALL

ZSTD = shutil.which("zstd") or "/usr/bin/zstd"
needs_zstd = pytest.mark.skipif(not Path(ZSTD).exists(), reason="the zstd tool is not installed")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory holding the SMALL machine file and a key file."""
    (tmp_path / "small.json").write_text(json.dumps(SMALL.to_json()))
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "other.key").write_bytes(OTHER_KEY)
    return tmp_path


def snapshot(workdir: Path, name: str, *options: str) -> Path:
    proc = run_cli("snapshot", "--machine", "small.json", "-o", name, *options, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return workdir / name


def zstd(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run([ZSTD, *args], input=input, capture_output=True, check=True).stdout


def restore_json(workdir: Path, *args: str, input: bytes | None = None) -> dict[str, object]:
    proc = run_cli("restore", *args, "--json", input=input, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def one_error_line(proc: CliResult) -> str:
    """The single stderr line of a failed run (and no traceback)."""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("swsim: error: "), lines
    return lines[0]


@needs_zstd
def test_zstd_d_turns_a_compressed_image_into_the_raw_image_byte_for_byte(
    workdir: Path,
) -> None:
    raw = snapshot(workdir, "raw.img").read_bytes()
    packed = snapshot(workdir, "img.zst", "--compress=zstd", "--level", "19", "--threads", "2")
    assert packed.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    assert len(packed.read_bytes()) < len(raw)
    assert zstd("-d", "-c", str(packed)) == raw


@needs_zstd
def test_zstd_turns_a_raw_image_into_one_swsim_restores_from_a_pipe(workdir: Path) -> None:
    raw = snapshot(workdir, "raw.img").read_bytes()
    report = restore_json(workdir, "-", input=zstd("-c", "-q", input=raw))
    assert report["verified"] is True and report["compressed"] is True


@needs_zstd
def test_a_compressed_image_restores_from_a_file_and_inspect_detects_it(workdir: Path) -> None:
    snapshot(workdir, "img.zst", "--compress=zstd")
    assert restore_json(workdir, "img.zst")["compressed"] is True
    proc = run_cli("inspect", "--verify", "--json", "img.zst", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verified"] is True


@needs_zstd
def test_concatenated_zstd_frames_restore_like_zstd_d_reads_them(workdir: Path) -> None:
    raw = snapshot(workdir, "raw.img").read_bytes()
    cut = 10 * PAGE_SIZE
    frames = zstd("-c", "-q", input=raw[:cut]) + zstd("-c", "-q", input=raw[cut:])
    assert zstd("-d", "-c", input=frames) == raw
    assert restore_json(workdir, "-", input=frames)["verified"] is True


@needs_zstd
@pytest.mark.parametrize("cut", [1, 4, 100, 5000])
def test_a_truncated_compressed_image_is_refused_like_zstd_refuses_it(
    workdir: Path, cut: int
) -> None:
    packed = snapshot(workdir, "img.zst", "--compress=zstd").read_bytes()[:-cut]
    assert subprocess.run([ZSTD, "-t", "-q"], input=packed, capture_output=True).returncode != 0
    proc = run_cli("restore", "-", input=packed, cwd=workdir)
    assert proc.returncode == EXIT_BAD_IMAGE
    assert "truncated" in one_error_line(proc)


def test_a_small_zstd_bomb_is_refused_by_the_header_size_bound(workdir: Path) -> None:
    header = snapshot(workdir, "raw.img").read_bytes()[:PAGE_SIZE]
    bomb = zstandard.ZstdCompressor(level=1).compress(header + bytes(1 << 28))
    assert len(bomb) < 100_000
    proc = run_cli("restore", "-", input=bomb, cwd=workdir)
    assert proc.returncode == EXIT_BAD_IMAGE
    assert "decompresses to more than" in one_error_line(proc)


def test_a_signed_image_restores_without_a_key_and_says_it_was_not_authenticated(
    workdir: Path,
) -> None:
    snapshot(workdir, "signed.img", "--key-file", "key")
    proc = run_cli("restore", "signed.img", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert b"not authenticated" in proc.stderr
    assert json.loads(proc.stdout)["authenticated"] is False
    assert restore_json(workdir, "signed.img", "--key-file", "key")["authenticated"] is True


@needs_zstd
def test_a_signed_compressed_image_authenticates_after_zstd_round_trips(workdir: Path) -> None:
    packed = snapshot(workdir, "s.zst", "--compress=zstd", "--key-file", "key").read_bytes()
    again = zstd("-c", "-q", "-1", input=zstd("-d", "-c", input=packed))
    assert restore_json(workdir, "-", "--key-file", "key", input=again)["authenticated"] is True


@pytest.mark.parametrize(
    ("made_with", "given", "message"),
    [
        ((), "key", "not signed"),
        (("--key-file", "key"), "other.key", "HMAC mismatch"),
    ],
)
def test_restore_and_inspect_with_a_key_refuse_with_exit_6(
    workdir: Path, made_with: tuple[str, ...], given: str, message: str
) -> None:
    snapshot(workdir, "img", *made_with)
    for command in (["restore", "img"], ["inspect", "img"]):
        proc = run_cli(*command, "--key-file", given, cwd=workdir)
        assert proc.returncode == EXIT_AUTH
        assert message in one_error_line(proc)


@pytest.mark.parametrize("key_bytes", [b"", b"short"])
def test_a_too_short_key_file_is_a_usage_error(workdir: Path, key_bytes: bytes) -> None:
    (workdir / "weak").write_bytes(key_bytes)
    proc = run_cli("snapshot", "--machine", "small.json", "--key-file", "weak", "-o", "x",
                     cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert "at least 16" in one_error_line(proc)
    assert not (workdir / "x").exists()


@pytest.mark.parametrize(
    "options",
    [("--level", "0"), ("--level", "23"), ("--threads", "-1"), ("--compress", "lz4")],
)
def test_bad_compression_options_are_one_line_usage_errors(
    workdir: Path, options: tuple[str, ...]
) -> None:
    proc = run_cli("snapshot", "--machine", "small.json", "-o", "x", *options, cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    one_error_line(proc)


@pytest.mark.parametrize(
    ("options", "name", "title"),
    [((), "xxh3", "XXH3-128"), (("--digest", "sha256"), "sha256", "SHA-256"),
     (("--digest", "xxh3", "--key-file", "key"), "xxh3", "XXH3-128")],
)
def test_snapshot_digest_round_trips_through_restore_and_inspect(
    workdir: Path, options: tuple[str, ...], name: str, title: str
) -> None:
    snapshot(workdir, "img", *options)
    assert restore_json(workdir, "img")["verified"] is True
    proc = run_cli("inspect", "img", "--json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["digest_algorithm"] == name and info["verified"] is True
    table = run_cli("inspect", "img", cwd=workdir).stdout.decode()
    assert "digest algorithm" in table and title in table


def test_a_bad_digest_is_a_one_line_usage_error(workdir: Path) -> None:
    proc = run_cli("snapshot", "--machine", "small.json", "-o", "x", "--digest", "md5",
                     cwd=workdir)
    assert proc.returncode == EXIT_USAGE
    assert "--digest" in one_error_line(proc)
    assert not (workdir / "x").exists()


def test_inspect_verify_names_the_first_bad_block(workdir: Path) -> None:
    data = bytearray(snapshot(workdir, "img", "--zero-pages=store").read_bytes())
    data[(2 + 70) * PAGE_SIZE] ^= 0x40
    proc = run_cli("inspect", "--verify", "-", input=bytes(data), cwd=workdir)
    assert proc.returncode == EXIT_BAD_IMAGE
    assert "data pages 64-91" in one_error_line(proc)


def test_help_documents_every_exit_code() -> None:
    proc = run_cli("--help")
    lines = [line.strip() for line in proc.stdout.decode().splitlines()]
    for code in (*EXIT_CODES, 141):
        assert any(line.startswith(f"{code}  ") for line in lines), code

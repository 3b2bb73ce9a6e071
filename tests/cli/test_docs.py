"""The docs name every strategy, allocator and command swsim has, and the figures they quote
are the ones swsim gives now."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from swsim.cli.commands import cli
from swsim.image.writer import WriteOptions, write_image
from swsim.machine.presets import get_preset
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.strategies import STRATEGIES
from tests.helpers import ROOT, run_cli
from tests.imagetools import KEY


def _docs() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


def test_every_strategy_allocator_and_command_is_documented() -> None:
    docs = _docs()
    for name in [*STRATEGIES, *ALLOCATORS]:
        assert f"`{name}`" in docs, name
    for command in ("compare", "inspect", "cycle", "sweep", "plot", "map"):
        assert command in cli.commands
        assert f"swsim {command}" in docs, command


# -- figures the docs quote: recomputed, so that they cannot drift -------------------------
class _Sink(io.RawIOBase):
    """A write-only stream that counts the bytes written and keeps the first ``keep``."""

    def __init__(self, keep: int = 0) -> None:
        self.size = 0
        self.keep = keep
        self.head = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if len(self.head) < self.keep:
            self.head += view[: self.keep - len(self.head)]
        self.size += len(view)
        return len(view)


def written(machine_name: str, keep: int = 0, **options: Any) -> _Sink:
    """The image of a preset as ``swsim snapshot`` writes it, counted (and its head kept)."""
    sink = _Sink(keep)
    write_image(get_preset(machine_name), sink, WriteOptions(**options))
    return sink


def assert_quoted(doc: str, text: str) -> None:
    """``text`` appears in ``doc`` (a path under the checkout), line breaks aside."""
    quoted = " ".join((ROOT / doc).read_text().split())
    assert " ".join(text.split()) in quoted, f"{doc} should say: {text}"


def test_the_image_sizes_the_docs_quote_are_what_snapshot_writes() -> None:
    raw = written("default", keep=1_000_000)
    key_file = "head -c 32 /dev/urandom > key.bin"  # any key: the MAC does not compress
    assert key_file in (ROOT / "README.md").read_text()
    zstd = written("default", compress="zstd", key=KEY)
    assert_quoted("README.md", f"# {zstd.size:,} bytes (raw: {raw.size:,})")
    no_data, full = written("rafael-2006", no_data=True).size, written("rafael-2006").size
    assert_quoted("README.md", f"({no_data:,} bytes for `rafael-2006` instead of {full:,})")
    assert_quoted("docs/image-format.md", f"{no_data:,} bytes instead of {full:,}")
    assert_quoted("docs/commands.md", f"# 10000 from {no_data:,} bytes")
    # docs/exit-codes.md: `head -c 1000000 img.swsim | swsim restore -`, its message verbatim.
    proc = run_cli("restore", "-", input=bytes(raw.head))
    assert proc.returncode == 3
    assert_quoted("docs/exit-codes.md", f"| 3 | `{proc.stderr.decode().strip()}` |")


def test_readme_says_which_python_runs_python_m_swsim() -> None:
    assert_quoted("README.md", "`.venv/bin/python -m swsim`")
    assert_quoted("README.md", "works only with the Python of the environment swsim is")


def test_the_machine_file_messages_docs_exit_codes_quotes_are_real(tmp_path: Path) -> None:
    machine = '{"format": "swsim-machine/1", "frames": 4096, "suspend": {"saveable": [[256, 1280]]}'
    (tmp_path / "m.json").write_text(machine + ', "boot": {"usde": [[0, 10]]}}')
    for args in (["snapshot", "--machine", "m.json"], ["machine", "--frames", "4096"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2
        assert_quoted("docs/exit-codes.md", f"| 2 | `{proc.stderr.decode().strip()}` |")


def test_every_suspend_model_and_its_options_are_documented() -> None:
    from swsim.suspend.kernels import SUSPEND_KERNELS

    suspend_doc = (ROOT / "docs" / "suspend.md").read_text()
    commands = (ROOT / "docs" / "commands.md").read_text()
    for kernel in SUSPEND_KERNELS:
        assert f"`{kernel}`" in suspend_doc, kernel
    for option in ("--kernel", "--image-size", "swsim cycle"):
        assert option in commands, option
    readme = (ROOT / "README.md").read_text()
    assert "## Nigel's question" in readme and "swsim cycle --preset nigel-2006" in readme


def test_every_exit_code_is_documented_alike() -> None:
    """README's table and docs/exit-codes.md give every code of EXIT_CODES, README with the
    very words of ``--help``."""
    from swsim.errors import EXIT_CODES

    readme = (ROOT / "README.md").read_text()
    reference = (ROOT / "docs" / "exit-codes.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in readme, code
        assert f"\n| {code} | " in reference, code

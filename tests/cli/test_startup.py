"""Startup stays small: a run loads only what it uses.

swsim starts thousands of times in sweeps and pipelines. numpy is its floor; rich, about a
third of the rest, only draws tables and progress bars, so ``--json``, pipes and ``--help``
must not load it, nor a command another command's implementation. The modules a run loads are
read from ``python -X importtime``: names, not times, so the test is deterministic.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli, swsim_env, tiny_machine

MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30),), reserved=((0, 4),))

#: (arguments, packages or modules the run must not load); "img" and "m.json" are in the cwd.
QUIET_RUNS: list[tuple[list[str], list[str]]] = [
    (["restore", "img", "--json"],
     ["rich", "swsim.runs.compare", "swsim.runs.summary", "swsim.machine.footprint",
      "swsim.image.writer"]),
    (["snapshot", "--machine", "m.json", "-o", "-"],
     ["rich", "swsim.resume.restore", "swsim.runs.compare", "swsim.runs.summary",
      "swsim.cli.output"]),
    (["--help"],
     ["rich", "swsim.resume.restore", "swsim.runs.compare", "swsim.runs.summary",
      "swsim.cli.output", "swsim.image.writer", "swsim.image.source", "msgspec",
      "swsim.machine.file"]),
    (["compare", "img", "--json"], ["rich", "swsim.runs.summary", "swsim.image.writer"]),
    (["inspect", "img", "--json"],
     ["rich", "swsim.runs.compare", "swsim.resume.restore", "swsim.image.writer"]),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding MACHINE as m.json and its image as img."""
    path = tmp_path_factory.mktemp("startup")
    (path / "m.json").write_text(MACHINE.dumps())
    proc = run_cli("snapshot", "--machine", "m.json", "-o", "img", cwd=path)
    assert proc.returncode == 0, proc.stderr
    return path


def loaded_modules(args: list[str], cwd: Path) -> set[str]:
    """Every module ``python -m swsim ARGS`` imports (stderr is a pipe: no progress bar)."""
    env = swsim_env()
    env.pop("SWSIM_PROGRESS", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "swsim", *args],
        capture_output=True, cwd=cwd, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # "import time: <self us> | <cumulative us> | <indented module name>"
    return {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:")
    }


def within(modules: set[str], names: list[str]) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one."""
    return sorted(m for m in modules for n in names if m == n or m.startswith(n + "."))


@pytest.mark.parametrize(
    ("args", "unwanted"), QUIET_RUNS, ids=[" ".join(args) for args, _ in QUIET_RUNS]
)
def test_quiet_runs_load_neither_rich_nor_other_commands(
    workdir: Path, args: list[str], unwanted: list[str]
) -> None:
    modules = loaded_modules(args, workdir)
    assert "swsim.cli.commands" in modules
    assert within(modules, unwanted) == []


def test_a_table_loads_rich(workdir: Path) -> None:
    """The counterpart, which also shows the check above reads the imports right."""
    assert "rich.table" in loaded_modules(["restore", "img"], workdir)


def test_the_entry_point_catches_signals_before_anything_heavy_loads(tmp_path: Path) -> None:
    """``swsim.cli.main`` (what the ``swsim`` script imports) loads neither click nor numpy nor
    zstandard: main() installs the stop-signal handlers before they load, so that a Ctrl-C
    during those imports is one line and exit 130 (tests/campaign/test_signals.py)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import swsim.cli.main"],
        capture_output=True, cwd=tmp_path, env=swsim_env(), timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    assert "swsim.cli.main" in modules
    assert within(modules, ["click", "numpy", "zstandard", "rich", "swsim.cli.commands"]) == []

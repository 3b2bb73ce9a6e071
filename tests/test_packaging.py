"""Packaging: an SPDX license and its LICENSE file, typed, project URLs, the version defined
once, a wheel built without writing into the checkout, and `make demo` without the dev tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

import swsim
from tests.helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: What a checkout holds that is not the project's (made by tools; never copied).
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", ".*_cache", ".hypothesis", "*.swsim*"
)


def test_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "MIT"  # a string: no deprecated table
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_typed_with_urls_and_the_version_in_one_place() -> None:
    assert (ROOT / "swsim" / "py.typed").is_file()
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert PROJECT["urls"] and all(u.startswith("https://") for u in PROJECT["urls"].values())
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "swsim/__init__.py"
    assert f'__version__ = "{swsim.__version__}"' in (ROOT / "swsim/__init__.py").read_text()


def test_a_wheel_builds_without_writing_into_the_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_SOURCE)
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path / "dist"), str(checkout)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "deprecat" not in (proc.stdout + proc.stderr).lower()
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before
    (wheel,) = (tmp_path / "dist").glob("swsim-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"swsim-{swsim.__version__}.dist-info"
        metadata = archive.read(f"{info}/METADATA").decode()
    assert "swsim/py.typed" in names and f"{info}/licenses/LICENSE" in names
    assert "swsim/machine/file.py" in names and not any(n.startswith("tests/") for n in names)
    assert f"Version: {swsim.__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata and "Project-URL: " in metadata


def test_make_demo_installs_swsim_without_the_dev_tools(tmp_path: Path) -> None:
    def plan(target: str) -> str:
        proc = subprocess.run(
            ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    demo = plan("demo")
    assert "pip install --quiet -e .\n" in demo and "[dev]" not in demo
    assert "pip install --quiet -e '.[dev]'" in plan("test")

"""The docs name every strategy, allocator and command swsim has."""

from __future__ import annotations

from swsim.cli.commands import cli
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.strategies import STRATEGIES
from tests.helpers import ROOT


def _docs() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


def test_every_strategy_allocator_and_command_is_documented() -> None:
    docs = _docs()
    for name in [*STRATEGIES, *ALLOCATORS]:
        assert f"`{name}`" in docs, name
    for command in ("compare", "inspect", "cycle"):
        assert command in cli.commands
        assert f"swsim {command}" in docs, command


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

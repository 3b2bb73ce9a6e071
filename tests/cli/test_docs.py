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
    for command in ("compare", "inspect", "sweep", "plot", "map"):
        assert command in cli.commands
        assert f"swsim {command}" in docs, command

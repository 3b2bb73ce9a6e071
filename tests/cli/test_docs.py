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
    for command in ("compare", "inspect"):
        assert command in cli.commands
        assert f"swsim {command}" in docs, command


def test_every_exit_code_is_documented_alike() -> None:
    """README's table and docs/exit-codes.md give every code of EXIT_CODES, README with the
    very words of ``--help``."""
    from swsim.errors import EXIT_CODES

    readme = (ROOT / "README.md").read_text()
    reference = (ROOT / "docs" / "exit-codes.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in readme, code
        assert f"\n| {code} | " in reference, code

"""Shared pytest fixtures (helpers live in tests/helpers.py and tests/imagetools.py)."""

from __future__ import annotations

import sys

import pytest

from tests.campaign import tally


@pytest.fixture
def swsim_cmd() -> list[str]:
    """The argv prefix that runs this checkout's swsim, for shell pipelines."""
    return [sys.executable, "-m", "swsim"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After a run that went through hostile cases (``make fuzz``, ``make test``): their
    table of kinds x outcomes (tests/campaign/tally.py)."""
    if tally.LEDGER:
        terminalreporter.write_sep("=", f"hostile cases: {tally.total()}")
        terminalreporter.write_line(tally.table())

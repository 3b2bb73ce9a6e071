"""Shared pytest fixtures (helpers live in tests/helpers.py and tests/imagetools.py)."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def swsim_cmd() -> list[str]:
    """The argv prefix that runs this checkout's swsim, for shell pipelines."""
    return [sys.executable, "-m", "swsim"]

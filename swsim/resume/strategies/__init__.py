"""Restore strategies, one module each; adding one touches its module and this registry."""

from __future__ import annotations

from swsim.errors import choose
from swsim.resume.strategies.base import Strategy
from swsim.resume.strategies.bitmap import Bitmap
from swsim.resume.strategies.claim import Claim
from swsim.resume.strategies.eat import Eat
from swsim.resume.strategies.safe_list import SafeList

#: Every strategy by name, in the order reports list them.
STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (Eat, SafeList, Bitmap, Claim)}


def strategy_class(name: str) -> type[Strategy]:
    """The strategy called ``name`` (an :class:`~swsim.errors.UnknownChoice` if none is)."""
    return choose("strategy", name, STRATEGIES)

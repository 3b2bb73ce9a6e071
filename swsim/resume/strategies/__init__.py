"""Restore strategies, one module each; adding one touches its module and this registry."""

from __future__ import annotations

from swsim.resume.strategies.base import Strategy
from swsim.resume.strategies.bitmap import Bitmap
from swsim.resume.strategies.claim import Claim
from swsim.resume.strategies.eat import Eat
from swsim.resume.strategies.safe_list import SafeList

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (Eat, SafeList, Bitmap, Claim)}

__all__ = ["STRATEGIES", "Strategy"]

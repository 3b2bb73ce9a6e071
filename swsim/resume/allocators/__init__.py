"""Boot-time page allocators (``--allocator``), by name.

* ``ascending``, ``descending``, ``random``: one rule each (:mod:`~swsim.resume.allocators.simple`);
* ``buddy``: the kernel's binary buddy allocator, per zone (:mod:`~swsim.resume.allocators.buddy`).

Adding one is a module with a :class:`~swsim.resume.allocators.base.PageAllocator` subclass
and one line in :data:`ALLOCATORS`.
"""

from __future__ import annotations

from collections.abc import Callable

from swsim.errors import choose
from swsim.kernel.types import BoolArray
from swsim.resume.allocators.base import PageAllocator
from swsim.resume.allocators.buddy import BuddyAllocator
from swsim.resume.allocators.simple import (
    AscendingAllocator,
    DescendingAllocator,
    RandomAllocator,
)

#: ``factory(free, seed)`` by name, in the order the docs list them.
ALLOCATORS: dict[str, Callable[[BoolArray, int], PageAllocator]] = {
    "ascending": AscendingAllocator,
    "descending": DescendingAllocator,
    "random": RandomAllocator,
    "buddy": BuddyAllocator,
}


def make_allocator(name: str, free: BoolArray, seed: int = 0) -> PageAllocator:
    """The allocator called ``name`` over the frames ``free`` marks free."""
    return choose("allocator", name, ALLOCATORS)(free, seed)

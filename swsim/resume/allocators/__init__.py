"""Boot-time page allocators (``--allocator``), by name.

* ``ascending``, ``descending``, ``random``: one rule each (:mod:`~swsim.resume.allocators.simple`);
* ``buddy``: the kernel's binary buddy allocator, per zone (:mod:`~swsim.resume.allocators.buddy`);
* ``replay:FILE``: a real kernel's allocations, in order (:mod:`~swsim.resume.allocators.replay`).

Adding one is a module with a :class:`~swsim.resume.allocators.base.PageAllocator` subclass
and one line in :data:`ALLOCATORS`.
"""

from __future__ import annotations

from collections.abc import Callable

from swsim.errors import choose
from swsim.resume.allocators.base import FreeFrames, PageAllocator
from swsim.resume.allocators.buddy import BuddyAllocator
from swsim.resume.allocators.simple import (
    AscendingAllocator,
    DescendingAllocator,
    RandomAllocator,
)

#: ``factory(free, seed)`` by name, in the order the docs list them.
ALLOCATORS: dict[str, Callable[[FreeFrames, int], PageAllocator]] = {
    "ascending": AscendingAllocator,
    "descending": DescendingAllocator,
    "random": RandomAllocator,
    "buddy": BuddyAllocator,
}


#: ``replay:FILE`` names the replay allocator and its file.
REPLAY_PREFIX = "replay:"


def make_allocator(name: str, free: FreeFrames, seed: int = 0) -> PageAllocator:
    """The allocator called ``name`` over the frames ``free`` marks free."""
    if name.startswith(REPLAY_PREFIX):
        from swsim.resume.allocators.replay import ReplayAllocator

        return ReplayAllocator(free, name[len(REPLAY_PREFIX):], seed)
    return choose("allocator", name, ALLOCATORS, [*ALLOCATORS, REPLAY_PREFIX + "FILE"])(free, seed)


def check_allocator(name: str) -> str:
    """``name`` if it names an allocator (``replay:FILE`` included), else UnknownChoice."""
    if not (name.startswith(REPLAY_PREFIX) and len(name) > len(REPLAY_PREFIX)):
        choose("allocator", name, ALLOCATORS, [*ALLOCATORS, REPLAY_PREFIX + "FILE"])
    return name

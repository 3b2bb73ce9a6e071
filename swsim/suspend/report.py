"""What a suspend model did: :class:`SuspendReport`, the counts ``snapshot --json`` prints.

Counts are pages. A model fills one report whether the suspend succeeds or not (``fits``
False and ``error`` set when it cannot make the atomic copy); the kernel's messages are kept
in order, as the kernel would have logged them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from swsim.suspend.memory import SuspendMemory


@dataclass
class SuspendReport:
    """One suspend's counts and log."""

    #: the suspend model: ``2.6.17``, ``6.1``, ``6.12``, ``tuxonice`` (or ``none``)
    kernel: str
    #: the image size the model shrinks towards, in pages (None: no target)
    image_size: int | None = None
    saveable_before: int = 0
    saveable_after: int = 0
    #: pages freed before the copy, by class (file_clean, file_dirty, anon)
    freed: dict[str, int] = field(default_factory=dict)
    #: anonymous pages written to swap to free them
    swapped_out: int = 0
    #: pages allocated to hold the copy (and its page directory)
    allocated: int = 0
    #: pages atomically copied (zero pages excepted where the kernel skips them)
    copied: int = 0
    #: all-zero pages saved as a flagged pfn, not copied (6.3+)
    zero_pages: int = 0
    #: pages in the image (copied, zero, and TuxOnIce's pageset 2)
    image_pages: int = 0
    #: the most pages the hibernation code held at once
    peak_pages: int = 0
    free_before: int = 0
    #: free pages left once the copy is made
    free_after: int = 0
    #: TuxOnIce: pages atomically copied (pageset 1) and saved without a copy (pageset 2)
    pageset1: int | None = None
    pageset2: int | None = None
    fits: bool = True
    error: str | None = None
    messages: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Record one kernel message."""
        self.messages.append(message)

    def fail(self, message: str) -> None:
        """The suspend cannot go on: ``message`` is the kernel's last word."""
        self.log(message)
        self.fits = False
        self.error = message

    def close(self, mem: SuspendMemory) -> None:
        """Fill the counts that come from the memory state at the end."""
        self.saveable_after = mem.saveable()
        self.freed = dict(mem.freed)
        self.swapped_out = mem.swapped_out
        self.peak_pages = mem.peak
        self.free_after = mem.free

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (stable keys)."""
        return asdict(self)

"""swsim: simulate Linux software suspend (swsusp) image writing and restoring, page by page.

The Python API, everything the ``swsim`` command does, without click::

    import io, swsim

    machine = swsim.get_preset("rafael-2006")          # or swsim.load_machine("m.json")
    image = io.BytesIO()
    swsim.write_image(machine, image, swsim.WriteOptions(compress="zstd"))

    image.seek(0)
    stats = swsim.restore(swsim.open_image(image), swsim.RestoreOptions(strategy="eat"))
    print(stats.copies, stats.allocations, stats.verified)

    image.seek(0)
    for row in swsim.compare(swsim.open_image(image), swsim.RestoreOptions(allocator="buddy")):
        print(row.strategy, row.stats.copies if row.stats else row.error)

* :class:`Machine`, :func:`get_preset`, :func:`load_machine` (a machine file, strictly
  checked): what is simulated (:mod:`swsim.machine`);
* :func:`write_image`, :class:`WriteOptions`: the image of a machine (:mod:`swsim.image.writer`);
* :func:`open_image`: any image, raw or compressed, as an :class:`ImageSource`;
* :func:`restore`, :class:`RestoreOptions`, :class:`RestoreStats`: one strategy's restore;
* :func:`compare`: every strategy on one pass over an image; :func:`summarize_image`: what an
  image holds, checked;
* :func:`suspend` (``kernel="2.6.17"``, ``"6.1"``, ``"6.12"``, ``"tuxonice"``; an
  ``image_size`` from :func:`parse_image_size`): a kernel's suspend side, its
  :class:`SuspendReport` and the snapshot :func:`write_snapshot` writes; :func:`cycle`: every
  suspend model, then every strategy (docs/suspend.md);
* errors: :mod:`swsim.errors` (each with the CLI's exit code).

The names are loaded on first use, so ``import swsim`` (and the ``swsim`` command) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "Machine": "swsim.machine.model",
    "get_preset": "swsim.machine.presets",
    "load_machine": "swsim.machine.file",
    "WriteOptions": "swsim.image.writer",
    "write_image": "swsim.image.writer",
    "ImageSource": "swsim.image.source",
    "open_image": "swsim.image.source",
    "RestoreOptions": "swsim.resume.restore",
    "restore": "swsim.resume.restore",
    "RestoreStats": "swsim.resume.stats",
    "CompareRow": "swsim.runs.compare",
    "compare": "swsim.runs.compare",
    "ImageSummary": "swsim.runs.summary",
    "summarize_image": "swsim.runs.summary",
    "suspend": "swsim.suspend.kernels",
    "parse_image_size": "swsim.suspend.kernels",
    "SuspendReport": "swsim.suspend.report",
    "write_snapshot": "swsim.image.writer",
    "cycle": "swsim.runs.cycle",
}

__all__ = [
    "CompareRow",
    "ImageSource",
    "ImageSummary",
    "Machine",
    "RestoreOptions",
    "RestoreStats",
    "SuspendReport",
    "WriteOptions",
    "__version__",
    "compare",
    "cycle",
    "get_preset",
    "load_machine",
    "open_image",
    "parse_image_size",
    "restore",
    "summarize_image",
    "suspend",
    "write_image",
    "write_snapshot",
]

if TYPE_CHECKING:
    from swsim.image.source import ImageSource, open_image
    from swsim.image.writer import WriteOptions, write_image, write_snapshot
    from swsim.machine.file import load_machine
    from swsim.machine.model import Machine
    from swsim.machine.presets import get_preset
    from swsim.resume.restore import RestoreOptions, restore
    from swsim.resume.stats import RestoreStats
    from swsim.runs.compare import CompareRow, compare
    from swsim.runs.cycle import cycle
    from swsim.runs.summary import ImageSummary, summarize_image
    from swsim.suspend.kernels import parse_image_size, suspend
    from swsim.suspend.report import SuspendReport


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (PEP 562)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'swsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

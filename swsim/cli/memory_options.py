"""``swsim machine``'s real-memory options: ``--boot-kpageflags``, ``--suspend-kpageflags``,
``--zoneinfo``, ``--iomem``, ``--from-host`` (docs/readers.md, "Real memory").

The command receives ``real_memory``: a function that puts the real memory over the machine
the other options chose (None: build the machine from the copies alone), or None when no copy
was given. Files are read when it is called, so the command checks its other options first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from swsim.errors import UsageError

if TYPE_CHECKING:
    from swsim.machine.model import Machine

F = TypeVar("F", bound=Callable[..., Any])
#: What the command calls with the machine its other options chose (or None).
RealMemory = Callable[["Machine | None"], "Machine"]


def memory_options(func: F) -> F:
    """The real-memory options (see the module docstring)."""

    @click.option(
        "--boot-kpageflags", metavar="DUMP", type=click.Path(dir_okay=False),
        help="A copy of /proc/kpageflags (raw or zstd) taken just before resuming: the "
        "machine's boot part (BUDDY frames free, holes reserved, the rest used).",
    )
    @click.option(
        "--suspend-kpageflags", metavar="DUMP", type=click.Path(dir_okay=False),
        help="A copy of /proc/kpageflags (raw or zstd) taken before hibernating: the machine's "
        "suspend part (used and kernel-reserved frames saveable, holes nosave).",
    )
    @click.option(
        "--zoneinfo", metavar="FILE", type=click.Path(dir_okay=False),
        help="A copy of /proc/zoneinfo from the same machine: the zones, and the frames "
        "(the end of the last zone).",
    )
    @click.option(
        "--iomem", metavar="FILE", type=click.Path(dir_okay=False),
        help="A copy of /proc/iomem (read as root) from the same machine: frames outside "
        "System RAM are holes.",
    )
    @click.option(
        "--from-host", is_flag=True,
        help="This machine's memory now (/proc/kpageflags, /proc/zoneinfo, /proc/iomem; as "
        "root) as the suspend part.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        boot_kpageflags: str | None,
        suspend_kpageflags: str | None,
        zoneinfo: str | None,
        iomem: str | None,
        from_host: bool,
        **kw: Any,
    ) -> Any:
        if from_host and suspend_kpageflags:
            raise UsageError("--from-host and --suspend-kpageflags both set the suspend part")
        given = boot_kpageflags or suspend_kpageflags or from_host
        if (zoneinfo or iomem) and not given:
            raise UsageError("--zoneinfo and --iomem go with a kpageflags copy or --from-host")

        def real_memory(base: Machine | None) -> Machine:
            from swsim.machine.kpageflags import (
                HOST_IOMEM,
                HOST_KPAGEFLAGS,
                HOST_ZONEINFO,
                KpageflagsDump,
                read_kpageflags,
            )
            from swsim.machine.real_memory import machine_from_memory

            def dump(path: str | None) -> KpageflagsDump | None:
                return read_kpageflags(path, zoneinfo, iomem) if path else None

            suspend = dump(suspend_kpageflags)
            if from_host:
                suspend = read_kpageflags(
                    HOST_KPAGEFLAGS, zoneinfo or HOST_ZONEINFO, iomem or HOST_IOMEM
                )
            return machine_from_memory(base, dump(boot_kpageflags), suspend)

        return func(*args, real_memory=real_memory if given else None, **kw)

    return cast(F, wrapper)

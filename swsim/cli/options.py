"""Option sets shared by several commands: small decorators, not copied option lists.

Each decorator declares its options and hands the command what the library takes: a machine,
a key, checked codec options, or a :class:`~swsim.resume.restore.RestoreOptions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from swsim.errors import UsageError
from swsim.image.auth import load_key
from swsim.image.codecs import CODECS, check_compress_options
from swsim.image.codecs.zstd import ZSTD
from swsim.image.digest import DEFAULT_DIGEST, DIGESTS
from swsim.machine.model import Machine
from swsim.machine.presets import DEFAULT_ALLOCATOR, PRESET_ALLOCATORS, PRESETS, get_preset
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.restore import RestoreOptions

F = TypeVar("F", bound=Callable[..., Any])


def key_file_option(func: F) -> F:
    """``--key-file F``: the HMAC key (passed on as ``key``, bytes or None)."""

    @click.option(
        "--key-file", metavar="FILE", type=click.Path(dir_okay=False),
        help="HMAC-SHA256 key (raw bytes, at least 16). Snapshot: sign the image; "
        "restore/compare/inspect: refuse an image not signed with this key (exit 6).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, key_file: str | None, **kw: Any) -> Any:
        return func(*args, key=load_key(key_file) if key_file else None, **kw)

    return cast(F, wrapper)


def compress_options(func: F) -> F:
    """``--compress none|zstd``, ``--level N``, ``--threads N`` (checked together)."""

    @click.option(
        "--compress", type=click.Choice(list(CODECS)), default="none", show_default=True,
        help="Compress the image: a standard zstd stream of the raw image.",
    )
    @click.option(
        "--level", type=int, default=3, show_default=True,
        help=f"zstd compression level ({ZSTD.levels.start}-{ZSTD.levels.stop - 1}).",
    )
    @click.option(
        "--threads", type=int, default=0, show_default=True,
        help="zstd worker threads (0: compress in the calling thread).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, compress: str, level: int, threads: int, **kw: Any) -> Any:
        check_compress_options(compress, level, threads)
        return func(*args, compress=compress, level=level, threads=threads, **kw)

    return cast(F, wrapper)


def digest_option(func: F) -> F:
    """``--digest xxh3|sha256``: the trailer digest's algorithm (passed on as ``digest``)."""
    return click.option(
        "--digest", type=click.Choice(list(DIGESTS)), default=DEFAULT_DIGEST,
        show_default=True,
        help="Trailer digest of every byte, against accidental damage: xxh3 (XXH3-128, fast) "
        "or sha256 (SHA-256, as older images). Unkeyed either way: --key-file authenticates.",
    )(func)


def machine_options(func: F) -> F:
    """``--preset NAME`` / ``--machine FILE``: the machine to use (mutually exclusive)."""

    @click.option(
        "--machine", "machine_file", metavar="FILE", type=click.Path(dir_okay=False),
        help="Machine file (JSON, swsim-machine/1).",
    )
    @click.option(
        "--preset", metavar="NAME", type=click.Choice(sorted(PRESETS)),
        help="Built-in machine.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, preset: str | None, machine_file: str | None, **kw: Any) -> Any:
        if preset and machine_file:
            raise UsageError("--preset and --machine are mutually exclusive")
        machine = None
        if machine_file:
            machine = Machine.load(machine_file)
        elif preset:
            machine = get_preset(preset)
        return func(*args, machine=machine, **kw)

    return cast(F, wrapper)


def restore_options(func: F) -> F:
    """What every restoring command takes: the boot machine, the allocator and its seed, the
    data path, and the key.

    The command receives ``restore_options``, a :class:`RestoreOptions` (its strategy, progress
    and trace are the command's to set), and ``key``, for opening the image.
    """

    @click.option(
        "--allocator", type=click.Choice(list(ALLOCATORS)), default=None,
        help=f"Boot-time page allocator policy [default: {DEFAULT_ALLOCATOR}, or the one a "
        "preset documents: " + ", ".join(f"{p}: {a}" for p, a in PRESET_ALLOCATORS.items())
        + "].",
    )
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of --allocator=random."
    )
    @machine_options
    @key_file_option
    @click.option(
        "--no-data", is_flag=True,
        help="Counts only: run the strategy on the metadata, load no data (implied by an image "
        "written with 'snapshot --no-data'). Counts are those of a full restore.",
    )
    @click.option(
        "--page-by-page", is_flag=True,
        help="Feed the handle one page per snapshot_write_next() call, as the kernel does "
        "(slow; the default batched path gives the same counts and memory).",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        allocator: str | None,
        seed: int,
        machine: Machine | None,
        no_data: bool,
        page_by_page: bool,
        **kw: Any,
    ) -> Any:
        options = RestoreOptions(
            machine=machine, allocator=allocator, seed=seed, page_by_page=page_by_page,
            no_data=no_data,
        )
        return func(*args, restore_options=options, **kw)

    return cast(F, wrapper)

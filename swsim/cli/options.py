"""Option sets shared by several commands: small decorators, not copied option lists."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from swsim.resume.allocators import ALLOCATORS
from swsim.image.auth import load_key
from swsim.image.codecs import COMPRESSORS, MAX_LEVEL, MIN_LEVEL, check_compress_options
from swsim.image.digest import DEFAULT_DIGEST, DIGESTS
from swsim.errors import UsageError
from swsim.machine.model import Machine
from swsim.machine.presets import DEFAULT_ALLOCATOR, PRESET_ALLOCATORS, PRESETS, get_preset

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

    return wrapper  # type: ignore[return-value]


def compress_options(func: F) -> F:
    """``--compress none|zstd``, ``--level N``, ``--threads N`` (checked together)."""

    @click.option(
        "--compress", type=click.Choice(COMPRESSORS), default="none", show_default=True,
        help="Compress the image: a standard zstd stream of the raw image.",
    )
    @click.option(
        "--level", type=int, default=3, show_default=True,
        help=f"zstd compression level ({MIN_LEVEL}-{MAX_LEVEL}).",
    )
    @click.option(
        "--threads", type=int, default=0, show_default=True,
        help="zstd worker threads (0: compress in the calling thread).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, compress: str, level: int, threads: int, **kw: Any) -> Any:
        check_compress_options(compress, level, threads)
        return func(*args, compress=compress, level=level, threads=threads, **kw)

    return wrapper  # type: ignore[return-value]


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

    return wrapper  # type: ignore[return-value]


def allocator_options(func: F) -> F:
    """``--allocator NAME`` and ``--seed N``: the boot-time page allocator."""

    @click.option(
        "--allocator", type=click.Choice(list(ALLOCATORS)), default=None,
        help=f"Boot-time page allocator policy [default: {DEFAULT_ALLOCATOR}, or the one a "
        "preset documents: " + ", ".join(f"{p}: {a}" for p, a in PRESET_ALLOCATORS.items())
        + "].",
    )
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed of --allocator=random."
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kw: Any) -> Any:
        return func(*args, **kw)

    return wrapper  # type: ignore[return-value]


def restore_path_options(func: F) -> F:
    """``--no-data`` and ``--page-by-page``: how a restore goes through the data pages."""

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
    def wrapper(*args: Any, **kw: Any) -> Any:
        return func(*args, **kw)

    return wrapper  # type: ignore[return-value]


def restore_options(func: F) -> F:
    """What every restoring command takes: allocator, machine, key and data-path options.

    They reach the command as the keyword arguments ``allocator``, ``seed``, ``machine``,
    ``key``, ``no_data`` and ``page_by_page``, named as :func:`swsim.resume.restore.restore_image`'s.
    """
    for decorator in (restore_path_options, key_file_option, machine_options, allocator_options):
        func = decorator(func)
    return func

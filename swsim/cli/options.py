"""Option sets shared by several commands: small decorators, not copied option lists.

Each decorator declares its options and hands the command what the library takes: a machine,
a key, a :class:`~swsim.image.writer.WriteOptions`, a
:class:`~swsim.resume.restore.RestoreOptions`, or a generated machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from swsim.errors import UsageError
from swsim.image.auth import load_key
from swsim.image.codecs import CODECS, check_compress_options
from swsim.image.codecs.zstd import ZSTD
from swsim.image.digest import DEFAULT_DIGEST, DIGESTS
from swsim.machine.content import SEED_RANGE
from swsim.machine.model import Machine
from swsim.machine.presets import DEFAULT_ALLOCATOR, PRESET_ALLOCATORS, PRESETS, get_preset
from swsim.resume.allocators import ALLOCATORS
from swsim.suspend.snapshot import ZERO_PAGES_MODES

if TYPE_CHECKING:  # loaded by the wrappers when a command runs, not to declare the options
    pass

F = TypeVar("F", bound=Callable[..., Any])

#: The type of every ``--seed`` option: snapshot, restore and ``machine --generate`` take the
#: same seeds (:data:`~swsim.machine.content.SEED_RANGE`).
SEED = click.IntRange(SEED_RANGE.start, SEED_RANGE.stop - 1)


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
        "--level", type=int, default=None, show_default="3",
        help=f"zstd compression level ({ZSTD.levels.start}-{ZSTD.levels.stop - 1}); "
        "needs --compress.",
    )
    @click.option(
        "--threads", type=int, default=None, show_default="0",
        help=f"zstd worker threads (0: compress in the calling thread; at most "
        f"{ZSTD.max_threads}); needs --compress.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any, compress: str, level: int | None, threads: int | None, **kw: Any
    ) -> Any:
        if compress == "none":
            given = [f"--{name}" for name, value in (("level", level), ("threads", threads))
                     if value is not None]
            if given:
                verb = "needs" if len(given) == 1 else "need"
                raise UsageError(f"{' and '.join(given)} {verb} --compress (without it the "
                                 "image is not compressed)")
        level = 3 if level is None else level
        threads = 0 if threads is None else threads
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


def write_options(func: F) -> F:
    """How ``swsim snapshot`` writes: zero pages, data, codec, key and digest.

    The command receives ``write_options``, a :class:`WriteOptions` (its progress is the
    command's to set); the codec options are checked first, then the key file is read.
    """

    @click.option(
        "--zero-pages", type=click.Choice(list(ZERO_PAGES_MODES)), default="skip",
        show_default=True,
        help="skip: all-zero pages get a flagged metadata entry and no data page (v6.6+); "
        "store: they are stored as data pages.",
    )
    @click.option(
        "--no-data", is_flag=True,
        help="Header and metadata only (no data pages): for counting with 'restore --no-data' "
        "on huge machines.",
    )
    @compress_options
    @key_file_option
    @digest_option
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        zero_pages: str,
        no_data: bool,
        compress: str,
        level: int,
        threads: int,
        key: bytes | None,
        digest: str,
        **kw: Any,
    ) -> Any:
        from swsim.image.writer import WriteOptions

        options = WriteOptions(
            zero_pages=zero_pages, no_data=no_data, key=key, digest=digest, compress=compress,
            level=level, threads=threads,
        )
        return func(*args, write_options=options, **kw)

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
        "--seed", type=SEED, default=0, show_default=True, help="Seed of --allocator=random."
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
        from swsim.resume.restore import RestoreOptions

        options = RestoreOptions(
            machine=machine, allocator=allocator, seed=seed, page_by_page=page_by_page,
            no_data=no_data,
        )
        return func(*args, restore_options=options, **kw)

    return cast(F, wrapper)


def generate_options(func: F) -> F:
    """``--generate`` and the boot footprint of the machine it generates (docs/footprint.md).

    The command receives ``generate``: None without ``--generate``, else a function that
    generates the machine (so that the command checks its other options first).
    """

    @click.option(
        "--generate", is_flag=True,
        help="Generate a machine with the boot footprint options below (docs/footprint.md).",
    )
    @click.option("--frames", type=click.IntRange(min=1024), default=262144, show_default=True,
                  help="--generate: page frames.")
    @click.option("--saved-fraction", type=float, default=0.40, show_default=True,
                  help="--generate: fraction of memory saved in the image.")
    @click.option("--load-address-mib", type=click.IntRange(min=1), default=2,
                  show_default=True,
                  help="--generate: kernel load address (CONFIG_PHYSICAL_START).")
    @click.option("--kernel-mib", type=click.IntRange(min=0), default=32, show_default=True,
                  help="--generate: kernel image size.")
    @click.option("--early-mib", type=click.IntRange(min=0), default=8, show_default=True,
                  help="--generate: early boot allocations above the kernel image.")
    @click.option("--struct-page-bytes", type=click.IntRange(min=0), default=64,
                  show_default=True, help="--generate: bytes of mem_map per frame.")
    @click.option("--seed", "gen_seed", type=SEED, default=1, show_default=True,
                  help="--generate: layout and content seed.")
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        generate: bool,
        frames: int,
        saved_fraction: float,
        load_address_mib: int,
        kernel_mib: int,
        early_mib: int,
        struct_page_bytes: int,
        gen_seed: int,
        **kw: Any,
    ) -> Any:
        def generated() -> Machine:
            from swsim.machine.footprint import MIB, BootFootprint
            from swsim.machine.presets import generate_machine

            footprint = BootFootprint(
                load_address=load_address_mib * MIB, kernel_size=kernel_mib * MIB,
                early_size=early_mib * MIB, struct_page_bytes=struct_page_bytes,
            )
            return generate_machine(frames, saved_fraction, footprint, gen_seed)

        return func(*args, generate=generated if generate else None, **kw)

    return cast(F, wrapper)

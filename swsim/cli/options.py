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

from swsim.cli.fileio import claim_stdin, input_name
from swsim.errors import UsageError
from swsim.image.auth import load_key, read_key
from swsim.image.codecs import CODECS, check_compress_options
from swsim.image.codecs.zstd import ZSTD
from swsim.image.digest import DEFAULT_DIGEST, DIGESTS
from swsim.machine.content import SEED_RANGE
from swsim.machine.model import MAX_FRAMES, Machine
from swsim.machine.presets import DEFAULT_ALLOCATOR, PRESET_ALLOCATORS, PRESETS, get_preset
from swsim.resume.allocators import ALLOCATORS, check_allocator
from swsim.resume.readers import READERS
from swsim.suspend.kernels import SUSPEND_KERNELS
from swsim.suspend.snapshot import ZERO_PAGES_MODES

if TYPE_CHECKING:  # loaded by the wrappers when a command runs, not to declare the options
    pass

F = TypeVar("F", bound=Callable[..., Any])
#: ``--compress`` values that are the kernel's chunk codecs (``--format linux-swap`` only).
KERNEL_CHUNK_CODECS = ("lzo", "lz4")
#: ``snapshot --format`` values, and ``--kernel-format`` layouts (swsim.image.linux.layout).
IMAGE_FORMATS = ("swsim", "linux-swap", "snapshot-stream")
KERNEL_LAYOUTS = ("6.1", "6.12")

#: The type of every ``--seed`` option: snapshot, restore and ``machine --generate`` take the
#: same seeds (:data:`~swsim.machine.content.SEED_RANGE`).
SEED = click.IntRange(SEED_RANGE.start, SEED_RANGE.stop - 1)


def key_file_option(func: F) -> F:
    """``--key-file F``: the HMAC key (passed on as ``key``, bytes or None)."""

    @click.option(
        "--key-file", metavar="FILE", type=click.Path(dir_okay=False),
        help="HMAC-SHA256 key (raw bytes, at least 16; '-': standard input). Snapshot: sign the "
        "image; "
        "restore/compare/inspect: refuse an image not signed with this key (exit 6).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, key_file: str | None, **kw: Any) -> Any:
        key = None
        if key_file is not None:
            if input_name(key_file, "--key-file") == "-":
                key = read_key(claim_stdin("--key-file"), "standard input (--key-file)")
            else:
                key = load_key(key_file)
        return func(*args, key=key, **kw)

    return cast(F, wrapper)


def compress_options(func: F) -> F:
    """``--compress none|zstd``, ``--level N``, ``--threads N`` (checked together)."""

    @click.option(
        "--compress", type=click.Choice([*CODECS, *KERNEL_CHUNK_CODECS]), default="none",
        show_default=True,
        help="Compress the image: zstd, a standard zstd stream of the raw image (swsim, "
        "snapshot-stream); lzo or lz4, the kernel's chunks (linux-swap).",
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
        if compress not in KERNEL_CHUNK_CODECS:
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


def resume_offset_option(func: F) -> F:
    """``--resume-offset N``: the page of a swap device where its signature page lies."""
    return click.option(
        "--resume-offset", type=click.IntRange(min=0), default=0, show_default=True,
        metavar="N",
        help="Read IMAGE as a swap device whose swsusp_header is at page N (the kernel's "
        "resume_offset=, in pages; for a swap file, give its partition).",
    )(func)


def image_format_options(func: F) -> F:
    """``--format`` and ``--kernel-format``: which format ``swsim snapshot`` writes."""

    @click.option(
        "--format", "image_format", type=click.Choice(IMAGE_FORMATS), default="swsim",
        show_default=True,
        help="swsim: swsim's own image; linux-swap: a swap device as the kernel writes it "
        "(--compress none|lzo|lz4); snapshot-stream: the pages /dev/snapshot gives uswsusp.",
    )
    @click.option(
        "--kernel-format", type=click.Choice(KERNEL_LAYOUTS), default="6.12", show_default=True,
        help="Kernel layout of linux-swap and snapshot-stream: 6.1 stores zero pages as data; "
        "6.12 flags them in the metadata (6.3+) and has LZ4 (6.9+).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, image_format: str, kernel_format: str, **kw: Any) -> Any:
        return func(*args, image_format=image_format, kernel_format=kernel_format, **kw)

    return cast(F, wrapper)


def machine_options(func: F) -> F:
    """``--preset NAME`` / ``--machine FILE``: the machine to use (mutually exclusive)."""

    @click.option(
        "--machine", "machine_file", metavar="FILE", type=click.Path(dir_okay=False),
        help="Machine file (JSON, swsim-machine/1 or /2; '-': standard input).",
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
        if machine_file is not None:
            from swsim.machine.file import load_machine, read_machine

            if input_name(machine_file, "--machine") == "-":
                machine = read_machine(claim_stdin("--machine"), "standard input (--machine)")
            else:
                machine = load_machine(machine_file)
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
        "--allocator", metavar="|".join([*ALLOCATORS, "replay:FILE"]), default=None,
        callback=lambda _ctx, _param, value: None if value is None else check_allocator(value),
        help=f"Boot-time page allocator policy [default: {DEFAULT_ALLOCATOR}, or the one a "
        "preset documents: " + ", ".join(f"{p}: {a}" for p, a in PRESET_ALLOCATORS.items())
        + "]; replay:FILE hands out a real kernel's allocations (PFN ORDER CALLER lines).",
    )
    @click.option(
        "--reader", type=click.Choice(list(READERS)), default=None,
        help="The image reader whose own pages are allocated too: snapshot (snapshot.c "
        "alone, /dev/snapshot), swap, swap-lzo, swap-lz4 (kernel/power/swap.c) [default: the "
        "one the image's format implies: snapshot for swsim images].",
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
        reader: str | None,
        seed: int,
        machine: Machine | None,
        no_data: bool,
        page_by_page: bool,
        **kw: Any,
    ) -> Any:
        from swsim.resume.restore import RestoreOptions

        options = RestoreOptions(
            machine=machine, allocator=allocator, reader=reader, seed=seed,
            page_by_page=page_by_page, no_data=no_data,
        )
        return func(*args, restore_options=options, **kw)

    return cast(F, wrapper)


#: The parameters of ``--generate``: meaningless without it.
GENERATE_PARAMS = (
    "frames", "saved_fraction", "load_address_mib", "kernel_mib", "early_mib",
    "struct_page_bytes", "gen_seed",
)


def refuse_without_generate() -> None:
    """Refuse an option of :data:`GENERATE_PARAMS` given without ``--generate``."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in GENERATE_PARAMS and source not in (None, ParameterSource.DEFAULT):
            raise UsageError(f"{max(param.opts, key=len)} needs --generate")


def generate_options(func: F) -> F:
    """``--generate`` and the boot footprint of the machine it generates (docs/footprint.md).

    The command receives ``generate``: None without ``--generate``, else a function that
    generates the machine (so that the command checks its other options first).
    """

    @click.option(
        "--generate", is_flag=True,
        help="Generate a machine with the boot footprint options below (docs/footprint.md).",
    )
    @click.option("--frames", type=click.IntRange(min=1024, max=MAX_FRAMES), default=262144,
                  show_default=True,
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
        if not generate:
            refuse_without_generate()

        def generated() -> Machine:
            from swsim.machine.footprint import BootFootprint
            from swsim.machine.presets import generate_machine

            footprint = BootFootprint.from_mib(
                load_address_mib, kernel_mib, early_mib, struct_page_bytes
            )
            return generate_machine(frames, saved_fraction, footprint, gen_seed)

        return func(*args, generate=generated if generate else None, **kw)

    return cast(F, wrapper)


KERNEL_HELP = (
    "Suspend side: none (save every saveable page, no model), 2.6.17 (swsusp_shrink_memory "
    "toward image_size, enough_free_mem), 6.1 / 6.12 (hibernate_preallocate_memory; 6.12 skips "
    "zero pages), tuxonice (pageset 2 saved without a copy). docs/suspend.md."
)


def suspend_options(func: F) -> F:
    """``--kernel K`` and ``--image-size SIZE``: the suspend model and its image size target.

    The command receives ``kernel`` (a name of ``SUSPEND_KERNELS``) and ``image_size`` (an
    :class:`~swsim.suspend.kernels.ImageSize` or None: the kernel's default).
    """

    @click.option(
        "--kernel", type=click.Choice(list(SUSPEND_KERNELS)), default="none", show_default=True,
        help=KERNEL_HELP,
    )
    @click.option(
        "--image-size", metavar="SIZE",
        help="/sys/power/image_size: pages (25600), bytes with a unit (500M, 2G) or a "
        "percentage of RAM (40%). Default: 500M on 2.6.17, 2/5 of RAM on 6.x, no limit on "
        "tuxonice.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, kernel: str, image_size: str | None, **kw: Any) -> Any:
        from swsim.suspend.kernels import parse_image_size

        size = None
        if image_size is not None:
            size = parse_image_size(image_size)
            if kernel == "none":
                raise UsageError("--image-size needs a suspend model (--kernel)")
        return func(*args, kernel=kernel, image_size=size, **kw)

    return cast(F, wrapper)

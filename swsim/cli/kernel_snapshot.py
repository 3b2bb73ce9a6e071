"""``swsim snapshot --format linux-swap|snapshot-stream``: a machine in the kernel's formats.

The checks of the options that the swsim format does not share, then
:func:`swsim.image.linux.writer.write_kernel_image`.
"""

from __future__ import annotations

from swsim.cli.fileio import atomic_output
from swsim.cli.options import KERNEL_CHUNK_CODECS
from swsim.cli.progress import page_progress
from swsim.errors import UsageError
from swsim.image.writer import WriteOptions
from swsim.machine.model import Machine
from swsim.suspend.kernels import ImageSize, suspend_or_fail
from swsim.suspend.report import SuspendReport
from swsim.suspend.snapshot import Snapshot


def check_swsim_compress(write_options: WriteOptions) -> None:
    """The swsim format takes no kernel chunk codec."""
    if write_options.compress in KERNEL_CHUNK_CODECS:
        raise UsageError(
            f"--compress {write_options.compress} needs --format linux-swap (the kernel's chunks)"
        )


def write_kernel_snapshot(
    machine: Machine, output: str, image_format: str, kernel_format: str,
    write_options: WriteOptions,
    kernel: str = "none",
    image_size: ImageSize | None = None,
) -> tuple[SuspendReport, Snapshot]:
    """Write ``machine``'s image to ``output`` in a kernel format (options checked first),
    saved by the ``kernel`` suspend model; return that model's report and what it saved."""
    from swsim.image.linux.writer import (
        KernelWriteOptions,
        kernel_zero_pages,
        write_kernel_image,
    )

    if write_options.key is not None:
        raise UsageError("--key-file signs swsim images only: the kernel's formats carry no HMAC")
    if write_options.no_data:
        raise UsageError("--no-data is for swsim images: a kernel image always holds its data")
    options = KernelWriteOptions(
        image_format=image_format, compress=write_options.compress,
        kernel_format=kernel_format, progress=page_progress,
    )
    options.check()
    with atomic_output(output) as stream:  # a suspend that fails leaves no file either
        zero_pages = kernel_zero_pages(kernel_format)
        report, saved = suspend_or_fail(machine, kernel, image_size, zero_pages)
        write_kernel_image(machine, stream, options, saved)
    return report, saved

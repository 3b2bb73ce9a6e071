"""Writing a machine's image in the kernel's own formats: a swap device, or the snapshot stream.

:func:`write_kernel_image` takes a machine's snapshot (:mod:`swsim.suspend.snapshot`) and hands
its pages out through ``snapshot_read_next()`` (:mod:`swsim.suspend.handle`) laid out as the
kernel lays them out (:class:`KernelLayout`: ``init_header()`` with x86-64's
``restore_data_record``, ``pack_pfns()``), for a kernel layout (``6.1``: zero pages stored as
data; ``6.12``: flagged with ENCODED_PFN_ZERO_FLAG and left out).

* ``snapshot-stream``: those pages, as /dev/snapshot gives them to uswsusp.
* ``linux-swap``: a swap device as ``swsusp_write()`` leaves it: the header page, then one page
  per map entry (``none``) or chunks of up to 32 pages (``lzo``, ``lz4``: an 8-byte length, the
  compressed bytes, zero padding to whole pages), with the kernel's CRC32 of the uncompressed
  chunks, the swap map chain, and the signature page (mkswap's fields, then ``swsusp_header``)
  at page 0. Swap pages are allocated ascending from page 1, as a fresh swap device hands them
  out.

Departures: ``restore_data_record``'s addresses, cr3 and e820 checksum are 0 (swsim has no
kernel to jump to); the kernel's chunk padding is garbage, swsim's is zeros; swsim compresses in
one thread (the kernel's threads compress whole chunks, so the chunking is the same); liblzo2
and python-lz4 may encode a chunk differently from the kernel's lzo1x/lz4 code, to bytes that
decode to the same pages; the map is allocated ascending from page 1, where a used swap device
hands out whatever slots are free.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from swsim.errors import UsageError, choose
from swsim.image.codecs import compressed_output
from swsim.image.linux.chunks import ChunkCodec, chunk_codec
from swsim.image.linux.crc32 import crc32_le
from swsim.image.linux.layout import (
    BM_END_OF_MAP,
    KERNEL_FORMATS,
    MAP_PAGE_ENTRIES,
    SWAP_INFO,
    SWAP_INFO_OFFSET,
    UNC_SIZE,
    SwsuspHeader,
    SwsuspInfo,
)
from swsim.image.linux.swapmap import allocate_swap_map, pack_map_pages
from swsim.image.meta import encode_meta_pfns
from swsim.kernel.constants import PAGE_SIZE, PFNS_PER_META_PAGE, nr_meta_pages
from swsim.machine.model import Machine
from swsim.progress import ProgressFactory, no_progress
from swsim.suspend.handle import SnapshotReadHandle
from swsim.suspend.snapshot import Snapshot, take_snapshot

#: ``snapshot --format`` values this module writes.
KERNEL_IMAGE_FORMATS = ("linux-swap", "snapshot-stream")
#: The first swap page a fresh device hands out (page 0 is the signature page).
FIRST_SWAP_PAGE = 1


@dataclass(frozen=True)
class KernelWriteOptions:
    """How :func:`write_kernel_image` writes."""

    #: ``linux-swap`` or ``snapshot-stream``
    image_format: str = "linux-swap"
    #: linux-swap: ``none``, ``lzo`` or ``lz4`` chunks; snapshot-stream: ``none`` or ``zstd``
    #: (the whole stream, swsim's codec)
    compress: str = "none"
    #: the kernel layout: ``6.1`` or ``6.12`` (:data:`~swsim.image.linux.layout.KERNEL_FORMATS`)
    kernel_format: str = "6.12"
    progress: ProgressFactory = no_progress

    def check(self) -> None:
        """A usage error for a combination no kernel writes."""
        choose("format", self.image_format, dict.fromkeys(KERNEL_IMAGE_FORMATS))
        layout = choose("kernel format", self.kernel_format, KERNEL_FORMATS)
        if self.image_format == "linux-swap":
            codec = chunk_codec(self.compress)
            if codec.name == "lz4" and not layout["lz4"]:
                raise UsageError("--compress lz4 needs --kernel-format 6.12 (LZ4 came in 6.9)")
        elif self.compress not in ("none", "zstd"):
            raise UsageError(
                f"--compress {self.compress} is for --format linux-swap; a snapshot stream is "
                "uncompressed (or a zstd stream of it: --compress zstd)"
            )


class KernelLayout:
    """The header and metadata pages of a snapshot as the kernel lays them (a ``PageLayout``)."""

    def __init__(self, snapshot: Snapshot) -> None:
        nr_entries = len(snapshot.pfns)
        self.nr_meta_pages = nr_meta_pages(nr_entries)
        nr_data = nr_entries - snapshot.nr_zero_pages
        pages = 1 + self.nr_meta_pages + nr_data
        self.info = SwsuspInfo(
            num_physpages=snapshot.machine.frames, image_pages=nr_data, pages=pages,
            size=pages * PAGE_SIZE,
        )
        words = np.zeros(self.nr_meta_pages * PFNS_PER_META_PAGE, dtype="<u8")
        words[:nr_entries] = encode_meta_pfns(snapshot.pfns, snapshot.zero)
        if nr_entries < len(words):
            words[nr_entries] = BM_END_OF_MAP
        self._meta = words.tobytes()

    def header_page(self) -> bytes:
        """``init_header()``: ``struct swsusp_info`` with the x86-64 arch header."""
        return self.info.pack()

    def meta_pages(self, first: int, count: int) -> bytes:
        """``pack_pfns()``: pfns, ``BM_END_OF_MAP`` after the last, zeros after that."""
        return self._meta[first * PAGE_SIZE : (first + count) * PAGE_SIZE]


def _stream_pages(
    handle: SnapshotReadHandle, progress: ProgressFactory, total: int
) -> Iterator[bytes]:
    """The pages after the header, in large pieces, advancing ``progress`` over the data."""
    with progress("snapshot", total) as advance:
        chunks = handle.iter_chunks()
        next(chunks)  # the header page: the caller has it
        for chunk in chunks:
            if isinstance(chunk, np.ndarray):
                yield chunk.tobytes()
                if advance:
                    advance(len(chunk))
            else:
                yield chunk


def write_kernel_image(
    machine: Machine, out: BinaryIO, options: KernelWriteOptions = KernelWriteOptions()
) -> SwsuspInfo:
    """Write ``machine``'s image to ``out`` in ``options.image_format``; its header."""
    options.check()
    zero_flag = KERNEL_FORMATS[options.kernel_format]["zero_flag"]
    snapshot = take_snapshot(machine, "skip" if zero_flag else "store")
    layout = KernelLayout(snapshot)
    handle = SnapshotReadHandle(snapshot, layout)
    pages = _stream_pages(handle, options.progress, layout.info.image_pages)
    if options.image_format == "snapshot-stream":
        with compressed_output(out, options.compress) as stream:
            stream.write(layout.header_page())
            for piece in pages:
                stream.write(piece)
    else:
        _write_swap(out, layout, pages, chunk_codec(options.compress), machine)
    return layout.info


def _chunks(pages: Iterator[bytes]) -> Iterator[bytes]:
    """The pages after the header cut into ``UNC_SIZE`` chunks (the last one shorter)."""
    pending = b""
    for piece in pages:
        data = pending + piece if pending else piece
        whole = len(data) // UNC_SIZE * UNC_SIZE
        for start in range(0, whole, UNC_SIZE):
            yield data[start : start + UNC_SIZE]
        pending = data[whole:]
    if pending:
        yield pending


def _write_swap(
    out: BinaryIO, layout: KernelLayout, pages: Iterator[bytes], codec: ChunkCodec,
    machine: Machine,
) -> None:
    """The swap device, written through a seekable file (a temporary one for a pipe)."""
    if _seekable(out):
        _write_device(out, layout, pages, codec, machine)
        return
    with tempfile.TemporaryFile(prefix="swsim-device-") as device:
        _write_device(device, layout, pages, codec, machine)
        device.seek(0)
        shutil.copyfileobj(device, out, 1 << 20)


def _seekable(out: BinaryIO) -> bool:
    try:
        return out.seekable() and out.tell() == 0
    except (OSError, ValueError):
        return False


def _write_device(
    device: BinaryIO, layout: KernelLayout, pages: Iterator[bytes], codec: ChunkCodec,
    machine: Machine,
) -> None:
    """Stored pages in allocation order (map pages left blank), then the map and page 0."""
    nr_stored = 0
    room = MAP_PAGE_ENTRIES  # entries left in the current map page
    crc = 0
    blank = bytes(PAGE_SIZE)

    def store(data: bytes) -> None:
        """Whole pages, each the next map entry, a blank page where each next map page goes
        (allocated as soon as the current one is full, as ``swap_write_page()`` does)."""
        nonlocal nr_stored, room
        view = memoryview(data)
        count = len(data) // PAGE_SIZE
        done = 0
        while done < count:
            take = min(room, count - done)
            device.write(view[done * PAGE_SIZE : (done + take) * PAGE_SIZE])
            done += take
            nr_stored += take
            room -= take
            if room == 0:
                device.write(blank)
                room = MAP_PAGE_ENTRIES

    device.write(blank)  # page 0: the signature page, written last
    device.write(blank)  # page 1: the first map page
    store(layout.header_page())
    if codec.chunked:
        for unc in _chunks(pages):
            crc = crc32_le(crc, unc)
            store(codec.pack_chunk(unc))
    else:
        for piece in pages:
            store(piece)
    swap_map = allocate_swap_map(FIRST_SWAP_PAGE, nr_stored)
    for offset, page in zip(swap_map.map_pages, pack_map_pages(swap_map), strict=True):
        device.seek(int(offset) * PAGE_SIZE)
        device.write(page)
    total = int(max(swap_map.entries[-1], swap_map.map_pages[-1])) + 1
    signature = bytearray(PAGE_SIZE)
    uuid = hashlib.sha256(b"swsim swap " + machine.identity()).digest()[:16]
    SWAP_INFO.pack_into(signature, SWAP_INFO_OFFSET, 1, total - 1, 0, uuid)
    SwsuspHeader(image=FIRST_SWAP_PAGE, flags=codec.flags, crc32=crc).pack_into(signature)
    device.seek(0)
    device.write(bytes(signature))
    device.seek(total * PAGE_SIZE)
    device.flush()

"""Writing a swsim image: a snapshot's pages, swsim's checksum pages and its trailer.

:func:`write_image` takes a machine's snapshot (:mod:`swsim.suspend.snapshot`), hands its pages
out through ``snapshot_read_next()`` (:mod:`swsim.suspend.handle`) laid out as a swsim image
(:class:`SwsimLayout`), and appends a CRC32 per 32 data pages and the trailer: the digest of
every byte before it (XXH3-128 by default, or SHA-256) and, with a key, its HMAC-SHA256. The
pages are made into a ring of three reused 4 MiB buffers; the CRCs and digests run on a second
core while the pages are made and written (or in the writing thread when the codec's worker
threads already use the cores); with a codec the stream is compressed on its way out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from swsim.image.auth import new_mac
from swsim.image.checks import BlockCrc32
from swsim.image.codecs import compressed_output
from swsim.image.digest import DEFAULT_DIGEST, digest_by_name
from swsim.image.format import FLAG_BLOCK_CRC32, FLAG_NO_DATA, FLAG_SIGNED
from swsim.image.header import ImageHeader
from swsim.image.meta import encode_meta_pfns, pack_meta_pages
from swsim.image.trailer import pack_trailer
from swsim.image.worker import BufferRing, Worker
from swsim.kernel.constants import PFNS_PER_META_PAGE
from swsim.kernel.types import PageArray
from swsim.machine.model import Machine
from swsim.progress import ProgressFactory, no_progress
from swsim.suspend.handle import SnapshotReadHandle
from swsim.suspend.snapshot import Snapshot, take_snapshot

#: Data pages made, checked and written at a time (4 MiB): large enough that the per-batch
#: numpy calls cost nothing, small enough to stay in the caches.
WRITE_BATCH_PAGES = 1024
#: Batch buffers the data streams through (:class:`~swsim.image.worker.BufferRing`): 12 MiB.
WRITE_BUFFERS = 3
#: Bytes per write to the output. Whole 4 MiB batches written to a file on this machine's ext4
#: took 0.6 s more system time than 1 MiB writes (the raw snapshot of the bench's image, with
#: its fsync: 1.87 s against 1.11 s, locked, median of 3).
WRITE_SIZE = 1 << 20


@dataclass(frozen=True)
class WriteOptions:
    """How :func:`write_image` writes an image."""

    #: ``skip``: all-zero pages are flagged metadata entries with no data page (v6.6+);
    #: ``store``: they are data pages like any other
    zero_pages: str = "skip"
    #: header and metadata only (header flag ``FLAG_NO_DATA``): enough to count any restore
    no_data: bool = False
    #: sign the image with this key (HMAC-SHA256 in the trailer)
    key: bytes | None = None
    #: the trailer digest: ``xxh3`` (XXH3-128) or ``sha256``
    digest: str = DEFAULT_DIGEST
    #: the codec (``none``, ``zstd``), its level and worker threads
    compress: str = "none"
    level: int = 3
    threads: int = 0
    #: reports the data pages written (see :mod:`swsim.progress`)
    progress: ProgressFactory = no_progress


class SwsimLayout:
    """The header and metadata pages of a snapshot in the swsim format (a ``PageLayout``)."""

    def __init__(self, snapshot: Snapshot, flags: int) -> None:
        self.header = ImageHeader.for_machine(
            snapshot.machine, len(snapshot.pfns), flags=flags,
            nr_zero_pages=snapshot.nr_zero_pages, suspend_kernel=snapshot.kernel,
        )
        self.nr_meta_pages = self.header.nr_meta_pages
        self._entries = encode_meta_pfns(snapshot.pfns, snapshot.zero)

    def header_page(self) -> bytes:
        """The swsim header page (``init_header()``)."""
        return self.header.pack()

    def meta_pages(self, first: int, count: int) -> bytes:
        """Metadata pages ``first`` to ``first + count - 1`` (``pack_pfns()``)."""
        start = first * PFNS_PER_META_PAGE
        return pack_meta_pages(self._entries[start : start + count * PFNS_PER_META_PAGE])


def header_flags(options: WriteOptions) -> int:
    """The header flags an image written with ``options`` carries."""
    flags = FLAG_BLOCK_CRC32 | digest_by_name(options.digest).header_flags
    flags |= FLAG_NO_DATA if options.no_data else 0
    flags |= FLAG_SIGNED if options.key is not None else 0
    return flags


def write_image(
    machine: Machine, out: BinaryIO, options: WriteOptions = WriteOptions()
) -> ImageHeader:
    """Write the whole image of ``machine`` (every saveable page) to a binary stream; return
    its header."""
    return write_snapshot(take_snapshot(machine, options.zero_pages), out, options)


def write_snapshot(
    snapshot: Snapshot, out: BinaryIO, options: WriteOptions = WriteOptions()
) -> ImageHeader:
    """Write the image of ``snapshot`` (a suspend model's, :mod:`swsim.suspend.kernels`) to a
    binary stream; return its header. ``options.zero_pages`` is the snapshot's business."""
    algo = digest_by_name(options.digest)
    layout = SwsimLayout(snapshot, header_flags(options))
    header = layout.header
    handle = SnapshotReadHandle(snapshot, layout, with_data=not options.no_data)
    hasher = algo.new()
    mac = new_mac(options.key) if options.key is not None else None
    crc = BlockCrc32()
    # The checks run on a second core while pages are made and written, unless the codec's
    # worker threads (zstd -T) already keep the cores busy: beside them a hashing thread only
    # adds thread switches (measured: 1.55 s against 1.64 s for the bench's zstd -T2 snapshot,
    # the same CPU time), so they run in this thread, on each batch while it is in the cache.
    worker = Worker() if options.compress == "none" or options.threads == 0 else None
    # Batch n is made in buffer n % WRITE_BUFFERS once the stream has taken batch n - 3
    # (released at once: writes copy) and the checks are done with it (hashed).
    ring = BufferRing(WRITE_BUFFERS, WRITE_BATCH_PAGES)

    def check(func: Callable[..., None], *args: Any, always: bool = False) -> None:
        if worker is None:
            func(*args)
        else:
            worker.submit(func, *args, always=always)

    def digests(data: bytes | memoryview) -> None:
        hasher.update(data)
        if mac is not None:
            mac.update(data)

    def buffer_for(batch: int) -> PageArray:
        buffer = ring.acquire(batch)
        if buffer is None:  # pragma: no cover - the ring is closed only after the last batch
            raise RuntimeError("the write buffers are closed")
        return buffer

    def checks(pages: PageArray) -> None:
        crc.update(pages)
        digests(pages.reshape(-1).data)

    with compressed_output(out, options.compress, options.level, options.threads) as stream:
        try:
            with options.progress("snapshot", header.nr_stored_pages) as advance:
                for chunk in handle.iter_chunks(WRITE_BATCH_PAGES, buffer_for):
                    if isinstance(chunk, np.ndarray):
                        check(checks, chunk)
                        check(ring.hashed, always=True)
                        data = chunk.reshape(-1).data
                        for start in range(0, len(data), WRITE_SIZE):
                            stream.write(data[start : start + WRITE_SIZE])
                        ring.release()
                        if advance:
                            advance(len(chunk))
                    else:
                        check(digests, chunk)
                        stream.write(chunk)
            if worker is not None:
                worker.wait()
        finally:
            ring.close()
            if worker is not None:
                worker.close()
        crc_pages = crc.pack()
        digests(crc_pages)
        stream.write(crc_pages)
        mac_bytes = mac.digest() if mac else b""
        stream.write(pack_trailer(algo, hasher.digest(), header.stream_pages, mac_bytes))
    return header

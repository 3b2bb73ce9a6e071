"""The image reader's own pages: kernel/power/swap.c's allocations during resume (``--reader``).

A kernel does not restore through snapshot.c alone: ``swsusp_read()`` reads the image through
swap.c, whose reader takes pages from the same page allocator before and while
``prepare_image()`` runs, and so changes which original frames swsusp can own. Each reader here
allocates, at the moment the kernel does, every page its swap.c takes, through
:meth:`ResumeContext.get_reader_page` (counted in ``allocations`` and, apart, in
``reader_pages``), and frees them when the kernel frees them.

* ``snapshot``: snapshot.c alone, as userspace resume through /dev/snapshot sees it (uswsusp's
  own memory is outside the kernel): no page.
* ``swap``: the uncompressed reader (``hibernate=nocompress`` on 6.x; the only one in 2.6.17).
* ``swap-lzo``, ``swap-lz4``: ``load_compressed_image()`` (6.x; 2.6.17 has no compression).

**2.6.17** (kernel/power/swap.c as of 2.6.17): ``swsusp_read()`` calls ``snapshot_write_next()``
once (the buffer page), then ``get_swap_reader()``: one ``get_zeroed_page(GFP_ATOMIC)`` for the
current swap map page, re-read in place as the map advances, and freed by
``release_swap_reader()`` after ``load_image()`` (or when a full last map page ends). Reads are
synchronous, into the snapshot buffer (``bio_alloc()`` is slab memory).

**6.x** (v6.12's swap.c; v6.9 added LZ4 and the crypto API, ``hib_comp_algo``): after the first
``snapshot_write_next()``, ``get_swap_reader()`` reads the *whole* map: one
``__get_free_page(GFP_NOIO | __GFP_HIGH)`` per swap map page (511 entries each, and one more:
the writer starts a new map page whenever one fills, so a full last page is followed by an
empty one), each freed by ``swap_read_page()`` once its 511 entries are read. The header page is
read into the snapshot buffer. ``load_image()`` (uncompressed) then reads every page straight
into the buffers ``snapshot_write_next()`` returns: no other page. ``load_compressed_image()``,
before its first ``snapshot_write_next()``, allocates in this order:

1. ``vmalloc(CMP_MAX_RD_PAGES * sizeof(void *))``: the ring's page array, 16 pages;
2. ``vmalloc(nr_threads * sizeof(struct dec_data))``: per thread 96 bytes of fields, an
   uncompressed buffer of ``UNC_SIZE`` = 32 pages and a compressed one of ``CMP_PAGES`` = 35
   pages (LZO's worst case for 128 KiB plus the 8-byte length), 68 pages a thread;
3. per decompression thread, ``crypto_alloc_comp(hib_comp_algo)``'s context (LZO: ``kvmalloc``
   of LZO1X_MEM_COMPRESS = 16 KiB, an order-2 block; LZ4: ``vmalloc`` of LZ4_MEM_COMPRESS,
   16416 bytes, 5 pages) and ``kthread_run()``'s stack (THREAD_SIZE 16 KiB, vmalloc'd: 4 pages);
4. ``kthread_run(crc32_threadfn)``'s stack: 4 pages (``struct crc_data`` is kmalloc'd: slab);
5. the read-ahead ring: ``read_pages = (low_free_pages() - snapshot_get_image_size()) / 2``,
   clamped to [CMP_MIN_RD_PAGES, CMP_MAX_RD_PAGES] = [1024, 8192], one page at a time; the size
   is computed before ``load_header()`` has run, when ``snapshot_get_image_size()`` is 1; past
   the first ``CMP_PAGES`` pages an allocation may fail (``__GFP_NORETRY``) and ends the ring.

``nr_threads = clamp(num_online_cpus() - 1, 1, CMP_THREADS)``: 1 on the one-CPU machines swsim
models. Everything but the map pages is freed after ``snapshot_write_finalize()``
(``out_clean``); the map pages go as the reads pass them: the ring reads ``ring_size`` pages
ahead of the data ``snapshot_write_next()`` has taken (all of them at once after
``load_header()``).

Departures: the crypto context's order-2 block is taken as 4 order-0 pages; vmalloc's page-table
pages, slab pages (``struct swap_map_page_list``, ``crc_data``, task structs) and kthread stacks
reused from the per-cpu stack cache are not modelled; a swsim image records no swap layout, so
its swap map is counted as if every page after the header were stored in its own swap page (for
the compressed readers, as if incompressible), and the ring's read position follows the image's
pages one for one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from swsim.errors import UsageError, choose
from swsim.kernel.constants import PAGE_SIZE, SIZEOF_LONG, div_round_up

if TYPE_CHECKING:
    from swsim.image.info import ImageInfo
    from swsim.resume.context import ResumeContext

#: MAP_PAGE_ENTRIES = PAGE_SIZE / sizeof(sector_t) - 1: swap pages listed per swap map page.
MAP_PAGE_ENTRIES = PAGE_SIZE // 8 - 1
#: UNC_PAGES: pages compressed at one time (LZO_UNC_PAGES before v6.9).
UNC_PAGES = 32
UNC_SIZE = UNC_PAGES * PAGE_SIZE
#: CMP_HEADER: the compressed length before each chunk (a size_t).
CMP_HEADER = SIZEOF_LONG
#: CMP_PAGES = DIV_ROUND_UP(bytes_worst_compress(UNC_SIZE) + CMP_HEADER, PAGE_SIZE), with
#: bytes_worst_compress(x) = x + x/16 + 64 + 3 (lzo1x_worst_compress): 35.
CMP_PAGES = div_round_up(UNC_SIZE + UNC_SIZE // 16 + 64 + 3 + CMP_HEADER, PAGE_SIZE)
CMP_SIZE = CMP_PAGES * PAGE_SIZE
#: CMP_THREADS: at most 3 decompression threads.
CMP_THREADS = 3
#: CMP_MIN_RD_PAGES / CMP_MAX_RD_PAGES: the read-ahead ring's bounds.
CMP_MIN_RD_PAGES = 1024
CMP_MAX_RD_PAGES = 8192
#: struct dec_data's fields before its buffers (thr, cc, ready, stop, ret, go, done, unc_len,
#: cmp_len on x86-64).
DEC_DATA_FIELDS = 96
#: THREAD_SIZE on x86-64 (16 KiB, vmalloc'd with CONFIG_VMAP_STACK).
THREAD_PAGES = 4
#: LZO1X_MEM_COMPRESS (16 KiB: order 2) and LZ4_MEM_COMPRESS (16416 bytes) contexts, in pages.
COMP_CTX_PAGES = {"lzo": 4, "lz4": div_round_up(16416, PAGE_SIZE)}
#: CPUs of the machines swsim models.
NR_CPUS = 1


def vmalloc_pages(size: int) -> int:
    """Pages ``vmalloc(size)`` takes from the page allocator (order-0 pages, no guard page)."""
    return div_round_up(size, PAGE_SIZE)


class Reader:
    """``snapshot``: snapshot.c alone (/dev/snapshot); the base of the swap readers.

    The handle calls :meth:`get_swap_reader` right after its first ``snapshot_write_next()``,
    :meth:`after_load_header`, :meth:`consumed` as image pages are taken, and :meth:`finish`
    after ``snapshot_write_finalize()``.
    """

    name: ClassVar[str] = "snapshot"
    #: the swap.c generations that have this reader
    kernels: ClassVar[tuple[str, ...]] = ("2.6.17", "6.x")

    def __init__(self, ctx: ResumeContext, info: ImageInfo, kernel: str) -> None:
        self.ctx = ctx
        self.info = info
        self.kernel = kernel
        #: pages held, freed by :meth:`finish`
        self.held: list[int] = []

    def get_swap_reader(self) -> None:
        """After the buffer page: the reader's allocations before ``load_header()``."""

    def after_load_header(self) -> None:
        """``load_header()`` has run (the compressed reader starts its reads)."""

    def consumed(self, nr_stream_pages: int) -> None:
        """``snapshot_write_next()`` has taken ``nr_stream_pages`` pages after the header."""

    def finish(self) -> None:
        """The kernel frees the reader's pages (``swap_reader_finish()``, ``out_clean``)."""
        for pfn in reversed(self.held):
            self.ctx.free_page(pfn)
        self.held = []

    def _take(self, nr_pages: int) -> list[int]:
        pages = [self.ctx.get_reader_page() for _ in range(nr_pages)]
        self.held.extend(pages)
        return pages


class SwapReader(Reader):
    """``swap``: the swap map pages (see the module docstring)."""

    name = "swap"

    def __init__(self, ctx: ResumeContext, info: ImageInfo, kernel: str) -> None:
        super().__init__(ctx, info, kernel)
        #: swap pages the map lists: the image's own count (a real swap image), or the header
        #: then every page after it, one swap page each
        self.nr_entries = info.swap_pages or 1 + info.nr_meta_pages + info.nr_data_pages
        self.maps: list[int] = []
        #: swap pages read so far (the header is read at once)
        self.entries_read = 0
        #: entries read ahead of the image pages taken
        self.read_ahead = 0

    @property
    def nr_map_pages(self) -> int:
        """Swap map pages: the writer opens a new one whenever one fills."""
        if self.kernel == "2.6.17":
            return 1  # one page, re-read in place
        return self.nr_entries // MAP_PAGE_ENTRIES + 1

    def get_swap_reader(self) -> None:
        """Every map page (6.x) or the one current map page (2.6.17); the header is read."""
        self.maps = [self.ctx.get_reader_page() for _ in range(self.nr_map_pages)]
        self._read_to(1)

    def consumed(self, nr_stream_pages: int) -> None:
        """The reads follow the image pages taken (plus the ring's read-ahead)."""
        self._read_to(1 + nr_stream_pages + self.read_ahead)

    def _read_to(self, entries: int) -> None:
        """Read swap pages up to ``entries``; 6.x frees each map page whose entries are read."""
        self.entries_read = max(self.entries_read, min(entries, self.nr_entries))
        if self.kernel == "2.6.17":
            return
        done = self.entries_read // MAP_PAGE_ENTRIES
        freed = self.nr_map_pages - len(self.maps)
        for _ in range(freed, min(done, self.nr_map_pages)):
            self.ctx.free_page(self.maps.pop(0))

    def finish(self) -> None:
        """The other pages (``out_clean``), then ``release_swap_reader()``."""
        super().finish()
        for pfn in self.maps:
            self.ctx.free_page(pfn)
        self.maps = []


class CompressedReader(SwapReader):
    """``load_compressed_image()`` of v6.12 (see the module docstring)."""

    algorithm: ClassVar[str] = "lzo"
    kernels = ("6.x",)

    def __init__(self, ctx: ResumeContext, info: ImageInfo, kernel: str) -> None:
        super().__init__(ctx, info, kernel)
        self.nr_threads = min(max(NR_CPUS - 1, 1), CMP_THREADS)
        self.ring: list[int] = []

    def get_swap_reader(self) -> None:
        """The map, then the buffers, contexts, thread stacks and the ring, in the kernel's
        order."""
        super().get_swap_reader()
        self._take(vmalloc_pages(CMP_MAX_RD_PAGES * SIZEOF_LONG))  # page = vmalloc(...)
        self._take(vmalloc_pages(self.nr_threads * (DEC_DATA_FIELDS + UNC_SIZE + CMP_SIZE)))
        for _ in range(self.nr_threads):
            self._take(COMP_CTX_PAGES[self.algorithm])  # crypto_alloc_comp()
            self._take(THREAD_PAGES)  # kthread_run(decompress_threadfn)
        self._take(THREAD_PAGES)  # kthread_run(crc32_threadfn)
        # snapshot_get_image_size() is still 1: load_header() has not run
        read_pages = max(self.ctx.nr_free_pages() - 1, 0) // 2
        read_pages = min(max(read_pages, CMP_MIN_RD_PAGES), CMP_MAX_RD_PAGES)
        for index in range(read_pages):
            if index < CMP_PAGES:
                pfn = self.ctx.get_reader_page()
            else:
                pfn = self.ctx.try_reader_page()  # __GFP_NORETRY: may end the ring
                if pfn < 0:
                    break
            self.ring.append(pfn)
        self.held.extend(self.ring)

    def after_load_header(self) -> None:
        """The first batch of reads fills the ring."""
        self.read_ahead = len(self.ring)
        self._read_to(1 + self.read_ahead)


class Lz4Reader(CompressedReader):
    """``swap-lz4``: as ``swap-lzo``, with LZ4's context (v6.9+)."""

    name = "swap-lz4"
    algorithm = "lz4"


class LzoReader(CompressedReader):
    """``swap-lzo``: the compressed reader with LZO, the default ``hibernate.compressor``."""

    name = "swap-lzo"
    algorithm = "lzo"


#: Every reader by name (``--reader``), in the order the docs list them.
READERS: dict[str, type[Reader]] = {
    cls.name: cls for cls in (Reader, SwapReader, LzoReader, Lz4Reader)
}


def default_reader(info: ImageInfo, kernel: str) -> str:
    """The reader of an image without ``--reader``: the one its format implies (a real swap
    image's flags) in ``kernel``'s swap.c (2.6.17 reads a compressed image's layout as
    ``swap``), else ``snapshot`` (a snapshot stream, as swsim writes and /dev/snapshot
    carries)."""
    name = info.swap_reader or "snapshot"
    return name if kernel in READERS[name].kernels else "swap"


def make_reader(name: str | None, ctx: ResumeContext, info: ImageInfo, kernel: str,
                strategy: str) -> Reader:
    """The reader called ``name`` (None: :func:`default_reader`) for a strategy modelling
    ``kernel``'s swap.c."""
    if name is None:
        name = default_reader(info, kernel)
    cls = choose("reader", name, READERS)
    if kernel not in cls.kernels:
        raise UsageError(
            f"reader {name} does not exist in {kernel}'s swap.c (strategy {strategy}): "
            f"choose from {', '.join(n for n, c in READERS.items() if kernel in c.kernels)}"
        )
    return cls(ctx, info, kernel)

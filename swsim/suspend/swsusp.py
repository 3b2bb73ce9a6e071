"""The suspend side of 2.6.17 (the seed's kernel): shrink, count, check, allocate, copy.

Follows kernel/power/swsusp.c and snapshot.c of v2.6.17 on x86-64 (no highmem):

* ``swsusp_shrink_memory()`` loops: ``size`` = ``count_data_pages()`` plus its page directory
  (``DIV_ROUND_UP(size, PBES_PER_PAGE)``) plus ``PAGES_FOR_IO`` (512); while that exceeds the
  free pages it frees the difference (at most ``SHRINK_BITE`` = 10000 pages a round, -ENOMEM
  when a round frees nothing); then, while it exceeds ``image_size`` (500 MiB), it frees the
  excess the same way, and stops when a round frees nothing.
* ``swsusp_save()``: "swsusp: Need to copy %u pages"; ``enough_free_mem()``: free pages must
  exceed the pages to copy + ``PAGES_FOR_IO`` + the page directory, else "swsusp: Not enough
  free memory" (-ENOMEM); ``swsusp_alloc()`` takes the page directory and one page per saved
  page (GFP_ATOMIC); ``copy_data_pages()`` copies every saveable page (2006 had no zero-page
  encoding: zero pages are copied too).

So the image can never exceed about half of the free and saveable memory together: each saved
page needs a free frame for its copy. That is Nigel's point.

Departures: ``count_special_pages()`` (highmem, arch areas) is 0 on x86-64 and left out, as are
``lowmem_reserve`` (taken as 0) and the pages the freezer and the drivers allocate.
"""

from __future__ import annotations

from swsim.kernel.constants import PAGE_SIZE, pagedir_pages
from swsim.suspend.memory import SuspendMemory
from swsim.suspend.report import SuspendReport

#: 2.6.17 include/linux/suspend.h: pages kept free for I/O while the image is written.
PAGES_FOR_IO = 512
#: 2.6.17 swsusp.c: pages freed per shrink_all_memory() call at most.
SHRINK_BITE = 10000
#: 2.6.17 swsusp.c: the default of /sys/power/image_size, in bytes.
IMAGE_SIZE_DEFAULT = 500 * 1024 * 1024


def count_data_pages(mem: SuspendMemory) -> int:
    """``count_data_pages()``: the saveable pages (free and nosave pages are not)."""
    return mem.saveable()


def _shrink_bite(mem: SuspendMemory, nr_pages: int) -> int:
    """``__shrink_memory()``: at most a bite at a time."""
    return mem.shrink_all_memory(min(nr_pages, SHRINK_BITE))


def swsusp_shrink_memory(mem: SuspendMemory, image_size: int, report: SuspendReport) -> bool:
    """``swsusp_shrink_memory()``: free memory until the copy fits and, if it can, until the
    image fits ``image_size`` bytes. False is its -ENOMEM."""
    pages = 0
    while True:
        size = count_data_pages(mem)
        size += pagedir_pages(size) + PAGES_FOR_IO
        tmp = size - mem.free
        if tmp > 0:
            tmp = _shrink_bite(mem, tmp)
            if not tmp:
                report.fail(
                    f"swsusp: Not enough free memory: need {size - PAGES_FOR_IO} + "
                    f"{PAGES_FOR_IO} (PAGES_FOR_IO), have {mem.free}"
                )
                return False
            pages += tmp
        elif size > image_size // PAGE_SIZE:
            tmp = _shrink_bite(mem, size - image_size // PAGE_SIZE)
            pages += tmp
        if tmp <= 0:
            break
    report.log(f"Shrinking memory...  done ({pages} pages freed)")
    return True


def enough_free_mem(mem: SuspendMemory, nr_pages: int) -> bool:
    """``enough_free_mem()``: free > pages + PAGES_FOR_IO + their page directory."""
    return mem.free > nr_pages + PAGES_FOR_IO + pagedir_pages(nr_pages)


def swsusp_save(mem: SuspendMemory, report: SuspendReport) -> bool:
    """``swsusp_save()``: check, allocate (``swsusp_alloc()``) and copy (``copy_data_pages()``).
    False is its -ENOMEM."""
    nr_pages = count_data_pages(mem)
    report.log(f"swsusp: Need to copy {nr_pages} pages")
    if not enough_free_mem(mem, nr_pages):
        report.fail(
            f"swsusp: Not enough free memory: need {nr_pages + pagedir_pages(nr_pages)} + "
            f"{PAGES_FOR_IO} (PAGES_FOR_IO), have {mem.free}"
        )
        return False
    report.allocated = mem.alloc_pages(pagedir_pages(nr_pages) + nr_pages, atomic=True)
    report.copied = nr_pages
    report.image_pages = nr_pages
    report.log(f"swsusp: critical section/: done ({nr_pages} pages copied)")
    return True


def suspend_2_6_17(mem: SuspendMemory, image_size: int | None) -> SuspendReport:
    """The whole 2.6.17 suspend side on ``mem``; ``image_size`` in bytes (default 500 MiB)."""
    image_size = IMAGE_SIZE_DEFAULT if image_size is None else image_size
    report = SuspendReport("2.6.17", image_size=image_size // PAGE_SIZE)
    report.saveable_before = count_data_pages(mem)
    report.free_before = mem.free
    if swsusp_shrink_memory(mem, image_size, report):
        swsusp_save(mem, report)
    report.close(mem)
    return report

"""Using the second core: a background thread for hashing, and splitting bulk work in two.

The digest (XXH3-128 or SHA-256), HMAC and CRC32 over large buffers release the GIL (xxhash,
hashlib and zlib do for buffers of more than a few KiB), so digesting an image on a second
core overlaps with reading it and moving its pages. Work items run strictly in submission
order; :meth:`Worker.wait` returns when all have run and re-raises the first exception one of
them raised.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Items in flight at most (each typically a batch of a few MiB): bounds the memory held.
MAX_PENDING = 4


class Worker:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.Queue(MAX_PENDING)
        )
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` after everything submitted before it."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="swsim-hash", daemon=True)
            self._thread.start()
        self._queue.put((func, args))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    func, args = item
                    func(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                self._error = exc
            finally:
                self._queue.task_done()

    def wait(self) -> None:
        """Block until every submitted item has run; re-raise a worker exception."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


#: Threads for :func:`split_work` (this is a 2-core workload: one main thread, one helper).
SPLIT_THREADS = max(1, min(2, os.cpu_count() or 1))


def split_work(
    func: Callable[[int, int], T], total: int, align: int = 1, threads: int = SPLIT_THREADS
) -> list[T]:
    """Run ``func(start, stop)`` over ``[0, total)`` cut into ``threads`` parts, in parallel.

    For work that releases the GIL (numpy copies, page faults, zlib.crc32): each part runs in
    its own thread. Part boundaries are multiples of ``align``. Results come back in order.
    """
    per = -(-total // threads)
    per = -(-per // align) * align if per else 0
    bounds = [(start, min(start + per, total)) for start in range(0, total, per or 1)]
    if len(bounds) <= 1:
        return [func(start, stop) for start, stop in bounds]
    # Imported on first use: concurrent.futures (with logging) costs a snapshot's startup and
    # only restores split work.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(bounds)) as pool:
        return list(pool.map(lambda bound: func(*bound), bounds))

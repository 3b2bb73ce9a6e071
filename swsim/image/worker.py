"""Using the second core: a background thread for hashing, and reading ahead on another into
a ring of reused buffers (:class:`BufferRing`).

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
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast

import numpy as np

from swsim.kernel.constants import PAGE_SIZE
from swsim.kernel.types import PageArray

T = TypeVar("T")

#: Items in flight at most (each typically a batch of a few MiB): bounds the memory held.
MAX_PENDING = 4


class Worker:
    """A background thread running submitted calls in order (see the module docstring)."""

    def __init__(self, name: str = "swsim-hash") -> None:
        self.name = name
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], bool] | None] = (
            queue.Queue(MAX_PENDING)
        )
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, func: Callable[..., Any], *args: Any, always: bool = False) -> None:
        """Run ``func(*args)`` after everything submitted before it (once an item has failed,
        only the items submitted with ``always``: those that release a buffer)."""
        if self._thread is None:
            # Kept only once started: a signal's exception (Ctrl-C, SIGTERM) raised in start()
            # must not leave close() a thread to join that never ran.
            thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            thread.start()
            self._thread = thread
        self._queue.put((func, args, always))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None or item[2]:
                    item[0](*item[1])
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                # The traceback keeps its place (file, line) but not its frames' variables,
                # which hold the item's buffers: pages of a restore's memory.
                traceback.clear_frames(exc.__traceback__)
                self._error = exc
            finally:
                item = None
                self._queue.task_done()

    @property
    def failed(self) -> bool:
        """Whether an item has raised (the rest are skipped but for ``always`` ones)."""
        return self._error is not None

    def wait(self) -> None:
        """Block until every submitted item has run; re-raise a worker exception."""
        if self._thread is not None:
            self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the thread once everything submitted has run."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class BufferRing:
    """``count`` batch buffers of ``batch_pages`` pages, reused in turn by a reading thread.

    Batch ``n`` is read into buffer ``n % count``, once batch ``n - count`` is done with both by
    the consumer (:meth:`release`, in order) and by the hashing worker (:meth:`hashed`, in
    order): the image's data streams through these buffers and nothing else.
    """

    def __init__(self, count: int, batch_pages: int) -> None:
        self.count = count
        self.buffers = [np.empty((batch_pages, PAGE_SIZE), dtype=np.uint8) for _ in range(count)]
        self._cond = threading.Condition()
        self._released = 0
        self._hashed = 0
        self._closed = False

    def acquire(self, n: int) -> PageArray | None:
        """The buffer for batch ``n``, once free (None once the ring is closed)."""
        need = n - self.count + 1
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or (self._released >= need and self._hashed >= need)
            )
            return None if self._closed else self.buffers[n % self.count]

    def release(self) -> None:
        """The consumer is done with its oldest batch."""
        with self._cond:
            self._released += 1
            self._cond.notify_all()

    def hashed(self) -> None:
        """The worker is done with its oldest batch."""
        with self._cond:
            self._hashed += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake a waiting reader for good (it stops)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class SplitReader:
    """Fills buffers from a regular file at increasing offsets, half on the calling thread and
    half on a helper thread: the two copies out of the page cache run on both cores.

    Reading a raw image is one copy per byte, and that copy (about 0.12 s of CPU for 805 MB
    here) is the longest of the restore's three streams of work (reading, hashing, the
    handle): split, it no longer bounds them. Close it to stop the helper thread.
    """

    def __init__(self, fd: int, offset: int) -> None:
        self.fd = fd
        #: the file offset of the next byte to read
        self.offset = offset
        self._helper = Worker("swsim-read-half")
        self._second = 0  # bytes the helper read into the second half

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` from :attr:`offset` (fewer bytes only at the end of the file); the
        bytes read."""
        half = len(view) // 2 // PAGE_SIZE * PAGE_SIZE
        self._second = 0
        if half:
            self._helper.submit(self._read_second, view[half:], self.offset + half)
        got = pread_fill(self.fd, view[:half] if half else view, self.offset)
        if half:
            self._helper.wait()
            if got == half:
                got += self._second
        self.offset += got
        return got

    def _read_second(self, view: memoryview, offset: int) -> None:
        self._second = pread_fill(self.fd, view, offset)

    def close(self) -> None:
        """Stop the helper thread (idempotent)."""
        self._helper.close()


def pread_fill(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``fd`` at ``offset`` (fewer bytes only at the end); the bytes read."""
    got = 0
    while got < len(view):
        count = os.preadv(fd, [view[got:]], offset + got)
        if not count:
            break
        got += count
    return got


#: Batches :func:`read_ahead` may hold ready beyond the one being used.
READ_AHEAD = 2


class read_ahead(Generic[T]):  # noqa: N801 - used like a function: read_ahead(items)
    """``items``, produced on a background thread up to ``depth`` items ahead of the caller.

    For reading an image while the caller works on what was read before (decompression and
    file reads release the GIL). The thread starts at once; use as a context manager, so that
    it is stopped and joined (no two threads ever read the same stream) however the caller
    leaves. An exception raised by ``items`` is re-raised where its item would have come.
    """

    def __init__(self, items: Iterator[T], depth: int = READ_AHEAD) -> None:
        self._items = items
        self._ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="swsim-read", daemon=True)
        try:
            self._thread.start()
        except BaseException:  # a signal's exception (Ctrl-C, SIGTERM) while it starts
            self._stop.set()  # no thread may go on reading the stream unseen
            if self._thread.ident is not None:
                self._thread.join()
            raise

    def _put(self, item: tuple[bool, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            self._put((False, exc))
            return
        self._put((False, None))

    def __iter__(self) -> read_ahead[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        ok, item = self._ready.get()
        if ok:
            return cast(T, item)
        self._done = True
        if item is None:
            raise StopIteration
        try:
            raise item
        finally:
            del item  # the traceback holds this frame: no cycle through the error

    def close(self) -> None:
        """Stop the thread (after the item it is reading) and wait for it; drop what it read
        ahead (an item or an error whose traceback holds this object would be a cycle)."""
        self._stop.set()
        self._thread.join()
        while True:
            try:
                self._ready.get_nowait()
            except queue.Empty:
                break
        self._items = iter(())

    def __enter__(self) -> read_ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Where sweep points run: this process, local worker processes, or a Dask cluster.

Each backend maps :func:`swsim.runs.point.run_point` over points and yields their rows in the
points' order, with a bounded number of points in flight (so memory stays flat however large
the grid, and the file's rows come in grid order whatever the backend). Only the point, the
strategies and the rows cross between processes: a point's machine, image and restores live
and die in the worker that runs it.

* :class:`InProcess`: ``-j 1``;
* :class:`LocalPool`: ``-j N``, worker processes of this machine (``forkserver`` on Linux, so
  no worker inherits the parent's threads);
* :class:`DaskCluster`: ``--scheduler ADDRESS``, the workers of a Dask distributed cluster
  (the ``swsim[dask]`` extra; the workers need swsim installed).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from swsim.errors import InvalidValue, SwsimError, UsageError
from swsim.runs.grid import Point
from swsim.runs.point import Row, run_point
from swsim.runs.rows import require

#: Points in flight per worker: enough to keep each busy, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 4
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 10.0
#: glibc's ``mallopt()`` parameters (malloc.h), and the values a sweep process sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest
TRIM_THRESHOLD_BYTES = 256 << 20


class SchedulerUnreachable(UsageError):
    """``--scheduler``: no Dask scheduler answers at the address (or it went away)."""


class WorkerLost(SwsimError):
    """A local worker process died (killed, out of host memory): the sweep cannot go on; the
    points written so far are kept."""


class Backend(Protocol):
    """Runs points; yields each point's rows in the order of the points."""

    def run(self, points: Iterable[Point], strategies: Sequence[str]) -> Iterator[list[Row]]:
        """The rows of each of ``points``, in order."""

    def close(self) -> None:
        """Stop the workers (at once, when the sweep was interrupted)."""


def default_jobs() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def keep_freed_memory() -> None:
    """Keep the memory a point frees for the next one, in this process (glibc; elsewhere
    nothing is done).

    A 1 GiB point allocates and frees a few hundred numpy arrays of 100 KiB to a few MiB.
    glibc maps such blocks afresh and unmaps them when freed (above its mmap threshold), or
    trims them off the heap's top, so each point faulted its arrays in again: about 6,000
    minor page faults and a fifth of its CPU time. With a 32 MiB mmap threshold and a 256 MiB
    trim threshold, freed blocks stay in the heap and are reused; the process keeps the
    largest point's peak, which is flat as the sweep grows (bench/bench.py checks it). Only
    the processes swsim starts or runs in are tuned, not a Dask cluster's workers.
    """
    if sys.platform != "linux":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library's, if it has one
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)


def ordered_window(
    submit: Callable[[Point], Any], points: Iterable[Point], window: int
) -> Iterator[list[Row]]:
    """Submit ``points`` (``submit(point)`` returns a future), at most ``window`` in flight,
    and yield their results in order."""
    pending: deque[Any] = deque()
    for point in points:
        pending.append(submit(point))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class InProcess:
    """Every point in this process, one after the other (``-j 1``)."""

    def run(self, points: Iterable[Point], strategies: Sequence[str]) -> Iterator[list[Row]]:
        """Run each point here."""
        keep_freed_memory()
        for point in points:
            yield run_point(point, strategies)

    def close(self) -> None:
        """Nothing to stop."""


class LocalPool:
    """``jobs`` worker processes on this machine (``-j N``)."""

    def __init__(self, jobs: int) -> None:
        method = "forkserver" if sys.platform == "linux" else "spawn"
        self.jobs = jobs
        self.executor = ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context(method), initializer=keep_freed_memory
        )

    def run(self, points: Iterable[Point], strategies: Sequence[str]) -> Iterator[list[Row]]:
        """Run the points on the workers, a few per worker in flight."""
        def submit(point: Point) -> Any:
            return self.executor.submit(run_point, point, tuple(strategies))

        try:
            yield from ordered_window(submit, points, self.jobs * IN_FLIGHT_PER_WORKER)
        except BrokenProcessPool:
            raise WorkerLost(
                "a sweep worker process died (killed, or out of host memory?)"
            ) from None

    def close(self) -> None:
        """Stop the workers; points not started are dropped."""
        self.executor.shutdown(wait=True, cancel_futures=True)


class DaskCluster:
    """The workers of the Dask distributed cluster whose scheduler is at ``address``."""

    def __init__(self, address: str, timeout: float | None = None) -> None:
        distributed = require("distributed", "--scheduler", "dask")
        self.address = address
        timeout = CONNECT_TIMEOUT if timeout is None else timeout
        try:
            self.client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {address}: {reason}"
            ) from None
        workers = self.client.scheduler_info().get("workers", {})
        self.nthreads = max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def run(self, points: Iterable[Point], strategies: Sequence[str]) -> Iterator[list[Row]]:
        """Run the points as tasks of the cluster, a few per worker thread in flight."""
        names = tuple(strategies)

        def submit(point: Point) -> Any:
            return self.client.submit(run_point, point, names, pure=False)

        try:
            yield from ordered_window(submit, points, self.nthreads * IN_FLIGHT_PER_WORKER)
        except (OSError, TimeoutError, CancelledError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SchedulerUnreachable(
                f"lost the Dask scheduler at {self.address}: {reason}"
            ) from None

    def close(self) -> None:
        """Disconnect (the cluster stays up)."""
        self.client.close()


def make_backend(jobs: int | None, scheduler: str | None) -> Backend:
    """The backend for ``-j`` and ``--scheduler`` (not both)."""
    if scheduler is not None:
        if jobs is not None:
            raise UsageError("jobs and a scheduler are mutually exclusive")
        return DaskCluster(scheduler)
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise InvalidValue("jobs", "must be at least 1")
    return InProcess() if jobs == 1 else LocalPool(jobs)

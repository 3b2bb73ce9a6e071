"""Running swsim the way a hostile world does, and judging what it left.

:func:`run_hostile` starts a real ``python -m swsim`` process (this checkout's) with its SIGINT
at the default disposition (a background job of a non-interactive shell would ignore it), and
optionally: standard streams closed (``<&-``, ``>&-``), an address-space limit (``prlimit
--as``), and a signal sent at a given moment. It reaps the process itself (``wait4``) to learn
its peak resident memory. :func:`judge` turns what a run left into one outcome of
:mod:`tests.campaign.tally`.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swsim.errors import EXIT_CODES
from tests.helpers import PEAK_RSS_WRAPPER, swsim_env


@dataclass
class Run:
    """What a hostile run left: exit status (negative: killed by that signal), output, error
    lines, peak resident memory (KiB), and when the signal (if any) was sent."""

    returncode: int
    stdout: bytes
    stderr: bytes
    maxrss_kib: int
    signal_after: float | None = None
    lines: list[str] = field(default_factory=list)


def _child_setup(close: tuple[int, ...], limit_as: int | None) -> Callable[[], None]:
    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
        for fd in close:
            os.close(fd)

    return setup


def run_hostile(
    args: list[str],
    cwd: Path,
    *,
    input: bytes | None = None,
    stdin_file: Path | None = None,
    close: tuple[int, ...] = (),
    limit_as: int | None = None,
    send: signal.Signals | None = None,
    after: float = 0.0,
    wait_for_import: str | None = None,
    timeout: float = 120.0,
) -> Run:
    """Run ``python -m swsim ARGS`` in ``cwd``: ``input`` on its stdin (or ``stdin_file``),
    the file descriptors in ``close`` closed, ``limit_as`` bytes of address space, and ``send``
    sent ``after`` seconds after the start (or, with ``wait_for_import``, after the child has
    imported that module: read from ``python -X importtime`` on its stderr, whose lines are then
    dropped)."""
    env = swsim_env(COLUMNS="120")
    env.pop("SWSIM_PROGRESS", None)
    command = [sys.executable, *(["-X", "importtime"] if wait_for_import else []), "-m", "swsim",
               *args]
    peak_file = None
    if limit_as is not None:  # its own peak (VmHWM): wait4() would report the forking pytest's
        peak_file = cwd / f".peak-rss-{os.getpid()}-{time.monotonic_ns()}"
        env["SWSIM_TEST_HWM"] = str(peak_file)
        command = [sys.executable, "-c", PEAK_RSS_WRAPPER, *args]
    stdin: int
    if stdin_file is not None:
        stdin = os.open(stdin_file, os.O_RDONLY)  # a directory too, as the shell's `<`
    else:
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=_child_setup(close, limit_as),
    )
    if stdin_file is not None:
        os.close(stdin)
    out: dict[str, bytes] = {}
    imported = threading.Event()

    def drain(name: str) -> None:
        stream = proc.stdout if name == "stdout" else proc.stderr
        assert stream is not None
        if name == "stderr" and wait_for_import:
            chunks = []
            for line in stream:
                chunks.append(line)
                if line.rstrip().endswith(b"| " + wait_for_import.encode()) or (
                    line.rstrip().endswith(b" " + wait_for_import.encode())
                ):
                    imported.set()
            imported.set()
            out[name] = b"".join(chunks)
        else:
            out[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n,)) for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    if input is not None and proc.stdin is not None:
        try:
            proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    sent_after = None
    if send is not None:
        start = time.monotonic()
        if wait_for_import:
            imported.wait(timeout)
        time.sleep(after)
        sent_after = time.monotonic() - start
        os.kill(proc.pid, send)  # not send_signal(): its poll() could reap the child first
    deadline = threading.Timer(timeout, os.kill, (proc.pid, signal.SIGKILL))
    deadline.start()
    _, status, usage = os.wait4(proc.pid, 0)
    deadline.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    stderr = out.get("stderr", b"")
    lines = [
        line for line in stderr.decode(errors="replace").splitlines()
        if not line.startswith("import time:")
    ]
    maxrss_kib = usage.ru_maxrss
    if peak_file is not None and peak_file.exists():  # not when the run died before exiting
        maxrss_kib = int(peak_file.read_text())
        peak_file.unlink()
    return Run(proc.returncode, out.get("stdout", b""), stderr, maxrss_kib, sent_after, lines)


def judge(run: Run, *, expect_codes: set[int] | None = None, fits_kib: int | None = None) -> str:
    """The run's outcome: a failure name of :mod:`tests.campaign.tally`, or ``ok`` / ``exit N``.

    ``expect_codes``: the exit codes this case may end with (default: any documented one);
    ``fits_kib``: the run fits in this much memory, so running out of it is a failure."""
    text = "\n".join(run.lines)
    if "Traceback" in text or "Fatal Python error" in text:
        return "TRACEBACK"
    if fits_kib is not None and (
        run.maxrss_kib > fits_kib or "out of host memory" in text or run.returncode < 0
    ):
        return "OVER MEMORY LIMIT"
    code = run.returncode
    if code < 0:  # killed by a signal: only SIGINT before Python ran anything of swsim's
        return "UNDOCUMENTED EXIT" if code != -signal.SIGINT or run.lines else "killed (SIGINT)"
    if code not in EXIT_CODES or (expect_codes is not None and code not in expect_codes):
        return "UNDOCUMENTED EXIT"
    if code == 0:
        return "ok"
    if len(run.lines) != (0 if code == 141 else 1):
        return "NOT ONE LINE"
    return f"exit {code}"


def stray_files(directory: Path) -> list[str]:
    """Temporary files a run left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))

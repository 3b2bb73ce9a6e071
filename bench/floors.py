#!/usr/bin/env python3
"""What no Python restore can beat here: ``python bench/floors.py IMAGE IMAGE.zst``.

Runs, as processes, in interleaved rounds (each round once the machine is 85% idle, or after
30 s), the peers of the restore targets (``cat IMAGE > /dev/null``, ``zstd -d -c IMAGE.zst >
/dev/null``), the bare minimum a Python restore must do (start Python, import numpy, read the
raw image into a reused 4 MiB buffer, feed it to the XXH3-128 digest and the block CRC32s it
must check; decompress the zstd image with python-zstandard), and the two swsim restores; prints
the median wall time and CPU time of each. docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

READ = """
import sys, numpy
view = memoryview(numpy.empty(4 << 20, numpy.uint8))
with open(sys.argv[1], 'rb', buffering=0) as f:
    while f.readinto(view): pass
"""
READ_CHECK = """
import sys, numpy, xxhash
from swsim.image.checks import crc32
view = memoryview(numpy.empty(4 << 20, numpy.uint8))
digest, crc = xxhash.xxh3_128(), 0
with open(sys.argv[1], 'rb', buffering=0) as f:
    while n := f.readinto(view):
        digest.update(view[:n])
        for at in range(0, n, 1 << 17): crc = crc32(view[at:min(at + (1 << 17), n)], crc)
"""
DECOMPRESS = """
import sys, numpy, zstandard
view = memoryview(numpy.empty(4 << 20, numpy.uint8))
with open(sys.argv[1], 'rb') as f:
    reader = zstandard.ZstdDecompressor().stream_reader(f, read_size=1 << 20)
    while reader.readinto(view): pass
"""


def idle_fraction(window: float = 0.5) -> float:
    """The share of CPU time the machine spent idle over ``window`` seconds."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)
    idle0, total0 = sample()
    time.sleep(window)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(1, total1 - total0)


def run(cmd: list[str] | str) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of ``cmd``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, shell=isinstance(cmd, str), env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"floors: command failed: {cmd}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", help="a raw swsim image")
    parser.add_argument("zst", help="the same image, zstd-compressed")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    cases: list[tuple[str, list[str] | str]] = [
        ("cat IMAGE > /dev/null", f"cat {args.raw} > /dev/null"),
        ("python -c pass", [python, "-c", "pass"]),
        ("python -c 'import numpy'", [python, "-c", "import numpy"]),
        ("python: numpy + read IMAGE", [python, "-c", READ, args.raw]),
        ("python: numpy + read + XXH3-128 + CRC32s", [python, "-c", READ_CHECK, args.raw]),
        ("swsim restore IMAGE --json", [python, "-m", "swsim", "restore", args.raw, "--json"]),
        ("zstd -d -c IMAGE.zst > /dev/null", f"zstd -q -d -c {args.zst} > /dev/null"),
        ("python: numpy + python-zstandard decompress", [python, "-c", DECOMPRESS, args.zst]),
        ("swsim restore IMAGE.zst --json", [python, "-m", "swsim", "restore", args.zst, "--json"]),
    ]
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in cases}
    for _ in range(args.runs):
        waited = time.perf_counter()
        while idle_fraction() < 0.85 and time.perf_counter() - waited < 30:
            pass
        for name, cmd in cases:
            timings[name].append(run(cmd))
    for name, _ in cases:
        wall = statistics.median(t[0] for t in timings[name])
        cpu = statistics.median(t[1] for t in timings[name])
        print(f"  {name:46} {wall:6.3f} s  (CPU {cpu:5.2f} s)")


if __name__ == "__main__":
    main()

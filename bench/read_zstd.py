#!/usr/bin/env python3
"""The decompressing reader alone against ``zstd -d``: ``python bench/read_zstd.py IMAGE.zst``.

Reads a zstd image fully through :func:`swsim.image.codecs.open_image_stream`, once with
``readinto`` into a reused 4 MiB numpy buffer and once with ``read(4 MiB)``, and times
``zstd -q -d -c IMAGE > /dev/null`` in the same rounds; prints the minimum and median wall
time of each and the ratio of the minima.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from swsim.image.codecs import open_image_stream  # noqa: E402

CHUNK = 4 << 20


def with_readinto(path: str) -> int:
    buffer = np.empty(CHUNK, dtype=np.uint8)
    total = 0
    with open(path, "rb") as stream:
        source = open_image_stream(stream)
        while count := source.readinto(buffer):
            total += count
    return total


def with_read(path: str) -> int:
    total = 0
    with open(path, "rb") as stream:
        source = open_image_stream(stream)
        while data := source.read(CHUNK):
            total += len(data)
    return total


def zstd_d(path: str) -> int:
    subprocess.run(["zstd", "-q", "-d", "-c", path], stdout=subprocess.DEVNULL, check=True)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="a zstd-compressed image")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases: dict[str, Callable[[str], int]] = {
        "zstd -q -d -c IMAGE > /dev/null": zstd_d,
        "readinto(4 MiB numpy buffer)": with_readinto,
        "read(4 MiB)": with_read,
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, case in cases.items():
            start = time.perf_counter()
            case(args.image)
            times[name].append(time.perf_counter() - start)
    base = min(times["zstd -q -d -c IMAGE > /dev/null"])
    for name, seconds in times.items():
        print(
            f"{name:34s} min {min(seconds):.3f} s  median {statistics.median(seconds):.3f} s"
            f"  {min(seconds) / base:.2f}x"
        )


if __name__ == "__main__":
    main()

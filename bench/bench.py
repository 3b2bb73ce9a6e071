#!/usr/bin/env python3
"""``make bench``: swsim against the peer commands that bound it, on the same bytes.

Builds its inputs in a work directory (default ``bench-out/``), runs every case several times
(``--runs``, default 3) as real processes, and prints the median wall time, throughput, peak
resident memory (the child's ru_maxrss) and each ratio with the target from issue 5:

* raw 1 GiB image restore (safe-list) vs ``cat IMAGE > /dev/null`` plus a numpy copy of the
  same bytes (the memory-bandwidth floor), target <= 3x;
* zstd-compressed 1 GiB image restore vs ``zstd -d -c IMAGE > /dev/null``, target <= 1.5x;
* zstd snapshot of the 1 GiB image vs ``zstd -c`` of the raw image at the same level and
  threads, target <= 1.5x;
* ``--no-data`` counts for a 16M-frame machine with a 4M-page image, target < 10 s;
* pages per second of the page-by-page path;
* peak resident memory of the raw restore vs 1.5x the image's data bytes + 64 B per frame;
* ``compare`` of all four strategies (one pass over the image) vs one ``restore`` of it, in
  wall time and peak memory (targets from issue 15: <= 1.5x and <= 1.2x);
* ``swsim sweep`` of >= 2,000 points (1 GiB machines, all strategies, counts only) in points
  per second against the same points run as one ``swsim compare --no-data`` process each (the
  shell-loop way; a sample of points, their images made beforehand and not timed), target >=
  20x; and against the whole shell loop per point (``machine --generate``, ``snapshot
  --no-data``, ``compare --no-data``); the sweep's peak RSS against a sweep of a quarter of
  the points (memory flat: target <= 1.2x). ``--sweep-only`` runs just this case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swsim.machine.presets import generate_machine  # noqa: E402

GIB_PAGES = (1 << 30) // 4096


@dataclass
class Timing:
    seconds: float
    max_rss_kb: int


def run(cmd: list[str] | str, stdout_path: str = os.devnull) -> Timing:
    """Run a command (a list, or a shell string), return wall time and its peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(stdout_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, env=env, shell=isinstance(cmd, str))
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench: command failed ({proc.returncode}): {cmd}")
    return Timing(elapsed, usage.ru_maxrss)


def median(cmd: list[str] | str, runs: int, stdout_path: str = os.devnull) -> Timing:
    timings = [run(cmd, stdout_path) for _ in range(runs)]
    return Timing(
        statistics.median(t.seconds for t in timings), max(t.max_rss_kb for t in timings)
    )


def numpy_copy_seconds(nbytes: int, runs: int) -> float:
    """Median time of one numpy copy of ``nbytes`` into fresh memory (page faults included)."""
    code = (
        "import numpy as np, time, sys\n"
        f"a = np.ones({nbytes}, dtype=np.uint8)\n"
        "t = time.perf_counter(); b = a.copy(); print(time.perf_counter() - t)\n"
    )
    out = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                             text=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(out)


def row(name: str, t: Timing, nbytes: int | None = None, extra: str = "") -> None:
    rate = f"{nbytes / t.seconds / 1e6:9.0f} MB/s" if nbytes else " " * 14
    print(f"  {name:44} {t.seconds:8.3f} s {rate} {t.max_rss_kb / 1024:8.0f} MiB  {extra}")


def verdict(label: str, value: float, target: float, unit: str = "x") -> None:
    ok = "ok" if value <= target else "MISSED"
    print(f"  {label:58} {value:7.2f}{unit}  (target <= {target}{unit})  {ok}")


@dataclass
class ProcessTiming:
    """Wall and CPU seconds (the process and the children it waited for) and peak RSS."""

    seconds: float
    cpu_seconds: float
    max_rss_kb: int


def run_cpu(cmd: list[str]) -> ProcessTiming:
    """Run ``cmd``; its wall time, CPU time and peak RSS (of it and its worker processes)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: command failed: {cmd}")
    return ProcessTiming(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def shell_loop(swsim: list[str], work: Path, seeds: int, indices: range) -> list[tuple[
        ProcessTiming, ProcessTiming]]:
    """Points of the sweep's grid run the shell-loop way: for each, (``compare --no-data`` of
    its image made beforehand, the whole ``machine`` + ``snapshot`` + ``compare``)."""
    nr_fractions = 15
    out = []
    for index in indices:
        fraction = 0.1 + 0.05 * ((index * 7) % nr_fractions)
        seed = 1 + (index * 37) % seeds
        machine = work / f"point{index}.json"
        image = work / f"point{index}.swsim"
        gen = run_cpu([*swsim, "machine", "--generate", "--saved-fraction", f"{fraction:.2f}",
                       "--seed", str(seed), "-o", str(machine)])
        snap = run_cpu([*swsim, "snapshot", "--no-data", "--machine", str(machine),
                        "-o", str(image)])
        comp = run_cpu([*swsim, "compare", "--no-data", "--json", str(image)])
        whole = ProcessTiming(gen.seconds + snap.seconds + comp.seconds,
                              gen.cpu_seconds + snap.cpu_seconds + comp.cpu_seconds, 0)
        out.append((comp, whole))
    return out


#: The sweep's grid: 1 GiB machines (the default), 15 saved fractions, the default allocator
#: (buddy), every strategy; --sweep-seeds seeds (134: 2,010 points).
SWEEP_FRACTIONS = "0.1:0.8:0.05"


def sweep_case(swsim: list[str], work: Path, seeds: int, samples: int) -> None:
    """``swsim sweep`` against one ``compare --no-data`` process per point (module docstring)."""
    nr_fractions = 15
    points = nr_fractions * seeds
    print(f"\nsweep: {points} points (1 GiB machines, {nr_fractions} saved fractions x {seeds} "
          "seeds, buddy, all strategies), counts only")
    grid = ["--saved-fraction", SWEEP_FRACTIONS]
    out = work / "sweep.csv"
    out.unlink(missing_ok=True)
    # The shell loop's sample is run half before and half after the sweep, and the in-process
    # sweeps between, so that a change of load on a shared machine weighs on both sides.
    loop = shell_loop(swsim, work, seeds, range(samples // 2))
    t_sweep = run_cpu([*swsim, "sweep", *grid, "--seeds", str(seeds), "-o", str(out)])
    rows = sum(1 for _ in out.open()) - 1
    if rows != points * 4:
        raise SystemExit(f"bench: the sweep wrote {rows} rows, not {points * 4}")
    sweep_rate = points / t_sweep.seconds
    print(f"  swsim sweep (-j: every core)   {t_sweep.seconds:8.1f} s  {sweep_rate:8.2f} points/s")
    # Memory and CPU in one process (-j 1: worker processes are not this one's children, so
    # their usage would not be counted): a sweep four times as long holds no more memory.
    in_process = []
    for nr_seeds in (max(1, seeds // 16), max(1, seeds // 4)):
        path = work / f"sweep-j1-{nr_seeds}.csv"
        path.unlink(missing_ok=True)
        timing = run_cpu([*swsim, "sweep", *grid, "--seeds", str(nr_seeds), "-j", "1",
                          "-o", str(path)])
        in_process.append((nr_seeds * nr_fractions, timing))
        print(f"  swsim sweep -j 1, {nr_seeds * nr_fractions:5} points  {timing.seconds:8.1f} s  "
              f"{nr_seeds * nr_fractions / timing.seconds:8.2f} points/s  "
              f"cpu {timing.cpu_seconds / (nr_seeds * nr_fractions) * 1e3:6.1f} ms/point  "
              f"peak RSS {timing.max_rss_kb / 1024:6.0f} MiB")
    (small_points, small), (large_points, large) = in_process
    sweep_cpu = large.cpu_seconds / large_points
    loop += shell_loop(swsim, work, seeds, range(samples // 2, samples))
    compare_s = sum(comp.seconds for comp, _ in loop)
    compare_cpu = sum(comp.cpu_seconds for comp, _ in loop)
    loop_s = sum(whole.seconds for _, whole in loop)
    loop_cpu = sum(whole.cpu_seconds for _, whole in loop)

    compare_rate = samples / compare_s
    loop_rate = samples / loop_s
    print(f"  compare --no-data, a process per point ({samples} sampled)  "
          f"{compare_rate:6.2f} points/s  cpu {compare_cpu / samples * 1e3:6.1f} ms/point")
    print(f"  machine + snapshot + compare per point ({samples} sampled)  "
          f"{loop_rate:6.2f} points/s  cpu {loop_cpu / samples * 1e3:6.1f} ms/point")
    print("\nsweep ratios")
    at_least("sweep / a compare --no-data process per point (points/s)",
             sweep_rate / compare_rate, 20.0)
    at_least("sweep / machine+snapshot+compare per point (points/s)",
             sweep_rate / loop_rate, 20.0)
    at_least("the same, -j 1 (one core each)",
             large_points / large.seconds / compare_rate, 20.0)
    print(f"  {'CPU time per point: compare process / sweep -j 1':58} "
          f"{compare_cpu / samples / sweep_cpu:7.2f}x")
    verdict(f"sweep -j 1 peak RSS, {large_points} / {small_points} points",
            large.max_rss_kb / small.max_rss_kb, 1.2)


def at_least(label: str, value: float, target: float) -> None:
    ok = "ok" if value >= target else "MISSED"
    print(f"  {label:58} {value:7.2f}x  (target >= {target}x)  {ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default=str(ROOT / "bench-out"))
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-gib", type=float, default=1.0)
    parser.add_argument("--sweep-only", action="store_true", help="only the sweep case")
    parser.add_argument("--sweep-seeds", type=int, default=134,
                        help="seeds of the sweep (x 15 saved fractions: 2,010 points)")
    parser.add_argument("--sweep-samples", type=int, default=12,
                        help="points run as a compare process each, for the rate")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    swsim = [sys.executable, "-m", "swsim"]
    runs = args.runs
    if args.sweep_only:
        sweep_case(swsim, work, args.sweep_seeds, args.sweep_samples)
        return

    # Inputs: a 4 GiB machine whose image is 1 GiB (262144 pages), and a 64 GiB machine
    # (16M frames) whose image is 4M pages for the counts-only case.
    image_pages = int(GIB_PAGES * args.image_gib)
    frames = 4 * image_pages
    machine = generate_machine(frames=frames, saveable_fraction=0.25, seed=11, name="bench-1g")
    machine_file = work / "bench-1g.json"
    machine_file.write_text(machine.dumps())
    raw = work / "img.swsim"
    zst = work / "img.swsim.zst"
    print(f"swsim bench: {machine.nr_saveable} image pages on {frames} frames, {runs} runs each")
    run([*swsim, "snapshot", "--machine", str(machine_file), "-o", str(raw)])
    run([*swsim, "snapshot", "--machine", str(machine_file), "--compress=zstd",
         f"--level={args.level}", f"--threads={args.threads}", "-o", str(zst)])
    raw_bytes = raw.stat().st_size
    data_bytes = machine.nr_saveable * 4096

    print("\ncase" + " " * 43 + "median      throughput   peak RSS")
    t_restore = median([*swsim, "restore", str(raw), "--json"], runs)
    row("swsim restore (raw, safe-list)", t_restore, raw_bytes)
    t_cat = median(f"cat {raw} > /dev/null", runs)
    row("cat IMAGE > /dev/null", t_cat, raw_bytes)
    t_np = numpy_copy_seconds(raw_bytes, runs)
    floor = Timing(t_cat.seconds + t_np, 0)
    row("floor: cat + numpy copy of the same bytes", floor, raw_bytes)

    t_compare = median([*swsim, "compare", str(raw), "--json"], runs)
    row("swsim compare (raw, 4 strategies)", t_compare, raw_bytes)

    t_zrestore = median([*swsim, "restore", str(zst), "--json"], runs)
    row("swsim restore (zstd, safe-list)", t_zrestore, raw_bytes)
    t_zd = median(f"zstd -q -d -c {zst} > /dev/null", runs)
    row("zstd -d -c IMAGE > /dev/null", t_zd, raw_bytes)

    snap_cmd = [*swsim, "snapshot", "--machine", str(machine_file), "--compress=zstd",
                f"--level={args.level}", f"--threads={args.threads}", "-o", "-"]
    t_zsnap = median(snap_cmd, runs)
    row(f"swsim snapshot --compress=zstd -{args.level} -T{args.threads}", t_zsnap, raw_bytes)
    t_z = median(f"zstd -q -c -{args.level} -T{args.threads} {raw} > /dev/null", runs)
    row(f"zstd -c -{args.level} -T{args.threads} IMAGE > /dev/null", t_z, raw_bytes)

    big = generate_machine(frames=1 << 24, saveable_fraction=0.25, seed=12, name="bench-64g")
    big_file = work / "bench-64g.json"
    big_file.write_text(big.dumps())
    meta = work / "big-nodata.swsim"
    t_nd_snap = median([*swsim, "snapshot", "--machine", str(big_file), "--no-data",
                        "-o", str(meta)], 1)
    row("swsim snapshot --no-data (16M frames)", t_nd_snap)
    t_nd = median([*swsim, "restore", str(meta), "--no-data", "--json"], runs)
    row(f"swsim restore --no-data ({big.nr_saveable} pages)", t_nd)

    small = work / "small.swsim"
    small_machine = generate_machine(frames=GIB_PAGES // 4, saveable_fraction=0.4, seed=13)
    small_file = work / "small.json"
    small_file.write_text(small_machine.dumps())
    run([*swsim, "snapshot", "--machine", str(small_file), "-o", str(small)])
    t_pbp = median([*swsim, "restore", str(small), "--page-by-page", "--json"], runs)
    pps = small_machine.nr_saveable / t_pbp.seconds
    row("swsim restore --page-by-page", t_pbp, small_machine.nr_saveable * 4096,
        f"{pps:,.0f} pages/s")

    print("\nratios (each against its peer, same run, same bytes)")
    verdict("raw restore / memory-bandwidth floor", t_restore.seconds / floor.seconds, 3.0)
    verdict("compressed restore / zstd -d", t_zrestore.seconds / t_zd.seconds, 1.5)
    verdict("compressed snapshot / zstd -c", t_zsnap.seconds / t_z.seconds, 1.5)
    verdict("--no-data counts, 16M frames, 4M-page image (s)", t_nd.seconds, 10.0, " s")
    budget_kb = (1.5 * data_bytes + 64 * frames) / 1024
    verdict("raw restore peak RSS / (1.5 x data + 64 B per frame)",
            t_restore.max_rss_kb / budget_kb, 1.0)
    verdict("compare (4 strategies) / restore, wall time",
            t_compare.seconds / t_restore.seconds, 1.5)
    verdict("compare (4 strategies) / restore, peak RSS",
            t_compare.max_rss_kb / t_restore.max_rss_kb, 1.2)
    print(f"  page-by-page path: {pps:,.0f} pages/s")
    sweep_case(swsim, work, args.sweep_seeds, args.sweep_samples)
    if not shutil.which("zstd"):
        print("note: the zstd CLI is missing; install it (Debian: apt-get install zstd)")


if __name__ == "__main__":
    main()

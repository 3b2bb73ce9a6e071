#!/usr/bin/env python3
"""``make bench``: swsim against the peer commands that bound it, on the same bytes.

Builds its inputs in a work directory (default ``bench-out/``), runs every case several times
(``--runs``, default 3) as real processes, each swsim case interleaved with its peer command
(peer, swsim, peer, swsim, ...) so that both meet the same load on a shared machine, and prints
the median wall time, throughput, peak resident memory (the child's ru_maxrss) and each ratio
next to its target (issue 15):

* raw restore of a 1 GiB image / ``cat IMAGE > /dev/null``: <= 1.5x;
* zstd-compressed restore / ``zstd -d -c IMAGE > /dev/null``: <= 1.2x;
* ``compare`` of all four strategies (one pass) / one ``restore``: <= 1.5x time, <= 1.2x RSS;
* peak RSS of the 1 GiB-image restore: < 200 MiB;
* a 64 GiB machine (16M frames) with a 2 GiB image: < 300 MiB and < 2 s;
* ``restore --memory-out`` of the 1 GiB image / ``cat IMAGE > OUT`` (OUT on /dev/shm when
  writable): <= 2x;
* zstd snapshot of the 1 GiB image / ``zstd -c -3 -T2`` of the raw image: <= 1.2x;
* ``--no-data`` counts of a 1 TiB machine (2^28 frames) with a 16 GiB image: < 10 s, < 2 GiB;
* pages per second of the page-by-page path (no target).
* the suspend side (issue 12): a 64 GiB machine's suspend counts with each model
  (:func:`swsim.suspend.kernels.suspend`, in process, the slowest model against 1 s), and the
  whole ``snapshot --kernel K --no-data --json`` command beside it.
* ``swsim sweep`` of >= 2,000 points (1 GiB machines, all strategies, counts only) in points
  per second against the same points run as one ``swsim compare --no-data`` process each (the
  shell-loop way; a sample of points, their images made beforehand and not timed), target >=
  20x; and against the whole shell loop per point (``machine --generate``, ``snapshot
  --no-data``, ``compare --no-data``); the sweep's peak RSS against a sweep of a quarter of
  the points (memory flat: target <= 1.2x). ``--sweep-only`` runs just this case.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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


def generated(path: Path, frames: int, fraction: float, seed: int, name: str) -> int:
    """Write a generated machine to ``path`` from a child process; its number of image pages.

    Not in this process: a child's peak RSS (wait4's ru_maxrss) counts the high-water mark of
    the process it was forked from, so a bench that held a 2^28-frame machine would report
    at least that for every command it runs afterwards."""
    script = (
        "import sys; from swsim.machine.presets import generate_machine as g; "
        f"m = g(frames={frames}, saveable_fraction={fraction!r}, seed={seed}, name={name!r}); "
        f"open({str(path)!r}, 'w').write(m.dumps()); print(m.nr_saveable)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout)


def median(cmd: list[str] | str, runs: int, stdout_path: str = os.devnull) -> Timing:
    return summary([run(cmd, stdout_path) for _ in range(runs)])


def pair(peer: list[str] | str, cmd: list[str] | str, runs: int) -> tuple[Timing, Timing]:
    """Medians of ``peer`` and ``cmd`` run alternately (peer first), ``runs`` times each."""
    a: list[Timing] = []
    b: list[Timing] = []
    for _ in range(runs):
        a.append(run(peer))
        b.append(run(cmd))
    return summary(a), summary(b)


def summary(timings: list[Timing]) -> Timing:
    """Median wall time, largest peak RSS."""
    return Timing(statistics.median(t.seconds for t in timings),
                  max(t.max_rss_kb for t in timings))


def row(name: str, t: Timing, nbytes: int | None = None, extra: str = "") -> None:
    rate = f"{nbytes / t.seconds / 1e6:9.0f} MB/s" if nbytes else " " * 14
    print(f"  {name:44} {t.seconds:8.3f} s {rate} {t.max_rss_kb / 1024:8.0f} MiB  {extra}")


def verdict(label: str, value: float, target: float, unit: str = "x",
            strict: bool = False) -> None:
    """One figure next to its target (``strict``: below it; else at most it)."""
    ok = "ok" if (value < target if strict else value <= target) else "MISSED"
    sign = "<" if strict else "<="
    print(f"  {label:58} {value:8.2f}{unit}  (target {sign} {target}{unit})  {ok}")


def bench_suspend(work: Path, swsim: list[str], runs: int) -> dict[str, float]:
    """Issue 12: the suspend side on a 64 GiB machine (16M frames, 40% saved, with classes):
    each model's counts in process (median of ``runs``), and one whole command."""
    from swsim.machine.file import load_machine
    from swsim.suspend.kernels import suspend

    machine64_file = work / "bench-64g-classes.json"
    generated(machine64_file, 1 << 24, 0.4, 12, "bench-64g")
    # The whole command first: once this process holds the machine, a child's ru_maxrss would
    # count it (see generated()).
    t_susp = median([*swsim, "snapshot", "--machine", str(machine64_file), "--kernel", "6.12",
                     "--no-data", "--json", "-o", str(work / "susp-64g.swsim")], runs)
    machine64 = load_machine(machine64_file)
    suspend_seconds = {}
    for kernel in ("2.6.17", "6.1", "6.12", "tuxonice"):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            suspend(machine64, kernel)
            times.append(time.perf_counter() - start)
        suspend_seconds[kernel] = statistics.median(times)
        row(f"suspend counts, 64 GiB, --kernel {kernel} (in process)",
            Timing(suspend_seconds[kernel], 0))
    row("swsim snapshot --kernel 6.12 --no-data --json (64 GiB, whole command)", t_susp)
    return suspend_seconds


def suspend_verdict(suspend_seconds: dict[str, float]) -> None:
    """The slowest suspend model's time against issue 12's 1 s."""
    slowest = max(suspend_seconds, key=lambda k: suspend_seconds[k])
    verdict(f"suspend counts, 64 GiB, slowest model ({slowest}) (s)",
            suspend_seconds[slowest], 1.0, " s")


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
    # The target is the sweep as a user runs it (every core) against the serial shell
    # loop; one core against one core is shown beside it, with no target.
    print(f"  {'the same, sweep -j 1 (one core against one core)':58} "
          f"{large_points / large.seconds / compare_rate:7.2f}x  (no target)")
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
    parser.add_argument("--suspend-only", action="store_true",
                        help="only the suspend side's case (issue 12)")
    parser.add_argument("--sweep-only", action="store_true", help="only the sweep case")
    parser.add_argument("--no-sweep", action="store_true",
                        help="every case but the sweep (issue 15's targets and the suspend side)")
    parser.add_argument("--sweep-seeds", type=int, default=134,
                        help="seeds of the sweep (x 15 saved fractions: 2,010 points)")
    parser.add_argument("--sweep-samples", type=int, default=12,
                        help="points run as a compare process each, for the rate")
    args = parser.parse_args()
    # swsim's modules byte-compiled, as an installed swsim's are (pip compiles them): under
    # PYTHONDONTWRITEBYTECODE a checkout's are otherwise compiled anew by every run (~50 ms)
    compileall.compile_dir(ROOT / "swsim", quiet=1)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    swsim = [sys.executable, "-m", "swsim"]
    runs = args.runs
    if args.suspend_only:
        suspend_verdict(bench_suspend(work, swsim, runs))
        return
    if args.sweep_only:
        sweep_case(swsim, work, args.sweep_seeds, args.sweep_samples)
        return

    # Inputs: a 4 GiB machine whose image is 1 GiB (262144 pages); further down a 64 GiB
    # machine with a 2 GiB image and a 1 TiB machine with a 16 GiB image (counts only).
    image_pages = int(GIB_PAGES * args.image_gib)
    frames = 4 * image_pages
    machine_file = work / "bench-1g.json"
    nr_saveable = generated(machine_file, frames, 0.25, 11, "bench-1g")
    raw = work / "img.swsim"
    zst = work / "img.swsim.zst"
    print(f"swsim bench: {nr_saveable} image pages on {frames} frames, {runs} runs each")
    run([*swsim, "snapshot", "--machine", str(machine_file), "-o", str(raw)])
    run([*swsim, "snapshot", "--machine", str(machine_file), "--compress=zstd",
         f"--level={args.level}", f"--threads={args.threads}", "-o", str(zst)])
    raw_bytes = raw.stat().st_size

    print("\ncase" + " " * 43 + "median      throughput   peak RSS")
    t_cat, t_restore = pair(f"cat {raw} > /dev/null", [*swsim, "restore", str(raw), "--json"],
                            runs)
    row("cat IMAGE > /dev/null", t_cat, raw_bytes)
    row("swsim restore (raw, safe-list)", t_restore, raw_bytes)
    t_restore2, t_compare = pair([*swsim, "restore", str(raw), "--json"],
                                 [*swsim, "compare", str(raw), "--json"], runs)
    row("swsim restore (raw, safe-list), again", t_restore2, raw_bytes)
    row("swsim compare (raw, 4 strategies)", t_compare, raw_bytes)
    t_zd, t_zrestore = pair(f"zstd -q -d -c {zst} > /dev/null",
                            [*swsim, "restore", str(zst), "--json"], runs)
    row("zstd -d -c IMAGE > /dev/null", t_zd, raw_bytes)
    row("swsim restore (zstd, safe-list)", t_zrestore, raw_bytes)
    # OUT in memory (tmpfs) where there is one: both commands write through the page cache,
    # and neither waits for a shared disk's writeback
    shm = Path("/dev/shm")
    out = (shm if shm.is_dir() and os.access(shm, os.W_OK) else work) / "swsim-bench-memory.out"
    # Each run starts with no OUT: swsim writes a temporary file and renames it over OUT (it
    # never truncates a good file), so with the last run's OUT still there it would take fresh
    # pages while cat's `> OUT` reuses the ones it frees; on a VM whose memory is backed on
    # first touch (3 s/GB here, once) that measures the host, not the commands.
    memout = shlex.join([*swsim, "restore", str(raw), "--json", "--memory-out", str(out)])
    t_cp, t_memout = pair(f"rm -f {out}; cat {raw} > {out}", f"rm -f {out}; {memout}", runs)
    out.unlink()
    row("cat IMAGE > OUT", t_cp, raw_bytes)
    row("swsim restore --memory-out OUT", t_memout, raw_bytes)

    snap_cmd = [*swsim, "snapshot", "--machine", str(machine_file), "--compress=zstd",
                f"--level={args.level}", f"--threads={args.threads}", "-o", "-"]
    t_z, t_zsnap = pair(f"zstd -q -c -{args.level} -T{args.threads} {raw} > /dev/null",
                        snap_cmd, runs)
    row(f"zstd -c -{args.level} -T{args.threads} IMAGE > /dev/null", t_z, raw_bytes)
    row(f"swsim snapshot --compress=zstd -{args.level} -T{args.threads}", t_zsnap, raw_bytes)

    # A 64 GiB machine (16M frames) with a 2 GiB image (524288 pages).
    big_file = work / "bench-64g.json"
    big_pages = generated(big_file, 1 << 24, 1 / 32, 9, "bench-64g")
    big_image = work / "big.swsim"
    run([*swsim, "snapshot", "--machine", str(big_file), "-o", str(big_image)])
    t_big = median([*swsim, "restore", str(big_image), "--json"], runs)
    row(f"swsim restore, 16M frames, {big_pages}-page image", t_big,
        big_image.stat().st_size)

    # A 1 TiB machine (2^28 frames) with a 16 GiB image, counts only.
    tib_file = work / "bench-1t.json"
    tib_pages = generated(tib_file, 1 << 28, 1 / 64, 9, "bench-1t")
    meta = work / "tib-nodata.swsim"
    run([*swsim, "snapshot", "--machine", str(tib_file), "--no-data", "-o", str(meta)])
    t_nd = median([*swsim, "restore", str(meta), "--no-data", "--json"], runs)
    row(f"swsim restore --no-data, 2^28 frames, {tib_pages} pages", t_nd)

    small = work / "small.swsim"
    small_file = work / "small.json"
    small_pages = generated(small_file, GIB_PAGES // 4, 0.4, 13, "small")
    run([*swsim, "snapshot", "--machine", str(small_file), "-o", str(small)])
    t_pbp = median([*swsim, "restore", str(small), "--page-by-page", "--json"], runs)
    pps = small_pages / t_pbp.seconds
    row("swsim restore --page-by-page", t_pbp, small_pages * 4096,
        f"{pps:,.0f} pages/s")

    mib = 1024.0
    print("\nratios and figures (each ratio against its peer, interleaved runs, same bytes)")
    verdict("raw restore / cat IMAGE > /dev/null", t_restore.seconds / t_cat.seconds, 1.5)
    verdict("compressed restore / zstd -d", t_zrestore.seconds / t_zd.seconds, 1.2)
    verdict("compare (4 strategies) / restore, wall time",
            t_compare.seconds / t_restore2.seconds, 1.5)
    verdict("compare (4 strategies) / restore, peak RSS",
            t_compare.max_rss_kb / t_restore2.max_rss_kb, 1.2)
    verdict("1 GiB-image restore, peak RSS (MiB)", t_restore.max_rss_kb / mib, 200, " MiB",
            strict=True)
    verdict("64 GiB machine, 2 GiB image: peak RSS (MiB)", t_big.max_rss_kb / mib, 300, " MiB",
            strict=True)
    verdict("64 GiB machine, 2 GiB image: wall time (s)", t_big.seconds, 2.0, " s", strict=True)
    verdict("restore --memory-out / cat IMAGE > OUT", t_memout.seconds / t_cp.seconds, 2.0)
    verdict("compressed snapshot / zstd -c", t_zsnap.seconds / t_z.seconds, 1.2)
    verdict("--no-data, 2^28 frames, 16 GiB image: wall time (s)", t_nd.seconds, 10.0, " s",
            strict=True)
    verdict("--no-data, 2^28 frames, 16 GiB image: peak RSS (MiB)", t_nd.max_rss_kb / mib,
            2048, " MiB", strict=True)
    print(f"  page-by-page path: {pps:,.0f} pages/s")
    if not args.no_sweep:
        sweep_case(swsim, work, args.sweep_seeds, args.sweep_samples)
    # Last: it holds a 64 GiB machine in this process (see generated()).
    print("\nsuspend side (issue 12)")
    suspend_verdict(bench_suspend(work, swsim, runs))
    if not shutil.which("zstd"):
        print("note: the zstd CLI is missing; install it (Debian: apt-get install zstd)")


if __name__ == "__main__":
    main()

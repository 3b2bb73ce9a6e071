"""Sweeps: rows equal single ``compare`` runs, every backend gives the same rows, an interrupted
sweep keeps its rows and resumes where it stopped, and every results format reads back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from swsim.errors import UsageError
from swsim.runs.backends import DaskCluster, InProcess, LocalPool, SchedulerUnreachable
from swsim.runs.grid import Grid, Point, make_grid
from swsim.runs.point import COLUMNS, ZONES, Row, run_point
from swsim.runs.rows import iter_rows, open_sink
from swsim.runs.sweep import run_sweep
from tests.helpers import run_cli, tiny_machine

#: Small machines: 16 MiB, a 1 MiB kernel and 1 MiB of early allocations, so a point is quick.
SMALL = {"frames": "16Mi", "kernel_mib": 1, "early_mib": 1, "load_address_mib": 1}


def small_grid(**more: object) -> Grid:
    return make_grid({**SMALL, "saved_fraction": "0.2:0.6:0.2", "seeds": 2, **more})


def without_time(rows: Iterable[Row]) -> list[Row]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def sweep_to(path: Path, grid: Grid, backend: object = None, resume: bool = False) -> None:
    sink, done = open_sink(str(path), resume)
    run_sweep(grid, backend or InProcess(), sink, done)  # type: ignore[arg-type]


def test_rows_equal_compare_no_data_of_the_same_machine(tmp_path: Path) -> None:
    """One point, three commands: machine --generate, snapshot --no-data, compare --no-data."""
    point = next(make_grid({**SMALL, "saved_fraction": 0.35, "seed": 3,
                            "allocator": "ascending"}).points())
    rows = run_point(point, ["eat", "safe-list", "bitmap", "claim"])
    made = run_cli("machine", "--generate", "--frames", "4096", "--kernel-mib", "1",
                   "--early-mib", "1", "--load-address-mib", "1", "--saved-fraction", "0.35",
                   "--seed", "3", "-o", "m.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    snap = run_cli("snapshot", "--no-data", "--machine", "m.json", "-o", "img", cwd=tmp_path)
    assert snap.returncode == 0, snap.stderr
    out = run_cli("compare", "img", "--no-data", "--allocator", "ascending", "--json",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    expected = json.loads(out.stdout)["strategies"]
    assert [r["strategy"] for r in rows] == [e["strategy"] for e in expected]
    assert all(e["error"] is None for e in expected)
    for row, want in zip(rows, expected, strict=True):
        for key in ("image_pages", "meta_pages", "data_pages", "zero_pages", "allocations",
                    "frees", "eaten", "unsafe_kept", "direct", "copies", "peak_pages",
                    "missing", "excess_copies", "error"):
            assert row[key] == want[key], (row["strategy"], key)
        for zone in ZONES:
            for count, value in want["zones"].get(zone, {}).items():
                assert row[f"{zone.lower()}_{count}"] == value
        assert row["frames"] == 4096 and row["saved_fraction"] == 0.35 and row["seed"] == 3
    assert rows[0]["eaten"] > 0 and rows[1]["copies"] < rows[0]["copies"]  # a real comparison


def test_a_strategy_out_of_memory_is_a_row_with_its_error_and_missing_frames() -> None:
    point = next(make_grid({**SMALL, "saved_fraction": 0.6}).points())
    eat, *_, claim = run_point(point, ["eat", "safe-list", "claim"])
    # the counts when memory ran out, as `compare --json` gives them; no excess over claim
    assert eat["error"].startswith("ENOMEM") and eat["missing"] > 0
    assert eat["excess_copies"] is None
    assert claim["error"] is None and claim["copies"] > 0


def test_local_workers_give_the_rows_of_one_process(tmp_path: Path) -> None:
    grid = small_grid(allocator="buddy,random")
    sweep_to(tmp_path / "one.csv", grid)
    sweep_to(tmp_path / "two.csv", grid, LocalPool(2))
    one = list(iter_rows(str(tmp_path / "one.csv")))
    assert len(one) == len(grid) * 4
    assert without_time(iter_rows(str(tmp_path / "two.csv"))) == without_time(one)


def test_a_dask_cluster_gives_the_rows_of_the_local_run(tmp_path: Path) -> None:
    import distributed  # the dev extra installs it, so CI runs this
    grid = small_grid(strategy="eat,safe-list,claim")
    sweep_to(tmp_path / "local.jsonl", grid)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        sweep_to(tmp_path / "dask.jsonl", grid, DaskCluster(cluster.scheduler_address))
    local = without_time(iter_rows(str(tmp_path / "local.jsonl")))
    assert len(local) == len(grid) * 3
    assert without_time(iter_rows(str(tmp_path / "dask.jsonl"))) == local


def test_an_unreachable_scheduler_is_one_error() -> None:
    with pytest.raises(SchedulerUnreachable, match="cannot reach the Dask scheduler at tcp://"):
        DaskCluster("tcp://127.0.0.1:1", timeout=0.5)


class Interrupted:
    """A backend that is interrupted (Ctrl-C) after ``after`` points."""

    def __init__(self, after: int) -> None:
        self.after = after

    def run(self, points: Iterable[Point], strategies: Sequence[str]) -> Iterator[list[Row]]:
        for count, rows in enumerate(InProcess().run(points, strategies)):
            if count == self.after:
                raise KeyboardInterrupt
            yield rows

    def close(self) -> None:
        pass


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_an_interrupted_sweep_keeps_its_rows_and_resume_runs_only_the_rest(
    tmp_path: Path, suffix: str
) -> None:
    grid = small_grid()
    path = tmp_path / f"r{suffix}"
    with pytest.raises(KeyboardInterrupt):
        sweep_to(path, grid, Interrupted(after=2))
    kept = tmp_path / (f"r{suffix}.part.jsonl" if suffix == ".parquet" else f"r{suffix}")
    before = list(iter_rows(str(kept)))
    assert len(before) == 2 * 4  # two points, four strategies each
    if suffix != ".parquet":
        with open(path, "a") as stream:
            stream.write("262144,0.4,2,3")  # a last line cut short by a crash
    with pytest.raises(UsageError, match="exists: --resume continues it"):
        open_sink(str(path), resume=False)
    sink, done = open_sink(str(path), resume=True)
    assert len(done) == 8
    result = run_sweep(grid, InProcess(), sink, done)
    assert (result.points_skipped, result.points_run) == (2, len(grid) - 2)
    after = list(iter_rows(str(path)))
    assert after[:8] == before  # kept as they were, times included: not run again
    sweep_to(tmp_path / f"full{suffix}", grid)
    assert without_time(after) == without_time(iter_rows(str(tmp_path / f"full{suffix}")))
    assert not (tmp_path / f"r{suffix}.part.jsonl").exists()


def test_every_format_reads_back_the_same_rows_with_every_column(tmp_path: Path) -> None:
    grid = make_grid({**SMALL, "seeds": 2})
    for suffix in (".csv", ".jsonl", ".parquet"):
        sweep_to(tmp_path / f"r{suffix}", grid)
    csv_rows, jsonl_rows, parquet_rows = (
        list(iter_rows(str(tmp_path / f"r{s}"))) for s in (".csv", ".jsonl", ".parquet"))
    assert list(csv_rows[0]) == list(COLUMNS)
    assert without_time(csv_rows) == without_time(jsonl_rows) == without_time(parquet_rows)
    assert csv_rows[0]["swsim_version"] and csv_rows[0]["seconds"] > 0


def test_resuming_with_more_strategies_adds_only_the_rows_missing(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    sweep_to(path, make_grid({**SMALL, "seeds": 2, "strategy": "eat,claim"}))
    sweep_to(path, make_grid({**SMALL, "seeds": 2}), resume=True)
    rows = list(iter_rows(str(path)))
    assert len(rows) == 2 * 4
    assert sorted((r["seed"], r["strategy"]) for r in rows) == sorted(
        (seed, name) for seed in (1, 2) for name in ("eat", "safe-list", "bitmap", "claim"))


def test_a_suspend_kernel_axis_gives_the_rows_of_snapshot_kernel(tmp_path: Path) -> None:
    """suspend_kernel and image_size feed `swsim snapshot --kernel K --image-size S`: the rows
    are what `compare --no-data` prints for the image that command writes."""
    point = next(make_grid({**SMALL, "saved_fraction": 0.6, "suspend_kernel": "6.12",
                            "image_size": "20%"}).points())
    rows = run_point(point, ["safe-list", "claim"])
    made = run_cli("machine", "--generate", "--frames", "4096", "--kernel-mib", "1",
                   "--early-mib", "1", "--load-address-mib", "1", "--saved-fraction", "0.6",
                   "-o", "m.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    snap = run_cli("snapshot", "--no-data", "--machine", "m.json", "--kernel", "6.12",
                   "--image-size", "20%", "--json", "-o", "img", cwd=tmp_path)
    assert snap.returncode == 0, snap.stderr
    report = json.loads(snap.stdout)
    assert report["image_pages"] < report["saveable_before"]  # it shrank toward 20%
    out = run_cli("compare", "img", "--no-data", "--strategy", "safe-list", "--strategy",
                  "claim", "--json", cwd=tmp_path)
    expected = json.loads(out.stdout)["strategies"]
    for row, want in zip(rows, expected, strict=True):
        for key in ("image_pages", "zero_pages", "allocations", "direct", "copies", "error"):
            assert row[key] == want[key], (row["strategy"], key)
        assert row["suspend_kernel"] == "6.12" and row["image_size"] == "20%"


def test_a_suspend_that_cannot_copy_is_a_row_per_strategy_with_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine whose saved pages are all kernel memory (a version-1 machine: nothing can be
    freed) with 90% of it saved: 2.6.17 cannot make the atomic copy, so there is no image and
    every strategy's row carries the suspend's error."""
    import swsim.runs.point as point_module

    frames = 4096
    full = tiny_machine(frames, ((256, 256 + int(0.9 * frames)),), reserved=((0, 256),))
    monkeypatch.setattr(point_module, "point_machine", lambda **_: full)
    point = next(make_grid({**SMALL, "suspend_kernel": "2.6.17"}).points())
    rows = run_point(point, ["safe-list", "claim"])
    assert [row["strategy"] for row in rows] == ["safe-list", "claim"]
    for row in rows:
        assert row["error"].startswith("suspend (2.6.17) cannot make the atomic copy")
        assert "Not enough free memory" in row["error"]
        assert row["copies"] is None and row["suspend_kernel"] == "2.6.17"

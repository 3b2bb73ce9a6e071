"""``swsim sweep`` on the command line: CSV on stdout, spec files, and one line per bad input."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest

from swsim.runs import backends
from swsim.runs.point import COLUMNS
from tests.helpers import run_cli

SMALL = ["--frames", "16Mi", "--kernel-mib", "1", "--early-mib", "1", "--load-address-mib", "1"]


def one_error_line(stderr: bytes) -> str:
    lines = stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("swsim: error: ")
    return lines[0]


def test_csv_on_stdout_one_row_per_point_and_strategy() -> None:
    out = run_cli("sweep", *SMALL, "--saved-fraction", "0.2,0.3", "--seeds", "2",
                  "--strategy", "safe-list,claim", "-j", "1")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout.decode())))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["saved_fraction"], r["seed"], r["strategy"]) for r in rows[:4]] == [
        ("0.2", "1", "safe-list"), ("0.2", "1", "claim"),
        ("0.2", "2", "safe-list"), ("0.2", "2", "claim")]
    assert len(rows) == 8 and all(r["error"] == "" for r in rows)
    assert out.stderr == b""  # no terminal: no progress, no summary


def test_a_spec_file_and_options_over_it(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(
        'strategy = "claim"\n[grid]\nframes = "16Mi"\nkernel_mib = 1\nearly_mib = 1\n'
        'load_address_mib = 1\nsaved_fraction = "0.2:0.4:0.1"\nseeds = 3\n')
    out = run_cli("sweep", "spec.toml", "--seeds", "1", "-j", "1", "-o", "r.jsonl",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == 3  # three fractions, the option's one seed, one strategy


@pytest.mark.parametrize(("args", "spec", "wording"), [
    (["spec.toml"], "[grid]\nsaved_fractoin = 0.5\n",
     "spec.toml: unknown key 'saved_fractoin' (did you mean 'saved_fraction'?)"),
    (["--saved-fraction", "2"], None, "--saved-fraction must lie in (0, 1]"),
    (["--strategy", "eats"], None, "did you mean 'eat'?"),
    (["-o", "r.xlsx"], None, "cannot tell the format of r.xlsx"),
    (["-j", "0"], None, "--jobs must be at least 1"),
    (["missing.toml"], None, "cannot read spec file missing.toml"),
])
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], spec: str | None, wording: str
) -> None:
    if spec is not None:
        (tmp_path / "spec.toml").write_text(spec)
    out = run_cli("sweep", *SMALL, *args, cwd=tmp_path)
    assert out.returncode == 2
    assert wording in one_error_line(out.stderr)


def test_an_existing_file_is_kept_without_resume(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("precious\n")
    out = run_cli("sweep", *SMALL, "-o", "r.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert "r.csv exists: --resume continues it" in one_error_line(out.stderr)
    assert (tmp_path / "r.csv").read_text() == "precious\n"


def test_resume_with_nothing_left_to_run_changes_nothing(tmp_path: Path) -> None:
    args = ("sweep", *SMALL, "--seeds", "2", "-j", "1", "-o", "r.csv")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    before = (tmp_path / "r.csv").read_bytes()
    again = run_cli(*args, "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "r.csv").read_bytes() == before


def test_a_missing_extra_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    out = run_cli("sweep", *SMALL, "-o", "r.parquet", cwd=tmp_path)
    assert out.returncode == 2
    assert one_error_line(out.stderr).endswith("needs pyarrow: pip install 'swsim[parquet]'")
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT", 0.5)
    out = run_cli("sweep", *SMALL, "--scheduler", "tcp://127.0.0.1:1", "-o", "r.csv",
                  cwd=tmp_path)
    assert out.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in one_error_line(out.stderr)
    assert list(tmp_path.iterdir()) == []


def test_progress_and_summary_on_stderr_when_wanted_never_on_stdout(tmp_path: Path) -> None:
    args = ("sweep", *SMALL, "--seeds", "3", "--strategy", "claim", "-j", "1")
    shown = run_cli(*args, env={"SWSIM_PROGRESS": "1"})
    quiet = run_cli(*args)
    assert shown.returncode == quiet.returncode == 0
    err = shown.stderr.decode()
    assert "sweep" in err and "points/s" in err and "3/3" in err
    assert "swsim: 3 points (3 rows) in" in err
    strip = [line.rsplit(",", 1)[0] for line in shown.stdout.decode().splitlines()]
    assert strip == [line.rsplit(",", 1)[0] for line in quiet.stdout.decode().splitlines()]


def test_without_dask_the_scheduler_option_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    out = run_cli("sweep", *SMALL, "--scheduler", "tcp://127.0.0.1:8786", "-o", "r.csv",
                  cwd=tmp_path)
    assert out.returncode == 2
    assert one_error_line(out.stderr).endswith(
        "--scheduler needs distributed: pip install 'swsim[dask]'")


def test_a_dead_worker_is_one_line_and_the_rows_written_are_kept(tmp_path: Path) -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from swsim.runs.grid import make_grid
    from swsim.runs.rows import iter_rows, open_sink
    from swsim.runs.sweep import run_sweep

    class DyingExecutor:
        """Runs two points here, then its worker 'dies'."""

        def __init__(self) -> None:
            self.calls = 0

        def submit(self, func: object, *args: object) -> Future[object]:
            future: Future[object] = Future()
            self.calls += 1
            if self.calls <= 2:
                future.set_result(func(*args))  # type: ignore[operator]
            else:
                future.set_exception(BrokenProcessPool("a child process terminated"))
            return future

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            pass

    pool = backends.LocalPool(1)
    pool.executor.shutdown(wait=True)
    pool.executor = DyingExecutor()  # type: ignore[assignment]
    sink, done = open_sink(str(tmp_path / "r.csv"), resume=False)
    grid = make_grid({"frames": "16Mi", "kernel_mib": 1, "early_mib": 1,
                      "load_address_mib": 1, "seeds": 4})
    with pytest.raises(backends.WorkerLost, match="a sweep worker process died"):
        run_sweep(grid, pool, sink, done)
    assert len(list(iter_rows(str(tmp_path / "r.csv")))) == 2 * 4

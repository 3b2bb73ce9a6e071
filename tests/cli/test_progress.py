"""Progress bars go to stderr only, and only when wanted; stdout stays clean for pipes.

In-process: ``SWSIM_PROGRESS`` forces the bars on, and the captured stderr is no terminal, as a
pipe is not.
"""

from __future__ import annotations

import json
from pathlib import Path

from swsim.cli.progress import MIN_PAGES
from tests.helpers import CliResult, run_cli, tiny_machine


def run(args: list[str], progress: str | None, cwd: Path) -> CliResult:
    return run_cli(*args, cwd=cwd, env={"SWSIM_PROGRESS": progress})


def test_bars_on_stderr_when_forced_and_never_on_stdout(tmp_path: Path) -> None:
    machine = tiny_machine(4 * MIN_PAGES, ((1024, 1024 + MIN_PAGES + 500),), reserved=((0, 256),))
    (tmp_path / "m.json").write_text(machine.dumps())
    snap = run(["snapshot", "--machine", "m.json", "--zero-pages=store", "-o", "img"], "1",
               tmp_path)
    assert snap.returncode == 0 and b"snapshot" in snap.stderr and b"pages" in snap.stderr
    shown = run(["restore", "img", "--json"], "1", tmp_path)
    assert shown.returncode == 0
    assert b"restore" in shown.stderr and b"MB/s" in shown.stderr
    assert json.loads(shown.stdout)["verified"] is True  # stdout is the JSON alone
    quiet = run(["restore", "img", "--json"], None, tmp_path)  # stderr is not a terminal
    assert quiet.returncode == 0 and quiet.stderr == b""
    assert json.loads(quiet.stdout) == json.loads(shown.stdout)

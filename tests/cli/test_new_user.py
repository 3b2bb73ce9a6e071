"""What a new user meets first: help, version, shell completion, and reports that say everything
(``restore --json`` on ENOMEM, every key of every ``compare --json`` entry, ``inspect``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swsim import __version__
from swsim.cli.commands import COMMAND_ORDER, cli
from swsim.errors import EXIT_NOMEM, EXIT_OK
from swsim.image.format import FLAG_NAMES
from swsim.resume.stats import RestoreStats
from swsim.resume.strategies import STRATEGIES
from tests.helpers import ROOT, image_bytes, run_cli, swsim_env, tiny_machine
from tests.imagetools import KEY

MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30),), reserved=((0, 4),))
#: The boot kernel of this machine uses all but 3 frames: every strategy runs out of memory.
CROWDED = tiny_machine(256, ((8, 60), (140, 180)), used=((4, 253),), reserved=((0, 4),))
#: 40 saved ranges of 2 pages: more than the 16 the inspect table lists.
SCATTERED = tiny_machine(256, tuple((4 + 6 * i, 6 + 6 * i) for i in range(40)))


# -- help and version ------------------------------------------------------------------------
def test_commands_are_listed_in_the_order_a_user_meets_them() -> None:
    out = run_cli("--help", env={"COLUMNS": "80"}).stdout.decode()
    commands = out.split("Commands:")[1].split("Exit codes:")[0]
    names = [line.split()[0] for line in commands.strip().splitlines()]
    assert names[:5] == ["snapshot", "inspect", "restore", "compare", "machine"]
    assert names == [n for n in COMMAND_ORDER if n in cli.commands] + [
        n for n in cli.commands if n not in COMMAND_ORDER
    ]


@pytest.mark.parametrize("columns", ["50", "80", "200"])
def test_every_command_has_its_own_first_line_in_the_help(columns: str) -> None:
    out = run_cli("--help", env={"COLUMNS": columns}).stdout.decode()
    commands = out.split("Commands:")[1].split("Exit codes:")[0].strip().splitlines()
    firsts = [line.split(None, 1)[1] for line in commands]
    assert len(set(firsts)) == len(firsts), firsts


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(flag: str) -> None:
    proc = run_cli(flag)
    assert proc.returncode == EXIT_OK
    assert proc.stdout.decode().strip() == f"swsim, version {__version__}"


# -- shell completion ------------------------------------------------------------------------
def completion(
    instruction: str, words: str = "", cword: int = 0
) -> subprocess.CompletedProcess[str]:
    """``swsim`` asked for completion by a shell, in a real process."""
    env = swsim_env(_SWSIM_COMPLETE=instruction, COMP_WORDS=words, COMP_CWORD=str(cword))
    return subprocess.run([sys.executable, "-m", "swsim"], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _swsim_completion swsim"),
     ("zsh", "#compdef swsim"), ("fish", "complete --no-files --command swsim")],
)
def test_completion_scripts_for_bash_zsh_and_fish(shell: str, marker: str) -> None:
    proc = completion(f"{shell}_source")
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout and "Usage:" not in proc.stdout
    docs = (ROOT / "docs" / "commands.md").read_text()
    assert f"_SWSIM_COMPLETE={shell}_source swsim" in docs


def test_completion_answers_commands_options_and_choices() -> None:
    assert completion("bash_complete", "swsim re", 1).stdout.split() == ["plain,restore"]
    assert "plain,--strategy" in completion("bash_complete", "swsim compare --str", 2).stdout
    presets = completion("bash_complete", "swsim snapshot --preset ", 3).stdout.split()
    assert presets == ["plain,default", "plain,nigel-2006", "plain,rafael-2006"]
    assert completion("bash_complete", "swsim restore im", 2).stdout.split() == ["file,im"]


def test_completion_works_in_a_real_bash(tmp_path: Path) -> None:
    # The script calls `swsim` by name: a stand-in on PATH runs this checkout.
    stand_in = tmp_path / "swsim"
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m swsim "$@"\n')
    stand_in.chmod(0o755)
    script = (
        'eval "$(_SWSIM_COMPLETE=bash_source swsim)"\n'
        "COMP_WORDS=(swsim restore --strategy s); COMP_CWORD=3\n"
        '_swsim_completion swsim; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = swsim_env(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["safe-list"]


# -- reports ---------------------------------------------------------------------------------
def test_restore_json_on_enomem_prints_the_report_with_missing_and_exits_4(
    tmp_path: Path,
) -> None:
    (tmp_path / "img").write_bytes(image_bytes(MACHINE))
    (tmp_path / "crowded.json").write_text(CROWDED.dumps())
    proc = run_cli("restore", str(tmp_path / "img"), "--machine", str(tmp_path / "crowded.json"),
                   "--json")
    assert proc.returncode == EXIT_NOMEM
    report = json.loads(proc.stdout)
    assert report["missing"] > 0 and report["verified"] is False
    assert report["strategy"] == "safe-list" and report["allocator"] == "buddy"
    err = proc.stderr.decode()
    assert f"{report['missing']} more page(s) needed" in err and len(err.splitlines()) == 1


def test_compare_json_entries_have_every_key_and_the_allocator_its_name(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(image_bytes(MACHINE))
    (tmp_path / "crowded.json").write_text(CROWDED.dumps())
    ok = json.loads(run_cli("compare", str(tmp_path / "img"), "--json").stdout)
    proc = run_cli("compare", str(tmp_path / "img"), "--machine", str(tmp_path / "crowded.json"),
                   "--json")
    crowded = json.loads(proc.stdout)
    assert crowded["allocator"] == "buddy" == ok["allocator"]
    keys = ["strategy", *(f.name for f in RestoreStats.__dataclass_fields__.values()),
            "excess_copies", "error"]
    entries = ok["strategies"] + crowded["strategies"]
    assert len(entries) == 2 * len(STRATEGIES)
    for entry in entries:
        assert sorted(entry) == sorted(set(keys)), entry
    for entry in crowded["strategies"]:
        assert entry["error"].startswith("ENOMEM") and entry["missing"] > 0
        assert entry["excess_copies"] is None and entry["allocator"] == "buddy"
    for entry in ok["strategies"]:
        assert entry["error"] is None and entry["missing"] == 0
        assert isinstance(entry["excess_copies"], int)


def test_inspect_table_shows_flags_by_name_and_every_check(tmp_path: Path) -> None:
    (tmp_path / "key").write_bytes(KEY)
    (tmp_path / "m.json").write_text(MACHINE.dumps())
    proc = run_cli("snapshot", "--machine", str(tmp_path / "m.json"), "--compress=zstd",
                   "--key-file", str(tmp_path / "key"), "-o", str(tmp_path / "img"))
    assert proc.returncode == EXIT_OK, proc.stderr
    info = json.loads(run_cli("inspect", str(tmp_path / "img"), "--json").stdout)
    names = ", ".join(n for bit, n in FLAG_NAMES.items() if info["flags"] & bit)
    assert info["flag_names"] == names.split(", ") and "signed" in names
    rows = {}
    table = run_cli("inspect", str(tmp_path / "img"), "--key-file", str(tmp_path / "key"),
                    env={"COLUMNS": "200"}).stdout.decode()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    assert rows["flags"] == f"{info['flags']:#x} ({names})"
    assert rows["compressed"] == rows["signed"] == rows["authenticated"] == "yes"
    assert rows["block CRCs checked"] == "yes" and rows["digest"] == "ok"
    unkeyed = run_cli("inspect", str(tmp_path / "img"), env={"COLUMNS": "200"}).stdout.decode()
    assert [line for line in unkeyed.splitlines() if "authenticated" in line][0].count("no") == 1


def test_inspect_json_lists_every_pfn_range(tmp_path: Path) -> None:
    (tmp_path / "img").write_bytes(image_bytes(SCATTERED))
    info = json.loads(run_cli("inspect", str(tmp_path / "img"), "--json").stdout)
    assert info["nr_pfn_ranges"] == 40
    assert info["pfn_ranges"] == [list(r) for r in SCATTERED.saveable]
    table = run_cli("inspect", str(tmp_path / "img"), env={"COLUMNS": "400"}).stdout.decode()
    assert "... +24" in table

"""Machine files version 2 (suspend-time classes): round trips, version 1 still read, and every
bad class a one-line error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swsim.errors import MachineError
from swsim.machine.file import parse_machine
from swsim.machine.presets import generate_machine, get_preset
from swsim.machine.ranges import ranges_len
from tests.helpers import run_cli

NIGEL = get_preset("nigel-2006")


def test_a_classed_machine_round_trips_as_version_2() -> None:
    data = NIGEL.to_json()
    assert data["format"] == "swsim-machine/2" and "saveable" not in data["suspend"]
    assert parse_machine(NIGEL.dumps()) == NIGEL
    assert parse_machine(NIGEL.dumps()).nr_saveable == 157286


def test_version_1_files_stay_valid_with_everything_kernel_memory() -> None:
    machine = parse_machine(get_preset("rafael-2006").dumps())
    assert machine.classes is None
    classes = machine.suspend_classes
    assert classes.counts()["kernel"] == 100000 and classes.swap_pages == 0


def test_generated_machines_have_classes_covering_exactly_what_they_save() -> None:
    machine = generate_machine(1 << 20, 0.4, seed=9)
    assert machine.classes is not None
    assert sum(machine.classes.counts().values()) == machine.nr_saveable
    assert machine.classes.swap_pages == 1 << 20
    # the classes come from their own generator: the layout is the one of a machine without
    assert machine.saveable == generate_machine(1 << 20, 0.4, seed=9).saveable
    assert ranges_len(machine.classes.kernel) > 0


def edited(**suspend: object) -> str:
    data = NIGEL.to_json()
    data["suspend"].update(suspend)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (edited(anon=[[40000, 90256]]),
         "suspend: kernel range [256, 40256) overlaps anon range [40000, 90256)"),
        (edited(file_dirty=[[0, 10]]), "suspend: file_dirty range [0, 10) overlaps nosave range"),
        (edited(saveable=[[256, 157542]]), 'unknown key "suspend.saveable"'),
        (edited(swap_pages=-1), "suspend.swap_pages: expected int >= 0"),
        (edited(reserve_pages=1.5), "suspend.reserve_pages: expected int, got float"),
        (edited(kernel=[[256, 300000]]), "outside the 262144 frames"),
        (edited(anonn=[]), 'did you mean "suspend.anon"?'),
    ],
)
def test_a_version_2_file_with_wrong_classes_is_refused(text: str, message: str) -> None:
    with pytest.raises(MachineError, match="^m.json: ") as err:
        parse_machine(text, "m.json")
    assert message in str(err.value)


def test_the_cli_refuses_it_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(edited(anon=[[40000, 90256]]))
    out = tmp_path / "img"
    proc = run_cli("snapshot", "--machine", str(bad), "--kernel", "6.12", "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.decode().count("\n") == 1 and "overlaps" in proc.stderr.decode()
    assert not out.exists()


def test_a_shrunk_image_records_its_machine_and_restores(tmp_path: Path) -> None:
    out = tmp_path / "img"
    proc = run_cli("snapshot", "--preset", "nigel-2006", "--kernel", "2.6.17", "--no-data",
                   "-o", str(out))
    assert proc.returncode == 0
    restored = json.loads(run_cli("restore", str(out), "--json").stdout)
    assert restored["image_pages"] == 126739 and restored["missing"] == 0

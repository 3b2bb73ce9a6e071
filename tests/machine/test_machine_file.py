"""Strict machine files: the declared schema, one line for every bad file, and the same loader
for a machine file and for the machine description inside an image header."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swsim.errors import EXIT_BAD_IMAGE, EXIT_USAGE, ImageError, MachineError
from swsim.image.header import ImageHeader
from swsim.machine.file import MAX_FILE_BYTES, load_machine, parse_machine, read_machine
from swsim.machine.model import MAX_FRAMES, Machine
from swsim.machine.presets import PRESETS, get_preset
from tests.helpers import ROOT, assert_one_line_error, run_cli, tiny_machine
from tests.imagetools import fuzz_settings, make_image, with_machine_description

MACHINE = tiny_machine(256, ((8, 60), (140, 180)), used=((20, 30),), reserved=((0, 4),))
DEEP = 100_000


def edited(edit: dict[str, Any], machine: Machine = MACHINE) -> str:
    """``machine``'s file with the keys of ``edit`` (dotted paths) set; None deletes one."""
    data = machine.to_json()
    for dotted, value in edit.items():
        *parents, key = dotted.split(".")
        node = data
        for name in parents:
            node = node[name]
        if value is None:
            del node[key]
        else:
            node[key] = value
    return json.dumps(data)


def refused(text: str | bytes) -> str:
    with pytest.raises(MachineError) as info:
        parse_machine(text, "m.json")
    message = str(info.value)
    assert "\n" not in message and message.startswith("m.json: ")
    return message.removeprefix("m.json: ")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_its_file(name: str) -> None:
    machine = get_preset(name)
    assert parse_machine(machine.dumps()) == machine


def test_optional_keys_take_their_documented_defaults() -> None:
    text = '{"format": "swsim-machine/1", "frames": 64, "suspend": {"saveable": [[4, 8]]}}'
    machine = parse_machine(text)
    assert machine.nosave == machine.boot_used == machine.boot_reserved == ()
    assert (machine.content.seed, machine.content.zero, machine.content.text) == (2006, 0.25, 0.45)
    assert machine.name == "custom" and machine.page_size == 4096


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"boot.usde": [[20, 30]]}, 'unknown key "boot.usde" (did you mean "boot.used"?)'),
        ({"fram": 5}, 'unknown key "fram" (did you mean "frames"?)'),
        ({"suspend.savable": []},
         'unknown key "suspend.savable" (did you mean "suspend.saveable"?)'),
        ({"content.sed": 1}, 'unknown key "content.sed" (did you mean "content.seed"?)'),
        ({"zzz": 1}, 'unknown key "zzz" (known keys: format, frames, suspend, boot, content,'),
    ],
)
def test_unknown_keys_are_refused_with_the_nearest_known_one(
    edit: dict[str, Any], expected: str
) -> None:
    assert expected in refused(edited(edit))


def test_a_misspelled_key_no_longer_changes_the_counts_silently(tmp_path: Path) -> None:
    # boot.usde used to be ignored: the boot kernel used nothing, and compare said exit 0.
    (tmp_path / "m.json").write_text(edited({"boot.usde": [[20, 30]], "boot.used": None}))
    proc = run_cli("snapshot", "--machine", str(tmp_path / "m.json"), "-o", str(tmp_path / "i"))
    assert_one_line_error(proc, EXIT_USAGE, 'did you mean "boot.used"?')
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"frames": "256"}, "frames: expected int, got str"),
        ({"frames": 256.0}, "frames: expected int, got float"),
        ({"frames": 0}, "frames: expected int >= 1"),
        ({"frames": True}, "frames: expected int, got bool"),
        ({"format": "swsim-machine/9"}, "\"format\" must be \"swsim-machine/1\""),
        ({"format": "x" * 100}, '(got "' + "x" * 40 + '...")'),
        ({"format": [[1]]}, "(got list)"),
        ({"format": None}, "\"format\" must be"),
        ({"page_size": 8192}, "page_size: invalid enum value 8192"),
        ({"suspend": None}, "missing required field suspend"),
        ({"suspend.saveable": [[8, 60, 1]]}, "suspend.saveable[0]: expected array of length 2"),
        ({"suspend.saveable": [[60, 8]]}, "range [60, 8) is empty or outside the 256 frames"),
        ({"boot.used": [[0, 257]]}, "boot.used: range [0, 257) is empty or outside"),
        ({"boot.used": [[-1, 4]]}, "boot.used[0][0]: expected int >= 0"),
        ({"boot.used": [[0, 30]]}, "boot: reserved range [0, 4) overlaps used range [0, 30)"),
        ({"content.zero": 0.7}, "content: zero and text fractions must lie in [0, 1]"),
        ({"content.zero": -0.1}, "content.zero: expected float >= 0.0"),
        ({"content.text": "0.4"}, "content.text: expected float, got str"),
        ({"content.seed": 1.5}, "content.seed: expected int, got float"),
        ({"content.seed": -1}, "content.seed: expected int >= 0"),
        ({"content.seed": 2**64}, f"content: seed must be an integer from 0 to {2**64 - 1}"),
        ({"content.seed": 10**30}, "content: seed must be an integer from 0 to"),
        ({"name": ["x"]}, "name: expected str, got array"),
        ({"name": "x" * 257}, "name: expected str of length <= 256"),
        ({"name": "a\x1b[31mred"}, "name: expected str matching regex"),
        ({"boot.a\nb": 1}, 'unknown key "boot.a\\nb" (known keys: used, reserved)'),
        ({"\u2028": 1}, 'unknown key "\\u2028" (known keys:'),
        ({"k" * 1000: 1}, 'unknown key "' + "k" * 40 + '..." (known keys:'),
        ({"boot": []}, "boot: expected object, got array"),
    ],
)
def test_each_schema_violation_is_one_line_naming_the_key(
    edit: dict[str, Any], expected: str
) -> None:
    assert expected in refused(edited(edit))


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"])
def test_non_finite_or_huge_seeds_are_one_line(value: str) -> None:
    text = edited({}).replace('"seed": 7', f'"seed": {value}')
    assert value not in edited({}) and value in text
    message = refused(text)
    assert "not valid JSON" in message or "content.seed: number out of range" in message


@pytest.mark.parametrize("frames", [2**64, 2**62, MAX_FRAMES + 1, 10**30])
def test_frames_beyond_the_documented_maximum_are_one_line(frames: int) -> None:
    # With a saveable range that large: refused before anything is allocated for it.
    text = edited({"frames": frames, "suspend.saveable": [[0, frames]]})
    message = refused(text)
    assert message.startswith("frames: ") and (str(MAX_FRAMES) in message or "range" in message)
    assert f"`{MAX_FRAMES}`" in (ROOT / "docs" / "machine-format.md").read_text()


def test_the_largest_machine_is_accepted() -> None:
    text = edited({"frames": MAX_FRAMES, "suspend.saveable": [[8, 60]], "boot.used": None})
    assert parse_machine(text).frames == MAX_FRAMES


@pytest.mark.parametrize(
    "text",
    [
        "[" * DEEP + "]" * DEEP,
        '{"x": ' + "[" * DEEP + "]" * DEEP + "}",
        '{"format": "swsim-machine/1", "name": ' + "[" * DEEP + "]" * DEEP + "}",
        '{"format": "swsim-machine/1", "a": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
        '{"format": "swsim-machine/1", "frames": 9, "suspend": {"saveable": '
        + "[" * DEEP + "]" * DEEP + "}}",
    ],
    ids=["top", "unknown-first", "known-key", "objects", "ranges"],
)
def test_json_nested_100000_deep_is_one_line(text: str) -> None:
    refused(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "expected object, got array"),
        (b'"swsim-machine/1"', "expected object, got str"),
        (b"{} trailing", "not valid JSON"),
    ],
)
def test_not_a_json_object_is_one_line(text: bytes, expected: str) -> None:
    assert expected in refused(text)


def test_a_file_too_large_to_be_a_machine_file_is_not_read_whole() -> None:
    stream = io.BytesIO(b" " * (MAX_FILE_BYTES + 10))
    with pytest.raises(MachineError, match="larger than 16 MiB"):
        read_machine(stream, "m.json")
    assert stream.tell() == MAX_FILE_BYTES + 1


def test_an_unreadable_machine_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(MachineError, match="cannot read machine file"):
        load_machine(tmp_path / "absent.json")
    with pytest.raises(MachineError, match="cannot read machine file"):
        load_machine(tmp_path)


# -- the same loader for the machine description in an image header ----------------------
BAD_DESCRIPTIONS = {
    "deep": "[" * DEEP + "]" * DEEP,
    "deep-in-a-key": edited({}).replace('"name": "tiny"', '"name": ' + "[" * DEEP + "]" * DEEP),
    "seed-infinity": edited({}).replace('"seed": 7', '"seed": Infinity'),
    "seed-minus-infinity": edited({}).replace('"seed": 7', '"seed": -Infinity'),
    "seed-1e400": edited({}).replace('"seed": 7', '"seed": 1e400'),
    "seed-2**64": edited({"content.seed": 2**64}),
    "frames-2**64": edited({"frames": 2**64, "suspend.saveable": [[0, 2**64]]}),
    "frames-2**62": edited({"frames": 2**62, "suspend.saveable": [[0, 2**62]]}),
    "unknown-key": edited({"boot.usde": [[20, 30]]}),
}


@pytest.mark.parametrize("name", sorted(BAD_DESCRIPTIONS))
def test_an_image_header_with_a_bad_machine_description_is_exit_3(
    name: str, tmp_path: Path
) -> None:
    image = with_machine_description(make_image(MACHINE), BAD_DESCRIPTIONS[name])
    with pytest.raises(ImageError, match="bad machine description"):
        ImageHeader.unpack(image[:4096])
    (tmp_path / "img").write_bytes(image)
    for command in ("restore", "inspect", "compare"):
        proc = run_cli(command, str(tmp_path / "img"))
        assert_one_line_error(proc, EXIT_BAD_IMAGE, "bad machine description")


def test_the_forged_description_helper_keeps_a_good_description_good() -> None:
    image = make_image(MACHINE)
    same = with_machine_description(image, MACHINE.dumps())
    assert ImageHeader.unpack(same[:4096]).machine == MACHINE


# -- any JSON value anywhere: a machine or one MachineError line, never anything else -------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)
#: Where a value may be put: every key the schema declares, and a few it does not.
PATHS = [
    "format", "frames", "page_size", "name", "suspend", "suspend.saveable", "suspend.nosave",
    "boot", "boot.used", "boot.reserved", "content", "content.seed", "content.zero",
    "content.text", "extra", "boot.extra", "suspend.saveable.0",
]


@fuzz_settings(300)
@given(edits=st.dictionaries(st.sampled_from(PATHS), JSON_VALUES, min_size=1, max_size=3))
def test_any_value_at_any_key_is_a_machine_or_one_machine_error(edits: dict[str, Any]) -> None:
    data: Any = MACHINE.to_json()
    for dotted, value in edits.items():
        *parents, key = dotted.split(".")
        node = data
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[key] = value
        elif isinstance(node, list) and key.isdigit() and node:
            node[int(key)] = value
    text = json.dumps(data)  # Python writes NaN and Infinity: not JSON, refused as such
    try:
        machine = parse_machine(text, "m.json")
    except MachineError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("m.json: ")
    else:
        assert parse_machine(machine.dumps()) == machine


@pytest.mark.parametrize("name", ["rafael-2006", "nigel-2006"])  # version 1, version 2
def test_a_name_with_control_characters_is_refused_in_either_version(name: str) -> None:
    """Both file versions share one `name` rule: a label with a control character (which
    could rewrite the terminal's line) is refused, version 2 as version 1."""
    data = get_preset(name).to_json()
    data["name"] = "evil\x1b[2Jname"
    with pytest.raises(MachineError, match="name"):
        parse_machine(json.dumps(data), "m.json")
    data["name"] = "fine-name"
    assert parse_machine(json.dumps(data), "m.json").name == "fine-name"

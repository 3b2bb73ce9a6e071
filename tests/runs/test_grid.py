"""A sweep's grid: axes, values, ranges, spec files, and the points they expand to."""

from __future__ import annotations

import pytest

from swsim.errors import InvalidValue, UsageError
from swsim.resume.strategies import STRATEGIES
from swsim.runs.grid import AXES, Grid, make_grid, parse_frames
from swsim.runs.spec import grid_from_spec, parse_spec


def test_the_issue_grid_expands_to_every_combination_last_axis_fastest() -> None:
    grid = make_grid({
        "frames": "256Mi,1Gi,4Gi", "saved_fraction": "0.2:0.9:0.05",
        "allocator": "buddy,ascending", "seeds": 5, "strategy": "all",
    })
    assert grid.axis_values("frames") == (65536, 262144, 1048576)
    fractions = grid.axis_values("saved_fraction")
    assert len(fractions) == 15 and fractions[0] == 0.2 and fractions[-1] == 0.9
    assert fractions[1] == 0.25 and fractions[10] == 0.7  # exact decimals, no 0.7000000001
    assert grid.axis_values("seed") == (1, 2, 3, 4, 5)
    assert grid.strategies == tuple(STRATEGIES)
    points = list(grid.points())
    assert len(points) == len(grid) == 3 * 15 * 2 * 5
    assert len({p.values for p in points}) == len(points)
    first, second = points[0].as_dict(), points[1].as_dict()
    assert (first["frames"], first["saved_fraction"], first["allocator"], first["seed"]) == (
        65536, 0.2, "buddy", 1)
    assert second["seed"] == 2 and second["allocator"] == "buddy"  # the seed varies fastest
    assert points[5]["allocator"] == "ascending"
    # axes not swept keep their defaults
    assert {p["kernel_mib"] for p in points} == {AXES["kernel_mib"].default}


def test_a_point_splits_into_the_keywords_of_each_stage() -> None:
    point = next(make_grid({"allocator": "random", "allocator_seed": 9}).points())
    assert point.stage("resume") == {"allocator": "random", "seed": 9}
    suspend = {"zero_pages": "skip", "kernel": "none", "image_size": "default"}
    assert point.stage("suspend") == suspend
    machine = point.stage("machine")
    assert machine["seed"] == 1 and machine["frames"] == 262144 and "allocator" not in machine


@pytest.mark.parametrize(("text", "frames"), [
    ("262144", 262144), ("1Gi", 262144), ("4GiB", 1 << 20), ("256Mi", 65536), ("8M", 2048),
])
def test_frames_from_counts_and_sizes(text: str, frames: int) -> None:
    assert parse_frames(text) == frames


@pytest.mark.parametrize(("spec", "wording"), [
    ({"saved_fraction": "0"}, "saved fraction must lie in (0, 1]"),
    ({"saved_fraction": "0.9:0.2:0.1"}, "start <= stop"),
    ({"frames": "1.5Ki"}, "frames"),
    ({"allocator": "budy"}, "'budy' is not one of"),
    ({"strategy": "eats"}, "did you mean 'eat'"),
    ({"seeds": 0}, "seeds must be a positive"),
])
def test_bad_values_name_their_axis(spec: dict[str, object], wording: str) -> None:
    with pytest.raises(InvalidValue) as info:
        make_grid(spec)
    assert wording in str(info.value)


def test_an_unknown_axis_is_refused_with_the_closest_name() -> None:
    with pytest.raises(UsageError, match="unknown key 'saved_fractoin' .did you mean 'saved_fr"):
        make_grid({"saved_fractoin": 0.5})


SPEC = """
format = "swsim-sweep/1"
strategy = ["eat", "claim"]
[grid]
frames = ["256Mi", "1Gi"]
saved_fraction = "0.2:0.4:0.1"
allocator = ["buddy", "ascending"]
seeds = 2
"""


def test_a_spec_file_gives_the_grid_of_the_same_options() -> None:
    from_file = grid_from_spec(parse_spec(SPEC), "spec.toml")
    from_options = make_grid({
        "frames": "256Mi,1Gi", "saved_fraction": "0.2:0.4:0.1", "allocator": "buddy,ascending",
        "seeds": 2, "strategy": "eat,claim",
    })
    assert from_file == from_options
    assert list(from_file.points()) == list(from_options.points())
    assert from_file.strategies == ("eat", "claim") and len(from_file) == 2 * 3 * 2 * 2


@pytest.mark.parametrize(("text", "wording"), [
    ("[grid]\nsaved_fractoin = 0.5\n", "spec.toml: unknown key 'saved_fractoin' (did you mean"),
    ("strategies = 'all'\n", "spec.toml: unknown key 'strategies' (did you mean 'strategy'"),
    ("[grid\n", "spec.toml: not valid TOML"),
    ("format = 'swsim-sweep/9'\n", "\"format\" must be \"swsim-sweep/1\""),
    ("grid = 3\n", "[grid] must be a table"),
])
def test_bad_spec_files_are_one_clear_error(text: str, wording: str) -> None:
    with pytest.raises(UsageError) as info:
        grid_from_spec(parse_spec(text, "spec.toml"), "spec.toml")
    assert wording in str(info.value)


def test_a_bad_value_in_a_spec_file_names_the_file() -> None:
    with pytest.raises(UsageError, match="^spec.toml: saved_fraction must lie in"):
        grid_from_spec(parse_spec("[grid]\nsaved_fraction = 2.0\n"), "spec.toml")


def test_an_empty_grid_is_one_point_of_defaults() -> None:
    assert len(Grid()) == 1
    assert next(Grid().points()).as_dict() == {n: a.default for n, a in AXES.items()}


def test_every_axis_is_documented_as_a_key_and_an_option() -> None:
    from tests.helpers import ROOT

    sweep_doc = (ROOT / "docs" / "sweep.md").read_text()
    commands_doc = (ROOT / "docs" / "commands.md").read_text()
    for name, axis in AXES.items():
        assert f"| `{name}` |" in sweep_doc, name
        assert f"`{axis.option}`" in commands_doc, axis.option


def test_the_example_spec_is_the_issue_grid() -> None:
    from swsim.runs.spec import load_spec
    from tests.helpers import ROOT

    grid = grid_from_spec(load_spec(str(ROOT / "examples" / "sweep.toml")), "sweep.toml")
    assert len(grid) == 2 * 15 * 2 * 5 and grid.strategies == tuple(STRATEGIES)

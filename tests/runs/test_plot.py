"""``swsim plot``: lines through the mean over seeds, bands of their spread, facets, and one
line for a bad column or a missing extra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from swsim.runs.plot import series
from tests.helpers import run_cli

ROWS = [
    {"x": 1, "seed": 1, "strategy": "eat", "copies": 10, "alloc": "buddy"},
    {"x": 1, "seed": 2, "strategy": "eat", "copies": 14, "alloc": "buddy"},
    {"x": 2, "seed": 1, "strategy": "eat", "copies": 20, "alloc": "buddy"},
    {"x": 1, "seed": 1, "strategy": "claim", "copies": 3, "alloc": "buddy"},
    {"x": 1, "seed": 1, "strategy": "claim", "copies": 5, "alloc": "ascending"},
    {"x": 2, "seed": 1, "strategy": "claim", "copies": None, "alloc": "ascending"},  # ENOMEM
]


def test_a_line_per_group_through_the_mean_with_the_spread() -> None:
    (lines,) = series(ROWS, "x", "copies", by="strategy").values()
    eat, claim = lines
    assert (eat.label, eat.x, eat.mean, eat.low, eat.high, eat.count) == (
        "strategy=eat", [1, 2], [12.0, 20.0], [10.0, 20.0], [14.0, 20.0], [2, 1])
    assert (claim.x, claim.mean, claim.low, claim.high) == ([1], [4.0], [3.0], [5.0])


def test_a_panel_per_facet() -> None:
    facets = series(ROWS, "x", "copies", by="strategy", facet="alloc")
    assert list(facets) == ["buddy", "ascending"]
    assert [line.label for line in facets["ascending"]] == ["strategy=claim"]
    assert facets["ascending"][0].x == [1]  # the row without copies is left out


def write_jsonl(path: Path) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))


def test_plot_command_writes_each_picture_format(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "r.jsonl")
    for name, magic in (("p.png", b"\x89PNG"), ("p.svg", b"<?xml"), ("p.pdf", b"%PDF")):
        out = run_cli("plot", "r.jsonl", "-x", "x", "-y", "copies", "--by", "strategy",
                      "--facet", "alloc", "--logy", "-o", name, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert (tmp_path / name).read_bytes().startswith(magic)


@pytest.mark.parametrize(("args", "message"), [
    (["-y", "copys"], "r.jsonl has no column 'copys' (did you mean 'copies'?)"),
    (["-y", "copies", "--by", "strategie"], "r.jsonl has no column 'strategie' (did you mean"),
    (["-y", "strategy"], "r.jsonl has no numeric value of 'strategy' to plot"),
])
def test_bad_columns_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    write_jsonl(tmp_path / "r.jsonl")
    out = run_cli("plot", "r.jsonl", "-x", "x", *args, "-o", "p.png", cwd=tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.decode().splitlines()
    assert line.startswith("swsim: error: " + message)
    assert not (tmp_path / "p.png").exists()


def test_without_matplotlib_one_line_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_jsonl(tmp_path / "r.jsonl")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = run_cli("plot", "r.jsonl", "-x", "x", "-y", "copies", "-o", "p.png", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.decode().splitlines() == [
        "swsim: error: swsim plot needs matplotlib: pip install 'swsim[plot]'"]

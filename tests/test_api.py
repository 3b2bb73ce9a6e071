"""The public API of ``import swsim``: loaded lazily, and the same numbers as the modules."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import swsim
from swsim.image.source import open_image
from swsim.resume.restore import RestoreOptions, restore
from swsim.runs.compare import compare
from swsim.runs.summary import summarize_image
from tests.helpers import ROOT, swsim_env, tiny_machine

MACHINE = tiny_machine(4096, ((100, 1400), (2000, 2300)), used=((300, 600),), reserved=((0, 32),))
API = [
    "Machine", "get_preset", "load_machine", "write_image", "WriteOptions", "open_image",
    "ImageSource",
    "restore", "RestoreOptions", "RestoreStats", "compare", "CompareRow", "summarize_image",
    "ImageSummary", "suspend", "parse_image_size", "SuspendReport", "write_snapshot", "cycle",
]


def test_every_public_name_is_there_and_is_the_module_s_own() -> None:
    assert sorted(API) == sorted(name for name in swsim.__all__ if name != "__version__")
    for name in API:
        assert getattr(swsim, name) is not None, name
    assert swsim.restore is restore and swsim.open_image is open_image
    assert swsim.RestoreOptions is RestoreOptions and swsim.compare is compare
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        swsim.nope  # noqa: B018


def test_write_restore_compare_and_summarize_through_the_facade() -> None:
    image = io.BytesIO()
    header = swsim.write_image(MACHINE, image, swsim.WriteOptions(compress="zstd"))
    data = image.getvalue()
    assert data[:4] == b"\x28\xb5\x2f\xfd"
    options = swsim.RestoreOptions(allocator="ascending")
    facade = {}
    for strategy in ("eat", "safe-list"):
        one = swsim.RestoreOptions(strategy, allocator="ascending")
        stats = swsim.restore(swsim.open_image(io.BytesIO(data)), one)
        assert isinstance(stats, swsim.RestoreStats)
        assert stats.verified and stats.image_pages == MACHINE.nr_saveable
        # The same restore through the modules themselves.
        direct = restore(
            open_image(io.BytesIO(data)), RestoreOptions(strategy=strategy, allocator="ascending")
        )
        assert stats == direct
        facade[strategy] = stats
    assert facade["eat"].copies > facade["safe-list"].copies

    rows = swsim.compare(swsim.open_image(io.BytesIO(data)), options, ["eat", "safe-list"])
    assert all(isinstance(row, swsim.CompareRow) for row in rows)
    assert {row.strategy: row.stats for row in rows} == facade
    assert rows == compare(open_image(io.BytesIO(data)), options, ["eat", "safe-list"])
    claim = restore(open_image(io.BytesIO(data)), RestoreOptions("claim", allocator="ascending"))
    for row in rows:
        assert row.stats is not None
        assert row.excess_copies == row.stats.copies - claim.copies

    summary = swsim.summarize_image(swsim.open_image(io.BytesIO(data)), strict=True)
    assert isinstance(summary, swsim.ImageSummary)
    assert summary.verified and summary.checks["compressed"]
    assert summary.header["image_pages"] == header.image_pages == MACHINE.nr_saveable
    assert summary.header["nr_data_pages"] == facade["eat"].data_pages
    assert summary.header["nr_zero_pages"] == facade["eat"].zero_pages
    assert summary.to_json() == summarize_image(open_image(io.BytesIO(data)), True).to_json()


def test_a_preset_machine_through_the_facade() -> None:
    machine = swsim.get_preset("default")
    assert isinstance(machine, swsim.Machine) and machine.name == "default"


def test_import_swsim_does_not_load_numpy() -> None:
    code = "import sys, swsim; print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy'))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=swsim_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "[]"

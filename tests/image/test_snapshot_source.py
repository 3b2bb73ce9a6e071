"""A snapshot's image handed over in memory is the image ``snapshot --no-data`` writes."""

from __future__ import annotations

import pytest

from swsim.image.snapshot_source import SnapshotSource
from swsim.image.writer import WriteOptions
from swsim.resume.restore import RestoreOptions
from swsim.runs.compare import compare
from swsim.suspend.snapshot import take_snapshot
from tests.helpers import image_bytes, open_source, tiny_machine

MACHINE = tiny_machine(4096, ((300, 1500), (2000, 2600)), used=((400, 500),),
                       reserved=((0, 256),))


@pytest.mark.parametrize("zero_pages", ["skip", "store"])
def test_info_header_and_metadata_are_those_of_the_written_image(zero_pages: str) -> None:
    options = WriteOptions(zero_pages=zero_pages, no_data=True)
    written = open_source(image_bytes(MACHINE, options))
    memory = SnapshotSource(take_snapshot(MACHINE, zero_pages), options)
    assert memory.info == written.info
    assert memory.info.has_data is False and memory.info.image_pages == 1800
    assert memory.header_page == written.header_page
    assert list(memory.iter_meta_pages()) == list(written.iter_meta_pages())
    assert list(memory.iter_data()) == []
    assert memory.describe() == written.describe()


def test_compare_counts_equal_those_of_the_written_image() -> None:
    options = RestoreOptions(no_data=True, allocator="ascending")
    written = compare(open_source(image_bytes(MACHINE, WriteOptions(no_data=True))), options)
    memory = compare(SnapshotSource(take_snapshot(MACHINE)), options)
    assert [r.to_json() for r in memory] == [r.to_json() for r in written]
    assert memory[0].stats is not None and memory[0].stats.copies == 1800

"""``--image-size``: pages, bytes with a unit, or a percentage of RAM; and how the models use it."""

from __future__ import annotations

import pytest

from swsim.errors import InvalidValue
from swsim.machine.presets import get_preset
from swsim.suspend.kernels import ImageSize, parse_image_size, suspend


@pytest.mark.parametrize(
    ("text", "pages_of_1000"),
    [
        ("25600", 25600),          # pages
        ("500M", 128000),          # 500 MiB
        ("500MiB", 128000),
        ("2G", 524288),
        ("4096b", 1),
        ("8K", 2),
        ("40%", 400),              # of 1000 pages of RAM
        ("0", 0),
        ("100%", 1000),
    ],
)
def test_image_size_forms(text: str, pages_of_1000: int) -> None:
    assert parse_image_size(text).to_bytes(1000) == pages_of_1000 * 4096


@pytest.mark.parametrize("text", ["", "abc", "-5", "101%", "5 parsecs", "1.5", "0x10", "1e9"])
def test_impossible_image_sizes(text: str) -> None:
    with pytest.raises(InvalidValue) as err:
        parse_image_size(text)
    assert err.value.param == "image_size"


def test_tuxonice_s_image_size_limit_eats_memory_down_to_it() -> None:
    # nigel-2006: 157286 pages; a soft limit of 100000 pages: any_to_free() = 57286, reclaimed
    # from the LRU (clean page cache first); pageset 1 (40000) is untouched.
    report = suspend(get_preset("nigel-2006"), "tuxonice", ImageSize(100000, "pages")).report
    assert report.image_pages == 100000
    assert report.freed == {"file_clean": 57286, "file_dirty": 0, "anon": 0}
    assert (report.pageset1, report.pageset2) == (40000, 60000)


def test_a_larger_image_size_does_not_make_2_6_17_keep_more_than_half() -> None:
    # 2 GiB of image_size on a 1 GiB machine: only "the copy must fit" shrinks it.
    report = suspend(get_preset("nigel-2006"), "2.6.17", ImageSize(2 << 30, "bytes")).report
    assert report.fits and 2 * report.image_pages < 262144

"""The claims of the seed thread, reproduced.

Rafael (April 2006): "On my box this patch allows us to save as many as approx. 90000 page
copyings and 90000 (at least ...) page allocations for an image of approx. 100000 of pages.
Also it will allow us to read images greater than 50% of the normal zone".
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from swsim.machine.presets import get_preset
from tests.helpers import image_bytes, restore_image, run_cli, tiny_machine


@pytest.fixture(scope="module")
def rafael_image() -> bytes:
    return image_bytes(get_preset("rafael-2006"))


def test_rafael_2006_box_saves_about_90000_copies_and_allocations(rafael_image: bytes) -> None:
    eat = restore_image(io.BytesIO(rafael_image), "eat", allocator="ascending")
    safe = restore_image(io.BytesIO(rafael_image), "safe-list", allocator="ascending")
    assert 95_000 <= eat.image_pages <= 105_000
    assert eat.verified and safe.verified
    assert 85_000 <= eat.copies - safe.copies <= 95_000
    assert eat.allocations - safe.allocations >= 85_000


def test_an_image_of_60_percent_of_free_memory_fails_under_eat_and_loads_under_safe_list(
    tmp_path: Path,
) -> None:
    # A 64 MiB machine laid out like the seed's box: the image low in memory, above the
    # reserved first MiB, the boot kernel in 1000 of its frames; an ascending allocator meets
    # every free original frame before any safe one, and eat must eat them all.
    free = 16384 - 256
    nr_pages = int(0.6 * free)
    machine = tiny_machine(16384, ((256, 256 + nr_pages),), used=((1024, 2024),),
                           reserved=((0, 256),))
    assert machine.nr_saveable > 0.5 * machine.nr_boot_free
    path = tmp_path / "big.swsim"
    path.write_bytes(image_bytes(machine))
    eat = run_cli("restore", str(path), "--strategy=eat", "--allocator=ascending")
    assert eat.returncode == 4, eat.stderr
    assert b"strategy eat" in eat.stderr
    safe = run_cli("restore", str(path), "--strategy=safe-list", "--allocator=ascending",
                   "--json")
    assert safe.returncode == 0, safe.stderr
    stats = json.loads(safe.stdout)
    assert stats["verified"] and stats["missing"] == 0
    assert stats["copies"] == 1000  # only the frames the boot kernel uses

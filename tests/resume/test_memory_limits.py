"""Memory from a tiny input (issue 14, item 4): a huge machine with a small image, under limits.

Per-frame state costs bits, never bytes or words: a 1 TiB machine (2^28 frames) whose image is
a few MB restores in a real process under ``prlimit --as`` of 8 GiB, in under 256 MiB resident
(about 180 MB: three bits per frame, the buddy's free blocks, the reader's buffers);
a truncated image claiming such a machine fails with one line, within the same limits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swsim.errors import EXIT_BAD_IMAGE
from swsim.machine.model import ContentSpec, Machine
from tests.helpers import PEAK_RSS_WRAPPER, image_bytes, swsim_env

PRLIMIT = shutil.which("prlimit")
AS_LIMIT = 8 << 30
RSS_LIMIT_KB = 256 << 10  # 256 MiB

#: 1 TiB of memory, an image of 5000 pages
TIB = Machine(
    frames=1 << 28, saveable=((4096, 9096),), boot_used=((1024, 4096), (10000, 12000)),
    boot_reserved=((0, 1024),), nosave=((0, 1024),), content=ContentSpec(seed=1), name="tib",
)


def limited(out: Path, *args: str) -> tuple[int, bytes, int]:
    """``swsim ARGS`` under ``prlimit --as``, stdout to ``out``: exit code, stderr, peak RSS
    (KiB)."""
    assert PRLIMIT is not None
    hwm = out.with_name(out.name + ".hwm")
    with open(out, "wb") as stdout:
        proc = subprocess.run(
            [PRLIMIT, f"--as={AS_LIMIT}", sys.executable, "-c", PEAK_RSS_WRAPPER, *args],
            stdout=stdout, stderr=subprocess.PIPE, env=swsim_env(SWSIM_TEST_HWM=str(hwm)),
            check=False,
        )
    return proc.returncode, proc.stderr, int(hwm.read_text())


@pytest.mark.skipif(PRLIMIT is None, reason="prlimit (util-linux) is not installed")
def test_a_tib_machine_with_a_small_image_restores_under_memory_limits(tmp_path: Path) -> None:
    image = image_bytes(TIB)
    assert len(image) < 32 << 20
    (tmp_path / "tib.swsim").write_bytes(image)
    code, stderr, rss = limited(tmp_path / "out", "restore", str(tmp_path / "tib.swsim"), "--json")
    assert code == 0, stderr
    assert rss < RSS_LIMIT_KB, rss
    report = json.loads((tmp_path / "out").read_text())
    assert report["verified"] is True and report["image_pages"] == 5000
    cut = image[: len(image) // 3]  # the header still claims 2^28 frames
    (tmp_path / "cut.swsim").write_bytes(cut)
    code, stderr, rss = limited(tmp_path / "out", "restore", str(tmp_path / "cut.swsim"))
    assert code == EXIT_BAD_IMAGE and stderr.startswith(b"swsim: error: truncated image")
    assert len(stderr.splitlines()) == 1 and rss < RSS_LIMIT_KB, (stderr, rss)

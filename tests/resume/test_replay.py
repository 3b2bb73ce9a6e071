"""--allocator replay:FILE: a recorded allocation order, handed to the models that asked for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from swsim.errors import UsageError
from swsim.kernel.types import BoolArray, PfnArray
from swsim.resume import allocators
from swsim.resume.allocators.base import PageAllocator
from swsim.resume.allocators.buddy import BuddyAllocator
from swsim.resume.allocators.replay import ReplayAllocator, ReplayExhausted, parse_replay
from tests.helpers import image_bytes, restore_with_context, run_cli, tiny_machine

MACHINE = tiny_machine(16384, ((256, 5000), (7000, 9000)), used=((1024, 2024), (12000, 13000)),
                       reserved=((0, 256),))


class Recording(BuddyAllocator):
    """The buddy allocator, writing down every page it hands out and to whom."""

    name = "recording"
    log: list[tuple[int, str]] = []

    def __init__(self, free: BoolArray, seed: int = 0) -> None:
        super().__init__(free, seed)
        Recording.log = []
        self.quiet = False  # inside alloc_many, which calls alloc()

    def alloc(self) -> int:
        pfn = super().alloc()
        if not self.quiet:
            self.log.append((pfn, "swsusp"))
        return pfn

    def alloc_many(self, nr_pages: int) -> PfnArray:
        self.quiet = True
        pfns = super().alloc_many(nr_pages)
        self.quiet = False
        self.log.extend((int(p), "swsusp") for p in pfns)
        return pfns

    def for_caller(self, caller: str) -> PageAllocator:
        owner = self

        class View(PageAllocator):
            name = "recording"

            def __init__(self) -> None:
                self.free = owner.free

            def alloc(self) -> int:
                pfn = BuddyAllocator.alloc(owner)
                owner.log.append((pfn, caller))
                return pfn

        return self if caller == "swsusp" else View()


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """A replay file made from a buddy restore with the compressed reader, and the image."""
    monkeypatch.setitem(allocators.ALLOCATORS, "recording", Recording)
    image = tmp_path / "m.swsim"
    image.write_bytes(image_bytes(MACHINE))
    restore_with_context(image.read_bytes(), "bitmap", allocator="recording", reader="swap-lzo")
    lines = ["# pfn order caller", *(f"{pfn} 0 {caller}" for pfn, caller in Recording.log)]
    replay = tmp_path / "trace.txt"
    replay.write_text("\n".join(lines) + "\n1 0 other  # a page someone else took\n")
    return image, replay


def test_replaying_a_recorded_order_gives_that_restore_exactly(recorded: tuple[Path, Path]) -> None:
    image, replay = recorded
    data = image.read_bytes()
    buddy, _, _ = restore_with_context(data, "bitmap", allocator="buddy", reader="swap-lzo")
    again, _, _ = restore_with_context(data, "bitmap", allocator=f"replay:{replay}",
                                         reader="swap-lzo")
    assert again.notes == []  # every entry taken by the model it belongs to
    assert again.verified
    for key in ("allocations", "reader_pages", "unsafe_kept", "direct", "copies", "peak_pages"):
        assert getattr(again, key) == getattr(buddy, key), key


def test_replay_traces_agree_page_by_page(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    image, replay = recorded
    traces = []
    for allocator in ("buddy", f"replay:{replay}"):
        out = tmp_path / f"{len(traces)}.trace"
        result = run_cli("restore", str(image), "--strategy", "bitmap", "--reader", "swap-lzo",
                         "--allocator", allocator, "--trace", str(out))
        assert result.returncode == 0, result.stderr
        traces.append(out.read_text())
    assert traces[0] == traces[1]


def test_a_model_that_takes_fewer_pages_is_one_note_with_both_numbers(
    recorded: tuple[Path, Path],
) -> None:
    image, replay = recorded
    with replay.open("a") as out:
        out.write("15000 2 swsusp\n")  # four pages more than the model asks for
    result = run_cli("restore", str(image), "--strategy", "bitmap", "--reader", "swap-lzo",
                     "--allocator", f"replay:{replay}")
    assert result.returncode == 0, result.stderr
    taken = len([1 for _, caller in Recording.log if caller == "swsusp"])
    assert result.stderr.decode().splitlines() == [
        f"swsim: note: replay {replay}: the swsusp model took {taken} page(s), "
        f"the file holds {taken + 4}"
    ]


def test_a_model_that_asks_for_more_than_the_file_holds_is_an_error(
    recorded: tuple[Path, Path],
) -> None:
    image, replay = recorded
    lines = replay.read_text().splitlines()
    replay.write_text("\n".join(line for line in lines if "reader" not in line) + "\n")
    with pytest.raises(ReplayExhausted, match="the reader model asks for more than the 0"):
        restore_with_context(image.read_bytes(), "bitmap", allocator=f"replay:{replay}",
                             reader="swap-lzo")
    result = run_cli("restore", str(image), "--strategy", "bitmap", "--reader", "swap-lzo",
                     "--allocator", f"replay:{replay}")
    assert result.returncode == 4 and result.stderr.count(b"\n") == 1
    assert b"the reader model asks for more than the 0 reader page(s)" in result.stderr


def test_compare_replays_each_strategy_and_keeps_going(recorded: tuple[Path, Path]) -> None:
    image, replay = recorded
    result = run_cli("compare", str(image), "--reader", "swap", "--allocator",
                     f"replay:{replay}", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["strategy"]: row for row in json.loads(result.stdout)["strategies"]}
    # the file was recorded from bitmap with swap-lzo: under swap each model takes other
    # counts; eat asks for far more swsusp pages than the file holds
    assert "asks for more than" in rows["eat"]["error"]
    bitmap = rows["bitmap"]
    assert bitmap["error"] is None
    assert bitmap["reader_pages"] == (1 + bitmap["meta_pages"] + bitmap["data_pages"]) // 511 + 1
    assert b"bitmap: replay" in result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("12 0", "expected PFN ORDER CALLER"),
        ("12 0 kernel", "caller 'kernel'"),
        ("12 11 swsusp", "order 11"),
        ("16383 1 reader", "outside the 16384 frames"),
        ("x 0 other", "invalid literal"),
    ],
)
def test_bad_replay_lines_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"trace:2: .*{message}"):
        parse_replay(f"# header\n{line}\n", "trace", 16384)


def test_blocks_are_their_pages_in_order() -> None:
    pages = parse_replay("8 3 swsusp\n2 0 reader # ring\n4 1 other\n", "t", 64)
    assert pages["swsusp"].tolist() == list(range(8, 16))
    assert pages["reader"].tolist() == [2] and pages["other"].tolist() == [4, 5]
    assert pages["swsusp"].dtype == np.int64


def test_other_frames_are_taken_from_the_start(tmp_path: Path) -> None:
    replay = tmp_path / "t"
    replay.write_text("5 0 swsusp\n8 2 other\n")
    free = np.ones(64, dtype=bool)
    allocator = ReplayAllocator(free, str(replay))
    assert allocator.nr_free == 60 and not allocator.free[8:12].any()
    assert allocator.alloc() == 5 and allocator.nr_free == 59
    assert allocator.take_pages(np.array([7, 8])).tolist() == [True, False]  # claim's view


def test_unknown_allocators_and_missing_files_are_usage_errors(tmp_path: Path) -> None:
    image = tmp_path / "m.swsim"
    image.write_bytes(image_bytes(MACHINE))
    for allocator, message in (("bogus", b"replay:FILE"), ("replay:", b"replay:FILE"),
                               (f"replay:{tmp_path}/none", b"cannot read replay file")):
        result = run_cli("restore", str(image), "--allocator", allocator)
        assert result.returncode == 2 and message in result.stderr, result.stderr

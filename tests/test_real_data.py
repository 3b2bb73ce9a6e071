"""The committed real-kernel data (tests/data/real/): each fixture agrees with the kernel's own
log of it and with the rules of kernel/power/swap.c and snapshot.c (6.1, 6.12), and the ground
truth of the 6.12 resume (truth-6.12/) is one coherent run. No QEMU here: these check the
committed files; tools/real-images/ (``make real-images``, ``make truth``) makes them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import zstandard

# `make test-qemu` points SWSIM_REAL_DIR at images it has just made (and runs only the
# image tests there); by default the committed fixtures.
REAL = Path(os.environ.get("SWSIM_REAL_DIR", Path(__file__).parent / "data" / "real"))
TRUTH = Path(__file__).parent / "data" / "real" / "truth-6.12"
FIGURES = Path(__file__).parents[1] / "tools" / "real-images" / "figures.py"
EXPECTED = json.loads((REAL / "expected.json").read_text())
IMAGES = sorted(k for k in EXPECTED if not k.startswith("_"))
KPF_BUDDY = 10


def test_expected_json_is_what_the_parser_reads_from_the_logs(tmp_path: Path) -> None:
    """expected.json is regenerated, never edited: parsing the committed logs and devices
    again gives it byte for byte."""
    out = tmp_path / "expected.json"
    subprocess.run([sys.executable, str(FIGURES), str(REAL), "-o", str(out)], check=True,
                   capture_output=True)
    assert out.read_text() == (REAL / "expected.json").read_text()


def test_there_is_a_compressed_image_of_each_kernel_layout() -> None:
    """At least one 6.1 image (every pfn has a data page) and one 6.12 image (zero pages)."""
    assert {EXPECTED[n]["kernel_release"].split(".")[1] for n in IMAGES} >= {"1", "12"}
    assert {EXPECTED[n]["compression"] for n in IMAGES} >= {"lzo", "lz4"}


@pytest.mark.parametrize("name", IMAGES)
def test_the_kernel_log_agrees_with_the_format_rules(name: str) -> None:
    """The kernel's printed figures obey swap.c's and snapshot.c's arithmetic."""
    e = EXPECTED[name]
    zero = e["zero_pages"] or 0
    copied = e["pages_copied"]
    assert e["need_to_copy"] == copied + zero
    assert e["allocated_pages"] >= e["need_to_copy"]
    # nr_meta_pages covers every pfn (zero ones too on 6.3+): 512 pfns per page.
    assert e["derived"]["nr_meta_pages"] == math.ceil(8 * (copied + zero) / 4096)
    # "Wrote N kbytes" is (pages - 1) * 4, the uncompressed size even when compressing.
    assert e["wrote_kbytes"] == 4 * e["saving_pages"]
    assert e["resume"] == {"loading_pages": e["saving_pages"], "read_kbytes": e["wrote_kbytes"],
                           "image_loaded": True, "payload_ok": True}
    if e["compression"] != "none":
        assert e["compressed_kbytes"] is None or e["compressed_kbytes"] < e["wrote_kbytes"]


@pytest.mark.parametrize("name", IMAGES)
def test_the_device_header_matches_the_log(name: str) -> None:
    """The swsusp_header at page 0: signature, flags for the logged compression, CRC set."""
    e = EXPECTED[name]
    h = e["header"]
    assert (h["sig"], h["orig_sig"]) == ("S1SUSPEND", "SWAPSPACE2")
    want = {"lzo": ["CRC32"], "lz4": ["CRC32", "LZ4"], "none": ["NOCOMPRESS"]}[e["compression"]]
    assert h["flag_names"] == want
    assert (h["crc32"] != "00000000") == ("CRC32" in want)
    stored = 4096 * (e["saving_pages"] + 1) if e["compression"] == "none" else 0
    assert h["device_bytes"] >= max(stored, 1024 * (e["compressed_kbytes"] or 0))
    assert 0 < h["first_map_page"] < h["device_bytes"] // 4096


def truth_counts() -> dict:  # type: ignore[type-arg]
    """counts.json of the truth run."""
    return json.loads((TRUTH / "counts.json").read_text())  # type: ignore[no-any-return]


def alloc_lines() -> list[tuple[int, int, str]]:
    """alloc.txt without its comments, as (pfn, order, caller)."""
    rows = []
    for line in (TRUTH / "alloc.txt").read_text().splitlines():
        body = line.split("#", 1)[0].split()
        if body:
            pfn, order, caller = body
            rows.append((int(pfn), int(order), caller))
    return rows


def test_truth_alloc_trace_is_well_formed_and_matches_the_counts() -> None:
    """PFN ORDER CALLER lines, callers from the three classes, totals as counts.json says."""
    rows = alloc_lines()
    c = truth_counts()
    assert {r[2] for r in rows} == {"swsusp", "reader", "other"}
    assert dict(Counter(r[2] for r in rows)) == c["allocations_by_caller"]
    pages: Counter[str] = Counter()
    for _, order, caller in rows:
        pages[caller] += 1 << order
    assert dict(pages) == c["pages_by_caller"]
    assert sum(c["swsusp_allocations_by_function"].values()) == c["allocations_by_caller"]["swsusp"]
    text = (TRUTH / "alloc.txt").read_text()
    frees = [ln for ln in text.splitlines() if ln.startswith("# free ")]
    assert len(frees) == c["frees"]


def test_truth_kernel_counts_are_coherent_with_the_image() -> None:
    """The kernel's counters at swsusp_arch_resume match the image the run resumed (its own
    log) and the per-pfn get_buffer() record."""
    c = truth_counts()
    k = c["kernel"]
    image = json.loads((TRUTH.parent / "expected.json").read_text())["linux-6.12.117-lz4-224m"]
    assert (k["nr_copy_pages"], k["nr_zero_pages"]) == (image["pages_copied"], image["zero_pages"])
    assert k["nr_meta_pages"] == image["derived"]["nr_meta_pages"]
    rows = [ln.split() for ln in (TRUTH / "getbuf.txt").read_text().splitlines()
            if not ln.startswith("#")]
    pfns = [int(p) for p, _ in rows]
    assert len(pfns) == k["nr_copy_pages"] + k["nr_zero_pages"] == c["get_buffer_calls"]
    assert pfns == sorted(set(pfns))  # image order is pfn order, each pfn once
    copies = sum(1 for _, where in rows if where == "copy")
    assert copies == c["pages_copied"] == c["restore_pblist_length"]
    assert len(rows) - copies == c["pages_direct"]
    # The prepare_image() loop allocates one page per image pfn, less the unsafe pages
    # get_image_page() already holds (snapshot.c).
    assert c["swsusp_allocations_by_function"]["snapshot_write_next"] == (
        k["nr_copy_pages"] + k["nr_zero_pages"] - k["allocated_unsafe_pages"])
    assert all(v in (True, 0) for v in c["checks"].values())


def test_truth_dump_is_the_boot_state_counts_json_describes() -> None:
    """kpageflags.zst: 8 bytes per pfn; its free (KPF_BUDDY) pages are those counted, no more
    than zoneinfo's free pages (the per-cpu lists' pages are free but not BUDDY)."""
    import numpy as np

    raw = zstandard.ZstdDecompressor().decompress((TRUTH / "kpageflags.zst").read_bytes(),
                                                  max_output_size=1 << 24)
    flags = np.frombuffer(raw, dtype="<u8")
    c = truth_counts()
    assert flags.size == c["dump"]["pfns"]
    buddy = (flags >> KPF_BUDDY) & 1
    assert int(buddy.sum()) == c["dump"]["buddy_pages"]
    free = sum(int(line.split()[1]) for line in (TRUTH / "zoneinfo").read_text().splitlines()
               if line.split()[:1] == ["nr_free_pages"])
    assert int(buddy.sum()) <= free < int(buddy.sum()) + 2048
    pfns = np.array([int(ln.split()[0]) for ln in (TRUTH / "getbuf.txt").read_text().splitlines()
                     if not ln.startswith("#")])
    assert int(buddy[pfns].sum()) == c["dump"]["image_pfns_buddy_at_dump"]

#!/usr/bin/env python3
"""Parse the kernel's own figures out of real-image logs into expected.json.

    python3 tools/real-images/figures.py DIR [-o DIR/expected.json]

For every ``NAME.hibernate.log`` in DIR (with its ``NAME.resume.log`` and, when present,
``NAME.swap.zst``) this writes one entry keyed by NAME. Log figures are taken from the lines
the kernel printed (kernel/power/snapshot.c, swap.c, hibernate.c of 6.1 and 6.12); a figure
the kernel did not print is ``null``. The ``header`` part is read from the swap device's
``swsusp_header`` (the last 40 bytes of page 0): the kernel does not log its CRC32, and a
resume that succeeded proves the stored one right. Standard library only, plus the zstd CLI
for the header.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

# (key, pattern): the first match of each pattern in the log, its groups as integers.
HIBERNATE = [
    ("allocated_pages", r"PM: (?:hibernation: )?Allocated (\d+) pages for snapshot"),
    ("need_to_copy", r"PM: (?:hibernation: )?Need to copy (\d+) pages"),
    ("normal_pages_needed", r"Normal pages needed: (\d+) \+ (\d+), available pages: (\d+)"),
    (
        "image_created",
        r"PM: (?:hibernation: )?Image created \((\d+) pages copied(?:, (\d+) zero pages)?\)",
    ),
    (
        "saving_pages",
        r"PM: (?:Compressing and saving|Saving) image data(?: pages)? \((\d+) pages\)",
    ),
    ("wrote_kbytes", r"PM: (?:hibernation: )?Wrote (\d+) kbytes"),
    ("compressed_kbytes", r"PM: Image size after compression: (\d+) kbytes"),
    ("free_swap_pages", r"PM: Free swap pages: (\d+)"),
    ("compression_threads", r"PM: Using (\d+) thread\(s\) for"),
]
RESUME = [
    ("loading_pages", r"PM: Loading (?:and decompressing )?image data(?: pages)? \((\d+) pages\)"),
    ("read_kbytes", r"PM: (?:hibernation: )?Read (\d+) kbytes"),
]
FLAG_NAMES = {1: "PLATFORM", 2: "NOCOMPRESS", 4: "CRC32", 8: "HW_SIG", 16: "LZ4"}


def first(text: str, pattern: str) -> list[int | None] | None:
    """The integer groups of the first match of pattern in text (None if it never matched)."""
    m = re.search(pattern, text)
    if m is None:
        return None
    return [int(g) if g is not None else None for g in m.groups()]


def log_figures(text: str, table: list[tuple[str, str]]) -> dict[str, list[int | None] | None]:
    """Each key's groups, from the lines of one log."""
    return {key: first(text, pattern) for key, pattern in table}


def one(groups: list[int | None] | None, i: int = 0) -> int | None:
    """Group i of a match, or None."""
    return None if groups is None else groups[i]


def derived(saving: int | None, copied: int | None) -> dict[str, int | None]:
    """image_pages, pages and nr_meta_pages of the header page, from the logged figures."""
    if saving is None or copied is None:
        return {"image_pages": copied, "pages": None, "nr_meta_pages": None}
    return {"image_pages": copied, "pages": saving + 1, "nr_meta_pages": saving - copied}


def swsusp_header(image: Path) -> dict[str, object] | None:
    """The swsusp_header fields of page 0 of a zstd-compressed swap device."""
    if not image.exists():
        return None
    device = subprocess.run(["zstd", "-dc", str(image)], check=True, capture_output=True).stdout
    page = device[:4096]
    hw_sig, crc32, first_map, flags = struct.unpack_from("<IIQI", page, 4056)
    return {
        "sig": page[4086:4096].rstrip(b"\0").decode("ascii", "replace"),
        "orig_sig": page[4076:4086].decode("ascii", "replace"),
        "flags": flags,
        "flag_names": [name for bit, name in FLAG_NAMES.items() if flags & bit],
        "crc32": f"{crc32:08x}",
        "first_map_page": first_map,
        "hw_sig": hw_sig,
        "device_bytes": len(device),
    }


def entry(hib_log: Path) -> dict[str, object]:
    """Every figure for one image, from its logs and device header."""
    name = hib_log.name.removesuffix(".hibernate.log")
    hib = hib_log.read_text(errors="replace")
    res_path = hib_log.with_name(name + ".resume.log")
    res = res_path.read_text(errors="replace") if res_path.exists() else ""
    h = log_figures(hib, HIBERNATE)
    r = log_figures(res, RESUME)
    cmdline = re.search(r"Kernel command line: (.*)", hib)
    kernel = re.search(r"Linux version (\S+)", hib)
    compress = (
        "none" if h["saving_pages"] is not None and "Saving image data pages" in hib else None
    )
    if compress is None:
        m = re.search(r"PM: Using \d+ thread\(s\) for (\w+ )?compression", hib)
        compress = None if m is None else (m.group(1) or "lzo ").strip()
    normal = h["normal_pages_needed"]
    return {
        "kernel_release": kernel.group(1) if kernel else None,
        "cmdline": cmdline.group(1).strip() if cmdline else None,
        "compression": compress,
        "allocated_pages": one(h["allocated_pages"]),
        "need_to_copy": one(h["need_to_copy"]),
        "normal_pages_needed": one(normal),
        "normal_pages_extra": one(normal, 1),
        "available_pages": one(normal, 2),
        "pages_copied": one(h["image_created"]),
        "zero_pages": one(h["image_created"], 1),
        "saving_pages": one(h["saving_pages"]),
        "wrote_kbytes": one(h["wrote_kbytes"]),
        "compressed_kbytes": one(h["compressed_kbytes"]),
        "free_swap_pages": one(h["free_swap_pages"]),
        "compression_threads": one(h["compression_threads"]),
        # From the figures above, as swap.c and snapshot.c count them: the header page's
        # image_pages is the pages copied; "saving image data (N pages)" is pages - 1, so
        # nr_meta_pages = N - image_pages.
        "derived": derived(one(h["saving_pages"]), one(h["image_created"])),
        "resume": {
            "loading_pages": one(r["loading_pages"]),
            "read_kbytes": one(r["read_kbytes"]),
            "image_loaded": "PM: Image successfully loaded" in res,
            "payload_ok": "SWSIM: PAYLOAD OK" in res,
        },
        "header": swsusp_header(hib_log.with_name(name + ".swap.zst")),
    }


def main(argv: list[str]) -> int:
    """Write DIR/expected.json (or -o) from every NAME.hibernate.log in DIR."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    logs = sorted(args.dir.glob("*.hibernate.log"))
    if not logs:
        print(f"figures.py: no *.hibernate.log in {args.dir}", file=sys.stderr)
        return 1
    data = {
        "_about": "The kernel's own figures, parsed from the serial logs by"
        " tools/real-images/figures.py; header: the swsusp_header of the device (page 0)."
        " Regenerate, never edit by hand.",
    }
    data.update({log.name.removesuffix(".hibernate.log"): entry(log) for log in logs})
    out = args.output or args.dir / "expected.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out} ({len(logs)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

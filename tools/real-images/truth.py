#!/usr/bin/env python3
"""Turn one truth run (truth.sh) into the committed ground-truth data set.

    python3 tools/real-images/truth.py --log resume.log --dump swap.img --dump-offset N --out DIR

Reads the dump swsim-dump wrote past the swap area (a manifest page, then the files) and the
serial console of the resume, whose trace events (truth-init.sh) run from the marker
"SWSIM: kpageflags read" (the moment of the dump) to the entry of swsusp_arch_resume (the jump
into the image). Writes into DIR:

  alloc.txt        PFN ORDER CALLER, one per page-allocator hand-out, in order; CALLER swsusp
                   (snapshot.c: get_image_page, the prepare_image() loop, __get_safe_page),
                   reader (swap.c: its pages, buffers and threads) or other. '#' comments,
                   frees as "# free PFN ORDER" where they happened.
  alloc-detail.tsv.zst  the same (zstd) with the function that asked, the task and the gfp flags.
  getbuf.txt       PFN direct|copy per image pfn in image order: where get_buffer() put it.
  counts.json      the kernel's counts at swsusp_arch_resume and the cross-checks.
  kpageflags.zst, kpagecount.zst (zstd), zoneinfo, iomem, buddyinfo, pagetypeinfo, meminfo,
  vmstat, image_size   the dump.
Standard library only, plus the zstd CLI.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096
STRUCT_PAGE = 64  # sizeof(struct page) on x86-64 (6.12, Debian config)
KPF_BUDDY = 10
KPF_NOPAGE = 20
# snapshot.c's own page sources (the swsusp class) and swap.c's functions (the reader class).
SWSUSP_CALLERS = {"get_image_page", "__get_safe_page", "snapshot_write_next"}
READER_CALLERS = {
    "load_compressed_image",
    "load_image",
    "swsusp_read",
    "swap_read_page",
    "get_swap_reader",
    "hib_submit_io",
    "swsusp_check",
    "crc32_threadfn",
    "decompress_threadfn",
}
READER_THREADS = ("image_decompress", "image_crc32", "image_lzo", "image_lz4")

LINE = re.compile(r"^\[\s*[\d.]+\] (\w+): \((.*?)\)(.*)$")
FREE = re.compile(
    r"^\[\s*[\d.]+\] (mm_page_free(?:_batched)?): page=\S+ pfn=(0x[0-9a-f]+)(?: order=(\d+))?"
)
ARG = re.compile(r'(\w+)=("[^"]*"|\S+)')


@dataclass
class Alloc:
    """One hand-out of the page allocator."""

    pfn: int
    order: int
    caller_class: str
    function: str
    comm: str
    gfp: str
    source: str


@dataclass
class Trace:
    """Everything parsed from the window between the dump and the jump."""

    allocs: list[Alloc] = field(default_factory=list)
    frees: int = 0
    events: list[tuple[str, ...]] = field(
        default_factory=list
    )  # ("alloc", i) or ("free", pfn, order)
    getbuf: list[tuple[int, bool]] = field(default_factory=list)  # (pfn, direct)
    pblist_changes: int = 0
    arch: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    unmatched_requests: int = 0
    bulk_fallbacks_dropped: int = 0
    printk_drops: int = 0


def args_of(rest: str) -> dict[str, str]:
    """The name=value fields of one event line."""
    return {k: v.strip('"') for k, v in ARG.findall(rest)}


def func(symbol: str) -> str:
    """get_image_page+0x17/0x1b0 -> get_image_page."""
    return symbol.split("+")[0].split(".")[0]


def parse_log(text: str) -> Trace:
    """Walk the console from the dump marker to swsusp_arch_resume."""
    t = Trace()
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if "SWSIM: kpageflags read" in ln), None)
    if start is None:
        raise SystemExit("truth.py: no 'SWSIM: kpageflags read' marker in the log")
    t.printk_drops = sum(1 for ln in lines if "printk messages dropped" in ln)
    vmemmap = pob = None
    pending: dict[str, tuple[str, int]] = {}  # comm -> (function that asked, order)
    windows: Counter[str] = Counter()  # open reader/bitmap windows of the resuming task
    bulk: dict[str, object] | None = None
    prev_pbl = 0  # load_header() sets restore_pblist to NULL
    for ln in lines[start + 1 :]:
        fm = FREE.match(ln)
        if fm is not None:
            t.frees += 1
            t.events.append(("free", str(int(fm.group(2), 16)), fm.group(3) or "0"))
            continue
        m = LINE.match(ln)
        if m is None:
            continue
        name, where, rest = m.groups()
        a = args_of(rest)
        if name == "resume_store":
            vmemmap, pob = int(a["vmemmap"], 16), int(a["pob"], 16)
        elif name.endswith("_in") or name.endswith("_out"):
            base = name.rsplit("_", 1)[0]
            if base == "bulk":  # bulk_in
                bulk = {"comm": a["comm"], "singles": []}
                continue
            windows[base] += 1 if name.endswith("_in") else -1
        elif name in ("gzp", "gfp"):
            pending[a["comm"]] = (func(a["caller"]), int(a.get("order", 0)))
            t.requests[func(a["caller"])] += 1
        elif name == "alloc":
            page = int(a["page"], 16)
            if page == 0:
                continue
            assert vmemmap is not None, "alloc before resume_store: no vmemmap_base"
            pfn = (page - vmemmap) // STRUCT_PAGE
            comm = a["comm"]
            asked = pending.pop(comm, None)
            fn = asked[0] if asked else ""
            t.allocs.append(
                Alloc(
                    pfn,
                    int(a["order"]),
                    classify(fn, comm, windows),
                    fn or "-",
                    comm,
                    a["gfp"],
                    "alloc",
                )
            )
            t.events.append(("alloc", str(len(t.allocs) - 1)))
            if bulk is not None and comm == bulk["comm"]:
                bulk["singles"].append(len(t.allocs) - 1)  # type: ignore[union-attr]
        elif name.startswith("bulk") and name[4:].isdigit():
            assert vmemmap is not None and bulk is not None
            k, n = int(name[4:]), int(a["n"])
            bulk.setdefault("pages", {})
            for j in range(25):
                idx = k * 25 + j
                if idx < n:
                    bulk["pages"][idx] = (int(a[f"p{j}"], 16) - vmemmap) // STRUCT_PAGE  # type: ignore[index]
            if k == 3:
                finish_bulk(t, bulk, n, windows)
                bulk = None
        elif name == "getbuf":
            assert pob is not None
            pfn, ret, pbl = int(a["pfn"]), int(a["ret"], 16), int(a["pbl"], 16)
            t.getbuf.append((pfn, ret == pob + pfn * PAGE))
            if pbl != prev_pbl:
                t.pblist_changes += 1
            prev_pbl = pbl
        elif name == "arch":
            t.arch = {k: int(v, 0) for k, v in a.items()}
            t.pblist_changes += t.arch["pbl"] != prev_pbl
            break
    else:
        raise SystemExit("truth.py: the log never reached swsusp_arch_resume")
    t.unmatched_requests = len(pending)
    return t


def finish_bulk(t: Trace, bulk: dict, n: int, windows: Counter[str]) -> None:  # type: ignore[type-arg]
    """Add a bulk call's pages in array order; drop its fallback single allocations (they are
    in the array too)."""
    pages = [bulk["pages"][i] for i in range(n)]
    singles = [i for i in bulk["singles"] if t.allocs[i].pfn in set(pages)]
    for i in sorted(singles, reverse=True):
        t.allocs[i].source = "dropped"
    t.bulk_fallbacks_dropped += len(singles)
    for pfn in pages:
        t.allocs.append(
            Alloc(
                pfn,
                0,
                classify("", bulk["comm"], windows),
                "alloc_pages_bulk",
                bulk["comm"],
                "-",
                "bulk",
            )
        )
        t.events.append(("alloc", str(len(t.allocs) - 1)))


def classify(fn: str, comm: str, windows: Counter[str]) -> str:
    """swsusp, reader or other, for an allocation asked for by fn (if known) in task comm."""
    if fn in SWSUSP_CALLERS:
        return "swsusp"
    if fn in READER_CALLERS or comm.startswith(READER_THREADS):
        return "reader"
    if windows["load_compressed_image"] > 0 and comm == "kthreadd":
        return "reader"  # the reader's threads being created
    if windows["swsusp_read"] > 0 and comm not in ("kthreadd",) and not comm.startswith("kworker"):
        return "reader"  # the resuming task inside swap.c: its vmalloc'd buffers, bios, slabs
    return "other"


def read_dump(path: Path, offset: int) -> dict[str, bytes]:
    """The files swsim-dump wrote at offset: manifest page, then each file."""
    with path.open("rb") as f:
        f.seek(offset)
        manifest = f.read(PAGE).rstrip(b"\0").decode()
        lines = manifest.splitlines()
        if not lines or lines[0] != "swsim-dump 1":
            raise SystemExit(f"truth.py: no swsim-dump manifest at {offset} in {path}")
        files = {}
        for ln in lines[1:]:
            name, off, length = ln.rsplit(" ", 2)
            f.seek(offset + int(off))
            files[Path(name).name] = f.read(int(length))
    return files


def write_all(t: Trace, dump: dict[str, bytes], out: Path) -> dict[str, object]:
    """Write the data set; return counts.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in dump.items():
        if name.startswith("kpage"):
            subprocess.run(
                ["zstd", "-q", "-19", "-f", "-o", str(out / f"{name}.zst")], input=data, check=True
            )
        else:
            (out / name).write_bytes(data)
    kept = [a for a in t.allocs if a.source != "dropped"]
    by_class = Counter(a.caller_class for a in kept)
    with (out / "alloc.txt").open("w") as f:
        f.write(
            "# Page allocations of one real resume (Linux 6.12.117, Debian), in the order the\n"
            "# allocator handed them out, from the dump (kpageflags.zst) to swsusp_arch_resume.\n"
            "# PFN ORDER CALLER; CALLER swsusp | reader | other. Frees as '# free PFN ORDER'.\n"
            f"# {len(kept)} allocations: "
            + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
            + f"; {t.frees} frees. Made by tools/real-images/truth.py; see README.md.\n"
        )
        for ev in t.events:
            if ev[0] == "free":
                f.write(f"# free {ev[1]} {ev[2]}\n")
                continue
            a = t.allocs[int(ev[1])]
            if a.source != "dropped":
                f.write(f"{a.pfn} {a.order} {a.caller_class}\n")
    detail = ["seq\tpfn\torder\tcaller\tfunction\tcomm\tgfp\tsource\n"]
    for i, a in enumerate(kept):
        detail.append(
            f"{i}\t{a.pfn}\t{a.order}\t{a.caller_class}\t{a.function}\t{a.comm}\t{a.gfp}\t{a.source}\n"
        )
    subprocess.run(
        ["zstd", "-q", "-19", "-f", "-o", str(out / "alloc-detail.tsv.zst")],
        input="".join(detail).encode(),
        check=True,
    )
    with (out / "getbuf.txt").open("w") as f:
        f.write(
            "# Per image pfn, in image order: get_buffer()'s choice at resume: 'direct' (loaded\n"
            "# into its own frame) or 'copy' (loaded into a safe page, copied at the jump).\n"
        )
        for pfn, direct in t.getbuf:
            f.write(f"{pfn} {'direct' if direct else 'copy'}\n")
    copies = sum(1 for _, d in t.getbuf if not d)
    flags = dump["kpageflags"]
    n = len(flags) // 8
    image_pfns = [p for p, _ in t.getbuf]
    buddy = sum(
        1
        for p in image_pfns
        if p < n and (int.from_bytes(flags[8 * p : 8 * p + 8], "little") >> KPF_BUDDY) & 1
    )
    swsusp_fns = Counter(a.function for a in kept if a.caller_class == "swsusp")
    return {
        "_about": "Counts of one real resume; see README.md. Regenerate with truth.sh, never edit.",
        "kernel": {
            "nr_copy_pages": t.arch["copy"],
            "nr_meta_pages": t.arch["meta"],
            "nr_zero_pages": t.arch["zero"],
            "allocated_unsafe_pages": t.arch["unsafe"],
        },
        "restore_pblist_length": copies,
        "pages_copied": copies,
        "pages_direct": len(t.getbuf) - copies,
        "get_buffer_calls": len(t.getbuf),
        "allocations": len(kept),
        "allocations_by_caller": dict(sorted(by_class.items())),
        "pages_by_caller": {
            c: sum(1 << a.order for a in kept if a.caller_class == c) for c in sorted(by_class)
        },
        "swsusp_allocations_by_function": dict(sorted(swsusp_fns.items())),
        "frees": t.frees,
        "dump": {
            "pfns": n,
            "buddy_pages": sum(
                1
                for i in range(n)
                if (int.from_bytes(flags[8 * i : 8 * i + 8], "little") >> KPF_BUDDY) & 1
            ),
            "image_pfns_buddy_at_dump": buddy,
        },
        "checks": {
            "get_buffer_calls == nr_copy_pages + nr_zero_pages": len(t.getbuf)
            == t.arch["copy"] + t.arch["zero"],
            "restore_pblist changes == pages copied": t.pblist_changes == copies,
            "prepare_image loop == nr_copy + nr_zero - allocated_unsafe_pages": swsusp_fns[
                "snapshot_write_next"
            ]
            == t.arch["copy"] + t.arch["zero"] - t.arch["unsafe"],
            "get_zeroed_page/__get_free_pages calls without an allocation": t.unmatched_requests,
            "bulk fallback allocations counted once": t.bulk_fallbacks_dropped,
            "printk drops": t.printk_drops,
        },
    }


def main(argv: list[str]) -> int:
    """Parse the log and the dump, write the data set into --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", type=Path, required=True)
    ap.add_argument("--dump", type=Path, required=True)
    ap.add_argument("--dump-offset", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    trace = parse_log(a.log.read_text(errors="replace"))
    counts = write_all(trace, read_dump(a.dump, a.dump_offset), a.out)
    (a.out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Rendering results: a rich table for people, one JSON object for programs.

rich is imported only when a table is built (:func:`_table`) or printed (:func:`print_table`):
``--json`` and pipelines, run thousands of times in sweeps, never pay for loading it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from swsim.resume.stats import RestoreStats
    from swsim.runs.compare import CompareRow
    from swsim.runs.summary import ImageSummary

from swsim.image.digest import DIGESTS

#: (field, label) in the order the table shows them.
ROWS: tuple[tuple[str, str], ...] = (
    ("image_pages", "image pages"),
    ("meta_pages", "metadata pages"),
    ("zero_pages", "zero pages (no data)"),
    ("reader", "image reader"),
    ("allocations", "page allocations"),
    ("reader_pages", "of which the reader's"),
    ("eaten", "pages eaten"),
    ("unsafe_kept", "unsafe pages kept"),
    ("direct", "pages loaded directly"),
    ("copies", "pages copied at the end"),
    ("peak_pages", "peak pages held"),
    ("missing", "pages missing"),
    ("verified", "memory verified"),
)


def restore_json(stats: RestoreStats, extra: dict[str, Any] | None = None) -> str:
    """One restore's counts as a JSON object, with ``extra`` keys after them."""
    data = stats.to_json()
    if extra:
        data.update(extra)
    return json.dumps(data, sort_keys=False)


def _cell(value: object) -> str:
    if value is None:
        return "n/a (no data)"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _field(value: object) -> str:
    """A header field: a list joined, a missing value as '-', else as :func:`_cell`."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else _cell(value)


def _table(title: str, **options: Any) -> Table:
    """An empty rich table titled ``title`` (left-aligned), the one place rich.table is loaded."""
    from rich.table import Table

    return Table(title=title, title_justify="left", **options)


def print_table(table: Table) -> None:
    """Print ``table`` on standard output."""
    from rich.console import Console

    Console().print(table)


def restore_table(stats: RestoreStats, title: str) -> Table:
    """One restore's counts as a two-column table, per zone at the end."""
    table = _table(title)
    table.add_column("")
    table.add_column(stats.strategy, justify="right")
    for field, label in ROWS:
        table.add_row(label, _cell(getattr(stats, field)))
    for zone, counts in stats.zones.items():
        table.add_row(
            f"{zone}: image/direct/copied/allocated",
            " / ".join(
                f"{counts[key]:,}" for key in ("image_pages", "direct", "copies", "allocations")
            ),
        )
    return table


#: (field, label) of the compare table, in order.
COMPARE_ROWS: tuple[tuple[str, str], ...] = (
    ("reader", "image reader"),
    ("allocations", "page allocations"),
    ("reader_pages", "of which the reader's"),
    ("eaten", "pages eaten"),
    ("direct", "pages loaded directly"),
    ("copies", "pages copied at the end"),
    ("peak_pages", "peak pages held"),
    ("excess_copies", "excess copies over claim"),
    ("verified", "memory verified"),
)


def compare_json(rows: list[CompareRow], extra: dict[str, Any] | None = None) -> str:
    """The rows of a comparison as one JSON object, after the ``extra`` keys."""
    data: dict[str, Any] = dict(extra or {})
    data["strategies"] = [row.to_json() for row in rows]
    return json.dumps(data)


def compare_table(rows: list[CompareRow], title: str) -> Table:
    """The rows of a comparison side by side, a column per strategy."""
    table = _table(title)
    table.add_column("")
    for row in rows:
        table.add_column(row.strategy, justify="right")
    for field, label in COMPARE_ROWS:
        cells = []
        for row in rows:
            if row.stats is None:
                cells.append((row.error or "failed") if field == "verified" else "-")
            elif field == "excess_copies":
                cells.append("-" if row.excess_copies is None else _cell(row.excess_copies))
            else:
                cells.append(_cell(getattr(row.stats, field)))
        table.add_row(label, *cells)
    return table


def inspect_table(summary: ImageSummary, title: str) -> Table:
    """An image summary: the format's header fields, pages per zone, pfn ranges, checks."""
    table = _table(title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in summary.header.items():
        if key == "digest_algorithm":
            table.add_row("digest algorithm", DIGESTS[value].title)
        elif isinstance(value, dict):  # a kernel image's groups: device, compression, arch...
            for sub, item in value.items():
                table.add_row(f"{key} {sub}", _field(item))
        elif key != "zero_page_encoding":  # the flags say it
            table.add_row(key, _field(value))
    for zone, count in summary.pages_per_zone.items():
        zero = summary.zero_pages_per_zone.get(zone, 0)
        table.add_row(f"pages in {zone}", f"{count:,} ({zero:,} zero)")
    shown = ", ".join(f"[{s}, {e})" for s, e in summary.pfn_ranges)
    more = summary.nr_pfn_ranges - len(summary.pfn_ranges)
    tail = f" ... +{more}" if more > 0 else ""
    table.add_row("pfn ranges", f"{summary.nr_pfn_ranges:,}: {shown}{tail}")
    checked = "digest" if "format" not in summary.header else "checks"  # swsim's: the digest
    table.add_row(checked, "ok" if summary.verified else f"BAD: {summary.error}")
    return table

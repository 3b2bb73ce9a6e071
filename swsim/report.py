"""Rendering restore results: a rich table for people, one JSON object for programs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from swsim.resume import RestoreStats

#: (field, label) in the order the table shows them.
ROWS: tuple[tuple[str, str], ...] = (
    ("image_pages", "image pages"),
    ("meta_pages", "metadata pages"),
    ("allocations", "page allocations"),
    ("eaten", "pages eaten"),
    ("unsafe_kept", "unsafe pages kept"),
    ("direct", "pages loaded directly"),
    ("copies", "pages copied at the end"),
    ("peak_pages", "peak pages held"),
    ("missing", "pages missing"),
    ("verified", "memory verified"),
)


def restore_json(stats: RestoreStats, extra: dict[str, Any] | None = None) -> str:
    data = stats.to_json()
    if extra:
        data.update(extra)
    return json.dumps(data, sort_keys=False)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def restore_table(stats: RestoreStats, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column(stats.strategy, justify="right")
    for field, label in ROWS:
        table.add_row(label, _cell(getattr(stats, field)))
    return table


def print_restore(stats: RestoreStats, title: str, console: Console | None = None) -> None:
    (console or Console()).print(restore_table(stats, title))

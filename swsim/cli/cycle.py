"""``swsim cycle``: suspend a machine with each kernel, resume it with each strategy, one table.

The command is thin: :func:`swsim.runs.cycle.cycle` does the round trips; this module parses the
options and renders the rows (a table, or ``--json``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from swsim.cli.options import KERNEL_HELP, machine_options
from swsim.errors import EXIT_CODES
from swsim.machine.presets import get_preset
from swsim.resume.allocators import ALLOCATORS
from swsim.resume.strategies import STRATEGIES
from swsim.suspend.kernels import SUSPEND_KERNELS

if TYPE_CHECKING:
    from rich.table import Table

    from swsim.machine.model import Machine
    from swsim.runs.cycle import CycleRow

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)

#: (label, how to get it from a row) of the cycle table, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("image pages", "suspend.image_pages"),
    ("freed", "freed"),
    ("copied (suspend)", "suspend.copied"),
    ("peak (suspend)", "suspend.peak_pages"),
    ("allocations (resume)", "resume.allocations"),
    ("copies (resume)", "resume.copies"),
    ("read after", "read_after"),
)
#: The table is wider than a terminal's default 80 columns.
TABLE_WIDTH = 150


def _value(row: CycleRow, key: str) -> int | None:
    if key == "freed":
        return sum(row.suspend.freed.values())
    if key == "read_after":
        return row.read_after if row.kernel == "tuxonice" else None
    part, field = key.split(".")
    obj: Any = row.suspend if part == "suspend" else row.resume
    if obj is None or (part == "suspend" and not row.suspend.fits):
        return None
    value = getattr(obj, field)
    return int(value) if value is not None else None


def cycle_table(rows: list[CycleRow], title: str) -> Table:
    """The round trips, a row per (suspend kernel, resume strategy) pair."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("suspend")
    table.add_column("resume")
    for label, _ in COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("through and back")
    for row in rows:
        cells = [row.kernel, row.strategy or "-"]
        for _, key in COLUMNS:
            value = _value(row, key)
            cells.append("-" if value is None else f"{value:,}")
        cells.append("yes" if row.ok else f"NO: {row.error}")
        table.add_row(*cells)
    return table


@click.command("cycle", epilog=EPILOG)
@machine_options
@click.option(
    "--kernel", "kernels", type=click.Choice(list(SUSPEND_KERNELS)), multiple=True,
    help="A suspend model (repeatable; default: all). " + KERNEL_HELP,
)
@click.option(
    "--strategy", "strategies", type=click.Choice(list(STRATEGIES)), multiple=True,
    help="A resume strategy (repeatable; default: all).",
)
@click.option("--image-size", metavar="SIZE", help="image_size for every model (see snapshot).")
@click.option(
    "--allocator", type=click.Choice(list(ALLOCATORS)), default=None,
    help="Boot-time page allocator policy (default: the machine's).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --allocator=random.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def cycle_cmd(
    machine: Machine | None,
    kernels: tuple[str, ...],
    strategies: tuple[str, ...],
    image_size: str | None,
    allocator: str | None,
    seed: int,
    as_json: bool,
) -> None:
    """Suspend with each kernel, resume with each strategy.

    Each suspend side (--kernel, default all) shrinks and copies the machine's memory; each
    image it makes is restored with each strategy (counts only, no data): which pairs take the
    machine through hibernation and back, and at what cost. TuxOnIce's pageset 2 is read back
    after the atomic restore ('read after')."""
    from rich.console import Console

    from swsim.resume.restore import RestoreOptions
    from swsim.runs.cycle import cycle
    from swsim.suspend.kernels import parse_image_size

    size = parse_image_size(image_size) if image_size is not None else None
    machine = machine or get_preset("default")
    options = RestoreOptions(allocator=allocator, seed=seed, no_data=True)
    rows = cycle(machine, kernels, strategies, size, options)
    if as_json:
        click.echo(json.dumps({"machine": machine.name, "rows": [r.to_json() for r in rows]}))
    else:
        Console(width=TABLE_WIDTH).print(cycle_table(rows, f"swsim cycle ({machine.name})"))
command = cycle_cmd

"""``swsim sweep``: a grid of machines and models, every strategy on each point, rows to a file.

The options are made from the grid's axes (:data:`swsim.runs.grid.AXES`): an axis added there is
an option here with no change to this module. The library does the work
(:mod:`swsim.runs.sweep`); this module reads the options and the spec file and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from swsim.errors import EXIT_CODES
from swsim.runs.grid import AXES, SEEDS_KEY, STRATEGY_KEY, Grid, make_grid

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)


def axis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """An option per axis (``--saved-fraction 0.2:0.9:0.05``), passed on as ``axes``."""
    for axis in reversed(AXES.values()):
        func = click.option(
            axis.option, axis.name, metavar="VALUES", default=None,
            help=f"{axis.help} [default: {axis.default}]"
            + (" (a,b,c or start:stop:step)" if axis.numeric else " (a,b,c)"),
        )(func)
    return func


@click.command("sweep", epilog=EPILOG)
@click.argument("spec_file", metavar="[SPEC.toml]", required=False)
@axis_options
@click.option("--seeds", type=int, metavar="N", help="Seeds 1 to N (the seed axis).")
@click.option(
    "--strategy", "strategies", metavar="NAMES", default=None,
    help="Strategies to run on each point: all (default) or a,b.",
)
@click.option(
    "-o", "--output", default="-", show_default=True, metavar="FILE",
    help="Results: FILE.csv, FILE.jsonl or FILE.parquet ('-': CSV on standard output).",
)
@click.option("-j", "--jobs", type=int, default=None,
              help="Local worker processes [default: the cores there are].")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the points on this Dask distributed scheduler (swsim[dask]).")
@click.option("--resume", is_flag=True,
              help="Continue FILE: skip the points it already holds.")
def command(
    spec_file: str | None,
    seeds: int | None,
    strategies: str | None,
    output: str,
    jobs: int | None,
    scheduler: str | None,
    resume: bool,
    **axes: str | None,
) -> None:
    """Run every strategy on every point of a grid (options or SPEC.toml; docs/sweep.md),
    counts only, and write one row per point and strategy as each point ends."""
    from swsim.cli.progress import point_progress, wanted
    from swsim.runs.backends import make_backend
    from swsim.runs.rows import open_sink
    from swsim.runs.spec import grid_from_spec, load_spec
    from swsim.runs.sweep import run_sweep

    options: dict[str, object] = {name: v for name, v in axes.items() if v is not None}
    if seeds is not None:
        options[SEEDS_KEY] = seeds
    if strategies is not None:
        options[STRATEGY_KEY] = strategies
    grid = make_grid(options)  # a bad value is worded for its option
    if spec_file:
        spec = load_spec(spec_file)
        from_file = grid_from_spec(spec, spec_file)
        names = from_file.strategies if strategies is None else grid.strategies
        grid = Grid({**from_file.values, **grid.values}, names)
    backend = make_backend(jobs, scheduler)
    try:
        sink, done = open_sink(output, resume)
    except BaseException:
        backend.close()
        raise
    result = run_sweep(grid, backend, sink, done, progress=point_progress)
    if wanted():
        skipped = f", {result.points_skipped} already done" if result.points_skipped else ""
        click.echo(
            f"swsim: {result.points_run} points ({result.rows_written} rows) in "
            f"{result.seconds:.1f} s, {result.points_per_second:.1f} points/s{skipped}",
            err=True,
        )

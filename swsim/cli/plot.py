"""``swsim plot``: a picture of a sweep's results (matplotlib, the ``swsim[plot]`` extra)."""

from __future__ import annotations

import click

from swsim.errors import EXIT_CODES

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text in sorted(EXIT_CODES.items())
)


@click.command("plot", epilog=EPILOG)
@click.argument("results", metavar="RESULTS")
@click.option("-x", "x", required=True, metavar="COLUMN", help="Column on the x axis.")
@click.option("-y", "y", required=True, metavar="COLUMN", help="Column on the y axis.")
@click.option("--by", metavar="COLUMN", help="A line per value of this column.")
@click.option("--facet", metavar="COLUMN", help="A panel per value of this column.")
@click.option("--logx", is_flag=True, help="Logarithmic x axis.")
@click.option("--logy", is_flag=True, help="Logarithmic y axis.")
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Picture to write: FILE.png, FILE.svg or FILE.pdf.")
def command(
    results: str, x: str, y: str, by: str | None, facet: str | None, logx: bool, logy: bool,
    output: str,
) -> None:
    """Plot y against x from RESULTS (a sweep's .csv, .jsonl or .parquet): a line per --by
    value through the mean of the rows at each x (seeds and anything not grouped), a band from
    their minimum to their maximum, a panel per --facet value."""
    from swsim.runs.plot import plot_results

    plot_results(results, output, x, y, by, facet, logx, logy)

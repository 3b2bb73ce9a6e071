"""Plots of sweep results (``swsim plot``): y against x, a line per group, a panel per facet.

Rows with the same x, group (``by``) and facet are one point of a line: the line goes through
their mean and a band spans their minimum to maximum, so a sweep over seeds shows the spread
the seeds give. Rows without a value of y (a strategy that ran out of memory) are left out.
matplotlib is the ``swsim[plot]`` extra; the picture's format comes from its extension.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from swsim.errors import UsageError
from swsim.runs.grid import did_you_mean
from swsim.runs.memory_map import picture_format, save_figure
from swsim.runs.point import Row
from swsim.runs.rows import iter_rows, require

#: Line styles, in turn.
LINE_STYLES = ("-", "--", "-.", ":")


@dataclass
class Series:
    """One line: x values in order, and the mean, minimum and maximum of y at each."""

    label: str
    x: list[object] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    #: rows behind each point (seeds and whatever else was not grouped)
    count: list[int] = field(default_factory=list)


def _order(values: Sequence[object]) -> list[object]:
    """Distinct values: sorted when they are all numbers, else in order of appearance."""
    distinct = list(dict.fromkeys(values))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in distinct):
        return sorted(distinct)  # type: ignore[type-var]
    return distinct


def check_columns(rows: list[Row], path: str, columns: Sequence[str | None]) -> None:
    """Every named column is one of the file's (else one error, with the closest name)."""
    known = list(rows[0]) if rows else []
    for column in columns:
        if column is not None and column not in known:
            raise UsageError(
                f"{path} has no column {column!r}{did_you_mean(column, known)}"
            )


def series(
    rows: list[Row], x: str, y: str, by: str | None = None, facet: str | None = None
) -> dict[object, list[Series]]:
    """The lines of each facet (one facet, None, without ``facet``)."""
    groups: dict[tuple[object, object, object], list[float]] = defaultdict(list)
    for row in rows:
        value = row.get(y)
        if value is None or isinstance(value, str):
            continue
        groups[(row.get(facet) if facet else None, row.get(by) if by else None,
                row.get(x))].append(float(value))
    facets: dict[object, list[Series]] = {}
    for facet_value in _order([key[0] for key in groups]):
        lines = []
        for group in _order([key[1] for key in groups if key[0] == facet_value]):
            label = f"{by}={group}" if by else y
            line = Series(label)
            xs = [key[2] for key in groups if key[0] == facet_value and key[1] == group]
            for x_value in _order(xs):
                ys = groups[(facet_value, group, x_value)]
                line.x.append(x_value)
                line.mean.append(sum(ys) / len(ys))
                line.low.append(min(ys))
                line.high.append(max(ys))
                line.count.append(len(ys))
            lines.append(line)
        facets[facet_value] = lines
    return facets


def plot_results(
    path: str,
    output: str,
    x: str,
    y: str,
    by: str | None = None,
    facet: str | None = None,
    logx: bool = False,
    logy: bool = False,
) -> dict[object, list[Series]]:
    """Plot the results file at ``path`` into the picture ``output``; the lines drawn."""
    fmt = picture_format(output)
    rows = list(iter_rows(path))
    if not rows:
        raise UsageError(f"{path} holds no rows")
    check_columns(rows, path, (x, y, by, facet))
    facets = series(rows, x, y, by, facet)
    if not any(line.x for lines in facets.values() for line in lines):
        raise UsageError(f"{path} has no numeric value of {y!r} to plot")
    require("matplotlib", "swsim plot", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nr_facets = len(facets)
    fig, axes = plt.subplots(1, nr_facets, figsize=(5.5 * nr_facets, 4), squeeze=False,
                             sharey=True)
    for ax, (facet_value, lines) in zip(axes[0], facets.items(), strict=True):
        for number, line in enumerate(lines):
            numeric = all(isinstance(v, int | float) for v in line.x)
            xs = line.x if numeric else [str(v) for v in line.x]
            style = LINE_STYLES[number % len(LINE_STYLES)]  # lines that coincide stay visible
            (drawn,) = ax.plot(xs, line.mean, style, marker="o", markersize=3, label=line.label)
            if any(lo != hi for lo, hi in zip(line.low, line.high, strict=True)):
                ax.fill_between(xs, line.low, line.high, alpha=0.2, color=drawn.get_color())
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
        if facet:
            ax.set_title(f"{facet}={facet_value}", fontsize=10)
        if by:
            ax.legend(fontsize=8)
    axes[0][0].set_ylabel(f"{y} (mean; band: min to max)")
    fig.tight_layout()
    save_figure(fig, output, fmt)
    return facets

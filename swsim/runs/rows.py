"""Results files: rows written as they come (CSV, JSON Lines, Parquet), read back, resumed.

The format is chosen by the file's extension: ``.csv``, ``.jsonl`` (or ``.ndjson``),
``.parquet``; ``-`` is CSV on standard output. CSV and JSON Lines are appended to and flushed
point by point, so an interrupted sweep keeps every point it finished; a point's rows are one
write, and a last line cut short by a crash is dropped when the sweep is resumed. Parquet cannot
be appended to, so its rows go to a JSON Lines journal beside it (``FILE.parquet.part.jsonl``)
and the Parquet file is written from the journal, atomically, when the sweep ends; an
interrupted one leaves the journal, which ``--resume`` continues. Parquet needs pyarrow (the
``swsim[parquet]`` extra).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from swsim.errors import UsageError
from swsim.runs.point import COLUMNS, COUNT_COLUMNS, KEY_COLUMNS, ZONE_COLUMNS, Row

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: Rows per Parquet row group when the journal is turned into the file.
PARQUET_GROUP_ROWS = 8192
#: A point and strategy, as its key columns read in a results file.
RowKey = tuple[str, ...]


class MissingExtra(UsageError):
    """An optional dependency is not installed: the message names the extra to install."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs {module}: pip install 'swsim[{extra}]'"
        )
        self.extra = extra


def require(module: str, feature: str, extra: str) -> Any:
    """Import ``module``, or raise the :class:`MissingExtra` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(feature, extra, module) from None


def results_format(path: str) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file name (``-``: csv)."""
    if path == "-":
        return "csv"
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {path}: name it .csv, .jsonl or .parquet"
        )
    return fmt


def cell(value: object) -> str:
    """A value as it reads in a CSV cell (and in a row key): None is empty."""
    return "" if value is None else str(value)


def row_key(row: Row) -> RowKey:
    """Which point and strategy ``row`` is of."""
    return tuple(cell(row.get(column)) for column in KEY_COLUMNS)


def parse_cell(text: str) -> object:
    """A CSV cell's value: None if empty, else an int, a float, or the text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class RowSink(Protocol):
    """Where a sweep's rows go."""

    def write(self, rows: list[Row]) -> None:
        """Write one point's rows, then flush them to the file."""

    def close(self, complete: bool) -> None:
        """Finish (``complete``: the sweep ended; Parquet is written then)."""


class _LineSink:
    """CSV or JSON Lines, appended to and flushed point by point."""

    def __init__(self, stream: IO[str], fmt: str, header: bool, owned: bool) -> None:
        self.stream = stream
        self.fmt = fmt
        self.owned = owned
        self.writer = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if header and self.writer is not None:
            self.writer.writerow(COLUMNS)
            stream.flush()

    def write(self, rows: list[Row]) -> None:
        """One write per point, then a flush."""
        if self.writer is not None:
            buffer = io.StringIO()
            # csv writes None as an empty cell and str() of anything else: as cell() does
            csv.writer(buffer, lineterminator="\n").writerows(
                list(map(row.get, COLUMNS)) for row in rows
            )
            self.stream.write(buffer.getvalue())
        else:
            self.stream.write("".join(
                json.dumps({c: row.get(c) for c in COLUMNS}, separators=(",", ":")) + "\n"
                for row in rows
            ))
        self.stream.flush()

    def close(self, complete: bool) -> None:
        """Close the file (standard output stays open)."""
        if self.owned:
            self.stream.close()


class _ParquetSink(_LineSink):
    """A JSON Lines journal, turned into the Parquet file when the sweep completes."""

    def __init__(self, path: Path, journal: Path, stream: IO[str]) -> None:
        super().__init__(stream, "jsonl", header=False, owned=True)
        self.path = path
        self.journal = journal

    def close(self, complete: bool) -> None:
        """Write the Parquet file from the journal (atomically), then drop the journal."""
        super().close(complete)
        if complete:
            write_parquet(iter_jsonl(self.journal), self.path)
            self.journal.unlink()


def parquet_schema() -> Any:
    """The Parquet schema of a results file (pyarrow)."""
    pa = require("pyarrow", "writing Parquet", "parquet")
    from swsim.runs.grid import AXES

    fields = []
    for column in COLUMNS:
        if column in AXES:
            default = AXES[column].default
            kind = pa.int64() if isinstance(default, int) else (
                pa.float64() if isinstance(default, float) else pa.string())
        elif column in (*COUNT_COLUMNS, *ZONE_COLUMNS, "excess_copies"):
            kind = pa.int64()
        elif column == "seconds":
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


def write_parquet(rows: Iterable[Row], path: Path) -> None:
    """``rows`` as a Parquet file at ``path``, written in row groups, renamed when complete."""
    pq = require("pyarrow.parquet", "writing Parquet", "parquet")
    pa = require("pyarrow", "writing Parquet", "parquet")
    schema = parquet_schema()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with pq.ParquetWriter(str(tmp), schema) as writer:
            group: list[Row] = []
            for row in rows:
                group.append(row)
                if len(group) == PARQUET_GROUP_ROWS:
                    writer.write_table(pa.Table.from_pylist(group, schema=schema))
                    group = []
            if group:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def iter_jsonl(path: Path) -> Iterator[Row]:
    """The rows of a JSON Lines file (a last line cut short is skipped)."""
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.endswith("\n"):
                yield json.loads(line)


def iter_rows(path: str) -> Iterator[Row]:
    """The rows of a results file of any format (for ``swsim plot`` and ``--resume``)."""
    fmt = results_format(path)
    try:
        if fmt == "parquet":
            pq = require("pyarrow.parquet", "reading Parquet", "parquet")
            try:
                table = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises its own error types
                raise UsageError(f"{path}: not a Parquet file ({exc})") from None
            for batch in table.iter_batches():
                yield from batch.to_pylist()
        elif fmt == "jsonl":
            try:
                yield from iter_jsonl(Path(path))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}: not JSON Lines ({exc})") from None
        else:
            with open(path, encoding="utf-8", newline="") as stream:
                reader = csv.reader(stream)
                header = next(reader, None)
                if header is None:
                    return
                for cells in reader:
                    pairs = zip(header, cells, strict=False)
                    yield {name: parse_cell(text) for name, text in pairs}
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read {path}: {reason}") from None


def _drop_partial_line(path: Path) -> None:
    """Cut a last line that a crash left without its newline."""
    with open(path, "rb+") as stream:
        data = stream.read()
        if data and not data.endswith(b"\n"):
            stream.truncate(data.rfind(b"\n") + 1)


def _check_header(path: Path) -> None:
    with open(path, encoding="utf-8", newline="") as stream:
        header = next(csv.reader(stream), None)
    if header is not None and tuple(header) != COLUMNS:
        raise UsageError(
            f"{path} has other columns than this swsim's sweep writes: it cannot be resumed"
        )


def open_sink(path: str, resume: bool) -> tuple[RowSink, set[RowKey]]:
    """Where the rows of a sweep go, and (with ``resume``) the keys of the rows already there.

    Without ``resume`` an existing file is refused rather than overwritten.
    """
    fmt = results_format(path)
    if path == "-":
        if resume:
            raise UsageError("--resume needs an output file")
        return _LineSink(sys.stdout, "csv", header=True, owned=False), set()
    target = Path(path)
    if fmt == "parquet":
        require("pyarrow", "writing Parquet", "parquet")
    journal = target.with_name(target.name + ".part.jsonl") if fmt == "parquet" else target
    exists = journal.exists() or (fmt == "parquet" and target.exists())
    if exists and not resume:
        raise UsageError(f"{path} exists: --resume continues it (or remove it)")
    if target.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")
    done: set[RowKey] = set()
    try:
        if fmt == "parquet" and target.exists() and not journal.exists():
            # a finished sweep, resumed (with a larger grid): its rows become the journal
            with open(journal, "w", encoding="utf-8") as stream:
                sink = _LineSink(stream, "jsonl", header=False, owned=False)
                for row in iter_rows(path):
                    sink.write([row])
        if journal.exists():
            _drop_partial_line(journal)
            if fmt == "csv":
                _check_header(journal)
            rows = iter_jsonl(journal) if fmt == "parquet" else iter_rows(path)
            done = {row_key(row) for row in rows}
        header = fmt == "csv" and (not journal.exists() or journal.stat().st_size == 0)
        stream = open(journal, "a", encoding="utf-8", newline="")  # noqa: SIM115 - sink closes
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    if fmt == "parquet":
        return _ParquetSink(target, journal, stream), done
    return _LineSink(stream, fmt, header=header, owned=True), done

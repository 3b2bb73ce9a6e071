"""Machine files: the declared schema of ``swsim-machine/1`` and its one strict loader.

A machine file (docs/machine-format.md) and the machine description inside an image header are
read by :func:`parse_machine` alone. The schema is declared as :mod:`msgspec` structs; decoding
validates while it parses, so a file is refused at its first fault, whatever follows it:

* an unknown key, with the nearest known one ("did you mean"): a misspelled ``boot.usde`` used
  to be ignored and give other counts with exit 0;
* a wrong type, a number out of range (``frames`` above :data:`MAX_FRAMES`, a ``content.seed``
  of ``1e400`` or beyond 64 bits), a non-standard number (``Infinity``, ``NaN``), bytes that
  are not UTF-8 JSON;
* JSON nested deeper than the decoder recurses (a :class:`RecursionError` caught here).

Then :class:`~swsim.machine.model.Machine` checks what a schema cannot say: ranges inside
``[0, frames)``, not empty, not overlapping; content fractions summing to at most 1. Every
fault is one :class:`~swsim.errors.MachineError` line naming the file and the key.

Versions: ``"format"`` picks the schema in :data:`FILE_FORMATS`; a new version is one struct
with a ``to_machine()`` and one registry line.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal, Protocol

import msgspec

from swsim.errors import MachineError, UsageError
from swsim.machine.classes import SuspendClasses
from swsim.machine.model import (
    MACHINE_FORMAT,
    MACHINE_FORMAT_V2,
    MAX_FRAMES,
    ContentSpec,
    Machine,
)
from swsim.machine.ranges import Ranges

#: Bytes a machine file may hold: a 1 TiB generated machine takes a few KiB.
MAX_FILE_BYTES = 16 << 20
#: A pfn as a machine file may write it (range ends are checked against ``frames`` later).
Pfn = Annotated[int, msgspec.Meta(ge=0, le=MAX_FRAMES)]
#: A machine's number of frames.
Frames = Annotated[int, msgspec.Meta(ge=1, le=MAX_FRAMES)]
#: A machine's label, shown by ``inspect`` and ``machine --list``: no control characters.
MachineName = Annotated[str, msgspec.Meta(max_length=256, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
#: Half-open ``[start, end)`` pfn ranges.
RangeList = list[tuple[Pfn, Pfn]]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    """A JSON object with exactly the declared keys (an unknown one is an error)."""


class SuspendSection(_Strict):
    """``suspend``: the frames saved in the image and the frames never saved."""

    saveable: RangeList
    nosave: RangeList = []


class BootSection(_Strict):
    """``boot``: the frames the boot kernel uses and the frames reserved at resume."""

    used: RangeList = []
    reserved: RangeList = []


class ContentSection(_Strict):
    """``content``: the page-content seed and the fractions of zero and text-like pages."""

    seed: Annotated[int, msgspec.Meta(ge=0)] = ContentSpec.seed  # <= CONTENT_SEED_MAX: ContentSpec
    zero: Fraction = ContentSpec.zero
    text: Fraction = ContentSpec.text


class _MachineFile(_Strict):
    """What every version's file declares, in this order; each version narrows ``format``
    and ``suspend`` (a field declared again keeps its place)."""

    format: str
    frames: Frames
    suspend: object
    boot: BootSection = msgspec.field(default_factory=BootSection)
    content: ContentSection = msgspec.field(default_factory=ContentSection)
    page_size: Literal[4096] = 4096
    name: MachineName = "custom"

    def _machine(self, saveable: Ranges, nosave: RangeList) -> Machine:
        """The machine with these suspend-time ranges (the model's own checks run here)."""
        try:
            content = ContentSpec(self.content.seed, self.content.zero, self.content.text)
        except UsageError as exc:
            raise MachineError(f"content: {exc}") from None
        return Machine(
            frames=self.frames,
            saveable=saveable,
            nosave=_ranges(nosave),
            boot_used=_ranges(self.boot.used),
            boot_reserved=_ranges(self.boot.reserved),
            content=content,
            name=self.name,
            page_size=self.page_size,
        )


class MachineFileV1(_MachineFile):
    """A ``swsim-machine/1`` file, as declared in docs/machine-format.md."""

    format: Literal["swsim-machine/1"]
    suspend: SuspendSection

    def to_machine(self) -> Machine:
        """The machine this file describes (the model's own checks run here)."""
        return self._machine(_ranges(self.suspend.saveable), self.suspend.nosave)


class SuspendSectionV2(_Strict):
    """``suspend`` of version 2: the frames never saved and the saveable frames by class."""

    nosave: RangeList = []
    kernel: RangeList = []
    anon: RangeList = []
    file_clean: RangeList = []
    file_dirty: RangeList = []
    swap_pages: Annotated[int, msgspec.Meta(ge=0, le=MAX_FRAMES)] = 0
    reserve_pages: Annotated[int, msgspec.Meta(ge=0, le=MAX_FRAMES)] = 0


class MachineFileV2(_MachineFile):
    """A ``swsim-machine/2`` file: version 1 with the saveable frames split into classes
    (docs/machine-format.md, :mod:`swsim.machine.classes`)."""

    format: Literal["swsim-machine/2"]
    suspend: SuspendSectionV2

    def to_machine(self) -> Machine:
        """The machine this file describes: saveable = the union of the classes."""
        s = self.suspend
        classes = SuspendClasses(
            kernel=_ranges(s.kernel), anon=_ranges(s.anon), file_clean=_ranges(s.file_clean),
            file_dirty=_ranges(s.file_dirty), swap_pages=s.swap_pages,
            reserve_pages=s.reserve_pages,
        )
        # built without the saveable frames first, so that an overlap is named by its class
        # (the model checks the classes when they are put in)
        return replace(self._machine((), s.nosave), saveable=classes.saveable(), classes=classes)


def _ranges(value: RangeList) -> Ranges:
    return tuple((start, end) for start, end in value)


class MachineFile(Protocol):
    """What every machine-file version provides."""

    def to_machine(self) -> Machine:
        """The machine the file describes."""
        ...


#: ``"format"`` value -> the schema of that version.
FILE_FORMATS: dict[str, type[msgspec.Struct]] = {
    MACHINE_FORMAT: MachineFileV1,
    MACHINE_FORMAT_V2: MachineFileV2,
}


class _Format(msgspec.Struct):
    """The one key read before the schema is chosen (others are skipped, not built)."""

    format: object = None


def _path(message: str) -> tuple[str, str]:
    """msgspec's ``"<problem> - at `$.a.b[0]`"`` as (problem, ``a.b[0]``)."""
    problem, _, at = message.partition(" - at `$")
    return problem, at.rstrip("`").lstrip(".")


def _fields_at(schema: type[msgspec.Struct], path: str) -> tuple[str, ...]:
    """The keys the struct at ``path`` (``boot``, ``content``...) declares."""
    struct: Any = schema
    for name in filter(None, path.split(".")):
        field = {f.name: f for f in msgspec.structs.fields(struct)}.get(name)
        if field is None or not isinstance(field.type, type):
            return ()
        struct = field.type
    if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
        return ()
    return tuple(f.name for f in msgspec.structs.fields(struct))


#: Characters of a file's own text (a key, a value) quoted in a message, at most.
MAX_QUOTED = 40


def _quoted(value: object) -> str:
    """``value`` as a message may quote it: JSON-escaped (no control character can break the
    line), and cut to :data:`MAX_QUOTED` characters."""
    if not isinstance(value, str):
        value = json.dumps(value) if isinstance(value, int | float | bool) else type(value).__name__
        return value if len(value) <= MAX_QUOTED else value[:MAX_QUOTED] + "..."
    text = json.dumps(value)[1:-1]
    return '"' + (text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "...") + '"'


def _unknown_key(schema: type[msgspec.Struct], key: str, path: str) -> str:
    """``unknown key "boot.usde" (did you mean "boot.used"?)``, or the known keys listed."""
    prefix = f"{path}." if path else ""
    known = _fields_at(schema, path)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean \"{prefix}{close[0]}\"?"
    else:
        hint = "known keys: " + ", ".join(known)
    return f"unknown key {_quoted(prefix + key)} ({hint})"


_UNKNOWN = re.compile(r"Object contains unknown field `(?P<key>.*)`", re.DOTALL)


def _problem(schema: type[msgspec.Struct], exc: msgspec.ValidationError) -> str:
    """One line for a schema violation: the key, what is wrong, a suggestion if misspelled."""
    problem, path = _path(str(exc))
    unknown = _UNKNOWN.fullmatch(problem)
    if unknown:
        return _unknown_key(schema, unknown["key"], path)
    detail = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in problem.replace("`", ""))
    detail = detail[:1].lower() + detail[1:]
    if detail == "number out of range":
        detail = "number out of range (beyond 64 bits or a float's range)"
    return f"{path}: {detail}" if path else detail


def _decode(text: bytes | str, schema: type[msgspec.Struct] | type[_Format], where: str) -> Any:
    try:
        return msgspec.json.decode(text, type=schema)
    except RecursionError:
        raise MachineError(f"{where}: JSON nested too deeply") from None
    except msgspec.ValidationError as exc:
        if schema is _Format:
            problem, _ = _path(str(exc))
            raise MachineError(f"{where}: {problem.replace('`', '').lower()}") from None
        raise MachineError(f"{where}: {_problem(schema, exc)}") from None
    except msgspec.DecodeError as exc:
        detail = str(exc).removeprefix("JSON is malformed: ")
        detail = detail[:1].lower() + detail[1:]
        raise MachineError(f"{where}: not valid JSON ({detail})") from None


def parse_machine(text: str | bytes, where: str = "machine") -> Machine:
    """A machine from machine-file text; every fault is a one-line :class:`MachineError`
    naming ``where`` (the file, ``standard input``, or an image's machine description)."""
    head = _decode(text, _Format, where)
    schema = FILE_FORMATS.get(head.format) if isinstance(head.format, str) else None
    if schema is None:
        known = ", ".join(f'"{name}"' for name in FILE_FORMATS)
        got = "nothing" if head.format is None else _quoted(head.format)
        raise MachineError(f'{where}: "format" must be {known} (got {got})')
    parsed: MachineFile = _decode(text, schema, where)
    try:
        return parsed.to_machine()
    except MachineError as exc:
        raise MachineError(f"{where}: {exc}") from None


def load_machine(path: str | Path) -> Machine:
    """A machine from the machine file at ``path``."""
    try:
        with open(path, "rb") as stream:
            return read_machine(stream, str(path))
    except OSError as exc:
        raise MachineError(f"cannot read machine file {path}: {exc.strerror}") from None


def read_machine(stream: BinaryIO, where: str) -> Machine:
    """A machine from a machine file open as ``stream`` (a file, standard input); at most
    :data:`MAX_FILE_BYTES` are read."""
    text = stream.read(MAX_FILE_BYTES + 1)
    if len(text) > MAX_FILE_BYTES:
        raise MachineError(f"{where}: larger than {MAX_FILE_BYTES >> 20} MiB: not a machine file")
    return parse_machine(text, where)

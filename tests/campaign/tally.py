"""The campaign's ledger: every hostile case records its kind and its outcome, and ``make fuzz``
(any pytest run that recorded cases) ends with the table of kinds x outcomes.

Outcomes in capitals are failures (each test also asserts it has none): ``TRACEBACK`` (a
Python traceback on stderr), ``STRAY FILE`` (a ``.part`` file or a replaced device left behind),
``VERIFIED MUTATION`` (a change a check must catch, restored as verified), ``OVER MEMORY
LIMIT`` (out of host memory, or killed, under a limit the run fits in), ``NOT ONE LINE`` (an
error without exactly one line on stderr), ``UNDOCUMENTED EXIT``. The others are exit codes
(``exit 3``...) and ``ok`` (``ok, resealed``: a change whose checksums were recomputed, restored
as the other, consistent image it now is; without a key nothing can tell them apart).
"""

from __future__ import annotations

from collections import Counter

FAILURES = (
    "TRACEBACK", "STRAY FILE", "VERIFIED MUTATION", "OVER MEMORY LIMIT", "NOT ONE LINE",
    "UNDOCUMENTED EXIT",
)

#: (kind, outcome) -> cases, over the whole pytest run.
LEDGER: Counter[tuple[str, str]] = Counter()


def record(kind: str, outcome: str) -> str:
    """Count one case of ``kind`` that ended in ``outcome``; returns ``outcome``."""
    LEDGER[kind, outcome] += 1
    return outcome


def of_code(code: int) -> str:
    """The outcome of an exit code: ``ok`` or ``exit N``."""
    return "ok" if code == 0 else f"exit {code}"


def total() -> int:
    """Cases recorded so far."""
    return sum(LEDGER.values())


def table() -> str:
    """The ledger as a text table: a row per kind, a column per outcome, totals."""
    kinds = sorted({k for k, _ in LEDGER})
    seen = {o for _, o in LEDGER}
    outcomes = sorted(seen - set(FAILURES), key=_outcome_order) + list(FAILURES)
    width = max([len("case kind"), *map(len, kinds)])
    cols = [max(len(o), 6) for o in outcomes]
    cells = zip(outcomes, cols, strict=True)
    head = "case kind".ljust(width) + "".join(f" | {o:>{c}}" for o, c in cells)
    lines = [head + " |  total", "-" * (len(head) + 9)]
    for kind in [*kinds, "total"]:
        counts = [
            sum(n for (k, o), n in LEDGER.items() if o == out and kind in (k, "total"))
            for out in outcomes
        ]
        lines.append(
            kind.ljust(width) + "".join(f" | {n:>{c}}" for n, c in zip(counts, cols, strict=True))
            + f" | {sum(counts):>6}"
        )
    return "\n".join(lines)


def _outcome_order(outcome: str) -> tuple[int, str]:
    """``ok`` first, then exit codes by number."""
    if outcome.startswith("ok"):
        return (-1, outcome)
    number = outcome.removeprefix("exit ")
    return (int(number), outcome) if number.isdigit() else (1000, outcome)

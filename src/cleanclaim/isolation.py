"""One record that makes cleanclaim crash must never cost the others their results.

The coder and the rules run over a whole batch at once (that is what makes them fast). When the batch raises an
exception that is not one of cleanclaim's own (a bug, not bad input), the batch is split in halves and each half run
again, down to the smallest unit that can be run alone: a patient's day for the coder (same-day encounters share
their timed minutes), a patient for the rules (history and day pools). The units that still fail become a `Failure`
naming their encounters; everything else keeps its results. Nothing of this runs unless the batch raised, so a clean
run costs what it did.

A failure says only the exception's type and the innermost cleanclaim module and line: the exception's own text may
quote a patient value from the input (no PHI in messages).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cleanclaim.errors import UNFORESEEN, CleanclaimError

__all__ = ["RETRIES", "Failure", "bisect_failures", "describe", "run_without_failing", "unexpected", "where"]

G = TypeVar("G")
T = TypeVar("T")
R = TypeVar("R")


def where(exc: BaseException) -> str:
    """The innermost cleanclaim frame of the exception as `` at cleanclaim/module.py:LINE`` (empty if none), for
    the bug report. Only the place, never the exception's text."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}cleanclaim{os.sep}" in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    parts = Path(frame.filename).parts
    module = "/".join(parts[len(parts) - 1 - parts[::-1].index("cleanclaim"):])
    return f" at {module}:{frame.lineno}"


def describe(exc: BaseException) -> str:
    """``ZeroDivisionError at cleanclaim/rules/catalogue/x.py:123``: what a failure reports of its exception."""
    return f"{type(exc).__name__}{where(exc)}"


def unexpected(exc: BaseException) -> bool:
    """Whether an exception is a bug to isolate. cleanclaim's own errors (unreadable input, broken data files) keep
    their meaning and propagate; ``CLEANCLAIM_TRACEBACK=1`` lets every exception through, for whoever debugs it."""
    return not isinstance(exc, CleanclaimError) and os.environ.get("CLEANCLAIM_TRACEBACK") != "1"


@dataclass(frozen=True)
class Failure:
    """Records cleanclaim could not process because of a bug in cleanclaim: the encounters whose results are
    missing (or incomplete, for a rule), the stage that failed and where."""

    encounters: tuple[str, ...]
    error: str
    stage: str
    """``coding`` (the encounters were not coded, so not checked or priced either), ``rules`` (``rule`` did not run
    on them; every other rule did), ``pricing`` (they were not priced) or ``x12 validation`` (the X12 file's syntax
    was not checked; the rules were)."""
    rule: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """The exception itself (first of its kind), for a debugger or a test oracle to re-raise; never printed."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"encounters": list(self.encounters), "stage": self.stage, "error": self.error}
        if self.rule is not None:
            data["rule"] = self.rule
        return data

    def __str__(self) -> str:
        what = (f"rule {self.rule} did not run on" if self.rule
                else "the file's X12 syntax was not checked for" if self.stage == "x12 validation"
                else "could not be processed:")
        shown = ", ".join(self.encounters[:20]) + (f" … ({len(self.encounters)} in all)"
                                                   if len(self.encounters) > 20 else "")
        return (f"internal error ({self.stage}), a bug in cleanclaim, not a problem found in your claims: {what} "
                f"encounter(s) {shown}: {self.error}; the other encounters were processed. Please report it "
                "(set CLEANCLAIM_TRACEBACK=1 for the traceback).")


RETRIES = 512
"""At most this many retries after a batch raised: k failing units among n cost about 2·k·log2(n) of them, so a
handful of bad records in a million is found exactly, while a bug that every record triggers (2·n retries of a few
milliseconds each) stops here and the units not yet cleared are reported as failed with it. Not data that changes
yearly but a bound on time."""


def bisect_failures(groups: Sequence[G], run: Callable[[list[G]], R], first: BaseException, *,
                    retries: int = RETRIES) -> tuple[list[tuple[list[G], R]], list[tuple[G, BaseException]]]:
    """After ``run(groups)`` raised ``first``: run halves, and halves of the halves that raise, down to single
    groups. Returns the parts that ran with their results and the groups that failed with their exception, both in
    input order. After ``retries`` runs, every group not yet run successfully counts as failed, with the exception
    of the part it was in: named, never silently dropped. cleanclaim's own errors propagate."""
    done: list[tuple[int, list[G], R]] = []
    failed: list[tuple[int, G, BaseException]] = []
    stack: list[tuple[int, int, BaseException]] = [(0, len(groups), first)]
    runs = 0
    while stack:
        start, end, exc = stack.pop()
        if end - start <= 1 or runs >= retries:
            failed.extend((index, groups[index], exc) for index in range(start, end))
            continue
        middle = (start + end) // 2
        for low, high in ((middle, end), (start, middle)):
            if runs >= retries:
                stack.append((low, high, exc))
                continue
            runs += 1
            part = list(groups[low:high])
            try:
                done.append((low, part, run(part)))
            except UNFORESEEN as error:
                if not unexpected(error):
                    raise
                stack.append((low, high, error))
    done.sort(key=lambda item: item[0])
    failed.sort(key=lambda item: item[0])
    return [(part, result) for _, part, result in done], [(group, exc) for _, group, exc in failed]


def run_without_failing(records: Sequence[T], run: Callable[[list[T]], R], *, unit: Callable[[T], Hashable],
                        name: Callable[[T], str], stage: str) -> tuple[R, list[Failure]]:
    """``run(records)``, or when that raises, ``run`` over the records without the units it fails on (found by
    bisection over the units, in input order): the result is then exactly that of a run without them, for a stage
    whose records interact across units (a running deductible over a claim's lines). The failing units become
    failures named by ``name``; an exception that no unit explains alone propagates."""
    try:
        return run(list(records)), []
    except UNFORESEEN as exc:
        if not unexpected(exc):
            raise
        first = exc
    units: dict[Hashable, list[T]] = {}
    for record in records:
        units.setdefault(unit(record), []).append(record)
    _, failed = bisect_failures(list(units.values()), lambda part: run([r for group in part for r in group]), first)
    left_out = {id(record) for group, _ in failed for record in group}
    result = run([record for record in records if id(record) not in left_out])
    return result, [Failure(tuple(name(record) for record in group), describe(exc), stage, exception=exc)
                    for group, exc in failed]

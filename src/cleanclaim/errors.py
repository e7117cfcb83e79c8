"""One small exception hierarchy, so callers catch ``CleanclaimError`` and users get a message they can act on."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

__all__ = ["UNFORESEEN", "CleanclaimError", "DataError", "InputError", "UnknownPayerError", "UnreadableTextError",
           "WrongKindOfFileError", "is_phi_field"]

UNFORESEEN: tuple[type[BaseException], ...]
"""What a bug in cleanclaim can raise: any Exception, and a Rust panic inside Polars, which pyo3 raises as a
``BaseException`` and so would pass every ``except Exception`` (the per-record catches and the CLI's exit-3 net) as a
traceback. Every place that turns an unforeseen failure into a report catches this tuple. Built on first use by
:func:`__getattr__`: naming the panic imports Polars, which a module that only raises these errors should not pay
for: `cleanclaim --help` does not load Polars at all (the option types typer needs from `cleanclaim.refdata` and
`cleanclaim.sampling` live in Polars-free modules), so it must not come in through this tuple either."""


if not TYPE_CHECKING:  # mypy knows UNFORESEEN from its annotation; a `__getattr__` it saw would type every
    # misspelled name of this module as the tuple instead of reporting it

    def __getattr__(name: str) -> tuple[type[BaseException], ...]:
        """``UNFORESEEN``, made the first time it is asked for (PEP 562) and kept in the module after."""
        if name != "UNFORESEEN":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from polars.exceptions import PanicException

        unforeseen: tuple[type[BaseException], ...] = (Exception, PanicException)
        globals()["UNFORESEEN"] = unforeseen
        return unforeseen

# Where a patient's protected health information lives in the encounter contract and the claim-line tables: every
# field of the patient and of the subscriber (ids, names, birth dates, sex, member id, address) and any address. A
# message about one of these names the field and what was expected, never the value given (HIPAA minimum necessary:
# error messages end up in logs, tickets and terminals). Codes, units, minutes, charges and dates of service are not
# in this list: a message about them shows the value, which is what the user needs to find it.
_PHI_ROOTS = frozenset({"patient", "subscriber"})
_PHI_PARTS = frozenset({"address", "birth_date", "member_id"})
_PHI_PREFIXES = ("patient_", "subscriber_")


def is_phi_field(field: str | None) -> bool:
    """Whether a field (a dotted path such as ``patient.address.zip`` or ``lines.0.units``, a table column such as
    ``patient_birth_date``, or an X12 element's field name) holds a patient's data, whose value a message must not
    show."""
    if not field:
        return False
    parts = [part for part in re.split(r"[.\[\]]", field.strip().lower()) if part]
    if not parts:
        return False
    return (parts[0] in _PHI_ROOTS or parts[0].startswith(_PHI_PREFIXES)
            or any(part in _PHI_PARTS for part in parts))


class CleanclaimError(Exception):
    """Base class of every error cleanclaim raises on purpose."""


class InputError(CleanclaimError):
    """Input that cannot be read: names the file, the place in it (line, row or segment) and the field.

    The message never carries patient data beyond the identifiers the user gave (encounter id, row number): for a
    field where :func:`is_phi_field` holds, it says what was expected, not what was given.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        row: int | None = None,
        segment: str | None = None,
        field: str | None = None,
        encounter: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.row = row
        self.segment = segment
        self.field = field
        self.encounter = encounter
        super().__init__(str(self))

    def __str__(self) -> str:
        place = self.file or ""
        if self.line is not None:
            place += f":{self.line}" if place else f"line {self.line}"
        if self.row is not None:
            place += f", row {self.row}" if place else f"row {self.row}"
        if self.segment:
            place += f", segment {self.segment}" if place else f"segment {self.segment}"
        subject = ", ".join(p for p in (f"encounter {self.encounter}" if self.encounter else "",
                                        f"field {self.field}" if self.field else "") if p)
        return ": ".join(p for p in (place, subject, self.message) if p)

    def to_dict(self) -> dict[str, object]:
        """The JSON form used in ``errors`` arrays of CLI output."""
        return {
            "file": self.file,
            "line": self.line,
            "row": self.row,
            "segment": self.segment,
            "field": self.field,
            "encounter": self.encounter,
            "message": self.message,
        }


class WrongKindOfFileError(InputError):
    """An upload that is not the kind of file asked for at all (binary, not UTF-8 text, not X12 where an 835 is
    expected, a claim-line table where encounters are): nothing in it was read. The API answers it 415 and an
    :class:`InputError` about the content of the right kind of file 422; a page shows both on its form."""


class UnreadableTextError(InputError):
    """Characters in one encounter's part of a file that are not text (bytes that are not UTF-8, a NUL or another
    control character: binary pasted into a note): that encounter cannot be read, the others of the file were."""


class UnknownPayerError(InputError):
    """A payer profile id that is neither built in nor in the user's profile directory."""


class DataError(CleanclaimError):
    """Bundled or imported reference data is missing or inconsistent (a packaging or import problem)."""

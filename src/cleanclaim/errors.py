"""One small exception hierarchy, so callers catch ``CleanclaimError`` and users get a message they can act on."""

from __future__ import annotations


class CleanclaimError(Exception):
    """Base class of every error cleanclaim raises on purpose."""


class InputError(CleanclaimError):
    """Input that cannot be read: names the file, the place in it (line, row or segment) and the field.

    The message never carries patient data beyond the identifiers the user gave (encounter id, row number).
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


class UnknownPayerError(InputError):
    """A payer profile id that is neither built in nor in the user's profile directory."""


class DataError(CleanclaimError):
    """Bundled or imported reference data is missing or inconsistent (a packaging or import problem)."""

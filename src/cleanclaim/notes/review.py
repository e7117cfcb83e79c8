"""``review_notes``: each encounter's note read, with the findings of the rules that compare the note to the claim
(the notes family, the documentation elements, the units the minutes support). What ``cleanclaim notes`` prints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanclaim.errors import InputError
from cleanclaim.gcpause import collector_paused
from cleanclaim.isolation import Failure
from cleanclaim.model import Encounter, Finding, Severity
from cleanclaim.notes.batch import read_notes, workers_ahead
from cleanclaim.notes.reading import NoteReading
from cleanclaim.rules.engine import RuleSelection

__all__ = ["NOTE_RULES", "NoteReview", "NotesResult", "review_notes"]

NOTE_RULES = frozenset({"notes", "documentation-missing-element", "units-exceed-time", "units-below-time",
                        "missing-assistant-modifier"})
"""The rules whose findings ``cleanclaim notes`` shows: those that read the note or its minutes."""


@dataclass
class NoteReview:
    encounter: Encounter
    reading: NoteReading
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.reading.to_json()
        return {"id": self.encounter.id, **data, "findings": [f.model_dump(mode="json") for f in self.findings]}


@dataclass
class NotesResult:
    encounters: list[NoteReview]
    errors: list[InputError] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.failures:
            return 3
        if self.errors:
            return 2
        return 1 if any(f.severity is Severity.ERROR for r in self.encounters for f in r.findings) else 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"encounters": [r.to_json() for r in self.encounters]}
        if self.errors:
            data["errors"] = [e.to_dict() for e in self.errors]
        if self.failures:
            data["failures"] = [f.to_dict() for f in self.failures]
        return data


@collector_paused()
def review_notes(source: str | Path, *, payer: str | None = None, as_of: dt.date | None = None,
                 payers_dir: Path | None = None) -> NotesResult:
    """Read every encounter's note in an encounter file (or folder) and check its lines against it. An encounter
    whose note cannot be read gets a note-unreadable finding; one without a note is listed with nothing read."""
    from cleanclaim.formats.encounters import load_encounters
    from cleanclaim.scrub import check

    with workers_ahead(source):
        read = load_encounters(Path(source))
        result = check(read.encounters, payer=payer, as_of=as_of, payers_dir=payers_dir,
                       selection=RuleSelection(select=NOTE_RULES))
    by_encounter: dict[str | None, list[Finding]] = {}
    for finding in result.findings:
        by_encounter.setdefault(finding.encounter, []).append(finding)
    # the rules read these notes already: read_notes hands back their readings rather than reading them twice
    readings = read_notes([e.note for e in read.encounters])
    reviews = [NoteReview(e, reading, by_encounter.get(e.id, [])) for e, reading in zip(read.encounters, readings,
                                                                                         strict=True)]
    return NotesResult(reviews, [*read.errors, *result.errors], list(result.failures))

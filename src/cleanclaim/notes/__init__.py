"""Reading clinical notes: what was furnished, for how long, by whom, and what the record shows (goals, ADLs,
signature). ``read_note(text)`` is the one entry point; the rules in ``rules/catalogue/notes.py`` and the
``cleanclaim notes`` command are built on it. ``notes.clones`` finds notes that were not written for their visit
(cloned across patients or visits)."""

from cleanclaim.notes.reading import (
    MAX_NOTE_CHARS,
    Intervention,
    NoteProblem,
    NoteReading,
    NotFurnished,
    Signature,
    Span,
    read_note,
)

__all__ = [
    "MAX_NOTE_CHARS",
    "Intervention",
    "NotFurnished",
    "NoteProblem",
    "NoteReading",
    "Signature",
    "Span",
    "read_note",
]

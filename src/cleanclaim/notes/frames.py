"""The note readings of a check run as tables the note rules join to the claim lines: one row per service the note
names (``items``) and one row per note (``facts``). Each note is read once per run (memoised on the tables), and
only encounters that carry a note are read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from cleanclaim.notes.batch import read_notes
from cleanclaim.notes.reading import NoteReading

if TYPE_CHECKING:
    from cleanclaim.rules.tables import Tables

__all__ = ["FACT_SCHEMA", "ITEM_SCHEMA", "note_facts", "note_items", "note_readings"]

ITEM_SCHEMA: dict[str, Any] = {
    "encounter_id": pl.String, "item_code": pl.String, "item_codes": pl.List(pl.String), "item_name": pl.String,
    "item_minutes": pl.Int64, "item_assistant_minutes": pl.Int64, "furnished": pl.Boolean, "reason": pl.String,
    "item_text": pl.String, "item_start": pl.Int64,
}
FACT_SCHEMA: dict[str, Any] = {
    "encounter_id": pl.String, "readable": pl.Boolean, "problem": pl.List(pl.String),
    "total_timed_minutes": pl.Int64, "total_treatment_minutes": pl.Int64, "documented_minutes": pl.Int64,
    "signed": pl.Boolean, "signed_by": pl.String, "signature_text": pl.String, "credentials": pl.List(pl.String),
    "professional": pl.Boolean, "intervention_count": pl.Int64,
}


def note_readings(tables: Tables) -> dict[str, NoteReading]:
    """Each encounter's note, read (encounters without a note are left out)."""
    def build(t: Tables) -> dict[str, NoteReading]:
        frame = t.encounters.select("encounter_id", "note").filter(pl.col("note").is_not_null())
        ids, notes = frame.get_column("encounter_id").to_list(), frame.get_column("note").to_list()
        return dict(zip(ids, read_notes(notes), strict=True))
    return tables.memo("note_readings", build)


def note_items(tables: Tables) -> pl.DataFrame:
    def build(t: Tables) -> pl.DataFrame:
        from cleanclaim.rules.tables import frame_from_rows

        rows: list[dict[str, Any]] = []
        for eid, reading in note_readings(t).items():
            for item in reading.interventions:
                rows.append({"encounter_id": eid, "item_code": item.code, "item_codes": list(item.codes),
                             "item_name": item.name, "item_minutes": item.minutes,
                             "item_assistant_minutes": item.assistant_minutes, "furnished": True, "reason": None,
                             "item_text": item.text, "item_start": item.start})
            for other in reading.not_furnished:
                rows.append({"encounter_id": eid, "item_code": other.code,
                             "item_codes": [other.code] if other.code else [], "item_name": other.name,
                             "item_minutes": None, "item_assistant_minutes": None, "furnished": False,
                             "reason": other.reason, "item_text": other.text, "item_start": other.start})
        return frame_from_rows(rows, ITEM_SCHEMA)
    return tables.memo("note_items", build)


def note_facts(tables: Tables) -> pl.DataFrame:
    def build(t: Tables) -> pl.DataFrame:
        from cleanclaim.notes.lexicon import lexicon
        from cleanclaim.rules.tables import frame_from_rows

        professional = lexicon().credentials
        rows: list[dict[str, Any]] = []
        for eid, reading in note_readings(t).items():
            signature = reading.signature
            minutes = [i.minutes for i in reading.interventions if i.minutes is not None]
            rows.append({
                "encounter_id": eid,
                "readable": not any(p.kind in {"empty", "binary"} for p in reading.problems),
                "problem": [p.message for p in reading.problems],
                "total_timed_minutes": reading.total_timed_minutes,
                "total_treatment_minutes": reading.total_treatment_minutes,
                "documented_minutes": sum(minutes) if minutes else None,
                "signed": signature is not None,
                "signed_by": reading.signed_by,
                "signature_text": signature.text if signature else None,
                "credentials": list(signature.credentials) if signature else [],
                "professional": bool(signature and set(signature.credentials) & professional),
                "intervention_count": len(reading.interventions),
            })
        return frame_from_rows(rows, FACT_SCHEMA)
    return tables.memo("note_facts", build)

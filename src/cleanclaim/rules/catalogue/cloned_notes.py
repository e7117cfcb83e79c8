"""Cloned notes: the same note text reused across a provider's patients or a patient's visits (cleanclaim.notes.clones
finds them; this module turns them into findings)."""

from __future__ import annotations

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.notes.clones import NoteRecord, clone_settings, find_clones
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import Tables

_FLAGGED_SCHEMA = {"encounter_id": pl.String, "line": pl.Int32, "code": pl.String, "other_encounter": pl.String,
                   "similarity_percent": pl.Int64, "scope": pl.String, "differences": pl.String,
                   "more": pl.String}


def note_records(encounters: pl.DataFrame) -> list[NoteRecord]:
    """The notes of an encounter table (the rules' ENCOUNTER_SCHEMA columns), for `find_clones`."""
    frame = encounters.select("encounter_id", "patient_id", "provider_npi", "note", "date", "patient_first_name",
                              "patient_last_name").filter(pl.col("note").is_not_null())
    return [NoteRecord(encounter_id=row["encounter_id"], patient_id=row["patient_id"],
                       provider_npi=row["provider_npi"], text=row["note"],
                       date=None if row["date"] is None else row["date"].isoformat(),
                       patient_names=tuple(n for n in (row["patient_first_name"], row["patient_last_name"]) if n))
            for row in frame.iter_rows(named=True)]


@register
class ClonedNote(Rule):
    """The note is a near copy of another note of the same provider or the same patient, with only dates, times,
    numbers or the patient's name changed.

    What it checks:
        Every encounter note of the batch against the others: after names, dates, clock times and numbers are set
        aside, the exact Jaccard similarity of the two notes' 4-word shingles is at least the threshold in
        cleanclaim/rules/data/cloned_notes.toml (0.85), and the two notes are of one provider for different patients
        or of one patient on different encounters. Candidates are found with MinHash/LSH; the reported similarity is
        exact. Notes under 25 words are not compared. The finding names the closest other note, the similarity and
        the first words that differ. A batch is what one `check` reads: notes in other files are not compared.

    Why it matters:
        A reviewer pays for what the record shows was done for this patient on this date. Documentation worded
        exactly like another patient's or another visit's entry does not show that, and medical reviewers deny the
        service or extend the review when they find it; cloned notes are a standing OIG and contractor audit target.

    Example:
        E1 (patient P1): "Pt performed therex 23 min: bridges 3x10, clamshells 3x10 ... tolerated well, cont POC."
        E2 (patient P2, same provider): the same note with "25 min" and "3x12".

    Use instead:
        Each note records this patient's own response, measures and progress on this date (what changed, why the
        skilled service was needed), even where a template structures it.

    References:
        OIG OEI-01-11-00571 (2014), CMS and its contractors have adopted few program integrity practices to address
        vulnerabilities in EHRs (copy-paste / cloning); CMS Pub 100-08 (Program Integrity Manual) ch. 3 s3.3.2
        (medical review: the record must support the service billed).
    """

    id = "CC806"
    slug = "cloned-note"
    family = "frequency and documentation"
    severity = Severity.WARNING
    message = ("The note is {similarity_percent}% the same as the note of {other_encounter} ({scope}) once dates, "
               "times, numbers and names are set aside; what differs ({other_encounter}'s words -> this note's): "
               "{differences}{more}")
    fix = ("Document this visit on its own (this patient's measures, response and progress on this date); if the "
           "notes are right as written, keep the evidence that each service was furnished as documented.")
    references = ("OIG OEI-01-11-00571 (2014): EHR copy-paste and cloned documentation",
                  "CMS Pub 100-08 ch.3 s3.3.2")

    def screen_for(self, tables: Tables) -> Screen | None:
        # two notes at least, or there is nothing to compare
        notes = tables.encounters.get_column("note")
        return CANNOT_FIRE if notes.len() - notes.null_count() < 2 else None

    def check(self, tables: Tables) -> pl.DataFrame:
        return flagged_rows(note_records(tables.encounters))


def flagged_rows(notes: list[NoteRecord]) -> pl.DataFrame:
    """The rule's flagged rows for these notes (one per note with a clone), whatever batch they come from: `check`
    passes one run's encounters, `audit` every partition's at once (a provider's patients are spread over the
    partitions, which are cut by patient)."""
    matches = find_clones(notes, clone_settings())
    return pl.DataFrame(
        [{"encounter_id": m.encounter_id, "line": None, "code": None, "other_encounter": m.other_encounter_id,
          "similarity_percent": int(m.similarity * 100), "scope": m.scope, "differences": m.differences,
          "more": f" ({m.other_matches} more note(s) of this batch match too)" if m.other_matches else ""}
         for m in matches], schema=_FLAGGED_SCHEMA)

"""Documentation: does the note show what each billed service's documentation must show?

The requirements live in ``documentation.yaml`` beside this module (with their sources), so a compliance team can
change them without code. Matching is simple keyword/regex search over the encounter's note: a finding names the
element that was not found, so a person can look for it and either add it or defend the claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import polars as pl
import yaml

from cleanclaim.codebook import CodeBook
from cleanclaim.errors import DataError
from cleanclaim.model import Severity
from cleanclaim.notes.batch import read_notes
from cleanclaim.notes.reading import NoteReading
from cleanclaim.rules.catalogue.time_units import _family_minutes
from cleanclaim.rules.profile_frames import ProfilesKey
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import Tables, codes_frame

_DATA_FILE = "documentation.yaml"
_CHECKS = ("minutes", "group_size", "note", "one_on_one")
_DISTINCT_GOALS = (r"(?i)\b(separate|distinct|different)\s+(and\s+(separate|distinct)\s+)?(\w+\s+){0,3}goals?\b"
                   r"|\bgoals?\b[^.]{0,40}\b(separate|distinct)\b")


@dataclass(frozen=True)
class Requirement:
    """One documentation element a code's record must show."""

    id: str
    label: str
    check: str
    codes: tuple[str, ...]
    time_rules: tuple[str, ...]
    pattern: str | None


@cache
def requirements() -> tuple[tuple[Requirement, ...], str]:
    """The requirements and the pattern that finds minutes in a note, read once from the package data file."""
    where = f"cleanclaim/rules/catalogue/{_DATA_FILE}"
    text = resources.files("cleanclaim.rules.catalogue").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise DataError(f"{where}: expected a mapping with a `requirements` list")
    parsed = tuple(_requirement(item, where, number) for number, item in enumerate(data["requirements"], start=1))
    return parsed, str(data.get("minutes_pattern") or r"\b\d+\s*min")


def _requirement(item: Any, where: str, number: int) -> Requirement:
    if not isinstance(item, dict) or item.get("check") not in _CHECKS or not item.get("label"):
        raise DataError(f"{where}: requirement {number} needs `id`, `label` and `check` (one of {', '.join(_CHECKS)})")
    patterns = [str(p) for p in item.get("patterns") or []]
    if item["check"] == "note" and not patterns:
        raise DataError(f"{where}: requirement {item.get('id', number)} checks the note but lists no `patterns`")
    return Requirement(
        id=str(item.get("id", number)),
        label=str(item["label"]),
        check=str(item["check"]),
        codes=tuple(str(c) for c in item.get("codes") or []),
        time_rules=tuple(str(r) for r in item.get("time_rules") or []),
        pattern="(?i)" + "|".join(f"(?:{p})" for p in patterns) if patterns else None,
    )


@cache
def _requirement_frame(book: CodeBook) -> pl.DataFrame:
    """One row per requirement and code it applies to (its listed codes and the codes of its time rules), built once
    per code book."""
    reqs, _ = requirements()
    by_rule = codes_frame(book).select("code", "time_rule").unique()
    rows: list[dict[str, Any]] = []
    for order, req in enumerate(reqs):
        codes = set(req.codes)
        if req.time_rules:
            codes |= set(by_rule.filter(pl.col("time_rule").is_in(req.time_rules)).get_column("code").to_list())
        rows.extend({"order": order, "code": code, "label": req.label, "check": req.check, "pattern": req.pattern}
                    for code in sorted(codes))
    return pl.DataFrame(rows, schema={"order": pl.Int64, "code": pl.String, "label": pl.String, "check": pl.String,
                                      "pattern": pl.String})


@cache
def _requirement_codes(book: CodeBook) -> frozenset[str]:
    """The codes some requirement applies to, built once per code book."""
    return frozenset(_requirement_frame(book).get_column("code").to_list())


# Whitespace both Python's ``str.strip`` and Polars' ``strip_chars`` remove: a note made of these alone is blank for
# the plan too (each side strips a few characters the other keeps).
_BLANK = " \t\n\r\x0b\x0c"
_PY_NOTES = 1_000  # notes read in Python at most: a batch of claim lines carries none anyway


@cache
def _present() -> pl.Expr:
    """Whether the record shows the requirement's element (built once: the minutes pattern comes from the data
    file)."""
    _, minutes_pattern = requirements()
    note_has = pl.col("note").str.contains(pl.col("pattern").fill_null("$^"))
    return (
        pl.when(pl.col("check") == "minutes")
        .then(pl.col("group_has_minutes") | pl.col("note").str.contains(minutes_pattern))
        .when(pl.col("check") == "one_on_one")
        .then(pl.col("one_on_one_shown").fill_null(False))
        .when(pl.col("check") == "group_size")
        .then(pl.col("has_group_size").fill_null(False) | note_has)
        .otherwise(note_has)
    )


_HAS_GROUP_SIZE = pl.col("group_size").is_not_null().any().alias("has_group_size")
_HAS_NOTE = pl.col("note").fill_null("").str.strip_chars() != ""
_MISSING = pl.col("label").unique(maintain_order=True).str.join("; ").alias("missing")


@register
class DocumentationMissingElement(Rule):
    """The note does not show an element the billed code's documentation needs.

    What it checks:
        For each billed line, the elements listed for its code in the documentation requirements file: minutes for
        timed codes (unless the line, the services or the note give them), for 97535 the functional goal, the
        activity trained (ADL, meal preparation, safety, adaptive equipment ...) and direct one-on-one contact (as
        `cleanclaim.notes.read_note` reads it: one-on-one in any words it knows, or 97535's own service documented
        with its minutes in a note that is not a group's; never one literal phrase), the
        group size for group codes (97150, 96164, 0593T, G0473, 97804, 98961/98962, G0109: `group_size` on the
        service or a number in the note), the minutes of 0592T/0593T, and for HBAI the physical condition addressed.
        Every missing element of a line is listed in one finding. Encounters without a note are not audited here (a
        claim file alone carries no documentation).

    Why it matters:
        A reviewer pays what the record supports. A 97535 note that does not show the skilled, one-on-one training of
        a named activity toward a functional goal, or a group code without the group's size, is denied on review.

    Example:
        note: "Pt tolerated treatment well."
        lines: [{code: "97535", modifiers: [GP], units: 2, minutes: 30}]

    Use instead:
        note: "97535 30 min one-on-one: shower transfer and bathing safety training with grab bar; goal: bathe
               independently within 4 weeks."

    References:
        CMS Pub. 100-04 Ch. 5 s20.2 (timed minutes); CMS Pub. 100-02 Ch. 15 s220.3.E (treatment notes: timed
        minutes and total treatment time); Billing and Coding article A57067; CY2020 PFS final rule, 84 FR 62568
        (HBAI: a physical health problem).
    """

    id = "CC804"
    slug = "documentation-missing-element"
    family = "frequency and documentation"
    severity = Severity.WARNING
    message = "The note for {code} does not show {missing}"
    fix = "Document {missing} for {code} (or correct the code if the service was different)."
    references = ("CMS Pub. 100-04 Ch. 5 s20.2 (timed codes: direct one-on-one minutes)",
                  "CMS Pub. 100-02 Ch. 15 s220.3.E (treatment notes: timed minutes, total treatment time)",
                  "Billing and Coding article A57067", "CY2020 PFS final rule, 84 FR 62568 (HBAI)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line bills a code with a documentation requirement, in an encounter whose note is not blank.
        if _requirement_codes(tables.book).isdisjoint(tables.values("code")):
            return CANNOT_FIRE
        notes = tables.encounters.get_column("note")
        if notes.null_count() == notes.len():
            return CANNOT_FIRE
        if notes.len() <= _PY_NOTES and not any(note is not None and note.strip(_BLANK) for note in notes.to_list()):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        group_sizes = tables.services.lazy().group_by("encounter_id", "code").agg(_HAS_GROUP_SIZE)
        return (
            _family_minutes(tables).lazy()
            .join(tables.encounters.lazy().select("encounter_id", "note"), on="encounter_id", how="inner")
            .filter(_HAS_NOTE)
            .join(group_sizes, on=["encounter_id", "code"], how="left")
            .join(_one_on_one_shown(tables).lazy(), on=["encounter_id", "code"], how="left")
            .join(_requirement_frame(tables.book).lazy(), on="code", how="inner")
            .filter(~_present())
            .sort("encounter_id", "line", "order")
            .group_by("encounter_id", "line", "code", maintain_order=True)
            .agg(_MISSING)
            .select("encounter_id", "line", "code", "missing")
        )


_ONE_ON_ONE_SCHEMA = {"encounter_id": pl.String, "code": pl.String, "one_on_one_shown": pl.Boolean}


def _one_on_one_shown(tables: Tables) -> pl.DataFrame:
    """Per encounter and billed code with a one-on-one requirement: whether the note shows direct one-on-one contact,
    as the note reader reads it (words it knows, or the code's own timed service documented with its minutes and no
    group), not as literal words. Only the notes of encounters billing such a code are read (and the readings are
    shared with the notes rules through the tables' memo when those ran)."""
    reqs, _ = requirements()
    codes = {code for req in reqs if req.check == "one_on_one" for code in req.codes}
    patterns = [req.pattern for req in reqs if req.check == "one_on_one" and req.pattern]
    billed = (tables.lines.filter(pl.col("code").is_in(sorted(codes))).select("encounter_id", "code").unique()
              .join(tables.encounters.select("encounter_id", "note").filter(_HAS_NOTE), on="encounter_id"))
    if billed.is_empty():
        return pl.DataFrame(schema=_ONE_ON_ONE_SCHEMA)
    readings = _readings_of(tables, billed.get_column("encounter_id").unique().to_list())
    rows = [{"encounter_id": eid, "code": code,
             "one_on_one_shown": one_on_one_shown(readings[eid], note, code, patterns)}
            for eid, code, note in billed.iter_rows()]
    return pl.DataFrame(rows, schema=_ONE_ON_ONE_SCHEMA)


def _readings_of(tables: Tables, encounter_ids: list[str]) -> dict[str, NoteReading]:
    from cleanclaim.notes.frames import note_readings

    if len(encounter_ids) * 4 >= tables.encounters.height or tables.has_memo("note_readings"):
        return note_readings(tables)
    frame = tables.encounters.filter(pl.col("encounter_id").is_in(encounter_ids)).select("encounter_id", "note")
    ids, notes = frame.get_column("encounter_id").to_list(), frame.get_column("note").to_list()
    return dict(zip(ids, read_notes(notes), strict=True))


def one_on_one_shown(reading: NoteReading, note: str, code: str, patterns: list[str]) -> bool:
    """Whether a note shows that ``code``'s service was direct one-on-one: the reader found the words (one_on_one
    True); or, with nothing making the visit a group, the note says so in the data file's words or documents the
    code's own service with its minutes (Pub. 100-02 ch. 15 s220.3.E asks for each intervention and its minutes, not
    for a phrase). A group reading (group size, group code) needs both the words and the code's own timed service."""
    timed_own = any(code in item.codes and item.minutes is not None and not item.group
                    for item in reading.interventions)
    said = any(re.search(pattern, note) for pattern in patterns)
    if reading.one_on_one is True:
        return True
    if reading.one_on_one is False:
        return said and timed_own
    return said or timed_own


@lru_cache(maxsize=16)
def _distinct_goal_rules(payers: ProfilesKey) -> pl.DataFrame:
    """One row per payer distinct-goals entry, code and partner code."""
    rows = [
        {"payer": payer_id, "code": code, "with_code": other, "goal_severity": entry.severity.value,
         "reason": entry.reason or "payer policy", "goal_reference": entry.reference or profile.name}
        for payer_id, profile in payers.items
        for entry in profile.distinct_goals
        for code in entry.codes
        for other in entry.with_codes
    ]
    return pl.DataFrame(rows, schema={"payer": pl.String, "code": pl.String, "with_code": pl.String,
                                      "goal_severity": pl.String, "reason": pl.String, "goal_reference": pl.String})


@register
class DistinctGoalsRequired(Rule):
    """Codes a payer wants documented with separate, distinct goals are billed together without them.

    What it checks:
        The payer profile's `distinct_goals` entries: when one of `codes` is billed on the same date for the patient as
        one of `with` codes, the note must state separate or distinct goals for each. Shipped only as an example
        (examples/payers/lcd-example.yaml: 97535 with 97116, 97760, 97761, 97763) because the LCD sentence behind it
        was not found: UNCONFIRMED, a warning.

    Why it matters:
        Where a contractor requires distinct goals for services that overlap (self-care training beside gait,
        orthotic or prosthetic training), a reviewer denies the second service when the record shows one goal for both.

    Example:
        payer: lcd-example
        lines: [{code: "97535", units: 1}, {code: "97116", units: 1}]
        note: "Gait and ADL training."

    Use instead:
        note: "Separate goals: 97535 - dress lower body independently; 97116 - walk 150 ft with cane."

    References:
        Payer profile distinct_goals (each names its source); coding-facts.md s2 and UNCONFIRMED item 3 (LCD language
        on distinct goals for orthotic/prosthetic training and concurrent services).
    """

    id = "CC805"
    slug = "distinct-goals-required"
    family = "frequency and documentation"
    severity = Severity.WARNING
    message = ("{code} is billed with {with_text} on {date} and the note does not state separate, distinct goals for "
               "each ({reason}; {goal_reference})")
    fix = "State a separate, distinct goal for {code} and for {with_text} in the note."
    references = ("Payer profile distinct_goals",
                  "coding-facts.md UNCONFIRMED item 3: the LCD orthotic/prosthetic distinct-goals language is "
                  "not confirmed in any readable LCD")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line bills a code of one of its payer's distinct-goals entries beside one of the entry's partner
        # codes, so the run bills both.
        codes, payers = tables.values("code"), tables.values("payer")
        for payer, profile in tables.payers.items():
            if payer in payers and any(not codes.isdisjoint(entry.codes) and not codes.isdisjoint(entry.with_codes)
                                       for entry in profile.distinct_goals):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        lines = tables.lines.lazy().select("encounter_id", "line", "code", "patient_id", "date", "payer")
        partners = lines.select("patient_id", "date", pl.col("code").alias("with_code")).unique()
        notes = tables.encounters.lazy().select("encounter_id", pl.col("note").fill_null(""))
        return (
            lines.join(_distinct_goal_rules(ProfilesKey(tables.payers)).lazy(), on=["payer", "code"], how="inner")
            .join(partners, on=["patient_id", "date", "with_code"], how="inner")
            .join(notes, on="encounter_id", how="left")
            .filter(_NO_DISTINCT_GOALS)
            .group_by("encounter_id", "line", "code", maintain_order=True).agg(_GOAL_TEXTS)
            .sort("encounter_id", "line")
        )


_NO_DISTINCT_GOALS = ~pl.col("note").str.contains(_DISTINCT_GOALS)
_GOAL_TEXTS = [
    pl.col("with_code").unique().sort().str.join(", ").alias("with_text"),
    pl.col("date").first().cast(pl.String), pl.col("reason").first(), pl.col("goal_reference").first(),
    pl.col("goal_severity").first().alias("severity"),
]

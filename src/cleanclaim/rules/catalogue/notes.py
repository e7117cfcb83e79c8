"""Notes: what the clinical note says against what was billed (the "provider note audit").

The note is read by `cleanclaim.notes.read_note` (lexicon, minutes, negation, signature); these rules join its
readings to the claim lines. Encounters without a note are not audited here (a claim file alone carries no
documentation). The 97535 functional goal and activity trained are documentation-missing-element's (CC804); an
encounter whose lines carry no minutes takes the note's (``scrub.check``), so units-exceed-time judges them.
Family ids CC1001-CC1006.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.notes.frames import note_facts, note_items, note_readings
from cleanclaim.rules.registry import CANNOT_FIRE, NO_ROWS, Rule, Screen, register
from cleanclaim.rules.tables import Tables, lines_with_codes
from cleanclaim.timing import allocate_cms, allocate_per_code, cms_total_units, cms_unit_range

FAMILY = "notes"


def _no_notes(tables: Tables) -> Screen | None:
    notes = tables.encounters.get_column("note")
    return CANNOT_FIRE if notes.null_count() == notes.len() else None


def _readable_facts(tables: Tables) -> pl.LazyFrame:
    return note_facts(tables).lazy().filter(pl.col("readable"))


@register
class UnitsNotSupportedByNote(Rule):
    """Billed units of a timed code are more than the note's minutes support under the payer's time rule.

    What it checks:
        For each billed 15-minute timed code the note gives minutes for, the units those minutes support. Under the
        CMS 8-minute rule (Medicare-style payers) the note's timed minutes of the day are pooled: their total decides
        the total units, each code gets its full 15-minute blocks, and the units left go to the codes with the most
        minutes left over (a tie is the clinician's choice: either answer passes). Timed services the note documents
        but the claim does not bill count toward the total too, as CMS counts every timed service furnished. Under a
        per-code payer (commercial, Medicaid, TRICARE profiles) each code is rounded on its own (rule of eights,
        8-22 minutes = 1 unit). A patient's same-day encounters of one payer and discipline are one day: their notes'
        minutes are pooled and held to the day's billed units (the coder bills the day's units on one of them); an
        encounter whose note times nothing is left out. Where every billed timed line's own minutes are the note's,
        units-exceed-time judges the same numbers and this rule stays silent; otherwise a line whose minutes (or
        services) say more than the note, or whose unit the day's total does not reach, is flagged here.

    Why it matters:
        A reviewer pays what the record supports: units above the note's minutes are an overpayment on review and
        are recouped (and extrapolated across a sample). Two timed codes of 12 and 8 minutes are 20 minutes, one
        unit under the CMS rule, not one unit each.

    Example:
        note: "TherEx x 12'. NMR 8-10 min. Signed Dana Whitlock, PT"
        lines: [{code: "97110", modifiers: [GP], units: 1, minutes: 12}, {code: "97112", modifiers: [GP], units: 1}]

    Use instead:
        note: "TherEx x 12'. NMR 8-10 min. Signed Dana Whitlock, PT"
        lines: [{code: "97110", modifiers: [GP], units: 1, minutes: 12}]

    References:
        CMS Pub 100-04 Ch.5 s20.2 (total timed minutes decide total units; units go to the services with the most
        minutes; coding-facts.md s3a); AMA CPT time rule as applied per code by commercial payers (coding-facts.md
        s3b).
    """

    id = "CC1001"
    slug = "units-not-supported-by-note"
    family = FAMILY
    severity = Severity.ERROR
    message = ("{code} is billed for {units} unit(s), but {documented} {note_minutes} minute(s) of it "
               "(\"{note_text}\"){support} under the {time_rule_label}")
    fix = "{fix_text}"
    references = ("CMS Pub 100-04 Ch.5 s20.2", "coding-facts.md s3a-s3b")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.DataFrame:
        readings = note_readings(tables)
        if not readings:
            return NO_ROWS
        # only notes that time something are judged (one that gives no minutes, or cannot be read, says nothing
        # about units: its lines are left to missing-minutes and note-unreadable, and do not join its day)
        timing = {eid: reading for eid, reading in readings.items()
                  if any(item.minutes is not None for item in reading.interventions)}
        readings = timing
        if not readings:
            return NO_ROWS
        lines = lines_with_codes(tables).filter(
            pl.col("encounter_id").is_in(list(readings)) & (pl.col("time_rule") == "timed15"))
        # a patient's same-day encounters (one payer, one discipline) are one day of timed minutes: the coder puts
        # the day's units on one of them, and CMS counts the day's total (Pub 100-04 ch.5 s20.2)
        day_of = {str(eid): day for eid, *day in tables.encounters.filter(pl.col("encounter_id").is_in(
            list(readings))).select("encounter_id", "patient_id", "date", "payer", "provider_discipline").iter_rows()}
        notes_of: dict[tuple[Any, ...], list[str]] = {}
        for eid in readings:
            notes_of.setdefault(tuple(day_of.get(str(eid), [eid])), []).append(str(eid))
        # each day's lines in their order, in one pass (a group_by iteration gathered a frame per encounter: a second
        # for 10,000 notes)
        groups: dict[tuple[Any, ...], list[tuple[str, float, int, int | None, str, str]]] = {}
        for encounter_id, code, units, line, line_minutes, payer in lines.select(
                "encounter_id", "code", "units", "line", "minutes", "payer").iter_rows():
            groups.setdefault(tuple(day_of.get(str(encounter_id), [encounter_id])), []).append(
                (code, units, line, line_minutes, payer, encounter_id))
        timed = _timed_codes(tables) if groups else frozenset()
        rows: list[dict[str, Any]] = []
        for day, group in groups.items():
            day_notes = notes_of.get(day, [])
            billed = {code for code, *_ in group}
            minutes: dict[str, int] = {}
            texts: dict[str, list[str]] = {}
            for eid in day_notes:
                for item in readings[eid].interventions:
                    code = next((c for c in item.codes if c in billed), item.code)
                    if code is None or item.minutes is None or (code not in billed and code not in timed):
                        continue
                    minutes[code] = minutes.get(code, 0) + item.minutes
                    texts.setdefault(code, []).append(item.text if len(day_notes) == 1 else f"{eid}: {item.text}")
            if not billed.intersection(minutes):
                continue
            documented = ("the note documents" if len(day_notes) == 1
                          else f"the patient's {len(day_notes)} notes of the day document")
            profile = tables.payers.get(group[0][4])
            cms = profile is None or profile.time_rule == "cms"
            label = profile.time_rule_label if profile else "CMS 8-minute rule"
            billed_units: dict[str, float] = {}
            first_line: dict[str, tuple[str, int]] = {}
            line_minutes_of: dict[str, int | None] = {}
            for code, units, line, line_minutes, _, encounter_id in group:
                billed_units[code] = billed_units.get(code, 0.0) + units
                first_line.setdefault(code, (encounter_id, line))
                line_minutes_of[code] = (line_minutes_of.get(code) or 0) + line_minutes if line_minutes is not None \
                    else line_minutes_of.get(code)
            # the lines' own minutes are the note's, code for code, and the note times nothing else: units-exceed-time
            # judges these very numbers (a second finding would only repeat it)
            if all(line_minutes_of.get(code) == total for code, total in minutes.items()):
                continue
            most = {code: high for code, (_, high) in cms_unit_range(minutes).items()} if cms \
                else allocate_per_code(minutes).units
            pooled = cms and len(minutes) > 1
            total_minutes, total_units = sum(minutes.values()), cms_total_units(sum(minutes.values()))
            for code, units in billed_units.items():
                if code not in minutes:
                    continue  # a billed code the note does not time: billed-code-not-in-note's
                if not cms and line_minutes_of.get(code) == minutes[code]:
                    continue  # per code, units-exceed-time judges this code's very minutes
                supported = most.get(code, 0)
                if units <= supported:
                    continue
                support = f", which support {supported} unit(s) of {code}"
                correct = "correct the note if more minutes were furnished and documented at the time."
                fix_text = f"Bill {supported} unit(s) of {code}, or {correct}"
                if pooled:
                    support = (f"; the timed minutes of the day total {total_minutes} ("
                               + ", ".join(f"{c} {m} min" for c, m in minutes.items())
                               + f"), {total_units} unit(s) in all, of which {supported} for {code}")
                    if supported == 0:
                        given = ", ".join(f"{c} ({minutes[c]} min)" for c, n in allocate_cms(minutes).units.items()
                                          if n)
                        to_whom = f": the day's {total_units} unit(s) go to {given}, the services with the most " \
                                  "minutes," if given else ","
                        fix_text = f"Remove the {code} line{to_whom} or {correct}"
                elif supported == 0:
                    fix_text = f"Remove the {code} line, or {correct}"
                rows.append({"encounter_id": first_line[code][0], "line": first_line[code][1], "code": code,
                             "units": f"{units:g}", "documented": documented, "note_minutes": minutes[code],
                             "note_text": "; ".join(texts[code]), "support": support, "fix_text": fix_text,
                             "time_rule_label": label})
        if not rows:
            return NO_ROWS
        return pl.DataFrame(rows).with_columns(pl.col("line").cast(pl.Int32))


def _timed_codes(tables: Tables) -> frozenset[str]:
    """The 15-minute timed codes of the run's code book (a note's unbilled timed service counts toward the total)."""
    return tables.memo("timed15_codes", lambda t: frozenset(
        t.codes.filter(pl.col("time_rule") == "timed15").get_column("code").unique().to_list()))


_BILLED = ["encounter_id", "line", "code"]


@register
class BilledCodeNotInNote(Rule):
    """A billed code the note never names as furnished (or says was not furnished).

    What it checks:
        Each billed line whose code the note reader knows (therapy, HBAI, counseling, coaching codes in
        cleanclaim/notes/lexicon.yaml), against the services the note says were furnished: by name, abbreviation or
        code. A code named only as declined, deferred, planned or as history is reported with what the note says.
        Codes outside the lexicon (E/M, labs) are not judged. An unreadable note is note-unreadable's.

    Why it matters:
        A service the record does not show was furnished is denied on review and recouped; one the note says the
        patient declined is a false claim if billed knowingly.

    Example:
        note: "TherEx 25 min. Pt declined gait training today. Dana Whitlock, PT"
        lines: [{code: "97110", units: 2}, {code: "97116", units: 1}]

    Use instead:
        lines: [{code: "97110", units: 2}]

    References:
        CMS Pub 100-08 Ch.3 s3.3.2.1 (review of the medical record supports the service billed); CMS Pub 100-02 Ch.15
        s220.3 (therapy documentation: the treatment note records each intervention).
    """

    id = "CC1002"
    slug = "billed-code-not-in-note"
    family = FAMILY
    severity = Severity.WARNING
    message = "{code} is billed but the note {what}"
    fix = ("Remove the {code} line, or, if it was furnished, document it (what was done and for how long) in the "
           "note at the time of service; a note cannot be amended to support a claim after the fact.")
    references = ("CMS Pub 100-08 Ch.3 s3.3.2.1", "CMS Pub 100-02 Ch.15 s220.3")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.LazyFrame:
        from cleanclaim.notes.lexicon import lexicon

        known = list(lexicon().names_by_code)
        items = note_items(tables).lazy().explode("item_codes").rename({"item_codes": "code"})
        furnished = items.filter(pl.col("furnished")).select("encounter_id", "code").unique()
        negated = (items.filter(~pl.col("furnished") & (pl.col("reason") != "not-separate"))
                   .group_by("encounter_id", "code").agg(pl.col("reason").first(), pl.col("item_text").first()))
        lines = tables.lines.lazy().select(_BILLED).filter(pl.col("code").is_in(known))
        return (
            lines.join(_readable_facts(tables).select("encounter_id"), on="encounter_id", how="inner")
            .join(furnished, on=["encounter_id", "code"], how="anti")
            .join(negated, on=["encounter_id", "code"], how="left")
            .with_columns(what=pl.when(pl.col("reason").is_not_null())
                          .then(pl.format("says it was not furnished today ({}: \"{}\")", pl.col("reason"),
                                          pl.col("item_text")))
                          .otherwise(pl.lit("never names it as furnished")))
            .select(*_BILLED, "what")
            .sort("encounter_id", "line")
        )


@register
class ServiceInNoteNotBilled(Rule):
    """A service the note documents as furnished is not billed (a possible missed charge).

    What it checks:
        Each intervention the note says was furnished (not declined, planned, history, or part of another service
        such as a home-program review) whose codes are not among the encounter's billed lines. Only encounters with
        billed lines; informational.

    Why it matters:
        Unbilled documented services are lost revenue; when they are bundled or not covered, the finding shows the
        biller checked them.

    Example:
        note: "TherEx 20 min, MT 10 min. Dana Whitlock, PT"
        lines: [{code: "97110", units: 2}]

    Use instead:
        lines: [{code: "97110", units: 1}, {code: "97140", units: 1}]

    References:
        CMS Pub 100-04 Ch.5 s20.2 (every timed service's minutes count toward the day's units); the code's
        lexicon entry (cleanclaim/notes/lexicon.yaml) names the source of the mapping.
    """

    id = "CC1003"
    slug = "service-in-note-not-billed"
    family = FAMILY
    severity = Severity.INFO
    message = "The note documents {item_name} (\"{item_text}\", {codes_text}) but no line bills it"
    fix = "Bill {code} if it was a separate, covered service, or note why it is not billed."
    references = ("CMS Pub 100-04 Ch.5 s20.2", "cleanclaim/notes/lexicon.yaml")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.LazyFrame:
        billed = tables.lines.lazy().group_by("encounter_id").agg(pl.col("code").unique().alias("billed"))
        return (
            note_items(tables).lazy().filter(pl.col("furnished") & pl.col("item_code").is_not_null())
            .join(billed, on="encounter_id", how="inner")
            .filter(pl.col("item_codes").list.set_intersection(pl.col("billed")).list.len() == 0)
            .unique(subset=["encounter_id", "item_code"], keep="first", maintain_order=True)
            .select("encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"), pl.col("item_code").alias("code"),
                    "item_name", "item_text",
                    pl.col("item_codes").list.join(" or ").alias("codes_text"))
            .sort("encounter_id")
        )


@register
class TimedMinutesExceedTreatmentTime(Rule):
    """The note's total timed minutes (stated, or the sum of its services' minutes) are more than its total
    treatment time.

    What it checks:
        Notes that state a total treatment time: the total timed minutes they state, else the sum of the minutes of
        the services they document, must not be more (timed minutes are part of the treatment time).

    Why it matters:
        Contradictory totals discredit the note's minutes: a reviewer then pays from the smaller figure, or denies
        the timed units outright.

    Example:
        note: "TherEx 25 min, GT 15 min. Total timed minutes: 40. Total treatment time: 30 min."

    Use instead:
        note: "TherEx 25 min, GT 15 min. Total timed minutes: 40. Total treatment time: 45 min."

    References:
        CMS Pub 100-04 Ch.5 s20.2 (record the total timed-code minutes and the total treatment time); Billing and
        Coding article A57067.
    """

    id = "CC1004"
    slug = "timed-minutes-exceed-treatment-time"
    family = FAMILY
    severity = Severity.WARNING
    message = ("The note's {timed_source} ({timed} min) are more than its total treatment time "
               "({total_treatment_minutes} min)")
    fix = "Correct the note's totals so the timed minutes are part of the total treatment time."
    references = ("CMS Pub 100-04 Ch.5 s20.2", "Billing and Coding article A57067")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.LazyFrame:
        stated = pl.col("total_timed_minutes").is_not_null()
        return (
            _readable_facts(tables)
            .filter(pl.col("total_treatment_minutes").is_not_null())
            .with_columns(timed=pl.coalesce("total_timed_minutes", "documented_minutes"),
                          timed_source=pl.when(stated).then(pl.lit("total timed minutes"))
                          .otherwise(pl.lit("services' documented minutes")))
            .filter(pl.col("timed") > pl.col("total_treatment_minutes"))
            .select("encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"),
                    pl.lit(None, dtype=pl.String).alias("code"), "timed", "timed_source",
                    "total_treatment_minutes")
        )


@register
class NoteNotSigned(Rule):
    """The note has no signature, or a signature without the professional credentials of the one who signed.

    What it checks:
        A readable note must carry a signature ("Signed by", "Electronically signed", "/s/", or a closing line of a
        name and credentials) with a professional credential (PT, PTA, OTR/L, CCC-SLP, LCSW, NBC-HWC ... as listed
        in cleanclaim/notes/lexicon.yaml). A degree alone (MS, MA) is not a professional identity.

    Why it matters:
        Medicare reviewers disregard an unsigned entry, and the services it documents are denied; the credential
        shows who furnished the service (therapist or assistant: the CQ/CO payment reduction depends on it).

    Example:
        note: "TherEx 25 min."

    Use instead:
        note: "TherEx 25 min. Electronically signed by Dana Whitlock, PT, DPT 03/02/2026"

    References:
        CMS Pub 100-08 Ch.3 s3.3.2.4 (signature requirements); CMS Pub 100-02 Ch.15 s220.3 (therapy documentation
        authenticated with the professional identity).
    """

    id = "CC1005"
    slug = "note-not-signed"
    family = FAMILY
    severity = Severity.WARNING
    message = "The note {what}"
    fix = ("Sign the note with your name and professional credentials (e.g. \"Dana Whitlock, PT\"); a late "
           "signature needs an attestation under the contractor's rules.")
    references = ("CMS Pub 100-08 Ch.3 s3.3.2.4", "CMS Pub 100-02 Ch.15 s220.3")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.LazyFrame:
        what = (pl.when(~pl.col("signed")).then(pl.lit("is not signed"))
                .when(pl.col("signed_by").is_null())
                .then(pl.format("has a signature without a name (\"{}\")", pl.col("signature_text")))
                .otherwise(pl.format("is signed by {} without a professional credential (PT, OTR/L, CCC-SLP, "
                                     "LCSW, NBC-HWC ...)", pl.col("signed_by"))))
        return (
            _readable_facts(tables)
            .filter(~pl.col("signed") | pl.col("signed_by").is_null() | ~pl.col("professional"))
            .select("encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"),
                    pl.lit(None, dtype=pl.String).alias("code"), what.alias("what"))
        )


@register
class NoteUnreadable(Rule):
    """The note could not be read, or not completely: empty, binary, too long, HTML or RTF pasted in, or written
    in a language the reader does not know.

    What it checks:
        Each encounter's ``note:`` before the other note rules read it. An empty or binary note is not read at all
        (the other note rules skip it); markup is skipped and the text read; a note past 200,000 characters is read
        up to there.

    Why it matters:
        A note that cannot be read cannot support the claim: the reviewer sees what the reader sees. Markup and
        pasted documents are also how cloned and boilerplate notes get in.

    Example:
        note: ""

    Use instead:
        note: "TherEx 25 min. Dana Whitlock, PT"

    References:
        CMS Pub 100-08 Ch.3 s3.3.2.4 and Pub 100-02 Ch.15 s220.3 (a legible, authenticated record of the services).
    """

    id = "CC1006"
    slug = "note-unreadable"
    family = FAMILY
    severity = Severity.WARNING
    message = "The note {problem_text}"
    fix = ("Give the note as plain text in the language of the record: the treatment note itself, not a document "
           "or web page pasted in.")
    references = ("CMS Pub 100-08 Ch.3 s3.3.2.4", "CMS Pub 100-02 Ch.15 s220.3")

    def screen_for(self, tables: Tables) -> Screen | None:
        return _no_notes(tables)

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            note_facts(tables).lazy().filter(pl.col("problem").list.len() > 0)
            .select("encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"),
                    pl.lit(None, dtype=pl.String).alias("code"),
                    pl.col("problem").list.join("; ").str.replace(r"^the note ", "").alias("problem_text"))
        )

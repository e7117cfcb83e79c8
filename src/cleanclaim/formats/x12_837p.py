"""837P professional claims (ASC X12N 005010X222A1): write encounters as an 837P file and read them back.

The writer refuses to produce a file a clearinghouse would reject for a missing element: it checks every
encounter first and raises one :class:`ClaimFileError` listing every missing field of every claim, so a user
fixes them in one pass. The reader is our own (LinuxForHealth x12 needs pydantic 1); it keeps reading past a
damaged claim or transaction and reports where the damage is, by segment number, loop and element.

Loop and segment usage follows the 005010X222A1 TR3 as validated by pyx12's 837.5010.X222.A1 map: 1000A/1000B
submitter and receiver, 2000A/2010AA billing provider, 2000B/2010BA/2010BB subscriber and payer, 2000C/2010CA
patient when the patient is not the subscriber, 2300 claim (CLM, HI, REF), 2310A referring and 2310B rendering
provider, 2400 service line (LX, SV1, DTP*472, REF). The TR3's loop repeats hold: a patient's claims go at most 100
to a 2000B/2000C level (the next 100 under a new level for the same people), and a claim of more than 50 lines,
13 diagnoses, or a REF the loop has no place for is refused by name rather than written for the 999 to reject.

What a valid file may hold is read, not refused: SV103 MJ (minutes: kept as ``minutes`` with ``units`` 1 and
``unit_code`` MJ; the code's units are not derived from them, that would guess the payer's time rule), DTP*472 RD8
ranges (``date`` .. ``date_through``), a line place of service (SV105) that differs from CLM05, ICD-9-CM (HI BK/BF,
kept as "ICD9:code" for ``invalid-diagnosis`` to report), wrong SE/GE/IEA counts (reported, claims read), and two
claims with one CLM01 (the second becomes ``CLM01#2``; ``duplicate-claim-id`` reports both). A claim read from a file
is written back as billed; what the encounter cannot carry (2320/2330 other payers, 2310C facility, ...) is listed
in ``x12_not_carried`` and the writer refuses that claim, naming it, rather than lose it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from cleanclaim.errors import UNFORESEEN, InputError
from cleanclaim.formats.claim_requirements import ICD9_PREFIX, billing_zip_gap
from cleanclaim.formats.files import write_file
from cleanclaim.formats.x12 import (
    Delimiters,
    Segment,
    Transaction,
    X12SegmentError,
    format_amount,
    parse_envelope,
    read_x12_text,
    segments_text,
)
from cleanclaim.model import (
    Address,
    BillingProvider,
    ClaimLine,
    Discipline,
    Encounter,
    Patient,
    Provider,
    ReferringProvider,
    Subscriber,
)
from cleanclaim.rules.catalogue.claim import claim_document_problems

__all__ = [
    "IMPLEMENTATION_GUIDE",
    "ClaimFileError",
    "Submitter",
    "X12Read837",
    "read_837p",
    "write_837p",
    "write_837p_file",
]

IMPLEMENTATION_GUIDE = "005010X222A1"

# SBR09 claim filing indicator (X12 element 1032): MB Medicare Part B, MC Medicaid, CH TRICARE, CI commercial.
CLAIM_FILING_CODES: dict[str, str] = {"medicare": "MB", "medicaid": "MC", "tricare": "CH"}
DEFAULT_CLAIM_FILING_CODE = "CI"
# The reverse, for reading: which payer profile a claim filing indicator points at when no mapping is given.
PAYER_PROFILE_BY_FILING_CODE: dict[str, str] = {"MB": "medicare", "MC": "medicaid", "CH": "tricare"}
DEFAULT_PAYER_PROFILE = "commercial"

# SBR02 / PAT01 individual relationship codes (X12 element 1069) used by 005010X222A1.
RELATIONSHIP_CODES: dict[str, str] = {
    "self": "18", "spouse": "01", "child": "19", "employee": "20", "unknown": "21",
    "organ donor": "39", "cadaver donor": "40", "life partner": "53", "other": "G8",
}
RELATIONSHIP_BY_CODE = {code: name for name, code in RELATIONSHIP_CODES.items()}

# NUCC Health Care Provider Taxonomy prefixes (https://taxonomy.nucc.org) -> the discipline cleanclaim's rules
# use. 207*/208* are allopathic and osteopathic physicians alike; the taxonomy does not tell an MD from a DO.
DISCIPLINE_BY_TAXONOMY_PREFIX: tuple[tuple[str, Discipline], ...] = (
    ("2251", Discipline.PT), ("225X", Discipline.OT), ("235Z", Discipline.SLP),
    ("363L", Discipline.NP), ("363A", Discipline.PA), ("364S", Discipline.CNS), ("367A", Discipline.CNM),
    ("103T", Discipline.PSYCHOLOGIST), ("1041C", Discipline.CSW), ("106H", Discipline.MFT),
    ("101Y", Discipline.MHC), ("133V", Discipline.RD), ("163W", Discipline.RN), ("172V", Discipline.CHW),
    ("207", Discipline.MD), ("208", Discipline.MD),
)

# HI can carry 12 diagnoses on a professional claim; SV107 points at up to 4 of them.
MAX_DIAGNOSES = 12
# Loop repeats of the 005010X222A1 TR3 (pyx12's 837.5010.X222.A1 map): loop 2400 at most 50 times per claim, loop
# 2300 at most 100 times per subscriber (2000B) or patient (2000C) level. A receiver's 999 rejects more (IK3 code 4).
MAX_LINES = 50
MAX_CLAIMS_PER_HL = 100
MAX_POINTERS = 4
MAX_MODIFIERS = 4
# Numbers read from a file: the TR3's maximum lengths leave room for values no claim has (CLM02 and SV102 are R 1/18),
# and past 10 integer digits a dollar amount's cents overflow 64-bit arithmetic downstream; SV104 is R 1/15.
MAX_AMOUNT_LENGTH = 12
MAX_QUANTITY_LENGTH = 15
_ICD10_NO_DOT = re.compile(r"^[A-Z][0-9][0-9A-Z]([0-9A-Z]{1,4})?$")
# ICD-9-CM diagnosis codes without the dot: 3-5 digits, V and 2-4 digits, E and 3-4 digits (read with ICD9_PREFIX)
_ICD9_NO_DOT = re.compile(r"^(?:[0-9]{3,5}|V[0-9]{2,4}|E[0-9]{3,4})$")


@dataclass(frozen=True)
class Submitter:
    """Loop 1000A: who sends the file, and whom the receiver calls about it (PER needs a phone or email)."""

    name: str
    contact_name: str
    phone: str | None = None
    email: str | None = None


class ClaimFileError(InputError):
    """Claims that lack what an 837P requires. ``problems`` maps each encounter id to every missing field."""

    def __init__(self, problems: Mapping[str, Sequence[str]], *, file: str | None = None) -> None:
        self.problems = {encounter: list(fields) for encounter, fields in problems.items()}
        lines = [f"{encounter}: {'; '.join(fields)}" for encounter, fields in self.problems.items()]
        count = sum(len(fields) for fields in self.problems.values())
        super().__init__(
            f"{len(self.problems)} claim(s) cannot be written as an 837P ({count} problem(s)), nothing was "
            "written:\n  " + "\n  ".join(lines),
            file=file,
        )


# ---------------------------------------------------------------------------------------------------- writer


def write_837p(
    encounters: Sequence[Encounter],
    *,
    sender_id: str,
    receiver_id: str,
    submitter: Submitter,
    receiver_name: str,
    interchange_control_number: int = 1,
    group_control_number: int = 1,
    usage: Literal["T", "P"] = "T",
    now: dt.datetime | None = None,
    payer_names: Mapping[str, str] | None = None,
    claim_filing_codes: Mapping[str, str] | None = None,
    delimiters: Delimiters | None = None,
    line_breaks: bool = True,
) -> str:
    """One interchange with one 837P transaction holding every encounter's claim.

    The payer name written in 2010BB is the encounter's ``payer_name``; without one, ``payer_names`` maps the payer
    profile id to a name, else the profile id in capitals stands in. ``claim_filing_codes`` overrides SBR09 per
    payer profile.
    """
    delimiters = delimiters or Delimiters()
    now = now or dt.datetime.now()
    problems = _envelope_problems(sender_id, receiver_id, submitter, receiver_name, usage,
                                  interchange_control_number, group_control_number)
    if not encounters:
        problems.setdefault("(file)", []).append("no encounters to write")
    for encounter in encounters:
        missing = [*_claim_problems(encounter), *_component_problems(encounter, delimiters),
                   *_date_problems(encounter)]
        if missing:
            problems.setdefault(encounter.id, []).extend(missing)
    rows_preview = None if problems else _transaction_rows(
        encounters, submitter, sender_id, receiver_name, receiver_id, now, interchange_control_number,
        payer_names or {}, {**CLAIM_FILING_CODES, **(claim_filing_codes or {})}, delimiters)
    if rows_preview is not None:
        problems.update(_separator_problems(rows_preview, delimiters))
    if problems or rows_preview is None:
        raise ClaimFileError(problems)

    isa = [
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender_id.ljust(15), "ZZ", receiver_id.ljust(15),
        now.strftime("%y%m%d"), now.strftime("%H%M"), delimiters.repetition, "00501",
        f"{interchange_control_number:09d}", "0", usage, delimiters.component,
    ]
    gs = ["GS", "HC", sender_id, receiver_id, now.strftime("%Y%m%d"), now.strftime("%H%M"),
          str(group_control_number), "X", IMPLEMENTATION_GUIDE]
    transaction = [row for _, row in rows_preview]
    rows = [isa, gs, *transaction, ["GE", "1", str(group_control_number)],
            ["IEA", "1", f"{interchange_control_number:09d}"]]
    return segments_text(rows, delimiters, line_breaks=line_breaks)


def write_837p_file(path: str | Path, encounters: Sequence[Encounter], **options: Any) -> Path:
    """Write the 837P to ``path`` only when every claim is complete, whole or not at all.

    A failed check writes nothing; a failed write (full disk, missing folder) is an :class:`InputError` naming the
    path and leaves any earlier file at ``path`` as it was, never half a file a clearinghouse would take.
    """
    text = write_837p(encounters, **options)
    target = Path(path)
    write_file(target, text.encode("ascii"))
    return target


def _envelope_problems(
    sender_id: str, receiver_id: str, submitter: Submitter, receiver_name: str, usage: str,
    interchange_control_number: int, group_control_number: int,
) -> dict[str, list[str]]:
    wrong = []
    for name, value in (("sender_id", sender_id), ("receiver_id", receiver_id)):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,14}", value or ""):
            wrong.append(f"{name} must be 1 to 15 letters, digits, spaces, '.', '_' or '-' (ISA06/ISA08), "
                         f"got {value!r}")
    if not submitter.name:
        wrong.append("submitter.name")
    if not submitter.contact_name:
        wrong.append("submitter.contact_name")
    if not (submitter.phone or submitter.email):
        wrong.append("submitter.phone or submitter.email (PER needs one way to reach the contact)")
    if not receiver_name:
        wrong.append("receiver_name")
    if usage not in ("T", "P"):
        wrong.append(f"usage must be 'T' (test) or 'P' (production), got {usage!r}")
    if not 0 < interchange_control_number < 10**9:
        wrong.append("interchange_control_number must be 1 to 999999999")
    if not 0 < group_control_number < 10**9:
        wrong.append("group_control_number must be 1 to 999999999")
    return {"(file)": wrong} if wrong else {}


def _claim_problems(encounter: Encounter) -> list[str]:
    """Every field this encounter lacks for an 837P claim, in the order of the file."""
    missing = claim_document_problems(encounter)
    billing = encounter.billing_provider
    if billing is None:
        missing += ["billing_provider.name", "billing_provider.npi", "billing_provider.tax_id",
                    "billing_provider.address"]
    elif (zip_gap := billing_zip_gap(billing.address.zip)) is not None:
        missing.append(zip_gap)
    subscriber = encounter.subscriber
    if subscriber is None:
        missing.append("subscriber.member_id")
    else:
        if not subscriber.member_id:
            missing.append("subscriber.member_id")
        if subscriber.relationship.lower() not in RELATIONSHIP_CODES:
            missing.append(f"subscriber.relationship {subscriber.relationship!r} is not one of "
                           f"{', '.join(RELATIONSHIP_CODES)}")
        elif subscriber.relationship.lower() != "self" and not subscriber.last_name:
            missing.append("subscriber.last_name (the subscriber is not the patient)")
        elif subscriber.relationship.lower() == "self":
            # 2010BA names the patient when the patient is the subscriber: two different names cannot both go
            missing += [f"subscriber.{name} differs from patient.{name} though the relationship is self"
                        for name in ("first_name", "last_name")
                        if getattr(subscriber, name) and getattr(encounter.patient, name)
                        and getattr(subscriber, name).upper() != getattr(encounter.patient, name).upper()]
    if not encounter.payer_id:
        missing.append("payer_id")
    patient = encounter.patient
    missing += [f"patient.{name}" for name in ("first_name", "last_name", "birth_date", "sex", "address")
                if getattr(patient, name) is None or getattr(patient, name) == ""]
    claim_id = encounter.claim_id or encounter.id
    if len(claim_id) > 20:
        missing.append(f"claim_id must be at most 20 characters (CLM01), got {len(claim_id)}")
    missing += _diagnosis_problems(encounter.diagnoses)
    if billing is not None and encounter.provider.npi != billing.npi:
        missing += [f"provider.{name} (rendering provider differs from the billing provider)"
                    for name in ("last_name", "first_name") if not getattr(encounter.provider, name)]
    if encounter.x12_not_carried:
        missing.append("read from an 837P with data cleanclaim does not write, which a new file would lose: "
                       + ", ".join(encounter.x12_not_carried))
    if billing is not None and encounter.provider.npi == billing.npi and (encounter.references or {}).get("2310B"):
        missing.append("references 2310B: the rendering provider is the billing provider, so no 2310B is written")
    missing += _reference_problems(encounter)
    if not encounter.lines:
        missing.append("lines (at least one billed line)")
    elif len(encounter.lines) > MAX_LINES:
        # splitting would make claims the user never made (and split the claim total): the user decides how
        missing.append(f"lines: an 837P claim carries at most {MAX_LINES} service lines (loop 2400), got "
                       f"{len(encounter.lines)}; bill them as several claims of at most {MAX_LINES} lines")
    for number, line in enumerate(encounter.lines, start=1):
        missing += [f"lines[{number}].{problem}" for problem in _line_problems(line, len(encounter.diagnoses),
                                                                               encounter.provider.npi or "")]
    if encounter.total_charge is not None and all(line.charge is not None for line in encounter.lines):
        line_total = sum((line.charge for line in encounter.lines if line.charge is not None), Decimal(0))
        if line_total != encounter.total_charge:
            missing.append(f"total_charge {encounter.total_charge} is not the sum of the line charges "
                           f"{line_total} (CLM02 must equal the sum of SV102)")
    return missing


def _reference_problems(encounter: Encounter) -> list[str]:
    """REF segments the file would carry where the TR3 has no place for them, or more than it allows.

    Written as given they would make the receiver's 999 reject the file; dropped they would be lost silently.
    """
    problems = []
    for loop, refs in (encounter.references or {}).items():
        allowed = _REF_QUALIFIERS.get(loop)
        if allowed is None:
            problems.append(f"references {loop}: the writer writes REF segments in loops "
                            f"{', '.join(_REF_QUALIFIERS)} only")
            continue
        if loop == "2310A" and refs and encounter.referring_provider is None:
            problems.append("references 2310A: there is no referring_provider (NM1*DN) for them to follow")
        problems += [f"references {loop} REF*{qualifier}: the 837P allows only {', '.join(allowed)} in loop {loop}"
                     for qualifier in refs if qualifier not in allowed]
        payer_refs = [qualifier for qualifier in refs if qualifier in _PAYER_SECONDARY_QUALIFIERS]
        if loop == "2010BB" and len(payer_refs) > MAX_PAYER_SECONDARY_REFS:
            problems.append(f"references 2010BB: at most {MAX_PAYER_SECONDARY_REFS} payer secondary ids "
                            f"({', '.join(_PAYER_SECONDARY_QUALIFIERS)}), got {len(payer_refs)}")
    for number, line in enumerate(encounter.lines, start=1):
        problems += [f"lines[{number}].references REF*{qualifier}: the 837P allows only "
                     f"{', '.join(_REF_QUALIFIERS['2400'])} in loop 2400"
                     for qualifier in line.references or {} if qualifier not in _REF_QUALIFIERS["2400"]]
    return problems


def _diagnosis_problems(diagnoses: Sequence[str]) -> list[str]:
    if not diagnoses:
        return ["diagnoses (at least one ICD-10-CM code)"]
    problems = [f"diagnoses[{n}] {code!r} is not an ICD-10-CM code" for n, code in enumerate(diagnoses, 1)
                if not _ICD10_NO_DOT.match(code.replace(".", ""))]
    if len(diagnoses) > MAX_DIAGNOSES:
        problems.append(f"diagnoses: an 837P claim carries at most {MAX_DIAGNOSES}, got {len(diagnoses)}")
    return problems


def _line_problems(line: ClaimLine, diagnosis_count: int, rendering_npi: str) -> list[str]:
    problems = []
    if line.charge is None:
        problems.append("charge")
    elif line.charge < 0:
        problems.append(f"charge must not be negative, got {line.charge}")
    if line.unit_code == "MJ" and not line.minutes:
        problems.append("minutes (the line is billed in minutes, SV103 MJ, and has none)")
    elif line.units <= 0:
        problems.append(f"units must be more than 0, got {line.units}")
    if len(line.modifiers) > MAX_MODIFIERS:
        problems.append(f"modifiers: at most {MAX_MODIFIERS} on a line, got {len(line.modifiers)}")
    if not line.dx_pointers:
        problems.append("dx_pointers (at least one diagnosis pointer)")
    elif len(line.dx_pointers) > MAX_POINTERS:
        problems.append(f"dx_pointers: at most {MAX_POINTERS}, got {len(line.dx_pointers)}")
    problems += [f"dx_pointers {pointer} points past the {diagnosis_count} diagnoses"
                 for pointer in line.dx_pointers if not 1 <= pointer <= max(diagnosis_count, 0)]
    if line.ndc:
        problems.append("ndc: drug lines (2410 LIN/CTP) are not written by cleanclaim yet")
    if line.rendering_npi and line.rendering_npi != rendering_npi:
        problems.append("rendering_npi differs from the encounter's provider; 2420A needs that provider's "
                        "name, which a line does not carry (split the claim by rendering provider)")
    return problems


# NM1 entity codes of the 2310 and 2420 loops cleanclaim does not carry, for naming what a re-export would lose
_CLAIM_PARTY_LOOPS = {"77": "2310C", "DQ": "2310D", "PW": "2310E", "45": "2310F", "P3": "2310A (P3)"}
_LINE_PARTY_LOOPS = {"QB": "2420B", "77": "2420C", "DQ": "2420D", "DK": "2420E", "DN": "2420F", "P3": "2420F",
                     "PW": "2420G", "45": "2420H"}

# 2300 REF segments in the order of the 005010X222A1 TR3 (they share one position, told apart by qualifier).
_CLAIM_REF_ORDER = ("4N", "F5", "EW", "9F", "G1", "F8", "X4", "9A", "9C", "LX", "D9", "EA", "P4", "1J")
# The REF qualifiers the 005010X222A1 TR3 allows in each loop the writer writes REFs in (pyx12's map agrees). Any
# other would be a segment the receiver does not expect (999 IK304 code 2); a qualifier appears once per loop here.
_REF_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "2010BB": ("2U", "EI", "FY", "NF", "G2", "LU"),
    "2300": _CLAIM_REF_ORDER,
    "2310A": ("0B", "1G", "G2"),
    "2310B": ("0B", "1G", "G2", "LU"),
    "2400": ("9B", "9D", "G1", "6R", "EW", "X4", "F4", "BT", "9F"),
}
# 2010BB "Payer Secondary Identification" REF has four qualifiers and a maximum use of 3.
_PAYER_SECONDARY_QUALIFIERS = ("2U", "EI", "FY", "NF")
MAX_PAYER_SECONDARY_REFS = 3

# Elements whose components the writer joins with the component separator; in every other element that separator
# is data the receiver would split (a modifier "G:P" reads back as G and P).
_COMPOSITES = {("CLM", 5), ("SV1", 1), ("SV1", 7), *(("HI", n) for n in range(1, 13))}
# Maximum lengths of the elements the writer fills from encounter data (005010X222A1 element attributes).
_MAX_LENGTHS: dict[tuple[str, int], int] = {
    ("NM1", 3): 60, ("NM1", 4): 35, ("NM1", 9): 80, ("N3", 1): 55, ("N3", 2): 55, ("N4", 1): 30,
    ("N4", 3): 15, ("REF", 2): 50, ("PER", 2): 60, ("PER", 4): 256, ("CLM", 1): 20, ("CLM", 2): 18,
    ("SV1", 2): 18, ("SV1", 4): 15, ("SBR", 3): 50, ("DMG", 2): 35,
}
# X12 dates are CCYYMMDD: a year before 1900 is a data-entry slip (0001 for "unknown"), never a service or birth
# date on a claim, and a year before 1000 does not fit four digits at all.
_EARLIEST_DATE = dt.date(1900, 1, 1)


def _separator_problems(rows: Iterable[tuple[str, list[str]]], delimiters: Delimiters) -> dict[str, list[str]]:
    """Values the file cannot carry as they are; refused rather than altered, so what is billed is what was given.

    A separator inside a name, id or code would split the element when read; a value longer than its element's
    maximum is truncated or rejected by the receiver. Messages name the element, never the value: it may be a
    patient's name or address.
    """
    problems: dict[str, list[str]] = {}
    reserved = {delimiters.element, delimiters.repetition, delimiters.segment}
    for owner, row in rows:
        for position, value in enumerate(row[1:], start=1):
            name = f"{row[0]}{position:02d}"
            # a composite's own component separators are the writer's; its values are checked before joining
            forbidden = reserved if (row[0], position) in _COMPOSITES else {*reserved, delimiters.component}
            bad = sorted(forbidden & set(value))
            if bad:
                problems.setdefault(owner, []).append(f"{name} contains the separator(s) {''.join(bad)!r}")
            # X12's extended character set is ASCII: a name with "é" must be spelled as the payer has it on file
            foreign = sorted({ch for ch in value if not (" " <= ch <= "~")})
            if foreign:
                problems.setdefault(owner, []).append(
                    f"{name} has characters outside the X12 character set ({''.join(foreign)!r})")
            limit = _MAX_LENGTHS.get((row[0], position))
            if limit is not None and len(value) > limit:
                problems.setdefault(owner, []).append(
                    f"{name} is {len(value)} characters long; the 837P allows at most {limit}")
    return problems


def _component_problems(encounter: Encounter, delimiters: Delimiters) -> list[str]:
    """Values written as components of a composite (procedure code, modifiers): a separator in one would make
    more components than were given, which `_separator_problems` cannot see once they are joined."""
    problems = []
    for number, line in enumerate(encounter.lines, start=1):
        for name, value in (("code", line.code), *((f"modifiers[{n}]", m) for n, m in enumerate(line.modifiers, 1))):
            bad = sorted(set(delimiters.all()) & set(value))
            if bad:
                problems.append(f"lines[{number}].{name} contains the separator(s) {''.join(bad)!r} (SV101)")
    return problems


def _date_problems(encounter: Encounter) -> list[str]:
    dates = [("date", encounter.date), ("patient.birth_date", encounter.patient.birth_date)]
    for number, line in enumerate(encounter.lines, start=1):
        dates += [(f"lines[{number}].date", line.date), (f"lines[{number}].date_through", line.date_through)]
    return [f"{name} is before {_EARLIEST_DATE.year} (an X12 date is CCYYMMDD; a year like 0001 is a placeholder, "
            "not a date)" for name, value in dates if value is not None and value < _EARLIEST_DATE]


def _x12_date(value: dt.date) -> str:
    return value.strftime("%Y%m%d")


def _composite(parts: Sequence[str], delimiters: Delimiters) -> str:
    values = list(parts)
    while values and not values[-1]:
        values.pop()
    return delimiters.component.join(values)


def _name_row(entity: str, entity_type: str, last: str, first: str | None, qualifier: str, ident: str) -> list[str]:
    return ["NM1", entity, entity_type, last, first or "", "", "", "", qualifier, ident]


def _address_rows(address: Address) -> list[list[str]]:
    return [["N3", address.line1, address.line2 or ""], ["N4", address.city, address.state, address.zip]]


def _transaction_rows(
    encounters: Sequence[Encounter], submitter: Submitter, sender_id: str, receiver_name: str,
    receiver_id: str, now: dt.datetime, reference: int, payer_names: Mapping[str, str],
    filing_codes: Mapping[str, str], delimiters: Delimiters,
) -> list[tuple[str, list[str]]]:
    """ST..SE rows, each tagged with the encounter id (or "(file)") it came from for error messages."""
    rows: list[tuple[str, list[str]]] = []

    def add(owner: str, *segment_rows: list[str]) -> None:
        rows.extend((owner, row) for row in segment_rows)

    contact = ["PER", "IC", submitter.contact_name]
    if submitter.phone:
        contact += ["TE", re.sub(r"\D", "", submitter.phone)]
    if submitter.email:
        contact += ["EM", submitter.email]
    add("(file)",
        ["ST", "837", "0001", IMPLEMENTATION_GUIDE],
        ["BHT", "0019", "00", str(reference), now.strftime("%Y%m%d"), now.strftime("%H%M"), "CH"],
        _name_row("41", "2", submitter.name, None, "46", sender_id), contact,
        _name_row("40", "2", receiver_name, None, "46", receiver_id))

    hl_number = 0
    for by_subscriber in _grouped(encounters).values():
        hl_number += 1
        billing_hl = hl_number
        first = by_subscriber[next(iter(by_subscriber))][0][0]
        billing_provider = first.billing_provider
        assert billing_provider is not None
        add(first.id, ["HL", str(billing_hl), "", "20", "1"])
        if billing_provider.taxonomy:
            add(first.id, ["PRV", "BI", "PXC", billing_provider.taxonomy])
        add(first.id, _name_row("85", "2", billing_provider.name, None, "XX", billing_provider.npi),
            *_address_rows(billing_provider.address), ["REF", "EI", billing_provider.tax_id])
        if billing_provider.phone:
            # 2010AA PER: the practice's own number, where the payer calls about its claims
            add(first.id, ["PER", "IC", billing_provider.name, "TE", billing_provider.phone])
        for by_patient in _subscriber_levels(by_subscriber.values()):
            lead = by_patient[0][0]
            subscriber = lead.subscriber
            assert subscriber is not None
            is_self = subscriber.relationship.lower() == "self"
            hl_number += 1
            subscriber_hl = hl_number
            filing_code = lead.claim_filing_code or filing_codes.get(lead.payer.lower(), DEFAULT_CLAIM_FILING_CODE)
            add(lead.id, ["HL", str(subscriber_hl), str(billing_hl), "22", "0" if is_self else "1"],
                ["SBR", "P", "18" if is_self else "", subscriber.group_number or "", "", "", "", "", "",
                 filing_code])
            patient = lead.patient
            if is_self:
                assert patient.address is not None
                assert patient.birth_date is not None
                assert patient.sex is not None
                add(lead.id, _name_row("IL", "1", subscriber.last_name or patient.last_name or "",
                                       subscriber.first_name or patient.first_name, "MI", subscriber.member_id or ""),
                    *_address_rows(patient.address),
                    ["DMG", "D8", _x12_date(patient.birth_date), patient.sex])
            else:
                add(lead.id, _name_row("IL", "1", subscriber.last_name or "", subscriber.first_name, "MI",
                                       subscriber.member_id or ""))
            # the encounter's own payer name first, then the caller's name for its profile, then the profile id
            payer_name = payer_names.get(lead.payer, lead.payer_display) if not lead.payer_name else lead.payer_display
            add(lead.id, _name_row("PR", "2", payer_name, None, "PI", lead.payer_id or ""),
                *(["REF", q, v] for q, v in (lead.references or {}).get("2010BB", {}).items()))
            for claims in by_patient:
                if not is_self:
                    hl_number += 1
                    dependent = claims[0].patient
                    assert dependent.address is not None
                    assert dependent.birth_date is not None
                    assert dependent.sex is not None
                    add(claims[0].id, ["HL", str(hl_number), str(subscriber_hl), "23", "0"],
                        ["PAT", RELATIONSHIP_CODES[subscriber.relationship.lower()]],
                        _name_row("QC", "1", dependent.last_name or "", dependent.first_name, "", ""),
                        *_address_rows(dependent.address),
                        ["DMG", "D8", _x12_date(dependent.birth_date), dependent.sex])
                for encounter in claims:
                    add(encounter.id, *_claim_rows(encounter, delimiters))
    count = len(rows) + 1
    add("(file)", ["SE", str(count), "0001"])
    return rows


def _grouped(encounters: Sequence[Encounter]) -> dict[tuple[Any, ...], dict[tuple[Any, ...], list[list[Encounter]]]]:
    """Billing provider -> subscriber (and payer) -> patient -> claims, in the order encounters came."""
    groups: dict[tuple[Any, ...], dict[tuple[Any, ...], dict[str, list[Encounter]]]] = {}
    for encounter in encounters:
        billing = encounter.billing_provider
        subscriber = encounter.subscriber
        assert billing is not None
        assert subscriber is not None
        billing_key = (billing.npi, billing.tax_id, billing.name, billing.taxonomy, billing.address.model_dump_json())
        is_self = subscriber.relationship.lower() == "self"
        subscriber_key = (subscriber.member_id, subscriber.first_name, subscriber.last_name,
                          subscriber.group_number, encounter.payer, encounter.payer_id, encounter.payer_name, is_self,
                          encounter.claim_filing_code, tuple((encounter.references or {}).get("2010BB", {}).items()),
                          encounter.patient.id if is_self else None, subscriber.relationship.lower())
        by_patient = groups.setdefault(billing_key, {}).setdefault(subscriber_key, {})
        by_patient.setdefault(encounter.patient.id, []).append(encounter)
    return {key: {sub: list(patients.values()) for sub, patients in subs.items()} for key, subs in groups.items()}


def _subscriber_levels(subscribers: Iterable[list[list[Encounter]]]) -> Iterator[list[list[Encounter]]]:
    """Each subscriber's patients as 2000B levels whose claims fit the TR3's 100 loop-2300 repeats per HL.

    A patient's claims go in runs of at most 100 (``MAX_CLAIMS_PER_HL``). Claims of a subscriber who is the patient
    sit directly under 2000B, so each run of 100 starts a new 2000B for the same subscriber; a dependent's runs
    become several 2000C levels under the one 2000B (2000C repeats without limit). Either way every claim keeps
    its subscriber, patient and payer loops, and a reader sees the same people again.
    """
    for by_patient in subscribers:
        runs = [claims[start:start + MAX_CLAIMS_PER_HL]
                for claims in by_patient for start in range(0, len(claims), MAX_CLAIMS_PER_HL)]
        subscriber = by_patient[0][0].subscriber
        assert subscriber is not None
        if subscriber.relationship.lower() == "self":
            yield from ([run] for run in runs)
        else:
            yield runs


def _claim_rows(encounter: Encounter, delimiters: Delimiters) -> list[list[str]]:
    line_total = sum((line.charge for line in encounter.lines if line.charge is not None), Decimal(0))
    kept = encounter.claim_elements or {}
    rows = [["CLM", encounter.claim_id or encounter.id, format_amount(line_total), "", "",
             _composite([encounter.place_of_service, "B", kept.get("CLM05-3", "1")], delimiters),
             *(kept.get(f"CLM{n:02d}", default) for n, default in ((6, "Y"), (7, "A"), (8, "Y"), (9, "Y"))),
             *(kept.get(f"CLM{n:02d}", "") for n in range(10, 21))]]
    # 2300 REF segments come before HI. A claim read from an 837P gets its own REFs back (REF*EA only if it had
    # one); any other claim's patient id goes in REF*EA (medical record number).
    if encounter.references is None:
        rows.append(["REF", "EA", encounter.patient.id])
    else:
        claim_refs = encounter.references.get("2300", {})
        order = {q: n for n, q in enumerate(_CLAIM_REF_ORDER)}
        rows += [["REF", q, v] for q, v in sorted(claim_refs.items(), key=lambda item: order.get(item[0], 99))]
    diagnoses = [code.replace(".", "") for code in encounter.diagnoses]
    rows.append(["HI", *(_composite(["ABK" if n == 0 else "ABF", code], delimiters)
                         for n, code in enumerate(diagnoses))])
    referring = encounter.referring_provider
    if referring is not None:
        rows.append(_name_row("DN", "1", referring.last_name, referring.first_name, "XX" if referring.npi else "",
                              referring.npi or ""))
        rows += [["REF", q, v] for q, v in (encounter.references or {}).get("2310A", {}).items()]
    billing = encounter.billing_provider
    provider = encounter.provider
    if billing is not None and provider.npi != billing.npi:
        rows.append(_name_row("82", "1", provider.last_name or "", provider.first_name, "XX", provider.npi or ""))
        if provider.taxonomy:
            rows.append(["PRV", "PE", "PXC", provider.taxonomy])
        rows += [["REF", q, v] for q, v in (encounter.references or {}).get("2310B", {}).items()]
    for number, line in enumerate(encounter.lines, start=1):
        procedure = _composite(["HC", line.code, *line.modifiers], delimiters)
        pointers = _composite([str(p) for p in line.dx_pointers], delimiters)
        # a line billed in minutes (read from an 837P with SV103 MJ) is written back in minutes, as it was billed
        unit_code, quantity = ("MJ", Decimal(line.minutes or 0)) if line.unit_code == "MJ" else ("UN", line.units)
        # SV105 only where the line's place of service differs from CLM05 (TR3 2400 SV105 situational rule)
        place = line.place_of_service if line.place_of_service not in (None, encounter.place_of_service) else ""
        first_day = line.date or encounter.date
        date = (["DTP", "472", "RD8", f"{_x12_date(first_day)}-{_x12_date(line.date_through)}"]
                if line.date_through is not None and line.date_through != first_day
                else ["DTP", "472", "D8", _x12_date(first_day)])
        rows += [
            ["LX", str(number)],
            ["SV1", procedure, format_amount(line.charge or 0), unit_code, format_amount(quantity), place or "",
             (line.line_elements or {}).get("SV106", ""), pointers,
             *((line.line_elements or {}).get(f"SV1{n:02d}", "") for n in range(8, 22))],
            date,
            *(["REF", q, v] for q, v in (line.references or {}).items()),
        ]
    return rows


# ---------------------------------------------------------------------------------------------------- reader


@dataclass
class X12Read837:
    """Claims read from an 837P file and the damaged parts that could not be read."""

    encounters: list[Encounter]
    errors: list[InputError]
    file: str | None = None


def read_837p(
    text_or_path: str | Path, *, payer_profiles: Mapping[str, str] | None = None
) -> X12Read837:
    """Every claim of every 837P transaction in the file, as encounters with billed lines.

    ``payer_profiles`` maps a payer id (2010BB NM109) to a cleanclaim payer profile id; without it SBR09
    decides (MB -> medicare, MC -> medicaid, CH -> tricare, other -> commercial; a mapped id without a profile is
    checked under the fallback profile, see cleanclaim.payers). A claim with a bad element is not returned
    (reading half of it would change what was billed); it is reported with its segment number, loop and element,
    and the other claims are read. Any unexpected exception costs its claim only, reported the same way.
    """
    text, file = read_x12_text(text_or_path)
    envelope = parse_envelope(text, file=file, keep_miscounted=True)
    errors = list(envelope.errors)
    encounters: list[Encounter] = []
    for transaction in envelope.transactions():
        if transaction.kind != "837" or not transaction.version.startswith("005010X222"):
            errors.append(X12SegmentError(
                f"transaction {transaction.kind} {transaction.version!r} is not an 837P (005010X222A1); "
                "not read", segment_number=transaction.st.number, segment_id="ST", file=file))
            continue
        reader = _ClaimReader(file, payer_profiles or {})
        reader.read(transaction)
        encounters += reader.encounters
        errors += reader.errors
    return X12Read837(_distinct_ids(encounters), errors, file)


def _distinct_ids(encounters: list[Encounter]) -> list[Encounter]:
    """Two claims with one CLM01 stay two encounters: the second is ``CLM01#2`` (its ``claim_id`` stays CLM01, so
    the ``duplicate-claim-id`` rule reports both) rather than merging with the first under one encounter id."""
    seen: dict[str, int] = {}
    taken = {e.id for e in encounters}
    distinct = []
    for encounter in encounters:
        count = seen[encounter.id] = seen.get(encounter.id, 0) + 1
        if count > 1:
            number = count
            while f"{encounter.id}#{number}" in taken:
                number += 1
            new_id = f"{encounter.id}#{number}"
            taken.add(new_id)
            encounter = encounter.model_copy(update={"id": new_id})
        distinct.append(encounter)
    return distinct


@dataclass
class _Party:
    """An entity named by an NM1 and its N3/N4/DMG/REF/PRV segments."""

    last: str = ""
    first: str = ""
    ident: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    taxonomy: str = ""
    tax_id: str = ""
    phone: str = ""
    damaged_at: int | None = None
    id_qualifier: str = ""
    not_carried: list[str] = field(default_factory=list)

    def address(self) -> Address | None:
        if not self.line1:
            return None
        return Address(line1=self.line1, line2=self.line2 or None, city=self.city, state=self.state, zip=self.zip)


@dataclass
class _SubscriberLevel:
    party: _Party
    billing: _Party
    relationship_code: str = ""
    group_number: str = ""
    filing_code: str = ""
    payer: _Party = field(default_factory=_Party)
    references: dict[str, str] = field(default_factory=dict)
    not_carried: list[str] = field(default_factory=list)


@dataclass
class _PatientLevel:
    party: _Party
    subscriber: _SubscriberLevel
    relationship_code: str
    hl_id: str = ""
    not_carried: list[str] = field(default_factory=list)


@dataclass
class _LineRead:
    segment: Segment
    line: dict[str, Any]
    date: dt.date | None = None
    rendering_npi: str = ""
    references: dict[str, str] = field(default_factory=dict)


@dataclass
class _ClaimRead:
    clm: Segment
    patient: _PatientLevel
    problems: list[X12SegmentError] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    patient_id: str = ""
    rendering: _Party | None = None
    place_of_service: str = ""
    total_charge: Decimal | None = None
    lines: list[_LineRead] = field(default_factory=list)
    referring: _Party | None = None
    references: dict[str, dict[str, str]] = field(default_factory=dict)
    elements: dict[str, str] = field(default_factory=dict)
    not_carried: list[str] = field(default_factory=list)


class _ClaimReader:
    """Walks one 837P transaction segment by segment, keeping the loop it is in for error messages."""

    def __init__(self, file: str | None, payer_profiles: Mapping[str, str]) -> None:
        self.file = file
        self.payer_profiles = payer_profiles
        self.encounters: list[Encounter] = []
        self.errors: list[InputError] = []
        self.loop = "HEADER"
        self.billing: _Party | None = None
        self.subscriber: _SubscriberLevel | None = None
        self.patient: _PatientLevel | None = None
        self.claim: _ClaimRead | None = None
        self.line: _LineRead | None = None
        self.party: _Party | None = None
        self.hierarchy: dict[str, object] = {}
        self.broken_hl: int | None = None
        self.skipping = False

    def read(self, transaction: Transaction) -> None:
        for segment in transaction.body:
            if self.skipping and segment.id not in ("CLM", "HL"):
                continue  # the rest of a claim that could not be started; its CLM error says so
            self.skipping = False
            try:
                self._segment(segment)
                if not self._carried(segment):
                    self._not_carried(segment)
            except _ElementError as problem:
                self.skipping = segment.id == "CLM" and self.claim is None
                self._problem(segment, problem.element, problem.message)
            except UNFORESEEN as exc:  # one unreadable segment costs its claim, never the file
                self.skipping = segment.id == "CLM" and self.claim is None
                self._problem(segment, None, f"the segment could not be read ({type(exc).__name__})")
        self._close_claim()

    def _problem(self, segment: Segment, element: str | None, message: str) -> None:
        error = X12SegmentError(message, segment_number=segment.number, segment_id=segment.id, loop=self.loop,
                                element=element, file=self.file,
                                encounter=self.claim.clm.element(1) if self.claim else None)
        if self.claim is not None:
            self.claim.problems.append(error)
        else:
            self.errors.append(error)
            # the claims under a damaged provider, subscriber or patient loop are not read either
            parties = (self.party, self.patient.party if self.patient else None,
                       self.subscriber.party if self.subscriber else None, self.billing)
            party = next((p for p in parties if p is not None), None)
            if party is not None and party.damaged_at is None:
                party.damaged_at = segment.number

    def _segment(self, segment: Segment) -> None:
        handler = getattr(self, f"_on_{segment.id.lower()}", None)
        if handler is not None:
            handler(segment)

    # hierarchy -------------------------------------------------------------------------------------------
    def _on_hl(self, segment: Segment) -> None:
        self._close_claim()
        # until the next good HL, claims have no trustworthy provider/subscriber/patient: they are not read
        self.broken_hl = segment.number
        level = segment.element(3)
        self.loop = {"20": "2000A", "22": "2000B", "23": "2000C"}.get(level, "2000")
        parent = self.hierarchy.get(segment.element(2))
        if level == "20":
            self.loop = "2000A"
            self.billing = _Party()
            self.hierarchy[segment.element(1)] = self.billing
            self.subscriber = self.patient = None
        elif level == "22":
            self.loop = "2000B"
            if not isinstance(parent, _Party):
                raise _ElementError("HL02", f"parent {segment.element(2)!r} is not a billing provider level (HL*20)")
            billing = parent
            self.subscriber = _SubscriberLevel(party=_Party(), billing=billing)
            self.hierarchy[segment.element(1)] = self.subscriber
            self.patient = None
        elif level == "23":
            self.loop = "2000C"
            if not isinstance(parent, _SubscriberLevel):
                raise _ElementError("HL02", f"parent {segment.element(2)!r} is not a subscriber level (HL*22)")
            subscriber = parent
            self.patient = _PatientLevel(_Party(), subscriber, "", segment.element(1))
        else:
            raise _ElementError("HL03", f"expected hierarchical level 20, 22 or 23, got {level!r}")
        self.party = None
        self.broken_hl = None

    def _on_sbr(self, segment: Segment) -> None:
        if self.loop == "2000B" and self.subscriber is not None:
            self.subscriber.relationship_code = segment.element(2)
            self.subscriber.group_number = segment.element(3)
            self.subscriber.filing_code = segment.element(9)
            if self.subscriber.filing_code and not re.fullmatch(r"[0-9A-Z]{1,2}", self.subscriber.filing_code):
                raise _ElementError("SBR09", f"expected a claim filing indicator code, got "
                                             f"{self.subscriber.filing_code!r}")
        elif self.claim is not None:
            self.loop = "2320"  # other subscriber information: not part of the encounter contract

    def _on_pat(self, segment: Segment) -> None:
        if self.patient is not None and self.loop == "2000C":
            self.patient.relationship_code = segment.element(1)

    def _on_prv(self, segment: Segment) -> None:
        if segment.element(1) == "BI" and self.billing is not None and self.loop == "2000A":
            self.billing.taxonomy = segment.element(3)
        elif self.party is not None:
            self.party.taxonomy = segment.element(3)

    # names and addresses ---------------------------------------------------------------------------------
    def _on_nm1(self, segment: Segment) -> None:
        entity = segment.element(1)
        party = _Party(last=segment.element(3), first=segment.element(4), ident=segment.element(9))
        self.party = None
        # inside a claim, IL/QC/PR name other payers' subscribers (2330x), never this claim's own parties
        in_claim = self.claim is not None
        if entity == "85" and self.billing is not None and not in_claim:
            self.loop = "2010AA"
            self.billing.last, self.billing.first, self.billing.ident = party.last, party.first, party.ident
            self.party = self.billing
        elif entity == "IL" and self.subscriber is not None and not in_claim:
            self.loop = "2010BA"
            self.subscriber.party = party
            self.party = party
        elif entity == "PR" and self.subscriber is not None and not in_claim:
            self.loop = "2010BB"
            self.subscriber.payer = party
            self.party = party
        elif entity == "QC" and self.patient is not None and not in_claim:
            self.loop = "2010CA"
            self.patient.party = party
            self.party = party
        elif entity == "DN" and self.claim is not None and self.line is None and self.loop not in ("2320", "2330"):
            self.loop = "2310A"
            party.id_qualifier = segment.element(8)
            self.claim.referring = party
            self.party = party
        elif entity == "82" and self.claim is not None and self.loop not in ("2320", "2330"):
            if self.line is not None:
                self.loop = "2420A"
                self.line.rendering_npi = party.ident
            else:
                self.loop = "2310B"
                self.claim.rendering = party
                self.party = party
        elif in_claim:
            self.loop = ("2330" if self.loop in ("2320", "2330")
                         else _LINE_PARTY_LOOPS.get(entity, "2420") if self.line is not None
                         else _CLAIM_PARTY_LOOPS.get(entity, "2310"))
        elif self.loop.startswith(("1000", "HEADER")) or entity in ("41", "40"):
            self.loop = {"41": "1000A", "40": "1000B"}.get(entity, self.loop)
        else:
            self.loop = {"87": "2010AB", "PE": "2010AC"}.get(entity, self.loop)

    def _on_n3(self, segment: Segment) -> None:
        if self.party is not None:
            self.party.line1, self.party.line2 = segment.element(1), segment.element(2)

    def _on_n4(self, segment: Segment) -> None:
        if self.party is not None:
            self.party.city, self.party.state = segment.element(1), segment.element(2)
            self.party.zip = segment.element(3)

    def _on_dmg(self, segment: Segment) -> None:
        if self.party is not None and self.claim is None:
            self.party.birth_date = _date(segment, 2)
            self.party.sex = segment.element(3)

    def _on_per(self, segment: Segment) -> None:
        if self.loop == "2010AA" and self.billing is not None:
            numbers = dict(zip(segment.elements[3::2], segment.elements[4::2], strict=False))
            self.billing.phone = numbers.get("TE", "")

    def _on_ref(self, segment: Segment) -> None:
        qualifier = segment.element(1)
        if qualifier in ("EI", "SY") and self.loop == "2010AA" and self.billing is not None:
            self.billing.tax_id = self._tax_id(segment)
        elif self.claim is None and self.loop == "2010BB" and self.subscriber is not None:
            self.subscriber.references[qualifier] = segment.element(2)
        elif self.claim is not None and self.line is not None and self.loop == "2400":
            self.line.references[qualifier] = segment.element(2)
        elif self.claim is not None and self.line is None and self.loop in ("2300", "2310A", "2310B"):
            self.claim.references.setdefault(self.loop, {})[qualifier] = segment.element(2)
            if qualifier == "EA" and self.loop == "2300":
                self.claim.patient_id = segment.element(2)

    def _tax_id(self, segment: Segment) -> str:
        """REF02 of the billing provider: 9 digits, or an EIN written 12-3456789 (the model reads it as its nine
        digits, as a phone number's punctuation is dropped). Anything else is reported here, at the REF, and its
        claims are not read (they would have no billing provider), rather than as a pattern error at each CLM."""
        value = segment.element(2)
        if re.fullmatch(r"[0-9]{9}", value) or (segment.element(1) == "EI"
                                                 and re.fullmatch(r"[0-9]{2}-[0-9]{7}", value)):
            return value
        kind = "EIN" if segment.element(1) == "EI" else "SSN"
        # the value is a tax identifier: its length is enough to find it in the file
        raise _ElementError("REF02", f"expected the billing provider's {kind} as 9 digits, got {len(value)} "
                                     "characters")

    # what an encounter carries -------------------------------------------------------------------------
    def _carried(self, segment: Segment) -> bool:
        """Whether the encounter keeps everything this segment says, so the writer can write it back. The header
        (1000A/B, BHT) is the writer's own and always counts as carried."""
        sid, loop, el = segment.id, self.loop, segment.element
        if self.billing is None or sid in ("HL", "LX"):
            return True
        if loop in ("2320", "2330"):
            return False
        empty = not any(el(i) for i in range(1, len(segment.elements)))
        if sid == "PRV":
            return (loop, el(1)) in (("2000A", "BI"), ("2310B", "PE"))
        if sid == "NM1":
            if loop == "2310A":
                return el(1) == "DN" and el(8) in ("XX", "")
            return loop in ("2010AA", "2010BA", "2010BB", "2010CA", "2310B", "2420A")
        if sid in ("N3", "N4"):
            return loop in ("2010AA", "2010BA", "2010CA") and not any(el(i) for i in range(4, 8))
        if sid == "DMG":
            return loop in ("2010BA", "2010CA") and not any(el(i) for i in range(4, 11))
        if sid == "REF":
            return (loop == "2010AA" and el(1) in ("EI", "SY")) or loop in ("2010BB", "2300", "2310A", "2310B",
                                                                             "2400")
        if sid == "PER":
            return loop == "2010AA" and {el(3), el(5), el(7)} <= {"TE", ""}
        if sid == "SBR":
            return loop == "2000B" and el(1) == "P" and not any(el(i) for i in range(4, 9))
        if sid == "PAT":
            return loop == "2000C" and not any(el(i) for i in range(2, 10))
        if sid == "CLM":
            # CLM05-3 and the simple elements are kept (claim_elements); CLM03/04 are unused, CLM11 is a composite
            return segment.components(5)[1:2] in (["B"], []) and not any(el(i) for i in (3, 4, 11))
        if sid == "HI":
            return all(segment.components(i)[0] in ("ABK", "ABF", "BK", "BF") for i in range(1, len(segment.elements)))
        if sid == "SV1":
            return True  # SV106 and SV108-SV121 are kept (line_elements)
        if sid == "DTP":
            return loop == "2400" and el(1) == "472"
        if sid == "LIN":
            return True  # a drug line: the writer refuses it for its NDC, which says so
        return empty

    def _not_carried(self, segment: Segment) -> None:
        qualified = segment.id in ("NM1", "REF", "DTP", "AMT", "QTY", "MEA", "NTE", "PWK", "K3", "CAS", "HI", "CRC")
        first = segment.components(1)[0] if segment.id == "HI" else segment.element(1)
        what = f"{self.loop} {segment.id}" + (f"*{first}" if qualified and first else "")
        if segment.id == "CLM":
            what = "2300 " + ", ".join(segment.name(n) for n in (3, 4, 11) if segment.element(n)) or what
        scope = (self.claim.not_carried if self.claim is not None
                 else self.patient.not_carried if self.patient is not None
                 else self.subscriber.not_carried if self.subscriber is not None
                 else self.billing.not_carried if self.billing is not None else None)
        if scope is not None and what not in scope:
            scope.append(what)

    # claim and lines -------------------------------------------------------------------------------------
    def _on_clm(self, segment: Segment) -> None:
        self._close_claim()
        self.loop = "2300"
        self.party = None
        if self.broken_hl is not None:
            raise _ElementError(None, f"claim {segment.element(1)!r} not read: the HL at segment {self.broken_hl} "
                                      "above it is damaged")
        patient = self.patient
        if patient is None and self.subscriber is not None:
            patient = _PatientLevel(self.subscriber.party, self.subscriber, "18")
        if patient is None:
            raise _ElementError(None, "claim without a subscriber level (HL*22) before it; claim not read")
        self.claim = _ClaimRead(clm=segment, patient=patient)
        if not segment.element(1):
            raise _ElementError("CLM01", "expected the patient control number, got nothing")
        self.claim.total_charge = _amount(segment, 2)
        place = segment.components(5)
        if not re.fullmatch(r"[0-9]{2}", place[0]):
            raise _ElementError("CLM05", f"expected a 2-digit place of service code, got {place[0]!r}")
        self.claim.place_of_service = place[0]
        if len(place) > 2 and place[2]:
            self.claim.elements["CLM05-3"] = place[2]
        self.claim.elements.update({segment.name(n): segment.element(n) for n in (*range(6, 11), *range(12, 21))
                                    if segment.element(n)})

    def _on_hi(self, segment: Segment) -> None:
        if self.claim is None or self.line is not None:
            return
        for position in range(1, len(segment.elements)):
            parts = segment.components(position)
            if parts[0] in ("ABK", "ABF", "BK", "BF"):
                if parts[0] in ("BK", "BF"):
                    # ICD-9-CM (valid qualifiers in 005010X222A1, for dates of service before 2015-10-01): read
                    # as "ICD9:724.2" so the claim is checked, `invalid-diagnosis` reports a code that is not
                    # ICD-10-CM, and an ICD-9 V or E code is never mistaken for the ICD-10-CM code of that shape
                    # (the 837P writer refuses to send it again)
                    if len(parts) < 2 or not _ICD9_NO_DOT.match(parts[1]):
                        raise _ElementError(segment.name(position),
                                            f"expected an ICD-9-CM code, got {':'.join(parts)!r}")
                    code = parts[1]
                    cut = 4 if code.startswith("E") else 3
                    self.claim.diagnoses.append(
                        f"{ICD9_PREFIX}{code[:cut]}.{code[cut:]}" if len(code) > cut else f"{ICD9_PREFIX}{code}")
                    continue
                if len(parts) < 2 or not _ICD10_NO_DOT.match(parts[1]):
                    raise _ElementError(segment.name(position),
                                        f"expected an ICD-10-CM code, got {':'.join(parts)!r}")
                self.claim.diagnoses.append(_with_dot(parts[1]))

    def _on_lx(self, segment: Segment) -> None:
        if self.claim is None:
            raise _ElementError(None, "service line without a claim (CLM) before it")
        self.loop = "2400"
        self.line = None
        self.party = None

    def _on_sv1(self, segment: Segment) -> None:
        if self.claim is None or self.loop != "2400":
            raise _ElementError(None, "SV1 outside a service line loop (no LX before it)")
        procedure = segment.components(1)
        if procedure[0] != "HC" or len(procedure) < 2 or not procedure[1]:
            raise _ElementError("SV101", f"expected HC:code[:modifiers], got {segment.element(1)!r}")
        unit_code = segment.element(3)
        if unit_code not in ("UN", "MJ"):
            raise _ElementError("SV103", f"expected unit code UN (units) or MJ (minutes), got {unit_code!r}")
        quantity = _amount(segment, 4, what="a number of units" if unit_code == "UN" else "a number of minutes",
                           max_length=MAX_QUANTITY_LENGTH)
        if quantity is None:
            raise _ElementError("SV104", "expected a number of units, got nothing")
        charge = _amount(segment, 2)
        line: dict[str, Any] = {"code": procedure[1], "modifiers": [m for m in procedure[2:6] if m],
                                "units": quantity, "charge": charge}
        if unit_code == "MJ":
            # minutes as billed; converting them into the code's units would be a guess about the payer's time rule
            if quantity != quantity.to_integral_value() or quantity < 0:
                raise _ElementError("SV104", f"expected whole minutes with SV103 MJ, got {segment.element(4)!r}")
            line.update(units=Decimal(1), minutes=int(quantity), unit_code="MJ")
        place = segment.element(5)
        if place and place != self.claim.place_of_service:
            if not re.fullmatch(r"[0-9]{2}", place):
                raise _ElementError("SV105", f"expected a 2-digit place of service code, got {place!r}")
            line["place_of_service"] = place  # TR3: SV105 is sent exactly when it differs from CLM05
        pointers = []
        for pointer in segment.components(7):
            # [0-9], not str.isdigit: "²" or Arabic-Indic digits are digits to Python but not X12 numerals
            if not re.fullmatch(r"[0-9]{1,2}", pointer) or not 1 <= int(pointer) <= MAX_DIAGNOSES:
                raise _ElementError("SV107", f"expected diagnosis pointers 1 to 12, got {segment.element(7)!r}")
            pointers.append(int(pointer))
        line["dx_pointers"] = pointers
        extra = {segment.name(n): segment.element(n) for n in (6, *range(8, 22)) if segment.element(n)}
        if extra:
            line["line_elements"] = extra
        self.line = _LineRead(segment, line)
        self.claim.lines.append(self.line)

    def _on_dtp(self, segment: Segment) -> None:
        if segment.element(1) != "472" or self.line is None:
            return
        if segment.element(2) == "RD8":
            # a range of days on one line (TR3 2400 DTP*472: RD8 is allowed); the line's date is its first day
            start, dash, end = segment.element(3).partition("-")
            if not dash:
                raise _ElementError("DTP03", f"expected a date range CCYYMMDD-CCYYMMDD, got {segment.element(3)!r}")
            first, last = _parse_date(start, "DTP03"), _parse_date(end, "DTP03")
            if last < first:
                raise _ElementError("DTP03", f"the range {segment.element(3)!r} ends before it starts")
            self.line.date = first
            if last != first:
                self.line.line["date_through"] = last
        elif segment.element(2) == "D8":
            self.line.date = _date(segment, 3)
        else:
            raise _ElementError("DTP02", f"expected date format D8 or RD8, got {segment.element(2)!r}")

    def _on_lin(self, segment: Segment) -> None:
        if self.line is not None:
            self.loop = "2410"
            self.line.line["ndc"] = segment.element(3)

    def _close_claim(self) -> None:
        claim, self.claim, self.line = self.claim, None, None
        if claim is None:
            return
        clm = claim.clm
        claim_id = clm.element(1)
        problems = claim.problems
        roles = (("billing provider", claim.patient.subscriber.billing), ("subscriber", claim.patient.subscriber.party),
                 ("payer", claim.patient.subscriber.payer), ("patient", claim.patient.party))
        problems += [X12SegmentError(
            f"claim not read: its {role} loop is damaged at segment {party.damaged_at}", segment_number=clm.number,
            segment_id="CLM", loop="2300", file=self.file, encounter=claim_id)
            for role, party in roles if party.damaged_at is not None]
        if not claim.lines and not problems:
            problems.append(X12SegmentError("claim has no service line (LX/SV1)", segment_number=clm.number,
                                            segment_id="CLM", loop="2300", file=self.file, encounter=claim_id))
        for line in claim.lines:
            if line.date is None:
                problems.append(X12SegmentError(
                    "service line has no date of service (DTP*472)", segment_number=line.segment.number,
                    segment_id="SV1", loop="2400", file=self.file, encounter=claim_id))
        if problems:
            self.errors += problems
            return
        try:
            self.encounters.append(self._encounter(claim))
        except UNFORESEEN as exc:  # a claim that cannot be built is reported, the others are read
            self.errors.append(X12SegmentError(
                f"claim cannot be read: {_validation_summary(exc)}", segment_number=clm.number,
                segment_id="CLM", loop="2300", file=self.file, encounter=claim_id))

    def _encounter(self, claim: _ClaimRead) -> Encounter:
        patient_level = claim.patient
        subscriber_level = patient_level.subscriber
        billing = subscriber_level.billing
        person = patient_level.party
        member = subscriber_level.party
        is_self = subscriber_level.relationship_code == "18" and patient_level.party is member
        relationship = RELATIONSHIP_BY_CODE.get(
            "18" if is_self else patient_level.relationship_code, "other")
        patient_id = claim.patient_id or (
            member.ident if is_self else f"{member.ident}-HL{patient_level.hl_id}")
        dates = [line.date for line in claim.lines if line.date is not None]
        rendering = claim.rendering or billing
        # Without a 2310B the billing provider rendered the service; a 2310B without PRV says nothing of it.
        taxonomy = claim.rendering.taxonomy if claim.rendering else billing.taxonomy
        payer_id = subscriber_level.payer.ident
        payer = self.payer_profiles.get(payer_id) or PAYER_PROFILE_BY_FILING_CODE.get(
            subscriber_level.filing_code, DEFAULT_PAYER_PROFILE)
        references = {loop: refs for loop, refs in (("2010BB", subscriber_level.references), *claim.references.items())
                      if refs}
        referring = claim.referring
        not_carried = list(dict.fromkeys([*billing.not_carried, *subscriber_level.not_carried,
                                          *patient_level.not_carried,
                                          *claim.not_carried]))
        return Encounter(
            id=claim.clm.element(1),
            claim_id=claim.clm.element(1),
            date=min(dates),
            payer=payer,
            payer_id=payer_id or None,
            payer_name=subscriber_level.payer.last or None,
            place_of_service=claim.place_of_service,
            patient=Patient(id=patient_id, birth_date=person.birth_date, sex=person.sex or None,
                            first_name=person.first or None, last_name=person.last or None,
                            address=person.address()),
            provider=Provider(npi=rendering.ident, discipline=_discipline(taxonomy),
                              first_name=rendering.first or None if claim.rendering else None,
                              last_name=rendering.last or None if claim.rendering else None,
                              taxonomy=(claim.rendering.taxonomy or None) if claim.rendering else None),
            diagnoses=claim.diagnoses,
            billing_provider=BillingProvider(name=billing.last, npi=billing.ident, tax_id=billing.tax_id,
                                             taxonomy=billing.taxonomy or None, phone=billing.phone or None,
                                             address=billing.address() or _missing("billing provider N3/N4")),
            subscriber=Subscriber(member_id=member.ident, first_name=member.first or None,
                                  last_name=member.last or None, relationship=relationship,
                                  group_number=subscriber_level.group_number or None),
            total_charge=claim.total_charge,
            lines=[ClaimLine(**line.line, date=line.date, rendering_npi=line.rendering_npi or None,
                             references=line.references or None)
                   for line in claim.lines],
            claim_filing_code=subscriber_level.filing_code or None,
            referring_provider=ReferringProvider(
                npi=referring.ident if referring.id_qualifier == "XX" and referring.ident else None,
                last_name=referring.last, first_name=referring.first or None) if referring else None,
            references=references,
            claim_elements=claim.elements or None,
            x12_not_carried=not_carried,
        )


class _ElementError(Exception):
    def __init__(self, element: str | None, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.message = message


def _missing(what: str) -> Address:
    raise ValueError(f"{what} missing")


def _amount(segment: Segment, position: int, *, what: str = "a money amount",
            max_length: int = MAX_AMOUNT_LENGTH) -> Decimal | None:
    text = segment.element(position)
    if not text:
        return None
    # [0-9], not \d: Python's \d and Decimal accept any Unicode digit ("²", Arabic-Indic); X12 numerals are ASCII
    if not re.fullmatch(r"-?[0-9]*\.?[0-9]+|-?[0-9]+\.", text):
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text)} characters)"
        raise _ElementError(segment.name(position), f"expected {what}, got {shown!r}")
    digits = len(text.replace("-", "").replace(".", ""))
    if digits > max_length:
        raise _ElementError(segment.name(position), f"expected {what} of at most {max_length} digits, got {digits}")
    return Decimal(text)


def _parse_date(text: str, element: str) -> dt.date:
    try:
        if not re.fullmatch(r"[0-9]{8}", text):  # strptime takes Unicode digits and single-digit months
            raise ValueError(text)
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        # a birth date is patient data: say what is wrong with it without repeating it
        shown = f"{len(text)} characters" if element.startswith("DMG") else repr(text)
        raise _ElementError(element, f"expected a date CCYYMMDD, got {shown}") from None


def _date(segment: Segment, position: int) -> dt.date:
    return _parse_date(segment.element(position), segment.name(position))


def _with_dot(code: str) -> str:
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _discipline(taxonomy: str) -> Discipline:
    for prefix, discipline in DISCIPLINE_BY_TAXONOMY_PREFIX:
        if taxonomy.upper().startswith(prefix):
            return discipline
    return Discipline.OTHER


def _validation_summary(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
    # our own ValueErrors name what is missing; anything else may carry a value from the file, so only its kind
    return str(exc) if type(exc) is ValueError else type(exc).__name__

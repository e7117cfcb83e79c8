"""Seeded synthetic claims for the benchmarks, generated once and rendered for each tool.

The point of one generator is a fair comparison: cleanclaim and claim-validator see the same patients, codes, units,
modifiers, diagnoses, NPIs, dates and charges, only spelled in each tool's input shape. Patients, providers and
member ids are invented (names are drawn from a short list of obviously synthetic surnames); no real person is
described. Codes come from the practices cleanclaim serves (outpatient PT/OT, health behavior assessment and
intervention, health coaching, tobacco-cessation counseling), and about a third of the claims carry one fault of the
kinds a scrubber exists to catch: a deleted code, an NPI with a wrong check digit, more units than the minutes
support, or a therapy line without its GP/GO modifier.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["AS_OF", "FAULTS", "Claim", "Line", "generate", "luhn_npi", "table_columns", "to_claim_validator",
           "to_encounter_dict"]

# Dates of service fall in the 70 days before AS_OF: inside every payer's timely-filing window, inside the bundled
# ICD-10-CM FY2026 release (to 2026-09-30), and never in the future for claim-validator (it compares with today).
AS_OF = dt.date(2026, 9, 30)
FIRST_DATE = AS_OF - dt.timedelta(days=70)
FAULT_SHARE = 0.3
FAULTS = ("deleted-code", "bad-npi", "units-over-time", "missing-modifier")
DELETED_CODES = ("96150", "96152", "96153", "G0436", "G0437", "99201")
SURNAMES = ("Sample", "Testcase", "Placeholder", "Example", "Synthetic", "Fixture", "Dummy", "Mockley")
FIRST_NAMES = ("Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo")


@dataclass(frozen=True)
class Line:
    code: str
    modifiers: tuple[str, ...]
    units: int
    minutes: int | None
    dx_pointers: tuple[int, ...]
    charge: float
    date: dt.date


@dataclass(frozen=True)
class Claim:
    id: str
    date: dt.date
    payer: str
    payer_id: str
    place_of_service: str
    patient_id: str
    first_name: str
    last_name: str
    birth_date: dt.date
    sex: str
    provider_npi: str
    discipline: str
    billing_npi: str
    billing_name: str
    taxonomy: str
    tax_id: str
    subscriber_id: str
    diagnoses: tuple[str, ...]
    lines: tuple[Line, ...]
    fault: str | None

    @property
    def total_charge(self) -> float:
        return round(sum(line.charge for line in self.lines), 2)


@dataclass(frozen=True)
class _Practice:
    """One kind of practice: who bills, to whom, which codes and diagnoses, and what one visit looks like."""

    kind: str
    discipline: str
    payer: str
    payer_id: str
    taxonomy: str
    name: str
    diagnoses: tuple[str, ...]
    codes: tuple[str, ...]
    modifier: str | None
    fee: float  # charge per unit


PRACTICES = (
    _Practice("pt", "PT", "medicare", "12345", "225100000X", "Harbor Physical Therapy",
              ("R26.81", "M62.81", "Z91.81", "M54.50", "M17.11"),
              ("97110", "97112", "97116", "97140", "97530", "97535"), "GP", 45.0),
    _Practice("ot", "OT", "medicare", "12345", "225X00000X", "Bayside Occupational Therapy",
              ("M62.81", "R26.89", "Z91.81", "M19.90"),
              ("97110", "97112", "97530", "97535", "97140"), "GO", 47.0),
    _Practice("hbai", "psychologist", "medicare", "12345", "103T00000X", "Riverside Behavioral Health",
              ("E11.65", "I10", "E66.01", "J44.9"), ("96156", "96158"), None, 95.0),
    _Practice("coaching", "coach", "commercial", "60054", "174H00000X", "Lakeside Wellness Coaching",
              ("E66.9", "Z71.3", "E11.9", "I10"), ("0591T", "0592T"), None, 80.0),
    _Practice("tobacco", "MD", "commercial", "60054", "207Q00000X", "Maple Family Medicine",
              ("F17.210", "J44.9", "I10"), ("99406", "99407"), None, 30.0),
)


def luhn_npi(first_nine: str) -> str:
    """A 10-digit NPI whose check digit passes the Luhn check over the '80840' prefix (CMS NPI standard)."""
    digits = [int(c) for c in "80840" + first_nine]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return first_nine + str((10 - total % 10) % 10)


def _bad_npi(npi: str) -> str:
    return npi[:9] + str((int(npi[9]) + 1) % 10)


def _timed_visit(rng: random.Random, practice: _Practice, date: dt.date, wanted: int) -> list[Line]:
    """Timed rehab codes, minutes within two of 15 per unit so the 8-minute rule and per-code counting agree."""
    codes = rng.sample(practice.codes, k=min(wanted, len(practice.codes)))
    lines = []
    for code in codes:
        units = rng.choice((1, 1, 2, 2, 3))
        minutes = 15 * units + rng.randint(-2, 2)
        modifiers = (practice.modifier,) if practice.modifier else ()
        lines.append(Line(code, modifiers, units, minutes, (), round(practice.fee * units, 2), date))
    return lines


def _single_visit(rng: random.Random, practice: _Practice, date: dt.date) -> list[Line]:
    code = rng.choice(practice.codes)
    minutes_by_code = {"96156": rng.randint(30, 60), "96158": rng.randint(20, 36), "0591T": rng.randint(30, 60),
                       "0592T": rng.randint(30, 45), "99406": rng.randint(4, 10), "99407": rng.randint(11, 20)}
    return [Line(code, (), 1, minutes_by_code[code], (), practice.fee, date)]


def _visit(rng: random.Random, practice: _Practice, date: dt.date, wanted: int) -> list[Line]:
    if practice.modifier:
        return _timed_visit(rng, practice, date, wanted)
    return _single_visit(rng, practice, date)


def _faulted(rng: random.Random, claim: Claim, practice: _Practice) -> Claim:
    kinds = [k for k in FAULTS if k != "missing-modifier" or practice.modifier]
    if not any(line.minutes for line in claim.lines if line.code.startswith("97")):
        kinds = [k for k in kinds if k != "units-over-time"]
    kind = rng.choice(kinds)
    lines = list(claim.lines)
    index = rng.randrange(len(lines))
    if kind == "bad-npi":
        return replace(claim, provider_npi=_bad_npi(claim.provider_npi), fault=kind)
    if kind == "deleted-code":
        lines[index] = replace(lines[index], code=rng.choice(DELETED_CODES), modifiers=())
    elif kind == "units-over-time":
        index = next(i for i, line in enumerate(lines) if line.code.startswith("97") and line.minutes)
        line = lines[index]
        units = line.units + 2
        lines[index] = replace(line, units=units, charge=round(practice.fee * units, 2))
    else:
        lines[index] = replace(lines[index], modifiers=())
    return replace(claim, lines=tuple(lines), fault=kind)


def _claim(rng: random.Random, number: int, n_lines: int, fault_share: float) -> Claim:
    practice = rng.choice(PRACTICES)
    start = FIRST_DATE + dt.timedelta(days=rng.randrange(30))
    lines: list[Line] = []
    visit_date = start
    while len(lines) < n_lines:
        lines.extend(_visit(rng, practice, visit_date, min(3, n_lines - len(lines))))
        visit_date += dt.timedelta(days=rng.choice((2, 3, 4)))
    n_dx = rng.randint(1, min(3, len(practice.diagnoses)))
    diagnoses = tuple(rng.sample(practice.diagnoses, k=n_dx))
    pointed = tuple(
        replace(line, dx_pointers=tuple(sorted(rng.sample(range(1, n_dx + 1), k=rng.randint(1, n_dx)))))
        for line in lines[:n_lines]
    )
    provider = luhn_npi(f"1{number % 4_000:08d}")
    billing = luhn_npi(f"19{number % 500:07d}")
    claim = Claim(
        id=f"C{number:07d}", date=start, payer=practice.payer, payer_id=practice.payer_id, place_of_service="11",
        patient_id=f"P{number:07d}", first_name=rng.choice(FIRST_NAMES), last_name=rng.choice(SURNAMES),
        birth_date=dt.date(rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28)), sex=rng.choice("FM"),
        provider_npi=provider, discipline=practice.discipline, billing_npi=billing, billing_name=practice.name,
        taxonomy=practice.taxonomy, tax_id=f"{370_000_000 + number % 500:09d}",
        subscriber_id=f"SYN{number:09d}", diagnoses=diagnoses, lines=pointed, fault=None,
    )
    return _faulted(rng, claim, practice) if rng.random() < fault_share else claim


def generate(count: int, n_lines: int, *, seed: int = 2026, start: int = 0,
             fault_share: float = FAULT_SHARE) -> Iterator[Claim]:
    """``count`` claims of exactly ``n_lines`` lines each, the same for the same seed."""
    rng = random.Random(f"{seed}-{n_lines}-{start}")
    for number in range(start, start + count):
        yield _claim(rng, number, n_lines, fault_share)


# ---- renderings ---------------------------------------------------------------------------------------------------
def to_encounter_dict(claim: Claim) -> dict[str, Any]:
    """The claim as a cleanclaim encounter (DESIGN.md interchange contract), ready for ``Encounter.model_validate``."""
    return {
        "id": claim.id, "date": claim.date, "payer": claim.payer, "place_of_service": claim.place_of_service,
        "patient": {"id": claim.patient_id, "birth_date": claim.birth_date, "sex": claim.sex,
                    "first_name": claim.first_name, "last_name": claim.last_name},
        "provider": {"npi": claim.provider_npi, "discipline": claim.discipline},
        "diagnoses": list(claim.diagnoses),
        "billing_provider": {"name": claim.billing_name, "npi": claim.billing_npi, "tax_id": claim.tax_id,
                             "taxonomy": claim.taxonomy,
                             "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL",
                                         "zip": "627011234"}},
        "subscriber": {"member_id": claim.subscriber_id, "first_name": claim.first_name,
                       "last_name": claim.last_name, "relationship": "self"},
        "payer_id": claim.payer_id, "claim_id": claim.id,
        "lines": [{"code": line.code, "modifiers": list(line.modifiers), "units": line.units,
                   "minutes": line.minutes, "dx_pointers": list(line.dx_pointers), "charge": line.charge,
                   "date": line.date} for line in claim.lines],
        "total_charge": claim.total_charge,
    }


def to_claim_validator(claim: Claim) -> dict[str, Any]:
    """The claim as a claim-validator ``ClaimData`` dict (CMS-1500 professional). Its ``charge_amount`` is per unit
    (its total check multiplies by units), ours is per line, hence the division."""
    return {
        "billing_provider_npi": claim.billing_npi, "billing_provider_taxonomy": claim.taxonomy,
        "rendering_provider_npi": claim.provider_npi,
        "subscriber_id": claim.subscriber_id, "subscriber_first_name": claim.first_name,
        "subscriber_last_name": claim.last_name, "subscriber_dob": claim.birth_date.isoformat(),
        "subscriber_gender": claim.sex,
        "patient_first_name": claim.first_name, "patient_last_name": claim.last_name,
        "patient_dob": claim.birth_date.isoformat(), "patient_gender": claim.sex, "patient_relationship": "self",
        "payer_id": claim.payer_id, "payer_name": claim.payer, "place_of_service": claim.place_of_service,
        "total_charge": claim.total_charge, "filing_date": AS_OF.isoformat(),
        "diagnosis_codes": [{"code": code, "pointer": i, "type": "principal" if i == 1 else "secondary"}
                            for i, code in enumerate(claim.diagnoses, start=1)],
        "lines": [{"procedure_code": line.code, "modifiers": list(line.modifiers),
                   "diagnosis_pointers": list(line.dx_pointers), "charge_amount": round(line.charge / line.units, 2),
                   "units": line.units, "service_date_from": line.date.isoformat(),
                   "service_date_to": line.date.isoformat(), "place_of_service": claim.place_of_service,
                   "rendering_provider_npi": claim.provider_npi} for line in claim.lines],
    }


TABLE_COLUMNS = ("encounter_id", "date", "payer", "place_of_service", "patient_id", "provider_npi",
                 "provider_discipline", "diagnoses", "code", "modifiers", "units", "minutes", "dx_pointers", "charge")


def table_columns(claims: list[Claim]) -> dict[str, list[Any]]:
    """Claim-line table columns (DESIGN.md "Claim-line tables"), list columns for modifiers, diagnoses, pointers."""
    columns: dict[str, list[Any]] = {name: [] for name in TABLE_COLUMNS}
    for claim in claims:
        for line in claim.lines:
            for name, value in (
                ("encounter_id", claim.id), ("date", line.date), ("payer", claim.payer),
                ("place_of_service", claim.place_of_service), ("patient_id", claim.patient_id),
                ("provider_npi", claim.provider_npi), ("provider_discipline", claim.discipline),
                ("diagnoses", list(claim.diagnoses)), ("code", line.code), ("modifiers", list(line.modifiers)),
                ("units", line.units), ("minutes", line.minutes), ("dx_pointers", list(line.dx_pointers)),
                ("charge", line.charge),
            ):
                columns[name].append(value)
    return columns

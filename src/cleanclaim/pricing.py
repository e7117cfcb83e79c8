"""Medicare Physician Fee Schedule estimates, with every step of the arithmetic written out.

The formula is CMS's: allowed = (work RVU x work GPCI + PE RVU x PE GPCI + MP RVU x MP GPCI) x conversion factor,
with the facility or non-facility PE RVU chosen by the line's place of service (Pub 100-04 Ch 12 s20.4.2). On top:

* **Therapy MPPR** (CR 7050 from 2011-01-01; 50% since 2013-04-01; NGS, Novitas): among "always therapy" services
  one provider (the billing provider, else the rendering NPI) furnishes to one patient on one day,
  the single unit with the highest PE gets its full PE; every other unit gets 50% of its PE. Work and MP are never
  reduced. The code book's ``therapy == "always"`` says which codes are in scope. When an always-therapy line of the
  same day cannot be priced (no RVUs on file, carrier-priced, fractional units) its PE is unknown, so it is unknown
  which unit is the highest: the priced lines are then priced as if none of their units were the highest (every unit
  at 50% PE, the lowest amount they can get; the unpriced line may well carry the highest PE), their ``estimate``
  flag is set, a step says why, and the claim carries a note.
* **CQ/CO** (SSA 1834(v), from 2022-01-01): lines furnished in whole or part by a PTA/OTA are paid at 85%, applied
  after the MPPR (the order is not confirmed by CMS text; see payment-and-edits.md UNCONFIRMED 7).
* **Cost sharing**: the Part B deductible (whatever the caller says remains, for each patient and calendar year)
  and 20% coinsurance, waived for the preventive codes listed in ``refdata/bundled/cost_sharing_waived.csv`` on the
  dates of service and, where a row names them, with the diagnoses it lists (99406/99407: from 2016-10-01, with a
  diagnosis of tobacco use); then the 2% sequestration on Medicare's share (CRS R45106: in force through FY2032).

Amounts are Medicare PFS amounts whatever the encounter's payer: for an encounter whose payer profile is not a
Medicare program (``commercial``, ``medicaid``, ``other``) the claim carries a note that these are not the payer's
contract rates.

Rounding: CMS publishes the fee schedule amount of a service per unit, in dollars and cents (the carrier payment
files, e.g. PFAL25A: 97110 Alabama non-facility 26.83, its 50% therapy reduction amount 20.79), and a line of several
units is paid that per-unit amount for each unit. So each unit's amount (GPCIs, conversion factor, setting and MPPR
applied) is computed exactly and rounded half up to the cent, and the line's fee schedule amount is the sum of its
rounded units (97110 x2 alone in Alabama, CY2025: 26.83 + 20.79 = 47.62, not the 47.61 of rounding the exact sum).
The CQ/CO 85% is then taken of that sum and rounded half up; the deductible, coinsurance and sequestration of a line
are each rounded half up to the cent too, and claim totals are sums of the rounded line amounts (what a remittance
shows). ``allowed_exact`` keeps the figure with no rounding at all (the exact units, x 85% for CQ/CO).

A line is never priced as zero by accident: a code without RVUs is "unpriced", and bundled (B), carrier-priced (C),
non-covered (N), not-valid (I) and excluded (E, X, P, M, J) codes are reported with the reason and no amount.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from cleanclaim.codebook import codebook
from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.model import ClaimLine, Encounter, HistoryLine
from cleanclaim.refdata import (
    conversion_factor_entry,
    cost_sharing_waiver,
    gpci,
    parse_locality,
    place_of_service_setting,
    rvus,
)
from cleanclaim.refdata.cms_files import RefTable
from cleanclaim.refdata.imported import import_signature

__all__ = [
    "ChargeMaster",
    "ChargeMasterRow",
    "LineStatus",
    "PricedClaim",
    "PricedLine",
    "TherapyAmounts",
    "charge_master_rows",
    "line_charge",
    "load_charge_master",
    "price",
    "round_cents",
    "therapy_amounts_ytd",
]

CENT = Decimal("0.01")
ONE = Decimal(1)
MPPR_PE_SHARE = Decimal("0.5")
MPPR_START = dt.date(2013, 4, 1)
ASSISTANT_SHARE = Decimal("0.85")
ASSISTANT_START = dt.date(2022, 1, 1)
ASSISTANT_MODIFIERS = frozenset({"CQ", "CO"})
COINSURANCE = Decimal("0.20")
SEQUESTRATION = Decimal("0.02")
PRICED_STATUSES = frozenset({"A", "R", "T"})


def round_cents(amount: Decimal) -> Decimal:
    """Half up to the cent (0.005 -> 0.01), the rounding used for every money amount cleanclaim shows."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class LineStatus(StrEnum):
    PRICED = "priced"
    UNPRICED = "unpriced"
    BUNDLED = "bundled"
    CARRIER_PRICED = "carrier-priced"
    NOT_COVERED = "not-covered"
    NOT_VALID = "not-valid-for-medicare"
    EXCLUDED = "excluded"


# PFS status indicators (PPRRVU file documentation, RVUyy release notes).
_STATUS_MEANING: dict[str, tuple[LineStatus, str]] = {
    "B": (LineStatus.BUNDLED, "Medicare bundles it into other services (PFS status B): no separate payment"),
    "P": (LineStatus.BUNDLED, "bundled or excluded service (PFS status P): no separate PFS payment"),
    "C": (LineStatus.CARRIER_PRICED, "the Medicare contractor prices it claim by claim (PFS status C): there is no "
                                     "national amount, so cleanclaim does not estimate one"),
    "N": (LineStatus.NOT_COVERED, "Medicare does not cover it (PFS status N)"),
    "I": (LineStatus.NOT_VALID, "not valid for Medicare (PFS status I): Medicare uses another code"),
    "E": (LineStatus.EXCLUDED, "excluded from the PFS by regulation (PFS status E)"),
    "X": (LineStatus.EXCLUDED, "statutory exclusion or paid under another fee schedule (PFS status X)"),
    "M": (LineStatus.EXCLUDED, "quality measurement code (PFS status M): reported for data, no payment"),
    "J": (LineStatus.EXCLUDED, "anesthesia service (PFS status J): not priced from RVUs"),
}


@dataclass(frozen=True)
class PricedLine:
    """One billed line and how its amounts were reached (``steps`` is the arithmetic in words)."""

    encounter: str | None
    line: int
    code: str
    modifiers: tuple[str, ...]
    units: Decimal
    date_of_service: dt.date
    place_of_service: str
    status: LineStatus
    reason: str
    rate_setting: str | None = None
    charge: Decimal | None = None
    charge_source: str | None = None
    allowed_exact: Decimal | None = None
    allowed: Decimal | None = None
    deductible: Decimal | None = None
    coinsurance: Decimal | None = None
    medicare_share: Decimal | None = None
    sequestration: Decimal | None = None
    medicare_paid: Decimal | None = None
    patient_owes: Decimal | None = None
    steps: tuple[str, ...] = ()
    estimate: bool = False
    """The amounts rest on an assumption (the therapy MPPR order when an always-therapy line of the day is unpriced):
    ``steps`` says which; they are the lowest the line can be paid, not the expected amount."""

    @property
    def priced(self) -> bool:
        return self.status is LineStatus.PRICED


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


@dataclass(frozen=True)
class PricedClaim:
    """Every line's estimate plus totals over the priced lines; unpriced lines are listed, never counted as 0."""

    lines: tuple[PricedLine, ...]
    locality: str
    qualifying_apm: bool
    sequestration_applied: bool
    notes: tuple[str, ...] = ()
    unpriced: tuple[PricedLine, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unpriced", tuple(line for line in self.lines if not line.priced))

    @property
    def allowed(self) -> Decimal:
        return _sum(line.allowed for line in self.lines)

    @property
    def allowed_exact(self) -> Decimal:
        return _sum(line.allowed_exact for line in self.lines)

    @property
    def deductible(self) -> Decimal:
        return _sum(line.deductible for line in self.lines)

    @property
    def coinsurance(self) -> Decimal:
        return _sum(line.coinsurance for line in self.lines)

    @property
    def medicare_share(self) -> Decimal:
        return _sum(line.medicare_share for line in self.lines)

    @property
    def sequestration(self) -> Decimal:
        return _sum(line.sequestration for line in self.lines)

    @property
    def medicare_paid(self) -> Decimal:
        return _sum(line.medicare_paid for line in self.lines)

    @property
    def patient_owes(self) -> Decimal:
        return _sum(line.patient_owes for line in self.lines)

    @property
    def charges(self) -> Decimal:
        return _sum(line.charge for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: money as strings with two decimals, so no float rounding creeps in (the convention of
        every money field here); ``units`` is a count, so it is a JSON number (an integer when whole)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, dt.date):
                return value.isoformat()
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        lines = [{**plain(asdict(line)), "units": _units_number(line.units)} for line in self.lines]
        totals = {name: str(getattr(self, name)) for name in (
            "charges", "allowed", "deductible", "coinsurance", "medicare_share", "sequestration", "medicare_paid",
            "patient_owes")}
        totals["allowed_exact"] = str(self.allowed_exact)
        return {"locality": self.locality, "qualifying_apm": self.qualifying_apm,
                "sequestration_applied": self.sequestration_applied, "lines": lines, "totals": totals,
                "unpriced_lines": len(self.unpriced), "notes": list(self.notes)}


def _units_number(units: Decimal) -> int | float:
    return int(units) if units == units.to_integral_value() else float(units)


# ---------------------------------------------------------------------------------------------------------------
# Charge master


ChargeMaster = Mapping[tuple[str, str], Decimal]


@dataclass(frozen=True)
class ChargeMasterRow:
    """One priced row of a charge master CSV, with the row number a message about it names."""

    row: int
    code: str
    modifier: str
    """'' when the charge applies whatever the modifiers."""
    charge: Decimal


def charge_master_rows(text: str, source: str) -> list[ChargeMasterRow]:
    """The rows of a charge master CSV (``code,charge[,modifier]``, a ``code,charge,...`` header and ``#`` comment
    lines allowed), in file order; InputError naming ``source`` and the row for one that is not of that shape."""
    rows: list[ChargeMasterRow] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#") or (number == 1 and cells[0].lower() == "code"):
            continue
        if len(cells) < 2 or not cells[0]:
            raise InputError("expected code,charge[,modifier]", file=source, row=number)
        try:
            charge = Decimal(cells[1].replace("$", "").replace(",", ""))
        except ArithmeticError as exc:
            raise InputError(f"charge {cells[1]!r} is not an amount", file=source, row=number,
                             field="charge") from exc
        if not charge.is_finite():
            raise InputError(f"charge {cells[1]!r} is not an amount", file=source, row=number, field="charge")
        if charge < 0:
            raise InputError(f"charge {cells[1]} is negative", file=source, row=number, field="charge")
        modifier = cells[2].upper() if len(cells) > 2 else ""
        rows.append(ChargeMasterRow(number, cells[0].upper(), modifier, charge))
    return rows


def load_charge_master(path: Path) -> dict[tuple[str, str], Decimal]:
    """A practice's charge per unit: CSV rows ``code,charge[,modifier]`` (a ``code,charge,...`` header is allowed)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read the charge master: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InputError("cannot read the charge master: expected UTF-8 text (a CSV of code,charge[,modifier])",
                         file=str(path)) from exc
    return {(row.code, row.modifier): row.charge for row in charge_master_rows(text, str(path))}


def line_charge(line: ClaimLine, charge_master: ChargeMaster | None) -> tuple[Decimal | None, str | None]:
    """The line's own charge, else the charge master's per-unit charge x units; with where it came from."""
    if line.charge is not None:
        return line.charge, "line"
    if not charge_master:
        return None, None
    for modifier in [*line.modifiers, ""]:
        unit_charge = charge_master.get((line.code, modifier))
        if unit_charge is not None:
            label = f"charge master {line.code}{'-' + modifier if modifier else ''} {unit_charge} x {line.units}"
            return round_cents(unit_charge * line.units), label
    return None, None


# ---------------------------------------------------------------------------------------------------------------
# Pricing


@dataclass
class _Work:
    """A line on its way through the pricer."""

    encounter: str | None
    patient: str
    number: int
    line: ClaimLine
    date_of_service: dt.date
    place_of_service: str
    rvu: dict[str, Any] | None = None
    setting: str = "non-facility"
    pe_rvu: Decimal = Decimal(0)
    unit_pe_share: list[Decimal] = field(default_factory=list)
    status: LineStatus = LineStatus.PRICED
    reason: str = ""
    steps: list[str] = field(default_factory=list)
    estimate: bool = False
    provider: str = ""
    """Who bills the line (the billing provider's NPI, else the rendering NPI): the MPPR ranks one provider's units."""
    diagnoses: tuple[str, ...] = ()
    """The line's diagnoses (its pointed ones, else every claim diagnosis); empty for a bare line: not known."""


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _gf(value: Decimal) -> str:
    return f"{value:.3f}"


RvuIndex = dict[tuple[str, str], dict[str, Any]]


def _rvu_index(frame: pl.DataFrame) -> RvuIndex:
    """The year's relative values keyed by (code, modifier), built once per pricing call: a line looks its row up in a
    dictionary instead of filtering the table (the first row wins, as the table has one row per code and modifier)."""
    index: RvuIndex = {}
    for row in frame.iter_rows(named=True):
        index.setdefault((row["code"], row["modifier"]), row)
    return index


@lru_cache(maxsize=8)
def _year_index(year: int, signature: tuple[tuple[str, int, int], ...]) -> RvuIndex:
    # Keyed by what is imported (the stored files' paths, times and sizes, so the data folder too), so a new import
    # is seen at once; pricing many claims reuses one index per year. Nothing imported: the bundled table.
    return _rvu_index(rvus(year))


def _rvu_row(index: RvuIndex, code: str, modifiers: Sequence[str]) -> dict[str, Any] | None:
    for modifier in modifiers:
        match = index.get((code, modifier))
        if match is not None:
            return match
    return index.get((code, ""))


def _collect(encounter_or_lines: Encounter | Sequence[Encounter] | Sequence[ClaimLine], date_of_service: dt.date | None,
             place_of_service: str) -> list[_Work]:
    if isinstance(encounter_or_lines, Encounter):
        encounters: list[Encounter] = [encounter_or_lines]
    elif all(isinstance(item, Encounter) for item in encounter_or_lines):
        encounters = [item for item in encounter_or_lines if isinstance(item, Encounter)]
    else:
        work = []
        for number, item in enumerate(encounter_or_lines, start=1):
            if not isinstance(item, ClaimLine):
                raise InputError(f"line {number} is neither a ClaimLine nor an Encounter")
            day = item.date or date_of_service
            if day is None:
                raise InputError("a line has no date of service; give ClaimLine.date or date_of_service=",
                                 line=number, field="date")
            work.append(_Work(None, "", number, item, day, place_of_service))
        return work
    return [_Work(enc.id, enc.patient.id, number, line, line.date or enc.date, enc.place_of_service,
                  provider=_billed_by(enc), diagnoses=_line_diagnoses(enc, line))
            for enc in encounters for number, line in enumerate(enc.lines, start=1)]


def _line_diagnoses(encounter: Encounter, line: ClaimLine) -> tuple[str, ...]:
    """The diagnoses the line points at; a line without a pointer that lands on one is judged by every claim
    diagnosis (a coded encounter may not have its pointers yet)."""
    pointed = tuple(encounter.diagnoses[p - 1] for p in line.dx_pointers if 0 < p <= len(encounter.diagnoses))
    return pointed or tuple(encounter.diagnoses)


def _billed_by(encounter: Encounter) -> str:
    """The provider the MPPR groups by: the billing provider (a group practice bills its PTs, OTs and SLPs under one
    NPI, and the MPPR spans their disciplines), else the rendering provider; "" when neither is given."""
    if encounter.billing_provider is not None:
        return f"billing:{encounter.billing_provider.npi}"
    return f"rendering:{encounter.provider.npi}" if encounter.provider.npi else ""


def _classify(item: _Work, frames: dict[int, RvuIndex]) -> None:
    line, year = item.line, item.date_of_service.year
    if line.units != line.units.to_integral_value():
        item.status, item.reason = LineStatus.UNPRICED, f"fractional units ({line.units}) cannot be priced"
        return
    if year not in frames:
        frames[year] = _year_index(year, import_signature(RefTable.RVU))
    row = _rvu_row(frames[year], line.code, line.modifiers)
    if row is None:
        item.status = LineStatus.UNPRICED
        item.reason = (f"no CY{year} relative values on file for {line.code}: not estimated (import the CMS "
                       f"PPRRVU{year % 100:02d} file with `cleanclaim data import`)")
        return
    item.rvu = row
    status = str(row["status"])
    if status not in PRICED_STATUSES:
        item.status, item.reason = _STATUS_MEANING.get(
            status, (LineStatus.UNPRICED, f"PFS status {status}: not priced by cleanclaim"))
        return
    if all(_dec(row[column]) == 0 for column in ("work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu")):
        # A payable status with no relative values at all (97545/97546: status R, every RVU 0.00) has no national
        # amount: pricing it would show $0.00 as if Medicare paid nothing.
        item.status = LineStatus.UNPRICED
        item.reason = (f"PFS status {status} but no CY{year} relative values for {line.code} ({row['source']}): "
                       "there is no national amount, so cleanclaim does not estimate one")
        return
    setting = place_of_service_setting(item.place_of_service)
    item.setting = setting or "non-facility"
    item.pe_rvu = _dec(row["f_pe_rvu"] if item.setting == "facility" else row["nf_pe_rvu"])
    item.steps.append(
        f"{line.code}{''.join('-' + m for m in line.modifiers)} x{line.units}: CY{year} RVUs ({row['source']}): "
        f"work {row['work_rvu']}, {item.setting} PE {item.pe_rvu}, MP {row['mp_rvu']}; status {status}")
    item.steps.append(f"POS {item.place_of_service}: {item.setting} PE"
                      + ("" if setting else " (POS not in the facility list: non-facility assumed)"))
    if status == "R":
        item.steps.append("status R (restricted coverage): paid only when the coverage conditions are met")
    if status == "T":
        item.steps.append("status T: paid only when no other PFS service is paid the same day")
    item.unit_pe_share = [ONE] * int(line.units)


# Statuses whose PE is unknown rather than absent: such a line may be the day's highest-PE therapy unit.
_UNKNOWN_PE = frozenset({LineStatus.UNPRICED, LineStatus.CARRIER_PRICED})


def _apply_mppr(items: list[_Work]) -> list[str]:
    """Full PE for the one highest-PE unit of always-therapy services per provider, patient and day; 50% for every
    other (NGS and Novitas, MACs, restating CMS's rule: the units and procedures one provider, a group practice
    across its disciplines, furnishes to one patient on one day; another provider's services that day are ranked
    apart). CMS's own documents: CR 7050 (Pub. 100-20 One-Time Notification, Transmittal 826, 2010-12-21, effective
    2011-01-01: "MPPR for Selected Therapy Services", then 20% office / 25% institutional, read here); 50% from
    2013-04-01 (American Taxpayer Relief Act of 2012 s633); the manual section, Pub. 100-04 ch. 5 s10.7, is not
    verified here. Lines without a billing or rendering NPI are one provider.

    Returns the claim notes for days where an unpriced always-therapy line leaves the MPPR order unknown.
    """
    book = codebook()
    groups: dict[tuple[str, str, dt.date], list[_Work]] = {}
    unknown: dict[tuple[str, str, dt.date], list[_Work]] = {}
    for item in items:
        entry = book.get(item.line.code, item.date_of_service)
        if entry is None or not entry.always_therapy or item.date_of_service < MPPR_START:
            continue
        key = (item.provider, item.patient or item.encounter or "", item.date_of_service)
        if item.status is LineStatus.PRICED and item.unit_pe_share:
            groups.setdefault(key, []).append(item)
        elif item.status in _UNKNOWN_PE:
            unknown.setdefault(key, []).append(item)
    notes: list[str] = []
    for key, group in groups.items():
        units = sum(len(i.unit_pe_share) for i in group)
        if key in unknown:
            _reduce_all(group, unknown[key])
            notes.append(_unknown_order_note(group, unknown[key]))
            continue
        if units < 2:
            continue
        top = max(group, key=lambda i: i.pe_rvu)  # max keeps the first of equal PEs: billing order breaks ties
        for item in group:
            item.unit_pe_share = [MPPR_PE_SHARE] * len(item.unit_pe_share)
        top.unit_pe_share[0] = ONE
        for item in group:
            reduced = sum(1 for s in item.unit_pe_share if s != ONE)
            kept = "highest PE of the day: full PE on 1 unit; " if item is top else ""
            item.steps.append(f"therapy MPPR ({units} always-therapy units this day): {kept}{reduced} unit(s) at "
                              f"50% PE")
    return notes


def _line_names(items: list[_Work]) -> str:
    return ", ".join(f"{i.encounter + ' ' if i.encounter else ''}line {i.number} {i.line.code}" for i in items)


UNPRICED_NAMED_PER_LINE = 5
"""How many of a day's unpriced lines each priced line's MPPR step names (the day's claim note names them all): every
step naming every one made a day of n lines n times n names long."""


def _reduce_all(priced: list[_Work], unpriced: list[_Work]) -> None:
    """Every priced unit at 50% PE: the unpriced line's PE is unknown, so any of its units may be the day's highest."""
    names = _line_names(unpriced[:UNPRICED_NAMED_PER_LINE])
    if len(unpriced) > UNPRICED_NAMED_PER_LINE:
        names += f" and {len(unpriced) - UNPRICED_NAMED_PER_LINE} more line(s)"
    for item in priced:
        item.unit_pe_share = [MPPR_PE_SHARE] * len(item.unit_pe_share)
        item.estimate = True
        item.steps.append(
            f"therapy MPPR order unknown: {names} (always therapy, same patient and day) could not be priced, and "
            f"its PE may be the day's highest, so all {len(item.unit_pe_share)} unit(s) of this line are taken at "
            f"50% PE (the lowest this line can be paid): an estimate")


def _unknown_order_note(priced: list[_Work], unpriced: list[_Work]) -> str:
    day = priced[0].date_of_service.isoformat()
    return (f"{day}: therapy MPPR order unknown because {_line_names(unpriced)} could not be priced; "
            f"estimated with every unit at 50% PE: {_line_names(priced)} (the lowest they can be paid; if a "
            f"priced unit has the day's highest PE it is paid its full PE)")


def price(encounter_or_lines: Encounter | Sequence[Encounter] | Sequence[ClaimLine], *, locality: str | None = None,
          qualifying_apm: bool = False, sequestration: bool = True, deductible_remaining: Decimal | float | int = 0,
          charge_master: ChargeMaster | Path | str | None = None, date_of_service: dt.date | None = None,
          place_of_service: str = "11") -> PricedClaim:
    """Estimate Medicare's allowed amount, the patient's share and Medicare's payment for every line.

    ``locality`` is ``"MAC:LOCALITY"`` (``"01182:18"``); without it every GPCI is 1.000 (the national amount).
    ``charge_master`` is a mapping from :func:`load_charge_master` or the path of its CSV; it fills only the lines
    that have no charge. ``date_of_service`` and ``place_of_service`` are used only for bare ClaimLines without a
    date or encounter.
    """
    if isinstance(charge_master, str | Path):
        charge_master = load_charge_master(Path(charge_master))
    items = _collect(encounter_or_lines, date_of_service, place_of_service)
    frames: dict[int, RvuIndex] = {}
    for item in items:
        _classify(item, frames)
    order_notes = _apply_mppr(items)

    given = Decimal(str(deductible_remaining))
    if given < 0:
        raise InputError("deductible_remaining must not be negative", field="deductible_remaining")
    # the Part B deductible is each beneficiary's, per calendar year (42 CFR 410.160): ``deductible_remaining`` is
    # what each patient still has to meet in each year the lines fall in, never one amount shared by a whole run
    remaining: dict[tuple[str, int], Decimal] = {}
    place = parse_locality(locality) if locality else None
    notes = [f"locality {place[0]}:{place[1]}" if place else "national amounts: all GPCIs 1.000 (no locality given)"]
    if not sequestration:
        notes.append("2% sequestration not applied (sequestration=False)")
    if not items:
        notes.append("no billed lines to price (an encounter's services become lines with `cleanclaim code`)")
    notes.extend(order_notes)
    notes.extend(_payer_notes(encounter_or_lines))
    results = []
    for item in items:
        key = (item.patient or item.encounter or "", item.date_of_service.year)
        left = remaining.get(key, given)
        results.append(_finish(item, place, qualifying_apm, sequestration, left, charge_master))
        remaining[key] = left - (results[-1].deductible or Decimal(0))
    return PricedClaim(tuple(results), f"{place[0]}:{place[1]}" if place else "national", qualifying_apm,
                       sequestration, tuple(notes))


def _payer_notes(encounter_or_lines: Encounter | Sequence[Encounter] | Sequence[ClaimLine]) -> list[str]:
    """A note per encounter payer that is not a Medicare program: the amounts are PFS amounts, not its rates."""
    from cleanclaim.payers import load_profile  # the payer profiles are only read for encounters

    encounters = ([encounter_or_lines] if isinstance(encounter_or_lines, Encounter)
                  else [e for e in encounter_or_lines if isinstance(e, Encounter)])
    notes: list[str] = []
    for payer in sorted({e.payer for e in encounters}):
        try:
            program: str | None = load_profile(payer).program
        except CleanclaimError:
            program = None
        if program == "medicare":
            continue
        label = (f"is not a Medicare program (program: {program})" if program
                 else "has no payer profile cleanclaim knows")
        notes.append(f"payer {payer!r} {label}: these are Medicare PFS amounts, not that payer's contract rates")
    return notes


def _finish(item: _Work, place: tuple[str, str] | None, qualifying_apm: bool, sequestration: bool,
            deductible_remaining: Decimal, charge_master: ChargeMaster | None) -> PricedLine:
    line = item.line
    charge, charge_source = line_charge(line, charge_master)
    steps = list(item.steps)
    if charge_source and charge_source != "line":
        steps.append(f"charge filled from {charge_source} = {charge}")
    base: dict[str, Any] = {
        "estimate": item.estimate, "encounter": item.encounter, "line": item.number, "code": line.code,
        "modifiers": tuple(line.modifiers),
        "units": line.units, "date_of_service": item.date_of_service, "place_of_service": item.place_of_service,
        "charge": charge, "charge_source": charge_source,
    }
    if item.status is not LineStatus.PRICED or item.rvu is None:
        return PricedLine(**base, status=item.status, reason=item.reason, steps=(*steps, item.reason))

    year = item.date_of_service.year
    if place is None:
        work_g = pe_g = mp_g = ONE
        steps.append("GPCI national: work 1.000, PE 1.000, MP 1.000")
    else:
        row = gpci(year, f"{place[0]}:{place[1]}")
        if row.is_empty():
            reason = (f"no CY{year} GPCI on file for locality {place[0]}:{place[1]}: not estimated (import the CMS "
                      f"GPCI{year} file, or price without a locality for the national amount)")
            return PricedLine(**base, status=LineStatus.UNPRICED, reason=reason, steps=(*steps, reason))
        gpci_row = row.row(0, named=True)
        work_g, pe_g, mp_g = (_dec(gpci_row[k]) for k in ("work_gpci", "pe_gpci", "mp_gpci"))
        steps.append(f"GPCI {place[0]}:{place[1]} {gpci_row['locality_name']} ({gpci_row['source']}): work "
                     f"{_gf(work_g)}, PE {_gf(pe_g)}, MP {_gf(mp_g)}")
    factor = conversion_factor_entry(item.date_of_service, qualifying_apm)
    if factor is None:
        reason = f"no CY{year} conversion factor on file: not estimated"
        return PricedLine(**base, status=LineStatus.UNPRICED, reason=reason, steps=(*steps, reason))
    steps.append(f"conversion factor CY{year}{' (qualifying APM participant)' if qualifying_apm else ''} "
                 f"{factor.amount} ({factor.source})")

    work_rvu, mp_rvu = _dec(item.rvu["work_rvu"]), _dec(item.rvu["mp_rvu"])
    exact = Decimal(0)
    unit_amounts: list[Decimal] = []
    for index, share in enumerate(item.unit_pe_share, start=1):
        unit_exact = (work_rvu * work_g + item.pe_rvu * pe_g * share + mp_rvu * mp_g) * factor.amount
        pe_text = f"{item.pe_rvu} x {_gf(pe_g)}" + ("" if share == ONE else " x 50% (MPPR)")
        # CMS publishes the fee schedule amount per unit in cents (PFAL25A): each unit is rounded before the sum.
        unit_amounts.append(round_cents(unit_exact))
        steps.append(f"unit {index}: ({work_rvu} x {_gf(work_g)} + {pe_text} + {mp_rvu} x {_gf(mp_g)}) x "
                     f"{factor.amount} = {unit_exact.normalize():f}, rounded half up to {unit_amounts[-1]}")
        exact += unit_exact
    fee = sum(unit_amounts, Decimal("0.00"))
    summed = f"{' + '.join(str(a) for a in unit_amounts)} = {fee}" if len(unit_amounts) > 1 else f"{fee}"
    if ASSISTANT_MODIFIERS & set(line.modifiers) and item.date_of_service >= ASSISTANT_START:
        modifier = sorted(ASSISTANT_MODIFIERS & set(line.modifiers))[0]
        allowed = round_cents(fee * ASSISTANT_SHARE)
        steps.append(f"fee schedule amount of the line: {summed}")
        steps.append(f"{modifier}: furnished in whole or part by an assistant, paid at 85% after the MPPR: "
                     f"{fee} x 0.85 = {(fee * ASSISTANT_SHARE).normalize():f}, rounded half up to {allowed}")
        exact *= ASSISTANT_SHARE
        steps.append(f"allowed {allowed}")
    else:
        allowed = fee
        steps.append(f"allowed {summed}" + (" (the sum of the units' rounded amounts)" if len(unit_amounts) > 1
                                            else ""))

    waiver = cost_sharing_waiver(line.code, item.date_of_service, item.diagnoses)
    if waiver is not None:
        steps.append(waiver.reason)
    if waiver is not None and waiver.waived:
        deductible = coinsurance = Decimal("0.00")
    else:
        deductible = min(deductible_remaining, allowed).quantize(CENT)
        coinsurance = round_cents((allowed - deductible) * COINSURANCE)
        steps.append(f"deductible {deductible}; coinsurance 20% x ({allowed} - {deductible}) = {coinsurance}")
    medicare = allowed - deductible - coinsurance
    cut = round_cents(medicare * SEQUESTRATION) if sequestration else Decimal("0.00")
    steps.append(f"Medicare share {medicare}" + (f"; 2% sequestration {cut}; Medicare pays {medicare - cut}"
                                                  if sequestration else "; sequestration not applied"))
    return PricedLine(**base, status=LineStatus.PRICED, reason="", rate_setting=item.setting, allowed_exact=exact,
                      allowed=allowed, deductible=deductible, coinsurance=coinsurance, medicare_share=medicare,
                      sequestration=cut, medicare_paid=medicare - cut, patient_owes=deductible + coinsurance,
                      steps=tuple(steps))


# ---------------------------------------------------------------------------------------------------------------
# KX threshold helper


@dataclass(frozen=True)
class TherapyAmounts:
    """Year-to-date allowed therapy dollars toward the KX threshold: PT and SLP share one amount, OT has its own."""

    year: int
    pt_slp: Decimal
    ot: Decimal
    lines_without_allowed: int
    """Therapy history lines of the year with no ``allowed`` amount: the totals may be too low."""


def therapy_amounts_ytd(history: Iterable[HistoryLine | ClaimLine], year: int) -> TherapyAmounts:
    """Sum history lines' ``allowed`` by therapy modifier (GP/GN together, GO apart) for one calendar year."""
    pt_slp = ot = Decimal(0)
    missing = 0
    for entry in history:
        day = entry.date
        if day is None or day.year != year:
            continue
        modifiers = set(entry.modifiers)
        is_ot, is_pt_slp = "GO" in modifiers, bool({"GP", "GN"} & modifiers)
        if not (is_ot or is_pt_slp):
            continue
        allowed = getattr(entry, "allowed", None)
        if allowed is None:
            missing += 1
            continue
        if is_ot:
            ot += allowed
        else:
            pt_slp += allowed
    return TherapyAmounts(year, pt_slp, ot, missing)


# ---------------------------------------------------------------------------------------------------------------
# Many lines at once: national amounts, each distinct group priced once


NATIONAL_SCHEMA: dict[str, Any] = {"allowed": pl.Decimal(12, 2), "status": pl.String}
_GROUP_MEMO_LIMIT = 200_000
_group_memo: dict[tuple[Any, ...], tuple[tuple[Decimal | None, str | None], ...]] = {}
"""Each distinct group's amounts and statuses (`national_allowed`), kept across calls: an audit prices the same
days and lines in every partition."""


def national_allowed(lines: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """The national Medicare allowed amount and pricing status (a `LineStatus` value) of each row of ``lines``
    (columns ``code``, ``modifiers``, ``units``, ``date``, ``place_of_service``), row for row: the rows of each
    ``by`` group are priced together by `price` as bare lines (the therapy MPPR ranks a day's units together, so a
    patient's day is one group); without ``by`` each row is priced alone. A group `price` cannot read (a line the
    model refuses) has null amount and status. The group's place of service is its first non-null one ("11").

    Why not `price` per group: a batch audit has tens of thousands of patient-days, but few distinct ones. A group's
    amounts depend only on its lines' codes, modifiers and units, each line's year and position against the MPPR
    and CQ/CO start dates, whether the code book has its code as always-therapy on its date, the group's setting
    (facility or not) and the imported RVU files; a group is priced once per distinct value of all that (kept across
    calls, keyed by the import too) and joined back, so a million lines cost a few thousand `price` calls."""
    from cleanclaim.refdata.imported import one_reading

    if lines.is_empty():
        return pl.DataFrame(schema=NATIONAL_SCHEMA)
    with one_reading():
        return _national_allowed(lines, list(by))


def _national_allowed(lines: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    book = codebook()
    state = import_signature(RefTable.RVU)
    rows = lines.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"),
        pl.struct(by).rank("dense").alias("__group") if by else pl.int_range(pl.len(), dtype=pl.Int64).alias("__group"),
        "code", "modifiers", "units", "date", "place_of_service")
    # what each distinct (code, date) and place contributes to the key, decided once each in Python
    code_days = rows.select("code", "date").unique()
    always = [None if entry is None else entry.always_therapy
              for entry in (book.get(code, day) if code is not None and day is not None else None
                            for code, day in code_days.iter_rows())]
    code_days = code_days.with_columns(
        pl.Series("__always", always, dtype=pl.Boolean),
        pl.col("date").dt.year().alias("__year"),
        (pl.col("date") >= MPPR_START).alias("__mppr"), (pl.col("date") >= ASSISTANT_START).alias("__assistant"))
    item = pl.concat_str(
        [pl.col("code").fill_null("\x00"),
         pl.col("modifiers").list.eval(pl.element().fill_null("\x00")).list.join(";").fill_null("\x00"),
         pl.col("units").cast(pl.String).fill_null("\x00"), pl.col("__year").cast(pl.String).fill_null("\x00"),
         pl.col("__always").cast(pl.String).fill_null("-"), pl.col("__mppr").cast(pl.String).fill_null("-"),
         pl.col("__assistant").cast(pl.String).fill_null("-")], separator="|")
    keyed = rows.join(code_days, on=["code", "date"], how="left", nulls_equal=True, maintain_order="left") \
        .with_columns(item.alias("__item"))
    groups = (keyed.group_by("__group", maintain_order=True)
              .agg(pl.col("__row"), pl.col("__item").str.join("\x1e").alias("__items"),
                   pl.col("place_of_service").drop_nulls().first().fill_null("11").alias("__place")))
    places = groups.get_column("__place").unique()
    settings = pl.DataFrame({"__place": places, "__setting": [
        place_of_service_setting(str(p)) or "non-facility" for p in places.to_list()]})
    groups = groups.join(settings, on="__place", how="left", maintain_order="left")
    distinct = groups.unique(["__items", "__setting"], keep="first", maintain_order=True)
    values = lines.select("code", "modifiers", "units", "date")
    if len(_group_memo) > _GROUP_MEMO_LIMIT:
        _group_memo.clear()
    results: list[tuple[tuple[Decimal | None, str | None], ...]] = []
    for numbers, items, place, setting in distinct.select("__row", "__items", "__place", "__setting").iter_rows():
        key = (state, price, items, setting)  # `price` itself too: a stand-in (a test's) never reads its results
        # read once: another thread (an audit checks two partitions at once) may clear the memo between two reads
        if (amounts := _group_memo.get(key)) is None:
            amounts = _group_memo[key] = _price_group([values.row(n) for n in numbers], place)
        results.append(amounts)
    priced = distinct.select("__items", "__setting").with_columns(
        pl.Series("allowed", [[a for a, _ in r] for r in results], dtype=pl.List(pl.Decimal(12, 2))),
        pl.Series("status", [[s for _, s in r] for r in results], dtype=pl.List(pl.String)))
    return (groups.select("__row", "__items", "__setting")
            .join(priced, on=["__items", "__setting"], how="left", maintain_order="left")
            .explode("__row", "allowed", "status")
            .sort("__row").select("allowed", "status"))


def _price_group(rows: list[tuple[Any, ...]], place: str) -> tuple[tuple[Decimal | None, str | None], ...]:
    """One group's lines priced by `price`; a group it cannot read is unpriced (null amounts and status)."""
    try:
        claim_lines = [ClaimLine(code=code, modifiers=modifiers or [], units=Decimal(str(units)), date=day)
                       for code, modifiers, units, day in rows]
        priced = price(claim_lines, place_of_service=place).lines
    except (CleanclaimError, ValueError, LookupError):
        return tuple((None, None) for _ in rows)
    return tuple((line.allowed if line.priced else None, line.status.value) for line in priced)

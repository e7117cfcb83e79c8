"""Domain types shared by every part of cleanclaim: what was done (services), what is billed (claim lines),
and what a check found (findings).

The field names follow the encounter interchange contract in DESIGN.md, so a YAML file, a JSON body posted to
the web API and a Python caller all build the same objects.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Discipline(StrEnum):
    """Who rendered the service. Therapy disciplines decide GP/GO/GN; the rest decide who may bill a code."""

    PT = "PT"
    OT = "OT"
    SLP = "SLP"
    MD = "MD"
    DO = "DO"
    NP = "NP"
    PA = "PA"
    CNS = "CNS"
    CNM = "CNM"
    PSYCHOLOGIST = "psychologist"
    CSW = "CSW"
    MFT = "MFT"
    MHC = "MHC"
    RD = "RD"
    RN = "RN"
    CDCES = "CDCES"
    COACH = "coach"
    CHW = "CHW"
    PEER = "peer"
    OTHER = "other"

    @classmethod
    def _missing_(cls, value: object) -> Discipline | None:
        if isinstance(value, str):
            wanted = value.strip().lower()
            for member in cls:
                if member.value.lower() == wanted:
                    return member
            aliases = {
                "physical therapist": cls.PT, "occupational therapist": cls.OT,
                "speech-language pathologist": cls.SLP, "speech": cls.SLP, "st": cls.SLP,
                "lcsw": cls.CSW, "social worker": cls.CSW, "clinical social worker": cls.CSW,
                "health coach": cls.COACH, "nbhwc": cls.COACH, "dietitian": cls.RD,
                "physician": cls.MD, "nurse practitioner": cls.NP, "physician assistant": cls.PA,
            }
            return aliases.get(wanted)
        return None


THERAPY_MODIFIER_BY_DISCIPLINE: dict[Discipline, str] = {
    Discipline.PT: "GP",
    Discipline.OT: "GO",
    Discipline.SLP: "GN",
}
# CQ/CO exist for PT and OT assistants only; there is no SLP-assistant modifier (CMS, CQ/CO billing examples).
ASSISTANT_MODIFIER_BY_THERAPY_MODIFIER: dict[str, str] = {"GP": "CQ", "GO": "CO"}


class FurnishedBy(StrEnum):
    THERAPIST = "therapist"
    ASSISTANT = "assistant"
    TOGETHER = "together"


def _upper_code(value: Any) -> Any:
    # Codes arrive as ints from YAML (97110) or with stray spaces from spreadsheets; the code itself is text.
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:05d}"
    if isinstance(value, str):
        return value.strip().upper()
    return value


def _modifier_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [m for m in (p.strip().upper() for p in value.replace(",", ";").split(";")) if m]
    if isinstance(value, list | tuple):
        return _item_texts(value)
    return value


def _item_texts(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    """Each code of a list as upper-case text, blanks dropped. A list or mapping in the list stays as it is, for its
    item to be reported as not text: str() would make one code of `[F41.1, F32.0]`, or `[[...]]` of a YAML list that
    holds itself."""
    return [item if isinstance(item, list | tuple | dict) else str(item).strip().upper()
            for item in items if isinstance(item, list | tuple | dict) or str(item).strip()]


def _serialize_decimal(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# Bounds on the numbers of an encounter. They are not payer rules (those are findings): past them a value is no
# quantity of one visit, and taking it would overflow or exhaust what reads it (64-bit tables, one pricing entry per
# unit, float64 holding units and amounts exactly to about 15 significant digits). Each is reported at its field.
MAX_MINUTES = 1440
"""A day has 1,440 minutes: no service (or line) of one date of service lasts longer."""
MAX_UNITS = Decimal(9999)
"""The unit ceiling. Time-based units of the services cleanclaim codes stay below a day's 1,440 one-minute units;
9,999 leaves room for supply and drug units while keeping pricing (one entry per unit) bounded."""
MAX_UNIT_DECIMALS = 3
"""A fractional unit (0.5) is kept and reported (fractional-units); more than three decimals is not a unit count but a
float artefact, and ``2.00000000000000001`` must never be read as 2 (float64 would): refused, never rounded."""
MAX_MONEY = Decimal("9999999.99")
"""Under ten million dollars an amount (a line's charge, a claim total, an allowed amount): no service in cleanclaim's
scope comes near, amounts stay exact in float64, and the rules' sums in whole cents (Int64) and the Decimal128 of
pricing and the exports stay in range for any batch (1e23 crashed them; 9.3e16 overflows Int64 cents). The claim-line
tables take the same bound (formats/claim_table.py)."""
MAX_MONEY_DECIMALS = 2
"""Amounts are in dollars and cents (837P SV102/CLM02, CMS-1500 24F/28): a fraction of a cent is refused, not
rounded."""
MAX_DX_POINTER = 99
"""A claim holds 12 diagnoses; pointers up to 99 are read and reported by invalid-dx-pointer, and a number past that
is no pointer at all (1e20 would overflow the 64-bit pointer column)."""
MAX_GROUP_SIZE = 1000
"""More people than any group session holds; past it the number is no group size."""


def _ascii_number(value: Any) -> Any:
    # pydantic's Decimal reads "٣٤.٥" as 34.5: an amount on a claim is written in ASCII digits
    if isinstance(value, str) and not value.isascii():
        raise ValueError("an amount must be a number in ASCII digits")
    return value


def _money(value: Decimal) -> Decimal:
    if abs(value) > MAX_MONEY:
        raise ValueError(f"an amount must be at most {MAX_MONEY:,} (a bound of cleanclaim, see model.MAX_MONEY)")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_MONEY_DECIMALS and value != round(value, MAX_MONEY_DECIMALS):
        raise ValueError(f"an amount has at most {MAX_MONEY_DECIMALS} decimal places (cents); {_shown(value)} is not "
                         "rounded")
    return value


ProcedureCode = Annotated[str, BeforeValidator(_upper_code)]
Modifiers = Annotated[list[str], BeforeValidator(_modifier_list)]
Money = Annotated[Decimal, BeforeValidator(_ascii_number), AfterValidator(_money),
                  PlainSerializer(_serialize_decimal, return_type=int | float)]
UnitCount = Annotated[Decimal, PlainSerializer(_serialize_decimal, return_type=int | float)]
DxPointer = Annotated[int, Field(ge=-MAX_DX_POINTER, le=MAX_DX_POINTER)]


def _shown(value: Any) -> str:
    # at most 40 characters of a value in a message (a 5,000-digit "units" would bury it)
    text = str(value).strip() if not isinstance(value, int) or value.bit_length() < 160 else "a number too long to show"
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


def unit_count(value: Any) -> Decimal:
    """A unit count as given (a fractional one is kept, to be reported), or a clear error: not a number, not finite
    ("nan", ".inf" in YAML), or negative."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError("units must be a number")
    if isinstance(value, str) and not value.isascii():
        raise ValueError("units must be a number in ASCII digits (Decimal() would read other scripts' digits)")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"units must be a number, got {_shown(value)!r}") from None
    if not number.is_finite():
        raise ValueError(f"units must be a finite number, got {_shown(value)}")
    if number < 0:
        raise ValueError(f"units must not be negative, got {_shown(value)}")
    if number > MAX_UNITS:
        raise ValueError(f"units must be at most {MAX_UNITS} (the unit ceiling, model.MAX_UNITS), got {_shown(value)}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_UNIT_DECIMALS and number != round(number, MAX_UNIT_DECIMALS):
        raise ValueError(f"units carry at most {MAX_UNIT_DECIMALS} decimal places; {_shown(value)} is not "
                         "rounded (is it a whole number or a fraction such as 0.5?)")
    return number


Minutes = Annotated[int, Field(ge=0, le=MAX_MINUTES, strict=True)]


_ASCII_DIGITS = frozenset("0123456789")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)


def _identifier_text(value: Any) -> Any:
    # An identifier written as a YAML number (npi: 1234567893, zip: 62701) is the same identifier as text. Its format
    # (ten digits, a check digit, nine digits...) is judged by a rule, not here.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IdentifierText = Annotated[str, BeforeValidator(_identifier_text)]
"""Claim data with a format a payer checks (NPI, tax id, ZIP, state, sex, phone): readable text that may be wrong. A
wrong one is a finding (invalid-npi, invalid-claim-field), so that the rest of the encounter is still checked; only
what cannot be read at all (not text, a nested list...) is an input error."""


class Address(_Model):
    line1: str
    line2: str | None = None
    city: str
    state: IdentifierText
    zip: IdentifierText

    @field_validator("zip", mode="before")
    @classmethod
    def _zip_text(cls, value: Any) -> Any:
        # a ZIP read as a YAML number lost its leading zero (01720 -> 1720): five digits put it back
        return f"{value:05d}" if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value


class Patient(_Model):
    id: str
    birth_date: dt.date | None = None
    sex: IdentifierText | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: Address | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class Provider(_Model):
    """The rendering provider. Without an NPI the encounter is still coded and checked (missing-required-field says
    what the claim lacks); a malformed NPI is reported by invalid-npi."""

    npi: IdentifierText | None = None
    discipline: Discipline
    first_name: str | None = None
    last_name: str | None = None
    taxonomy: str | None = None

    @field_validator("npi", mode="after")
    @classmethod
    def _blank_npi_not_given(cls, value: str | None) -> str | None:
        # a blank NPI is a missing one (missing-required-field), not an NPI of no digits
        return value or None


class BillingProvider(_Model):
    name: str
    npi: IdentifierText
    tax_id: IdentifierText
    taxonomy: str | None = None
    address: Address
    phone: IdentifierText | None = None

    @field_validator("tax_id", mode="before")
    @classmethod
    def _ein_digits(cls, value: Any) -> Any:
        # An EIN is written 12-3456789 on IRS letters (and in some 837P files' REF*EI); it is the same nine digits,
        # which is what the 837P (2010AA REF02) and the CMS-1500 (item 25) take. Only that exact shape is accepted.
        if isinstance(value, str) and re.fullmatch(r"[0-9]{2}-[0-9]{7}", value.strip()):
            return value.strip().replace("-", "")
        return value

    @field_validator("phone", mode="before")
    @classmethod
    def _phone_digits(cls, value: Any) -> Any:
        # "(217) 555-0100" and "217-555-0100" are the same number; the claim formats want the ten digits. Only the
        # punctuation of a phone number is dropped (ASCII digits kept): "²" or "٣" stay, for invalid-claim-field.
        if isinstance(value, str):
            return "".join(ch for ch in value if ch not in _PHONE_PUNCTUATION)
        return value


_PHONE_PUNCTUATION = frozenset(" ()-.+/")


class Subscriber(_Model):
    member_id: str | None = None
    """Without it the encounter is still checked: missing-required-field reports it, and the claim writers refuse it."""
    first_name: str | None = None
    last_name: str | None = None
    relationship: str = "self"
    birth_date: dt.date | None = None
    sex: IdentifierText | None = None
    group_number: str | None = None


class Service(_Model):
    """Something that was done in the encounter, as documented: the input of ``cleanclaim code``.

    ``code`` may be a family's base code (96158, 99406, 99401, 99408, 0592T): the coder picks the family member
    and units that the documented minutes support.
    """

    code: ProcedureCode
    minutes: Minutes | None = None
    furnished_by: FurnishedBy = FurnishedBy.THERAPIST
    assistant_minutes: Minutes | None = None
    group_size: int | None = Field(default=None, ge=1, le=MAX_GROUP_SIZE, strict=True)
    modifiers: Modifiers = Field(default_factory=list)
    ndc: str | None = None

    @model_validator(mode="after")
    def _assistant_within_total(self) -> Service:
        if self.assistant_minutes is not None:
            if self.minutes is None:
                raise ValueError("assistant_minutes needs the service's total minutes as well")
            if self.assistant_minutes > self.minutes:
                raise ValueError(f"assistant_minutes ({self.assistant_minutes}) cannot exceed the service's "
                                 f"minutes ({self.minutes}): they are the part the assistant furnished alone")
        return self


class ReferringProvider(_Model):
    """Who referred the patient (837P 2310A, CMS-1500 item 17/17b)."""

    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    last_name: str
    first_name: str | None = None


class ClaimLine(_Model):
    """A billed line: the output of ``cleanclaim code`` and the input of ``cleanclaim check``.

    ``units`` is a decimal on purpose: a fractional unit in the input is kept and reported, never rounded.
    """

    code: ProcedureCode
    modifiers: Modifiers = Field(default_factory=list)
    units: UnitCount = Decimal(1)
    minutes: Minutes | None = None
    dx_pointers: list[DxPointer] = Field(default_factory=list)
    charge: Money | None = None
    date: dt.date | None = None
    ndc: str | None = None
    rendering_npi: str | None = None
    # Optional line data an 837P carries, kept so a claim read from one is checked and written back as billed:
    # ``place_of_service`` when the line's (SV105) differs from the claim's; ``date_through`` the last day of a
    # DTP*472 RD8 range (``date`` is its first); ``unit_code`` "MJ" when SV104 counted minutes, not units (then
    # ``minutes`` holds them and ``units`` is 1: cleanclaim does not convert minutes into units).
    place_of_service: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    date_through: dt.date | None = None
    unit_code: Literal["MJ"] | None = None
    references: dict[str, str] | None = None  # 837P 2400 REF segments by qualifier (6R line item control number, ...)
    line_elements: dict[str, str] | None = None  # 837P SV106, SV108-SV121 as read (SV109 emergency "Y", ...)

    @model_validator(mode="after")
    def _range_in_order(self) -> ClaimLine:
        if self.date_through is not None and (self.date is None or self.date_through < self.date):
            raise ValueError("date_through needs a date on or before it (the first day of the range)")
        return self

    @field_validator("units", mode="before")
    @classmethod
    def _units_number(cls, value: Any) -> Any:
        return unit_count(value)

    @field_validator("charge")
    @classmethod
    def _charge_not_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value < 0:
            raise ValueError(f"a charge cannot be negative, got {value}")
        return value

    @field_validator("dx_pointers", mode="before")
    @classmethod
    def _pointer_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            # ASCII digits only ("١" is int() 1 in Python): anything else stays text, for the field to report
            parts = [p.strip() for p in value.replace(",", ";").split(";") if p.strip()]
            return [int(p) if p.isascii() and p.lstrip("+-").isdecimal() and len(p) < 20 else p for p in parts]
        if isinstance(value, int):
            return [value]
        return value


class HistoryLine(_Model):
    """An earlier billed line (or event) for the same patient: feeds frequency, KX and progress-report rules."""

    date: dt.date
    code: ProcedureCode
    modifiers: Modifiers = Field(default_factory=list)
    units: UnitCount = Decimal(1)

    @field_validator("units", mode="before")
    @classmethod
    def _units_number(cls, value: Any) -> Any:
        return unit_count(value)
    allowed: Money | None = None
    progress_report: bool = False


class PlanOfCare(_Model):
    start: dt.date
    certified_through: dt.date | None = None


class Encounter(_Model):
    id: str
    date: dt.date
    payer: str = "medicare"
    place_of_service: str = Field(default="11", min_length=1)
    """Any text: a code outside the CMS set ("ZZ", "30") is reported by invalid-place-of-service."""
    patient: Patient
    provider: Provider
    diagnoses: list[str] = Field(default_factory=list)
    billing_provider: BillingProvider | None = None
    subscriber: Subscriber | None = None
    payer_id: str | None = None
    payer_name: str | None = None
    """The payer's name as claims print it (837P 2010BB, CMS-1500 carrier block and 11c, FHIR Organization);
    without it the payer profile id stands in, which says "COMMERCIAL" rather than who pays."""
    claim_id: str | None = None
    services: list[Service] = Field(default_factory=list)
    lines: list[ClaimLine] = Field(default_factory=list)
    total_charge: Money | None = None
    note: str | None = None
    plan_of_care: PlanOfCare | None = None
    history: list[HistoryLine] = Field(default_factory=list)
    # Optional claim data an 837P carries, kept so a claim read from one is written back as it was billed.
    claim_filing_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{1,2}$")
    """837P SBR09 claim filing indicator (MB, MC, CH, CI, HM, 12, ...); without it the writer derives it from the
    payer profile (medicare MB, medicaid MC, tricare CH, else CI)."""
    referring_provider: ReferringProvider | None = None
    """The referring provider (837P loop 2310A NM1*DN; CMS-1500 item 17)."""
    references: dict[str, dict[str, str]] | None = None
    """837P REF segments as read, by loop (2010BB, 2300, 2310A, 2310B) and qualifier (D9, G2, EA, ...). None when
    the claim did not come from an 837P: the writer then writes the patient id as the 2300 REF*EA."""
    claim_elements: dict[str, str] | None = None
    """837P CLM elements as read that the encounter has no field for: "CLM05-3" (claim frequency: 1 original,
    7 replacement, 8 void) and the simple elements CLM06-CLM20 (CLM09 "I", CLM10 "P", ...); the writer writes them
    in place of its defaults (CLM05-3 1, CLM06-09 Y, A, Y, Y)."""
    x12_not_carried: list[str] = Field(default_factory=list)
    """837P data of this claim the encounter cannot carry (e.g. "2320 SBR" other-payer loops, "2310C NM1*77"); the
    837P writer refuses to write the claim again, naming them, rather than lose them."""

    @property
    def payer_display(self) -> str:
        """The payer as claim documents name it: ``payer_name``, else the profile id in capitals."""
        return (self.payer_name or self.payer).strip().upper()

    @field_validator("id", "place_of_service", "claim_id", "payer_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("place_of_service", mode="before")
    @classmethod
    def _pos_two_digits(cls, value: Any) -> Any:
        # "2" or an unquoted 2 is POS 02; only an ASCII digit is padded (an Arabic-Indic "٢" is left to the rule)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and len(value.strip()) == 1 and value.strip() in _ASCII_DIGITS:
            return "0" + value.strip()
        return value

    @model_validator(mode="after")
    def _consistent_dates_and_amounts(self) -> Encounter:
        # a birth date after the date of service is readable but wrong: birth-date-after-service reports it
        if self.total_charge is not None and self.total_charge < 0:
            raise ValueError(f"total_charge cannot be negative, got {self.total_charge}")
        return self

    @field_validator("diagnoses", mode="before")
    @classmethod
    def _dx_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(",", ";").split(";")
        if isinstance(value, list):
            return _item_texts(value)
        return value


class Finding(_Model):
    """One problem a rule found, in the JSON shape of the contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    id: str
    severity: Severity
    encounter: str | None = None
    line: int | None = None
    code: str | None = None
    message: str
    fix: str
    references: list[str] = Field(default_factory=list)

"""CARC and RARC tables (our own short descriptions) and the map from a denial code to the cleanclaim rules that
would have caught it. The codes come from the X12 external code lists; source and release are in each CSV header.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from cleanclaim.errors import DataError

__all__ = ["AdjustmentReason", "DenialRule", "GroupCode", "RemittanceCodes", "remittance_codes"]

# "unknown" is never written in carc.csv: it is the kind of a code the table lacks or lists without classifying it (a
# blank kind; see RemittanceCodes.reason); "correction" is the kind the group code CR gives an adjustment whatever its
# CARC (see RemittanceCodes.kind).
Kind = Literal["patient-share", "contractual", "reduction", "denial", "informational", "unknown", "correction"]
_KINDS = ("patient-share", "contractual", "reduction", "denial", "informational")
Effect = Literal["patient", "correction", "carc"]
_EFFECTS = ("patient", "correction", "carc")


@dataclass(frozen=True)
class AdjustmentReason:
    code: str
    kind: Kind
    description: str
    start: dt.date | None = None
    """The day the code entered the X12 list (None: not in cleanclaim's copy of the list)."""
    stop: dt.date | None = None
    """The last day a payer may use the code in an original 835 (None: still active in cleanclaim's copy)."""

    def out_of_dates(self, payment_date: dt.date) -> str | None:
        """Why an original 835 dated ``payment_date`` may not carry this code, or None when it may (or when the
        list does not date it)."""
        return _out_of_dates(f"CARC {self.code}", self.start, self.stop, payment_date, "reason")


def _out_of_dates(name: str, start: dt.date | None, stop: dt.date | None, payment_date: dt.date,
                  meaning: str) -> str | None:
    """X12: a stopped code may still appear in a reversal or a secondary claim, so a code outside its dates is a
    question for the payer, not a reason to drop the adjustment or the remark."""
    if stop is not None and payment_date > stop:
        return (f"{name} was deactivated after {stop} (X12 list): an original 835 dated {payment_date} should not "
                f"use it; ask the payer which {meaning} it means")
    if start is not None and payment_date < start:
        return (f"{name} only entered the X12 list on {start}, after this 835's date {payment_date}: check the "
                "payment date and the code")
    return None


@dataclass(frozen=True)
class DenialRule:
    """The scrubber rules that check what a payer denied for, and what to do about it."""

    rule_slugs: tuple[str, ...]
    preventable: Literal["yes", "partly", "no"]
    advice: str


@dataclass(frozen=True)
class GroupCode:
    """A claim adjustment group code (CAS01) and what it makes of an adjustment (``group_codes.csv``)."""

    group: str
    meaning: str
    effect: Effect


@dataclass(frozen=True)
class RemittanceCodes:
    carc: dict[str, AdjustmentReason]
    rarc: dict[str, str]
    """Every RARC of the list: cleanclaim's summary, or a sentence naming its dates when there is none."""
    carc_rules: dict[str, DenialRule]
    rarc_rules: dict[str, DenialRule]
    groups: dict[str, GroupCode]
    rarc_dates: dict[str, tuple[dt.date | None, dt.date | None]]
    """Each listed RARC's Start and Stop date (rarc.csv)."""

    def kind(self, group: str, carc: str) -> Kind:
        """What an adjustment with this group code and CARC is. The group says who is liable, so it decides first:
        PR is the patient's share whatever the reason (PR-204, a non-covered service the patient is liable for, is
        billed to the patient, not appealed), CR corrects an earlier payment; under CO, OA and PI the CARC decides,
        except that a patient-share reason under CO or PI is the provider's to write off (contractual / reduction).
        A group code missing from the table leaves the CARC to decide (the 835 reader reports the bad code)."""
        reason = self.reason(carc).kind
        entry = self.groups.get(group)
        if entry is None or entry.effect == "carc":
            if reason == "patient-share" and group == "CO":
                return "contractual"
            if reason == "patient-share" and group == "PI":
                return "reduction"
            return reason
        return "patient-share" if entry.effect == "patient" else "correction"

    def reason(self, carc: str) -> AdjustmentReason:
        """The CARC's entry. A code missing from the table, or listed (a valid X12 code, with its dates) but not
        classified, is of kind "unknown": shown with its amount, never dropped, and never counted as a denial, since
        the table cannot say whether it is one (a write-off or a patient share counted as a denial would send a
        biller to appeal it)."""
        return self.carc.get(carc) or AdjustmentReason(
            carc, "unknown", f"unknown reason code: CARC {carc} is not in cleanclaim's table; see the X12 CARC list")

    def remark_out_of_dates(self, rarc: str, payment_date: dt.date) -> str | None:
        """Why an original 835 dated ``payment_date`` may not carry this remark (None: it may, or it is not listed)."""
        start, stop = self.rarc_dates.get(rarc, (None, None))
        return _out_of_dates(f"RARC {rarc}", start, stop, payment_date, "remark")

    def remark(self, rarc: str) -> str:
        return self.rarc.get(rarc, f"RARC {rarc} is not in cleanclaim's table; see the X12 RARC list")


def _date(text: str, number: int, code: str, column: str, name: str = "carc.csv") -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise DataError(f"{name}: data row {number}: {code} {column} {text!r} is not a date (YYYY-MM-DD)") from exc


def _listed_dates(start: dt.date | None, stop: dt.date | None) -> str:
    """A listed code's dates in words; a code taken from a copy of the list that gave no dates has no start."""
    listed = f"from {start}" if start else "start date not in cleanclaim's copy"
    return listed + (f", deactivated after {stop}" if stop else "")


def _rows(name: str) -> Iterator[dict[str, str]]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    data = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for number, row in enumerate(csv.DictReader(data), start=2):
        if None in row or any(value is None for value in row.values()):
            raise DataError(f"{name}: data row {number} has the wrong number of columns")
        yield {key: value.strip() for key, value in row.items()}


@cache
def remittance_codes() -> RemittanceCodes:
    carc: dict[str, AdjustmentReason] = {}
    for number, row in enumerate(_rows("carc.csv"), start=2):
        code, kind = row["code"], row["kind"]
        if kind and kind not in _KINDS:
            raise DataError(f"carc.csv: data row {number}: CARC {code} has unknown kind {kind!r}; expected one of "
                            f"{', '.join(_KINDS)} or blank")
        if code in carc:
            raise DataError(f"carc.csv: data row {number}: CARC {code} is listed twice")
        start, stop = _date(row["start"], number, code, "start"), _date(row["stop"], number, code, "stop")
        if kind:
            description = row["description"]
        else:
            description = (f"CARC {code} is on the X12 list ({_listed_dates(start, stop)}) but cleanclaim does not "
                           "classify it; see the X12 CARC list")
        carc[code] = AdjustmentReason(code, kind or "unknown", description, start, stop)  # type: ignore[arg-type]
    rarc: dict[str, str] = {}
    rarc_dates: dict[str, tuple[dt.date | None, dt.date | None]] = {}
    for number, row in enumerate(_rows("rarc.csv"), start=2):
        code = row["code"]
        if code in rarc:
            raise DataError(f"rarc.csv: data row {number}: RARC {code} is listed twice")
        start, stop = (_date(row["start"], number, code, "start", "rarc.csv"),
                       _date(row["stop"], number, code, "stop", "rarc.csv"))
        rarc_dates[code] = (start, stop)
        rarc[code] = row["description"] or (
            f"RARC {code} is on the X12 list ({_listed_dates(start, stop)}) but cleanclaim has no summary of it; see "
            "the X12 RARC list")
    rules: dict[str, dict[str, DenialRule]] = {"carc": {}, "rarc": {}}
    for row in _rows("denial_rules.csv"):
        if row["type"] not in rules or row["preventable"] not in ("yes", "partly", "no"):
            raise DataError(f"denial_rules.csv: bad row for {row['type']} {row['code']}")
        slugs = tuple(slug for slug in row["rule_slugs"].split(";") if slug)
        rules[row["type"]][row["code"]] = DenialRule(slugs, row["preventable"], row["advice"])  # type: ignore[arg-type]
    groups: dict[str, GroupCode] = {}
    for row in _rows("group_codes.csv"):
        if row["effect"] not in _EFFECTS or len(row["group"]) != 2:
            raise DataError(f"group_codes.csv: group {row['group']!r} has effect {row['effect']!r}; expected a "
                            f"two-letter group and one of {', '.join(_EFFECTS)}")
        groups[row["group"]] = GroupCode(row["group"], row["meaning"], row["effect"])  # type: ignore[arg-type]
    return RemittanceCodes(carc, rarc, rules["carc"], rules["rarc"], groups, rarc_dates)

"""The code book: every procedure code cleanclaim knows, looked up by code *and date of service*.

Codes change every year (96150 was valid on 2019-12-31 and not on 2020-01-01; G0136 changed meaning on
2026-01-01), so a lookup without a date is a bug waiting to happen: every public function takes one.
The data lives in ``codes.csv`` beside this file, with its source, release and licence in the header.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from cleanclaim.errors import DataError

__all__ = [
    "CodeBook",
    "CodeEntry",
    "CodeKind",
    "Lookup",
    "LookupStatus",
    "TimeRule",
    "codebook",
    "kind_from_format",
]


class CodeKind(StrEnum):
    CPT1 = "cpt1"
    CPT2 = "cpt2"
    CPT3 = "cpt3"
    PLA = "pla"
    HCPCS2 = "hcpcs2"

    @property
    def label(self) -> str:
        return {
            "cpt1": "CPT Category I",
            "cpt2": "CPT Category II",
            "cpt3": "CPT Category III",
            "pla": "CPT Proprietary Laboratory Analyses",
            "hcpcs2": "HCPCS Level II",
        }[self.value]


class TimeRule(StrEnum):
    UNTIMED = "untimed"
    TIMED15 = "timed15"
    PER_UNIT = "per_unit"
    TYPICAL = "typical"
    BASE = "base"
    ADDON = "addon"
    AT_LEAST = "at_least"
    RANGE = "range"


# Code formats (coding-facts.md s1): Cat I five digits; Cat II/III/PLA four digits and F/T/U; HCPCS II a letter and
# four digits. The MAAA "M" suffix is unconfirmed, so it is not accepted.
# ASCII digits only ([0-9], not \d, which takes Arabic-Indic and other digits) and the whole text (\Z, not $).
_FORMATS: tuple[tuple[re.Pattern[str], CodeKind], ...] = (
    (re.compile(r"^[0-9]{5}\Z"), CodeKind.CPT1),
    (re.compile(r"^[0-9]{4}F\Z"), CodeKind.CPT2),
    (re.compile(r"^[0-9]{4}T\Z"), CodeKind.CPT3),
    (re.compile(r"^[0-9]{4}U\Z"), CodeKind.PLA),
    (re.compile(r"^[A-V][0-9]{4}\Z"), CodeKind.HCPCS2),
)


def kind_from_format(code: str) -> CodeKind | None:
    """The code set a code's shape says it belongs to, or None when the shape fits no code set."""
    for pattern, kind in _FORMATS:
        if pattern.match(code):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One version of one code, valid on dates of service from ``effective`` up to (not including) ``deleted``."""

    code: str
    kind: CodeKind
    family: str
    summary: str
    time_rule: TimeRule
    unit_minutes: int | None
    typical_minutes: int | None
    min_minutes: int | None
    max_minutes: int | None
    addon_code: str | None
    base_code: str | None
    time_optional: bool
    therapy: str
    therapy_modifiers: tuple[str, ...]
    em: bool
    lab: bool
    effective: dt.date | None
    deleted: dt.date | None
    replaced_by: tuple[str, ...]
    billers: tuple[str, ...]
    medicare_code: str | None
    reference: str
    notes: str

    def valid_on(self, date_of_service: dt.date) -> bool:
        if self.effective is not None and date_of_service < self.effective:
            return False
        return self.deleted is None or date_of_service < self.deleted

    @property
    def timed(self) -> bool:
        """True for codes whose units (or choice) depend on documented minutes."""
        return self.time_rule is not TimeRule.UNTIMED

    @property
    def always_therapy(self) -> bool:
        return self.therapy == "always"

    def minutes_text(self) -> str:
        """The time requirement in plain words, for explanations and `cleanclaim lookup`."""
        rule = self.time_rule
        if rule is TimeRule.UNTIMED:
            return "untimed: one unit a day whatever the duration"
        if rule is TimeRule.TIMED15:
            return "timed: 15-minute units under the payer's time rule"
        if rule is TimeRule.PER_UNIT:
            half = (self.unit_minutes or 0) // 2 + 1
            return f"each {self.unit_minutes} minutes; a unit needs at least {half} minutes (midpoint)"
        if rule is TimeRule.TYPICAL:
            return f"one unit, typical time {self.typical_minutes} minutes; needs at least {self.min_minutes}"
        if rule is TimeRule.BASE:
            return (f"first {self.typical_minutes} minutes, needs at least {self.min_minutes}; "
                    f"more time is reported with add-on {self.addon_code}")
        if rule is TimeRule.ADDON:
            return f"add-on to {self.base_code}: each additional {self.unit_minutes} minutes"
        if rule is TimeRule.AT_LEAST:
            return f"the full {self.min_minutes} minutes, no midpoint"
        if self.max_minutes is None:
            return f"{self.min_minutes} minutes or more"
        return f"{self.min_minutes}–{self.max_minutes} minutes"


class LookupStatus(StrEnum):
    VALID = "valid"
    DELETED = "deleted"
    NOT_YET_EFFECTIVE = "not-yet-effective"
    UNKNOWN = "unknown"
    INVALID_FORMAT = "invalid-format"


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer to "what is CODE on DATE?": the version in force, or why there is none."""

    code: str
    date_of_service: dt.date
    status: LookupStatus
    entry: CodeEntry | None
    """The version in force (VALID), or the nearest version that explains the status (DELETED, NOT_YET_EFFECTIVE)."""

    @property
    def valid(self) -> bool:
        return self.status is LookupStatus.VALID


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _optional_date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(";") if p.strip())


def _parse_bool(text: str) -> bool:
    if text not in {"true", "false"}:
        raise ValueError(f"expected true or false, got {text!r}")
    return text == "true"


def _entries_from_csv(lines: Iterable[str], source: str) -> Iterator[CodeEntry]:
    body = (line for line in lines if not line.startswith("#"))
    reader = csv.DictReader(body)
    for number, row in enumerate(reader, start=2):
        try:
            yield CodeEntry(
                code=row["code"].strip().upper(),
                kind=CodeKind(row["kind"]),
                family=row["family"],
                summary=row["summary"],
                time_rule=TimeRule(row["time_rule"]),
                unit_minutes=_optional_int(row["unit_minutes"]),
                typical_minutes=_optional_int(row["typical_minutes"]),
                min_minutes=_optional_int(row["min_minutes"]),
                max_minutes=_optional_int(row["max_minutes"]),
                addon_code=row["addon_code"] or None,
                base_code=row["base_code"] or None,
                time_optional=_parse_bool(row["time_optional"]),
                therapy=row["therapy"],
                therapy_modifiers=_split(row["therapy_modifiers"]),
                em=_parse_bool(row["em"]),
                lab=_parse_bool(row["lab"]),
                effective=_optional_date(row["effective"]),
                deleted=_optional_date(row["deleted"]),
                replaced_by=_split(row["replaced_by"]),
                billers=_split(row["billers"]),
                medicare_code=row["medicare_code"] or None,
                reference=row["reference"],
                notes=row["notes"] or "",
            )
        except (KeyError, ValueError) as exc:
            raise DataError(f"{source}: data row {number} (code {row.get('code')!r}) is malformed: {exc}") from exc


class CodeBook:
    """All versions of all codes, indexed by code. Build one with :func:`codebook` (cached) or from rows."""

    def __init__(self, entries: Iterable[CodeEntry], *, source: str = "codes.csv", release: str = "") -> None:
        self.source = source
        self.release = release
        found = re.search(r"through (\d{4}-\d{2}-\d{2})", release)
        self.covers_through: dt.date | None = dt.date.fromisoformat(found.group(1)) if found else None
        """The last date of service the release was checked for: later codes may have changed unseen."""
        self._by_code: dict[str, list[CodeEntry]] = {}
        for entry in entries:
            self._by_code.setdefault(entry.code, []).append(entry)
        for code, versions in self._by_code.items():
            versions.sort(key=lambda e: e.effective or dt.date.min)
            # one version in force per date: a line is joined to the version of its date (rules.tables), and a code
            # with two would be judged twice, by two summaries of the same code
            for before, after in itertools.pairwise(versions):
                if before.deleted is None or after.effective is None or before.deleted > after.effective:
                    raise DataError(f"{source}: code {code} has versions in force on the same dates (one from "
                                    f"{before.effective or 'the start'} to {before.deleted or 'no end'}, the next "
                                    f"from {after.effective or 'the start'}); expected each version to end by the "
                                    "next one's effective date")

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[CodeEntry]:
        for versions in self._by_code.values():
            yield from versions

    def __len__(self) -> int:
        return len(self._by_code)

    def versions(self, code: str) -> list[CodeEntry]:
        return list(self._by_code.get(code.strip().upper(), []))

    def lookup(self, code: str, date_of_service: dt.date) -> Lookup:
        code = code.strip().upper()
        if kind_from_format(code) is None:
            return Lookup(code, date_of_service, LookupStatus.INVALID_FORMAT, None)
        versions = self._by_code.get(code)
        if not versions:
            return Lookup(code, date_of_service, LookupStatus.UNKNOWN, None)
        for entry in versions:
            if entry.valid_on(date_of_service):
                return Lookup(code, date_of_service, LookupStatus.VALID, entry)
        if versions[0].effective is not None and date_of_service < versions[0].effective:
            return Lookup(code, date_of_service, LookupStatus.NOT_YET_EFFECTIVE, versions[0])
        ended = [e for e in versions if e.deleted is not None and e.deleted <= date_of_service]
        return Lookup(code, date_of_service, LookupStatus.DELETED, ended[-1] if ended else versions[-1])

    def get(self, code: str, date_of_service: dt.date) -> CodeEntry | None:
        """The version in force on the date, or None."""
        found = self.lookup(code, date_of_service)
        return found.entry if found.valid else None

    def family(self, name: str, date_of_service: dt.date) -> list[CodeEntry]:
        """The members of a family in force on the date, in code order."""
        members = [e for e in self if e.family == name and e.valid_on(date_of_service)]
        return sorted(members, key=lambda e: (e.min_minutes or 0, e.code))


def _read_release(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# release:"):
            return line.removeprefix("# release:").strip()
    return ""


@cache
def codebook() -> CodeBook:
    """The bundled code book (read once per process)."""
    text = resources.files("cleanclaim.codebook").joinpath("codes.csv").read_text(encoding="utf-8")
    entries = list(_entries_from_csv(text.splitlines(), "cleanclaim/codebook/codes.csv"))
    return CodeBook(entries, source="cleanclaim/codebook/codes.csv", release=_read_release(text))

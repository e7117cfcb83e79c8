"""Documented minutes to billable units: every time rule cleanclaim knows, each a small pure function.

Sources (see docs/domain, coding-facts.md s3):
- CMS 8-minute rule: Pub 100-04 Ch.5 s20.2 part C, as quoted by First Coast (medicare.fcso.com 0508065). Total timed
  minutes of the day set the total units (8-22 = 1, 23-37 = 2 ...); full 15-minute blocks go to their codes first; the
  remaining units go to the largest leftover minutes; a code with 15+ minutes never gets 0.
- Per-code "rule of eights" (substantial portion methodology) used by many commercial payers: each code on its own.
- CPT time rule: a unit of time is attained when its midpoint is passed (15-minute unit from 8, 30-minute from 16,
  60-minute from 31); "at least" codes need the full stated time.
Every function returns the arithmetic as plain sentences, because a biller must be able to defend the units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "AssistantSplit",
    "UnitAllocation",
    "allocate_cms",
    "allocate_per_code",
    "at_least_units",
    "base_addon_units",
    "cms_minutes_for_units",
    "cms_total_units",
    "cms_unit_range",
    "midpoint_threshold",
    "midpoint_units",
    "split_assistant_units",
]

CMS_UNIT_MINUTES = 15
DE_MINIMIS_SHARE = 0.10  # CQ/CO: the assistant's own minutes must exceed 10% of the unit (CMS CQ/CO billing examples)


def cms_total_units(total_timed_minutes: int) -> int:
    """Units the day's total timed minutes support under the CMS 8-minute rule: floor((minutes + 7) / 15)."""
    _check_minutes(total_timed_minutes)
    return (total_timed_minutes + 7) // CMS_UNIT_MINUTES


def cms_minutes_for_units(units: int) -> tuple[int, int]:
    """The band of total timed minutes that gives exactly ``units`` under the CMS table (0 -> 0-7, 1 -> 8-22 ...)."""
    if units <= 0:
        return (0, 7)
    return (CMS_UNIT_MINUTES * units - 7, CMS_UNIT_MINUTES * units + 7)


def midpoint_threshold(unit_minutes: int) -> int:
    """Whole minutes needed to pass a unit's midpoint: 15 -> 8, 30 -> 16, 60 -> 31."""
    return unit_minutes // 2 + 1


def midpoint_units(minutes: int, unit_minutes: int) -> int:
    """Units for one code counted on its own under the CPT midpoint rule (each unit attained past its midpoint)."""
    _check_minutes(minutes)
    first = midpoint_threshold(unit_minutes)
    if minutes < first:
        return 0
    return (minutes - first) // unit_minutes + 1


def at_least_units(minutes: int, required_minutes: int) -> int:
    """One unit when the full stated time was reached ("at least N minutes" codes such as 0592T), else none."""
    _check_minutes(minutes)
    return 1 if minutes >= required_minutes else 0


def base_addon_units(
    minutes: int, typical_minutes: int, minimum_minutes: int, addon_unit_minutes: int
) -> tuple[int, int]:
    """(base units, add-on units) for a typical-time base code with an add-on (96158 + 96159, 97550 + 97551).

    The base needs its own minimum (the midpoint of its typical time, e.g. 16 of 30); each add-on unit needs the
    midpoint of its increment beyond the base's typical time (96159 at 38 and 53 minutes in total).
    """
    _check_minutes(minutes)
    if minutes < minimum_minutes:
        return (0, 0)
    extra = max(0, minutes - typical_minutes)
    return (1, midpoint_units(extra, addon_unit_minutes))


@dataclass(frozen=True)
class UnitAllocation:
    """Units per code for one patient's day of 15-minute timed services, with the reasoning."""

    method: str
    total_minutes: int
    total_units: int
    units: dict[str, int]
    explanation: tuple[str, ...]
    clinician_choice: tuple[str, ...] = field(default=())
    """Codes that tied for the last unit(s): the clinician may move the unit among them."""


def allocate_cms(minutes_by_code: Mapping[str, int]) -> UnitAllocation:
    """Allocate the day's units across timed codes by the CMS method (Pub 100-04 Ch.5 s20.2).

    1. Total timed minutes give the total units (table). 2. Each code gets one unit per full 15 minutes.
    3. Units still to assign go, one each, to the codes with the most leftover minutes. Ties are broken by more total
    minutes, then code order, and reported as the clinician's choice.
    """
    for minutes in minutes_by_code.values():
        _check_minutes(minutes)
    total_minutes = sum(minutes_by_code.values())
    total_units = cms_total_units(total_minutes)
    low, high = cms_minutes_for_units(total_units)
    lines = [
        f"Total timed minutes {total_minutes} → {total_units} unit{'s' if total_units != 1 else ''} "
        f"(CMS 8-minute rule: {low}–{high} minutes = {total_units})."
    ]
    if len(minutes_by_code) == 1 and total_units == 0:
        (code,) = minutes_by_code
        lines.append(f"{code} alone for {total_minutes} minutes is under 8 minutes: not billable.")
        return UnitAllocation("cms", total_minutes, 0, {code: 0}, tuple(lines))

    units = {code: minutes // CMS_UNIT_MINUTES for code, minutes in minutes_by_code.items()}
    leftover = {code: minutes % CMS_UNIT_MINUTES for code, minutes in minutes_by_code.items()}
    for code, minutes in minutes_by_code.items():
        if units[code]:
            lines.append(f"{code}: {minutes} min → {units[code]} full 15-minute unit"
                         f"{'s' if units[code] != 1 else ''}, {leftover[code]} min left over.")
    remaining = total_units - sum(units.values())
    choice: tuple[str, ...] = ()
    if remaining > 0:
        ranked = sorted(
            (code for code in minutes_by_code if leftover[code] > 0),
            key=lambda code: (-leftover[code], -minutes_by_code[code], code),
        )
        winners = ranked[:remaining]
        for code in winners:
            units[code] += 1
        lines.append(
            f"{remaining} unit{'s' if remaining != 1 else ''} left to assign: to the largest leftover minutes: "
            + ", ".join(f"{code} ({leftover[code]} min)" for code in winners) + "."
        )
        cutoff = leftover[winners[-1]]
        tied = [code for code in ranked if leftover[code] == cutoff]
        if len(tied) > len([c for c in winners if leftover[c] == cutoff]):
            choice = tuple(sorted(tied))
            picked = [c for c in winners if leftover[c] == cutoff]
            lines.append(
                f"{' and '.join(choice)} tie with {cutoff} leftover minutes each: the unit may go to either "
                f"(clinician's choice); cleanclaim gave it to {', '.join(picked)} "
                f"(more total minutes, then code order)."
            )
    unbilled = [code for code, count in units.items() if count == 0]
    if unbilled and total_units > 0:
        lines.append(f"No unit for {', '.join(unbilled)}: its minutes still count toward the total.")
    return UnitAllocation("cms", total_minutes, total_units, units, tuple(lines), choice)


def cms_unit_range(minutes_by_code: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """(fewest, most) units each code can get under the CMS method, over every way a tie may be broken.

    ``allocate_cms`` breaks a tie for the last unit(s) one way and names the tied codes (``clinician_choice``); the
    clinician may break it any other way, so whoever checks billed units must accept all of them (T2: 20 + 20
    minutes are 2 + 1 or 1 + 2). A tied code gets its full 15-minute blocks and maybe the tied unit; every other code
    gets exactly what ``allocate_cms`` gave it.
    """
    allocation = allocate_cms(minutes_by_code)
    ranges: dict[str, tuple[int, int]] = {}
    for code, units in allocation.units.items():
        if code in allocation.clinician_choice:
            full = minutes_by_code[code] // CMS_UNIT_MINUTES
            ranges[code] = (full, full + 1)
        else:
            ranges[code] = (units, units)
    return ranges


def allocate_per_code(minutes_by_code: Mapping[str, int]) -> UnitAllocation:
    """Each timed code rounded on its own (per-code "rule of eights"): 8-22 minutes = 1 unit, 23-37 = 2 ..."""
    lines: list[str] = []
    units: dict[str, int] = {}
    for code, minutes in minutes_by_code.items():
        units[code] = midpoint_units(minutes, CMS_UNIT_MINUTES)
        if units[code]:
            low, high = cms_minutes_for_units(units[code])
            lines.append(f"{code}: {minutes} min → {units[code]} unit{'s' if units[code] != 1 else ''} "
                         f"(per-code rule: {low}–{high} minutes).")
        else:
            lines.append(f"{code}: {minutes} min → no unit (per-code rule needs 8 minutes for each code).")
    total_minutes = sum(minutes_by_code.values())
    total_units = sum(units.values())
    lines.insert(0, f"Total timed minutes {total_minutes} → {total_units} unit{'s' if total_units != 1 else ''} "
                    f"(per-code rule: minutes are not pooled across codes).")
    return UnitAllocation("per-code", total_minutes, total_units, units, tuple(lines))


@dataclass(frozen=True)
class AssistantSplit:
    """How many of a code's units were furnished in whole or in part by an assistant (these carry CQ or CO)."""

    units_by_therapist: int
    units_with_assistant: int
    explanation: tuple[str, ...]


def split_assistant_units(units: int, minutes: int, assistant_minutes: int, *, unit_minutes: int | None = 15,
                          code: str = "", modifier: str = "CQ") -> AssistantSplit:
    """Split a code's billed units into therapist-only units and units that need CQ/CO.

    CMS counts per unit: full 15-minute blocks the therapist furnished alone carry no modifier, full blocks the
    assistant furnished alone carry it, and a mixed unit carries it when the assistant's own minutes are more than
    10% of that unit's minutes. Untimed services (``unit_minutes=None``) are judged as one service. Minutes the
    therapist and assistant furnished together count as the therapist's and are not in ``assistant_minutes``.
    """
    _check_minutes(minutes)
    _check_minutes(assistant_minutes)
    if assistant_minutes > minutes:
        raise ValueError(f"assistant minutes {assistant_minutes} exceed the service's {minutes} minutes")
    label = code or "the service"
    if units == 0 or assistant_minutes == 0:
        return AssistantSplit(units, 0, ())
    if unit_minutes is None or minutes == 0:
        share = assistant_minutes / minutes if minutes else 1.0
        flagged = share > DE_MINIMIS_SHARE
        text = (f"{label}: assistant furnished {assistant_minutes} of {minutes} min on their own "
                f"({share:.0%}) → {'more' if flagged else 'not more'} than 10%: "
                f"{modifier + ' applies' if flagged else 'no ' + modifier}.")
        return AssistantSplit(0 if flagged else units, units if flagged else 0, (text,))
    therapist_minutes = minutes - assistant_minutes
    therapist_full = min(units, therapist_minutes // unit_minutes)
    assistant_full = min(units - therapist_full, assistant_minutes // unit_minutes)
    mixed = units - therapist_full - assistant_full
    lines = []
    if therapist_full:
        lines.append(f"{label}: {therapist_full} full unit{'s' if therapist_full != 1 else ''} by the therapist alone.")
    if assistant_full:
        lines.append(f"{label}: {assistant_full} full unit{'s' if assistant_full != 1 else ''} "
                     f"by the assistant alone → {modifier}.")
    flagged_mixed = 0
    if mixed:
        left_therapist = therapist_minutes - therapist_full * unit_minutes
        left_assistant = assistant_minutes - assistant_full * unit_minutes
        pool = left_therapist + left_assistant
        share = left_assistant / pool if pool else 0.0
        if mixed == 2 and 9 <= left_therapist <= 14 and 9 <= left_assistant <= 14:
            # CY2022 PFS final rule: two units left, each furnished 9-14 minutes: one unit with the modifier, one
            # without (CMS, "Billing examples using CQ/CO modifiers"; summarised by therapycomply.com 2022 rule).
            lines.append(f"{label}: remaining 2 units from {left_therapist} therapist and {left_assistant} assistant "
                         f"minutes (each 9–14): 1 unit with {modifier}, 1 without (CY2022 PFS rule).")
            with_assistant = assistant_full + 1
            return AssistantSplit(units - with_assistant, with_assistant, tuple(lines))
        if share > DE_MINIMIS_SHARE:
            flagged_mixed = mixed
        lines.append(
            f"{label}: remaining {mixed} unit{'s' if mixed != 1 else ''} from {pool} mixed minutes, "
            f"{left_assistant} by the assistant alone ({share:.0%}) → "
            + (f"more than 10%: {modifier}." if flagged_mixed else f"10% or less: no {modifier}.")
        )
    with_assistant = assistant_full + flagged_mixed
    return AssistantSplit(units - with_assistant, with_assistant, tuple(lines))


def _check_minutes(minutes: int) -> None:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise ValueError(f"minutes must be a whole number of 0 or more, got {minutes!r}")

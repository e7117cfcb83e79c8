"""Many lines of one patient on one day: the rules that compare a patient's lines with each other stay linear.

Issue 11: 20,000 encounters of one patient on one day ran out of memory (killed at 24 GB). missing-kx joined every line
to every claim of the patient and then filtered by date; untimed-code-multiple-units gave each line of a day the text
of every line of the day; the pricer named every unpriced line of the day in every priced line's steps. Each of these
grows with the square of the lines, so a few thousand lines already show it (3,000 lines took 3 GB). The findings are
checked by hand below; no time or memory is asserted (the suite must not depend on the machine).
"""

from __future__ import annotations

import datetime as dt

from cleanclaim.model import Encounter, Finding
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue.units import LINES_LISTED
from cleanclaim.rules.engine import RuleSelection

PER_DAY = 1000
"""Encounters per day: 2,000 encounters, 4,000 lines of one patient over two days."""


def _encounter(encounter_id: str, date: str) -> Encounter:
    return Encounter.model_validate({
        "id": encounter_id, "date": date, "payer": "medicare", "place_of_service": "11",
        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        # 97110 is priced in CY2026 from the bundled RVUs; 97039 (untimed, always therapy) is PFS status C:
        # contractor-priced, so cleanclaim cannot price it
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1},
                  {"code": "97039", "modifiers": ["GP"], "units": 1}],
    })


def _findings() -> list[Finding]:
    encounters = [_encounter(f"A{i:04d}", "2026-03-02") for i in range(PER_DAY)]
    encounters += [_encounter(f"B{i:04d}", "2026-03-03") for i in range(PER_DAY)]
    tables = tables_from_encounters(encounters, {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 11, 23))
    return run_rules(tables, RuleSelection(select=frozenset({"missing-kx", "untimed-code-multiple-units"})))


def test_thousands_of_same_day_lines_of_one_patient() -> None:
    findings = _findings()
    untimed = [f for f in findings if f.rule == "untimed-code-multiple-units"]
    kx = [f for f in findings if f.rule == "missing-kx"]

    # every 97039 line of both days is flagged once: the day bills PER_DAY units of a once-a-day code
    assert sorted((f.encounter, f.line) for f in untimed) == sorted(
        [(f"{p}{i:04d}", 2) for p in "AB" for i in range(PER_DAY)])
    listed = "; ".join(f"A{i:04d} line 2: 1" for i in range(LINES_LISTED))
    first = next(f for f in untimed if f.encounter == "A0000")
    assert first.message == (f"97039 is billed once per day whatever the time, but {PER_DAY} units are billed on "
                             f"2026-03-02 ({listed}; and {PER_DAY - LINES_LISTED} more lines)")
    assert all(f.message == first.message for f in untimed if f.encounter.startswith("A"))

    # Day 1: nothing before it, ~$22 per claim: no KX needed. Day 2: every day-1 claim of the same patient and payer
    # counts; the same-day claims do not (earlier dates only). Day 1 is priced whole: with 97039 unpriced the MPPR
    # order is unknown, so every 97110 unit is taken at 50% PE: 0.45 + 0.205 + 0.01 = 0.665 RVU x 33.4009 = 22.21.
    # Day 2 is over the threshold on what came before alone, so its own lines are not priced.
    assert sorted((f.encounter, f.line) for f in kx) == sorted(
        [(f"B{i:04d}", line) for i in range(PER_DAY) for line in (1, 2)])
    expected = (f"PT+SLP therapy this year: ${PER_DAY * 22.21:,.2f} before this claim alone (valued at national "
                f"Medicare rates: {PER_DAY} line(s) of this patient's earlier encounters in this batch) ({PER_DAY} "
                f"earlier therapy line(s) have no allowed amount and could not be priced: unknown, not counted), over "
                f"the 2026 KX threshold of $2,480")
    assert {f.message for f in kx} == {f"{expected}; 97110 has no KX", f"{expected}; 97039 has no KX"}


def test_a_day_of_exactly_the_listed_lines_names_them_all() -> None:
    # the edge of the list: LINES_LISTED lines are all named, with no "more" clause
    encounters = [_encounter(f"A{i:04d}", "2026-03-02") for i in range(LINES_LISTED)]
    tables = tables_from_encounters(encounters, {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 11, 23))
    findings = run_rules(tables, RuleSelection(select=frozenset({"untimed-code-multiple-units"})))
    listed = "; ".join(f"A{i:04d} line 2: 1" for i in range(LINES_LISTED))
    assert {f.message for f in findings} == {
        f"97039 is billed once per day whatever the time, but {LINES_LISTED} units are billed on 2026-03-02 "
        f"({listed})"}
    assert len(findings) == LINES_LISTED


def test_pricer_names_a_few_unpriced_lines_per_priced_line() -> None:
    from decimal import Decimal

    from cleanclaim.model import ClaimLine
    from cleanclaim.pricing import UNPRICED_NAMED_PER_LINE, price

    day = dt.date(2026, 3, 2)
    unpriced = UNPRICED_NAMED_PER_LINE + 2
    lines = [ClaimLine(code="97110", modifiers=["GP"], units=Decimal(1), date=day),
             *(ClaimLine(code="97039", modifiers=["GP"], units=Decimal(1), date=day) for _ in range(unpriced))]
    claim = price(lines)
    [step] = [s for s in claim.lines[0].steps if "MPPR order unknown" in s]
    named = ", ".join(f"line {n} 97039" for n in range(2, 2 + UNPRICED_NAMED_PER_LINE))
    assert f"MPPR order unknown: {named} and 2 more line(s) (always therapy" in step
    # the day's note still names every unpriced line once
    [note] = [n for n in claim.notes if "MPPR order unknown" in n]
    assert all(f"line {n} 97039" in note for n in range(2, 2 + unpriced))

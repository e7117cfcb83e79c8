"""On a large run the frequency screens bound each patient's count by that patient's own dates (not every patient's
together, which a month of claims always exceeds): a rule they skip must have nothing to flag, and a rule they keep
must find what it finds unscreened.

Each batch hides, among more than SMALL_RUN lines of patients with one visit each, one patient whose visits reach
(or fall one short of) a Medicare limit: 8 dates of tobacco counseling in 11 full months, a progress report every 10
treatment days.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.catalogue import frequency
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, Tables, tables_from_encounters

_PAYERS = {name: load_profile(name) for name in ("medicare", "commercial")}
_FIRST = dt.date(2026, 1, 5)


def _claim(claim_id: str, patient: str, day: dt.date, code: str, payer: str = "medicare",
           history: list[dict[str, Any]] | None = None) -> Encounter:
    return Encounter.model_validate({
        "id": claim_id, "date": day.isoformat(), "payer": payer, "patient": {"id": patient},
        "diagnoses": ["F17.210", "M62.81"], "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": code, "modifiers": ["GP"] if code.startswith("97") else [], "units": 1, "minutes": 15,
                   "dx_pointers": [1, 2]}],
        "history": history or [],
    })


def _batch(code: str, visits: int, payer: str = "medicare", in_history: int = 0) -> Tables:
    """One patient's ``visits`` weekly dates of ``code`` (the first ``in_history`` of them as the history of the
    patient's first claim in the batch), among one-visit patients of both payers."""
    days = [_FIRST + dt.timedelta(weeks=week) for week in range(visits)]
    history = [{"date": day.isoformat(), "code": code, "units": 1} for day in days[:in_history]]
    heavy = [_claim(f"H{number:03d}", "P-heavy", day, code, payer, history if number == in_history else None)
             for number, day in enumerate(days) if number >= in_history]
    others = [_claim(f"C{number:05d}", f"P{number:05d}", _FIRST + dt.timedelta(days=number % 60), code,
                     ("medicare", "commercial")[number % 2])
              for number in range(SMALL_RUN + 50)]
    tables = tables_from_encounters([*others, *heavy], _PAYERS, as_of=dt.date(2026, 12, 1))
    assert tables.lines.height > SMALL_RUN
    return tables


def _both(tables: Tables, rule: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    selection = RuleSelection(select=frozenset({rule}))
    return findings_table(tables, selection), findings_table(tables, selection, screens=False)


@pytest.mark.parametrize(("visits", "in_history", "flagged"), [(9, 0, 1), (9, 5, 1), (8, 0, 0), (10, 3, 2)])
def test_tobacco_counseling_limit_is_screened_by_each_patients_dates(visits: int, in_history: int,
                                                                      flagged: int) -> None:
    tables = _batch("99406", visits, in_history=in_history)
    screened, unscreened = _both(tables, "visit-frequency-limit")
    assert screened.equals(unscreened)
    assert screened.height == flagged
    assert set(screened.get_column("encounter")) <= {f"H{number:03d}" for number in range(visits)}
    assert frequency._most_dates(tables, ["99406", "99407"], "medicare") == visits


def test_a_limit_is_bounded_by_the_patients_with_a_line_of_its_payer() -> None:
    # the heavy patient is commercial, which sets no limit: the Medicare limit cannot reach any of its lines
    tables = _batch("99406", 12, payer="commercial")
    assert frequency._most_dates(tables, ["99406", "99407"]) == 12
    assert frequency._most_dates(tables, ["99406", "99407"], "medicare") == 1
    screened, unscreened = _both(tables, "visit-frequency-limit")
    assert screened.is_empty() and unscreened.is_empty()
    # an unscreened run of the same patient under Medicare finds the 9th date and later
    medicare = _batch("99406", 12)
    assert _both(medicare, "visit-frequency-limit")[0].height == 4


@pytest.mark.parametrize(("visits", "in_history", "flagged"), [(10, 0, 1), (12, 4, 3), (9, 0, 0)])
def test_progress_report_due_is_screened_by_each_patients_treatment_dates(visits: int, in_history: int,
                                                                          flagged: int) -> None:
    tables = _batch("97110", visits, in_history=in_history)
    screened, unscreened = _both(tables, "progress-report-due")
    assert screened.equals(unscreened)
    assert screened.height == flagged
    assert frequency._most_dates(tables, frequency._always_therapy(tables.book)) == visits

"""missing-kx settles groups without pricing them (`_settled_groups`): far under the threshold at upper-bound rates,
or the patient's only claim with no history. Settling is a shortcut, never a verdict: on random batches (history or
none, allowed amounts or none, KX or none, one or several claims per patient, small and large units) the same lines
are flagged, at the same severity, with it and with every group priced. (The arithmetic in a message may differ: a
claim already over on history alone is priced anyway when another of its groups is undecided, and settling can take
that other group away.)"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules import tables_from_encounters
from cleanclaim.rules.catalogue import modifiers
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, collect

CODES = ["97110", "97112", "97530", "97140", "97161", "G0283", "99213", "97750"]
MODIFIERS = [["GP"], ["GO"], ["GN"], [], ["GP", "KX"], ["GO", "KX"]]


def _batch(seed: int) -> list[Encounter]:
    rnd = random.Random(seed)
    encounters: list[dict[str, Any]] = []
    for number in range(rnd.randint(1, 20)):
        day = dt.date(2026, 1, 5) + dt.timedelta(days=rnd.randint(0, 300))
        history = [{"date": (day - dt.timedelta(days=rnd.randint(-5, 200))).isoformat(), "code": rnd.choice(CODES),
                    "modifiers": rnd.choice(MODIFIERS), "units": rnd.randint(1, 4),
                    **({"allowed": float(rnd.randint(1, 2600))} if rnd.random() < 0.6 else {})}
                   for _ in range(rnd.randint(0, 5) if rnd.random() < 0.4 else 0)]
        lines = [{"code": rnd.choice(CODES), "modifiers": rnd.choice(MODIFIERS), "units": rnd.choice([1, 2, 8, 20, 60]),
                  **({"date": (day + dt.timedelta(days=rnd.randint(-3, 3))).isoformat()} if rnd.random() < 0.3
                     else {})}
                 for _ in range(rnd.randint(1, 4))]
        encounters.append({
            "id": f"E{number:02d}", "date": day.isoformat(),
            "payer": rnd.choice(["medicare", "medicare", "commercial"]), "place_of_service": "11",
            "patient": {"id": f"P{rnd.randint(1, 6)}", "birth_date": "1950-01-01", "sex": "F"},
            "provider": {"npi": "1234567893", "discipline": rnd.choice(["PT", "OT", "SLP"])},
            "diagnoses": ["M62.81"], "history": history, "lines": lines})
    return [Encounter.model_validate(e) for e in encounters]


def _kx_findings(encounters: list[Encounter]) -> pl.DataFrame:
    payers = {p: load_profile(p) for p in ("medicare", "commercial")}
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1))
    found = findings_table(tables, RuleSelection(select=frozenset({"missing-kx"})))
    return found.select("rule", "encounter", "line", "code", "severity")


@pytest.mark.parametrize("seed", range(25))
def test_settling_groups_without_pricing_changes_no_finding(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    encounters = _batch(seed)
    settled = _kx_findings(encounters)

    def nothing_settled(batch: pl.LazyFrame, history: pl.LazyFrame, rates: pl.LazyFrame) -> pl.LazyFrame:
        return batch.select(modifiers._KX_GROUP).head(0)

    monkeypatch.setattr(modifiers, "_settled_groups", nothing_settled)
    assert settled.equals(_kx_findings(encounters))


def _large_batch(seed: int) -> list[Encounter]:
    """Over SMALL_RUN lines: many patients, most with a few small lines (settled whole as patients), some with
    history, KX, an unrated code or many units (left to the groups' test and the pricer)."""
    rnd = random.Random(seed)
    encounters: list[dict[str, Any]] = []
    for number in range(520):
        day = dt.date(2026, 1, 5) + dt.timedelta(days=rnd.randint(0, 300))
        busy = rnd.random() < 0.1
        history = [{"date": (day - dt.timedelta(days=rnd.randint(1, 200))).isoformat(), "code": rnd.choice(CODES),
                    "modifiers": rnd.choice(MODIFIERS), "units": rnd.randint(1, 4),
                    **({"allowed": float(rnd.randint(1, 2600))} if rnd.random() < 0.6 else {})}
                   for _ in range(rnd.randint(1, 3))] if rnd.random() < 0.05 else []
        lines = [{"code": rnd.choice(CODES if rnd.random() < 0.1 else CODES[:5]),
                  "modifiers": rnd.choice(MODIFIERS if rnd.random() < 0.1 else MODIFIERS[:3]),
                  "units": rnd.choice([20, 60] if busy else [1, 2])}
                 for _ in range(rnd.randint(1, 3))]
        encounters.append({
            "id": f"E{number:03d}", "date": day.isoformat(),
            "payer": rnd.choice(["medicare", "medicare", "commercial"]), "place_of_service": "11",
            "patient": {"id": f"P{rnd.randint(1, 200)}", "birth_date": "1950-01-01", "sex": "F"},
            "provider": {"npi": "1234567893", "discipline": rnd.choice(["PT", "OT", "SLP"])},
            "diagnoses": ["M62.81"], "history": history, "lines": lines})
    return [Encounter.model_validate(e) for e in encounters]


@pytest.mark.parametrize("seed", range(3))
def test_settling_whole_patients_of_a_large_run_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the patient-level test settles only groups the groups' test settles too: the findings, texts included, are
    # those of settling by groups alone
    encounters = _large_batch(seed)
    payers = {p: load_profile(p) for p in ("medicare", "commercial")}
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1))
    assert tables.lines.height > SMALL_RUN
    selection = RuleSelection(select=frozenset({"missing-kx"}))
    items = modifiers._kx_threshold_items(tables)
    batch = collect(modifiers._kx_batch(tables, items, modifiers._kx_bounds(tables, items)))
    settled = findings_table(tables, selection)
    calls: list[int] = []
    settle_patients = modifiers._settled_patients

    def counted(batch: pl.LazyFrame, history: pl.LazyFrame, rates: pl.LazyFrame) -> pl.LazyFrame:
        found = collect(settle_patients(batch, history, rates))
        calls.append(found.height)
        return found.lazy()

    monkeypatch.setattr(modifiers, "_settled_patients", counted)
    assert settled.equals(findings_table(tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1)),
                                         selection))
    assert calls and calls[0] > 50  # most patients were settled whole
    monkeypatch.setattr(modifiers, "_settled_patients",
                        lambda batch, history, rates: batch.select("patient_id").head(0))
    assert settled.equals(findings_table(tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1)),
                                         selection))
    assert settled.height and batch.height  # some lines are flagged, some are left to price
    assert {"error"} <= set(settled.get_column("severity"))


@pytest.mark.parametrize("seed", range(3))
def test_thresholds_looked_up_by_a_chain_are_those_of_the_join(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # a few (payer, year) thresholds are looked up by comparisons instead of the inner join: the same lines (a
    # commercial line, a line of a year without a threshold, a line without a bucket: none), the same findings
    encounters = [*_large_batch(seed), *(e.model_copy(update={"id": f"Y{e.id}", "date": dt.date(2019, 3, 4)})
                                         for e in _batch(seed))]
    payers = {p: load_profile(p) for p in ("medicare", "commercial")}
    selection = RuleSelection(select=frozenset({"missing-kx"}))

    def found() -> tuple[pl.DataFrame, pl.DataFrame, int]:
        tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1))
        items = modifiers._kx_threshold_items(tables)
        batch = collect(modifiers._kx_batch(tables, items, modifiers._kx_bounds(tables, items)))
        return batch.sort("encounter_id", "line"), findings_table(tables, selection), len(items)

    chain_batch, chain_found, thresholds = found()
    assert 0 < thresholds <= modifiers._THRESHOLD_CHAIN_MAX
    monkeypatch.setattr(modifiers, "_THRESHOLD_CHAIN_MAX", 0)  # joined
    join_batch, join_found, _ = found()
    assert chain_batch.equals(join_batch)
    assert chain_found.equals(join_found)
    assert chain_batch.height and {"error"} <= set(chain_found.get_column("severity"))

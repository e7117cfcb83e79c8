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

"""missing-kx's amounts before a claim, against a plain per-claim loop.

The rule sums them with running totals and as-of joins (linear, see test_same_day_scale.py); this loop is the
definition it must match: for each claim and bucket/year of its lines, the patient's history up to the claim's last
date (any payer) plus the same patient's and payer's batch lines dated before the claim's first date, less batch lines
the history also holds (same patient, date and code). The pricer is replaced by a fixed rate so the loop can say what
each batch line is worth.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules import tables_from_encounters
from cleanclaim.rules.catalogue import modifiers

RATE = 1000.0  # dollars per unit, instead of the pricer
BUCKET = {"GP": "PT+SLP", "GN": "PT+SLP", "GO": "OT"}


def _fixed_estimates(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("row_id", (pl.col("units").cast(pl.Float64) * RATE).alias("estimate"))


def _batch(seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    encounters = []
    for number in range(rnd.randint(2, 12)):
        day = dt.date(2026, 1, 5) + dt.timedelta(days=rnd.randint(0, 60))
        history = [{"date": (day - dt.timedelta(days=rnd.randint(-5, 40))).isoformat(), "code": rnd.choice(
            ["97110", "97112", "97530"]), "modifiers": [rnd.choice(["GP", "GO", "GN"])], "units": rnd.randint(1, 3),
            "allowed": float(rnd.randint(1, 900))} for _ in range(rnd.randint(0, 4))]
        # over the threshold in both buckets on New Year's Day: no patient is settled without pricing
        history += [{"date": "2026-01-01", "code": "97110", "modifiers": [modifier], "units": 1, "allowed": 2500.0}
                    for modifier in ("GP", "GO")]
        lines = [{"code": rnd.choice(["97110", "97112", "97530"]), "modifiers": [rnd.choice(["GP", "GO", "GN"])],
                  "units": rnd.randint(1, 3),
                  **({"date": (day + dt.timedelta(days=rnd.randint(-3, 3))).isoformat()} if rnd.random() < 0.3
                     else {})}
                 for _ in range(rnd.randint(1, 3))]
        encounters.append({
            "id": f"E{number:02d}", "date": day.isoformat(),
            "payer": rnd.choice(["medicare", "medicare", "commercial"]), "place_of_service": "11",
            "patient": {"id": f"P{rnd.randint(1, 3)}", "birth_date": "1950-01-01", "sex": "F"},
            "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
            "history": history, "lines": lines})
    return encounters


def _expected(encounters: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[float, int, int]]:
    """(encounter, line) -> (before, history rows up to the claim, batch lines counted), by the definition."""
    history: dict[str, set[tuple[str, str, float, str]]] = defaultdict(set)  # patient -> rows (a set: shared once)
    for enc in encounters:
        patient = enc["patient"]["id"]
        for past in enc["history"]:
            history[patient].add((past["date"], past["code"], past["allowed"], BUCKET[past["modifiers"][0]]))
    lines: dict[str, list[tuple[int, dt.date, str, str, int]]] = {}
    for enc in encounters:
        rows = []
        for number, line in enumerate(enc["lines"], start=1):
            date = dt.date.fromisoformat(line.get("date", enc["date"]))
            rows.append((number, date, line["code"], BUCKET[line["modifiers"][0]], line["units"]))
        lines[enc["id"]] = rows
    held = {(p, dt.date.fromisoformat(d), code) for p, rows in history.items() for d, code, _, _ in rows}
    expected = {}
    for enc in encounters:
        if enc["payer"] != "medicare":
            continue
        patient, rows = enc["patient"]["id"], lines[enc["id"]]
        start, last = min(r[1] for r in rows), max(r[1] for r in rows)
        in_history = [h for h in history[patient] if dt.date.fromisoformat(h[0]) <= last]
        for number, date, _code, bucket, _units in rows:
            before = sum(allowed for d, _, allowed, b in in_history
                         if b == bucket and dt.date.fromisoformat(d).year == date.year)
            counted = 0
            for other in encounters:
                if other["payer"] != "medicare" or other["patient"]["id"] != patient:
                    continue
                for _, odate, ocode, obucket, ounits in lines[other["id"]]:
                    if (odate < start and obucket == bucket and odate.year == date.year
                            and (patient, odate, ocode) not in held):
                        before += ounits * RATE
                        counted += 1
            expected[(enc["id"], number)] = (before, len(in_history), counted)
    return expected


@pytest.mark.parametrize("seed", range(40))
def test_amounts_before_each_claim_match_the_definition(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modifiers, "_line_estimates", _fixed_estimates)
    encounters = _batch(seed)
    parsed = [Encounter.model_validate(e) for e in encounters]
    payers = {p: load_profile(p) for p in ("medicare", "commercial")}
    tables = tables_from_encounters(parsed, payers, as_of=dt.date(2026, 11, 23))
    found = modifiers.kx_position(tables)
    got = {(r["encounter_id"], r["line"]): (r["before"], r["history_rows"], r["batch_counted"])
           for r in found.iter_rows(named=True)}
    expected = _expected(encounters)
    assert got.keys() == expected.keys()
    for key, (before, history_rows, counted) in expected.items():
        assert got[key][0] == pytest.approx(before), key
        assert got[key][1:] == (history_rows, counted), key

"""The batch scrub's fast path (`tables_from_stored` over the loaded rows) against the Encounter path it replaced
(`check` on rebuilt `Encounter` objects): same tables, same findings, on varied stored claims, on both databases."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy.orm import Session

from cleanclaim.model import Encounter
from cleanclaim.payers import profile_for
from cleanclaim.rules.tables import Tables, tables_from_encounters, tables_from_stored
from cleanclaim.scrub import billable_encounters
from cleanclaim.store.claims import (
    _billed_encounter,
    _check_encounters,
    _check_stored,
    _keys,
    _line_frame,
    _load_current,
    _load_current_text,
    _load_lines,
    import_encounters,
    scrub_claims,
)
from tests.formats.x12.conftest import BASE_ENCOUNTER
from tests.store.services import Office

AS_OF = dt.date(2026, 6, 30)
EXAMPLES = Path(__file__).parents[2] / "examples"


def _variant(claim_id: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE_ENCOUNTER)
    data["id"], data["claim_id"] = f"E-{claim_id}", claim_id
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _lines(*changes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**line, **change} for line, change in zip(BASE_ENCOUNTER["lines"], changes, strict=False)]


def varied() -> list[Encounter]:
    """Claims that exercise every column: documented services and notes (the examples, coded), history, plans of
    care, line-level dates/places/NPIs/NDCs, charges not given, fractional units, payers with and without a
    profile, a shared encounter id, missing optional blocks and planted faults."""
    coded: list[Encounter] = []
    for n, path in enumerate(sorted(EXAMPLES.glob("*.yaml"))):
        failures: list[Any] = []
        kept, errors = billable_encounters(path, failures=failures)
        assert not errors and not failures
        coded += [e.model_copy(update={"claim_id": f"EX-{n}-{i}"}) for i, e in enumerate(kept) if e.lines]
    history = [{"date": "2026-01-10", "code": "97110", "modifiers": ["GP"], "units": 2, "allowed": 60.12},
               {"date": "2026-02-01", "code": "97164", "progress_report": True},
               {"date": "2026-02-01", "code": "97164", "progress_report": True}]
    services = [{"code": "97110", "minutes": 30}, {"code": "97140", "minutes": 10, "furnished_by": "assistant"},
                {"code": "97535", "minutes": 12, "assistant_minutes": 5}]
    raw = [
        _variant("V-PLAIN"),
        _variant("V-HISTORY", history=history, plan_of_care={"start": "2026-01-05", "certified_through": "2026-02-20"},
                 services=services, note="Therex 30 min, manual 10 min by PTA, self-care 12 min.",
                 lines=_lines({"minutes": None}, {"minutes": None}, {"minutes": 9})),
        _variant("V-LINES", lines=_lines(
            {"date": "2026-03-03", "place_of_service": "02", "rendering_npi": "1555555550"},
            {"charge": None, "ndc": "12345678901", "units": "1.5"},
            {"minutes": 20, "modifiers": ["GP", "95"]})),
        # documented minutes go to the first line of a code only: a repeated code without minutes, and a code whose
        # first line has minutes of its own, leave the later lines without
        _variant("V-REPEAT", services=services, lines=[
            *_lines({"minutes": None}, {"code": "97110", "minutes": None}, {"code": "97140", "minutes": None}),
            {"code": "97110", "modifiers": ["GP"], "units": 1, "dx_pointers": [1]},
            {"code": "97535", "modifiers": ["GP"], "minutes": 8, "dx_pointers": [1], "charge": 30,
             "date": "2026-03-04"},  # everything in columns: no details at all
            {"code": "97535", "modifiers": ["GP"], "dx_pointers": [1], "charge": 30}]),
        _variant("V-COMMERCIAL", payer="commercial", place_of_service="02"),
        _variant("V-TRICARE", payer="tricare", total_charge="999.99"),
        _variant("V-NOPROFILE", payer="acme-health"),
        _variant("V-SHARED-1", id="E-SHARED"),
        _variant("V-SHARED-2", id="E-SHARED", lines=_lines({"code": "97112"})),
        _variant("V-FAULTS", diagnoses=["M62.81"], place_of_service="ZZ",
                 lines=_lines({"modifiers": [], "dx_pointers": [3]}, {"modifiers": ["59"]}, {"units": 9})),
        _variant("V-BARE", subscriber=None, billing_provider=None, payer_id=None,
                 patient={"id": "P9", "sex": "X", "address": {"line1": "1 A St", "city": "B", "state": "ZZ",
                                                              "zip": "1234"}}),
    ]
    return coded + [Encounter.model_validate(data) for data in raw]


def _both(session: Session) -> tuple[Tables, Tables, pl.DataFrame, pl.DataFrame]:
    office = Office(session, settings=False)
    imported = import_encounters(office.tenant, office.biller, varied())
    ids = [item.claim_id for item in imported]
    loaded = _load_current(office.tenant, ids)
    as_text = _load_current_text(office.tenant, ids)
    lines = _load_lines(office.tenant, [row.version_id for row in loaded])
    keys = _keys(loaded)
    assert all(lines[row.version_id] for row in loaded)
    frame = _line_frame(office.tenant, as_text, keys)
    encounters = pl.DataFrame({"encounter_id": keys, "data": [row.data for row in as_text]})
    stored = tables_from_stored(encounters, frame, profile_for, as_of=AS_OF)
    payers = {p: profile_for(p) for p in {row.data["payer"] for row in loaded}}
    rebuilt = tables_from_encounters(
        [_billed_encounter(row.data, lines[row.version_id], version=row.version, frequency_code=row.frequency_code,
                           original_reference=row.original_reference, key=key)
         for row, key in zip(loaded, keys, strict=True)], payers, as_of=AS_OF)
    return (stored, rebuilt, _check_stored(as_text, keys, frame, AS_OF),
            _check_encounters(loaded, keys, lines, AS_OF))


def test_stored_rows_make_the_same_tables_as_rebuilt_encounters(session: Session) -> None:
    stored, rebuilt, _, _ = _both(session)
    assert stored.lines.height > 30 and stored.services.height >= 5 and stored.history.height >= 3
    repeat = stored.lines.filter(pl.col("encounter_id") == "E-V-REPEAT")
    assert repeat.select("code", "minutes").rows() == [
        ("97110", 30), ("97110", None), ("97140", 10), ("97110", None), ("97535", 8), ("97535", None)]
    assert stored.lines.filter(pl.col("charge").is_null()).height >= 2  # charges not given stay not given
    for name in ("lines", "encounters", "services", "history"):
        assert_frame_equal(getattr(stored, name), getattr(rebuilt, name))


def test_fast_path_finds_exactly_what_the_encounter_path_finds(session: Session) -> None:
    _, _, fast, slow = _both(session)
    # not a vacuous comparison: the varied claims trip many different rules, errors among them
    assert fast.height >= 15
    assert fast.get_column("rule").n_unique() >= 6
    assert "error" in fast.get_column("severity").to_list()
    assert_frame_equal(fast, slow)


def test_scrub_claims_stores_the_encounter_paths_findings(session: Session) -> None:
    office = Office(session, settings=False)
    imported = import_encounters(office.tenant, office.biller, varied())
    ids = [item.claim_id for item in imported]
    loaded = _load_current(office.tenant, ids)
    lines = _load_lines(office.tenant, [row.version_id for row in loaded])
    expected = _check_encounters(loaded, _keys(loaded), lines, AS_OF)
    outcome = scrub_claims(office.tenant, office.biller, ids, as_of=AS_OF)
    stored = sum(outcome.counts[claim_id][severity] for claim_id in ids for severity in ("error", "warning", "info"))
    assert stored == expected.height
    errors = sum(outcome.counts[claim_id]["error"] for claim_id in ids)
    assert errors == expected.filter(pl.col("severity") == "error").height


def test_a_later_import_updates_the_patients_and_providers_demographics(session: Session) -> None:
    from sqlalchemy import select

    from cleanclaim.store import models as m

    office = Office(session, settings=False)
    first = Encounter.model_validate(_variant("D-1"))
    import_encounters(office.tenant, office.biller, [first])
    patient = session.scalars(select(m.Patient).where(m.Patient.organisation_id == office.organisation.id)).one()
    assert (patient.last_name, patient.sex) == ("Example", "F")
    moved = _variant("D-2")
    moved["patient"] = {**moved["patient"], "last_name": "Married", "birth_date": "1950-01-02"}
    moved["provider"] = {**moved["provider"], "last_name": "Renamed"}
    unchanged = _variant("D-3", patient={"id": "P-OTHER", "sex": "M"},
                         provider={"npi": "1555555550", "discipline": "OT"})
    import_encounters(office.tenant, office.biller, [Encounter.model_validate(moved),
                                                     Encounter.model_validate(unchanged)])
    # the object the session already held is read again: the latest encounter's demographics are the patient's
    assert (patient.last_name, patient.birth_date) == ("Married", dt.date(1950, 1, 2))
    rows = session.execute(select(m.Patient.patient_ref, m.Patient.sex).where(
        m.Patient.organisation_id == office.organisation.id).order_by(m.Patient.patient_ref)).all()
    assert [tuple(row) for row in rows] == [("P-OTHER", "M"), ("P1", "F")]
    providers = session.execute(select(m.Provider.npi, m.Provider.last_name).where(
        m.Provider.organisation_id == office.organisation.id).order_by(m.Provider.npi)).all()
    assert [tuple(row) for row in providers] == [("1234567893", "Renamed"), ("1555555550", None)]

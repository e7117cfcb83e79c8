"""Shared builders for the X12 tests: synthetic encounters and a pyx12 validation that counts every error."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pyx12 import params as pyx12_params
from pyx12 import x12n_document as pyx12_document

from cleanclaim.formats.x12_837p import Submitter
from cleanclaim.model import Encounter

FIXTURES = Path(__file__).parent / "fixtures"

BASE_ENCOUNTER: dict[str, Any] = {
    "id": "E1",
    "date": "2026-03-02",
    "payer": "medicare",
    "place_of_service": "11",
    "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F", "first_name": "Ann", "last_name": "Example",
                "address": {"line1": "5 Elm St", "city": "Springfield", "state": "IL", "zip": "62701"}},
    "provider": {"npi": "1234567893", "discipline": "PT", "first_name": "Pat", "last_name": "Owner"},
    "diagnoses": ["M62.81", "Z91.81"],
    "billing_provider": {"name": "Harbor Physical Therapy", "npi": "1234567893", "tax_id": "123456789",
                         "taxonomy": "225100000X",
                         "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "627011234"}},
    "subscriber": {"member_id": "1EG4TE5MK73", "first_name": "Ann", "last_name": "Example", "relationship": "self"},
    "payer_id": "12345",
    "claim_id": "CLM-0001",
    "lines": [
        {"code": "97110", "modifiers": ["GP"], "units": 2, "dx_pointers": [1], "charge": 90},
        {"code": "97140", "modifiers": ["GP", "59"], "units": 1, "dx_pointers": [1, 2], "charge": 45.5},
        {"code": "97535", "modifiers": ["GP", "KX"], "units": 1, "dx_pointers": [2], "charge": 40},
    ],
}

WRITER_OPTIONS: dict[str, Any] = {
    "sender_id": "HARBORPT",
    "receiver_id": "CLEARHOUSE",
    "submitter": Submitter("Harbor PT Billing", "Jo Biller", phone="217-555-0100"),
    "receiver_name": "Example Clearinghouse",
    "now": dt.datetime(2026, 3, 5, 9, 30),
}


def encounter(**overrides: Any) -> Encounter:
    """The base PT encounter with top-level fields replaced (``None`` removes a field)."""
    data = copy.deepcopy(BASE_ENCOUNTER)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return Encounter.model_validate(data)


def _collect(doc: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for interchange in doc["interchanges"]:
        found += [e["err_str"] for e in interchange["errors"]]
        for group in interchange["groups"]:
            found += [e["err_str"] for e in group["errors"]]
            for transaction in group["transactions"]:
                found += [e["err_str"] for e in transaction["errors"]]
                for segment in transaction["segments"]:
                    found += [f"{segment['seg_id']}: {e['err_str']}" for e in segment["errors"]]
                    for element in segment["elements"]:
                        found += [f"{segment['seg_id']}{element['ele_pos']:02d}: {e['err_str']}"
                                  for e in element["errors"]]
    return found


def pyx12_errors(text: str, *, acknowledgement: bool = True) -> list[str]:
    """Every error pyx12 finds validating ``text`` against its X12 maps (the 999 is built too when asked).

    pyx12's ``x12valid`` exits 1 even on valid files, so the API is used: the JSON error document lists each
    error, and the return value catches errors the JSON visitor does not list (ST element errors).
    """
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    report = io.StringIO()
    valid = pyx12_document.x12n_document(pyx12_params.params(), io.StringIO(text),
                                         io.StringIO() if acknowledgement else None, None, None, report)
    errors = _collect(json.loads(report.getvalue()))
    if not valid and not errors:
        errors.append("pyx12 found the file invalid")
    return errors


def multi_claim_encounters() -> list[Encounter]:
    second_visit = encounter(
        id="E2", claim_id="CLM-0002", date="2026-03-09",
        provider={"npi": "1987654328", "discipline": "PT", "first_name": "Sam", "last_name": "Rivera",
                  "taxonomy": "225100000X"},
        lines=[{"code": "97110", "modifiers": ["GP", "KX"], "units": 2, "dx_pointers": [1], "charge": 90,
                "date": "2026-03-10"},
               {"code": "97112", "modifiers": ["GP", "CQ"], "units": 1.5, "dx_pointers": [2], "charge": 45}])
    dependent = encounter(
        id="E3", claim_id="CLM-0003", payer="commercial", payer_id="87726",
        patient={"id": "P2", "birth_date": "2014-08-15", "sex": "F", "first_name": "Lily", "last_name": "Sample",
                 "address": {"line1": "22 Oak Ave", "city": "Springfield", "state": "IL", "zip": "62704"}},
        subscriber={"member_id": "XQH900112233", "first_name": "Robert", "last_name": "Sample",
                    "relationship": "child", "group_number": "GRP7731"},
        diagnoses=["S93.401A"],
        lines=[{"code": "97530", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": 65}])
    other_billing = encounter(
        id="E4", claim_id="CLM-0004", payer="commercial", payer_id="87726", place_of_service="02",
        provider={"npi": "1345678902", "discipline": "coach", "first_name": "Avery", "last_name": "Brooks"},
        billing_provider={"name": "Lakeside Health Coaching", "npi": "1765432103", "tax_id": "361234567",
                          "address": {"line1": "400 Lake Shore Dr", "city": "Chicago", "state": "IL",
                                      "zip": "606111234"}},
        diagnoses=["E66.01", "Z71.3"],
        lines=[{"code": "0591T", "modifiers": ["95"], "units": 1, "dx_pointers": [1, 2], "charge": 150}])
    return [encounter(), second_visit, dependent, other_billing]


@pytest.fixture
def pt_encounter() -> Encounter:
    return encounter()

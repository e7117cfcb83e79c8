"""Services to claim lines: codes, units, modifiers and pointers under each payer's rules."""

from __future__ import annotations

from typing import Any

import pytest

from cleanclaim.coding import CodedEncounter, code_encounter
from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile

BASE: dict[str, Any] = {
    "id": "E1", "date": "2026-03-02", "patient": {"id": "P1"},
    "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["R26.81", "M62.81", "Z91.81"],
}


def coded(services: list[dict[str, Any]], payer: str = "medicare", **fields: Any) -> CodedEncounter:
    encounter = Encounter.model_validate({**BASE, **fields, "services": services})
    return code_encounter(encounter, load_profile(payer))


def billed(result: CodedEncounter) -> list[tuple[str, tuple[str, ...], int]]:
    return [(line.code, tuple(line.modifiers), int(line.units)) for line in result.lines]


def rules(result: CodedEncounter) -> list[str]:
    return [f.rule for f in result.findings]


def test_pt_visit_cms_rule_with_gp() -> None:
    result = coded([{"code": "97112", "minutes": 24}, {"code": "97110", "minutes": 23}])
    assert billed(result) == [("97112", ("GP",), 2), ("97110", ("GP",), 1)]
    assert result.explanation[0].startswith("Total timed minutes 47 → 3 units")
    assert result.findings == []


def test_commercial_per_code_rule_without_pooling() -> None:
    result = coded([{"code": "97112", "minutes": 24}, {"code": "97110", "minutes": 23}], payer="commercial")
    assert billed(result) == [("97112", ("GP",), 2), ("97110", ("GP",), 2)]


def test_two_services_of_one_code_become_one_line() -> None:
    result = coded([{"code": "97110", "minutes": 12}, {"code": "97110", "minutes": 11}])
    assert billed(result) == [("97110", ("GP",), 2)]
    assert result.lines[0].minutes == 23


def test_single_timed_service_under_eight_minutes_is_not_billed() -> None:
    result = coded([{"code": "97535", "minutes": 7}])
    assert result.lines == []
    assert rules(result) == ["below-minimum-time"]


def test_untimed_evaluation_plus_timed_codes() -> None:
    result = coded([{"code": "97162", "minutes": 45}, {"code": "97110", "minutes": 20}])
    assert billed(result) == [("97162", ("GP",), 1), ("97110", ("GP",), 1)]


def test_ot_codes_take_go_and_ota_time_takes_co() -> None:
    result = coded([{"code": "97535", "minutes": 30, "assistant_minutes": 12},
                    {"code": "97530", "minutes": 20, "furnished_by": "assistant"}],
                   provider={"npi": "1234567893", "discipline": "OT"})
    assert billed(result) == [("97535", ("GO",), 1), ("97535", ("GO", "CO"), 1), ("97530", ("GO", "CO"), 1)]
    assert result.lines[0].minutes == 30
    assert result.lines[1].minutes is None


def test_assistant_within_de_minimis_gets_no_cq() -> None:
    result = coded([{"code": "97110", "minutes": 30, "assistant_minutes": 1}])
    assert billed(result) == [("97110", ("GP",), 2)]


def test_time_together_is_the_therapists() -> None:
    result = coded([{"code": "97110", "minutes": 30, "furnished_by": "together"}])
    assert billed(result) == [("97110", ("GP",), 2)]


def test_commercial_profile_uses_no_assistant_modifiers() -> None:
    result = coded([{"code": "97110", "minutes": 30, "furnished_by": "assistant"}], payer="commercial")
    assert billed(result) == [("97110", ("GP",), 2)]


def test_discipline_locked_evaluation_modifier() -> None:
    result = coded([{"code": "97166"}], provider={"npi": "1234567893", "discipline": "OT"})
    assert billed(result) == [("97166", ("GO",), 1)]


def test_physician_always_therapy_code_without_plan_discipline() -> None:
    result = coded([{"code": "97110", "minutes": 15}], provider={"npi": "1234567893", "discipline": "MD"})
    assert billed(result) == [("97110", (), 1)]
    assert "missing-therapy-modifier" in rules(result)


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(15, []), (16, [("96158", (), 1)]), (37, [("96158", (), 1)]),
     (38, [("96158", (), 1), ("96159", (), 1)]), (53, [("96158", (), 1), ("96159", (), 2)])],
)
def test_hbai_base_and_add_on_by_midpoint(minutes: int, expected: list[tuple[str, tuple[str, ...], int]]) -> None:
    result = coded([{"code": "96158", "minutes": minutes}], provider={"npi": "1234567893", "discipline": "CSW"})
    assert billed(result) == expected
    if not expected:
        assert rules(result) == ["below-minimum-time"]


def test_add_on_named_alone_is_coded_from_the_base() -> None:
    result = coded([{"code": "96158", "minutes": 30}, {"code": "96159", "minutes": 15}],
                   provider={"npi": "1234567893", "discipline": "psychologist"})
    assert billed(result) == [("96158", (), 1), ("96159", (), 1)]


@pytest.mark.parametrize(
    ("named", "minutes", "code", "finding"),
    [("99407", 8, "99406", "time-range-mismatch"), ("99406", 10, "99406", None), ("99406", 11, "99407",
     "time-range-mismatch"), ("99406", 3, None, "below-minimum-time")],
)
def test_tobacco_counseling_family_by_minutes(named: str, minutes: int, code: str | None, finding: str | None) -> None:
    result = coded([{"code": named, "minutes": minutes}], provider={"npi": "1234567893", "discipline": "MD"})
    assert [line.code for line in result.lines] == ([code] if code else [])
    assert rules(result) == ([finding] if finding else [])


@pytest.mark.parametrize(("payer", "minutes", "code"),
                         [("medicare", 20, "G0396"), ("medicare", 40, "G0397"), ("medicare", 10, "G2011"),
                          ("commercial", 20, "99408"), ("commercial", 40, "99409")])
def test_sbi_uses_medicare_g_codes(payer: str, minutes: int, code: str) -> None:
    result = coded([{"code": "99408", "minutes": minutes}], payer=payer,
                   provider={"npi": "1234567893", "discipline": "MD"})
    assert [line.code for line in result.lines] == [code]


@pytest.mark.parametrize(
    ("named", "minutes", "rule", "severity"),
    [("99407", 8, "time-range-mismatch", "info"), ("99406", 11, "time-range-mismatch", "info"),
     ("99406", 3, "below-minimum-time", "info"), ("96152", 40, "deleted-code", "info")],
)
def test_the_coders_notices_are_info(named: str, minutes: int, rule: str, severity: str) -> None:
    # issue 14 item 12: "I changed the code you named" and "nothing billed for 3 minutes" leave a claim with no
    # error on it; they were warnings and errors (an unbilled 3-minute counseling made `check` exit 1)
    result = coded([{"code": named, "minutes": minutes}], provider={"npi": "1234567893", "discipline": "MD"})
    (finding,) = result.findings
    assert (finding.rule, finding.severity.value) == (rule, severity)


@pytest.mark.parametrize(("code", "minutes"), [("97535", None), ("96152", None)])
def test_what_the_coder_cannot_bill_for_want_of_documentation_stays_an_error(code: str, minutes: int | None) -> None:
    service: dict[str, object] = {"code": code} if minutes is None else {"code": code, "minutes": minutes}
    result = coded([service], provider={"npi": "1234567893", "discipline": "psychologist"})
    assert any(f.severity.value == "error" for f in result.findings), result.findings


@pytest.mark.parametrize(("minutes", "units"), [(29, 0), (30, 1)])
def test_coaching_follow_up_needs_thirty_minutes(minutes: int, units: int) -> None:
    result = coded([{"code": "0592T", "minutes": minutes}], payer="commercial",
                   provider={"npi": "1234567893", "discipline": "coach"})
    assert sum(int(line.units) for line in result.lines) == units


def test_deleted_code_is_reported_and_coded_as_its_replacement() -> None:
    result = coded([{"code": "96152", "minutes": 40}], provider={"npi": "1234567893", "discipline": "psychologist"})
    assert billed(result) == [("96158", (), 1), ("96159", (), 1)]
    finding = result.findings[0]
    assert finding.rule == "deleted-code"
    assert "2020-01-01" in finding.message


def test_timed_code_without_minutes_is_not_billed() -> None:
    result = coded([{"code": "97535"}])
    assert result.lines == []
    assert rules(result) == ["missing-minutes"]


def test_em_level_without_minutes_rests_on_decision_making() -> None:
    result = coded([{"code": "99214"}], provider={"npi": "1234567893", "discipline": "MD"})
    assert billed(result) == [("99214", (), 1)]
    assert result.findings == []


def test_unknown_and_malformed_codes_are_reported_not_billed() -> None:
    result = coded([{"code": "97999", "minutes": 10}, {"code": "9711", "minutes": 10}])
    assert result.lines == []
    assert rules(result) == ["unknown-code", "invalid-code-format"]


def test_pointers_follow_diagnosis_order_and_stop_at_four() -> None:
    result = coded([{"code": "97110", "minutes": 15}], diagnoses=["R26.81", "M62.81", "Z91.81", "R29.6", "M25.561"])
    assert result.lines[0].dx_pointers == [1, 2, 3, 4]


def test_telehealth_modifier_when_the_profile_requires_it() -> None:
    result = coded([{"code": "97110", "minutes": 15}], payer="commercial", place_of_service="10")
    assert billed(result) == [("97110", ("GP", "95"), 1)]
    medicare = coded([{"code": "97110", "minutes": 15}], place_of_service="10")
    assert billed(medicare) == [("97110", ("GP",), 1)]


# ---- same-day encounters of one patient (CMS counts the day's timed minutes per discipline) -----------------------

def _day(*visits: dict[str, Any], payer: str = "medicare") -> list[CodedEncounter]:
    from cleanclaim.coding import code_encounters

    profile = load_profile(payer)
    encounters = [Encounter.model_validate({**BASE, **visit}) for visit in visits]
    return code_encounters([(encounter, profile, None) for encounter in encounters])


def test_morning_and_afternoon_sessions_pool_their_timed_minutes_on_the_first() -> None:
    # 22 + 22 = 44 min -> 3 units (38-52 min); coded apart they would be 1 + 1 = 2 units
    am, pm = _day({"id": "AM", "services": [{"code": "97110", "minutes": 22}]},
                  {"id": "PM", "services": [{"code": "97110", "minutes": 22}]})
    assert billed(am) == [("97110", ("GP",), 3)]
    assert am.lines[0].minutes == 44
    assert pm.lines == []
    assert any("Encounter PM is the same patient" in text and "97110 22 min" in text for text in am.explanation)
    assert any("counted with encounter AM" in text for text in pm.explanation)
    # the documentation moves with the minutes, so the claim's services match its lines
    assert [s.minutes for s in am.encounter.services] == [22, 22]
    assert pm.encounter.services == []


def test_minutes_too_few_alone_are_billable_together() -> None:
    # 7 min each is under 8 alone; 14 min in the day is one unit of the code with the most minutes (a tie here)
    am, pm = _day({"id": "AM", "services": [{"code": "97110", "minutes": 7}]},
                  {"id": "PM", "services": [{"code": "97530", "minutes": 7}]})
    assert [units for _, _, units in billed(am)] == [1]
    assert billed(pm) == []


@pytest.mark.parametrize(("second", "payer"), [
    ({"date": "2026-03-03"}, "medicare"),                               # another day
    ({"provider": {"npi": "1234567893", "discipline": "OT"}}, "medicare"),  # another discipline (GO plan)
    ({"patient": {"id": "P2"}}, "medicare"),                            # another patient
    ({}, "commercial"),                                                 # per-code rule: each code on its own
    ({"provider": {"npi": "1245319599", "discipline": "PT"}}, "medicare"),  # another rendering therapist's claim
    ({"place_of_service": "02"}, "medicare"),                            # a telehealth session
    ({"diagnoses": ["M17.11"]}, "medicare"),                             # treated for something else
    ({"billing_provider": {"name": "Other PT", "npi": "1245319599", "tax_id": "987654321",
                           "address": {"line1": "2 Oak St", "city": "Springfield", "state": "IL",
                                       "zip": "62701"}}}, "medicare"),   # another practice
])
def test_sessions_are_not_pooled_across_days_disciplines_patients_claims_or_per_code_payers(
        second: dict[str, Any], payer: str) -> None:
    first, other = _day({"id": "AM", "services": [{"code": "97110", "minutes": 22}]},
                        {"id": "PM", "services": [{"code": "97110", "minutes": 22}], **second}, payer=payer)
    assert [units for _, _, units in billed(first)] == [1]
    assert [units for _, _, units in billed(other)] == [1]


def test_untimed_services_stay_on_their_own_encounter() -> None:
    am, pm = _day({"id": "AM", "services": [{"code": "97110", "minutes": 22}]},
                  {"id": "PM", "services": [{"code": "97162", "minutes": 45}, {"code": "97110", "minutes": 22}]})
    assert billed(am) == [("97110", ("GP",), 3)]
    assert billed(pm) == [("97162", ("GP",), 1)]


def test_an_encounter_with_nothing_billable_gets_no_filing_deadline() -> None:
    import datetime as dt

    import cleanclaim

    # 5 minutes of 97110 bills nothing; the visit is also past Medicare's filing limit, which must not be reported
    # for a claim that will not exist
    late = Encounter.model_validate({**BASE, "date": "2024-03-02", "services": [{"code": "97110", "minutes": 5}]})
    [result] = cleanclaim.code(late, as_of=dt.date(2026, 4, 1)).encounters
    assert result.lines == []
    assert "below-minimum-time" in rules(result)
    assert "timely-filing" not in rules(result)
    # what is wrong with the record itself is still said
    bad_npi = late.model_copy(update={"provider": late.provider.model_copy(update={"npi": "1234567890"})})
    [result] = cleanclaim.code(bad_npi, as_of=dt.date(2026, 4, 1)).encounters
    assert "invalid-npi" in rules(result) and "timely-filing" not in rules(result)
    billable = late.model_copy(update={"services": [late.services[0].model_copy(update={"minutes": 15})]})
    [result] = cleanclaim.code(billable, as_of=dt.date(2026, 4, 1)).encounters
    assert "timely-filing" in rules(result)


def test_pooled_assistant_minutes_are_documented_on_the_claim_that_bills_them() -> None:
    import datetime as dt

    import cleanclaim

    visits = [Encounter.model_validate({**BASE, "id": "AM", "services": [{"code": "97110", "minutes": 10}]}),
              Encounter.model_validate({**BASE, "id": "PM", "services": [
                  {"code": "97110", "minutes": 10, "furnished_by": "assistant"}]})]
    [am, pm] = cleanclaim.code(visits, as_of=dt.date(2026, 4, 1)).encounters
    assert billed(am) == [("97110", ("GP", "CQ"), 1)]  # 20 min -> 1 unit, the assistant's 10 of 20 minutes > 10%
    assert "assistant-modifier-mismatch" not in rules(am)
    assert billed(pm) == []

"""The modifier family beyond its YAML cases: the bundled modifier list, batches of several encounters, and input the
arithmetic cannot use (fractional units, assistant minutes over the total, a pricer that fails)."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from cleanclaim.errors import InputError
from cleanclaim.model import Encounter, Finding, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue import modifiers
from cleanclaim.rules.engine import RuleSelection


def _encounter(**fields: Any) -> Encounter:
    data: dict[str, Any] = {
        "id": "E1", "date": "2026-03-02", "payer": "medicare", "place_of_service": "11",
        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
    }
    data.update(fields)
    return Encounter.model_validate(data)


def _run(slug: str, *encounters: Encounter) -> list[Finding]:
    payers = {e.payer: load_profile(e.payer) for e in encounters}
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 11, 23))
    return run_rules(tables, RuleSelection(select=frozenset({slug})))


def test_modifier_list_header_names_source_release_and_licence() -> None:
    text = resources.files("cleanclaim.rules").joinpath("data/modifiers.csv").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    for word in ("source:", "release:", "licence:"):
        assert any(word in line for line in header), word


def test_modifier_list_has_unique_two_character_modifiers() -> None:
    listed = modifiers.modifier_list().get_column("modifier").to_list()
    assert len(listed) == len(set(listed))
    assert all(len(m) == 2 and m.isalnum() and m == m.upper() for m in listed)


@pytest.mark.parametrize("modifier", ["22", "25", "33", "52", "59", "93", "95", "CO", "CQ", "GN", "GO", "GP", "KX",
                                      "XE", "XP", "XS", "XU"])
def test_modifier_list_holds_every_modifier_the_rules_name(modifier: str) -> None:
    assert modifier in modifiers.modifier_list().get_column("modifier").to_list()


def test_each_encounter_of_a_batch_is_judged_on_its_own() -> None:
    # Two encounters with the same code: only the one whose services show the assistant is flagged.
    with_pta = _encounter(id="E1", services=[{"code": "97110", "minutes": 30, "furnished_by": "assistant"}],
                          lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    pt_only = _encounter(id="E2", services=[{"code": "97110", "minutes": 30}],
                         lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    findings = _run("missing-assistant-modifier", with_pta, pt_only)
    assert [(f.encounter, f.line) for f in findings] == [("E1", 1)]


def test_kx_history_is_per_patient() -> None:
    over = _encounter(id="E1", history=[{"date": "2026-02-20", "code": "97110", "modifiers": ["GP"], "units": 2,
                                         "allowed": 2600.00}],
                      lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    other_patient = _encounter(id="E2", patient={"id": "P2", "birth_date": "1951-01-01", "sex": "M"},
                               lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    findings = _run("missing-kx", over, other_patient)
    assert [f.encounter for f in findings] == ["E1"]
    assert "$2,600.00 before this claim" in findings[0].message


def test_fractional_units_get_no_assistant_arithmetic() -> None:
    encounter = _encounter(services=[{"code": "97110", "minutes": 30, "furnished_by": "assistant"}],
                           lines=[{"code": "97110", "modifiers": ["GP"], "units": 1.5}])
    assert _run("missing-assistant-modifier", encounter) == []


def test_assistant_minutes_over_the_total_are_rejected_as_input() -> None:
    # Impossible documentation never reaches the rules: the encounter model refuses it with the numbers.
    with pytest.raises(ValidationError, match="cannot exceed"):
        _encounter(services=[{"code": "97110", "minutes": 20, "assistant_minutes": 25}],
                   lines=[{"code": "97110", "modifiers": ["GP"], "units": 1}])


def test_kx_uses_history_alone_when_pricing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_price(*args: Any, **kwargs: Any) -> Any:
        raise InputError("no relative values")

    monkeypatch.setattr("cleanclaim.pricing.price", failing_price)
    near = _encounter(history=[{"date": "2026-02-20", "code": "97110", "modifiers": ["GP"], "units": 2,
                                "allowed": 2479.00}],
                      lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    # $2,479 is under $2,480 and this claim cannot be estimated: its status is unknown (a warning naming the
    # unpriced line), neither silence (the unknown counted as $0) nor a guessed error
    unknown = _run("missing-kx", near)
    assert [(f.severity, f.line) for f in unknown] == [(Severity.WARNING, 1)]
    assert "KX status unknown: 1 line(s) unpriced" in unknown[0].message
    assert "$2,479.00 before this claim" in unknown[0].message
    over = _encounter(history=[{"date": "2026-02-20", "code": "97110", "modifiers": ["GP"], "units": 2,
                                "allowed": 2481.00}],
                      lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    findings = _run("missing-kx", over)
    assert len(findings) == 1
    assert "$2,481.00 before this claim alone" in findings[0].message


def test_kx_threshold_edge_uses_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import pricing

    real_price = pricing.price
    calls: list[int] = []

    def counting_price(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_price(*args, **kwargs)

    monkeypatch.setattr("cleanclaim.pricing.price", counting_price)
    exactly = _encounter(history=[{"date": "2026-02-20", "code": "97110", "modifiers": ["GP"], "units": 2,
                                   "allowed": 2480.00}],
                         lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    findings = _run("missing-kx", exactly)
    # at the threshold on history, the claim's own estimate decides: it is priced and takes the total over
    assert calls
    assert len(findings) == 1
    assert "$2,480.00 before this claim + ~$" in findings[0].message


def test_telehealth_severity_follows_the_payer_program() -> None:
    medicare = _encounter(lines=[{"code": "97110", "modifiers": ["GP", "95"], "units": 2}])
    commercial = _encounter(id="E2", payer="commercial",
                            lines=[{"code": "97110", "modifiers": ["GP", "95"], "units": 2}])
    findings = _run("telehealth-place-mismatch", medicare, commercial)
    assert {(f.encounter, f.severity.value) for f in findings} == {("E1", "error"), ("E2", "warning")}


def _visits(count: int, units: int = 3, **extra: Any) -> list[dict[str, Any]]:
    """Earlier PT visits every other day from 2026-01-05, without ``allowed`` (a practice's own visit log)."""
    start = dt.date(2026, 1, 5)
    return [{"date": (start + dt.timedelta(days=2 * i)).isoformat(), "code": "97110", "modifiers": ["GP"],
             "units": units, **extra} for i in range(count)]


def test_kx_values_history_without_allowed_at_national_rates() -> None:
    # Reviewer's case: 40 visits of 97110 x3. Per visit (CY2026 national, MPPR on units 2-3):
    # (0.45 + 0.41 + 0.01) + 2 x (0.45 + 0.205 + 0.01) = 2.200 RVUs x 33.4009 = 73.48 -> 40 visits = 2,939.20
    encounter = _encounter(date="2026-04-01", history=_visits(40),
                           lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    [finding] = _run("missing-kx", encounter)
    assert "$2,939.20 before this claim" in finding.message
    assert "valued at national Medicare rates: 40 earlier therapy line(s) without an allowed amount" in finding.message


def test_kx_history_without_allowed_prices_each_distinct_patient_day_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim import pricing

    real_price = pricing.price
    days: list[list[tuple[dt.date, str, int]]] = []

    def recording_price(lines: Any, *args: Any, **kwargs: Any) -> Any:
        days.append([(line.date, line.code, int(line.units)) for line in lines])
        return real_price(lines, *args, **kwargs)

    monkeypatch.setattr("cleanclaim.pricing.price", recording_price)
    history = [*_visits(3, units=1), {"date": "2026-01-05", "code": "97112", "modifiers": ["GP"], "units": 1},
               # near the threshold, so the upper bound cannot settle the patient without pricing
               {"date": "2026-01-02", "code": "97110", "modifiers": ["GP"], "units": 1, "allowed": 2440.00}]
    # two encounters of the same patient share the history: still one call per day
    first = _encounter(id="E1", date="2026-03-02", history=history,
                       lines=[{"code": "97110", "modifiers": ["GP"], "units": 1}])
    second = _encounter(id="E2", date="2026-03-09", history=history,
                        lines=[{"code": "97110", "modifiers": ["GP"], "units": 1}])
    _run("missing-kx", first, second)
    assert all(len({day for day, _, _ in call}) == 1 for call in days)  # each call is one day
    history_calls = [call for call in days if call[0][0] < dt.date(2026, 3, 1)]
    # 2026-01-05 (97110 + 97112) is priced whole, so the MPPR applies; 01-07 and 01-09 bill the same line in the
    # same year, so one of them is priced and its amount serves both (the claims' own 97110 x1 is that line too)
    assert sorted(sorted((code, units) for _, code, units in call) for call in history_calls) == [
        [("97110", 1)], [("97110", 1), ("97112", 1)]]
    assert len(days) == 2


def test_kx_history_day_is_priced_whole_so_the_mppr_applies() -> None:
    # 97112 (PE 0.47) keeps full PE; 97110 x1 gets 50% PE on the same day, as on the original claim:
    # 0.98 x 33.4009 = 32.73 (allowed given) + 0.665 x 33.4009 = 22.21 (estimated); not 29.06 at full PE
    history = [{"date": "2026-01-05", "code": "97112", "modifiers": ["GP"], "units": 1, "allowed": 2440.00},
               {"date": "2026-01-05", "code": "97110", "modifiers": ["GP"], "units": 1}]
    encounter = _encounter(history=history, lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    [finding] = _run("missing-kx", encounter)
    assert "$2,462.21 before this claim" in finding.message


def _billed_by(npi: str, tax_id: str) -> dict[str, Any]:
    return {"name": "Clinic", "npi": npi, "tax_id": tax_id,
            "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "627011234"}}


_PRACTICE_A, _PRACTICE_B = _billed_by("1234567893", "123456789"), _billed_by("1245319599", "987654321")


def test_kx_estimate_applies_the_mppr_per_billing_provider_like_the_pricer() -> None:
    # The allowed amount after the MPPR counts toward the threshold, and the MPPR ranks one provider's units of a
    # patient's day (the pricer's key): two practices' 97112 x1 on the same day are each paid full PE.
    # 97112 CY2026 national: (0.50 + 0.47 + 0.01) x 33.4009 = 32.7329 -> 32.73 each, $2,450 + 32.73 = $2,482.73 over
    # $2,480 on both claims. One practice billing both: the second 97112 at 50% PE, (0.50 + 0.235 + 0.01) x 33.4009
    # = 24.8837 -> 24.88, $2,474.88 under, so only the first is over.
    history = [{"date": "2026-02-20", "code": "97110", "modifiers": ["GP"], "units": 1, "allowed": 2450.00}]
    apart = [_encounter(id=eid, billing_provider=practice, history=history,
                        lines=[{"code": "97112", "modifiers": ["GP"], "units": 1}])
             for eid, practice in (("E1", _PRACTICE_A), ("E2", _PRACTICE_B))]
    findings = _run("missing-kx", *apart)
    assert sorted(f.encounter for f in findings) == ["E1", "E2"]
    assert all("$2,450.00 before this claim + ~$32.73 = $2,482.73" in f.message for f in findings)
    together = [e.model_copy(update={"billing_provider": apart[0].billing_provider}) for e in apart]
    [finding] = _run("missing-kx", *together)
    assert finding.encounter == "E1"
    # without a billing provider the rendering NPI is the provider, as in the pricer: two therapists' own practices
    rendering = [e.model_copy(update={"billing_provider": None,
                                      "provider": e.provider.model_copy(update={"npi": npi})})
                 for e, npi in zip(apart, ("1234567893", "1245319599"), strict=True)]
    assert sorted(f.encounter for f in _run("missing-kx", *rendering)) == ["E1", "E2"]
    same_therapist = [e.model_copy(update={"billing_provider": None}) for e in apart]
    assert [f.encounter for f in _run("missing-kx", *same_therapist)] == ["E1"]


def test_kx_earlier_encounters_of_two_practices_on_one_day_are_not_reduced_together() -> None:
    # Earlier encounters in the batch are valued the same way: 2026-01-10, 97112 x1 from each of two practices is
    # 32.73 + 32.73 = 65.46 (not 32.73 + 24.88 = 57.61 as one provider's day), so $2,400 + 65.46 = $2,465.46 before.
    history = [{"date": "2026-01-02", "code": "97110", "modifiers": ["GP"], "units": 1, "allowed": 2400.00}]
    earlier = [_encounter(id=eid, date="2026-01-10", billing_provider=practice, history=history,
                          lines=[{"code": "97112", "modifiers": ["GP"], "units": 1}])
               for eid, practice in (("E0a", _PRACTICE_A), ("E0b", _PRACTICE_B))]
    claim = _encounter(id="E1", billing_provider=_PRACTICE_A, history=history,
                       lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    [finding] = _run("missing-kx", *earlier, claim)
    assert finding.encounter == "E1"
    # 97110 x2: 0.87 x 33.4009 = 29.06 + 0.665 x 33.4009 = 22.21 -> 51.27; 2,465.46 + 51.27 = 2,516.73
    assert "$2,465.46 before this claim" in finding.message
    assert "+ ~$51.27 = $2,516.73" in finding.message
    one_practice = [e.model_copy(update={"billing_provider": claim.billing_provider}) for e in earlier]
    [finding] = _run("missing-kx", *one_practice, claim)
    assert "$2,457.61 before this claim" in finding.message


def test_kx_earlier_batch_encounters_are_counted_per_payer() -> None:
    early = _encounter(id="E0", date="2026-01-10", lines=[{"code": "97110", "modifiers": ["GP", "KX"], "units": 60}])
    early_2 = _encounter(id="E0b", date="2026-01-12",
                         lines=[{"code": "97110", "modifiers": ["GP", "KX"], "units": 60}])
    claim = _encounter(id="E1", lines=[{"code": "97110", "modifiers": ["GP"], "units": 2}])
    [finding] = _run("missing-kx", early, early_2, claim)
    assert (finding.encounter, finding.line) == ("E1", 1)
    # 97110 x60 per visit, units rounded to the cent: 29.06 + 59 x 22.21 = 1,339.45; two visits 2,678.90
    assert "$2,678.90 before this claim" in finding.message
    # the same visits billed to a commercial payer are not Medicare therapy dollars
    commercial = [e.model_copy(update={"payer": "commercial"}) for e in (early, early_2)]
    assert _run("missing-kx", *commercial, claim) == []


def test_kx_settles_patients_far_under_the_threshold_without_pricing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def recording_price(lines: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(lines))
        raise AssertionError("a patient far under the threshold must not be priced")

    monkeypatch.setattr("cleanclaim.pricing.price", recording_price)
    # 3 visits of 97110 x1 with no allowed amounts: at most ~$30 each, nowhere near $2,480
    encounter = _encounter(history=_visits(3, units=1), lines=[{"code": "97110", "modifiers": ["GP"], "units": 1}])
    assert _run("missing-kx", encounter) == []
    assert calls == []


def test_the_modifier_list_carries_the_program_and_level_of_care_families_with_dates() -> None:
    listed = modifiers.modifier_list()
    codes = set(listed.get_column("modifier").to_list())
    assert {f"H{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"} <= codes
    assert {"U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "U9", "UA", "UB", "UC", "UD"} <= codes
    dated = {row["modifier"]: (row["effective"], row["terminated"])
             for row in listed.filter(pl.col("effective").is_not_null() | pl.col("terminated").is_not_null())
             .iter_rows(named=True)}
    assert all(dated[x] == (dt.date(2015, 1, 1), None) for x in ("XE", "XP", "XS", "XU"))
    assert dated["SG"] == (dt.date(1992, 1, 1), None)  # not terminated in the CMS HCPCS file
    assert dated["GD"] == (dt.date(2008, 1, 1), dt.date(2020, 1, 1))  # last valid day 2019-12-31
    assert listed.filter(pl.col("source").is_null() | (pl.col("source") == "")).height == 0


def test_the_modifier_list_holds_every_modifier_of_the_cms_2020_hcpcs_file() -> None:
    """The CMS 2020 annual HCPCS file has 369 modifier records (record id 7), counted by hand when the list was built;
    every one is here, dated, with the file named as its source."""
    from_file = modifiers.modifier_list().filter(pl.col("source").str.contains("CMS HCPCS 2020 file"))
    assert from_file.height == 369
    assert from_file.filter(pl.col("effective").is_null()).height == 0
    assert from_file.filter(pl.col("level") != "hcpcs").height == 0


def test_the_modifier_list_holds_every_modifier_of_the_cms_2026_hcpcs_file() -> None:
    """The CMS 2026 annual HCPCS file has 383 modifier records: the 2020 file's 369 and AB, FQ, FR, FS, FT, J5, JK,
    JL, JZ, LU, N1-N3 and V4; JG, MA-MH and QQ end 2024-12-31."""
    listed = modifiers.modifier_list().filter(pl.col("level") == "hcpcs")
    assert listed.height == 383
    assert listed.filter(pl.col("effective").is_null()).height == 0
    dated = {row["modifier"]: (row["effective"], row["terminated"]) for row in listed.iter_rows(named=True)}
    assert dated["FT"] == (dt.date(2022, 1, 1), None)
    assert dated["JK"] == (dt.date(2023, 4, 1), None)
    assert all(dated[m][1] == dt.date(2025, 1, 1) for m in ("JG", "MA", "MB", "MC", "MD", "ME", "MF", "MG", "MH", "QQ"))
    assert dated["TB"] == (dt.date(2018, 1, 1), None)  # JG's 340B successor stays valid


# A real sample: the modifiers issue 14 names as wrongly "unknown", the ones on the example claims, and those a
# behavioral-health, Medicaid and therapy biller sends every day (program, practitioner level, place, level of care).
_SAMPLE = ("HF", "HO", "HQ", "HN", "U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8", "U9", "UA", "UB", "UC", "UD",
           "GP", "GO", "GN", "CQ", "CO", "KX", "GA", "GY", "GZ", "25", "59", "XU", "95", "GT", "HA", "HE", "HH", "TF",
           "TG", "UK", "HR", "HS", "AH", "AJ", "SA", "TL", "TM", "EP")


@pytest.mark.parametrize("date_of_service", ["2019-06-03", "2026-03-02"])
def test_every_modifier_of_a_real_sample_is_known(date_of_service: str) -> None:
    lines = [{"code": "96158", "modifiers": [modifier], "units": 1} for modifier in _SAMPLE]
    encounter = _encounter(date=date_of_service, payer="medicaid", provider={"npi": "1234567893",
                                                                             "discipline": "CSW"}, lines=lines)
    assert _run("unknown-modifier", encounter) == []


def test_a_run_spanning_a_termination_is_checked_line_by_line() -> None:
    """The screen lets a run skip the rule only when every modifier is valid on every date of the run: a run with
    GD on 2019-12-31 and on 2020-01-01 flags only the second."""
    before = _encounter(id="E1", date="2019-12-31", lines=[{"code": "97110", "modifiers": ["GP", "GD"], "units": 5}])
    after = _encounter(id="E2", date="2020-01-01", lines=[{"code": "97110", "modifiers": ["GP", "GD"], "units": 5}])
    findings = _run("unknown-modifier", before, after)
    assert [(f.encounter, f.line) for f in findings] == [("E2", 1)]


def test_kx_untracked_claim_with_unrated_lines_is_settled_without_pricing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def failing_price(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise AssertionError("priced")

    # 97039 is contractor-priced in CY2026 (status C, no national RVUs in the bundled file): the claim cannot be
    # bounded as surely under the threshold (`_settled_groups`), but it is the patient's only claim and there is no
    # history, so nothing before it is tracked; 97110 x4 is at most
    # 4 x (29.20 + 0.01) dollars, far under $2,480: no finding is possible, and nothing is priced
    alone = _encounter(lines=[{"code": "97039", "modifiers": ["GP"], "units": 4},
                              {"code": "97110", "modifiers": ["GP"], "units": 4}])
    monkeypatch.setattr("cleanclaim.pricing.price", failing_price)
    assert _run("missing-kx", alone) == []
    assert calls == []
    # a second claim of the same patient tracks the year: the later claim is priced (here: the pricer fails, so
    # each line is unknown and the rule says so where the year is tracked)
    earlier = _encounter(id="E0", date="2026-02-02", lines=[{"code": "97110", "modifiers": ["GP"], "units": 1}])
    monkeypatch.undo()
    tracked = _run("missing-kx", earlier, alone)
    assert [(f.encounter, f.line, f.severity) for f in tracked] == [("E1", 1, Severity.WARNING)]
    assert "KX status unknown: 1 line(s) unpriced" in tracked[0].message

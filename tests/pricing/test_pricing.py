"""Worked pricing examples, each amount computed by hand here from the RVUs, GPCIs and CFs of the source files.

Rounding rule under test: exact decimals through the formula of one unit, whose amount is rounded half up to the cent
(CMS publishes the fee schedule amount per unit in cents, e.g. PFAL25A); a line's amount is the sum of its rounded
units; the CQ/CO 85% is taken of that sum and rounded half up; the line's deductible, coinsurance and sequestration
are rounded half up too; claim totals add the rounded lines.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from cleanclaim.errors import InputError
from cleanclaim.model import BillingProvider, ClaimLine, Encounter, HistoryLine
from cleanclaim.pricing import LineStatus, load_charge_master, price, round_cents, therapy_amounts_ytd

D = Decimal
CF_2026 = D("33.4009")
CF_2026_QP = D("33.5675")
CF_2025 = D("32.3465")


def cents(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def encounter(lines: list[dict[str, Any]], *, date: str = "2026-03-02", pos: str = "11", patient: str = "P1",
              discipline: str = "PT", enc_id: str = "E1") -> Encounter:
    return Encounter.model_validate({
        "id": enc_id, "date": date, "place_of_service": pos, "patient": {"id": patient},
        "provider": {"npi": "1234567893", "discipline": discipline}, "lines": lines,
    })


MPPR_EXAMPLE = [{"code": "97112", "modifiers": ["GP"], "units": 1}, {"code": "97110", "modifiers": ["GP"], "units": 2}]


def test_mppr_worked_example_2026_national() -> None:
    claim = price(encounter(MPPR_EXAMPLE))
    full_97112 = (D("0.50") + D("0.47") + D("0.01")) * CF_2026          # 32.732882
    reduced_97110 = (D("0.45") + D("0.41") * D("0.5") + D("0.01")) * CF_2026  # 22.2115985 per unit
    assert cents(full_97112) == D("32.73")
    assert cents(reduced_97110) == D("22.21")
    first, second = claim.lines
    assert first.allowed == D("32.73")
    assert second.allowed == 2 * cents(reduced_97110) == D("44.42")  # each unit 22.21, then summed
    assert claim.allowed == D("77.15")
    # The domain sheet's 77.16 adds the unrounded lines before rounding; the exact total is kept for that view.
    assert cents(claim.allowed_exact) == D("77.16")
    assert claim.allowed_exact == full_97112 + 2 * reduced_97110
    # Without the MPPR the same services would be 90.85 (0.98 + 2 x 0.87 RVUs).
    assert cents((D("0.98") + 2 * D("0.87")) * CF_2026) == D("90.85")
    # Coinsurance 20% per line: 6.546 -> 6.55 and 8.884 -> 8.88.
    assert (first.coinsurance, second.coinsurance, claim.coinsurance) == (D("6.55"), D("8.88"), D("15.43"))
    assert claim.medicare_share == D("32.73") - D("6.55") + D("44.42") - D("8.88") == D("61.72")
    # 2% sequestration per line: 26.18 x 0.02 = 0.5236 -> 0.52; 35.54 x 0.02 = 0.7108 -> 0.71.
    assert (first.sequestration, second.sequestration) == (D("0.52"), D("0.71"))
    assert claim.medicare_paid == D("25.66") + D("34.83") == D("60.49")
    assert claim.patient_owes == D("15.43")
    assert any("50% (MPPR)" in step for step in second.steps)
    assert not any("50% (MPPR)" in step for step in first.steps)


def test_cq_line_is_paid_85_percent_after_the_mppr() -> None:
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1},
                             {"code": "97110", "modifiers": ["GP", "CQ"], "units": 1}]))
    reduced_97110 = (D("0.45") + D("0.41") * D("0.5") + D("0.01")) * CF_2026
    # the unit rounded first (22.21), then 85% of it: 22.21 x 0.85 = 18.8785 -> 18.88
    assert claim.lines[1].allowed == cents(cents(reduced_97110) * D("0.85")) == D("18.88")
    assert claim.lines[0].allowed == D("32.73")


def test_no_mppr_for_a_single_therapy_unit_and_qp_factor() -> None:
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}]), qualifying_apm=True)
    assert claim.lines[0].allowed == cents(D("0.98") * CF_2026_QP) == D("32.90")


def test_highest_pe_unit_keeps_full_pe_and_its_other_units_are_reduced() -> None:
    # CY2025: 97530 PE 0.62 is the day's highest, so one 97530 unit keeps full PE; its second unit and 97110 do not.
    claim = price(encounter([{"code": "97110", "modifiers": ["GP"], "units": 1},
                             {"code": "97530", "modifiers": ["GP"], "units": 2}], date="2025-05-05"))
    first_97530 = (D("0.44") + D("0.62") + D("0.01")) * CF_2025
    other_97530 = (D("0.44") + D("0.31") + D("0.01")) * CF_2025
    reduced_97110 = (D("0.45") + D("0.215") + D("0.01")) * CF_2025
    assert claim.lines[0].allowed == cents(reduced_97110)
    # 1.07 x 32.3465 = 34.610755 -> 34.61; 0.76 x 32.3465 = 24.58334 -> 24.58; the line is their sum
    assert claim.lines[1].allowed == cents(first_97530) + cents(other_97530) == D("59.19")


# CMS's published per-unit amounts, Alabama (MAC 10112, locality 00), CY2025, non-facility: PFAL25A.TXT (CMS
# carrier-specific PFS payment file, release A), as listed in published_amounts.csv with its source:
# 97110 full 26.83 and 50% therapy reduction 20.79; 97112 full 29.85.
PFAL25A_97110, PFAL25A_97110_MPPR, PFAL25A_97112 = D("26.83"), D("20.79"), D("29.85")
ALABAMA = "10112:00"


def test_units_are_rounded_to_the_published_amount_before_the_line_is_added() -> None:
    claim = price(encounter([{"code": "97110", "modifiers": ["GP"], "units": 2}], date="2025-05-05"),
                  locality=ALABAMA)
    [line] = claim.lines
    # unit 1 full PE: (0.45 x 1.000 + 0.43 x 0.869 + 0.01 x 0.575) x 32.3465 = 26.82883403 -> 26.83
    # unit 2 50% PE: (0.45 x 1.000 + 0.215 x 0.869 + 0.01 x 0.575) x 32.3465 = 20.7853757025 -> 20.79
    full = (D("0.45") * 1 + D("0.43") * D("0.869") + D("0.01") * D("0.575")) * CF_2025
    reduced = (D("0.45") * 1 + D("0.43") * D("0.869") * D("0.5") + D("0.01") * D("0.575")) * CF_2025
    assert (cents(full), cents(reduced)) == (PFAL25A_97110, PFAL25A_97110_MPPR)
    assert line.allowed == PFAL25A_97110 + PFAL25A_97110_MPPR == D("47.62")
    # rounding the exact sum instead would give 47.61, a cent under what the contractor pays
    assert line.allowed_exact == full + reduced
    assert cents(line.allowed_exact) == D("47.61")
    assert any(step.endswith("rounded half up to 26.83") for step in line.steps)
    assert any(step.endswith("rounded half up to 20.79") for step in line.steps)
    assert "allowed 26.83 + 20.79 = 47.62 (the sum of the units' rounded amounts)" in line.steps
    # coinsurance and sequestration round on the line as before: 47.62 x 0.2 = 9.524 -> 9.52; 38.10 x 0.02 = 0.762
    assert (line.coinsurance, line.medicare_share, line.sequestration) == (D("9.52"), D("38.10"), D("0.76"))


def test_every_reduced_unit_is_paid_the_published_reduction_amount() -> None:
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1},
                             {"code": "97110", "modifiers": ["GP"], "units": 2}], date="2025-05-05"),
                  locality=ALABAMA)
    first, second = claim.lines
    # 97112 (PE 0.48) is the day's highest-PE unit: (0.50 + 0.48 x 0.869 + 0.01 x 0.575) x 32.3465 = 29.8516 -> 29.85
    assert first.allowed == PFAL25A_97112
    # both 97110 units at 50% PE, 20.79 each: 41.58 (41.57 if the exact 2 x 20.7853757025 were rounded once)
    assert second.allowed == 2 * PFAL25A_97110_MPPR == D("41.58")
    assert cents(second.allowed_exact or D(0)) == D("41.57")
    assert claim.allowed == D("29.85") + D("41.58") == D("71.43")


def test_cq_takes_85_percent_of_the_rounded_units() -> None:
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1},
                             {"code": "97110", "modifiers": ["GP", "CQ"], "units": 2}], date="2025-05-05"),
                  locality=ALABAMA)
    line = claim.lines[1]
    # (20.79 + 20.79) x 0.85 = 35.343 -> 35.34
    assert line.allowed == cents(2 * PFAL25A_97110_MPPR * D("0.85")) == D("35.34")
    assert "fee schedule amount of the line: 20.79 + 20.79 = 41.58" in line.steps
    assert any("41.58 x 0.85 = 35.343, rounded half up to 35.34" in step for step in line.steps)
    assert line.steps[line.steps.index("allowed 35.34") - 1].startswith("CQ:")


# CY2026 GPCIs for Alabama (MAC 10112, locality 00): work 1.000, PE 0.875, MP 0.566 (bundled gpci.csv, GPCI2026 of
# RVU26C); RVUs 97112 0.50/0.47/0.01 and 97110 0.45/0.41/0.01 (bundled rvu.csv, 2026); CF 33.4009.
def test_2026_line_in_a_locality_with_2026_gpcis_is_priced() -> None:
    claim = price(encounter(MPPR_EXAMPLE), locality=ALABAMA)
    first, second = claim.lines
    assert first.priced and second.priced
    # 97112 full PE: (0.50 x 1.000 + 0.47 x 0.875 + 0.01 x 0.566) x 33.4009 = 0.91691 x 33.4009 = 30.6256... -> 30.63
    full_97112 = (D("0.50") * D("1.000") + D("0.47") * D("0.875") + D("0.01") * D("0.566")) * CF_2026
    # 97110 at 50% PE: (0.45 + 0.41 x 0.875 x 0.5 + 0.01 x 0.566) x 33.4009 = 0.635035 x 33.4009 = 21.2107... -> 21.21
    reduced_97110 = (D("0.45") * D("1.000") + D("0.41") * D("0.875") * D("0.5") + D("0.01") * D("0.566")) * CF_2026
    assert first.allowed == cents(full_97112) == D("30.63")
    assert second.allowed == 2 * cents(reduced_97110) == D("42.42")
    assert claim.allowed == D("73.05")
    assert any("GPCI 10112:00 ALABAMA" in step and "GPCI2026" in step for step in first.steps)


@pytest.mark.parametrize("locality", ["01112:75", "01182:18", "13202:01"])
def test_2026_localities_without_2026_gpcis_stay_unpriced(locality: str) -> None:
    # Rest of California (same MAC as the 2026 rows, another locality), Los Angeles, Manhattan: no CY2026 GPCIs
    claim = price(encounter(MPPR_EXAMPLE), locality=locality)
    assert [line.status for line in claim.lines] == [LineStatus.UNPRICED, LineStatus.UNPRICED]
    assert all("no CY2026 GPCI" in line.reason for line in claim.lines)


def test_mppr_spans_encounters_of_the_same_patient_and_day_only() -> None:
    morning = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], enc_id="AM")
    afternoon = encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}], enc_id="PM")
    other_patient = encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}], enc_id="X", patient="P2")
    claim = price([morning, afternoon, other_patient])
    assert claim.lines[1].allowed == cents((D("0.45") + D("0.205") + D("0.01")) * CF_2026)
    assert claim.lines[2].allowed == cents(D("0.87") * CF_2026)


def test_locality_gpcis_2025_los_angeles() -> None:
    claim = price(encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}], date="2025-02-03"),
                  locality="01182:18")
    expected = (D("0.45") * D("1.042") + D("0.43") * D("1.194") + D("0.01") * D("0.69")) * CF_2025
    assert claim.lines[0].allowed == cents(expected)
    assert claim.locality == "01182:18"


def test_locality_without_gpci_for_the_year_is_unpriced_not_zero() -> None:
    claim = price(encounter(MPPR_EXAMPLE), locality="01182:18")
    assert all(line.status is LineStatus.UNPRICED and line.allowed is None for line in claim.lines)
    assert "GPCI" in claim.lines[0].reason
    assert claim.allowed == 0
    assert len(claim.unpriced) == 2


@pytest.mark.parametrize("date", ["2025-06-02", "2026-06-01"])
def test_work_hardening_has_no_relative_values_so_it_is_unpriced_not_zero(date: str) -> None:
    # 97545/97546: status R in PPRRVU25_JAN and PPRRVU2026_Jul with every RVU 0.00 (CMS's carrier file PFAL25A.TXT
    # has no amount for them); a payable status alone must not price the line at $0.00.
    claim = price(encounter([{"code": "97545", "modifiers": ["GO"], "units": 1},
                             {"code": "97546", "modifiers": ["GO"], "units": 1},
                             {"code": "97530", "modifiers": ["GO"], "units": 1}], date=date, discipline="OT"))
    hardening, extra_hour, activity = claim.lines
    for line in (hardening, extra_hour):
        assert line.status is LineStatus.UNPRICED and line.allowed is None, line
        assert "PFS status R but no CY" in line.reason
    assert activity.status is LineStatus.PRICED and activity.allowed is not None and activity.allowed > 0
    assert len(claim.unpriced) == 2


def test_coaching_visit_is_contractor_priced_not_zero() -> None:
    claim = price(encounter([{"code": "0592T", "units": 1}], date="2025-09-10", discipline="coach"))
    [line] = claim.lines
    assert line.status is LineStatus.CARRIER_PRICED
    assert line.allowed is None
    assert line.medicare_paid is None
    assert "contractor" in line.reason
    assert claim.unpriced == (line,)
    # Still status C in PPRRVU2026_Jul: the 2026 visit is contractor-priced too, never 0.
    [line_2026] = price(encounter([{"code": "0592T", "units": 1}], discipline="coach")).lines
    assert line_2026.status is LineStatus.CARRIER_PRICED
    assert line_2026.allowed is None
    # A code with no 2026 row at all (a lab code, not read) is unpriced with the reason.
    [lab] = price(encounter([{"code": "85025", "units": 1}], discipline="MD")).lines
    assert lab.status is LineStatus.UNPRICED
    assert "no CY2026 relative values" in lab.reason


def test_behavioral_health_visit_office_and_hospital_outpatient() -> None:
    lines = [{"code": "96158", "units": 1}, {"code": "96159", "units": 1}]
    office = price(encounter(lines, date="2025-04-01", discipline="psychologist"))
    assert [line.allowed for line in office.lines] == [cents(D("2.10") * CF_2025), cents(D("0.72") * CF_2025)]
    assert [line.allowed for line in office.lines] == [D("67.93"), D("23.29")]
    outpatient = price(encounter(lines, pos="22", date="2025-04-01", discipline="psychologist"))
    assert outpatient.lines[0].rate_setting == "facility"
    assert outpatient.lines[0].allowed == cents((D("1.59") + D("0.21") + D("0.04")) * CF_2025) == D("59.52")


def test_status_indicators_are_said_never_priced_as_zero() -> None:
    claim = price(encounter([{"code": "97010", "modifiers": ["GP"], "units": 1}, {"code": "99401", "units": 1},
                             {"code": "97014", "modifiers": ["GP"], "units": 1}, {"code": "96150", "units": 1}],
                            date="2025-04-01"))
    statuses = [line.status for line in claim.lines]
    assert statuses == [LineStatus.BUNDLED, LineStatus.NOT_COVERED, LineStatus.NOT_VALID, LineStatus.UNPRICED]
    assert all(line.allowed is None for line in claim.lines)
    assert "status B" in claim.lines[0].reason


def test_deductible_then_coinsurance_and_waived_preventive_code() -> None:
    claim = price(encounter(MPPR_EXAMPLE), deductible_remaining=50)
    first, second = claim.lines
    assert (first.deductible, first.coinsurance) == (D("32.73"), D("0.00"))
    assert second.deductible == D("50") - D("32.73") == D("17.27")
    assert second.coinsurance == cents((D("44.42") - D("17.27")) * D("0.2")) == D("5.43")
    assert claim.patient_owes == D("32.73") + D("17.27") + D("5.43")
    smoking = price(encounter([{"code": "99406", "units": 1}], date="2025-06-01", discipline="MD"),
                    deductible_remaining=100)
    [line] = smoking.lines
    assert line.allowed == cents(D("0.43") * CF_2025) == D("13.91")
    assert (line.deductible, line.coinsurance) == (D("0.00"), D("0.00"))
    assert line.sequestration == cents(D("13.91") * D("0.02")) == D("0.28")


def test_sequestration_can_be_left_out() -> None:
    claim = price(encounter(MPPR_EXAMPLE), sequestration=False)
    assert claim.sequestration == 0
    assert claim.medicare_paid == claim.medicare_share == D("61.72")


def test_bare_claim_lines_need_a_date() -> None:
    line = ClaimLine(code="97112", modifiers=["GP"])
    with pytest.raises(InputError, match="date"):
        price([line])
    [priced] = price([line], date_of_service=dt.date(2026, 1, 5)).lines
    assert priced.allowed == D("32.73")


def test_round_half_up() -> None:
    assert round_cents(D("0.005")) == D("0.01")
    assert round_cents(D("22.2149")) == D("22.21")
    assert round_cents(D("2.675")) == D("2.68")


def test_charge_master_fills_missing_charges(tmp_path: Path) -> None:
    master = tmp_path / "charges.csv"
    master.write_text("code,charge,modifier\n97110,40.00\n97110,34.00,CQ\n97112,$45.50\n")
    prices = load_charge_master(master)
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1, "charge": 60},
                             {"code": "97110", "modifiers": ["GP"], "units": 2},
                             {"code": "97110", "modifiers": ["GP", "CQ"], "units": 1},
                             {"code": "97530", "modifiers": ["GP"], "units": 1}]), charge_master=prices)
    assert [line.charge for line in claim.lines] == [D("60"), D("80.00"), D("34.00"), None]
    assert claim.lines[0].charge_source == "line"
    bad = tmp_path / "bad.csv"
    bad.write_text("97110,forty\n")
    with pytest.raises(InputError) as raised:
        load_charge_master(bad)
    assert raised.value.row == 1
    assert raised.value.field == "charge"


def test_json_form_keeps_exact_money() -> None:
    data = price(encounter(MPPR_EXAMPLE)).to_dict()
    assert data["totals"]["allowed"] == "77.15"
    assert data["lines"][1]["allowed"] == "44.42"
    assert data["lines"][0]["status"] == "priced"


def test_therapy_amounts_ytd_groups_pt_slp_and_ot() -> None:
    history = [
        HistoryLine(date=dt.date(2026, 1, 5), code="97110", modifiers=["GP"], allowed=D("58.10")),
        HistoryLine(date=dt.date(2026, 2, 5), code="92507", modifiers=["GN"], allowed=D("70.00")),
        HistoryLine(date=dt.date(2026, 2, 6), code="97535", modifiers=["GO"], allowed=D("31.00")),
        HistoryLine(date=dt.date(2025, 12, 30), code="97110", modifiers=["GP"], allowed=D("99.00")),
        HistoryLine(date=dt.date(2026, 3, 1), code="97110", modifiers=["GP"]),
        HistoryLine(date=dt.date(2026, 3, 1), code="99213", allowed=D("90.00")),
    ]
    amounts = therapy_amounts_ytd(history, 2026)
    assert (amounts.pt_slp, amounts.ot, amounts.lines_without_allowed) == (D("128.10"), D("31.00"), 1)


def test_charge_master_path_is_accepted(tmp_path: Path) -> None:
    master = tmp_path / "charges.csv"
    master.write_text("97112,50.25\n")
    claim = price(encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}]), charge_master=master)
    assert claim.lines[0].charge == D("50.25")
    assert claim.charges == D("50.25")


# 97039 (unlisted modality) is status C, contractor-priced, in PPRRVU2026_Jul (so cleanclaim cannot price it), but it
# is an always-therapy code: its PE may be the day's highest, so the MPPR order of the priced lines is unknown.
UNPRICED_THERAPY = {"code": "97039", "modifiers": ["GP"], "units": 2}


def test_unpriced_therapy_line_makes_every_priced_therapy_unit_a_reduced_estimate() -> None:
    claim = price(encounter([UNPRICED_THERAPY, {"code": "97110", "modifiers": ["GP"], "units": 1}]))
    unpriced, priced = claim.lines
    assert unpriced.status is LineStatus.CARRIER_PRICED
    # one 97110 unit alone would be 29.06 with full PE; with the order unknown it is taken at 50% PE
    assert cents(D("0.87") * CF_2026) == D("29.06")
    assert priced.allowed == cents((D("0.45") + D("0.41") * D("0.5") + D("0.01")) * CF_2026) == D("22.21")
    assert priced.estimate and not unpriced.estimate
    assert any("MPPR order unknown" in step and "97039" in step for step in priced.steps)
    assert any("MPPR order unknown" in note and "97039" in note for note in claim.notes)


def test_unpriced_therapy_line_reduces_even_the_unit_that_would_be_highest() -> None:
    # Without 97039, 97112 (PE 0.47) would keep its full PE; with it, none of the priced units can be sure to.
    claim = price(encounter([*MPPR_EXAMPLE, UNPRICED_THERAPY]))
    assert claim.lines[0].allowed == cents((D("0.50") + D("0.235") + D("0.01")) * CF_2026)
    assert claim.lines[1].allowed == 2 * cents((D("0.45") + D("0.205") + D("0.01")) * CF_2026)
    assert claim.lines[0].estimate and claim.lines[1].estimate


def test_unpriced_non_therapy_line_or_other_day_leaves_the_mppr_exact() -> None:
    # 0592T is contractor-priced here too, but it is not therapy; the other patient's 97039 is not the same day group
    same_day = encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}, {"code": "0592T", "units": 1}])
    other = encounter([UNPRICED_THERAPY], enc_id="X", patient="P2")
    claim = price([same_day, other])
    assert claim.lines[0].allowed == D("29.06")
    assert not claim.lines[0].estimate
    assert not any("MPPR order unknown" in note for note in claim.notes)


def test_json_units_are_numbers_and_money_stays_text() -> None:
    data = price(encounter(MPPR_EXAMPLE)).to_dict()
    assert [line["units"] for line in data["lines"]] == [1, 2]
    assert all(isinstance(line["units"], int) for line in data["lines"])
    assert isinstance(data["lines"][1]["allowed"], str)
    assert data["lines"][0]["estimate"] is False


def test_json_fractional_units_stay_fractional() -> None:
    data = price(encounter([{"code": "97110", "modifiers": ["GP"], "units": 1.5}])).to_dict()
    assert data["lines"][0]["units"] == 1.5


def test_non_medicare_payer_gets_a_contract_rate_note() -> None:
    commercial = encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}]).model_copy(
        update={"payer": "commercial"})
    medicare = encounter([{"code": "97110", "modifiers": ["GP"], "units": 1}], enc_id="E2")
    assert medicare.payer == "medicare"
    notes = price([commercial, medicare]).notes
    assert [n for n in notes if "contract rates" in n] == [
        "payer 'commercial' is not a Medicare program (program: commercial): these are Medicare PFS amounts, not "
        "that payer's contract rates"]
    assert not any("contract rates" in n for n in price(medicare).notes)


@pytest.mark.parametrize("code", ["G0443", "G0444", "G0473", "97804", "G0270", "G0271"])
def test_preventive_cost_sharing_waiver_covers_the_issue_14_codes(code: str) -> None:
    # issue 14 item 12: these were priced with deductible and 20% coinsurance; 42 CFR 410.152(l) waives both
    claim = price(encounter([{"code": code, "units": 1}], date="2025-06-01", discipline="MD"),
                  deductible_remaining=100)
    [line] = claim.lines
    assert line.allowed is not None and line.allowed > 0
    assert (line.deductible, line.coinsurance) == (D("0.00"), D("0.00"))


def test_a_preventive_code_without_a_waiver_still_pays_cost_sharing() -> None:
    claim = price(encounter([{"code": "G0108", "units": 1}], date="2025-06-01", discipline="MD"),
                  deductible_remaining=0)
    [line] = claim.lines
    assert line.coinsurance is not None and line.coinsurance > 0  # DSMT: 20% coinsurance applies


def _with_billing(enc: Encounter, npi: str, tax_id: str = "123456789") -> Encounter:
    return enc.model_copy(update={"billing_provider": BillingProvider.model_validate(
        {"name": "Clinic", "npi": npi, "tax_id": tax_id,
         "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "627011234"}})})


def test_deductible_is_each_patients_own() -> None:
    # issue 14 item 12: --deductible is what each patient still has to meet, not one amount shared by the whole run
    first = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], patient="P1", enc_id="E1")
    second = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], patient="P2", enc_id="E2")
    claim = price([first, second], deductible_remaining=20)
    assert [line.deductible for line in claim.lines] == [D("20.00"), D("20.00")]
    # the same patient's second visit shares the first one's remaining deductible
    again = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], patient="P1", enc_id="E3",
                      date="2026-03-09")
    claim = price([first, again], deductible_remaining=20)
    assert [line.deductible for line in claim.lines] == [D("20.00"), D("0.00")]


def test_deductible_restarts_each_calendar_year() -> None:
    late = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], date="2025-12-29", enc_id="E1")
    early = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], date="2026-01-05", enc_id="E2")
    claim = price([late, early], deductible_remaining=20)
    assert [line.deductible for line in claim.lines] == [D("20.00"), D("20.00")]


def test_mppr_is_per_billing_provider_and_day() -> None:
    # NGS / Novitas (Pub. 100-04 ch. 5 s10.7): the MPPR ranks the always-therapy units one provider (a group practice
    # with its disciplines) furnishes to one patient on one day; another practice's visit that day is not reduced
    own = encounter([{"code": "97112", "modifiers": ["GP"], "units": 1}], enc_id="E1")
    other = encounter([{"code": "97112", "modifiers": ["GO"], "units": 1}], enc_id="E2", discipline="OT")
    apart = price([_with_billing(own, "1234567893"), _with_billing(other, "1245319599", "987654321")])
    assert [line.allowed for line in apart.lines] == [D("32.73"), D("32.73")]
    together = price([_with_billing(own, "1234567893"), _with_billing(other, "1234567893")])
    reduced = cents((D("0.50") + D("0.47") * D("0.5") + D("0.01")) * CF_2026)
    assert [line.allowed for line in together.lines] == [D("32.73"), reduced]


# ---- CY2026 relative values from PPRRVU2026_Jul_nonQPP (RVU26C) ------------------------------------------------------
# Rows of the CMS file used below (work, non-facility PE, facility PE, MP): 97530 0.44/0.60/0.60/0.01;
# 92610 1.30/1.23/0.42/0.01; 99213 1.30/1.46/0.33/0.09. CY2025 (PPRRVU25_JAN) 97530: 0.44/0.62/0.62/0.01.


def test_2026_national_amounts_from_the_cms_relative_values() -> None:
    lines = [{"code": "97530", "modifiers": ["GP"], "units": 1}]
    [activities] = price(encounter(lines)).lines
    # (0.44 + 0.60 + 0.01) x 33.4009 = 1.05 x 33.4009 = 35.070945 -> 35.07
    assert activities.allowed == cents(D("1.05") * CF_2026) == D("35.07")
    [office_visit] = price(encounter([{"code": "99213", "units": 1}], discipline="MD")).lines
    # (1.30 + 1.46 + 0.09) x 33.4009 = 2.85 x 33.4009 = 95.192565 -> 95.19
    assert office_visit.allowed == cents(D("2.85") * CF_2026) == D("95.19")


def test_2026_facility_rate_uses_the_facility_pe() -> None:
    [swallow] = price(encounter([{"code": "92610", "modifiers": ["GN"], "units": 1}], pos="22",
                                discipline="SLP")).lines
    assert swallow.rate_setting == "facility"
    # (1.30 + 0.42 + 0.01) x 33.4009 = 1.73 x 33.4009 = 57.783557 -> 57.78 (non-facility would be 2.54 x CF = 84.84)
    assert swallow.allowed == cents(D("1.73") * CF_2026) == D("57.78")


def test_2026_alabama_amounts_apply_the_2026_gpcis() -> None:
    # Alabama CY2026 GPCIs work 1.000, PE 0.875, MP 0.566
    [activities] = price(encounter([{"code": "97530", "modifiers": ["GP"], "units": 1}]), locality=ALABAMA).lines
    # 0.44 x 1.000 + 0.60 x 0.875 + 0.01 x 0.566 = 0.44 + 0.525 + 0.00566 = 0.97066; x 33.4009 = 32.4209... -> 32.42
    assert activities.allowed == cents(D("0.97066") * CF_2026) == D("32.42")
    [office_visit] = price(encounter([{"code": "99213", "units": 1}], discipline="MD"), locality=ALABAMA).lines
    # 1.30 + 1.46 x 0.875 + 0.09 x 0.566 = 1.30 + 1.2775 + 0.05094 = 2.62844; x 33.4009 = 87.7922... -> 87.79
    assert office_visit.allowed == cents(D("2.62844") * CF_2026) == D("87.79")


def test_year_boundary_switches_relative_values_and_conversion_factor() -> None:
    lines = [{"code": "97530", "modifiers": ["GP"], "units": 1}]
    [old_year] = price(encounter(lines, date="2025-12-31")).lines
    [new_year] = price(encounter(lines, date="2026-01-01")).lines
    # 2025-12-31: (0.44 + 0.62 + 0.01) x 32.3465 = 1.07 x 32.3465 = 34.610755 -> 34.61
    assert old_year.allowed == cents(D("1.07") * CF_2025) == D("34.61")
    # 2026-01-01: (0.44 + 0.60 + 0.01) x 33.4009 = 35.070945 -> 35.07
    assert new_year.allowed == cents(D("1.05") * CF_2026) == D("35.07")
    assert any("PPRRVU25_JAN" in step for step in old_year.steps)
    assert any("PPRRVU2026_Jul_nonQPP" in step for step in new_year.steps)


@pytest.mark.parametrize(("code", "status"), [
    ("96170", LineStatus.NOT_COVERED), ("96171", LineStatus.NOT_COVERED), ("99401", LineStatus.NOT_COVERED),
    ("99404", LineStatus.NOT_COVERED), ("99408", LineStatus.NOT_COVERED), ("99411", LineStatus.NOT_COVERED),
    ("99412", LineStatus.NOT_COVERED), ("97010", LineStatus.BUNDLED), ("98960", LineStatus.BUNDLED),
    ("97014", LineStatus.NOT_VALID), ("97039", LineStatus.CARRIER_PRICED), ("98978", LineStatus.CARRIER_PRICED),
])
def test_2026_status_indicators_are_said_never_priced_as_zero(code: str, status: LineStatus) -> None:
    [line] = price(encounter([{"code": code, "units": 1}], discipline="MD")).lines
    assert line.status is status
    assert line.allowed is None


def test_2026_active_counseling_codes_are_priced() -> None:
    # 99406 and 99407 are status A in CY2026 (unlike 99401-99412): 0.46 and 0.87 non-facility total RVUs
    claim = price(encounter([{"code": "99406", "units": 1}, {"code": "99407", "units": 1}], discipline="MD"))
    assert [line.allowed for line in claim.lines] == [cents(D("0.46") * CF_2026), cents(D("0.87") * CF_2026)]
    assert [line.allowed for line in claim.lines] == [D("15.36"), D("29.06")]


# Tobacco cessation counseling: whether the deductible and coinsurance are waived depends on the date and the diagnoses
# (cost_sharing_waived.csv: NCD 210.4 symptomatic counseling kept cost sharing; NCD 210.4.1 counseling to prevent
# tobacco use waives it, billed with G0436/G0437 from 2011-01-01 to 2016-09-30 and with 99406/99407 from 2016-10-01
# for every tobacco user, with or without a tobacco-related disease).


def _tobacco(code: str, diagnoses: list[str], pointers: list[int] | None = None) -> Encounter:
    enc = encounter([{"code": code, "units": 1, **({"dx_pointers": pointers} if pointers else {})}],
                    date="2025-06-01", discipline="MD")
    return enc.model_copy(update={"diagnoses": diagnoses})


@pytest.mark.parametrize("diagnoses", [["F17.210", "J44.9"], ["Z72.0"], ["Z87.891"], ["T65.211A"], ["F17.290"]])
def test_tobacco_counseling_is_waived_for_a_tobacco_user_with_or_without_related_disease(diagnoses: list[str]) -> None:
    [line] = price(_tobacco("99406", diagnoses), deductible_remaining=100).lines
    assert (line.deductible, line.coinsurance) == (D("0.00"), D("0.00"))
    shown = [step for step in line.steps if step.startswith("deductible and coinsurance waived: diagnosis")]
    assert shown and shown[0].startswith(f"deductible and coinsurance waived: diagnosis {diagnoses[0]} ("), shown


@pytest.mark.parametrize("diagnoses", [["J44.9"], ["I10", "Z71.6"], ["F17"]])
def test_tobacco_counseling_without_a_tobacco_use_diagnosis_keeps_cost_sharing(diagnoses: list[str]) -> None:
    # F17 alone is not a nicotine dependence code of F17.2; Z71.6 (tobacco abuse counseling) names the service, not
    # the patient's tobacco use, and is not on CMS's list
    [line] = price(_tobacco("99407", diagnoses), deductible_remaining=0).lines
    assert line.allowed is not None and line.coinsurance == cents(line.allowed * D("0.2")) > 0
    assert any("waived only with a diagnosis of F17.2" in step for step in line.steps)


def test_tobacco_waiver_reads_the_pointed_diagnoses_else_all() -> None:
    pointed_elsewhere = _tobacco("99406", ["J44.9", "F17.210"], pointers=[1])
    [line] = price(pointed_elsewhere, deductible_remaining=0).lines
    assert line.coinsurance is not None and line.coinsurance > 0
    [line] = price(_tobacco("99406", ["J44.9", "F17.210"], pointers=[2]), deductible_remaining=0).lines
    assert line.coinsurance == D("0.00")
    [line] = price(_tobacco("99406", ["J44.9", "F17.210"]), deductible_remaining=0).lines  # no pointer: all
    assert line.coinsurance == D("0.00")


def test_tobacco_waiver_without_diagnoses_is_assumed_and_says_so() -> None:
    [line] = price([ClaimLine(code="99406")], date_of_service=dt.date(2025, 6, 1), deductible_remaining=10).lines
    assert (line.deductible, line.coinsurance) == (D("0.00"), D("0.00"))
    assert any("assumed: no diagnoses given" in step for step in line.steps)


@pytest.mark.parametrize(("code", "day", "waived"), [
    ("99406", dt.date(2016, 9, 30), False),   # NCD 210.4 code then: symptomatic patient, cost sharing
    ("99406", dt.date(2016, 10, 1), True),    # G0436/G0437 deleted: 99406 for every tobacco user, waived
    ("99407", dt.date(2012, 5, 1), False),
    ("G0436", dt.date(2010, 12, 31), False),  # before the G-codes
    ("G0436", dt.date(2011, 1, 1), True),
    ("G0437", dt.date(2016, 9, 30), True),
    ("G0437", dt.date(2016, 10, 1), False),   # deleted
])
def test_tobacco_waiver_follows_the_dates_of_the_codes(code: str, day: dt.date, waived: bool) -> None:
    from cleanclaim.refdata import cost_sharing_waiver

    decision = cost_sharing_waiver(code, day, ["F17.210"])
    assert decision is not None and decision.waived is waived, decision
    if not waived:
        assert "only for dates of service" in decision.reason


def test_codes_without_a_waiver_row_answer_none() -> None:
    from cleanclaim.refdata import cost_sharing_waiver

    assert cost_sharing_waiver("97110", dt.date(2025, 6, 1), ["F17.210"]) is None
    assert cost_sharing_waiver("G0447", dt.date(2025, 6, 1), ["E66.9"]) is not None
